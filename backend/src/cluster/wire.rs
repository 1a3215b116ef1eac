//! What relays of a cluster tell each other through Redis, as plain data: messages to a
//! session's owner (its inbox), the owner's events for followers, and the session record.
//! No I/O.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use winrelay_shared::protocol::{Presence, Role, SessionState, Signal};

/// A message for the session's owner from a relay serving one of its clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ToOwner {
    /// A client attached (its id chosen by its relay, above `core::REMOTE_CLIENTS`).
    Join {
        client: u64,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
        /// The relay the client is attached to (its clients leave when it dies).
        #[serde(default)]
        node: String,
    },
    /// The client left.
    Leave { client: u64 },
    /// Keystrokes.
    Input { client: u64, data: String },
    /// A signal button.
    Signal { client: u64, signal: Signal },
    /// The client's terminal size.
    Resize { client: u64, cols: u16, rows: u16 },
    /// The next line is a secret.
    Hide { client: u64 },
    /// The owner (checked by the relay that asked) removes a client.
    Kick { client: u64 },
    /// The owner changes a client's role.
    SetRole { client: u64, role: Role },
    /// The owner ends the session.
    End,
    /// A share link was revoked: the clients that came through it leave.
    KickShare { share: String },
}

/// An event of the session's owner for every relay serving its clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum FromOwner {
    /// A new owner took the session (adoption or hand-over): followers join their clients
    /// again.
    Owner { node: String, fence: u64 },
    /// The shell's state.
    State { state: SessionState },
    /// Who is attached, across relays.
    Presence { clients: Vec<Presence> },
    /// Hidden input on or off.
    InputMode { hidden: bool, why: Option<String> },
    /// Close a client's socket (or every one).
    Kick {
        client: Option<u64>,
        reason: String,
        reconnect: bool,
    },
}

impl ToOwner {
    /// As stored.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serialises")
    }
    /// From storage.
    pub fn decode(b: &[u8]) -> Result<ToOwner, serde_json::Error> {
        serde_json::from_slice(b)
    }
}

impl FromOwner {
    /// As stored.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serialises")
    }
    /// From storage.
    pub fn decode(b: &[u8]) -> Result<FromOwner, serde_json::Error> {
        serde_json::from_slice(b)
    }
}

/// A client attached to another relay, as the owner keeps it in the record so that a
/// relay adopting the session knows it without waiting for it to join again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteClient {
    pub id: u64,
    /// As joined (a guest's base name).
    pub name: String,
    pub user: Option<String>,
    pub role: Role,
    pub share: Option<String>,
    pub node: String,
}

/// The session's record: what every relay needs to list it, check access to it, and adopt
/// it. No secret is ever in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub target: String,
    /// The user who started it (as shown).
    pub owner: String,
    /// Who owns it, for decisions.
    pub owner_id: String,
    /// Opened with the owner's own credentials (then it cannot be adopted: they were
    /// typed on the relay that died and are never stored).
    pub personal: bool,
    pub created_at: u64,
    /// The node that owns it now.
    pub node: String,
    pub state: SessionState,
    pub clients: Vec<Presence>,
    pub input_mode: (bool, Option<String>),
    pub last_command: Option<String>,
    /// Where another relay continues the shell (a checkpoint), when it can.
    pub resume: Option<String>,
    pub size: (u16, u16),
    /// The session ended.
    pub ended: bool,
    /// Clients attached to other relays than the owner.
    pub remote: Vec<RemoteClient>,
    /// The owner's removals and demotions.
    pub decisions: crate::session::core::Decisions,
}

impl Record {
    /// The fields as stored in Redis (a hash).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("target", self.target.clone()),
            ("owner", self.owner.clone()),
            ("owner_id", self.owner_id.clone()),
            ("personal", if self.personal { "1" } else { "0" }.into()),
            ("created_at", self.created_at.to_string()),
            ("node", self.node.clone()),
            ("size", format!("{}x{}", self.size.0, self.size.1)),
        ];
        f.extend(Record::state_fields(&self.state));
        f.extend(Record::presence_fields(&self.clients));
        f.extend(Record::input_mode_fields(
            self.input_mode.0,
            self.input_mode.1.as_deref(),
        ));
        if let Some(l) = &self.last_command {
            f.push(("last_command", l.clone()));
        }
        if let Some(r) = &self.resume {
            f.push(("resume", r.clone()));
        }
        f.extend(Record::remote_fields(&self.remote, &self.decisions));
        f
    }

    /// The remote clients' and decisions' fields.
    pub fn remote_fields(
        remote: &[RemoteClient],
        decisions: &crate::session::core::Decisions,
    ) -> Vec<(&'static str, String)> {
        vec![
            (
                "remote",
                serde_json::to_string(remote).expect("plain data serialises"),
            ),
            (
                "decisions",
                serde_json::to_string(decisions).expect("plain data serialises"),
            ),
        ]
    }

    /// The state field.
    pub fn state_fields(state: &SessionState) -> Vec<(&'static str, String)> {
        vec![(
            "state",
            serde_json::to_string(state).expect("plain data serialises"),
        )]
    }

    /// The presence field.
    pub fn presence_fields(clients: &[Presence]) -> Vec<(&'static str, String)> {
        vec![(
            "clients",
            serde_json::to_string(clients).expect("plain data serialises"),
        )]
    }

    /// The input-mode field.
    pub fn input_mode_fields(hidden: bool, why: Option<&str>) -> Vec<(&'static str, String)> {
        vec![(
            "input_mode",
            serde_json::to_string(&(hidden, why)).expect("plain data serialises"),
        )]
    }

    /// A record read back; `None` when a field every record has is missing (unknown or
    /// expired session, or not one this code wrote).
    pub fn parse(h: &HashMap<String, String>) -> Option<Record> {
        let get = |k: &str| h.get(k).cloned();
        let size = get("size").and_then(|s| {
            let (c, r) = s.split_once('x')?;
            Some((c.parse().ok()?, r.parse().ok()?))
        });
        Some(Record {
            target: get("target")?,
            owner: get("owner")?,
            owner_id: get("owner_id")?,
            personal: get("personal")? == "1",
            created_at: get("created_at")?.parse().ok()?,
            node: get("node")?,
            state: serde_json::from_str(&get("state")?).ok()?,
            clients: get("clients")
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default(),
            input_mode: get("input_mode")
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or((false, None)),
            last_command: get("last_command"),
            resume: get("resume"),
            size: size.unwrap_or((80, 24)),
            ended: get("ended").is_some_and(|e| e == "1"),
            remote: get("remote")
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default(),
            decisions: get("decisions")
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = ToOwner::Join {
            client: (1 << 40) + 7,
            name: "ann".into(),
            user: Some("ann".into()),
            role: Role::Writer,
            share: None,
            node: "b".into(),
        };
        assert_eq!(ToOwner::decode(&m.encode()).unwrap(), m);
        let e = FromOwner::Kick {
            client: Some(3),
            reason: "removed".into(),
            reconnect: false,
        };
        assert_eq!(FromOwner::decode(&e.encode()).unwrap(), e);
        assert!(ToOwner::decode(b"{\"t\":\"input\"}").is_err());
        assert!(ToOwner::decode(b"not json").is_err());
    }

    #[test]
    fn a_record_round_trips_through_its_fields() {
        let r = Record {
            target: "web".into(),
            owner: "ann".into(),
            owner_id: "ann".into(),
            personal: false,
            created_at: 1_700_000_000,
            node: "a".into(),
            state: SessionState::Connected,
            clients: vec![Presence {
                id: 1,
                name: "ann".into(),
                role: Role::Owner,
            }],
            input_mode: (true, Some("manual".into())),
            last_command: Some("dir".into()),
            resume: Some("{\"shell\":\"S\"}".into()),
            size: (120, 40),
            ended: false,
            remote: vec![RemoteClient {
                id: (1 << 40) + 3,
                name: "guest".into(),
                user: None,
                role: Role::Viewer,
                share: Some("sh1".into()),
                node: "c".into(),
            }],
            decisions: crate::session::core::Decisions {
                removed_users: vec!["mallory".into()],
                ..Default::default()
            },
        };
        let h: HashMap<String, String> = r
            .fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(Record::parse(&h).unwrap(), r);
        let mut partial = h.clone();
        partial.remove("target");
        assert_eq!(Record::parse(&partial), None);
    }
}
