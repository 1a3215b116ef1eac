//! Keys a touch keyboard lacks; shown on coarse pointers (or with `?keybar=1`).

use super::terminal::use_term;
use crate::page::query_param;
use leptos::prelude::*;
use winrelay_shared::protocol::Signal as ShellSignal;

#[component]
pub fn KeyBar() -> impl IntoView {
    let term = use_term();
    let forced = query_param("keybar").is_some_and(|v| v == "1");
    let key = move |seq: &'static str| {
        move |_| {
            term.with_conn(|c| c.send_input(seq));
            term.focus();
        }
    };
    view! {
        <div class="keybar" class:forced=forced>
            <button on:click=key("\x1b")>"Esc"</button>
            <button on:click=key("\t")>"Tab"</button>
            <button class:on=move || term.ctrl_sticky.get() on:click=move |_| term.toggle_ctrl()>"Ctrl"</button>
            <button on:click=key("\x03")>"^C"</button>
            <button class="break" title="Ctrl+Break: stops what Ctrl+C does not" on:click=move |_| {
                term.with_conn(|c| c.send_signal(ShellSignal::CtrlBreak));
                term.focus();
            }>"Break"</button>
            <button on:click=key("\x1b[D")>"←"</button>
            <button on:click=key("\x1b[A")>"↑"</button>
            <button on:click=key("\x1b[B")>"↓"</button>
            <button on:click=key("\x1b[C")>"→"</button>
        </div>
    }
}
