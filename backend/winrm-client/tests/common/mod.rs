//! Shared set-up: a simulator on loopback and a client pinned to its certificate.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use winrm_client::{Client, ClientConfig, Output, RunningCommand, TlsMode};
use winrs_sim::{SimConfig, SimHandle};

pub const USER: &str = "tester";
pub const PASSWORD: &str = "correct horse battery staple";

pub async fn sim() -> SimHandle {
    sim_with(|_| {}).await
}

pub async fn sim_with(change: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig::new(USER, PASSWORD);
    config.listen = "127.0.0.1:0".parse().unwrap();
    change(&mut config);
    winrs_sim::start(config).await.expect("simulator starts")
}

pub fn pin_of(sim: &SimHandle) -> [u8; 32] {
    winrm_client::parse_fingerprint(&sim.fingerprint().expect("HTTPS simulator")).unwrap()
}

pub fn config(sim: &SimHandle) -> ClientConfig {
    ClientConfig::new(sim.endpoint(), USER, PASSWORD, TlsMode::Pin(pin_of(sim)))
}

pub fn client(sim: &SimHandle) -> Client {
    Client::new(config(sim)).unwrap()
}

/// Waits until the simulator has no shell left; fails after a few seconds.
pub async fn assert_no_shells(sim: &SimHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.shell_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} shell(s) leaked on the simulator",
            sim.shell_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads output until stdout contains `needle`; returns all stdout so far.
pub async fn read_until(cmd: &mut RunningCommand, needle: &str) -> String {
    let mut seen = Vec::new();
    let fut = async {
        loop {
            match cmd.recv().await {
                Some(Ok(Output::Stdout(b))) | Some(Ok(Output::Stderr(b))) => {
                    seen.extend_from_slice(&b);
                    if String::from_utf8_lossy(&seen).contains(needle) {
                        return;
                    }
                }
                other => panic!(
                    "expected {needle:?} before {other:?}; output so far: {:?}",
                    String::from_utf8_lossy(&seen)
                ),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} within 15 s"));
    String::from_utf8_lossy(&seen).into_owned()
}

/// Collects output until the exit code; returns (stdout+stderr text, exit code).
pub async fn until_exit(cmd: &mut RunningCommand) -> (String, i32) {
    let mut seen = Vec::new();
    let fut = async {
        loop {
            match cmd.recv().await {
                Some(Ok(Output::Stdout(b))) | Some(Ok(Output::Stderr(b))) => {
                    seen.extend_from_slice(&b)
                }
                Some(Ok(Output::Exited(code))) => return code,
                other => panic!("expected an exit code, got {other:?}"),
            }
        }
    };
    let code = tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .expect("the command exits within 15 s");
    (String::from_utf8_lossy(&seen).into_owned(), code)
}
