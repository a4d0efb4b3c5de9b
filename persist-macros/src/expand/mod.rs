//! Expansion: a plain `#[test]` fn whose body is one call into `persist_core::__private`.
//!
//! A pipeline a reader can follow: the arguments are parsed ([`crate::parse`]) and checked
//! together ([`crate::validate`]); then [`plan`] lists the tests to generate (one per case,
//! backend and transport), [`checks`] the compile-time checks of what the test names, and
//! [`render`] writes the code. An error at any stage stops before the last, and the function
//! is still emitted so that IDEs keep working on its body.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;

use crate::parse::{self, Param, RawArgs};
use crate::validate::{self, Config};

mod checks;
mod plan;
mod render;

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
        None => {
            let plan = plan::Plan::of(&config, &func.sig.ident, &cases);
            let checks = checks::all(&config, &func.sig, &params, &cases);
            render::tests(&config, func, &params, &plan, checks)
        }
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
