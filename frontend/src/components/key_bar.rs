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
    // PgUp/PgDn move through the scrollback, as they do in a terminal window.
    let page = move |n: i32| {
        term.with(|t| t.term.scroll_pages(n));
        term.focus();
    };
    view! {
        <div class="keybar" class:forced=forced role="toolbar" aria-label="Keys a touch keyboard lacks">
            <button on:click=key("\x1b")>"Esc"</button>
            <button on:click=key("\t")>"Tab"</button>
            <button class:on=move || term.ctrl_sticky.get() on:click=move |_| term.toggle_ctrl()>"Ctrl"</button>
            <button on:click=key("\x03")>"^C"</button>
            <button class="break" title="Ctrl+Break: stops what Ctrl+C does not" on:click=move |_| {
                term.with_conn(|c| c.send_signal(ShellSignal::CtrlBreak));
                term.focus();
            }>"Break"</button>
            <button aria-label="Left" on:click=key("\x1b[D")>"←"</button>
            <button aria-label="Up" on:click=key("\x1b[A")>"↑"</button>
            <button aria-label="Down" on:click=key("\x1b[B")>"↓"</button>
            <button aria-label="Right" on:click=key("\x1b[C")>"→"</button>
            <button on:click=key("\x1b[H")>"Home"</button>
            <button on:click=key("\x1b[F")>"End"</button>
            <button title="Scroll back a page" on:click=move |_| page(-1)>"PgUp"</button>
            <button title="Scroll forward a page" on:click=move |_| page(1)>"PgDn"</button>
            <button aria-label="Backslash" on:click=key("\\")>"\\"</button>
            <button aria-label="Pipe" on:click=key("|")>"|"</button>
            <button aria-label="Minus" on:click=key("-")>"-"</button>
        </div>
    }
}
