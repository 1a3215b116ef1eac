//! Types both the relay and the browser app use.
