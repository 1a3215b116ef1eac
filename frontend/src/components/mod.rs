//! The app's components, one file per part of the page. Shared state reaches them through
//! context (`Nav`, `Account`, `Term`, `Look`), never through globals.

pub mod embed_host;
pub mod fleet;
pub mod key_bar;
pub mod opener;
pub mod overlays;
pub mod picker;
pub mod recordings;
pub mod search;
pub mod session_view;
pub mod settings;
pub mod sharing;
pub mod sign_in;
pub mod terminal;
pub mod top_bar;
pub mod when;
