//! Every fault the simulator sends, authentication, limits, and the start-up checks.

mod common;

use std::time::Duration;

use common::*;
use winrs_sim::{SimConfig, SimError, Tls};
use wsman::{RequestBody, ShellSpec, SignalCode, StreamData};

#[tokio::test]
async fn unknown_shell_and_command_ids_are_invalid_selectors() {
    let (sim, client) = start(config()).await;
    let bogus_shell = "0F0F0F0F-0000-4000-8000-000000000000";
    let fault = client
        .command(bogus_shell, "cmd", &["/c", "echo"], false)
        .await
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858843));
    assert_eq!(fault.subcode.as_deref(), Some("w:InvalidSelectors"));
    assert!(fault.message.contains("shell"), "{}", fault.message);
    let fault = client.delete(bogus_shell).await.unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858843));

    let shell = client.shell().await;
    let fault = client
        .receive(&shell, "87E77BEB-6761-4C48-9D70-A00266B8459A")
        .await
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858843));
    assert!(
        fault.message.contains("command identifier"),
        "{}",
        fault.message
    );
    let fault = client
        .signal(
            &shell,
            "87E77BEB-6761-4C48-9D70-A00266B8459A",
            SignalCode::CtrlC,
        )
        .await
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858843));
    let fault = client
        .send_input(&shell, "87E77BEB-6761-4C48-9D70-A00266B8459A", b"x", false)
        .await
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858843));
    // Faults relate to the request that caused them.
    let req = client.request(Some(bogus_shell), RequestBody::Delete);
    let fault = client.send(&req).await.unwrap_err();
    assert_eq!(
        fault.relates_to.as_deref(),
        Some(req.header.message_id.as_str())
    );
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn receive_without_a_command_id_is_an_invalid_parameter() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let body = RequestBody::Receive {
        command_id: None,
        streams: vec!["stdout".into(), "stderr".into()],
        sequence_id: None,
    };
    let fault = client
        .send(&client.request(Some(&shell), body))
        .await
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(87));
    assert_eq!(fault.subcode.as_deref(), Some("w:InvalidParameter"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_31st_shell_of_a_user_is_refused() {
    let (sim, client) = start(config()).await;
    let mut shells = Vec::new();
    for _ in 0..30 {
        shells.push(client.shell().await);
    }
    let fault = client.create(default_spec()).await.unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150859173));
    assert!(fault.message.contains("30"), "{}", fault.message);
    assert_eq!(sim.shell_count(), 30);
    // Deleting one frees a place.
    client.delete(&shells.pop().unwrap()).await.unwrap();
    shells.push(client.shell().await);
    for s in &shells {
        client.delete(s).await.unwrap();
    }
    assert_eq!(sim.shell_count(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_request_over_the_envelope_limit_is_refused() {
    let mut cfg = config();
    cfg.max_request_body = 2 * 1024 * 1024;
    let (sim, client) = start(cfg).await;
    let shell = client.shell().await;
    let id = client.command(&shell, "cat", &[], true).await.unwrap();
    let body = RequestBody::Send(vec![StreamData {
        name: "stdin".into(),
        command_id: Some(id.clone()),
        end: false,
        data: vec![b'x'; 600_000],
    }]);
    let req = client.request(Some(&shell), body);
    let fault = client.send(&req).await.unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858824));
    assert_eq!(fault.subcode.as_deref(), Some("w:EncodingLimit"));
    assert_eq!(
        fault.relates_to.as_deref(),
        Some(req.header.message_id.as_str())
    );
    // A body far over any envelope is refused at the HTTP level, as Windows does.
    let raw = client.post_raw(vec![b' '; 3 * 1024 * 1024]).await;
    assert_eq!(raw.status, 413);
    // The shell still works.
    client
        .send_input(&shell, &id, b"fine\n", true)
        .await
        .unwrap();
    assert_eq!(
        client.receive_all(&shell, &id).await.stdout_text(),
        "fine\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_response_that_cannot_fit_the_clients_envelope_is_a_fault() {
    let (sim, mut client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(&shell, "cmd", &["/c", "echo hello"], false)
        .await
        .unwrap();
    client.max_envelope_size = 300;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fault = client.receive(&shell, &id).await.unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858824));
    // The output is still there for a Receive that allows a normal envelope.
    client.max_envelope_size = 153_600;
    assert_eq!(
        client.receive_all(&shell, &id).await.stdout_text(),
        "hello\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_a_schema_fault_and_the_server_goes_on() {
    let (sim, client) = start(config()).await;
    let cases: [&[u8]; 5] = [
        b"this is not xml",
        b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>",
        b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header><unclosed></s:Header></s:Envelope>",
        b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>",
        b"",
    ];
    for body in cases {
        let raw = client.post_raw(body.to_vec()).await;
        assert_eq!(raw.status, 500, "{:?}", String::from_utf8_lossy(body));
        let fault = parse(wsman::Action::Create, &raw).unwrap_err();
        assert_eq!(fault.wsman_code, Some(2150858817), "{fault:?}");
    }
    // A Create whose body is missing its Shell element.
    let req = client.request(None, RequestBody::Create(default_spec()));
    let xml = wsman::client::write_request(&req);
    let start = xml.find("<rsp:Shell>").unwrap();
    let end = xml.find("</rsp:Shell>").unwrap() + "</rsp:Shell>".len();
    let broken = format!("{}{}", &xml[..start], &xml[end..]);
    let fault = parse(wsman::Action::Create, &client.post_raw(broken).await).unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858817), "{fault:?}");
    // An operation outside WinRS (WS-Transfer Get) is not supported.
    let get = xml.replace(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
    );
    let fault = parse(wsman::Action::Create, &client.post_raw(get).await).unwrap_err();
    assert!(fault.subcode.unwrap().ends_with("ActionNotSupported"));
    assert_eq!(sim.shell_count(), 0);
    let out = client.run("cmd", &["/c", "echo still here"]).await;
    assert_eq!(out.stdout_text(), "still here\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_with_an_empty_body() {
    let (sim, mut client) = start(config()).await;
    let xml =
        wsman::client::write_request(&client.request(None, RequestBody::Create(default_spec())));
    client.password = "wrong".into();
    let raw = client.post_raw(xml.clone()).await;
    assert_eq!(raw.status, 401);
    assert!(raw.body.is_empty());
    assert_eq!(
        raw.headers.get("www-authenticate").unwrap(),
        "Basic realm=\"WSMAN\""
    );
    let raw = client
        .http
        .post(&client.endpoint)
        .header("Content-Type", "application/soap+xml;charset=UTF-8")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 401);
    assert!(raw.bytes().await.unwrap().is_empty());
    assert_eq!(sim.shell_count(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_program_or_directory_is_a_provider_fault() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let fault = client
        .command(&shell, "powershell.exe", &["Write-Host", "hi"], true)
        .await
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(2147942402));
    assert_eq!(fault.subcode.as_deref(), Some("w:InternalError"));
    let spec = ShellSpec {
        working_directory: Some(r"C:\Windows".into()),
        ..default_spec()
    };
    let shell2 = client.create(spec).await.unwrap();
    let fault = client
        .command(&shell2, "cmd", &["/c", "echo"], false)
        .await
        .unwrap_err();
    assert_eq!(fault.wsman_code, Some(2147942667));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_idle_shell_is_deleted_with_its_processes() {
    let (sim, client) = start(config()).await;
    let spec = ShellSpec {
        idle_timeout: Some(Duration::from_secs(1)),
        ..default_spec()
    };
    let shell = client.create(spec).await.unwrap();
    let busy = client.shell().await;
    let id = client
        .command(&shell, "cmd", &["/c", "echo $$; exec sleep 600"], false)
        .await
        .unwrap();
    let mut out = Output::default();
    while !out.stdout.ends_with(b"\n") {
        if let Ok(r) = client.receive(&shell, &id).await {
            out.absorb(r);
        }
    }
    let pid: i32 = out.stdout_text().trim().parse().unwrap();
    assert!(process_alive(pid));
    assert_eq!(sim.shell_count(), 2);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        sim.shell_count(),
        1,
        "only the shell with the default (2 h) timeout is left"
    );
    assert!(eventually(Duration::from_secs(5), || !process_alive(pid)).await);
    let fault = client.receive(&shell, &id).await.unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858843));
    client.delete(&busy).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_held_receive_keeps_a_shell_alive() {
    let (sim, mut client) = start(config()).await;
    client.operation_timeout = Duration::from_secs(3);
    let spec = ShellSpec {
        idle_timeout: Some(Duration::from_secs(1)),
        ..default_spec()
    };
    let shell = client.create(spec).await.unwrap();
    let id = client
        .command(&shell, "sleep", &["600"], true)
        .await
        .unwrap();
    let fault = client.receive(&shell, &id).await.unwrap_err();
    assert!(
        fault.is_timeout(),
        "the shell must survive a Receive longer than its IdleTimeOut: {fault:?}"
    );
    assert_eq!(sim.shell_count(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_non_loopback_address_is_refused_unless_allowed() {
    let mut cfg = config();
    cfg.listen = "0.0.0.0:0".parse().unwrap();
    match winrs_sim::start(cfg).await {
        Err(e @ SimError::NotLoopback(_)) => assert!(e.to_string().contains("loopback")),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("listening on 0.0.0.0 without allow_remote"),
    }
}

#[tokio::test]
async fn plain_http_and_certificate_files_work() {
    let mut cfg = config();
    cfg.tls = Tls::Off;
    let (sim, client) = start(cfg).await;
    assert!(
        sim.endpoint().starts_with("http://127.0.0.1:"),
        "{}",
        sim.endpoint()
    );
    assert_eq!(sim.fingerprint(), None);
    assert_eq!(
        client.run("cmd", &["/c", "echo plain"]).await.stdout_text(),
        "plain\n"
    );
    sim.shutdown().await;

    let dir = std::env::temp_dir().join(format!("winrs-sim-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), key.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.signing_key.serialize_pem()).unwrap();
    let mut cfg: SimConfig = config();
    cfg.listen = "[::1]:0".parse().unwrap();
    cfg.tls = Tls::Files {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let (sim, client) = start(cfg).await;
    assert!(
        sim.endpoint().starts_with("https://[::1]:"),
        "{}",
        sim.endpoint()
    );
    let want = winrs_sim::fingerprint(key.cert.der());
    assert_eq!(sim.fingerprint().as_deref(), Some(want.as_str()));
    assert_eq!(want.len(), 64);
    assert_eq!(
        client.run("cmd", &["/c", "echo tls"]).await.stdout_text(),
        "tls\n"
    );
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();

    let mut cfg = config();
    cfg.tls = Tls::Files {
        cert: dir.join("missing.pem"),
        key: dir.join("missing.pem"),
    };
    assert!(matches!(
        winrs_sim::start(cfg).await,
        Err(SimError::Certificate { .. })
    ));
}
