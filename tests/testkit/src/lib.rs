//! The test client of winrelay, shared by the integration tests (`tests/relay`), the soak
//! test (`tests/soak`) and the bench (`bench/`): one copy of the client's side of the
//! protocol, so the three can never drift from each other or from the page.
//!
//! * [`Relay`]: the real `winrelay serve` binary on a loopback port, started through a
//!   [`RelayBuilder`] (arguments, environment, log level), always with a state directory of
//!   its own under the temporary directory, so a test never writes sign-ins into the
//!   developer's `~/.local/state/winrelay`. [`Sim`]: the real `winrelay sim`.
//! * [`User`]: signed in with the relay's one-time login link; the HTTP API with its cookie.
//! * [`Client`]: one WebSocket attached to a session (tokio-tungstenite). Frames go through
//!   [`winrelay_shared::cursor::Cursor`], which the page uses too: output must continue
//!   exactly, snapshots reset the screen, acks follow the cursor, a reconnect resumes where
//!   the cursor is.
//!
//! Helpers come in two kinds: the short names (`pump`, `wait_for`, `input`, ...) panic with
//! a message that says what was expected, for tests; the `try_` names return errors, for the
//! soak test and the bench, which count failures rather than stop at the first.
//!
//! **Architecture invariant:** the kit depends on the relay only through its binary and its
//! protocol (`winrelay-shared`), never on the relay's crate.
#![deny(missing_docs)]

mod client;
mod redis;
mod relay;
mod user;

pub use client::{Attach, Client, Read};
pub use redis::{free_port, Gate, Redis};
pub use relay::{bin, config_file, kill, temp_path, Relay, RelayBuilder, Sim};
pub use user::User;

/// How long the panicking helpers wait by default: long enough for a loaded machine.
pub const T: std::time::Duration = std::time::Duration::from_secs(20);
