//! Numbered Receives (`SequenceId`): a response is kept until the next number acknowledges
//! it, so a client that lost one (or a relay taking over from one that died) asks again.

mod common;

use std::time::Duration;

use common::*;
use wsman::{RequestBody, ResponseBody};

/// The streams and state of a Receive response (what must be identical when repeated).
fn body_of(resp: wsman::Response) -> ResponseBody {
    assert!(matches!(resp.body, ResponseBody::Received { .. }));
    resp.body
}

fn stdout_of(body: &ResponseBody) -> String {
    let ResponseBody::Received { streams, .. } = body else {
        panic!("not a ReceiveResponse")
    };
    let bytes: Vec<u8> = streams
        .iter()
        .filter(|s| s.name == "stdout")
        .flat_map(|s| s.data.clone())
        .collect();
    String::from_utf8(bytes).unwrap()
}

fn is_done(body: &ResponseBody) -> bool {
    matches!(body, ResponseBody::Received { state: Some(s), .. } if s.done)
}

#[tokio::test]
async fn a_repeated_number_repeats_the_response_and_the_next_one_moves_on() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(
            &shell,
            "cmd",
            &["/c", "echo one; sleep 0.4; echo two; sleep 0.4; echo three"],
            false,
        )
        .await
        .unwrap();
    // Any first number; the answer is "lost" and asked for again, by another client of the
    // same user (a relay taking over), twice.
    let first = body_of(client.receive_numbered(&shell, &id, 41).await.unwrap());
    assert_eq!(stdout_of(&first), "one\n");
    let other = Client::new(&sim.endpoint());
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..2 {
        let again = body_of(other.receive_numbered(&shell, &id, 41).await.unwrap());
        assert_eq!(
            again, first,
            "a repeat is identical, though more output is waiting"
        );
    }
    // Going back, or skipping ahead, is a clear fault.
    for bad in [40, 43, 0] {
        let fault = other.receive_numbered(&shell, &id, bad).await.unwrap_err();
        assert_eq!(fault.wsman_code, Some(87), "{fault:?}");
        assert!(
            fault
                .message
                .contains(&format!("SequenceId {bad} is out of order"))
                && fault.message.contains("number 41"),
            "{}",
            fault.message
        );
    }
    // 42 acknowledges 41: everything after it, once, to the end.
    let mut rest = String::new();
    let mut seq = 42;
    loop {
        match other.receive_numbered(&shell, &id, seq).await {
            Ok(resp) => {
                let body = body_of(resp);
                rest.push_str(&stdout_of(&body));
                if is_done(&body) {
                    // The end is repeated like any response.
                    let again = body_of(other.receive_numbered(&shell, &id, seq).await.unwrap());
                    assert_eq!(again, body);
                    break;
                }
                seq += 1;
            }
            Err(f) if f.is_timeout() => {}
            Err(f) => panic!("Receive {seq} failed: {f:?}"),
        }
    }
    assert_eq!(rest, "two\nthree\n");
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn receives_without_a_number_keep_nothing() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(&shell, "cmd", &["/c", "echo a; sleep 0.3; echo b"], false)
        .await
        .unwrap();
    let first = client.receive(&shell, &id).await.unwrap();
    let mut out = Output::default();
    out.absorb(first);
    let rest = client.receive_all(&shell, &id).await;
    assert_eq!(out.stdout_text() + &rest.stdout_text(), "a\nb\n");
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn two_receives_with_the_same_number_get_the_same_response() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(
            &shell,
            "cmd",
            &["/c", "sleep 0.5; echo once; sleep 600"],
            false,
        )
        .await
        .unwrap();
    let other = Client::new(&sim.endpoint());
    let (a, b) = tokio::join!(
        client.receive_numbered(&shell, &id, 0),
        other.receive_numbered(&shell, &id, 0)
    );
    let (a, b) = (body_of(a.unwrap()), body_of(b.unwrap()));
    assert_eq!(stdout_of(&a), "once\n");
    assert_eq!(a, b);
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_numbered_receive_abandoned_by_its_client_loses_nothing() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(
            &shell,
            "cmd",
            &["/c", "sleep 1; echo late; sleep 600"],
            false,
        )
        .await
        .unwrap();
    // The Receive's connection goes away while the simulator holds it: whether the simulator
    // notices before the output arrives (nothing taken) or only when it writes the response
    // (taken and kept under 0), asking for 0 again gets the output.
    let impatient = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let body = RequestBody::Receive {
        command_id: Some(id.clone()),
        streams: vec!["stdout".into(), "stderr".into()],
        sequence_id: Some(0),
    };
    let xml = wsman::client::write_request(&client.request(Some(&shell), body));
    let abandoned = impatient
        .post(&client.endpoint)
        .basic_auth(USER, Some(PASSWORD))
        .header("Content-Type", "application/soap+xml;charset=UTF-8")
        .body(xml)
        .send()
        .await;
    assert!(abandoned.is_err(), "the request should have timed out");
    drop(impatient);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = loop {
        match client.receive_numbered(&shell, &id, 0).await {
            Ok(resp) => break body_of(resp),
            Err(f) if f.is_timeout() => {}
            Err(f) => panic!("{f:?}"),
        }
    };
    assert_eq!(stdout_of(&got), "late\n");
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_sequence_id_that_is_not_a_number_is_a_schema_fault() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(&shell, "cmd", &["/c", "echo x"], false)
        .await
        .unwrap();
    let body = RequestBody::Receive {
        command_id: Some(id.clone()),
        streams: vec!["stdout".into(), "stderr".into()],
        sequence_id: Some(1),
    };
    let xml = wsman::client::write_request(&client.request(Some(&shell), body))
        .replace(r#"SequenceId="1""#, r#"SequenceId="-1""#);
    let raw = client.post_raw(xml).await;
    assert_eq!(raw.status, 500);
    let fault = wsman::client::parse_response(wsman::Action::Receive, &raw.body)
        .unwrap()
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(wsman::ns::code::SCHEMA_VALIDATION));
    assert!(fault.message.contains("SequenceId"), "{}", fault.message);
    // The command is untouched: its output is still there.
    let out = client.receive_all(&shell, &id).await;
    assert_eq!(out.stdout_text(), "x\n");
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}
