//! Test harness: the shared test kit (`tests/testkit`): the real `winrelay` binary on a
//! loopback port with its own state directory, a signed-in user, and a protocol client that
//! reads frames through `winrelay_shared::cursor`.

pub use winrelay_testkit::*;
