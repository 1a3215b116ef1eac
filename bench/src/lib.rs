//! Shared pieces of the bench binaries: statistics, the relay's process counters, and a
//! terminal client that acknowledges like the browser does (after each frame is "rendered"):
//! the test kit's client (`winrelay-testkit`), reading through the shared cursor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use winrelay_shared::protocol::ClientMsg;
use winrelay_testkit::{Client, Read};

pub use winrelay_testkit::User;

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

/// What the bench keeps of the screen: enough to find markers and the prompt.
const TAIL: usize = 256;

/// One attached terminal: acknowledges every output frame once it has "rendered" it (here:
/// counted it and searched it for a marker), as xterm.js's write callback does.
pub struct Term {
    client: Client,
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
    /// Attaches a terminal client to a session.
    pub async fn attach(user: &User, id: &str) -> anyhow::Result<Term> {
        let mut client = Client::attach(user.attach_to(id)).await?;
        client.screen_limit = Some(TAIL);
        Ok(Term {
            client,
            output_bytes: 0,
            snapshots: 0,
        })
    }

    /// Sends a client message.
    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.client.try_send(msg).await
    }

    /// Sends keystrokes.
    pub async fn input(&mut self, data: &str) -> anyhow::Result<()> {
        self.client.try_input(data).await
    }

    /// Reads one message; output frames are acknowledged right away (the client renders
    /// synchronously: the cursor asks for an ack after every frame).
    pub async fn read(&mut self) -> anyhow::Result<Got> {
        // A bench that waits for output which never comes says so instead of hanging.
        const STALL: Duration = Duration::from_secs(60);
        let got = match self.client.try_pump(STALL).await? {
            Read::Timeout => {
                let tail = self.tail();
                let end = String::from_utf8_lossy(&tail[tail.len().saturating_sub(300)..]);
                bail!("nothing from the relay for {STALL:?}; the screen ends {end:?}")
            }
            Read::Frame { len, snapshot } => {
                if snapshot {
                    self.snapshots += 1;
                } else {
                    self.output_bytes += len as u64;
                }
                Got::Frame(len)
            }
            Read::Closed => bail!("the relay closed the socket"),
            Read::Message | Read::Other => Got::Other,
        };
        Ok(got)
    }

    fn tail(&self) -> &[u8] {
        &self.client.screen
    }

    /// Forgets what was seen so far (for marker searches).
    pub fn clear_tail(&mut self) {
        self.client.screen.clear();
        self.client.raw.clear();
    }

    /// Reads until the recent output, shell-integration marks included, contains `needle`.
    pub async fn read_until_raw(&mut self, needle: &[u8]) -> anyhow::Result<()> {
        while !self.client.raw.windows(needle.len()).any(|w| w == needle) {
            self.read().await?;
        }
        Ok(())
    }

    /// Whether the recent output contains `needle`.
    pub fn tail_has(&self, needle: &[u8]) -> bool {
        self.client.has(needle)
    }

    /// Whether the recent output ends with a prompt (`...>` and optional spaces).
    pub fn tail_ends_prompt(&self) -> bool {
        // Shell-integration marks (OSC 133) may follow the prompt: they take no cells.
        let tail = winrelay_shared::line::strip_marks(&String::from_utf8_lossy(self.tail()));
        tail.trim_end().ends_with('>')
    }

    /// Whether a prompt character (`>`) follows `marker` in the recent output (a snapshot
    /// may end with cursor movements after the prompt).
    pub fn prompt_after(&self, marker: &[u8]) -> bool {
        let tail = self.tail();
        match tail.windows(marker.len()).rposition(|w| w == marker) {
            Some(i) => tail[i + marker.len()..].contains(&b'>'),
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
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            if self.client.try_pump(left).await? == Read::Closed {
                bail!("the relay closed the socket");
            }
        }
    }
}

/// Creates a session on `target`; returns its id.
pub async fn create_session(user: &User, target: &str) -> anyhow::Result<String> {
    Ok(user.try_create_session(target).await?.id)
}
