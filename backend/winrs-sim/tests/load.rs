//! Volume and concurrency: 50 MB of output arrives whole and in order; 100 shells at once.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};
use wsman::SignalCode;

const FIFTY_MB: usize = 50 * 1024 * 1024;

/// What `seq 1 N | head -c 50MiB` prints.
fn expected_output() -> Vec<u8> {
    let mut v = Vec::with_capacity(FIFTY_MB + 16);
    let mut i = 1u64;
    while v.len() < FIFTY_MB {
        v.extend_from_slice(format!("{i}\n").as_bytes());
        i += 1;
    }
    v.truncate(FIFTY_MB);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_arrive_complete_and_in_order() {
    let (sim, mut client) = start(config()).await;
    client.max_envelope_size = 512_000;
    let shell = client.shell().await;
    let id = client
        .command(
            &shell,
            "cmd",
            &[&format!("/c seq 1 10000000 | head -c {FIFTY_MB}")],
            false,
        )
        .await
        .unwrap();
    let started = Instant::now();
    let out = client.receive_all(&shell, &id).await;
    let elapsed = started.elapsed();
    let want = expected_output();
    assert_eq!(out.stdout.len(), want.len());
    assert_eq!(
        Sha256::digest(&out.stdout),
        Sha256::digest(&want),
        "bytes differ or are out of order"
    );
    assert!(out.stderr.is_empty());
    assert_eq!(out.exit_code, 0);
    eprintln!(
        "50 MiB in {} responses, {:.2?} ({:.1} MB/s)",
        out.responses,
        elapsed,
        FIFTY_MB as f64 / 1e6 / elapsed.as_secs_f64()
    );
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_process_is_back_pressured() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    // `yes` never stops; without back-pressure the simulator would buffer without bound.
    let id = client
        .command(
            &shell,
            "cmd",
            &["/c", "echo $$; exec yes 0123456789"],
            false,
        )
        .await
        .unwrap();
    let first = client.receive(&shell, &id).await.unwrap();
    let mut out = Output::default();
    assert_eq!(out.absorb(first), None);
    let pid: i32 = out.stdout_text().lines().next().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let written = written_bytes(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        written_bytes(pid),
        written,
        "the process kept writing: nothing holds it back"
    );
    // 4 MiB waiting in the simulator, plus the pipe and one read buffer, plus what was received.
    let bound = 4 * 1024 * 1024 + 1024 * 1024 + out.stdout.len() as u64;
    assert!(
        written <= bound,
        "{written} bytes written, more than {bound}"
    );
    // It goes on when the client receives.
    let more = client.receive(&shell, &id).await.unwrap();
    assert_eq!(out.absorb(more), None);
    assert!(eventually(Duration::from_secs(5), || written_bytes(pid) > written).await);
    client
        .signal(&shell, &id, SignalCode::Terminate)
        .await
        .unwrap();
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

/// Bytes a process has written so far (`wchar` of /proc/PID/io).
fn written_bytes(pid: i32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    let line = io.lines().find(|l| l.starts_with("wchar:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_shells_at_once() {
    let mut cfg = config();
    cfg.max_shells_per_user = 100;
    let (sim, client) = start(cfg).await;
    let client = std::sync::Arc::new(client);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let shell = client.shell().await;
            let id = client
                .command(
                    &shell,
                    "cmd",
                    &[&format!("/c sleep 1; echo shell {i}")],
                    false,
                )
                .await
                .unwrap();
            let out = client.receive_all(&shell, &id).await;
            (i, shell, out)
        }));
    }
    let mut shells = Vec::new();
    for t in tasks {
        let (i, shell, out) = t.await.unwrap();
        assert_eq!(out.stdout_text(), format!("shell {i}\n"));
        assert_eq!(out.exit_code, 0);
        shells.push(shell);
    }
    // All 100 were open at once: none had been deleted yet.
    assert_eq!(sim.shell_count(), 100);
    let elapsed = started.elapsed();
    eprintln!("100 concurrent shells, each sleeping 1 s: {elapsed:.2?}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    for s in shells {
        client.delete(&s).await.unwrap();
    }
    assert_eq!(sim.shell_count(), 0);
    sim.shutdown().await;
}
