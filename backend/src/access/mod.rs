//! Who may do what: credentials become an [`Identity`], and pure policy decides what that
//! identity may do with a target or a session.
//!
//! **Invariant:** this module knows nothing of axum or of sessions' internals: it takes
//! request headers (`http` types), the configuration and plain facts, and returns decisions.
//! Tokens are random 256-bit values of which only the SHA-256 is kept.

pub mod embed;
pub mod forwarded;
pub mod hasher;
pub mod identity;
pub mod limiter;
pub mod origin;
pub mod policy;
pub mod shared;
pub mod signins;
pub mod users;

pub use identity::{EmbedScope, Identity, Method};

use sha2::{Digest, Sha256};

/// A random token (64 hex digits).
pub fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// SHA-256 of a token: what is kept instead of the token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
