//! Who a request speaks for, once a credential was checked: the [`Identity`] every policy
//! decision starts from. Plain data: nothing here checks a credential.

use winrelay_shared::protocol::Role;

pub use winrelay_shared::api::Method;

/// What an embed token allows: one target or one session, with one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedScope {
    /// The target it may open (and whose sessions it may join).
    pub target: Option<String>,
    /// The one session it may join.
    pub session: Option<String>,
    /// The role it grants.
    pub role: Role,
}

/// A caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name.
    pub user: String,
    /// Groups (for `group:NAME` in target roles).
    pub groups: Vec<String>,
    /// How they proved it.
    pub method: Method,
    /// Set for embed tokens: all the caller may do.
    pub scope: Option<EmbedScope>,
}

impl Identity {
    /// A plain identity.
    pub fn new(user: impl Into<String>, groups: Vec<String>, method: Method) -> Identity {
        Identity {
            user: user.into(),
            groups,
            method,
            scope: None,
        }
    }
}
