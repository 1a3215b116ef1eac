//! Searching the scrollback (Ctrl+Shift+F or the top bar's Search).

use super::terminal::use_term;
use crate::app::Look;
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
    let look: Look = expect_context();
    // "3 of 12", "not found", or nothing before the first search.
    let results = RwSignal::new(None::<(i32, u32)>);
    term.with(|t| t.on_search_results(move |index, count| results.set(Some((index, count)))));
    on_cleanup(move || term.with(|t| t.stop_search_results()));
    let close = move || term.close_search();
    let find = move |back: bool| {
        if let Some(el) = input.get_untracked() {
            let text = el.value();
            if text.is_empty() {
                results.set(None);
            }
            let light = look.light.get_untracked();
            term.with(|t| t.find(&text, back, light));
        }
    };
    let status = move || match results.get() {
        None => String::new(),
        Some((_, 0)) => "not found".to_string(),
        Some((i, n)) if i < 0 => format!("{n} found"),
        Some((i, n)) => format!("{} of {n}", i + 1),
    };
    view! {
        <div class="search">
            <input node_ref=input type="text" placeholder="Search scrollback" aria-label="Search scrollback"
                on:input=move |_| find(false)
                on:keydown=move |e: ev::KeyboardEvent| match e.key().as_str() {
                    "Enter" => { e.prevent_default(); find(e.shift_key()) }
                    "Escape" => close(),
                    _ => {}
                }/>
            <span class="results muted" role="status" aria-live="polite">{status}</span>
            <button title="Previous (Shift+Enter)" on:click=move |_| find(true)>"↑"</button>
            <button title="Next (Enter)" on:click=move |_| find(false)>"↓"</button>
            <button title="Close (Esc)" on:click=move |_| close()>"×"</button>
        </div>
    }
}
