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
    /// Who this is for ownership and the owner's decisions: the user name, except that
    /// embed identities live in their own namespace (`embed:NAME`), so a portal's token
    /// naming a local user is not that user (issue 17, item 15).
    pub fn principal(&self) -> String {
        if self.method == Method::Embed {
            format!("embed:{}", self.user)
        } else {
            self.user.clone()
        }
    }

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

/// Longest user name (or group, or embed subject) the relay accepts, in bytes: every such
/// string is kept in memory, written to the audit log and into recordings.
pub const MAX_NAME: usize = 256;

/// Whether `s` is usable as a name: not empty, at most [`MAX_NAME`] bytes, no control
/// characters (a newline or an escape sequence would forge log lines or terminal output).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME && !s.chars().any(char::is_control)
}

/// `s` made fit for logs, the audit log and recordings: control characters become `?`,
/// and it is cut (at a character boundary) to at most `max` bytes, marked with `...`.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > max {
            out.push_str("...");
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_printable() {
        assert!(valid_name("alice"));
        assert!(!valid_name(""));
        assert!(!valid_name("a\nb"));
        assert!(!valid_name("a\u{1b}[2J"));
        assert!(!valid_name(&"x".repeat(MAX_NAME + 1)));
        assert_eq!(clip("a\nb\u{1b}c", 64), "a?b?c");
        assert_eq!(clip(&"é".repeat(10), 5), "éé...");
    }
}
