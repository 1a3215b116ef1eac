//! The winrelay browser app: a Leptos (client-side rendered) app around one xterm.js 6
//! terminal, talking to the relay over `winrelay_shared::protocol`.
//!
//! * `app`: the root component: the shared state, handed down through context, and the
//!   page's layout.
//! * `components`: one file per part of the page (top bar, picker, opener, session view,
//!   sharing, recordings, sign-in and credential form, terminal pane with its key and paste
//!   handling, search, key bar, overlays, the embed page's host).
//! * `nav`: the route and moving between routes; `account`: who is signed in.
//! * `session`: the one function that owns a session's WebSocket (flow control, reconnect
//!   with backoff and exact resume, ping/pong latency).
//! * `term`: the terminal itself (renderer choice, theme, zoom, fit, search).
//! * `xterm`: thin bindings to xterm.js and its addons.
//! * `embed`: the embed page's postMessage contract with its host page (origin checks).
//! * `replay`: recordings (asciicast v2) played back into the terminal.
//! * `lazy`: the rarely used parts (sign-in, sharing panel, recordings and the player,
//!   fleet view, settings, search, the embed page's host link), each in a wasm chunk
//!   loaded when first shown.
//! * `api`: the relay's HTTP API; `route`: the page's paths; `page`: window, storage,
//!   query string, clipboard.
#![deny(missing_docs)]

mod account;
mod api;
mod app;
mod components;
mod embed;
mod json;
mod lazy;
mod nav;
mod page;
mod replay;
mod request;
mod route;
mod session;
mod term;
mod xterm;

/// Mounts the app on the page's body.
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
