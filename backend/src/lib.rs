//! The winrelay relay: browser terminals for Windows containers over WinRM.
//!
//! `winrelay serve` turns WinRS shells into terminals that browsers attach to over
//! WebSockets. The modules, from the core outwards:
//!
//! * [`outlog`], [`screen`]: a session's output log and server-side screen (plain data);
//! * [`session`]: sessions and the driver task that owns each WinRS shell;
//! * [`config`], [`targets`]: what the relay may connect to, and how;
//! * [`auth`]: sign-in, share links, the Origin rule;
//! * [`ws`], [`api`], [`assets`], [`server`]: the HTTP and WebSocket layer.
pub mod api;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod config;
pub mod echo;
pub mod embed;
pub mod exec_cmd;
pub mod metrics;
pub mod outlog;
pub mod recording;
pub mod screen;
pub mod server;
pub mod session;
pub mod sim_cmd;
pub mod targets;
pub mod tls;
pub mod users;
pub mod ws;
