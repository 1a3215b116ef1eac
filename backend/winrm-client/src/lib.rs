//! A WinRM client for interactive WinRS shells over HTTPS.
//!
//! The relay's link to a Windows container: it opens WinRS shells, starts commands with stdin
//! kept open, streams their output as it arrives, and forwards input and Ctrl+C.
//!
//! * [`Client`] ([`client`]): one connection pool per endpoint, Basic auth, certificate
//!   checking by system roots, a CA file, or a pinned SHA-256 fingerprint ([`TlsMode`]).
//!   Plain HTTP only on explicit opt-in. The HTTP timeout always outlasts the
//!   OperationTimeout, so a long-polling Receive is never cut off by the client.
//! * [`Shell`] and [`RunningCommand`] ([`shell`]): the interactive API. A background task per
//!   command keeps exactly one Receive outstanding and hands output on through a bounded
//!   channel, so a consumer that stops reading slows the server down instead of filling
//!   memory.
//! * Acknowledged output ([`StartOptions::acknowledged`], [`Client::resume_command`]): Receives
//!   numbered with `SequenceId`; after the output of response `n` the stream yields
//!   [`OutputEvent::Received`]`(n)` and the loop asks for more only after [`Acker::ack`]`(n)`,
//!   so a process that stores output before acknowledging it can die, and another can resume
//!   the command by shell id, command id and the first unstored number: nothing lost or
//!   repeated. [`Shell::forget`] hands a shell on without deleting it.
//! * [`Error`]: every failure a person can act on, with a message saying what to try.
//!
//! The envelopes themselves are built and parsed by the `wsman` crate; this crate adds I/O.
//!
//! **Invariant:** a shell this crate opened (or resumed) is deleted when it is closed, dropped,
//! or its client shuts down with [`Client::close_all`], unless it was explicitly handed on
//! with [`Shell::forget`]; the password never appears in `Debug` output,
//! logs or errors.
#![deny(missing_docs)]

pub mod client;
mod error;
mod http;
pub mod powershell;
pub mod shell;
pub mod tls;
mod tls_io;

pub use client::{Client, ClientConfig, Password, RequestObserver, RequestOutcome};
pub use error::Error;
pub use powershell::{
    HostAnswer, Pipeline, PipelineResult, PoolOptions, PowerShellPool, PsEvent, PsHost, Stopper,
};
/// The sans-IO PSRP crate the PowerShell API speaks in (values, records, pipelines).
pub use psrp;
pub use shell::{
    Acker, CommandInput, CommandOutput, Output, OutputEvent, OutputStream, RunningCommand, Shell,
    ShellOptions, StartOptions,
};
pub use tls::{fingerprint, parse_fingerprint, TlsMode};
