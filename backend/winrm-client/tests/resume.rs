//! Acknowledged output and continuing a command by id: a relay stores response `n`, then
//! acknowledges it; whoever continues the command resumes at the first unstored response, and
//! every byte arrives once, in order.

mod common;

use std::time::Duration;

use common::*;
use winrm_client::{Output, OutputEvent, OutputStream, ShellOptions, StartOptions};

fn acknowledged() -> StartOptions {
    StartOptions {
        acknowledged: true,
        ..StartOptions::default()
    }
}

/// The output of one Receive response: everything up to its marker, and its number.
async fn next_response(out: &mut OutputStream) -> (Vec<Output>, u64) {
    let mut items = vec![];
    let fut = async {
        loop {
            match out.recv_event().await {
                Some(Ok(OutputEvent::Output(o))) => items.push(o),
                Some(Ok(OutputEvent::Received(n))) => return n,
                other => panic!("expected output or a marker, got {other:?}"),
            }
        }
    };
    let n = tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .expect("a response within 15 s");
    (items, n)
}

/// stdout bytes of some output items (stderr must be empty), and whether they end the command.
fn bytes_of(items: &[Output]) -> (Vec<u8>, bool) {
    let mut bytes = vec![];
    let mut exited = false;
    for item in items {
        match item {
            Output::Stdout(b) => bytes.extend_from_slice(b),
            Output::Stderr(b) => panic!("stderr: {:?}", String::from_utf8_lossy(b)),
            Output::Exited(code) => {
                assert_eq!(*code, 0);
                exited = true;
            }
        }
    }
    (bytes, exited)
}

/// Reads and acknowledges responses until the command exits; returns their stdout.
async fn ack_to_the_end(out: &mut OutputStream, mut expect: u64) -> Vec<u8> {
    let acker = out.acker().expect("acknowledged mode");
    let mut all = vec![];
    loop {
        let (items, n) = next_response(out).await;
        assert_eq!(n, expect, "responses are numbered one after another");
        let (bytes, exited) = bytes_of(&items);
        all.extend_from_slice(&bytes);
        assert!(acker.ack(n));
        if exited {
            assert!(out.recv_event().await.is_none(), "nothing after the end");
            return all;
        }
        expect += 1;
    }
}

const LINES: &str = "echo one; sleep 0.3; echo two; sleep 0.3; echo three; sleep 0.3; echo four";
const LINES_OUT: &str = "one\ntwo\nthree\nfour\n";

#[tokio::test]
async fn an_unacknowledged_response_is_received_again_by_whoever_resumes() {
    let sim = sim().await;
    let a = client(&sim);
    let shell = a.open_shell(ShellOptions::default()).await.unwrap();
    let cmd = shell
        .start_with("cmd", ["/c", LINES], acknowledged())
        .await
        .unwrap();
    let (shell_id, command_id) = (shell.id().to_string(), cmd.id().to_string());
    let (_input, mut out) = cmd.into_split();
    let acker = out.acker().unwrap();
    assert!(!acker.ack(0), "nothing handed out yet");
    let (first, n) = next_response(&mut out).await;
    assert_eq!(n, 0);
    assert!(!acker.ack(1), "response 1 has not been handed out");
    // Unacknowledged, the loop asks for nothing more.
    assert!(
        tokio::time::timeout(Duration::from_millis(1200), out.recv_event())
            .await
            .is_err(),
        "no output may follow an unacknowledged response"
    );
    // A relay dies, or hands the session on: the shell stays on the server.
    drop(out);
    drop(_input);
    assert_eq!(shell.forget(), shell_id);
    assert!(a.open_shell_ids().is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.shell_count(), 1, "forget must not delete the shell");

    let b = client(&sim);
    let (shell_b, input_b, mut out_b) = b.resume_command(&shell_id, &command_id, 0).await.unwrap();
    assert_eq!(input_b.command_id(), command_id);
    assert_eq!(input_b.shell_id(), shell_id);
    assert_eq!(b.open_shell_ids(), vec![shell_id.clone()]);
    let (again, n) = next_response(&mut out_b).await;
    assert_eq!(n, 0);
    assert_eq!(again, first, "the same response, byte for byte");
    out_b.acker().unwrap().ack(0);
    let rest = ack_to_the_end(&mut out_b, 1).await;
    let mut all = bytes_of(&first).0;
    all.extend_from_slice(&rest);
    assert_eq!(String::from_utf8(all).unwrap(), LINES_OUT);
    drop(input_b);
    shell_b.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn resuming_after_the_stored_responses_repeats_nothing() {
    let sim = sim().await;
    let a = client(&sim);
    let shell = a.open_shell(ShellOptions::default()).await.unwrap();
    let cmd = shell
        .start_with("cmd", ["/c", LINES], acknowledged())
        .await
        .unwrap();
    let (shell_id, command_id) = (shell.id().to_string(), cmd.id().to_string());
    let (_input, mut out) = cmd.into_split();
    let acker = out.acker().unwrap();
    let mut stored = vec![];
    for want in 0..2 {
        let (items, n) = next_response(&mut out).await;
        assert_eq!(n, want);
        let (bytes, exited) = bytes_of(&items);
        assert!(!exited, "the command ends later");
        stored.extend_from_slice(&bytes);
        if n == 0 {
            assert!(acker.ack(0));
            assert!(!acker.ack(0), "already acknowledged");
        }
        // Response 1 is stored but the relay dies before acknowledging it.
    }
    assert_eq!(acker.acknowledged(), Some(0));
    drop(out);
    shell.forget();

    let b = client(&sim);
    let (shell_b, _input_b, mut out_b) = b.resume_command(&shell_id, &command_id, 2).await.unwrap();
    let rest = ack_to_the_end(&mut out_b, 2).await;
    stored.extend_from_slice(&rest);
    assert_eq!(String::from_utf8(stored).unwrap(), LINES_OUT);
    shell_b.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn a_large_output_handed_over_mid_way_arrives_exactly_once() {
    let sim = sim().await;
    let a = client(&sim);
    let shell = a.open_shell(ShellOptions::default()).await.unwrap();
    let cmd = shell
        .start_with("cmd", ["/c", "seq 1 200000"], acknowledged())
        .await
        .unwrap();
    let expected: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
    let (shell_id, command_id) = (shell.id().to_string(), cmd.id().to_string());
    let (_input, mut out) = cmd.into_split();
    let acker = out.acker().unwrap();
    // A stores and acknowledges five responses, then receives a sixth it never stores.
    let mut stored = vec![];
    for want in 0..5 {
        let (items, n) = next_response(&mut out).await;
        assert_eq!(n, want);
        let (bytes, exited) = bytes_of(&items);
        assert!(!exited && !bytes.is_empty());
        stored.extend_from_slice(&bytes);
        assert!(acker.ack(n));
    }
    let (lost, n) = next_response(&mut out).await;
    assert_eq!(n, 5);
    assert!(stored.len() < expected.len() / 2, "handed over mid-way");
    drop(out);
    shell.forget();

    let b = client(&sim);
    let (shell_b, _input_b, mut out_b) = b.resume_command(&shell_id, &command_id, 5).await.unwrap();
    let (again, n) = next_response(&mut out_b).await;
    assert_eq!((n, &again), (5, &lost), "the unstored response comes again");
    stored.extend_from_slice(&bytes_of(&again).0);
    out_b.acker().unwrap().ack(5);
    let rest = ack_to_the_end(&mut out_b, 6).await;
    stored.extend_from_slice(&rest);
    assert_eq!(stored.len(), expected.len());
    assert!(stored == expected.as_bytes(), "every byte once, in order");
    shell_b.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn wait_acknowledges_by_itself_and_recv_skips_the_markers() {
    let sim = sim().await;
    let c = client(&sim);
    let shell = c.open_shell(ShellOptions::default()).await.unwrap();
    let out = shell
        .start_with("cmd", ["/c", "echo a; sleep 0.2; echo b"], acknowledged())
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!((out.stdout.as_slice(), out.exit_code), (&b"a\nb\n"[..], 0));
    // The default mode has no markers and no acker.
    let mut cmd = shell.start("cmd", ["/c", "echo c"]).await.unwrap();
    assert!(cmd.acker().is_none());
    assert_eq!(
        cmd.recv_event().await.unwrap().unwrap(),
        OutputEvent::Output(Output::Stdout("c\n".into()))
    );
    assert_eq!(
        cmd.recv_event().await.unwrap().unwrap(),
        OutputEvent::Output(Output::Exited(0))
    );
    shell.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn resuming_an_unknown_shell_is_an_error_on_the_stream() {
    let sim = sim().await;
    let c = client(&sim);
    assert!(c.resume_command("", "C", 0).await.is_err());
    let (shell, _input, mut out) = c
        .resume_command("00000000-0000-0000-0000-000000000000", "C", 3)
        .await
        .unwrap();
    let err = out.recv_event().await.unwrap().unwrap_err();
    assert!(
        matches!(err, winrm_client::Error::ShellGone { .. }),
        "{err:?}"
    );
    assert!(out.recv_event().await.is_none());
    shell.forget();
}
