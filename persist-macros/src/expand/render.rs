//! Writing the code: one `#[test]` fn per variant of the plan, each one call into
//! `persist_core::__private::run_test`.
//
// Input:
//   #[persistence_test(agents = ["A"], timeout = "30s", system = "my::System")]
//   /// docs
//   async fn replies(gateway: GatewayPersistenceAdapter, #[agent("A")] a: &AgentHandle) { … }
//
// Output:
//   /// docs
//   #[::core::prelude::v1::test]
//   fn replies() {
//       async fn replies(gateway: GatewayPersistenceAdapter, a: &AgentHandle) { … }
//       ::persist_core::__private::run_test(
//           ::persist_core::__private::TestConfig {
//               name: …, agents: &["A"], timeout: Some(30s),
//               system: Some(::persist_core::__private::system_of::<my::System>), …
//           },
//           |__persist_ctx| async move {
//               let __persist_arg0 = ::persist_core::__private::inject::<GatewayPersistenceAdapter>(&__persist_ctx, "gateway").await;
//               let __persist_arg1 = ::persist_core::__private::inject_agent::<AgentHandle>(&__persist_ctx, "a", "A").await;
//               ::persist_core::__private::TestReturn::into_test_result(replies(__persist_arg0, &__persist_arg1).await)
//           },
//       )
//   }
//
// With several variants (cases, `backends = [...]`, `http = [...]`), the output is a module
// named after the test holding the `async fn` and one `#[test]` per variant:
//   mod replies { use super::*; async fn replies(…) { … } #[test] fn case_1_sqlite() { … } … }

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::plan::{Plan, Variant};
use crate::parse::{FixtureArg as Fixture, Param};
use crate::validate::{Config, Flavor};

/// Every test of the plan, with the checks.
pub fn tests(
    config: &Config,
    func: syn::ItemFn,
    params: &[Param],
    plan: &Plan<'_>,
    checks: Vec<TokenStream>,
) -> TokenStream {
    let syn::ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let name = &sig.ident;
    // Tests commonly take many injected handles; that is no smell in a test's signature.
    let inner = quote! {
        #[allow(clippy::too_many_arguments)]
        #sig #block
    };
    let fields = config_fields(config);
    let should_panic = attrs.iter().any(|a| a.path().is_ident("should_panic"));
    let tests = plan.variants.iter().map(|variant| {
        let nested = plan.single.then(|| inner.clone());
        let test = one_test(config, &sig, params, variant, &fields, should_panic);
        let test_name = &variant.name;
        let announce = announce(&config.krate, test_name);
        quote! {
            #(#attrs)*
            #[::core::prelude::v1::test]
            #vis fn #test_name() {
                #announce
                #nested
                #test
            }
        }
    });
    let tests: Vec<TokenStream> = tests.collect();
    let checks = quote! {
        // A `#[test]` fn is removed from non-test builds before type checking; this keeps the
        // signature's mistakes visible there too (`cargo check`, IDEs). Test builds check the
        // same things in the bindings below, so each build reports a mistake once.
        #[cfg(not(test))]
        const _: fn() = || { #(#checks)* };
    };
    if plan.single {
        quote! { #checks #(#tests)* }
    } else {
        quote! {
            #checks
            #[allow(non_snake_case)]
            #vis mod #name {
                #[allow(unused_imports)]
                use super::*;
                #[allow(dead_code)]
                #inner
                #(#tests)*
            }
        }
    }
}

/// A constructor that names the test when its binary is listed for `cargo persist prepare`
/// (`persist_core::__private::announce`): how the command finds a binary's persistence tests
/// among its others. Where the platform has no constructor section, nothing is emitted and
/// the command finds no test there.
fn announce(krate: &syn::Path, test_name: &syn::Ident) -> TokenStream {
    quote! {
        #[cfg(any(
            target_os = "linux", target_os = "android", target_os = "freebsd",
            target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly",
            target_os = "illumos", target_vendor = "apple", windows
        ))]
        #[used]
        #[cfg_attr(not(any(target_vendor = "apple", windows)), unsafe(link_section = ".init_array"))]
        #[cfg_attr(target_vendor = "apple", unsafe(link_section = "__DATA,__mod_init_func"))]
        #[cfg_attr(windows, unsafe(link_section = ".CRT$XCU"))]
        static __PERSIST_ANNOUNCE: extern "C" fn() = {
            extern "C" fn announce() {
                #krate::__private::announce(::core::concat!(
                    ::core::module_path!(), "::", ::core::stringify!(#test_name)
                ));
            }
            announce
        };
    }
}

/// The call into the runtime of one variant.
fn one_test(
    config: &Config,
    sig: &syn::Signature,
    params: &[Param],
    variant: &Variant<'_>,
    fields: &TokenStream,
    should_panic: bool,
) -> TokenStream {
    let krate = &config.krate;
    let test_name = &variant.name;
    let http = option(variant.http.and_then(|t| match t {
        "socket" => Some(quote! { #krate::__private::HttpTransport::Socket }),
        "router" => Some(quote! { #krate::__private::HttpTransport::Router }),
        _ => None,
    }));
    let body = call_body(krate, sig, params, variant.case.map(|(_, values)| values));
    let backend = match variant.backend {
        Some(b) => quote! { ::core::option::Option::Some(#b) },
        None => option(config.backend.as_deref().map(|b| quote! { #b })),
    };
    let matrix = !config.backends.is_empty();
    let snapshot_name = &variant.snapshot_name;
    quote! {
        #krate::__private::run_test(
            #krate::__private::TestConfig {
                name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#test_name)),
                backend: #backend,
                matrix: #matrix,
                should_panic: #should_panic,
                http: #http,
                snapshot_name: ::core::option::Option::Some(::core::concat!(::core::module_path!(), "::", #snapshot_name)),
                #fields
            },
            |__persist_ctx| async move { #body },
        )
    }
}

/// The bindings of one test and the call of the inner fn.
fn call_body(
    krate: &syn::Path,
    sig: &syn::Signature,
    params: &[Param],
    case: Option<&[syn::Expr]>,
) -> TokenStream {
    let name = &sig.ident;
    let mut bindings = Vec::new();
    let mut call_args = Vec::new();
    let mut case_values = case.into_iter().flatten();
    for (index, param) in params.iter().enumerate() {
        let var = format_ident!("__persist_arg{}", index);
        let ty = &param.injected;
        if param.case.is_some() {
            let value = case_values.next();
            bindings.push(quote_spanned! {ty.span()=> let #var: #ty = #value; });
            call_args.push(quote! { #var });
            continue;
        }
        // Errors about this parameter start at its first token: make that the type's.
        let krate = respan(krate, ty.span());
        let label = param_label(&param.declared.pat);
        bindings.push(match &param.agent {
            None => quote_spanned! {ty.span()=>
                let #var = #krate::__private::inject::<#ty>(&__persist_ctx, #label).await;
            },
            Some(agent) => quote_spanned! {ty.span()=>
                let #var = #krate::__private::inject_agent::<#ty>(&__persist_ctx, #label, #agent).await;
            },
        });
        call_args.push(if param.by_ref {
            quote! { &#var }
        } else {
            quote! { #var }
        });
    }
    let ret = sig.output.span();
    let ret_krate = respan(krate, ret);
    let result = quote_spanned! {ret=>
        #ret_krate::__private::TestReturn::into_test_result(#name(#(#call_args),*).await)
    };
    quote! { #(#bindings)* #result }
}

/// The configuration fields every generated test shares (all but name, backend, matrix,
/// should_panic, transport and snapshot name).
fn config_fields(config: &Config) -> TokenStream {
    let krate = &config.krate;
    let agents = &config.agents;
    let flavor = match config.flavor {
        Flavor::CurrentThread => quote! { #krate::__private::Flavor::CurrentThread },
        Flavor::MultiThread => quote! { #krate::__private::Flavor::MultiThread },
    };
    let worker_threads = option(config.worker_threads.map(|n| {
        let n = n as usize;
        quote! { #n }
    }));
    let keep = option(config.keep.as_deref().map(|keep| match keep {
        "never" => quote! { #krate::__private::KeepPolicy::Never },
        "always" => quote! { #krate::__private::KeepPolicy::Always },
        _ => quote! { #krate::__private::KeepPolicy::OnFailure },
    }));
    let timeout = option(
        config
            .timeout_ms
            .map(|ms| quote! { ::core::time::Duration::from_millis(#ms) }),
    );
    let setup = option(config.setup.as_ref().map(|setup| {
        let at = respan(krate, setup.span());
        // Typed where the value is, so that a wrong signature is reported on it (as "expected
        // fn pointer `fn(ManagerBuilder) -> ManagerBuilder`"), in test builds and others alike.
        let typed = quote_spanned! {setup.span()=> let setup: #at::__private::Setup = #setup; };
        quote! {{
            fn __persist_setup(builder: #krate::db::ManagerBuilder) -> #krate::db::ManagerBuilder {
                #typed
                setup(builder)
            }
            __persist_setup as #krate::__private::Setup
        }}
    }));
    // The default system (the reference mesh) exists only with persist-core's `mesh` feature;
    // without it this names a bound that is unmet, with a message saying what to write.
    let system = match &config.system {
        Some(system) => {
            let at = respan(krate, system.span());
            quote_spanned! {system.span()=> #at::__private::system_of::<#system> }
        }
        None => quote! {
            #krate::__private::default_system::<#krate::__private::NoSystemNamed>
        },
    };
    let seed = option(config.seed.as_ref().map(|seed| {
        let at = respan(krate, seed.span());
        let call = quote_spanned! {seed.span()=>
            #at::__private::TestReturn::into_test_result(#seed(&__persist_ctx).await)
        };
        quote! {
            |__persist_ctx: #krate::TestContext| -> #krate::__private::SeedFuture {
                ::std::boxed::Box::pin(async move { #call })
            }
        }
    }));
    let fixtures = config.fixtures.iter().map(|fixture| {
        let path = &fixture.path;
        let agent = option(fixture.agent.as_ref().map(|a| quote! { #a }));
        let file = fixture_file(fixture);
        quote! {
            #krate::__private::Fixture { agent: #agent, path: #path, sql: #file }
        }
    });
    quote! {
        agents: &[#(#agents),*],
        flavor: #flavor,
        worker_threads: #worker_threads,
        keep: #keep,
        timeout: #timeout,
        system: ::core::option::Option::Some(#system),
        setup: #setup,
        seed: #seed,
        fixtures: &[#(#fixtures),*],
    }
}

/// A fixture's SQL, read at compile time: a missing file is an error on its path, naming it
/// as written (the resolved path would depend on where the crate is built).
pub fn fixture_file(fixture: &Fixture) -> TokenStream {
    let path = &fixture.path;
    let written = path.value();
    let resolved = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if !written.starts_with('/') => std::path::Path::new(&dir).join(&written),
        _ => std::path::PathBuf::from(&written),
    };
    if !resolved.is_file() {
        syn::Error::new(
            path.span(),
            format!(
                "fixture file `{written}` not found (a relative path starts at the crate's \
                 directory, where its Cargo.toml is)"
            ),
        )
        .to_compile_error()
    } else if written.starts_with('/') {
        quote_spanned! {path.span()=> ::core::include_str!(#path) }
    } else {
        quote_spanned! {path.span()=>
            ::core::include_str!(::core::concat!(::core::env!("CARGO_MANIFEST_DIR"), "/", #path))
        }
    }
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote! { ::core::option::Option::Some(#v) },
        None => quote! { ::core::option::Option::None },
    }
}

/// The crate path with every token at `span`.
pub fn respan(path: &syn::Path, span: proc_macro2::Span) -> TokenStream {
    quote::ToTokens::to_token_stream(path)
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

fn param_label(pat: &syn::Pat) -> String {
    match pat {
        syn::Pat::Ident(ident) => ident.ident.to_string(),
        other => quote::ToTokens::to_token_stream(other).to_string(),
    }
}
