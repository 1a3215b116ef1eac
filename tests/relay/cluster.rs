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
        let sim = Sim::start("svc", "cluster-pw");
        let redis = Redis::start();
        let config = Cluster::config_for(&sim, &redis.url());
        Cluster { sim, redis, config }
    }

    fn config_for(sim: &Sim, redis: &str) -> std::path::PathBuf {
        std::env::set_var("CLUSTER_BOX_PW", "cluster-pw");
        config_file(&format!(
            "[[target]]\nname = \"box\"\nendpoint = \"{}\"\nuser = \"svc\"\npassword_env = \"CLUSTER_BOX_PW\"\npin = \"{}\"\n\n\
             [cluster]\nredis = \"{redis}\"\nlease = \"1500ms\"\n",
            sim.endpoint, sim.fingerprint
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
/// terminal: removed before counting).
fn count_lines_in_order(text: &str, n: u64, typed: &[&str]) -> Result<(), String> {
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
                return Err(format!("after {} came {v}", want - 1));
            }
        }
    }
    Err(format!("only up to {} of {n}", want - 1))
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
