//! Types both the relay and the browser app use, compiled for native and wasm32 alike, so
//! the two sides can never drift apart.
//!
//! * [`protocol`]: the WebSocket protocol.
//! * [`api`]: the HTTP API's request and response types and the failure codes.
//! * [`cursor`]: the client's side of the output stream (where it is, what to write, when
//!   to acknowledge, where to resume), without I/O.
//! * [`line`](mod@line): the line discipline (line editing, history) the relay runs for WinRS shells,
//!   which have pipes rather than a terminal.
#![deny(missing_docs)]

pub mod api;
pub mod cursor;
pub mod line;
pub mod protocol;
