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
//! * [`crypto`]: the session key exchange and SecureString encryption (see SECURITY.md, "PowerShell remoting: SecureString cryptography").
//! * [`pool`]: client and server state machines for a RunspacePool and its pipelines: bytes
//!   in, events and bytes out.
//! * [`console`]: what an interactive console host builds and reads: the pipeline for a
//!   typed line, the prompt, tab completion, incomplete input, ANSI rendering of writes.
//!
//! ```
//! use psrp::clixml::Value;
//! use psrp::message::{Guid, MessageType};
//! use psrp::messages::{Command, CreatePipeline, InitRunspacePool};
//! use psrp::pool::{ClientEvent, ClientPool, ServerEvent, ServerPool};
//! use psrp::records::{HostInfo, PipelineState};
//!
//! // Client: the creationXml of the Create request (wsman::psrp writes the envelope).
//! let rpid = Guid::parse("76056A84-51DC-4F24-9262-CA2A55464B2B").unwrap();
//! let mut client = ClientPool::new(rpid, 512_000);
//! let creation_xml = client.open(&InitRunspacePool::new(HostInfo::console(120, 30))).unwrap();
//!
//! // Server (the simulator): understand it and answer on the pool's Receive.
//! let mut server = ServerPool::new();
//! assert!(matches!(server.receive(&creation_xml).unwrap()[..], [ServerEvent::Open { .. }]));
//! for stream in server.accept_open(Value::Nil).unwrap() {
//!     client.receive(&stream).unwrap();
//! }
//!
//! // A pipeline: CREATE_PIPELINE goes in the Command's rsp:Arguments.
//! let pid = Guid::parse("58955C51-F72D-43D9-A2B8-DEEEA3B64869").unwrap();
//! let start = client
//!     .create_pipeline(pid, &CreatePipeline::new(vec![Command::script("'hi'")], HostInfo::null()))
//!     .unwrap();
//! server.receive(&start.arguments).unwrap();
//! let mut streams = server.pipeline_message(pid, MessageType::PIPELINE_OUTPUT, &Value::str("hi")).unwrap();
//! streams.extend(server.finish(pid, PipelineState::Completed, None).unwrap());
//! let events: Vec<ClientEvent> = streams.iter().flat_map(|s| client.receive(s).unwrap()).collect();
//! assert_eq!(events[0], ClientEvent::Output { pipeline: pid, value: Value::str("hi") });
//! assert!(matches!(events[1], ClientEvent::PipelineFinished { state: PipelineState::Completed, .. }));
//! ```
//!
//! **Invariants.** No sockets, no clock, no async runtime, no global state; randomness (keys,
//! ids) comes from an RNG the caller passes in. Every parser is bounded and returns an error
//! for hostile input instead of panicking or allocating without limit.
#![deny(missing_docs)]

pub mod clixml;
pub mod console;
pub mod crypto;
pub mod fragment;
pub mod host;
pub mod message;
pub mod messages;
pub mod pool;
pub mod records;
