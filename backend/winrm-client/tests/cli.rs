//! `winrelay exec` and `winrelay probe` (backend/src/commands/exec.rs) against the simulator.
//! The module is compiled into this test as it is into the binary.

mod common;

#[path = "../../src/commands/exec.rs"]
#[allow(dead_code)]
mod exec_cmd;

use clap::Parser;
use common::*;
use exec_cmd::{ExecArgs, ProbeArgs};
use tokio::sync::mpsc;

#[derive(Parser)]
struct ExecCli {
    #[command(flatten)]
    args: ExecArgs,
}

#[derive(Parser)]
struct ProbeCli {
    #[command(flatten)]
    args: ProbeArgs,
}

/// A password file unique to this test, removed on drop.
struct PasswordFile(std::path::PathBuf);

impl PasswordFile {
    fn new(name: &str, password: &str) -> PasswordFile {
        // Tests run at once: a name alone (two scripts of one length) is not unique.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("winrm-cli-{name}-{}-{n}", std::process::id()));
        std::fs::write(&path, format!("{password}\n")).unwrap();
        PasswordFile(path)
    }
}

impl Drop for PasswordFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn connect_flags(sim: &winrs_sim::SimHandle, pw: &PasswordFile) -> Vec<String> {
    vec![
        "--endpoint".into(),
        sim.endpoint(),
        "--user".into(),
        USER.into(),
        "--password-file".into(),
        pw.0.display().to_string(),
        "--pin".into(),
        sim.fingerprint().unwrap(),
    ]
}

async fn exec(
    argv: Vec<String>,
    input: Option<Vec<&[u8]>>,
) -> (anyhow::Result<i32>, Vec<u8>, Vec<u8>) {
    let args = ExecCli::try_parse_from(std::iter::once("exec".to_string()).chain(argv))
        .unwrap()
        .args;
    let rx = input.map(|chunks| {
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for c in chunks {
            tx.try_send(c.to_vec()).unwrap();
        }
        rx
    });
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let res = exec_cmd::exec_with(args, rx, &mut out, &mut err, false).await;
    (res, out, err)
}

#[tokio::test]
async fn exec_streams_output_and_returns_the_exit_code() {
    let sim = sim().await;
    let pw = PasswordFile::new("exec", PASSWORD);
    let mut argv = connect_flags(&sim, &pw);
    argv.extend(["--", "cmd", "/c", "echo to-out; echo to-err >&2; exit 5"].map(String::from));
    let (res, out, err) = exec(argv, None).await;
    assert_eq!(res.unwrap(), 5);
    assert_eq!(out, b"to-out\n");
    assert_eq!(err, b"to-err\n");
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn exec_forwards_stdin_until_its_end() {
    let sim = sim().await;
    let pw = PasswordFile::new("stdin", PASSWORD);
    let mut argv = connect_flags(&sim, &pw);
    argv.extend(["--env", "SUFFIX=!"].map(String::from));
    argv.extend(
        [
            "--",
            "cmd",
            "/c",
            "while read l; do echo \"got $l$SUFFIX\"; done",
        ]
        .map(String::from),
    );
    let (res, out, _) = exec(argv, Some(vec![b"one\ntw", b"o\n"])).await;
    assert_eq!(res.unwrap(), 0);
    assert_eq!(String::from_utf8(out).unwrap(), "got one!\ngot two!\n");
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn exec_with_a_wrong_password_says_so() {
    let sim = sim().await;
    let pw = PasswordFile::new("wrong", "nope");
    let mut argv = connect_flags(&sim, &pw);
    argv.extend(["--", "cmd", "/c", "echo x"].map(String::from));
    let (res, out, _) = exec(argv, None).await;
    let msg = format!("{:#}", res.unwrap_err());
    assert!(msg.contains("wrong user name or password"), "{msg}");
    assert!(out.is_empty());
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn probe_reports_fingerprint_auth_and_timings() {
    let sim = sim().await;
    let pw = PasswordFile::new("probe", PASSWORD);
    let args = ProbeCli::try_parse_from(
        std::iter::once("probe".to_string()).chain(connect_flags(&sim, &pw)),
    )
    .unwrap()
    .args;
    let mut report = String::new();
    exec_cmd::probe_into(&args, &mut report).await.unwrap();
    let fp = sim.fingerprint().unwrap();
    assert!(
        report.contains(&format!("certificate:  sha256 {fp}")),
        "{report}"
    );
    assert!(report.contains("auth:         ok"), "{report}");
    assert!(
        report.contains("created in") && report.contains("deleted in"),
        "{report}"
    );
    assert!(
        report.contains("powershell:   answers: PowerShell 5.1.17763.1007, protocol 2.3"),
        "{report}"
    );
    assert!(report.trim_end().ends_with("result:       ok"), "{report}");
    assert_no_shells(&sim).await;
}

async fn exec_ps(script: &str, input: Option<Vec<&[u8]>>) -> (i32, String, String) {
    let sim = sim().await;
    let pw = PasswordFile::new(&format!("ps-{}", script.len()), PASSWORD);
    let mut argv = connect_flags(&sim, &pw);
    argv.extend([
        "--powershell".to_string(),
        "--".to_string(),
        script.to_string(),
    ]);
    let (res, out, err) = exec(argv, input).await;
    assert_eq!(sim.pool_count(), 0, "the pool was left open");
    assert_no_shells(&sim).await;
    (
        res.unwrap(),
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn exec_powershell_prints_output_and_exits_zero() {
    let (code, out, err) = exec_ps("Write-Output one; 'two'; Write-Host host-line", None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "one\ntwo\nhost-line\n");
    assert_eq!(err, "");
}

#[tokio::test]
async fn exec_powershell_errors_go_to_stderr_and_exit_one() {
    let (code, out, err) = exec_ps("Write-Error 'it failed'; 'still runs'", None).await;
    assert_eq!(code, 1);
    assert_eq!(out, "still runs\n");
    assert!(err.contains("it failed"), "{err}");
    assert!(
        err.contains("FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException"),
        "{err}"
    );
    let (code, _, err) = exec_ps("'unterminated", None).await;
    assert_eq!(code, 1);
    assert!(err.contains("terminator"), "{err}");
    let (code, _, err) = exec_ps("Write-Warning careful", None).await;
    assert_eq!(code, 0);
    assert_eq!(err, "WARNING: careful\n");
}

#[tokio::test]
async fn exec_powershell_exit_n_is_the_exit_code() {
    let (code, out, _) = exec_ps("'before'; exit 42; 'after'", None).await;
    assert_eq!(code, 42);
    assert_eq!(out, "before\n");
    let (code, _, _) = exec_ps("Write-Error x; exit 0", None).await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn exec_powershell_read_host_reads_stdin_and_tables_are_formatted() {
    let (code, out, _) = exec_ps("$n = Read-Host; \"hello $n\"", Some(vec![b"Ada\n"])).await;
    assert_eq!(code, 0);
    assert_eq!(out, "hello Ada\n");
    let (code, out, _) = exec_ps("Get-ChildItem /", None).await;
    assert_eq!(code, 0);
    assert!(out.contains("    Directory: /\n"), "{out}");
    assert!(
        out.contains("Mode                LastWriteTime         Length Name\n"),
        "{out}"
    );
    assert!(out.contains(" etc\n"), "{out}");
}

#[tokio::test]
async fn probe_shows_the_fingerprint_even_when_the_certificate_is_refused() {
    let sim = sim().await;
    let pw = PasswordFile::new("probe-pin", PASSWORD);
    let mut argv = connect_flags(&sim, &pw);
    let pin_at = argv.iter().position(|a| a == "--pin").unwrap() + 1;
    argv[pin_at] = "00".repeat(32);
    let args = ProbeCli::try_parse_from(std::iter::once("probe".to_string()).chain(argv))
        .unwrap()
        .args;
    let mut report = String::new();
    let err = exec_cmd::probe_into(&args, &mut report).await.unwrap_err();
    let fp = sim.fingerprint().unwrap();
    assert!(report.contains(&fp), "{report}");
    assert!(
        format!("{err:#}").contains(&format!("has fingerprint {fp}")),
        "{err:#}"
    );
    assert_no_shells(&sim).await;
}

#[test]
fn connection_flags_are_checked() {
    // --pin and --insecure together make no sense.
    let r = ExecCli::try_parse_from([
        "exec",
        "--endpoint",
        "https://h/wsman",
        "--user",
        "u",
        "--password-env",
        "X",
        "--pin",
        "ab",
        "--insecure",
        "--",
        "cmd",
    ]);
    assert!(r.is_err());
    // No password source: refused with a clear message, not a prompt or an empty password.
    let args = ExecCli::try_parse_from([
        "exec",
        "--endpoint",
        "https://h/wsman",
        "--user",
        "u",
        "cmd",
    ])
    .unwrap()
    .args;
    let err = args.connect.client_config().unwrap_err();
    assert!(err.to_string().contains("--password-env"), "{err}");
    // A bad pin is refused before connecting.
    let args = ExecCli::try_parse_from([
        "exec",
        "--endpoint",
        "https://h/wsman",
        "--user",
        "u",
        "--password-env",
        "PATH",
        "--pin",
        "xyz",
        "cmd",
    ])
    .unwrap()
    .args;
    assert!(args.connect.tls_mode().is_err());
    // The command may carry its own flags.
    let args = ExecCli::try_parse_from([
        "exec",
        "--endpoint",
        "https://h/wsman",
        "--user",
        "u",
        "--",
        "ipconfig",
        "/all",
        "-x",
    ])
    .unwrap()
    .args;
    assert_eq!(args.command, ["ipconfig", "/all", "-x"]);
}
