//! Soak test of winrelay: N sessions on a `winrelay sim` target, each with a witness client
//! that stays attached and reads everything, and an actor client that types commands,
//! disconnects (cleanly, abruptly, or in the middle of output) and resumes at its offset,
//! at random, for M minutes. At the end every actor's bytes must equal the witness's over the
//! same offsets (nothing lost, nothing twice, nothing reordered), every command's output must
//! be there in order, and once the sessions are ended the simulator must hold no shell.
//!
//! ```text
//! winrelay-soak --bin target/debug/winrelay [--sessions 200] [--minutes 10] [--seed N]
//! ```
//! Prints relay memory and shell counts every 10 s, then a summary and one JSON line; exits 1
//! on any error, lost byte or leaked shell.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use rand::{Rng, SeedableRng};
use winrelay_shared::protocol::ServerMsg;
use winrelay_testkit::{Client, Read, Relay, Sim, User};

const PASSWORD: &str = "soak-test-password";
const WAIT: Duration = Duration::from_secs(60);

struct Args {
    bin: String,
    sessions: usize,
    minutes: f64,
    seed: u64,
}

fn args() -> Result<Args> {
    let mut a = Args {
        bin: "target/debug/winrelay".into(),
        sessions: 200,
        minutes: 10.0,
        seed: rand::rng().random(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--bin" => a.bin = value()?,
            "--sessions" => a.sessions = value()?.parse()?,
            "--minutes" => a.minutes = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            _ => bail!("unknown argument {flag}; see the doc comment of tests/soak/src/main.rs"),
        }
    }
    Ok(a)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn children(pid: u32) -> usize {
    Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

/// Everything a client received, contiguous from `start` (unless it got a snapshot).
#[derive(Default)]
struct Received {
    start: Option<u64>,
    bytes: Vec<u8>,
    snapshots: usize,
}

impl Received {
    fn pos(&self) -> Option<u64> {
        self.start.map(|s| s + self.bytes.len() as u64)
    }

    fn of(c: Client) -> Received {
        Received {
            start: c.first_offset,
            bytes: c.screen,
            snapshots: c.snapshots,
        }
    }
}

#[derive(Default)]
struct Counters {
    commands: AtomicU64,
    reconnects: AtomicU64,
    mid_output_drops: AtomicU64,
    bytes: AtomicU64,
}

/// Attaches (or attaches again, resuming where the client is) and waits for the welcome;
/// returns whether the relay resumed.
async fn welcome(c: &mut Client) -> Result<bool> {
    match c
        .try_wait_msg(WAIT, |m| matches!(m, ServerMsg::Welcome { .. }))
        .await?
    {
        ServerMsg::Welcome { resumed, .. } => Ok(resumed),
        _ => unreachable!(),
    }
}

/// Reads one message (through the shared cursor: output must continue exactly, acks as the
/// cursor says); Ok(false) when the socket closed. The session must not end.
async fn pump(c: &mut Client, timeout: Duration) -> Result<bool> {
    match c.try_pump(timeout).await? {
        Read::Closed => Ok(false),
        Read::Message => {
            if let Some(ServerMsg::Status { state }) = c.messages.last() {
                if state.is_final() {
                    bail!("the session ended: {state:?}");
                }
            }
            Ok(true)
        }
        _ => Ok(true),
    }
}

/// Reads until `needle` arrives (it is searched for in what arrives after the call).
async fn wait_for(c: &mut Client, needle: &[u8]) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let from = c.screen.len().saturating_sub(needle.len());
    loop {
        let hay = c.screen.get(from..).unwrap_or(&c.screen);
        if hay.windows(needle.len()).any(|w| w == needle) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{:?} did not arrive within {WAIT:?}",
                String::from_utf8_lossy(needle)
            );
        }
        if !pump(c, Duration::from_millis(200)).await? {
            bail!(
                "socket closed while waiting for {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

/// What one session's run produced.
struct Outcome {
    witness: Received,
    actor: Received,
    expected: Vec<String>,
    error: Option<String>,
}

async fn witness_task(
    user: User,
    session: String,
    mut stop: tokio::sync::watch::Receiver<Option<u64>>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<Received> {
    let mut c = user.try_attach(&session, None).await?;
    welcome(&mut c).await?;
    let _ = ready.send(());
    loop {
        // Told to stop at an offset: read until there.
        let target = *stop.borrow();
        if let Some(end) = target {
            let deadline = Instant::now() + WAIT;
            while c.pos() < end {
                if Instant::now() > deadline {
                    bail!("the witness stopped at {} before {end}", c.pos());
                }
                if !pump(&mut c, Duration::from_millis(200)).await? {
                    bail!("the witness's socket closed");
                }
            }
            c.close().await;
            return Ok(Received::of(c));
        }
        tokio::select! {
            r = pump(&mut c, Duration::from_millis(500)) => {
                if !r? {
                    bail!("the witness's socket closed");
                }
            }
            _ = stop.changed() => {}
        }
    }
}

async fn actor_task(
    user: User,
    session: String,
    sid: usize,
    until: Instant,
    seed: u64,
    counters: Arc<Counters>,
    expected: Arc<Mutex<Vec<String>>>,
) -> Result<Received> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut c = user.try_attach(&session, None).await?;
    let mut n = 0u64;
    let mut first = true;
    loop {
        if !first {
            // The same client again: its cursor resumes where it is.
            let resume = c.cursor.resume_from();
            c.reconnect().await?;
            if !welcome(&mut c).await? && resume.is_some() {
                bail!("resume at {resume:?} was refused (the log should still hold it)");
            }
            counters.reconnects.fetch_add(1, Ordering::Relaxed);
        } else {
            welcome(&mut c).await?;
        }
        first = false;
        let last = Instant::now() >= until;
        let typed = if last { 1 } else { rng.random_range(1..=5) };
        for _ in 0..typed {
            n += 1;
            let want = format!("S{sid}-{n}-{}", n * 3);
            c.try_input(&format!("echo S{sid}-{n}-$(({n}*3))\r"))
                .await?;
            wait_for(&mut c, want.as_bytes()).await?;
            expected.lock().unwrap().push(want);
            counters.commands.fetch_add(1, Ordering::Relaxed);
            let pause = Duration::from_millis(rng.random_range(0..1500));
            let end = Instant::now() + pause;
            while Instant::now() < end {
                if !pump(&mut c, end - Instant::now()).await? {
                    bail!("socket closed while idle");
                }
            }
        }
        if last {
            c.close().await;
            return Ok(Received::of(c));
        }
        match rng.random_range(0..3) {
            0 => c.close().await,
            1 => c.disconnect(), // vanishes: no close frame
            _ => {
                // Leaves in the middle of a burst of output, and comes back for the rest.
                c.try_input("seq 1 300\r").await?;
                let _ = pump(&mut c, Duration::from_millis(30)).await?;
                counters.mid_output_drops.fetch_add(1, Ordering::Relaxed);
                c.disconnect();
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..2000))).await;
    }
}

async fn run_session(
    user: User,
    session: String,
    sid: usize,
    until: Instant,
    seed: u64,
    counters: Arc<Counters>,
) -> Outcome {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let witness = tokio::spawn(witness_task(
        user.clone(),
        session.clone(),
        stop_rx,
        ready_tx,
    ));
    // The witness is attached before the actor, so it sees everything the actor sees.
    let _ = ready_rx.await;
    let expected = Arc::new(Mutex::new(Vec::new()));
    let actor = actor_task(user, session, sid, until, seed, counters, expected.clone()).await;
    let mut error = None;
    let actor = match actor {
        Ok(a) => a,
        Err(e) => {
            error = Some(format!("actor: {e:#}"));
            Received::default()
        }
    };
    let _ = stop_tx.send(Some(actor.pos().unwrap_or(0)));
    let witness = match witness.await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            error.get_or_insert(format!("witness: {e:#}"));
            Received::default()
        }
        Err(e) => {
            error.get_or_insert(format!("witness task: {e}"));
            Received::default()
        }
    };
    let expected = std::mem::take(&mut *expected.lock().unwrap());
    Outcome {
        witness,
        actor,
        expected,
        error,
    }
}

/// Compares an actor's bytes with the witness's over the same offsets; returns the number
/// of bytes that differ or are missing (0 when the two agree).
fn compare(o: &Outcome) -> Result<u64, String> {
    let (Some(ws), Some(as_)) = (o.witness.start, o.actor.start) else {
        return Err("nothing received".into());
    };
    if o.witness.snapshots > 0 || o.actor.snapshots > 0 {
        return Err(format!(
            "snapshots instead of bytes (witness {}, actor {})",
            o.witness.snapshots, o.actor.snapshots
        ));
    }
    if as_ < ws {
        return Err(format!(
            "the actor started at {as_}, before the witness at {ws}"
        ));
    }
    let from = (as_ - ws) as usize;
    let w = o.witness.bytes.get(from..).unwrap_or_default();
    let a = &o.actor.bytes;
    let common = w.len().min(a.len());
    let differ = w[..common]
        .iter()
        .zip(&a[..common])
        .filter(|(x, y)| x != y)
        .count() as u64;
    let missing = (a.len() as i64 - w.len() as i64).unsigned_abs();
    if let Some(i) = (0..common).find(|&i| w[i] != a[i]) {
        return Err(format!(
            "first difference at offset {}: {differ} bytes differ, {missing} missing",
            as_ + i as u64
        ));
    }
    // Every command's output is in the witness's stream, in order.
    let text = String::from_utf8_lossy(&o.witness.bytes);
    let mut at = 0;
    for want in &o.expected {
        match text[at..].find(want.as_str()) {
            Some(i) => at += i + want.len(),
            None => return Err(format!("output {want:?} missing or out of order")),
        }
    }
    Ok(differ + missing)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    eprintln!(
        "soak: {} sessions for {} min, seed {}",
        args.sessions, args.minutes, args.seed
    );
    let dir = std::env::temp_dir().join(format!("winrelay-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let bin = std::path::Path::new(&args.bin);
    let max_shells = (args.sessions + 50).to_string();
    let sim = Sim::try_start(
        Some(bin),
        "127.0.0.1:0",
        "soak",
        PASSWORD,
        &["--max-shells", &max_shells],
    )?;
    let cfg = dir.join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sessions]\nmax_sessions = {}\nidle_timeout = \"2h\"\n\n[[target]]\nname = \"soak\"\n\
             endpoint = \"{}\"\nuser = \"soak\"\npassword_env = \"SOAK_PW\"\npin = \"{}\"\n",
            args.sessions + 50,
            sim.endpoint,
            sim.fingerprint
        ),
    )?;
    // Its own state directory too (the relay builder's): nothing lands in ~/.local/state.
    let relay = Relay::builder()
        .bin(bin)
        .config(&cfg)
        .env("SOAK_PW", PASSWORD)
        .log("warn")
        .log_file(dir.join("relay.log"))
        .try_start()?;
    let relay_pid = relay.child.id();
    let sim_pid = sim.child.id();
    let user = relay.try_sign_in().await?;

    let rss_start = rss_kb(relay_pid);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(args.sessions);
    for chunk in (0..args.sessions).collect::<Vec<_>>().chunks(10) {
        let mut futs = Vec::new();
        for _ in chunk {
            let user = user.clone();
            futs.push(async move { anyhow::Ok(user.try_create_session("soak").await?.id) });
        }
        for r in futures::future::join_all(futs).await {
            ids.push(r?);
        }
    }
    eprintln!(
        "soak: {} sessions open in {:?}; relay RSS {rss_start} kB -> {} kB; {} shells",
        ids.len(),
        started.elapsed(),
        rss_kb(relay_pid),
        children(sim_pid)
    );

    let counters = Arc::new(Counters::default());
    let until = Instant::now() + Duration::from_secs_f64(args.minutes * 60.0);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = samples.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let (rss, shells) = (rss_kb(relay_pid), children(sim_pid));
                eprintln!(
                    "soak: t={:>4}s relay RSS {rss} kB, shells {shells}, commands {}, reconnects {}",
                    t0.elapsed().as_secs(),
                    counters.commands.load(Ordering::Relaxed),
                    counters.reconnects.load(Ordering::Relaxed)
                );
                samples
                    .lock()
                    .unwrap()
                    .push((t0.elapsed().as_secs(), rss, shells));
            }
        })
    };
    let mut tasks = Vec::new();
    for (sid, id) in ids.iter().enumerate() {
        tasks.push(tokio::spawn(run_session(
            user.clone(),
            id.clone(),
            sid,
            until,
            args.seed.wrapping_add(sid as u64),
            counters.clone(),
        )));
    }
    let mut errors = Vec::new();
    let mut lost = 0u64;
    let mut verified = 0u64;
    for (sid, t) in tasks.into_iter().enumerate() {
        let o = t.await?;
        if let Some(e) = &o.error {
            errors.push(format!("session {sid}: {e}"));
        }
        match compare(&o) {
            Ok(n) => {
                lost += n;
                verified += o.actor.bytes.len() as u64;
            }
            Err(e) if o.error.is_none() => {
                errors.push(format!("session {sid}: {e}"));
                lost += 1;
            }
            Err(_) => {}
        }
    }
    counters.bytes.store(verified, Ordering::Relaxed);
    sampler.abort();
    let rss_end_of_run = rss_kb(relay_pid);

    // End every session: every shell must go.
    for id in &ids {
        if let Err(e) = user.end_session(id).await {
            errors.push(format!("{e:#}"));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while children(sim_pid) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let leaked = children(sim_pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kb(relay_pid);
    let samples = samples.lock().unwrap().clone();
    let rss_max = samples.iter().map(|s| s.1).max().unwrap_or(rss_end_of_run);

    for e in errors.iter().take(20) {
        eprintln!("soak: ERROR {e}");
    }
    println!(
        "soak: {} sessions, {:.1} min, {} commands, {} reconnects ({} mid-output), {} bytes verified, \
         {} errors, {} lost bytes, {} leaked shells; relay RSS start {} kB, max {} kB, end of run {} kB, \
         after ending sessions {} kB",
        ids.len(),
        args.minutes,
        counters.commands.load(Ordering::Relaxed),
        counters.reconnects.load(Ordering::Relaxed),
        counters.mid_output_drops.load(Ordering::Relaxed),
        verified,
        errors.len(),
        lost,
        leaked,
        rss_start,
        rss_max,
        rss_end_of_run,
        rss_after
    );
    println!(
        "{}",
        serde_json::json!({
            "sessions": ids.len(), "minutes": args.minutes, "seed": args.seed,
            "commands": counters.commands.load(Ordering::Relaxed),
            "reconnects": counters.reconnects.load(Ordering::Relaxed),
            "mid_output_drops": counters.mid_output_drops.load(Ordering::Relaxed),
            "bytes_verified": verified, "errors": errors.len(), "lost_bytes": lost,
            "leaked_shells": leaked, "rss_kb_start": rss_start, "rss_kb_max": rss_max,
            "rss_kb_end_of_run": rss_end_of_run, "rss_kb_after": rss_after,
            "rss_samples": samples,
        })
    );
    drop(relay);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    if !errors.is_empty() || lost > 0 || leaked > 0 {
        std::process::exit(1);
    }
    Ok(())
}
