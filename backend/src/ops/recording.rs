//! Session recordings in asciicast v2: a header line, then `[seconds, "o"|"i"|"r", data]`
//! events for output, input and resizes; listed, downloaded, and deleted by age and size.
//!
//! **Invariant:** the `"o"` events of a recording, concatenated, are the session's output
//! bytes exactly (for UTF-8 output; asciicast stores text, so a byte that is not UTF-8 is
//! written as U+FFFD). A UTF-8 sequence split between two pieces of output is held back
//! until it is complete.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use crate::config::RecordingsConfig;

/// The recordings directory and its limits.
pub struct Recordings {
    dir: PathBuf,
    max_age: Duration,
    max_bytes: u64,
    active: Mutex<HashSet<String>>,
}

pub use winrelay_shared::api::RecordingInfo;

/// Whether `id` can name a recording (hex only: no path can sneak in).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Recordings {
    /// From the configuration; creates the directory.
    pub fn from_config(c: &RecordingsConfig) -> anyhow::Result<Arc<Recordings>> {
        std::fs::create_dir_all(&c.dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the recordings directory {}: {e}",
                c.dir.display()
            )
        })?;
        Ok(Arc::new(Recordings {
            dir: c.dir.clone(),
            max_age: c.max_age,
            max_bytes: c.max_bytes,
            active: Mutex::new(HashSet::new()),
        }))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.cast"))
    }

    /// Starts recording session `id`.
    pub fn start(
        self: &Arc<Self>,
        id: &str,
        target: &str,
        owner: &str,
        cols: u16,
        rows: u16,
    ) -> std::io::Result<Recorder> {
        let mut file = File::create(self.path(id))?;
        let header = serde_json::json!({
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "title": format!("{target} ({owner})"),
            "winrelay": {"session": id, "target": target, "owner": owner},
        });
        writeln!(file, "{header}")?;
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string());
        Ok(Recorder {
            id: id.into(),
            dir: self.clone(),
            state: Mutex::new(State {
                file: Some(file),
                start: Instant::now(),
                pending: Vec::new(),
            }),
        })
    }

    /// Every recording, newest first.
    pub fn list(&self) -> Vec<RecordingInfo> {
        let active = self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".cast"))
                .filter(|id| valid_id(id))
            else {
                continue;
            };
            if let Some(info) = read_info(&path, id, active.contains(id)) {
                out.push(info);
            }
        }
        out.sort_by(|a, b| b.started.cmp(&a.started).then(a.id.cmp(&b.id)));
        out
    }

    /// One recording's details.
    pub fn get(&self, id: &str) -> Option<(RecordingInfo, PathBuf)> {
        if !valid_id(id) {
            return None;
        }
        let path = self.path(id);
        let live = self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id);
        read_info(&path, id, live).map(|i| (i, path))
    }

    /// Deletes recordings older than `max_age`, then the oldest while the total exceeds
    /// `max_bytes`. Recordings still being written are kept.
    pub fn enforce_retention(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut all = self.list();
        all.sort_by_key(|r| r.started);
        let mut total: u64 = all.iter().map(|r| r.bytes).sum();
        for r in &all {
            if r.live {
                continue;
            }
            let too_old = now.saturating_sub(r.started) > self.max_age.as_secs();
            if too_old || total > self.max_bytes {
                match std::fs::remove_file(self.path(&r.id)) {
                    Ok(()) => {
                        info!(recording = %r.id, too_old, "recording deleted by retention");
                        total = total.saturating_sub(r.bytes);
                    }
                    Err(e) => warn!(recording = %r.id, error = %e, "cannot delete a recording"),
                }
            }
        }
    }
}

fn read_info(path: &Path, id: &str, live: bool) -> Option<RecordingInfo> {
    let file = File::open(path).ok()?;
    let bytes = file.metadata().ok()?.len();
    let mut first = String::new();
    BufReader::new(std::io::Read::take(file, 64 * 1024))
        .read_line(&mut first)
        .ok()?;
    let h: serde_json::Value = serde_json::from_str(&first).ok()?;
    Some(RecordingInfo {
        id: id.into(),
        target: h["winrelay"]["target"].as_str()?.into(),
        owner: h["winrelay"]["owner"].as_str()?.into(),
        started: h["timestamp"].as_u64()?,
        bytes,
        live,
    })
}

struct State {
    file: Option<File>,
    start: Instant,
    /// The start of a UTF-8 sequence whose end has not arrived yet.
    pending: Vec<u8>,
}

/// Writes one session's recording (each event is one write, so a download of a live
/// recording sees whole lines).
pub struct Recorder {
    id: String,
    dir: Arc<Recordings>,
    state: Mutex<State>,
}

impl Recorder {
    fn event(state: &mut State, kind: &str, data: &str) {
        let t = state.start.elapsed().as_secs_f64();
        let Some(file) = &mut state.file else { return };
        let mut line = serde_json::json!([(t * 1e6).round() / 1e6, kind, data]).to_string();
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()) {
            warn!(error = %e, "cannot write the recording: it stops here");
            state.file = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Terminal output.
    pub fn output(&self, bytes: &[u8]) {
        let mut st = self.lock();
        let mut buf = std::mem::take(&mut st.pending);
        buf.extend_from_slice(bytes);
        let mut text = String::new();
        let mut rest: &[u8] = &buf;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        // Incomplete at the end: wait for the rest.
                        None => {
                            rest = bad;
                            break;
                        }
                        Some(n) => {
                            text.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
        st.pending = rest.to_vec();
        if !text.is_empty() {
            Recorder::event(&mut st, "o", &text);
        }
    }

    /// Keystrokes.
    pub fn input(&self, data: &str) {
        Recorder::event(&mut self.lock(), "i", data);
    }

    /// A new terminal size.
    pub fn resize(&self, cols: u16, rows: u16) {
        Recorder::event(&mut self.lock(), "r", &format!("{cols}x{rows}"));
    }

    /// The session ended: flushes what is pending and closes the file.
    pub fn finish(&self) {
        let mut st = self.lock();
        if !st.pending.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut st.pending)).into_owned();
            Recorder::event(&mut st, "o", &text);
        }
        st.file = None;
        drop(st);
        self.dir
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.dir
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "winrelay-rec-unit-{}-{}",
            std::process::id(),
            &crate::access::new_token()[..8]
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn events(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn output_is_kept_exactly_even_when_split_inside_a_character() {
        let recs = Recordings::from_config(&RecordingsConfig {
            dir: dir(),
            max_age: Duration::from_secs(3600),
            max_bytes: 1 << 30,
        })
        .unwrap();
        let r = recs.start("abc123", "t", "ann", 80, 24).unwrap();
        let text = "héllo → wörld \x1b[1mbold\x1b[0m\r\n";
        let bytes = text.as_bytes();
        for chunk in bytes.chunks(3) {
            r.output(chunk);
        }
        r.input("ls\r");
        r.resize(100, 30);
        r.finish();
        let (info, path) = recs.get("abc123").unwrap();
        assert_eq!(
            (info.target.as_str(), info.owner.as_str(), info.live),
            ("t", "ann", false)
        );
        let ev = events(&path);
        let out: String = ev
            .iter()
            .filter(|e| e[1] == "o")
            .map(|e| e[2].as_str().unwrap())
            .collect();
        assert_eq!(out, text);
        assert!(ev.iter().any(|e| e[1] == "i" && e[2] == "ls\r"));
        assert!(ev.iter().any(|e| e[1] == "r" && e[2] == "100x30"));
        let header: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (header["version"].as_u64(), header["width"].as_u64()),
            (Some(2), Some(80))
        );
        assert!(recs.get("../etc").is_none());
    }

    #[test]
    fn retention_deletes_by_size_oldest_first_and_keeps_live_ones() {
        let d = dir();
        let recs = Recordings::from_config(&RecordingsConfig {
            dir: d.clone(),
            max_age: Duration::from_secs(3600),
            max_bytes: 450,
        })
        .unwrap();
        // Two finished recordings with given start times, 200 bytes each.
        for (id, started) in [("aa", 1000u64), ("bb", 2000)] {
            let header = serde_json::json!({"version":2,"width":80,"height":24,"timestamp": SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 100 + started / 1000,
                "winrelay": {"session": id, "target": "t", "owner": "o"}});
            let mut body = format!("{header}\n");
            while body.len() < 200 {
                body.push_str("[0.1, \"o\", \"x\"]\n");
            }
            std::fs::write(d.join(format!("{id}.cast")), body).unwrap();
        }
        let live = recs.start("cc", "t", "o", 80, 24).unwrap();
        recs.enforce_retention();
        let left: Vec<String> = recs.list().into_iter().map(|r| r.id).collect();
        assert!(left.contains(&"cc".to_string()), "a live recording stays");
        assert!(
            left.contains(&"bb".to_string()) && !left.contains(&"aa".to_string()),
            "{left:?}"
        );
        drop(live);
        // Too old: deleted whatever the size.
        let recs = Recordings::from_config(&RecordingsConfig {
            dir: d,
            max_age: Duration::from_secs(10),
            max_bytes: 1 << 30,
        })
        .unwrap();
        recs.enforce_retention();
        let left: Vec<String> = recs.list().into_iter().map(|r| r.id).collect();
        assert!(!left.contains(&"bb".to_string()), "{left:?}");
    }
}
