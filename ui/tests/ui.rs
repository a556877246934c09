//! Compile-time behaviour of the macros: every rule has a `fail` file whose
//! `.stderr` shows the error under the offending token, and `pass` files
//! check that valid attributes register the expected records.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/*/pass/*.rs");
    t.compile_fail("tests/ui/*/fail/*.rs");
}
