//! Hidden input (issue 14): a typed secret (Read-Host -AsSecureString on a PowerShell
//! console; a password prompt or the manual switch on a cmd session) reaches the shell and
//! nobody else: not a viewer's stream, not a late joiner's view, not the recording, not the
//! audit log, not the relay's log.

use std::path::{Path, PathBuf};

use super::common::*;
use winrelay_shared::protocol::{ClientMsg, ErrorCode, ServerMsg};

struct Setup {
    relay: Relay,
    _sim: Sim,
    dir: PathBuf,
}

/// A PowerShell target `ps` and a cmd target `cmd` on one simulator, both recorded, with
/// an audit log that keeps input lines.
fn setup() -> Setup {
    let sim = Sim::start("svc", "hidden-pw");
    let var = format!("HIDDEN_PW_{}", std::process::id());
    std::env::set_var(&var, "hidden-pw");
    let path = config_file("");
    let dir = path.parent().unwrap().to_path_buf();
    let text = format!(
        "[audit]\npath = {audit:?}\nlog_input = true\n\n[recordings]\ndir = {recs:?}\n\n\
         [[target]]\nname = \"ps\"\nendpoint = \"{ep}\"\nshell = \"powershell\"\nuser = \"svc\"\npassword_env = \"{var}\"\npin = \"{fp}\"\nrecord = true\n\n\
         [[target]]\nname = \"cmd\"\nendpoint = \"{ep}\"\nuser = \"svc\"\npassword_env = \"{var}\"\npin = \"{fp}\"\nrecord = true\n",
        audit = dir.join("audit.jsonl"),
        recs = dir.join("recordings"),
        ep = sim.endpoint,
        fp = sim.fingerprint,
    );
    std::fs::write(&path, text).unwrap();
    let relay = Relay::start(&["--config", path.to_str().unwrap()]);
    Setup {
        relay,
        _sim: sim,
        dir,
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The secret is in no recording, no audit line and not in the relay's log; the
/// recordings and the audit log exist (the check would pass vacuously otherwise).
fn assert_nowhere_on_disk(s: &Setup, secret: &str) {
    let mut files = Vec::new();
    files_under(&s.dir.join("recordings"), &mut files);
    assert!(!files.is_empty(), "the session was recorded");
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(secret), "{} holds the secret", f.display());
    }
    let audit = std::fs::read_to_string(s.dir.join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"line\""),
        "input lines are audited: {audit}"
    );
    assert!(!audit.contains(secret), "the audit log holds the secret");
    assert!(
        !s.relay.log().contains(secret),
        "the relay's log holds the secret"
    );
}

fn hidden(why: &'static str) -> impl Fn(&ServerMsg) -> bool {
    move |m| matches!(m, ServerMsg::InputMode { hidden: true, why: Some(w) } if w == why)
}

fn shown_again(m: &ServerMsg) -> bool {
    matches!(m, ServerMsg::InputMode { hidden: false, .. })
}

#[tokio::test]
async fn a_read_host_secret_reaches_the_shell_and_nobody_else() {
    let s = setup();
    let owner = s.relay.sign_in().await;
    let sess = owner.create_session("ps").await;
    let token = owner.share(&sess.id, "viewer").await;
    let mut w = owner.attach(&sess.id, None).await;
    w.welcome().await;
    // Every client hears the mode right after welcome.
    w.wait_msg(T, |m| {
        matches!(
            m,
            ServerMsg::InputMode {
                hidden: false,
                why: None
            }
        )
    })
    .await;
    w.wait_for_raw("\x1b]133;B\x07", T).await;
    let mut v = Client::connect(
        &format!(
            "{}/api/sessions/{}/ws?share={token}",
            s.relay.ws_base(),
            sess.id
        ),
        None,
        None,
    )
    .await;
    v.welcome().await;
    // A viewer cannot switch hidden input on.
    v.send(&ClientMsg::HideNextLine).await;
    v.wait_msg(T, |m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        )
    })
    .await;
    let secret = "hunter2-PSSECRET";
    w.input("$pw = Read-Host -AsSecureString; Write-Output \"stored $($pw.Length)\"\r")
        .await;
    w.wait_msg(T, hidden("read-host")).await;
    v.wait_msg(T, hidden("read-host")).await;
    // Typed in two pieces, with an arrow key in between: none of it is echoed.
    w.input("hunter2-").await;
    w.input("\x1b[D\x1b[CPSSECRET\r").await;
    w.wait_msg(T, shown_again).await;
    w.wait_for_raw("\x1b]133;D;0\x07", T).await;
    v.wait_for_raw("\x1b]133;D;0\x07", T).await;
    assert!(
        !w.text().contains(secret),
        "echoed to the writer: {:?}",
        w.text()
    );
    assert!(
        !v.text().contains(secret),
        "sent to a viewer: {:?}",
        v.text()
    );
    // The next line is visible again.
    w.input("Write-Output visible-again\r").await;
    w.wait_for("visible-again\r\n", T).await;
    let mut late = owner.attach(&sess.id, None).await;
    late.welcome().await;
    late.wait_for("visible-again", T).await;
    assert!(!late.text().contains(secret), "in a late joiner's view");
    owner.end_session(&sess.id).await.unwrap();
    w.drain(std::time::Duration::from_millis(300)).await;
    assert_nowhere_on_disk(&s, secret);
}

#[tokio::test]
async fn a_cmd_password_prompt_and_the_manual_switch_hide_the_next_line() {
    let s = setup();
    let owner = s.relay.sign_in().await;
    let sess = owner.create_session("cmd").await;
    let mut w = owner.attach(&sess.id, None).await;
    w.welcome().await;
    w.wait_for("C:\\", T).await;
    // Output ending in a password prompt switches hidden input on by itself.
    w.input("printf 'Enter password: '; read pw; echo got-${#pw}\r")
        .await;
    w.wait_msg(T, hidden("password-prompt")).await;
    let auto = "auto-CMDSECRET";
    w.input(&format!("{auto}\r")).await;
    w.wait_msg(T, shown_again).await;
    // The shell got it (its length), nobody saw it.
    w.wait_for(&format!("got-{}", auto.len()), T).await;
    // The manual switch: the next line is hidden although nothing asked for it.
    w.input("read pw2; echo len-${#pw2}\r").await;
    w.drain(std::time::Duration::from_millis(300)).await;
    w.send(&ClientMsg::HideNextLine).await;
    w.wait_msg(
        T,
        |m| matches!(m, ServerMsg::InputMode { hidden: true, why: Some(w) } if w == "manual"),
    )
    .await;
    let manual = "manual-CMDSECRET2";
    w.input(&format!("{manual}\r")).await;
    w.wait_for(&format!("len-{}", manual.len()), T).await;
    for secret in [auto, manual] {
        assert!(!w.text().contains(secret), "{:?}", w.text());
    }
    // A folder named like a password is not a password prompt.
    w.input("echo done\r").await;
    w.wait_for("done", T).await;
    owner.end_session(&sess.id).await.unwrap();
    w.drain(std::time::Duration::from_millis(300)).await;
    assert_nowhere_on_disk(&s, auto);
    assert_nowhere_on_disk(&s, manual);
}

#[tokio::test]
async fn credential_and_prompted_secure_reads_are_hidden_too() {
    let s = setup();
    let owner = s.relay.sign_in().await;
    let sess = owner.create_session("ps").await;
    let mut w = owner.attach(&sess.id, None).await;
    w.welcome().await;
    w.wait_for_raw("\x1b]133;B\x07", T).await;
    // Get-Credential: the user name is visible, the password is not.
    w.input("$c = Get-Credential; Write-Output cred-done\r")
        .await;
    w.wait_for("User: ", T).await;
    w.input("alice\r").await;
    w.wait_msg(T, hidden("credential")).await;
    w.wait_for("Password for user alice: ", T).await;
    let cred = "credential-PSSECRET";
    w.input(&format!("{cred}\r")).await;
    w.wait_for("cred-done\r\n", T).await;
    // Read-Host -Prompt -AsSecureString asks through a Prompt host call.
    w.input("$p = Read-Host -Prompt Pin -AsSecureString; Write-Output pin-done\r")
        .await;
    w.wait_for("Pin: ", T).await;
    let pin = "pin-PSSECRET";
    w.input(&format!("{pin}\r")).await;
    w.wait_for("pin-done\r\n", T).await;
    let text = w.text();
    assert!(text.contains("alice"), "{text:?}");
    for secret in [cred, pin] {
        assert!(!text.contains(secret), "{secret} shown: {text:?}");
    }
    owner.end_session(&sess.id).await.unwrap();
    w.drain(std::time::Duration::from_millis(300)).await;
    assert_nowhere_on_disk(&s, cred);
    assert_nowhere_on_disk(&s, pin);
}
