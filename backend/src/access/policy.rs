//! Who gets which role on a session: pure decisions over plain facts.

use winrelay_shared::protocol::Role;

use super::signins::Share;
use super::Identity;

/// What policy needs to know of a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its target's name.
    pub target: &'a str,
    /// Who started it ([`Identity::principal`]).
    pub owner: &'a str,
    /// Opened with its owner's own credentials (`ask_credentials`): typing in it acts as
    /// that person, so others are viewers at most unless a share link says otherwise.
    pub personal: bool,
}

/// A caller's access to one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The name others see.
    pub name: String,
    /// The signed-in person (`None` for an anonymous share-link guest): what an owner's
    /// kick or demotion sticks to.
    pub user: Option<String>,
    /// The role.
    pub role: Role,
    /// The share link that grants the role, when that is where it comes from (revoking the
    /// link removes the client).
    pub via_share: Option<String>,
    /// When that share link expires: the client is removed then (issue 17, item 17).
    pub expires: Option<std::time::Instant>,
}

/// The role `who` has on a session without any share link: the session's owner is its
/// owner; others have their role on the session's target (`on_target`), so colleagues find
/// and join sessions of targets they may use; an embed token scoped to one session has its
/// role there and nowhere else.
pub fn session_role(
    who: Option<&Identity>,
    session: SessionFacts<'_>,
    on_target: impl FnOnce(&Identity) -> Option<Role>,
) -> Option<Role> {
    let who = who?;
    if let Some(scope) = &who.scope {
        if let Some(sid) = &scope.session {
            return (sid == session.id).then_some(scope.role);
        }
    }
    let on_target = on_target(who)?;
    if session.owner == who.principal() && on_target >= Role::Writer {
        Some(Role::Owner)
    } else if session.personal {
        // Issue 17, item 8: not as that person, unless they share explicitly.
        Some(on_target.min(Role::Viewer))
    } else {
        Some(on_target)
    }
}

/// The caller's access: the better of their own role and a valid share link's for this
/// session, lowered to `requested` when they ask for less (an owner watching read-only).
pub fn grant(
    who: Option<&Identity>,
    own: Option<Role>,
    share: Option<&Share>,
    session: &str,
    requested: Option<Role>,
) -> Option<Grant> {
    let shared = share.filter(|s| s.session == session);
    let (granted, via_share, expires) = match (own, shared) {
        (Some(r), Some(s)) if s.role > r => (s.role, Some(s.id.clone()), Some(s.expires)),
        (Some(r), _) => (r, None, None),
        (None, Some(s)) => (s.role, Some(s.id.clone()), Some(s.expires)),
        (None, None) => return None,
    };
    let role = match requested {
        Some(r) if r < granted => r,
        _ => granted,
    };
    let name = who
        .map(|w| w.user.clone())
        .unwrap_or_else(|| "guest".into());
    Some(Grant {
        name,
        user: who.map(Identity::principal),
        role,
        via_share,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::access::{EmbedScope, Method};

    fn facts() -> SessionFacts<'static> {
        SessionFacts {
            id: "s1",
            target: "web",
            owner: "alice",
            personal: false,
        }
    }

    fn share(session: &str, role: Role) -> Share {
        Share {
            id: "sh".into(),
            session: session.into(),
            role,
            expires: Instant::now() + Duration::from_secs(60),
        }
    }

    #[test]
    fn owners_writers_viewers_and_strangers() {
        let alice = Identity::new("alice", vec![], Method::Password);
        let bob = Identity::new("bob", vec![], Method::Password);
        let writer = |_: &Identity| Some(Role::Writer);
        let viewer = |_: &Identity| Some(Role::Viewer);
        let nobody = |_: &Identity| None;
        assert_eq!(
            session_role(Some(&alice), facts(), writer),
            Some(Role::Owner)
        );
        // The owner who lost write access on the target is not an owner any more.
        assert_eq!(
            session_role(Some(&alice), facts(), viewer),
            Some(Role::Viewer)
        );
        assert_eq!(
            session_role(Some(&bob), facts(), writer),
            Some(Role::Writer)
        );
        assert_eq!(session_role(Some(&bob), facts(), nobody), None);
        assert_eq!(session_role(None, facts(), writer), None);
    }

    #[test]
    fn an_embed_token_for_one_session_opens_only_that_one() {
        let mut e = Identity::new("portal-user", vec![], Method::Embed);
        e.scope = Some(EmbedScope {
            target: None,
            session: Some("s1".into()),
            role: Role::Viewer,
        });
        assert_eq!(
            session_role(Some(&e), facts(), |_| Some(Role::Owner)),
            Some(Role::Viewer)
        );
        let other = SessionFacts {
            id: "s2",
            ..facts()
        };
        assert_eq!(session_role(Some(&e), other, |_| Some(Role::Owner)), None);
    }

    #[test]
    fn share_links_raise_never_lower_and_only_for_their_session() {
        let bob = Identity::new("bob", vec![], Method::Password);
        let w = share("s1", Role::Writer);
        let g = grant(Some(&bob), Some(Role::Viewer), Some(&w), "s1", None).unwrap();
        assert_eq!((g.role, g.via_share.as_deref()), (Role::Writer, Some("sh")));
        let g = grant(Some(&bob), Some(Role::Owner), Some(&w), "s1", None).unwrap();
        assert_eq!((g.role, g.via_share), (Role::Owner, None));
        assert_eq!(grant(None, None, Some(&w), "s2", None), None);
        let guest = grant(None, None, Some(&w), "s1", None).unwrap();
        assert_eq!(guest.name, "guest");
        // Asking for less is allowed; asking for more is not.
        let g = grant(
            Some(&bob),
            Some(Role::Owner),
            None,
            "s1",
            Some(Role::Viewer),
        )
        .unwrap();
        assert_eq!(g.role, Role::Viewer);
        let g = grant(
            Some(&bob),
            Some(Role::Viewer),
            None,
            "s1",
            Some(Role::Owner),
        )
        .unwrap();
        assert_eq!(g.role, Role::Viewer);
    }

    /// Issue 17, item 8: a shell opened with someone's own credentials is theirs to type
    /// in; colleagues with write access to the target only watch, unless shared with.
    #[test]
    fn others_only_watch_a_shell_opened_with_someones_own_credentials() {
        let bob = Identity::new("bob", vec![], Method::Password);
        let alice = Identity::new("alice", vec![], Method::Password);
        let personal = SessionFacts {
            personal: true,
            ..facts()
        };
        assert_eq!(
            session_role(Some(&bob), personal, |_| Some(Role::Owner)),
            Some(Role::Viewer)
        );
        assert_eq!(
            session_role(Some(&alice), personal, |_| Some(Role::Writer)),
            Some(Role::Owner)
        );
        let own = session_role(Some(&bob), personal, |_| Some(Role::Writer));
        let w = share("s1", Role::Writer);
        let g = grant(Some(&bob), own, Some(&w), "s1", None).unwrap();
        assert_eq!(
            g.role,
            Role::Writer,
            "an explicit share link still lets bob type"
        );
    }

    /// Issue 17, item 15: an embed token naming a local user is not that user.
    #[test]
    fn embed_identities_have_their_own_namespace() {
        let mut e = Identity::new("alice", vec![], Method::Embed);
        e.scope = Some(EmbedScope {
            target: Some("web".into()),
            session: None,
            role: Role::Writer,
        });
        assert_eq!(
            session_role(Some(&e), facts(), |_| Some(Role::Writer)),
            Some(Role::Writer),
            "not the owner of alice's session"
        );
        let theirs = SessionFacts {
            owner: "embed:alice",
            ..facts()
        };
        assert_eq!(
            session_role(Some(&e), theirs, |_| Some(Role::Writer)),
            Some(Role::Owner),
            "the owner of its own"
        );
    }
}
