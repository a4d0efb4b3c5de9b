//! The `#[persistence_test]` attribute. Use it through `persist-core`, which re-exports it and
//! documents it.
//!
//! This crate only parses, validates and expands; everything that runs lives in
//! `persist_core::__private`.

use proc_macro::TokenStream;

mod expand;
mod parse;
mod validate;

/// Turns an `async fn` into a test with its own databases. See `persist_core::persistence_test`.
#[proc_macro_attribute]
pub fn persistence_test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::persistence_test(args.into(), item.into()).into()
}
