//! The compile-time checks of what a test names: each injected parameter's type, the return
//! type, case values, and the setup, system, seed and fixtures. Rendered in a
//! `#[cfg(not(test))]` block, so that a mistake shows in `cargo check` and IDEs too (test
//! builds check the same things where the values are bound, so each build reports it once).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::render::{fixture_file, respan};
use crate::parse::Param;
use crate::validate::Config;

/// Every check of one function.
pub fn all(
    config: &Config,
    sig: &syn::Signature,
    params: &[Param],
    cases: &[(proc_macro2::Span, Vec<syn::Expr>)],
) -> Vec<TokenStream> {
    let krate = &config.krate;
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
    if let Some(setup) = &config.setup {
        let at = respan(krate, setup.span());
        checks.push(quote_spanned! {setup.span()=> let _: #at::__private::Setup = #setup; });
    }
    checks.push(match &config.system {
        Some(system) => {
            let at = respan(krate, system.span());
            quote_spanned! {system.span()=> let _ = #at::__private::system_of::<#system>; }
        }
        None => quote! {
            let _ = #krate::__private::default_system::<#krate::__private::NoSystemNamed>;
        },
    });
    if let Some(seed) = &config.seed {
        let at = respan(krate, seed.span());
        let call = quote_spanned! {seed.span()=>
            #at::__private::TestReturn::into_test_result(#seed(&__persist_ctx).await)
        };
        checks.push(quote! {
            let _ = |__persist_ctx: #krate::TestContext| async move { #call };
        });
    }
    for fixture in &config.fixtures {
        let file = fixture_file(fixture);
        checks.push(quote! { let _ = #file; });
    }
    checks
}

/// Whether a type contains `impl Trait`, which cannot be named outside the function.
fn mentions_impl(ty: &syn::Type) -> bool {
    quote::ToTokens::to_token_stream(ty)
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}
