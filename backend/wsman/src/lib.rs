//! WS-Management envelopes for the WinRS (Windows Remote Shell) operations, as plain code.
//!
//! This crate knows nothing about sockets, HTTP or clocks: it turns typed values into SOAP
//! envelopes and envelopes back into typed values, for both ends of the conversation.
//!
//! * [`client`]: what a WinRM client needs: writing requests, parsing responses and faults.
//! * [`server`]: what a WinRM server (the simulator) needs: parsing requests, writing
//!   responses and faults.
//!
//! The types in [`types`] are shared by both directions, so a request written by the client
//! side can be parsed by the server side and vice versa (tests do exactly that).
#![deny(missing_docs)]

pub mod client;
pub mod ns;
pub mod server;
pub mod types;
mod xml;

pub use types::*;
