//! Searching the scrollback (Ctrl+Shift+F or the top bar's Search).

use super::terminal::use_term;
use leptos::ev;
use leptos::html;
use leptos::prelude::*;

#[component]
pub fn SearchBox() -> impl IntoView {
    let term = use_term();
    let input = NodeRef::<html::Input>::new();
    input.on_load(|el| {
        let _ = el.focus();
    });
    let close = move || term.close_search();
    let find = move |back: bool| {
        if let Some(el) = input.get_untracked() {
            let text = el.value();
            term.with(|t| t.find(&text, back));
        }
    };
    view! {
        <div class="search">
            <input node_ref=input type="text" placeholder="Search scrollback"
                on:input=move |_| find(false)
                on:keydown=move |e: ev::KeyboardEvent| match e.key().as_str() {
                    "Enter" => { e.prevent_default(); find(e.shift_key()) }
                    "Escape" => close(),
                    _ => {}
                }/>
            <button title="Previous (Shift+Enter)" on:click=move |_| find(true)>"↑"</button>
            <button title="Next (Enter)" on:click=move |_| find(false)>"↓"</button>
            <button title="Close (Esc)" on:click=move |_| close()>"×"</button>
        </div>
    }
}
