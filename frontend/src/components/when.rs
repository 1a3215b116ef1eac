//! `<When when=...>`: Leptos' `<Show>` (children while a condition holds) compiled once for
//! the whole app. `<Show>` is generic over its condition and its children, so each use was a
//! copy of its rendering code (23 uses, about 25 KB of wasm); here the condition is a
//! `Signal<bool>` and the children are `ChildrenFn`, both type-erased.

use leptos::prelude::*;

/// Renders `children` while `when` is true (built anew each time it turns true).
#[component]
pub fn When(#[prop(into)] when: Signal<bool>, children: ChildrenFn) -> impl IntoView {
    let shown = Memo::new(move |_| when.get());
    (move || shown.get().then(|| children())).into_any()
}
