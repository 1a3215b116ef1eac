//! Shared pieces of the bench binaries: statistics, the relay's process counters, and a
//! protocol client that acknowledges like the browser does (after each frame is "rendered").

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use winrelay_shared::protocol::{ClientMsg, FrameKind, OutputFrame};

/// Percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50/p99/min/max of durations, in microseconds.
pub fn stats_us(samples: &[Duration]) -> serde_json::Value {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(|a, b| a.total_cmp(b));
    serde_json::json!({
        "runs": us.len(),
        "p50_us": round1(percentile(&us, 50.0)),
        "p99_us": round1(percentile(&us, 99.0)),
        "min_us": round1(us.first().copied().unwrap_or(f64::NAN)),
        "max_us": round1(us.last().copied().unwrap_or(f64::NAN)),
    })
}

/// Rounds to one decimal.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Rounds to three decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Resident memory of a process in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("VmRSS:") {
            return Ok(v.trim().trim_end_matches("kB").trim().parse()?);
        }
    }
    bail!("no VmRSS in /proc/{pid}/status")
}

/// CPU time (user + system) a process used so far, in seconds.
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start at the state.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux the project runs on; getconf confirms it.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A signed-in user of a running relay.
#[derive(Clone)]
pub struct User {
    http: reqwest::Client,
    cookie: String,
    base: String,
}

impl User {
    /// Signs in with the relay's one-time link (`open: ...` line).
    pub async fn sign_in(login: &str) -> anyhow::Result<User> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let resp = http.get(login).send().await?;
        let cookie = resp
            .headers()
            .get("set-cookie")
            .context("the login link set no cookie")?
            .to_str()?
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        let url = reqwest::Url::parse(login)?;
        let base = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(80)
        );
        Ok(User { http, cookie, base })
    }

    /// A user signed in already (the login link is one-time: other programs share the cookie).
    pub fn with_cookie(base: &str, cookie: &str) -> anyhow::Result<User> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(User {
            http,
            cookie: cookie.to_string(),
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The cookie header value.
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// Creates a session on `target`; returns its id.
    pub async fn create_session(&self, target: &str) -> anyhow::Result<String> {
        let resp = self
            .http
            .post(format!("{}/api/sessions", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/json")
            // The relay's CSRF rule: writes carry an Origin or this header.
            .header("x-winrelay", "1")
            .body(serde_json::json!({"target": target, "cols": 100, "rows": 30}).to_string())
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("create session: {status}: {text}");
        }
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(v["id"].as_str().context("session without id")?.to_string())
    }

    /// Ends a session.
    pub async fn end_session(&self, id: &str) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/api/sessions/{id}", self.base))
            .header("cookie", &self.cookie)
            .header("x-winrelay", "1")
            .send()
            .await?;
        Ok(())
    }

    /// Attaches a terminal client to a session.
    pub async fn attach(&self, id: &str) -> anyhow::Result<Term> {
        let ws_base = self.base.replacen("http://", "ws://", 1);
        let mut req = format!("{ws_base}/api/sessions/{id}/ws").into_client_request()?;
        req.headers_mut().insert("cookie", self.cookie.parse()?);
        // TCP_NODELAY, as browsers set it: with Nagle's algorithm an ack followed by a
        // keystroke waits for the peer's delayed ACK (about 40 ms).
        let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
        let mut t = Term {
            ws,
            pos: 0,
            tail: Vec::new(),
            output_bytes: 0,
            snapshots: 0,
        };
        t.send(&ClientMsg::Hello {
            resume_from: None,
            cols: 100,
            rows: 30,
            name: None,
        })
        .await?;
        Ok(t)
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One attached terminal: acknowledges every output frame once it has "rendered" it (here:
/// counted it and searched it for a marker), as xterm.js's write callback does.
pub struct Term {
    ws: Ws,
    pos: u64,
    tail: Vec<u8>,
    /// Output bytes received (snapshots not included).
    pub output_bytes: u64,
    /// Snapshots received (the client fell out of the log, or joined late).
    pub snapshots: u64,
}

/// What one read brought.
pub enum Got {
    /// An output or snapshot frame of this many bytes.
    Frame(usize),
    /// A text message, or a control frame.
    Other,
}

impl Term {
    /// Sends a client message.
    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.ws.send(Message::Text(msg.to_json().into())).await?;
        Ok(())
    }

    /// Sends keystrokes.
    pub async fn input(&mut self, data: &str) -> anyhow::Result<()> {
        self.send(&ClientMsg::Input { data: data.into() }).await
    }

    /// Reads one message; output frames are acknowledged right away.
    pub async fn read(&mut self) -> anyhow::Result<Got> {
        let msg = self.ws.next().await.context("socket closed")??;
        match msg {
            Message::Binary(b) => {
                let f = OutputFrame::decode(&b).context("bad frame")?;
                let n = f.data.len();
                match f.kind {
                    FrameKind::Output => {
                        self.output_bytes += n as u64;
                        self.pos = f.offset + n as u64;
                    }
                    FrameKind::Snapshot => {
                        self.snapshots += 1;
                        self.pos = f.offset;
                    }
                }
                self.tail.extend_from_slice(f.data);
                if self.tail.len() > 256 {
                    self.tail.drain(..self.tail.len() - 256);
                }
                let pos = self.pos;
                self.send(&ClientMsg::Ack { offset: pos }).await?;
                Ok(Got::Frame(n))
            }
            Message::Close(_) => bail!("the relay closed the socket"),
            _ => Ok(Got::Other),
        }
    }

    /// Forgets what was seen so far (for marker searches).
    pub fn clear_tail(&mut self) {
        self.tail.clear();
    }

    /// Whether the recent output contains `needle`.
    pub fn tail_has(&self, needle: &[u8]) -> bool {
        self.tail.windows(needle.len()).any(|w| w == needle)
    }

    /// Whether the recent output ends with a prompt (`...>` and optional spaces).
    pub fn tail_ends_prompt(&self) -> bool {
        let t = self.tail.trim_ascii_end();
        t.ends_with(b">")
    }

    /// Whether a prompt character (`>`) follows `marker` in the recent output (a snapshot
    /// may end with cursor movements after the prompt).
    pub fn prompt_after(&self, marker: &[u8]) -> bool {
        match self.tail.windows(marker.len()).rposition(|w| w == marker) {
            Some(i) => self.tail[i + marker.len()..].contains(&b'>'),
            None => false,
        }
    }

    /// Reads until the recent output contains `needle`; adds the output bytes to `counter`.
    pub async fn read_until(
        &mut self,
        needle: &[u8],
        counter: Option<&AtomicU64>,
    ) -> anyhow::Result<()> {
        while !self.tail_has(needle) {
            if let Got::Frame(n) = self.read().await? {
                if let Some(c) = counter {
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Reads until the next output frame arrives.
    pub async fn read_frame(&mut self) -> anyhow::Result<usize> {
        loop {
            if let Got::Frame(n) = self.read().await? {
                return Ok(n);
            }
        }
    }

    /// Reads whatever arrives within `d`.
    pub async fn drain(&mut self, d: Duration) -> anyhow::Result<()> {
        let end = tokio::time::Instant::now() + d;
        while let Ok(r) = tokio::time::timeout_at(end, self.read()).await {
            r?;
        }
        Ok(())
    }
}
