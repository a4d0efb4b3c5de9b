//! Expansion: a plain `#[test]` fn whose body is one call into `persist_core::__private`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::parse::{self, Param, RawArgs};
use crate::validate::{self, Config, Flavor};

/// The whole transform. On any error the function is still emitted (as a plain `async fn`,
/// without our parameter attributes) next to the errors, so IDEs keep working on its body.
pub fn persistence_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(e) => {
            let e = syn::Error::new(e.span(), "`#[persistence_test]` goes on an `async fn`");
            let error = e.to_compile_error();
            return quote! { #error #item };
        }
    };

    // Under `#[rstest]` (below this attribute): rstest goes first and hands each test it
    // generates back to this attribute, by a path ending in `test` (as rstest looks for).
    if func
        .attrs
        .iter()
        .any(|a| last_segment(a).as_deref() == Some("rstest"))
    {
        return hand_to_rstest(args, func);
    }
    let (raw, mut errors) = RawArgs::parse(args);
    let config = raw.build().unwrap_or_else(|e| {
        combine(&mut errors, e);
        Config::default()
    });
    if let Err(e) = validate::signature(&func) {
        combine(&mut errors, e);
    }
    let params = take_params(&mut func, &mut errors);
    if let Err(e) = validate::agent_params(&params, &config.agents) {
        combine(&mut errors, e);
    }
    let cases = parse::cases(&mut func.attrs).unwrap_or_else(|e| {
        combine(&mut errors, e);
        Vec::new()
    });
    if let Err(e) = validate::cases(&params, &cases, func.sig.ident.span()) {
        combine(&mut errors, e);
    }

    match errors {
        Some(errors) => {
            let errors = errors.to_compile_error();
            quote! {
                #errors
                #[allow(dead_code)]
                #func
            }
        }
        None => test_fn(&config, func, &params, &cases),
    }
}

fn last_segment(attr: &syn::Attribute) -> Option<String> {
    attr.path().segments.last().map(|s| s.ident.to_string())
}

/// `#[persistence_test(args)] #[rstest] … fn` becomes `#[rstest] … #[krate::test(args)] fn`:
/// rstest generates a test per case and value, each under this attribute again.
fn hand_to_rstest(args: TokenStream, mut func: syn::ItemFn) -> TokenStream {
    let (raw, errors) = RawArgs::parse(args.clone());
    let krate = match raw.build() {
        Ok(config) => config.krate,
        Err(e) => {
            let errors = match errors {
                Some(mut all) => {
                    all.combine(e);
                    all
                }
                None => e,
            };
            let errors = errors.to_compile_error();
            return quote! { #errors #[allow(dead_code)] #func };
        }
    };
    for input in &func.sig.inputs {
        if let syn::FnArg::Typed(pat_type) = input {
            let has = |name: &str| pat_type.attrs.iter().any(|a| a.path().is_ident(name));
            if has("agent") {
                let e = syn::Error::new(
                    pat_type.span(),
                    "with `#[rstest]`, a parameter cannot take `#[agent]` (rstest keeps it on the function it calls): take `ctx: TestContext` (marked `#[ignore]`) and ask it, `ctx.resource_for::<AgentHandle>(\"AgentA\")?`",
                )
                .to_compile_error();
                return quote! { #e };
            }
        }
    }
    func.attrs
        .push(syn::parse_quote! { #[#krate::test(#args)] });
    quote! { #func }
}

fn combine(all: &mut Option<syn::Error>, e: syn::Error) {
    match all {
        Some(all) => all.combine(e),
        None => *all = Some(e),
    }
}

/// Replaces each typed parameter with its declaration minus `#[agent]`, and collects them.
fn take_params(func: &mut syn::ItemFn, errors: &mut Option<syn::Error>) -> Vec<Param> {
    let mut params = Vec::new();
    for input in func.sig.inputs.iter_mut() {
        let syn::FnArg::Typed(pat_type) = input else {
            continue;
        };
        match parse::param(pat_type.clone()) {
            Ok(param) => {
                *pat_type = param.declared.clone();
                params.push(param);
            }
            Err(e) => {
                pat_type.attrs.retain(|a| {
                    !a.path().is_ident("agent")
                        && !a.path().is_ident("case")
                        && !parse::RSTEST_PARAM_ATTRS
                            .iter()
                            .any(|n| a.path().is_ident(n))
                });
                combine(errors, e);
            }
        }
    }
    params
}

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
// With `#[case(…)]` attributes, `backends = [...]` or `http = [...]`, the output is a module
// named after the test holding the `async fn` and one `#[test]` per case, backend and
// transport:
//   mod replies { use super::*; async fn replies(…) { … } #[test] fn case_1_sqlite() { … } … }
fn test_fn(
    config: &Config,
    func: syn::ItemFn,
    params: &[Param],
    cases: &[(proc_macro2::Span, Vec<syn::Expr>)],
) -> TokenStream {
    let krate = &config.krate;
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

    let mut checks = Vec::new();
    for param in params.iter().filter(|p| p.case.is_none()) {
        let ty = &param.injected;
        let krate = respan(krate, ty.span());
        checks.push(match &param.agent {
            None => quote_spanned! {ty.span()=> #krate::__private::check_inject::<#ty>(); },
            Some(_) => {
                quote_spanned! {ty.span()=> #krate::__private::check_inject_agent::<#ty>(); }
            }
        });
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output
        && !mentions_impl(ty)
    {
        let krate = respan(krate, ty.span());
        checks.push(quote_spanned! {ty.span()=> #krate::__private::check_return::<#ty>(); });
    }
    for (_, values) in cases {
        let case_params = params.iter().filter(|p| p.case.is_some());
        for (param, value) in case_params.zip(values) {
            let ty = &param.injected;
            checks.push(quote_spanned! {value.span()=> let _: #ty = #value; });
        }
    }
    let fields = config_fields(config, &mut checks);
    let should_panic = attrs.iter().any(|a| a.path().is_ident("should_panic"));

    // One (test name, backend, case values) per test to generate.
    let case_list: Vec<Option<(usize, &Vec<syn::Expr>)>> = if cases.is_empty() {
        vec![None]
    } else {
        cases
            .iter()
            .enumerate()
            .map(|(i, (_, v))| Some((i + 1, v)))
            .collect()
    };
    let backend_list: Vec<Option<&str>> = if config.backends.is_empty() {
        vec![None]
    } else {
        config.backends.iter().map(|b| Some(b.as_str())).collect()
    };
    let http_list: Vec<Option<&str>> = if config.http.is_empty() {
        vec![None]
    } else {
        config.http.iter().map(|t| Some(t.as_str())).collect()
    };
    let single = case_list.len() == 1
        && cases.is_empty()
        && backend_list.len() == 1
        && config.backends.is_empty()
        && http_list.len() == 1;

    let mut tests = Vec::new();
    for case in &case_list {
        for backend in &backend_list {
            for http in &http_list {
                let test_name = if single {
                    name.clone()
                } else {
                    let mut parts = Vec::new();
                    if let Some((index, _)) = case {
                        parts.push(format!("case_{index}"));
                    }
                    if let Some(backend) = backend {
                        parts.push(backend.replace('-', "_"));
                    }
                    if http_list.len() > 1
                        && let Some(http) = http
                    {
                        parts.push((*http).to_owned());
                    }
                    format_ident!("{}", parts.join("_"))
                };
                let http = option(http.and_then(|t| match t {
                    "socket" => Some(quote! { #krate::__private::HttpTransport::Socket }),
                    "router" => Some(quote! { #krate::__private::HttpTransport::Router }),
                    _ => None,
                }));
                let body = call_body(krate, name, &sig, params, case.map(|(_, values)| values));
                // One name for every backend and transport of a case: they share a snapshot.
                let snapshot_name = match case {
                    Some((index, _)) => format!("{name}@case_{index}"),
                    None => name.to_string(),
                };
                let backend = match backend {
                    Some(b) => quote! { ::core::option::Option::Some(#b) },
                    None => option(config.backend.as_deref().map(|b| quote! { #b })),
                };
                let matrix = !config.backends.is_empty();
                let nested = single.then(|| inner.clone());
                tests.push(quote! {
                #(#attrs)*
                #[::core::prelude::v1::test]
                #vis fn #test_name() {
                    #nested
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
            });
            }
        }
    }

    let checks = quote! {
        // A `#[test]` fn is removed from non-test builds before type checking; this keeps the
        // signature's mistakes visible there too (`cargo check`, IDEs). Test builds check the
        // same things in the bindings below, so each build reports a mistake once.
        #[cfg(not(test))]
        const _: fn() = || { #(#checks)* };
    };
    if single {
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

/// The bindings of one test and the call of the inner fn.
fn call_body(
    krate: &syn::Path,
    name: &syn::Ident,
    sig: &syn::Signature,
    params: &[Param],
    case: Option<&Vec<syn::Expr>>,
) -> TokenStream {
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

/// The configuration fields every generated test shares (all but name, backend, matrix and
/// should_panic), adding their compile-time checks to `checks`.
fn config_fields(config: &Config, checks: &mut Vec<TokenStream>) -> TokenStream {
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
        checks.push(quote_spanned! {setup.span()=> let _: #at::__private::Setup = #setup; });
        quote! {{
            fn __persist_setup(builder: #krate::db::ManagerBuilder) -> #krate::db::ManagerBuilder {
                #typed
                setup(builder)
            }
            __persist_setup as #krate::__private::Setup
        }}
    }));
    let system = match &config.system {
        Some(system) => {
            let at = respan(krate, system.span());
            checks.push(
                quote_spanned! {system.span()=> let _ = #at::__private::system_of::<#system>; },
            );
            quote_spanned! {system.span()=> #at::__private::system_of::<#system> }
        }
        // The default system (the reference mesh) exists only with persist-core's `mesh`
        // feature; without it this names a bound that is unmet, with a message saying what
        // to write.
        None => {
            let default = quote! {
                #krate::__private::default_system::<#krate::__private::NoSystemNamed>
            };
            checks.push(quote! { let _ = #default; });
            default
        }
    };
    let system = quote! { ::core::option::Option::Some(#system) };
    let seed = option(config.seed.as_ref().map(|seed| {
        let at = respan(krate, seed.span());
        let call = quote_spanned! {seed.span()=>
            #at::__private::TestReturn::into_test_result(#seed(&__persist_ctx).await)
        };
        checks.push(quote! {
            let _ = |__persist_ctx: #krate::TestContext| async move { #call };
        });
        quote! {
            |__persist_ctx: #krate::TestContext| -> #krate::__private::SeedFuture {
                ::std::boxed::Box::pin(async move { #call })
            }
        }
    }));
    let fixtures = config.fixtures.iter().map(|fixture| {
        let path = &fixture.path;
        let agent = option(fixture.agent.as_ref().map(|a| quote! { #a }));
        // Read at compile time: a missing file is an error on its path, naming it as written
        // (the resolved path would depend on where the crate is built).
        let written = path.value();
        let resolved = match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(dir) if !written.starts_with('/') => std::path::Path::new(&dir).join(&written),
            _ => std::path::PathBuf::from(&written),
        };
        let file = if !resolved.is_file() {
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
        };
        checks.push(quote! { let _ = #file; });
        quote! {
            #krate::__private::Fixture { agent: #agent, path: #path, sql: #file }
        }
    });
    let fixtures: Vec<TokenStream> = fixtures.collect();
    quote! {
        agents: &[#(#agents),*],
        flavor: #flavor,
        worker_threads: #worker_threads,
        keep: #keep,
        timeout: #timeout,
        system: #system,
        setup: #setup,
        seed: #seed,
        fixtures: &[#(#fixtures),*],
    }
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote! { ::core::option::Option::Some(#v) },
        None => quote! { ::core::option::Option::None },
    }
}

/// The crate path with every token at `span`.
fn respan(path: &syn::Path, span: proc_macro2::Span) -> TokenStream {
    quote::ToTokens::to_token_stream(path)
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

/// Whether a type contains `impl Trait`, which cannot be named outside the function.
fn mentions_impl(ty: &syn::Type) -> bool {
    quote::ToTokens::to_token_stream(ty)
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}

fn param_label(pat: &syn::Pat) -> String {
    match pat {
        syn::Pat::Ident(ident) => ident.ident.to_string(),
        other => quote::ToTokens::to_token_stream(other).to_string(),
    }
}
