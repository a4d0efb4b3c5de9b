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

    match errors {
        Some(errors) => {
            let errors = errors.to_compile_error();
            quote! {
                #errors
                #[allow(dead_code)]
                #func
            }
        }
        None => test_fn(&config, func, &params),
    }
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
                pat_type.attrs.retain(|a| !a.path().is_ident("agent"));
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
//               let __persist_arg0 = ::persist_core::__private::inject::<GatewayPersistenceAdapter>(&__persist_ctx, "gateway");
//               let __persist_arg1 = ::persist_core::__private::inject_agent::<AgentHandle>(&__persist_ctx, "a", "A");
//               ::persist_core::__private::TestReturn::into_test_result(replies(__persist_arg0, &__persist_arg1).await)
//           },
//       )
//   }
fn test_fn(config: &Config, func: syn::ItemFn, params: &[Param]) -> TokenStream {
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

    let mut bindings = Vec::new();
    let mut checks = Vec::new();
    let mut call_args = Vec::new();
    for (index, param) in params.iter().enumerate() {
        let var = format_ident!("__persist_arg{}", index);
        let ty = &param.injected;
        // Errors about this parameter start at its first token: make that the type's.
        let krate = respan(krate, ty.span());
        let label = param_label(&param.declared.pat);
        let (binding, check) = match &param.agent {
            None => (
                quote_spanned! {ty.span()=>
                    let #var = #krate::__private::inject::<#ty>(&__persist_ctx, #label);
                },
                quote_spanned! {ty.span()=> #krate::__private::check_inject::<#ty>(); },
            ),
            Some(agent) => (
                quote_spanned! {ty.span()=>
                    let #var = #krate::__private::inject_agent::<#ty>(&__persist_ctx, #label, #agent);
                },
                quote_spanned! {ty.span()=> #krate::__private::check_inject_agent::<#ty>(); },
            ),
        };
        bindings.push(binding);
        checks.push(check);
        call_args.push(if param.by_ref {
            quote! { &#var }
        } else {
            quote! { #var }
        });
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output
        && !mentions_impl(ty)
    {
        let krate = respan(krate, ty.span());
        checks.push(quote_spanned! {ty.span()=> #krate::__private::check_return::<#ty>(); });
    }

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
    let backend = option(config.backend.as_deref().map(|b| quote! { #b }));
    let setup = option(config.setup.as_ref().map(|setup| {
        let krate = respan(krate, setup.span());
        checks.push(quote_spanned! {setup.span()=> let _: #krate::__private::Setup = #setup; });
        quote! { #setup as #krate::__private::Setup }
    }));
    let system = option(config.system.as_ref().map(|system| {
        let krate = respan(krate, system.span());
        quote_spanned! {system.span()=> #krate::__private::system_of::<#system> }
    }));
    if let Some(system) = &config.system {
        let krate = respan(krate, system.span());
        checks.push(
            quote_spanned! {system.span()=> let _ = #krate::__private::system_of::<#system>; },
        );
    }
    // A `#[should_panic]` test passed when it panicked: its databases are not kept for it.
    let should_panic = attrs.iter().any(|a| a.path().is_ident("should_panic"));
    let ret = sig.output.span();
    let ret_krate = respan(krate, ret);
    let result = quote_spanned! {ret=>
        #ret_krate::__private::TestReturn::into_test_result(#name(#(#call_args),*).await)
    };

    quote! {
        // A `#[test]` fn is removed from non-test builds before type checking; this keeps the
        // signature's mistakes visible there too (`cargo check`, IDEs). Test builds check the
        // same things in the bindings below, so each build reports a mistake once.
        #[cfg(not(test))]
        const _: fn() = || { #(#checks)* };

        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #inner
            #krate::__private::run_test(
                #krate::__private::TestConfig {
                    name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                    agents: &[#(#agents),*],
                    flavor: #flavor,
                    worker_threads: #worker_threads,
                    keep: #keep,
                    timeout: #timeout,
                    backend: #backend,
                    system: #system,
                    setup: #setup,
                    should_panic: #should_panic,
                },
                |__persist_ctx| async move {
                    #(#bindings)*
                    #result
                },
            )
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
