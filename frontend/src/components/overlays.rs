//! Cards over the terminal that belong to no route: the paste confirmation, and the embed
//! page's "cannot start".

use super::terminal::use_term;
use crate::components::when::When;
use leptos::prelude::*;

/// Asks before a multi-line paste reaches the shell.
#[component]
pub fn PasteDialog() -> impl IntoView {
    let term = use_term();
    let pending = term.paste_pending;
    let finish = move |go: bool| term.finish_paste(go);
    view! {
        <When when=move || pending.with(|p| p.is_some())>
            <div class="dialog">
                <div class="card">
                    <h2>{move || format!("Paste {} lines into the shell?", pending.with(|p| p.as_ref().map_or(0, |t| t.lines().count())))}</h2>
                    <p class="muted">"Each line runs as a command as soon as it arrives."</p>
                    <pre>{move || pending.get().unwrap_or_default()}</pre>
                    <div class="actions">
                        <button on:click=move |_| finish(false)>"Cancel"</button>
                        <button class="primary" on:click=move |_| finish(true)>"Paste"</button>
                    </div>
                </div>
            </div>
        </When>
    }
}

/// Why the embed page cannot start (instead of the routes).
#[component]
pub fn CannotStart(error: ReadSignal<Option<String>>) -> impl IntoView {
    view! {
        <When when=move || error.with(|e| e.is_some())>
            <div class="overlay"><div class="card">
                <h2>"This terminal cannot start"</h2>
                <p class="embed-error">{move || error.get()}</p>
            </div></div>
        </When>
    }
}
