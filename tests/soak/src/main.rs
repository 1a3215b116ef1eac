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

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use winrelay_shared::protocol::{ClientMsg, FrameKind, OutputFrame, ServerMsg};

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

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `prefix: value` lines from a child's stdout until all prefixes were seen.
fn read_lines(child: &mut Child, prefixes: &[&str]) -> Result<Vec<String>> {
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut found = vec![None; prefixes.len()];
    while found.iter().any(Option::is_none) {
        let line = lines.next().context("the process ended early")??;
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(v) = line.strip_prefix(p) {
                found[i] = Some(v.to_string());
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(found.into_iter().map(Option::unwrap).collect())
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

/// The relay's HTTP API, signed in.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Api {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .header("x-winrelay", "1")
    }
}

/// Everything a client received, contiguous from `start`.
#[derive(Default)]
struct Received {
    start: Option<u64>,
    bytes: Vec<u8>,
    snapshots: u64,
}

impl Received {
    fn pos(&self) -> Option<u64> {
        self.start.map(|s| s + self.bytes.len() as u64)
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Default)]
struct Counters {
    commands: AtomicU64,
    reconnects: AtomicU64,
    mid_output_drops: AtomicU64,
    bytes: AtomicU64,
}

async fn connect(api: &Api, session: &str, resume_from: Option<u64>) -> Result<(Ws, bool)> {
    let url = format!(
        "{}/api/sessions/{session}/ws",
        api.base.replacen("http://", "ws://", 1)
    );
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("cookie", api.cookie.parse()?);
    req.headers_mut().insert("origin", api.base.parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let hello = ClientMsg::Hello {
        resume_from,
        cols: 120,
        rows: 40,
        name: None,
    };
    ws.send(Message::Text(hello.to_json().into())).await?;
    // The welcome comes first.
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Err(_) => bail!("no welcome within {WAIT:?}"),
            Ok(None) => bail!("socket closed before the welcome"),
            Ok(Some(m)) => {
                if let Message::Text(t) = m? {
                    if let ServerMsg::Welcome { resumed, .. } = ServerMsg::from_json(&t)? {
                        return Ok((ws, resumed));
                    }
                }
            }
        }
    }
}

/// Reads one message into `rx`; Ok(false) when the socket closed.
async fn pump(ws: &mut Ws, rx: &mut Received, timeout: Duration) -> Result<bool> {
    let msg = match tokio::time::timeout(timeout, ws.next()).await {
        Err(_) => return Ok(true),
        Ok(None) => return Ok(false),
        Ok(Some(m)) => m?,
    };
    match msg {
        Message::Binary(b) => {
            let f = OutputFrame::decode(&b).ok_or_else(|| anyhow!("undecodable frame"))?;
            match f.kind {
                FrameKind::Output => {
                    match rx.pos() {
                        None => rx.start = Some(f.offset),
                        Some(p) if p != f.offset => {
                            bail!(
                                "frame at offset {} after {p}: bytes lost or repeated",
                                f.offset
                            )
                        }
                        _ => {}
                    }
                    rx.bytes.extend_from_slice(f.data);
                }
                FrameKind::Snapshot => {
                    // Only expected for a client that fell out of the log; the stream below
                    // `offset` is not comparable any more.
                    rx.snapshots += 1;
                    rx.start = Some(f.offset);
                    rx.bytes.clear();
                }
            }
            let ack = ClientMsg::Ack {
                offset: rx.pos().unwrap_or(0),
            };
            ws.send(Message::Text(ack.to_json().into())).await?;
        }
        Message::Text(t) => {
            if let ServerMsg::Status { state } = ServerMsg::from_json(&t)? {
                if state.is_final() {
                    bail!("the session ended: {state:?}");
                }
            }
        }
        Message::Close(_) => return Ok(false),
        _ => {}
    }
    Ok(true)
}

async fn wait_for(ws: &mut Ws, rx: &mut Received, needle: &[u8]) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let from = rx.bytes.len().saturating_sub(4096);
    loop {
        if rx.bytes[from.min(rx.bytes.len())..]
            .windows(needle.len())
            .any(|w| w == needle)
            || rx.bytes.windows(needle.len()).any(|w| w == needle)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{:?} did not arrive within {WAIT:?}",
                String::from_utf8_lossy(needle)
            );
        }
        if !pump(ws, rx, Duration::from_millis(200)).await? {
            bail!(
                "socket closed while waiting for {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

async fn input(ws: &mut Ws, data: &str) -> Result<()> {
    let m = ClientMsg::Input { data: data.into() };
    ws.send(Message::Text(m.to_json().into())).await?;
    Ok(())
}

/// What one session's run produced.
struct Outcome {
    witness: Received,
    actor: Received,
    expected: Vec<String>,
    error: Option<String>,
}

async fn witness_task(
    api: Api,
    session: String,
    mut stop: tokio::sync::watch::Receiver<Option<u64>>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<Received> {
    let (mut ws, _) = connect(&api, &session, None).await?;
    let _ = ready.send(());
    let mut rx = Received::default();
    loop {
        // Told to stop at an offset: read until there.
        let target = *stop.borrow();
        if let Some(end) = target {
            let deadline = Instant::now() + WAIT;
            while rx.pos().unwrap_or(0) < end {
                if Instant::now() > deadline {
                    bail!("the witness stopped at {:?} before {end}", rx.pos());
                }
                if !pump(&mut ws, &mut rx, Duration::from_millis(200)).await? {
                    bail!("the witness's socket closed");
                }
            }
            let _ = ws.close(None).await;
            return Ok(rx);
        }
        tokio::select! {
            r = pump(&mut ws, &mut rx, Duration::from_millis(500)) => {
                if !r? {
                    bail!("the witness's socket closed");
                }
            }
            _ = stop.changed() => {}
        }
    }
}

async fn actor_task(
    api: Api,
    session: String,
    sid: usize,
    until: Instant,
    seed: u64,
    counters: Arc<Counters>,
    expected: Arc<Mutex<Vec<String>>>,
) -> Result<Received> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rx = Received::default();
    let mut n = 0u64;
    let mut first = true;
    loop {
        let resume = rx.pos();
        let (mut ws, resumed) = connect(&api, &session, resume).await?;
        if resume.is_some() && !resumed {
            bail!("resume at {resume:?} was refused (the log should still hold it)");
        }
        if !first {
            counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        let last = Instant::now() >= until;
        let typed = if last { 1 } else { rng.random_range(1..=5) };
        for _ in 0..typed {
            n += 1;
            let want = format!("S{sid}-{n}-{}", n * 3);
            input(&mut ws, &format!("echo S{sid}-{n}-$(({n}*3))\r")).await?;
            wait_for(&mut ws, &mut rx, want.as_bytes()).await?;
            expected.lock().unwrap().push(want);
            counters.commands.fetch_add(1, Ordering::Relaxed);
            let pause = Duration::from_millis(rng.random_range(0..1500));
            let end = Instant::now() + pause;
            while Instant::now() < end {
                if !pump(&mut ws, &mut rx, end - Instant::now()).await? {
                    bail!("socket closed while idle");
                }
            }
        }
        if last {
            let _ = ws.close(None).await;
            return Ok(rx);
        }
        match rng.random_range(0..3) {
            0 => {
                let _ = ws.close(None).await;
            }
            1 => drop(ws), // vanishes: no close frame
            _ => {
                // Leaves in the middle of a burst of output, and comes back for the rest.
                input(&mut ws, "seq 1 300\r").await?;
                let _ = pump(&mut ws, &mut rx, Duration::from_millis(30)).await?;
                counters.mid_output_drops.fetch_add(1, Ordering::Relaxed);
                drop(ws);
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..2000))).await;
    }
}

async fn run_session(
    api: Api,
    session: String,
    sid: usize,
    until: Instant,
    seed: u64,
    counters: Arc<Counters>,
) -> Outcome {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let witness = tokio::spawn(witness_task(
        api.clone(),
        session.clone(),
        stop_rx,
        ready_tx,
    ));
    // The witness is attached before the actor, so it sees everything the actor sees.
    let _ = ready_rx.await;
    let expected = Arc::new(Mutex::new(Vec::new()));
    let actor = actor_task(api, session, sid, until, seed, counters, expected.clone()).await;
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

    let mut sim = Proc(
        Command::new(&args.bin)
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--user",
                "soak",
                "--password-env",
                "SOAK_PW",
            ])
            .args(["--max-shells", &(args.sessions + 50).to_string()])
            .env("SOAK_PW", PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting winrelay sim")?,
    );
    let v = read_lines(&mut sim.0, &["endpoint: ", "fingerprint: "])?;
    let cfg = dir.join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sessions]\nmax_sessions = {}\nidle_timeout = \"2h\"\n\n[[target]]\nname = \"soak\"\n\
             endpoint = \"{}\"\nuser = \"soak\"\npassword_env = \"SOAK_PW\"\npin = \"{}\"\n",
            args.sessions + 50,
            v[0],
            v[1]
        ),
    )?;
    let log = std::fs::File::create(dir.join("relay.log"))?;
    let mut relay = Proc(
        Command::new(&args.bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .env("SOAK_PW", PASSWORD)
            .env("WINRELAY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting winrelay serve")?,
    );
    let v = read_lines(&mut relay.0, &["listening: ", "open: "])?;
    let (base, login) = (v[0].clone(), v[1].clone());
    let relay_pid = relay.0.id();
    let sim_pid = sim.0.id();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http.get(&login).send().await?;
    let cookie = resp
        .headers()
        .get("set-cookie")
        .context("the login link set no cookie")?
        .to_str()?
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let api = Api { http, base, cookie };

    let rss_start = rss_kb(relay_pid);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(args.sessions);
    for chunk in (0..args.sessions).collect::<Vec<_>>().chunks(10) {
        let mut futs = Vec::new();
        for _ in chunk {
            let api = api.clone();
            futs.push(async move {
                let r = api
                    .req(reqwest::Method::POST, "/api/sessions")
                    .json(&serde_json::json!({"target": "soak", "cols": 120, "rows": 40}))
                    .send()
                    .await?;
                let status = r.status();
                let body: serde_json::Value = r.json().await?;
                if status != 201 {
                    bail!("creating a session: {status} {body}");
                }
                Ok::<String, anyhow::Error>(body["id"].as_str().unwrap_or_default().to_string())
            });
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
            api.clone(),
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
        let r = api
            .req(reqwest::Method::DELETE, &format!("/api/sessions/{id}"))
            .send()
            .await?;
        if !r.status().is_success() {
            errors.push(format!("deleting session {id}: {}", r.status()));
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
