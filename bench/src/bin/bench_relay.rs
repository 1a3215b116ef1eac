//! The relay measured through its WebSocket protocol by a Rust client (tokio-tungstenite)
//! that acknowledges every frame after "rendering" it. Prints one JSON object.
//!
//! * `e2e`: 100 MB of output, keystroke-to-echo and Enter-to-first-output latency;
//! * `console`: Enter → the next prompt after a short line (the prompt's OSC 133 `B` mark),
//!   and with `--complete TEXT` Tab → the completion shown (PowerShell targets);
//! * `scale`: idle sessions (memory per session, idle CPU, then the same with one client
//!   attached to each), sessions printing at once (throughput, fairness), one session with
//!   many viewers (bytes delivered to each, relay CPU per viewer).
//! * `fleet`: sessions per relay: thousands of sessions spread over several targets, a
//!   percentage of them printing steadily and the rest idle, no client attached to them;
//!   relay memory and CPU, and keystroke echo of one interactive session meanwhile.
//!
//! The relay's numbers come from /proc/PID of the relay process (`--relay-pid`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::sync::{Barrier, Semaphore};
use winrelay_bench::{cpu_secs, create_session, round1, round3, rss_kib, stats_us, Term, User};

#[derive(Parser)]
struct Args {
    /// The relay's one-time login link (`open: ...`).
    #[arg(long, required_unless_present = "cookie")]
    login: Option<String>,
    /// A sign-in cookie (`winrelay_session=...`) instead of the login link; needs --base.
    #[arg(long, requires = "base")]
    cookie: Option<String>,
    /// The relay's base URL (with --cookie).
    #[arg(long)]
    base: Option<String>,
    /// Target to open sessions on.
    #[arg(long, default_value = "demo")]
    target: String,
    /// Process id of the relay (for memory and CPU).
    #[arg(long)]
    relay_pid: u32,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// One session end to end.
    E2e {
        #[arg(long, default_value_t = 100_000_000)]
        bytes: u64,
        #[arg(long, default_value_t = 200)]
        latency_runs: usize,
    },
    /// Enter → prompt (and Tab → completion) on one session.
    Console {
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// The line to run (its output must be short).
        #[arg(long, default_value = "echo x")]
        line: String,
        /// Text to complete with Tab, and what the completion must show.
        #[arg(long, num_args = 2, value_names = ["TYPED", "SHOWN"])]
        complete: Option<Vec<String>>,
    },
    /// Many sessions on one relay.
    Scale {
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
        #[arg(long, default_value_t = 10)]
        idle_secs: u64,
        #[arg(long, default_value_t = 100)]
        printers: usize,
        #[arg(long, default_value_t = 2_000_000)]
        print_bytes: u64,
        #[arg(long, default_value_t = 50)]
        viewers: usize,
        #[arg(long, default_value_t = 20_000_000)]
        viewer_bytes: u64,
        /// Sessions created at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// A cluster (issue 15): one session opened on this relay (the owner), measured
    /// through the owner and through `--peer` (a relay that follows it).
    Cluster {
        /// Base URL of the other relay.
        #[arg(long)]
        peer: String,
        #[arg(long, default_value_t = 20_000_000)]
        bytes: u64,
        #[arg(long, default_value_t = 200)]
        latency_runs: usize,
    },
    /// A cluster: a session opened on this relay, a client on `--peer`; the owner is
    /// killed (SIGKILL, `--relay-pid`) and the time until a line typed through the peer is
    /// answered is measured.
    Adopt {
        #[arg(long)]
        peer: String,
    },
    /// Sessions per relay: many sessions, some printing, one typed into.
    Fleet {
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Targets to spread the sessions over (comma-separated; the first one also gets
        /// the interactive session).
        #[arg(long, value_delimiter = ',')]
        targets: Vec<String>,
        /// Percentage of the sessions that print steadily.
        #[arg(long, default_value_t = 1.0)]
        printing_percent: f64,
        /// Keystrokes timed on the interactive session.
        #[arg(long, default_value_t = 300)]
        echo_runs: usize,
        /// Seconds relay CPU is sampled over while the printers print.
        #[arg(long, default_value_t = 10)]
        cpu_secs: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
}

/// A line that prints an 80-column line 20 times a second until interrupted.
/// Only bash built-ins per line (`read -t` on a pipe that never delivers stands for `sleep`): a
/// `date` and a `sleep` per line were 4,000 process starts a second for 100 printers, which
/// saturated this machine's two cores, so the row measured the scheduler, not the relay.
const STEADY_PRINTER: &str =
    "exec 3<> <(:); while :; do echo \"$EPOCHREALTIME steady output from a busy session, about eighty columns\"; read -t 0.05 -u 3; done";

/// The line that prints `bytes` bytes and then a marker the typed line itself lacks.
fn print_command(bytes: u64) -> String {
    format!("head -c {bytes} /dev/zero | tr '\\0' x; echo DONE$((6*7))")
}
const DONE: &[u8] = b"DONE42";

/// Reads until the prompt (`...>`) shows after `after`.
async fn wait_prompt_after(t: &mut Term, after: &[u8]) -> anyhow::Result<()> {
    loop {
        if t.prompt_after(after) {
            return Ok(());
        }
        t.read().await?;
    }
}

async fn attach_ready(user: &User, id: &str) -> anyhow::Result<Term> {
    let mut t = Term::attach(user, id).await?;
    tokio::time::timeout(Duration::from_secs(30), async {
        // A late joiner gets a snapshot (ANSI repaint, not ending in the prompt).
        while !t.tail_ends_prompt() && t.snapshots == 0 {
            t.read().await?;
        }
        anyhow::Ok(())
    })
    .await
    .context("no prompt within 30 s")??;
    t.drain(Duration::from_millis(100)).await?;
    Ok(t)
}

async fn e2e(
    user: &User,
    target: &str,
    bytes: u64,
    runs: usize,
) -> anyhow::Result<serde_json::Value> {
    let id = create_session(user, target).await?;
    let mut v = measure(user, &id, bytes, runs).await?;
    user.end_session(&id).await?;
    v["client"] = json!("rust tokio-tungstenite (acks every frame)");
    Ok(v)
}

/// Keystroke echo, Enter → output and throughput of session `id` as `user` sees it.
async fn measure(
    user: &User,
    id: &str,
    bytes: u64,
    runs: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut t = attach_ready(user, id).await?;
    let mut echo = Vec::with_capacity(runs);
    for _ in 0..runs {
        t.clear_tail();
        let t0 = Instant::now();
        t.input("x").await?;
        t.read_until(b"x", None).await?;
        echo.push(t0.elapsed());
        t.input("\x7f").await?;
        t.read_until(b"\x1b[", None).await?;
    }
    t.drain(Duration::from_millis(100)).await?;
    let mut enter = Vec::with_capacity(runs);
    for _ in 0..runs {
        t.clear_tail();
        t.input("echo $((6*7))Q").await?;
        t.read_until(b"))Q", None).await?;
        t.clear_tail();
        let t0 = Instant::now();
        t.input("\r").await?;
        t.read_until(b"42Q", None).await?;
        enter.push(t0.elapsed());
        wait_prompt_after(&mut t, b"42Q").await?;
    }
    t.clear_tail();
    t.input(&print_command(bytes)).await?;
    t.read_until(b"7))", None).await?;
    t.clear_tail();
    let (before, snaps) = (t.output_bytes, t.snapshots);
    let t0 = Instant::now();
    t.input("\r").await?;
    t.read_until(DONE, None).await?;
    let secs = t0.elapsed().as_secs_f64();
    // Less than `bytes` arrives when the client fell out of the session's log: the relay
    // never waits for a client, it sends a screen snapshot instead of the bytes missed.
    let got = t.output_bytes - before;
    wait_prompt_after(&mut t, DONE).await?;
    Ok(json!({
        "delivered_mb_s": round3(got as f64 / 1e6 / secs),
        "delivered_bytes": got,
        "snapshots": t.snapshots - snaps,
        "secs": round3(secs),
        "throughput_mb_s": round3(bytes as f64 / 1e6 / secs),
        "echo": stats_us(&echo),
        "enter_to_output": stats_us(&enter),
    }))
}

/// Through the owner, then through a relay that follows the session.
async fn cluster(
    user: &User,
    target: &str,
    peer: &str,
    bytes: u64,
    runs: usize,
) -> anyhow::Result<serde_json::Value> {
    let id = create_session(user, target).await?;
    let owner = measure(user, &id, bytes, runs).await?;
    let mut other = User::with_cookie(peer, &user.cookie)?;
    other.ws = peer.replacen("http://", "ws://", 1);
    let follower = measure(&other, &id, bytes, runs).await?;
    user.end_session(&id).await?;
    let ratio =
        |k: &str| follower[k].as_f64().unwrap_or(0.0) / owner[k].as_f64().unwrap_or(1.0).max(1e-9);
    Ok(json!({
        "owner": owner,
        "non_owner": follower,
        "throughput_ratio": round3(ratio("throughput_mb_s")),
    }))
}

/// Kills the owner and times the first answer through the peer.
async fn adopt(
    user: &User,
    target: &str,
    owner_pid: u32,
    peer: &str,
) -> anyhow::Result<serde_json::Value> {
    let id = create_session(user, target).await?;
    let mut other = User::with_cookie(peer, &user.cookie)?;
    other.ws = peer.replacen("http://", "ws://", 1);
    let mut t = attach_ready(&other, &id).await?;
    t.clear_tail();
    // SIGKILL: no hand-over, the lease has to lapse.
    let killed = std::process::Command::new("kill")
        .args(["-9", &owner_pid.to_string()])
        .status()?;
    anyhow::ensure!(killed.success(), "could not kill the owner");
    let t0 = Instant::now();
    t.input("echo $((6*7))A\r").await?;
    tokio::time::timeout(Duration::from_secs(60), t.read_until(b"42A", None))
        .await
        .context("no answer within 60 s of the owner's death")??;
    let took = t0.elapsed();
    let _ = other.end_session(&id).await;
    Ok(json!({ "answered_after_ms": round1(took.as_secs_f64() * 1000.0) }))
}

/// The end of a prompt: the shell-integration mark the relay writes after every prompt
/// (cmd and PowerShell alike).
const PROMPT_END: &[u8] = b"\x1b]133;B\x07";

async fn console(
    user: &User,
    target: &str,
    runs: usize,
    line: &str,
    complete: Option<&[String]>,
) -> anyhow::Result<serde_json::Value> {
    let id = create_session(user, target).await?;
    let mut t = attach_ready(user, &id).await?;
    let tail: String = line
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut enter = Vec::with_capacity(runs);
    for _ in 0..runs {
        t.clear_tail();
        t.input(line).await?;
        t.read_until(tail.as_bytes(), None).await?;
        t.clear_tail();
        let t0 = Instant::now();
        t.input("\r").await?;
        t.read_until_raw(PROMPT_END).await?;
        enter.push(t0.elapsed());
    }
    let mut tab = Vec::new();
    if let Some([typed, shown]) = complete {
        for _ in 0..runs {
            t.clear_tail();
            t.input(typed).await?;
            t.read_until(typed.as_bytes(), None).await?;
            t.clear_tail();
            let t0 = Instant::now();
            t.input("\t").await?;
            t.read_until(shown.as_bytes(), None).await?;
            tab.push(t0.elapsed());
            t.clear_tail();
            // Ctrl+U: the line editor erases the line (ESC [ J).
            t.input("\x15").await?;
            t.read_until(b"\x1b[J", None).await?;
        }
    }
    user.end_session(&id).await?;
    let mut out = json!({
        "target": target,
        "line": line,
        "enter_to_prompt": stats_us(&enter),
    });
    if !tab.is_empty() {
        out["tab_to_completion"] = stats_us(&tab);
    }
    Ok(out)
}

/// Runs `print_command(bytes)` on every term at once; returns per-term (bytes, seconds), the
/// bytes each had when the first finished, and the wall time.
async fn print_all(
    terms: Vec<Term>,
    bytes: u64,
    typists: usize,
) -> anyhow::Result<(Vec<Term>, Vec<(u64, f64)>, Vec<u64>, f64)> {
    let n = terms.len();
    let counters: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let at_first: Arc<OnceLock<Vec<u64>>> = Arc::new(OnceLock::new());
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::new();
    for (i, mut t) in terms.into_iter().enumerate() {
        let counters = counters.clone();
        let at_first = at_first.clone();
        let barrier = barrier.clone();
        let cmd = print_command(bytes);
        tasks.push(tokio::spawn(async move {
            t.clear_tail();
            barrier.wait().await;
            let t0 = Instant::now();
            if i < typists {
                t.input(&format!("{cmd}\r")).await?;
            }
            t.read_until(DONE, Some(&counters[i])).await?;
            let secs = t0.elapsed().as_secs_f64();
            at_first.get_or_init(|| counters.iter().map(|c| c.load(Ordering::Relaxed)).collect());
            wait_prompt_after(&mut t, DONE).await?;
            anyhow::Ok((t, counters[i].load(Ordering::Relaxed), secs))
        }));
    }
    barrier.wait().await;
    let t0 = Instant::now();
    let mut terms = Vec::with_capacity(n);
    let mut per = Vec::with_capacity(n);
    for task in tasks {
        let (t, b, s) = task.await??;
        terms.push(t);
        per.push((b, s));
    }
    let wall = t0.elapsed().as_secs_f64();
    let first = at_first.get().cloned().unwrap_or_default();
    Ok((terms, per, first, wall))
}

fn min_max(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    })
}

#[allow(clippy::too_many_arguments)]
async fn scale(
    user: &User,
    target: &str,
    pid: u32,
    sessions: usize,
    idle_secs: u64,
    printers: usize,
    print_bytes: u64,
    viewers: usize,
    viewer_bytes: u64,
    concurrency: usize,
) -> anyhow::Result<serde_json::Value> {
    // Warm up: the first session allocates what every later one shares.
    eprintln!("scale: warm-up session");
    let warm = create_session(user, target).await?;
    drop(attach_ready(user, &warm).await?);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = rss_kib(pid)?;

    eprintln!("scale: creating {sessions} sessions");
    let t0 = Instant::now();
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let user = user.clone();
        let target = target.to_string();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            create_session(&user, &target).await
        }));
    }
    let mut ids = Vec::with_capacity(sessions);
    for t in tasks {
        ids.push(t.await??);
    }
    let create_secs = t0.elapsed().as_secs_f64();
    // Let every shell print its prompt and every Receive settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss1 = rss_kib(pid)?;
    let c0 = cpu_secs(pid)?;
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle_cpu = (cpu_secs(pid)? - c0) / idle_secs as f64 * 100.0;

    eprintln!("scale: attaching a client to each session");
    // One client on each session, then idle again.
    let t1 = Instant::now();
    let mut tasks = Vec::new();
    for id in &ids {
        let user = user.clone();
        let id = id.clone();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            attach_ready(&user, &id).await
        }));
    }
    let mut terms = Vec::with_capacity(sessions);
    for t in tasks {
        terms.push(t.await??);
    }
    let attach_secs = t1.elapsed().as_secs_f64();
    // Keep reading (pings) while idle.
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut readers = Vec::new();
    for mut t in terms {
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let notified = stop.notified();
            tokio::pin!(notified);
            loop {
                tokio::select! {
                    _ = &mut notified => break,
                    r = t.read() => { r?; }
                }
            }
            anyhow::Ok(t)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss2 = rss_kib(pid)?;
    let c1 = cpu_secs(pid)?;
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle_cpu_attached = (cpu_secs(pid)? - c1) / idle_secs as f64 * 100.0;
    stop.notify_waiters();
    let mut terms = Vec::with_capacity(sessions);
    for r in readers {
        terms.push(r.await??);
    }

    eprintln!("scale: sessions printing at once");
    // Printers: the first `printers` sessions print at once.
    let printing: Vec<Term> = terms.drain(..printers.min(sessions)).collect();
    let np = printing.len();
    let c2 = cpu_secs(pid)?;
    let (_printing, per, first, wall) = print_all(printing, print_bytes, np).await?;
    let print_cpu = cpu_secs(pid)? - c2;
    let total: u64 = per.iter().map(|p| p.0).sum();
    let (rate_min, rate_max) = min_max(per.iter().map(|(b, s)| *b as f64 / 1e6 / s));
    let (first_min, first_max) = min_max(first.iter().map(|b| *b as f64));

    eprintln!("scale: viewers");
    // Viewers: one session, first with one client, then with `viewers`.
    let vid = create_session(user, target).await?;
    let one = vec![attach_ready(user, &vid).await?];
    let c3 = cpu_secs(pid)?;
    let (mut one, per1, _, wall1) = print_all(one, viewer_bytes, 1).await?;
    let cpu1 = cpu_secs(pid)? - c3;
    let mut all = vec![one.remove(0)];
    for _ in 1..viewers.max(1) {
        all.push(attach_ready(user, &vid).await?);
    }
    let c4 = cpu_secs(pid)?;
    let (all, perv, _, wallv) = print_all(all, viewer_bytes, 1).await?;
    let cpuv = cpu_secs(pid)? - c4;
    let (vb_min, vb_max) = min_max(perv.iter().map(|p| p.0 as f64));
    let snapshots: u64 = all.iter().map(|t| t.snapshots).sum();
    let nv = all.len();

    Ok(json!({
        "client": "rust tokio-tungstenite (acks every frame)",
        "idle": {
            "sessions": sessions,
            "create_secs": round3(create_secs),
            "rss_before_kib": rss0,
            "rss_after_kib": rss1,
            "rss_per_session_kib": round1((rss1 as f64 - rss0 as f64) / sessions as f64),
            "idle_cpu_percent": round3(idle_cpu),
            "idle_secs": idle_secs,
            "attach_secs": round3(attach_secs),
            "rss_attached_kib": rss2,
            "rss_per_session_with_client_kib": round1((rss2 as f64 - rss0 as f64) / sessions as f64),
            "idle_cpu_percent_attached": round3(idle_cpu_attached),
        },
        "printers": {
            "sessions": np,
            "bytes_each": print_bytes,
            "total_mb_s": round3(total as f64 / 1e6 / wall),
            "per_session_mb_s_min": round3(rate_min),
            "per_session_mb_s_max": round3(rate_max),
            "fairness_min_over_max": round3(rate_min / rate_max),
            "bytes_when_first_done_min": first_min,
            "bytes_when_first_done_max": first_max,
            "wall_secs": round3(wall),
            "relay_cpu_secs": round3(print_cpu),
        },
        "viewers": {
            "viewers": nv,
            "bytes_printed": viewer_bytes,
            "delivered_bytes_min": vb_min,
            "delivered_bytes_max": vb_max,
            "snapshots": snapshots,
            "wall_secs": round3(wallv),
            "mb_s_each_min": round3(vb_min / 1e6 / wallv),
            "one_viewer_wall_secs": round3(wall1),
            "one_viewer_mb_s": round3(per1[0].0 as f64 / 1e6 / per1[0].1),
            "relay_cpu_secs_one_viewer": round3(cpu1),
            "relay_cpu_secs_all_viewers": round3(cpuv),
            "relay_cpu_ms_per_viewer": round3(cpuv / nv as f64 * 1e3),
            "relay_cpu_ms_per_extra_viewer": round3((cpuv - cpu1) / (nv.max(2) - 1) as f64 * 1e3),
        },
    }))
}

/// Times `runs` keystrokes (type `x`, read its echo, erase it) on `t`.
async fn echo_samples(t: &mut Term, runs: usize) -> anyhow::Result<Vec<Duration>> {
    let mut echo = Vec::with_capacity(runs);
    for _ in 0..runs {
        t.clear_tail();
        let t0 = Instant::now();
        t.input("x").await?;
        t.read_until(b"x", None).await?;
        echo.push(t0.elapsed());
        t.input("\x7f").await?;
        t.read_until(b"\x1b[", None).await?;
    }
    Ok(echo)
}

#[allow(clippy::too_many_arguments)]
async fn fleet(
    user: &User,
    targets: &[String],
    pid: u32,
    sessions: usize,
    printing_percent: f64,
    echo_runs: usize,
    sample_secs: u64,
    concurrency: usize,
) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(!targets.is_empty(), "give --targets");
    eprintln!("fleet: warm-up session");
    let warm = create_session(user, &targets[0]).await?;
    let mut interactive = attach_ready(user, &warm).await?;
    // Before: the relay with one session and its client.
    echo_samples(&mut interactive, 20).await?;
    let quiet_echo = echo_samples(&mut interactive, echo_runs).await?;
    let rss0 = rss_kib(pid)?;

    eprintln!(
        "fleet: creating {sessions} sessions over {} targets",
        targets.len()
    );
    let t0 = Instant::now();
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::new();
    for i in 0..sessions {
        let user = user.clone();
        let target = targets[i % targets.len()].clone();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            create_session(&user, &target).await
        }));
    }
    let mut ids = Vec::with_capacity(sessions);
    let mut failed = 0usize;
    let mut first_error = None;
    for t in tasks {
        match t.await? {
            Ok(id) => ids.push(id),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    let create_secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        failed * 100 <= sessions,
        "{failed} of {sessions} sessions could not be created: {}",
        first_error.unwrap_or_default()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_idle = rss_kib(pid)?;
    let c0 = cpu_secs(pid)?;
    tokio::time::sleep(Duration::from_secs(sample_secs)).await;
    let idle_cpu = (cpu_secs(pid)? - c0) / sample_secs as f64 * 100.0;

    // The printers: a client types the loop, then leaves; the session keeps printing.
    let printers = ((ids.len() as f64 * printing_percent / 100.0).round() as usize).max(1);
    eprintln!("fleet: {printers} sessions start printing");
    for id in ids.iter().take(printers) {
        let mut t = attach_ready(user, id).await?;
        t.input(&format!("{STEADY_PRINTER}\r")).await?;
        t.read_until(
            b"steady output from a busy session, about eighty columns\r\n",
            None,
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c1 = cpu_secs(pid)?;
    let w1 = Instant::now();
    let busy_echo = echo_samples(&mut interactive, echo_runs).await?;
    let left = Duration::from_secs(sample_secs).saturating_sub(w1.elapsed());
    tokio::time::sleep(left).await;
    let busy_cpu = (cpu_secs(pid)? - c1) / w1.elapsed().as_secs_f64() * 100.0;
    let rss_busy = rss_kib(pid)?;

    let n = ids.len() as f64;
    Ok(json!({
        "sessions": ids.len(),
        "targets": targets.len(),
        "create_secs": round3(create_secs),
        "printing": printers,
        "rss_before_kib": rss0,
        "rss_idle_kib": rss_idle,
        "rss_busy_kib": rss_busy,
        "rss_per_session_kib": round1((rss_idle as f64 - rss0 as f64) / n),
        "relay_rss_mib": round1(rss_busy as f64 / 1024.0),
        "idle_cpu_percent": round3(idle_cpu),
        "busy_cpu_percent": round3(busy_cpu),
        "echo_quiet": stats_us(&quiet_echo),
        "echo_busy": stats_us(&busy_echo),
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let v = rt.block_on(async {
        let user = match (&args.login, &args.cookie, &args.base) {
            (Some(login), _, _) => User::sign_in(login).await?,
            (None, Some(cookie), Some(base)) => User::with_cookie(base, cookie)?,
            _ => anyhow::bail!("give --login, or --cookie and --base"),
        };
        match args.what {
            What::E2e {
                bytes,
                latency_runs,
            } => e2e(&user, &args.target, bytes, latency_runs).await,
            What::Console {
                runs,
                line,
                complete,
            } => console(&user, &args.target, runs, &line, complete.as_deref()).await,
            What::Scale {
                sessions,
                idle_secs,
                printers,
                print_bytes,
                viewers,
                viewer_bytes,
                concurrency,
            } => {
                scale(
                    &user,
                    &args.target,
                    args.relay_pid,
                    sessions,
                    idle_secs,
                    printers,
                    print_bytes,
                    viewers,
                    viewer_bytes,
                    concurrency,
                )
                .await
            }
            What::Cluster {
                peer,
                bytes,
                latency_runs,
            } => cluster(&user, &args.target, &peer, bytes, latency_runs).await,
            What::Adopt { peer } => adopt(&user, &args.target, args.relay_pid, &peer).await,
            What::Fleet {
                sessions,
                targets,
                printing_percent,
                echo_runs,
                cpu_secs,
                concurrency,
            } => {
                fleet(
                    &user,
                    &targets,
                    args.relay_pid,
                    sessions,
                    printing_percent,
                    echo_runs,
                    cpu_secs,
                    concurrency,
                )
                .await
            }
        }
    })?;
    println!("{v}");
    Ok(())
}
