//! Requests to the relay as Leptos actions.
//!
//! Every component that asks the relay something dispatches an [`Action`] made by
//! [`request`]. Leptos compiles its action code once per input type and once per future
//! type; here the future is boxed and the function erased, so all actions with the same input
//! type share one copy (the app has four input types; the erasure saved 6 KB of wasm).

use leptos::prelude::*;
use std::future::Future;
use std::pin::Pin;

/// What a request's function returns: `Box::pin(async move { ... })`.
pub type Pending = Pin<Box<dyn Future<Output = ()>>>;

/// An action that runs `f` for each dispatched input. What it learns goes into signals (or
/// the terminal) from inside the future: the action's own `value()` stays `()`.
pub fn request<I: 'static>(f: impl Fn(&I) -> Pending + 'static) -> Action<I, ()> {
    erased(Box::new(f))
}

/// Generic over the input only (a closure made in `request` would have a type per caller).
fn erased<I: 'static>(f: Box<dyn Fn(&I) -> Pending>) -> Action<I, ()> {
    Action::new_local(move |input: &I| f(input))
}
