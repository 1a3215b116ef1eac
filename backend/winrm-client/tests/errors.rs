//! Each failure an operator meets gives its own clear error, and leaves no shell behind.

mod common;

use std::time::Duration;

use common::*;
use winrm_client::{Client, Error, ShellOptions, TlsMode};

#[tokio::test]
async fn wrong_password_is_reported_as_such() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.password = "not the password".into();
    let client = Client::new(cfg).unwrap();
    let err = client
        .open_shell(ShellOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::WrongCredentials { ref user, .. } if user == USER),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "wrong user name or password for {}",
            sim.endpoint()
        )),
        "{msg}"
    );
    assert!(!msg.contains("not the password") && !format!("{err:?}").contains("not the password"));
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn wrong_pin_shows_the_fingerprint_seen() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.tls = TlsMode::Pin([0x11; 32]);
    let client = Client::new(cfg).unwrap();
    let err = client
        .open_shell(ShellOptions::default())
        .await
        .unwrap_err();
    let real = sim.fingerprint().unwrap();
    match &err {
        Error::CertificateMismatch { expected, seen, .. } => {
            assert_eq!(expected, &"11".repeat(32));
            assert_eq!(seen, &real);
        }
        other => panic!("expected a certificate mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains(&real));
    assert_eq!(client.seen_fingerprint().as_deref(), Some(real.as_str()));
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn self_signed_certificate_is_not_trusted_by_a_ca_check() {
    let sim = sim().await;
    // A CA file holding an unrelated certificate: the simulator's own is self-signed.
    let ca = rcgen_free_pem();
    let path = std::env::temp_dir().join(format!("winrm-client-ca-{}.pem", std::process::id()));
    std::fs::write(&path, ca).unwrap();
    let mut cfg = config(&sim);
    cfg.tls = TlsMode::CaFile(path.clone());
    let client = Client::new(cfg);
    let _ = std::fs::remove_file(&path);
    let err = client
        .unwrap()
        .open_shell(ShellOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedCertificate { .. }), "{err:?}");
    assert!(err.to_string().contains("not trusted"));
    assert_no_shells(&sim).await;
}

/// A self-signed certificate unrelated to the simulator's.
fn rcgen_free_pem() -> String {
    let other = rcgen::generate_simple_self_signed(vec!["ca.example.invalid".to_string()]).unwrap();
    other.cert.pem()
}

#[tokio::test]
async fn insecure_mode_connects_without_a_check() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.tls = TlsMode::Insecure;
    let client = Client::new(cfg).unwrap();
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    assert_eq!(client.seen_fingerprint(), sim.fingerprint());
    shell.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn a_stopped_server_is_unreachable() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    assert_eq!(
        shell.run("cmd", ["/c", "echo up"]).await.unwrap().stdout,
        b"up\n"
    );
    sim.shutdown().await;
    let err = shell.run("cmd", ["/c", "echo up"]).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot reach https://127.0.0.1:"), "{msg}");
    assert!(msg.contains("refused"), "{msg}");
    // A fresh connection is refused the same way.
    let err = client
        .open_shell(ShellOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_deleted_shell_is_reported_as_gone() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    // Someone else (another client, a container restart) deletes it.
    let other = common::client(&sim);
    other.delete_shell(shell.id()).await.unwrap();
    assert_eq!(sim.shell_count(), 0);
    let err = shell.run("cmd", ["/c", "echo x"]).await.unwrap_err();
    assert!(matches!(err, Error::ShellGone { .. }), "{err:?}");
    assert!(err.to_string().contains("the shell is gone"));
    // Closing a shell that is already gone reports it too.
    assert!(shell.close().await.unwrap_err().is_shell_gone());
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn a_shell_past_its_idle_timeout_is_reported_as_gone() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client
        .open_shell(ShellOptions {
            idle_timeout: Some(Duration::from_secs(1)),
            ..ShellOptions::default()
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while sim.shell_count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle shell was never reaped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = shell.start("cmd", ["/c", "echo x"]).await.unwrap_err();
    assert!(err.is_shell_gone(), "{err:?}");
    drop(shell);
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn the_shell_quota_is_reported() {
    let sim = sim_with(|c| c.max_shells_per_user = 2).await;
    let client = client(&sim);
    let a = client.open_shell(ShellOptions::default()).await.unwrap();
    let b = client.open_shell(ShellOptions::default()).await.unwrap();
    let err = client
        .open_shell(ShellOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QuotaReached { .. }), "{err:?}");
    assert!(err.to_string().contains("MaxShellsPerUser"));
    drop(a);
    // Once one is closed there is room again.
    assert!(tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(c) = client.open_shell(ShellOptions::default()).await {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok());
    drop(b);
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn an_envelope_larger_than_the_server_takes_is_reported() {
    let sim = sim_with(|c| {
        c.max_envelope_size = 16_000;
        c.max_request_body = 64_000;
    })
    .await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    // Over MaxEnvelopeSize: a WSMan fault 2150858824.
    let err = shell
        .start("cmd", [format!("/c echo {}", "x".repeat(20_000))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EnvelopeTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("MaxEnvelopeSize"));
    // Over the HTTP body limit: 413.
    let err = shell
        .start("cmd", [format!("/c echo {}", "x".repeat(100_000))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EnvelopeTooLarge { .. }), "{err:?}");
    drop(shell);
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn stdin_adapts_to_a_server_with_smaller_envelopes() {
    // The server takes 16 KB envelopes but the client was told 153600: the first Send is
    // refused, and the client halves its pieces until they fit, losing and repeating nothing.
    let sim = sim_with(|c| c.max_envelope_size = 16_000).await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    let mut cmd = shell.start("cmd", ["/c", "sha256sum"]).await.unwrap();
    let before = cmd.input().chunk_size();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    cmd.send(&data).await.unwrap();
    cmd.send(b"tail").await.unwrap();
    cmd.close_stdin().await.unwrap();
    let after = cmd.input().chunk_size();
    assert!(after < 16_000 && after < before, "{before} -> {after}");
    let (text, code) = until_exit(&mut cmd).await;
    assert_eq!(code, 0);
    let mut all = data.clone();
    all.extend_from_slice(b"tail");
    use sha2::Digest as _;
    assert_eq!(
        text.split_whitespace().next(),
        Some(hex::encode(sha2::Sha256::digest(&all)).as_str())
    );
    drop(cmd);
    drop(shell);
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn plain_http_works_only_when_allowed() {
    let sim = sim_with(|c| c.tls = winrs_sim::Tls::Off).await;
    let mut cfg =
        winrm_client::ClientConfig::new(sim.endpoint(), USER, PASSWORD, TlsMode::Insecure);
    assert!(Client::new(cfg.clone()).is_err());
    cfg.allow_http = true;
    let client = Client::new(cfg).unwrap();
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    assert_eq!(
        shell.run("cmd", ["/c", "echo plain"]).await.unwrap().stdout,
        b"plain\n"
    );
    shell.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn a_resolved_address_is_used_instead_of_dns() {
    let sim = common::sim().await;
    let port = sim.local_addr().port();
    // A name that does not resolve: the connection works only through `resolve`.
    let mut config = common::config(&sim);
    config.endpoint = format!("https://winrelay-test.invalid:{port}/wsman");
    let unresolved = Client::new(config.clone()).unwrap();
    let err = unresolved.open_shell(Default::default()).await.unwrap_err();
    assert!(err.to_string().starts_with("cannot reach"), "{err}");
    config.resolve = Some(sim.local_addr());
    let client = Client::new(config).unwrap();
    let out = client.open_shell(Default::default()).await.unwrap();
    let result = out.run("cmd", ["/c", "echo resolved"]).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&result.stdout).trim(), "resolved");
    out.close().await.unwrap();
    common::assert_no_shells(&sim).await;
}
