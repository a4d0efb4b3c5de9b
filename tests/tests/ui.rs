//! Compile-time behaviour of `#[persistence_test]`: every mistake is a spanned error, and every
//! argument and injectable type compiles. `.stderr` files come from `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
