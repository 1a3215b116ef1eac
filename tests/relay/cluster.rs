//! Several relays, one set of sessions (issue 15): real `winrelay serve` processes sharing a
//! real `redis-server`, in front of one simulator.

use std::time::{Duration, Instant};

use crate::common::*;

/// A simulator, a Redis, and the configuration every relay of the cluster reads.
struct Cluster {
    sim: Sim,
    redis: Redis,
    config: std::path::PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        // Windows' default quota of 30 shells per user is raised, as it would be for a
        // service account that many people share.
        let sim = Sim::try_start(
            None,
            "127.0.0.1:0",
            "svc",
            "cluster-pw",
            &["--max-shells", "100"],
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let redis = Redis::start();
        let config = Cluster::config_for(&sim, &redis.url());
        Cluster { sim, redis, config }
    }

    fn config_for(sim: &Sim, redis: &str) -> std::path::PathBuf {
        std::env::set_var("CLUSTER_BOX_PW", "cluster-pw");
        config_file(&format!(
            "[[target]]\nname = \"box\"\nendpoint = \"{ep}\"\nuser = \"svc\"\npassword_env = \"CLUSTER_BOX_PW\"\npin = \"{fp}\"\n\n\
             [[target]]\nname = \"ps\"\nshell = \"powershell\"\nendpoint = \"{ep}\"\nuser = \"svc\"\npassword_env = \"CLUSTER_BOX_PW\"\npin = \"{fp}\"\n\n\
             [cluster]\nredis = \"{redis}\"\nlease = \"1500ms\"\n",
            ep = sim.endpoint,
            fp = sim.fingerprint
        ))
    }

    fn relay(&self) -> Relay {
        Relay::start(&["--config", self.config.to_str().unwrap()])
    }
}

/// The lines a terminal would show: escape sequences removed, and of each line what
/// follows its last carriage return (the line discipline redraws a line being typed while
/// output arrives with `\r` and erase-line).
fn visible_lines(text: &str) -> Vec<String> {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            plain.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                for c in chars.by_ref() {
                    if c == '\x07' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    plain
        .split('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.rsplit('\r').next().unwrap_or("").to_string()
        })
        .collect()
}

/// Every line `n` of `seq 1 n`, once and in order, in `text`, where the lines in `typed`
/// were typed meanwhile (their local echo lands where the cursor was, mid-line, as on any
/// terminal: removed before counting). The error shows the bytes around the first wrong line.
fn count_lines_in_order(text: &str, n: u64, typed: &[&str]) -> Result<(), String> {
    count_lines(text, n, typed).map_err(|(e, last)| {
        let at = text.find(&format!("\n{last}\r")).unwrap_or(0);
        format!(
            "{e}; around it: {:?}",
            &text[at..(at + 200).min(text.len())]
        )
    })
}

fn count_lines(text: &str, n: u64, typed: &[&str]) -> Result<(), (String, u64)> {
    let mut text = text.to_string();
    for t in typed {
        text = text.replace(&format!("{t}\r\n"), "");
    }
    let mut want = 1u64;
    for line in visible_lines(&text) {
        let line = line.trim();
        if line == want.to_string() {
            want += 1;
            if want > n {
                return Ok(());
            }
        } else if let Ok(v) = line.parse::<u64>() {
            if (1..=n).contains(&v) {
                return Err((format!("after {} came {v}", want - 1), want - 1));
            }
        }
    }
    Err((format!("only up to {} of {n}", want - 1), want - 1))
}

#[tokio::test]
async fn a_session_opened_on_one_relay_is_served_by_every_relay() {
    let cluster = Cluster::start();
    let (a, b, c) = (cluster.relay(), cluster.relay(), cluster.relay());
    let (ua, ub, uc) = (a.sign_in().await, b.sign_in().await, c.sign_in().await);
    let s = ua.create_session("box").await;

    // Listed on every relay.
    for u in [&ub, &uc] {
        let list: Vec<serde_json::Value> = u
            .get("/api/sessions")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            list.iter().any(|x| x["id"] == s.id.as_str()),
            "listed on another relay: {list:?}"
        );
    }
    let mut on_a = ua.attach(&s.id, None).await;
    let mut on_b = ub.attach(&s.id, None).await;
    let mut on_c = uc.attach(&s.id, None).await;
    for cl in [&mut on_a, &mut on_b, &mut on_c] {
        cl.welcome().await;
    }
    // Typing through B reaches the shell that A drives; everyone sees the same bytes.
    on_b.input("echo through-$((40+2))\r").await;
    for cl in [&mut on_a, &mut on_b, &mut on_c] {
        cl.wait_for("through-42", T).await;
    }
    on_c.input("echo and-from-c\r").await;
    for cl in [&mut on_a, &mut on_b, &mut on_c] {
        cl.wait_for("and-from-c", T).await;
        cl.drain(Duration::from_millis(300)).await;
    }
    assert_eq!(
        on_a.raw_text(),
        on_b.raw_text(),
        "A and B show the same bytes"
    );
    assert_eq!(
        on_a.raw_text(),
        on_c.raw_text(),
        "A and C show the same bytes"
    );
    assert!(on_b.pos() > 0 && on_b.pos() == on_a.pos(), "same offsets");

    // Presence spans the relays: A's owner sees the clients of B and C.
    let info: serde_json::Value = ua
        .get(&format!("/api/sessions/{}", s.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["clients"].as_array().unwrap().len(), 3, "{info}");
    assert_eq!(cluster.sim.children().len(), 1, "one remote shell");
    drop(cluster.redis);
}

/// A session is known to every relay once its creation answered: a browser whose WebSocket
/// a load balancer sends to another relay never meets a 404. Redis holds writes back for a
/// while (reads go on), so the new session's registration is slow.
#[tokio::test]
async fn a_new_session_is_known_to_every_relay_when_its_creation_answers() {
    let cluster = Cluster::start();
    let (a, b) = (cluster.relay(), cluster.relay());
    let user = a.sign_in().await;
    let on_b = User::with_cookie(&b.base, &user.cookie).unwrap();
    assert_eq!(on_b.get("/api/me").send().await.unwrap().status(), 200);
    assert_eq!(
        cluster.redis.command(&["CLIENT", "PAUSE", "800", "WRITE"]),
        "+OK"
    );
    let s = user.create_session("box").await;
    let got = on_b
        .get(&format!("/api/sessions/{}", s.id))
        .send()
        .await
        .unwrap();
    let status = got.status();
    assert_eq!(
        status,
        200,
        "B knows the new session: {}",
        got.text().await.unwrap()
    );
    let mut on_b = Client::attach(attach_at(&b.ws_base(), &user.cookie, &s.id))
        .await
        .unwrap();
    on_b.welcome().await;
    on_b.input("echo via-b-$((6*7))\r").await;
    on_b.wait_for("via-b-42", T).await;
}

#[tokio::test]
async fn the_owner_killed_mid_output_loses_nothing_and_another_relay_adopts() {
    let cluster = Cluster::start();
    let mut a = cluster.relay();
    let b = cluster.relay();
    let (ua, ub) = (a.sign_in().await, b.sign_in().await);
    let s = ua.create_session("box").await;
    let mut on_b = ub.attach(&s.id, None).await;
    on_b.welcome().await;
    let n = 60_000u64;
    on_b.input(&format!("seq 1 {n}\r")).await;
    on_b.wait_for("\n20000", T).await;
    // kill -9 in the middle of the output.
    kill(a.child.id() as i32, 9);
    let killed = Instant::now();
    let _ = a.child.wait();
    on_b.wait_for(&format!("\n{n}\r\n"), Duration::from_secs(30))
        .await;
    if let Err(e) = count_lines_in_order(&on_b.raw_text(), n, &[]) {
        let log = b.log();
        let tail: Vec<&str> = log.lines().filter(|l| l.contains("cluster")).collect();
        panic!("{e}\nB's log:\n{}", tail.join("\n"));
    }
    on_b.input("echo after-$((6*7))\r").await;
    if let Err(e) = on_b
        .try_wait_for(b"after-42", Duration::from_secs(30))
        .await
    {
        let log = b.log();
        let tail: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("cluster") || l.contains("WARN") || l.contains("ERROR"))
            .collect();
        panic!(
            "{e:#}\nB's log:\n{}\nB's screen ends: {:?}",
            tail.join("\n"),
            &on_b.text()[on_b.text().len().saturating_sub(300)..]
        );
    }
    let adopted_in = killed.elapsed();
    let text = on_b.raw_text();
    count_lines_in_order(&text, n, &["echo after-$((6*7))"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        b.log().contains("adopted a session"),
        "B adopted it: {}",
        b.log()
    );
    assert_eq!(cluster.sim.children().len(), 1, "exactly one remote shell");
    eprintln!("adopted and answering within {adopted_in:?} of kill -9");
}

/// Where a client attaches on relay `base` (a load balancer's choice), with `cookie`.
fn attach_at(ws_base: &str, cookie: &str, id: &str) -> Attach {
    Attach::new(format!("{ws_base}/api/sessions/{id}/ws")).cookie(cookie)
}

/// One session's typist for the rolling restart: types numbered lines and waits for each
/// answer; when its relay goes away it reconnects through another one, resuming where its
/// cursor is (a line typed into a relay that was stopping may be typed again).
async fn typist(
    i: usize,
    id: String,
    cookie: String,
    relays: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    lines: usize,
) -> Result<Client, String> {
    let pick = |k: usize| {
        let r = relays.lock().unwrap();
        r[(i + k) % r.len()].clone()
    };
    let mut hops = 0usize;
    let mut c = Client::attach(attach_at(&pick(hops), &cookie, &id).resume_from(None))
        .await
        .map_err(|e| format!("session {i}: attach: {e}"))?;
    for k in 0..lines {
        let want = format!("S{i}K{k}=2ok");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Typed (again, after a reconnect: the first may have died with its relay).
            let _ = c.try_input(&format!("echo S{i}K{k}=$((1+1))ok\r")).await;
            match c
                .try_wait_for(want.as_bytes(), Duration::from_secs(4))
                .await
            {
                Ok(()) => break,
                Err(_) if Instant::now() > deadline => {
                    let raw = c.raw_text();
                    return Err(format!(
                        "session {i}: no answer to line {k} within 60 s ({hops} hops); screen ends {:?}",
                        &raw[raw.len().saturating_sub(400)..]
                    ));
                }
                Err(_) => {
                    // The relay went away (or the line was typed into one that was
                    // stopping): go through another, resuming exactly.
                    hops += 1;
                    let pos = c.pos();
                    let _ = c
                        .reconnect_to(attach_at(&pick(hops), &cookie, &id).resume_from(Some(pos)))
                        .await;
                }
            }
        }
    }
    Ok(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_relay_keeps_every_session() {
    let cluster = Cluster::start();
    let mut relays: Vec<Relay> = (0..3).map(|_| cluster.relay()).collect();
    let user = relays[0].sign_in().await;
    let sessions: usize = std::env::var("CLUSTER_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    // Sessions opened on every relay (one sign-in works on all of them).
    let mut ids = Vec::new();
    for i in 0..sessions {
        let mut u = User::with_cookie(&relays[i % 3].base, &user.cookie).unwrap();
        u.ws = relays[i % 3].ws_base();
        ids.push(u.create_session("box").await.id);
    }
    assert_eq!(cluster.sim.children().len(), sessions);
    let bases = std::sync::Arc::new(std::sync::Mutex::new(
        relays.iter().map(|r| r.ws_base()).collect::<Vec<_>>(),
    ));
    let lines = 12;
    let typists: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            tokio::spawn(typist(
                i,
                id.clone(),
                user.cookie.clone(),
                bases.clone(),
                lines,
            ))
        })
        .collect();
    // Restart each relay in turn while they type.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (k, relay) in relays.iter_mut().enumerate() {
        let status = relay.terminate();
        assert!(
            status.success(),
            "relay {k} exits cleanly on SIGTERM: {status}"
        );
        *relay = cluster.relay();
        bases.lock().unwrap()[k] = relay.ws_base();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut clients = Vec::new();
    for t in typists {
        clients.push(t.await.unwrap().unwrap_or_else(|e| panic!("{e}")));
    }
    // Every answer arrived; nothing ended; no shell leaked or was lost.
    for (i, c) in clients.iter().enumerate() {
        let text = c.raw_text();
        for k in 0..lines {
            assert!(
                text.contains(&format!("S{i}K{k}=2ok")),
                "session {i} line {k}"
            );
        }
        // Every reconnect resumed exactly where the client was: no snapshot, so no byte
        // was skipped (the cursor refuses a frame that does not continue its offset).
        assert_eq!(c.snapshots, 0, "session {i} resumed exactly each time");
    }
    let list: Vec<serde_json::Value> = User::with_cookie(&relays[1].base, &user.cookie)
        .unwrap()
        .get("/api/sessions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let live = list
        .iter()
        .filter(|s| s["state"]["state"] == "connected")
        .count();
    let odd: Vec<String> = list
        .iter()
        .filter(|s| s["state"]["state"] != "connected")
        .map(|s| format!("{} {}", s["id"], s["state"]))
        .collect();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !list.iter().any(|s| s["id"] == id.as_str()))
        .collect();
    assert_eq!(
        live, sessions,
        "every session still runs; not connected: {odd:?}; not listed: {missing:?}"
    );
    assert_eq!(
        cluster.sim.children().len(),
        sessions,
        "no shell leaked or lost"
    );
}

/// `GET /readyz` of a relay: status and body.
async fn readyz(base: &str) -> (u16, String) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn redis_killed_and_restarted_empty_the_owner_keeps_serving_and_registers_again() {
    let mut cluster = Cluster::start();
    let (a, b, c) = (cluster.relay(), cluster.relay(), cluster.relay());
    let user = a.sign_in().await;
    // C has seen this sign-in (it keeps working there while Redis is away).
    let on_c_user = User::with_cookie(&c.base, &user.cookie).unwrap();
    assert_eq!(on_c_user.get("/api/me").send().await.unwrap().status(), 200);
    let s = user.create_session("box").await;
    let mut on_a = user.attach(&s.id, None).await;
    let mut on_b = Client::attach(attach_at(&b.ws_base(), &user.cookie, &s.id))
        .await
        .unwrap();
    on_a.input("echo before-$((1+1))\r").await;
    on_b.wait_for("before-2", T).await;

    cluster.redis.kill();
    // The owner's own clients stay attached and type; the answer waits at the target until
    // it can be stored (acknowledging output Redis does not hold would lose it if this
    // relay died, or if another relay took over meanwhile).
    on_a.input("echo during-$((2+2))\r").await;
    // Both relays say Redis is away; a new cross-relay attach is refused with a clear error.
    let deadline = Instant::now() + Duration::from_secs(10);
    while readyz(&a.base).await.0 != 503 {
        assert!(Instant::now() < deadline, "readyz reports the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(readyz(&a.base).await.1.contains("redis unreachable"));
    let r = on_c_user
        .get(&format!("/api/sessions/{}", s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "no new cross-relay attach without Redis");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "cluster_unavailable", "{body}");

    // Redis comes back without its data: the owner registers the session again, with its
    // log, and the other relay's client goes on where it was.
    cluster.redis.restart();
    if let Err(e) = on_a
        .try_wait_for(b"during-4", Duration::from_secs(30))
        .await
    {
        let log = a.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("cluster") || l.contains("WARN") || l.contains("client"))
            .collect();
        panic!(
            "{e:#}\nA's screen: {:?}\nA's messages: {:?}\nA's log:\n{}",
            on_a.raw_text(),
            on_a.messages,
            lines.join("\n")
        );
    }
    on_b.wait_for("during-4", Duration::from_secs(30)).await;
    on_b.input("echo after-$((3+3))\r").await;
    if on_a.try_wait_for(b"after-6", T).await.is_err() {
        let log = a.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("cluster") || l.contains("WARN"))
            .collect();
        panic!(
            "A: {:?}\nB: {:?}\nA's log:\n{}",
            on_a.raw_text(),
            on_b.raw_text(),
            lines.join("\n")
        );
    }
    on_b.wait_for("after-6", T).await;
    assert_eq!(
        on_a.raw_text(),
        on_b.raw_text(),
        "the same bytes on both relays"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while readyz(&a.base).await.0 != 200 {
        assert!(Instant::now() < deadline, "readyz recovers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cluster.sim.children().len(), 1, "one shell throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_cut_off_from_redis_is_replaced_and_never_writes_again() {
    let cluster = Cluster::start();
    let gate = Gate::start(cluster.redis.port).await;
    let cut_config =
        Cluster::config_for(&cluster.sim, &format!("redis://127.0.0.1:{}/0", gate.port));
    let a = Relay::start(&["--config", cut_config.to_str().unwrap()]);
    let b = cluster.relay();
    let user = a.sign_in().await;
    let s = user.create_session("box").await;
    let mut on_a = user.attach(&s.id, None).await;
    let mut on_b = Client::attach(attach_at(&b.ws_base(), &user.cookie, &s.id))
        .await
        .unwrap();
    on_b.input("echo one-$((0+1))\r").await;
    on_a.wait_for("one-1", T).await;
    on_b.wait_for("one-1", T).await;

    // A loses Redis (B does not): its lease lapses and B adopts the session.
    gate.cut();
    let cut_at = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.log().contains("adopted a session") {
        assert!(
            Instant::now() < deadline,
            "B adopts the session of a cut-off owner"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("adopted {:?} after the cut", cut_at.elapsed());
    on_b.input("echo two-$((1+1))\r").await;
    on_b.wait_for("two-2", T).await;

    // A comes back: fenced, it lets go of the shell and its client is sent elsewhere.
    gate.open();
    let (reason, reconnect) = on_a.wait_bye(Duration::from_secs(20)).await;
    assert!(reconnect, "told to reconnect: {reason}");
    assert!(
        a.log().contains("another relay took this session over"),
        "A knows it lost it"
    );
    on_b.input("echo three-$((1+2))\r").await;
    on_b.wait_for("three-3", T).await;
    let text = on_b.raw_text();
    for w in ["one-1", "two-2", "three-3"] {
        assert_eq!(
            text.matches(&format!("{w}\r\n")).count(),
            1,
            "{w} once: {text:?}"
        );
    }
    assert_eq!(
        cluster.sim.children().len(),
        1,
        "A did not delete the shell B drives"
    );
}

#[tokio::test]
async fn a_share_link_made_and_revoked_through_another_relay() {
    let cluster = Cluster::start();
    let (a, b) = (cluster.relay(), cluster.relay());
    let owner = a.sign_in().await;
    let s = owner.create_session("box").await;
    // The owner makes a viewer link through B; a guest opens it on A.
    let mut via_b = User::with_cookie(&b.base, &owner.cookie).unwrap();
    via_b.ws = b.ws_base();
    let token = via_b.share(&s.id, "viewer").await;
    let mut guest = Client::attach(Attach::new(format!(
        "{}/api/sessions/{}/ws?share={token}",
        a.ws_base(),
        s.id
    )))
    .await
    .unwrap();
    let (_, role, _) = guest.welcome().await;
    assert_eq!(role, winrelay_shared::protocol::Role::Viewer);
    let listed: Vec<serde_json::Value> = owner
        .get(&format!("/api/sessions/{}/shares", s.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the link made on B is listed on A: {listed:?}"
    );
    let id = listed[0]["id"].as_str().unwrap().to_string();
    // Revoked through B: the guest on A is removed, and the link is dead everywhere.
    let r = via_b
        .delete(&format!("/api/sessions/{}/shares/{id}", s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (reason, reconnect) = guest.wait_bye(T).await;
    assert!(!reconnect && reason.contains("revoked"), "{reason}");
    let again = reqwest::get(format!("{}/api/sessions/{}?share={token}", b.base, s.id))
        .await
        .unwrap();
    assert_eq!(again.status(), 410, "share_ended on every relay");
}

#[tokio::test]
async fn two_relays_cannot_share_a_node_name() {
    let cluster = Cluster::start();
    let text = std::fs::read_to_string(&cluster.config).unwrap();
    let named = config_file(&text.replace("[cluster]\n", "[cluster]\nnode = \"same\"\n"));
    let _first = Relay::start(&["--config", named.to_str().unwrap()]);
    let second = Relay::builder()
        .args(["--config", named.to_str().unwrap()])
        .try_start();
    let err = format!(
        "{:#}",
        second.err().expect("the second relay must not start")
    );
    assert!(
        err.contains("another relay named \"same\" is alive"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_powershell_console_moves_between_relays_and_keeps_its_variables() {
    let cluster = Cluster::start();
    let mut a = cluster.relay();
    let mut b = cluster.relay();
    let mut c = cluster.relay();
    let user = a.sign_in().await;
    let s = user.create_session("ps").await;
    let mut on_c = Client::attach(attach_at(&c.ws_base(), &user.cookie, &s.id))
        .await
        .unwrap();
    on_c.welcome().await;
    on_c.wait_for_raw("> \x1b]133;B\x07", T).await;
    on_c.input("$x = 'kept'\r").await;
    on_c.input("Write-Output \"x is $x\"\r").await;
    on_c.wait_for("x is kept", T).await;

    // The owner dies without a word: the target marks its pool Disconnected after a while,
    // and another relay connects to it; the pool's variables are still there.
    kill(a.child.id() as i32, 9);
    let _ = a.child.wait();
    on_c.input("Write-Output \"still $x\"\r").await;
    on_c.wait_for("still kept", Duration::from_secs(60)).await;

    // The new owner is stopped (SIGTERM): it disconnects the pool, the other relay connects
    // at once; a client of the stopped relay reconnects through the other one.
    if b.log().contains("adopted a session") {
        assert!(b.terminate().success());
    } else {
        assert!(c.terminate().success());
        let pos = on_c.pos();
        on_c.reconnect_to(attach_at(&b.ws_base(), &user.cookie, &s.id).resume_from(Some(pos)))
            .await
            .unwrap();
    }
    on_c.input("Write-Output \"and $x\"\r").await;
    if let Err(e) = on_c
        .try_wait_for(b"and kept", Duration::from_secs(30))
        .await
    {
        let logs = |r: &Relay| -> String {
            r.log()
                .lines()
                .filter(|l| {
                    l.contains("cluster")
                        || l.contains("WARN")
                        || l.contains("pool")
                        || l.contains("adopt")
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!("{e:#}\nB:\n{}\nC:\n{}", logs(&b), logs(&c));
    }
    assert_eq!(
        cluster.sim.children().len(),
        0,
        "a console has no WinRS process"
    );
    let _ = (&mut a, &mut b, &mut c);
}
