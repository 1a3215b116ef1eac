//! The winrelay relay: browser terminals for Windows containers over WinRM.
pub mod outlog;
pub mod screen;
pub mod config;
