//! The PowerShell Remoting Protocol (MS-PSRP), as plain code with no I/O.
//!
//! PSRP is what `Enter-PSSession` speaks: PowerShell objects serialized as CLIXML, wrapped in
//! messages, cut into fragments, carried base64 inside WS-Management envelopes (the `wsman`
//! crate writes and reads those). This crate covers everything between the envelope and the
//! objects, for both a client and a (test) server:
//!
//! * [`fragment`]: the 21-byte fragment header, splitting a message to fit an envelope, and a
//!   bounded [`fragment::Defragmenter`] that reassembles any interleaving of messages.
//! * [`message`]: the 40-byte message header, [`message::MessageType`] and GUIDs in .NET
//!   byte order (raw bytes kept so a server can echo what it received).
//! * [`clixml`]: the value model ([`clixml::Value`], [`clixml::Object`]), a bounded parser and
//!   a writer, `_xHHHH_` string escaping, per-message RefIds.
//! * [`records`] and [`host`]: typed records on top of CLIXML (ErrorRecord with the text the
//!   console prints, progress, information, HostInfo with `_hostDefaultData`, states) and host
//!   calls (RemoteHostMethodId, `ci`/`mi`/`mp`, replies).
//! * [`messages`]: the data of every message type, typed.
//! * [`crypto`]: the session key exchange and SecureString encryption (see `CRYPTO.md`).
//! * [`pool`]: client and server state machines for a RunspacePool and its pipelines: bytes
//!   in, events and bytes out.
//!
//! **Invariants.** No sockets, no clock, no async runtime, no global state; randomness (keys,
//! ids) comes from an RNG the caller passes in. Every parser is bounded and returns an error
//! for hostile input instead of panicking or allocating without limit.
#![deny(missing_docs)]

pub mod clixml;
pub mod crypto;
pub mod fragment;
pub mod host;
pub mod message;
pub mod messages;
pub mod pool;
pub mod records;
