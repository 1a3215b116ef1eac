//! Operations: what watches the sessions from outside: Prometheus metrics, the audit log
//! and recordings. Each is a [`crate::session::Observer`] of the sessions it watches.

pub mod audit;
pub mod metrics;
pub mod recording;
