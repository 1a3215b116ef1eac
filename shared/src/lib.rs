//! Types both the relay and the browser app use, compiled for native and wasm32 alike, so
//! the two sides can never drift apart.
//!
//! * [`protocol`]: the WebSocket protocol.
//! * [`api`]: the HTTP API's request and response types and the failure codes.
//! * [`line`](mod@line): the line discipline (line editing, history) the relay runs for WinRS shells,
//!   which have pipes rather than a terminal.
#![deny(missing_docs)]

pub mod api;
pub mod line;
pub mod protocol;
