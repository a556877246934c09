//! Attribute macros of the worker framework.
use proc_macro::TokenStream;

/// Registers a route.
#[proc_macro_attribute]
pub fn route(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Registers a startup hook.
#[proc_macro_attribute]
pub fn on_startup(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Registers a shutdown hook.
#[proc_macro_attribute]
pub fn on_shutdown(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Generates `fn main`.
#[proc_macro]
pub fn main(_input: TokenStream) -> TokenStream {
    "fn main() {}".parse().unwrap()
}
