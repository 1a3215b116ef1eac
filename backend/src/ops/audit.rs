//! The audit log: one JSON object per line for every sign-in, session, join, share and
//! kick (and, when configured, every input line), plus the observer that feeds it from
//! each session.
//!
//! **Invariant:** no password or token is ever written here; input lines only with
//! `log_input = true`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::warn;
use winrelay_shared::protocol::SessionState;

use super::recording::Recorder;
use crate::config::AuditConfig;
use crate::session::{Client, Observer};

/// The audit log (a no-op without `[audit]`).
pub struct Audit {
    file: Option<Mutex<File>>,
    /// Whether input lines are logged.
    pub log_input: bool,
}

impl Audit {
    /// Opens (appends to) the configured file.
    pub fn open(config: Option<&AuditConfig>) -> anyhow::Result<Audit> {
        let Some(c) = config else {
            return Ok(Audit {
                file: None,
                log_input: false,
            });
        };
        if let Some(dir) = c.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&c.path)
            .map_err(|e| anyhow::anyhow!("cannot open the audit log {}: {e}", c.path.display()))?;
        Ok(Audit {
            file: Some(Mutex::new(file)),
            log_input: c.log_input,
        })
    }

    /// Whether anything is written.
    pub fn enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Writes one event: `{"ts": RFC 3339, "event": event, ...fields}`.
    pub fn log(&self, event: &str, fields: Value) {
        let Some(file) = &self.file else { return };
        let mut obj = Map::new();
        obj.insert(
            "ts".into(),
            humantime::format_rfc3339_millis(SystemTime::now())
                .to_string()
                .into(),
        );
        obj.insert("event".into(), event.into());
        if let Value::Object(f) = fields {
            obj.extend(f);
        }
        let mut value = Value::Object(obj);
        bound(&mut value);
        let mut line = value.to_string();
        line.push('\n');
        // One write per line on an O_APPEND file: lines never interleave.
        if let Err(e) = file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(line.as_bytes())
        {
            warn!(error = %e, "cannot write the audit log");
        }
    }
}

/// Longest string written into one field (a typed input line is at most 8191 bytes; names
/// are at most 256): a safety net, so no request can make one audit line huge (issue 17).
const MAX_FIELD: usize = 16 * 1024;

fn bound(v: &mut Value) {
    match v {
        Value::String(s) if s.len() > MAX_FIELD => {
            let mut end = MAX_FIELD;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s.push_str("...");
        }
        Value::Array(a) => a.iter_mut().for_each(bound),
        Value::Object(o) => o.values_mut().for_each(bound),
        _ => {}
    }
}

/// Watches one session: audit events for joins, leaves, input lines and the end, and the
/// recording.
pub struct SessionWatch {
    session: String,
    target: String,
    audit: Arc<Audit>,
    recorder: Option<Recorder>,
    names: Mutex<HashMap<u64, String>>,
}

impl SessionWatch {
    /// A watcher for `session`.
    pub fn new(
        session: &str,
        target: &str,
        audit: Arc<Audit>,
        recorder: Option<Recorder>,
    ) -> SessionWatch {
        SessionWatch {
            session: session.into(),
            target: target.into(),
            audit,
            recorder,
            names: Mutex::new(HashMap::new()),
        }
    }

    fn name(&self, client: u64) -> String {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&client)
            .cloned()
            .unwrap_or_default()
    }
}

impl Observer for SessionWatch {
    fn wants_output(&self) -> bool {
        self.recorder.is_some()
    }

    fn output(&self, bytes: &[u8]) {
        if let Some(r) = &self.recorder {
            r.output(bytes);
        }
    }

    fn input(&self, _client: u64, data: &str) {
        if let Some(r) = &self.recorder {
            r.input(data);
        }
    }

    fn line(&self, client: u64, line: &str) {
        if self.audit.log_input {
            self.audit.log(
                "input",
                serde_json::json!({"session": self.session, "target": self.target, "client": client,
                    "user": self.name(client), "line": line.trim_end_matches(['\r', '\n'])}),
            );
        }
    }

    fn resize(&self, cols: u16, rows: u16) {
        if let Some(r) = &self.recorder {
            r.resize(cols, rows);
        }
    }

    fn attached(&self, c: &Client) {
        let (client, name, role) = (c.presence.id, &c.presence.name, c.presence.role);
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(client, name.clone());
        self.audit.log(
            "joined",
            serde_json::json!({"session": self.session, "target": self.target, "client": client,
                "user": name, "role": role, "share": c.share}),
        );
    }

    fn detached(&self, c: &Client) {
        let client = c.presence.id;
        let name = self
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&client)
            .unwrap_or_default();
        self.audit.log(
            "left",
            serde_json::json!({"session": self.session, "target": self.target, "client": client, "user": name}),
        );
    }

    fn ended(&self, state: &SessionState) {
        self.audit.log(
            "ended",
            serde_json::json!({"session": self.session, "target": self.target, "state": state}),
        );
        if let Some(r) = &self.recorder {
            r.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_field_makes_a_line_huge() {
        let dir =
            std::env::temp_dir().join(format!("winrelay-audit-{}", crate::access::new_token()));
        let path = dir.join("audit.log");
        let audit = Audit::open(Some(&AuditConfig {
            path: path.clone(),
            log_input: false,
        }))
        .unwrap();
        audit.log(
            "x",
            serde_json::json!({"recording": "é".repeat(100_000), "list": ["y".repeat(100_000)]}),
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() < 3 * MAX_FIELD, "{} bytes", text.len());
        assert!(
            text.ends_with("...\"]}\n") || text.contains("...\""),
            "{}",
            &text[..80]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
