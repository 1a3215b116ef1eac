//! The winrelay browser app: a Leptos (client-side rendered) app around one xterm.js 6
//! terminal, talking to the relay over `winrelay_shared::protocol`.
//!
//! * `app`: components (top bar, target picker, session view with its status bar, search,
//!   paste confirmation, touch key bar) and the terminal's key and paste handling.
//! * `session`: the one function that owns a session's WebSocket (flow control, reconnect
//!   with backoff and exact resume, ping/pong latency).
//! * `term`: the terminal itself (renderer choice, theme, zoom, fit, search).
//! * `xterm`: thin bindings to xterm.js and its addons.
//! * `embed`: the embed page's postMessage contract with its host page (origin checks).
//! * `replay`: recordings (asciicast v2) played back into the terminal.
//! * `api`: the relay's HTTP API; `route`: the page's paths.
#![deny(missing_docs)]

mod api;
mod app;
mod embed;
mod replay;
mod route;
mod session;
mod term;
mod xterm;

/// Mounts the app on the page's body.
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
