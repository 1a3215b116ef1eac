//! Configured targets: fixed ones with pinned certificates, credentials asked from the
//! person, and patterns limited by address ranges.

use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn a_configured_target_with_a_pin_and_no_leaked_shells() {
    let sim = Sim::start("svc", "s3cret-pw");
    let cfg = config_file(&format!(
        "[[target]]\nname = \"box\"\nendpoint = \"{}\"\nuser = \"svc\"\npassword_env = \"BOX_PW\"\npin = \"{}\"\n\n\
         [[target]]\nname = \"wrongpin\"\nendpoint = \"{}\"\nuser = \"svc\"\npassword_env = \"BOX_PW\"\npin = \"{}\"\n",
        sim.endpoint,
        sim.fingerprint,
        sim.endpoint,
        "ab".repeat(32)
    ));
    std::env::set_var("BOX_PW", "s3cret-pw");
    let mut relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let targets: Vec<serde_json::Value> = user
        .get("/api/targets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["box", "wrongpin"], "no demo target when configured");
    let s = user.create_session("box").await;
    let mut c = user.attach(&s.id, None).await;
    c.input("echo configured-$((3*3))\r").await;
    c.wait_for("configured-9", T).await;
    assert!(
        !sim.children().is_empty(),
        "the shell runs on the simulator"
    );

    // A changed certificate is refused, with both fingerprints in the message.
    let r = user
        .post("/api/sessions")
        .json(&serde_json::json!({"target":"wrongpin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "certificate_mismatch");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains(&sim.fingerprint) && msg.contains(&"ab".repeat(32)),
        "{msg}"
    );

    // SIGTERM: every shell on the simulator is deleted before the relay exits.
    assert!(relay.terminate().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !sim.children().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "shell processes left on the simulator: {:?}",
            sim.children()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = relay.log();
    assert!(
        !log.contains("s3cret-pw"),
        "the target's password must never be logged"
    );
    let (reason, reconnect) = c.wait_bye(T).await;
    assert!(reconnect, "may reconnect: {reason}");
}

#[tokio::test]
async fn credentials_asked_from_the_person_are_checked_and_never_stored() {
    let sim = Sim::start("alice", "correct-horse");
    let cfg = config_file(&format!(
        "[[target]]\nname = \"ask\"\nendpoint = \"{}\"\nask_credentials = true\npin = \"{}\"\n",
        sim.endpoint, sim.fingerprint
    ));
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let targets: Vec<serde_json::Value> = user
        .get("/api/targets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(targets[0]["ask_credentials"], true);
    let r = user
        .post("/api/sessions")
        .json(&serde_json::json!({"target":"ask"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "credentials_required"
    );
    let r = user
        .post("/api/sessions")
        .json(&serde_json::json!({"target":"ask","username":"alice","password":"wrong-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "wrong_credentials", "{body}");
    assert!(!body.to_string().contains("wrong-pw"));
    let r = user
        .post("/api/sessions")
        .json(&serde_json::json!({"target":"ask","username":"alice","password":"correct-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let s: serde_json::Value = r.json().await.unwrap();
    let mut c = user.attach(s["id"].as_str().unwrap(), None).await;
    c.input("echo asked-ok\r").await;
    c.wait_for("\r\nasked-ok", T).await;
    let log = relay.log();
    assert!(
        !log.contains("correct-horse") && !log.contains("wrong-pw"),
        "passwords must never be logged"
    );
}

#[tokio::test]
async fn pattern_targets_only_reach_allowed_addresses() {
    let sim = Sim::start("svc", "pw-pattern");
    let base = format!(
        "user = \"svc\"\npassword_env = \"PAT_PW\"\ninsecure = true\nport = {}\nhost_suffix = \"\"\n",
        sim.port
    );
    let cfg = config_file(&format!(
        "[[target_pattern]]\nname = \"v4only\"\nallow_networks = [\"127.0.0.0/8\"]\n{base}\n\
         [[target_pattern]]\nname = \"lo\"\nallow_networks = [\"127.0.0.0/8\", \"::1/128\"]\n{base}\n\
         [[target_pattern]]\nname = \"elsewhere\"\nallow_networks = [\"10.99.0.0/16\"]\n{base}\n"
    ));
    std::env::set_var("PAT_PW", "pw-pattern");
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let create = |t: &str| {
        user.post("/api/sessions")
            .json(&serde_json::json!({"target": t}))
            .send()
    };
    // localhost resolves to loopback only: allowed where every address is in the ranges.
    let localhost_v6 = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 1))
        .unwrap()
        .any(|a| a.is_ipv6());
    let r = create("lo/localhost").await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = create("v4only/localhost").await.unwrap();
    assert_eq!(r.status(), if localhost_v6 { 403 } else { 201 });
    let r = create("elsewhere/localhost").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "address_not_allowed"
    );
    // Names that try to smuggle a host, port, path or user in are unknown targets.
    for t in [
        "lo/127.0.0.1",
        "lo/localhost:22",
        "lo/evil.example",
        "lo/a@localhost",
        "lo/localhost/x",
        "lo/",
        "lo",
    ] {
        let r = create(t).await.unwrap();
        assert_eq!(r.status(), 404, "{t}");
    }
    let r = create("lo/no-such-host-winrelay-test").await.unwrap();
    assert!(
        r.status() == 502 || r.status() == 403,
        "an unresolvable name is refused: {}",
        r.status()
    );
}

/// A relay whose one target `box` is `sim` (user `svc`, password in `var`), with extra
/// `[sessions]` settings.
fn relay_with_box(sim: &Sim, var: &str, password: &str, sessions: &str) -> Relay {
    let cfg = config_file(&format!(
        "[sessions]\n{sessions}\n[[target]]\nname = \"box\"\nendpoint = \"{}\"\nuser = \"svc\"\npassword_env = \"{var}\"\npin = \"{}\"\n",
        sim.endpoint, sim.fingerprint
    ));
    std::env::set_var(var, password);
    Relay::start(&["--config", cfg.to_str().unwrap()])
}

async fn session_info(user: &User, id: &str) -> serde_json::Value {
    user.get(&format!("/api/sessions/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn idle_sessions_end_and_their_shells_are_deleted() {
    let sim = Sim::start("svc", "idle-pw");
    let relay = relay_with_box(&sim, "IDLE_PW", "idle-pw", "idle_timeout = \"2s\"");
    let user = relay.sign_in().await;
    let s = user.create_session("box").await;
    // While a client is attached the session stays, however quiet.
    let mut c = user.attach(&s.id, None).await;
    c.drain(Duration::from_secs(4)).await;
    let info = session_info(&user, &s.id).await;
    assert_eq!(info["state"]["state"], "connected", "{info}");
    assert!(!sim.children().is_empty());
    drop(c);
    // Nobody attached and nothing happening: it ends and the shell is deleted.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let info = session_info(&user, &s.id).await;
        if info["state"]["state"] != "connected" && sim.children().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "idle session still there: {info}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn shells_of_a_killed_relay_are_freed_by_their_idle_timeout() {
    let sim = Sim::start("svc", "kill-pw");
    let relay = relay_with_box(&sim, "KILL_PW", "kill-pw", "shell_idle_timeout = \"3s\"");
    let user = relay.sign_in().await;
    let s = user.create_session("box").await;
    let mut c = user.attach(&s.id, None).await;
    // Quiet for longer than the idle timeout: the outstanding Receive keeps the shell alive.
    c.drain(Duration::from_secs(5)).await;
    c.input("echo alive-$((2+2))\r").await;
    c.wait_for("alive-4", T).await;
    assert!(!sim.children().is_empty());
    // SIGKILL: the relay cannot delete its shell; the target frees it on its own.
    drop(relay);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !sim.children().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell outlived its idle timeout: {:?}",
            sim.children()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
