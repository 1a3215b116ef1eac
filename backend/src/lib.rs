//! The winrelay relay: browser terminals for Windows containers over WinRM.
//!
//! `winrelay serve` turns remote shells into terminals that browsers attach to over
//! WebSockets. The modules, from the core outwards (each depends only on those above it):
//!
//! * [`config`]: the configuration file and the domain types it yields;
//! * [`access`]: identities and pure access policy (knows nothing of axum or sessions);
//! * [`discovery`]: targets found where the containers run (Docker today), behind a seam;
//! * [`session`]: the sans-IO session core, the driver generic over a remote shell, the
//!   registry (knows nothing of HTTP, WinRM or clocks in its core);
//! * [`targets`]: which targets exist and how to open a WinRS shell on one;
//! * [`ops`]: metrics, audit log, recordings: observers of sessions;
//! * [`cluster`]: several relays sharing sessions through Redis (with `[cluster]`);
//! * [`http`]: the router, one file per resource, and the WebSocket loop;
//! * [`commands`]: the subcommands.
pub mod access;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod discovery;
pub mod http;
pub mod ops;
pub mod session;
pub mod targets;
