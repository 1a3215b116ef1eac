//! WS-Management envelopes for the WinRS (Windows Remote Shell) operations, as plain code.
//!
//! This crate knows nothing about sockets, HTTP or clocks: it turns typed values into SOAP
//! envelopes and envelopes back into typed values, for both ends of the conversation.
//!
//! * [`client`]: what a WinRM client needs: writing requests, parsing responses and faults.
//! * [`server`]: what a WinRM server (the simulator) needs: parsing requests, writing
//!   responses and faults.
//! * [`psrp`]: PowerShell remoting over the same shell operations (plus Disconnect,
//!   Reconnect, Connect), both sides; the PSRP bytes themselves are the `psrp` crate's.
//!
//! The types in [`types`] are shared by both directions, so a request written by the client
//! side can be parsed by the server side and vice versa (tests do exactly that).
//!
//! ```
//! use wsman::{client, server, Action, Fault, Request, RequestBody, Response, ResponseBody};
//!
//! // Client: ask for output.
//! let req = Request::new("https://127.0.0.1:5986/wsman", Some("SHELL-ID"), RequestBody::Receive {
//!     command_id: Some("CMD-ID".into()),
//!     streams: vec!["stdout".into(), "stderr".into()],
//!     sequence_id: None,
//! });
//! let xml = client::write_request(&req);
//!
//! // Server: understand it, and answer "no output yet" when the long poll expires.
//! let parsed = server::parse_request(xml.as_bytes()).unwrap();
//! assert_eq!(parsed, req);
//! let fault = server::write_fault(&Fault::timed_out(Some(parsed.header.message_id.clone())));
//!
//! // Client: a timeout is a fault that only means "ask again".
//! let answer = client::parse_response(Action::Receive, fault.as_bytes()).unwrap();
//! assert!(answer.unwrap_err().is_timeout());
//! # let ok = server::write_response(&Response::new(None, ResponseBody::Sent));
//! # assert!(client::parse_response(Action::Send, ok.as_bytes()).unwrap().is_ok());
//! ```
//!
//! **Invariants.** No I/O, no clock, no async. Parsing is bounded and safe for hostile
//! input: DOCTYPE (hence entity declarations and expansion) is refused, only the predefined
//! entities and character references resolve, nesting is capped at 64 levels, an envelope at
//! 20 000 elements, attributes at 32 per element and 16 KiB each. The size of the input itself
//! is the caller's to cap (a server compares the HTTP body with its MaxEnvelopeSize first and
//! answers [`Fault::envelope_too_large`]).
#![deny(missing_docs)]

pub mod client;
mod common;
pub mod ns;
pub mod psrp;
pub mod server;
pub mod types;
mod xml;

pub use types::*;
