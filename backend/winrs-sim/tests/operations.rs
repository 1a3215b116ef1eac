//! The WinRS operations end to end over HTTPS: commands, streams, stdin, signals, options.

mod common;

use std::time::{Duration, Instant};

use common::*;
use wsman::{RequestBody, ResponseBody, ShellSpec, SignalCode};

#[tokio::test]
async fn cmd_c_runs_through_the_host_shell_with_stdout_stderr_and_exit_code() {
    let (sim, client) = start(config()).await;
    let out = client
        .run("cmd.exe", &["/c echo out && echo err>&2 && exit 7"])
        .await;
    assert_eq!(out.stdout_text(), "out\n");
    assert_eq!(out.stderr_text(), "err\n");
    assert_eq!(out.exit_code, 7);
    assert_eq!(sim.shell_count(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn skip_cmd_shell_runs_argv_as_given() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(&shell, "printf", &["[%s]", "a b", "c"], true)
        .await
        .unwrap();
    let out = client.receive_all(&shell, &id).await;
    assert_eq!(out.stdout_text(), "[a b][c]");
    assert_eq!(out.exit_code, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_end_is_reported_with_end_streams_and_done() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(&shell, "cmd", &["/c", "echo", "hi"], false)
        .await
        .unwrap();
    // Wait for the process to finish so a single Receive carries everything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = client.receive(&shell, &id).await.unwrap();
    let ResponseBody::Received { streams, state } = resp.body else {
        panic!()
    };
    let state = state.unwrap();
    assert!(state.done);
    assert_eq!(state.exit_code, Some(0));
    assert_eq!(state.command_id.as_deref(), Some(id.as_str()));
    let ends: Vec<&str> = streams
        .iter()
        .filter(|s| s.end)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(ends, ["stdout", "stderr"]);
    assert!(streams
        .iter()
        .all(|s| s.command_id.as_deref() == Some(id.as_str())));
    let data: Vec<u8> = streams
        .iter()
        .filter(|s| s.name == "stdout")
        .flat_map(|s| s.data.clone())
        .collect();
    assert_eq!(data, b"hi\n");
    // Windows clients send terminate after Done; it must succeed.
    client
        .signal(&shell, &id, SignalCode::Terminate)
        .await
        .unwrap();
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn stdin_is_written_and_end_closes_it() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client.command(&shell, "cat", &[], true).await.unwrap();
    client
        .send_input(&shell, &id, b"line one\n", false)
        .await
        .unwrap();
    client
        .send_input(&shell, &id, b"line two\n", true)
        .await
        .unwrap();
    let out = client.receive_all(&shell, &id).await;
    assert_eq!(out.stdout_text(), "line one\nline two\n");
    assert_eq!(out.exit_code, 0, "cat ends only when stdin is closed");
    sim.shutdown().await;
}

#[tokio::test]
async fn ctrl_c_stops_a_sleeping_command() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(&shell, "cmd.exe", &["/c", "sleep 600"], false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    client.signal(&shell, &id, SignalCode::CtrlC).await.unwrap();
    let out = client.receive_all(&shell, &id).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.exit_code, 128 + 2, "killed by SIGINT");
    sim.shutdown().await;
}

#[tokio::test]
async fn terminate_kills_the_whole_process_group() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    // A child in the background and one in the foreground: both must die.
    let id = client
        .command(
            &shell,
            "cmd",
            &["/c", "sleep 600 & echo $!; sleep 600"],
            false,
        )
        .await
        .unwrap();
    let mut out = Output::default();
    while !out.stdout.ends_with(b"\n") {
        if let Ok(resp) = client.receive(&shell, &id).await {
            out.absorb(resp);
        }
    }
    let pid: i32 = out.stdout_text().trim().parse().unwrap();
    assert!(process_alive(pid));
    client
        .signal(&shell, &id, SignalCode::Terminate)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || !process_alive(pid)).await,
        "background child survived"
    );
    // The command is gone after terminate.
    let fault = client.receive(&shell, &id).await.unwrap_err();
    assert_eq!(fault.wsman_code, Some(2150858843));
    sim.shutdown().await;
}

#[tokio::test]
async fn working_directory_and_environment_are_honoured() {
    let (sim, client) = start(config()).await;
    let dir = std::env::temp_dir().join(format!("winrs-sim-wd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = ShellSpec {
        working_directory: Some(dir.to_string_lossy().into_owned()),
        environment: vec![
            ("GREETING".into(), "hello world".into()),
            ("odd_$NAME".into(), "x".into()),
        ],
        ..default_spec()
    };
    let shell = client.create(spec).await.unwrap();
    let id = client
        .command(&shell, "cmd", &["/c", "pwd; echo \"$GREETING\""], false)
        .await
        .unwrap();
    let out = client.receive_all(&shell, &id).await;
    let canonical = dir.canonicalize().unwrap();
    assert_eq!(
        out.stdout_text(),
        format!("{}\nhello world\n", canonical.display())
    );
    // Windows allows any variable name; sh drops odd ones, a direct process sees them all.
    let id = client.command(&shell, "env", &[], true).await.unwrap();
    let out = client.receive_all(&shell, &id).await;
    assert!(
        out.stdout_text().lines().any(|l| l == "odd_$NAME=x"),
        "{}",
        out.stdout_text()
    );
    client.delete(&shell).await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
    sim.shutdown().await;
}

#[tokio::test]
async fn noprofile_and_codepage_options() {
    let (sim, client) = start(config()).await;
    for (noprofile, want) in [(true, r"C:\Users\Default"), (false, r"C:\Users\demo")] {
        let req = client
            .request(None, RequestBody::Create(default_spec()))
            .with_option("WINRS_NOPROFILE", if noprofile { "TRUE" } else { "FALSE" })
            .with_option("WINRS_CODEPAGE", "65001");
        let shell = client.create_with(req).await.unwrap();
        let id = client
            .command(
                &shell,
                "cmd",
                &["/c", "echo \"$USERPROFILE\"; printf 'こんにちは\\n'"],
                false,
            )
            .await
            .unwrap();
        let out = client.receive_all(&shell, &id).await;
        assert_eq!(out.stdout_text(), format!("{want}\nこんにちは\n"));
        client.delete(&shell).await.unwrap();
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn cmd_exe_is_an_interactive_shell_with_a_windows_prompt() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client.command(&shell, "cmd.exe", &[], false).await.unwrap();
    // Reads until `done` holds for everything read so far.
    let read_until = |done: fn(&str) -> bool| {
        let client = &client;
        let shell = shell.clone();
        let id = id.clone();
        async move {
            let mut got = Output::default();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !done(&got.stdout_text()) {
                assert!(
                    Instant::now() < deadline,
                    "gave up on {:?}",
                    got.stdout_text()
                );
                match client.receive(&shell, &id).await {
                    Ok(r) => {
                        got.absorb(r);
                    }
                    Err(f) => assert!(f.is_timeout(), "{f:?}"),
                }
            }
            got
        }
    };
    let first = read_until(|t| t.contains(r"C:\Users\demo>")).await;
    assert!(
        !first.stdout_text().contains("job control"),
        "start-up noise: {:?}",
        first.stdout_text()
    );
    client
        .send_input(&shell, &id, b"echo hi; ls /nonexistent-dir\n", false)
        .await
        .unwrap();
    let out = read_until(|t| {
        t.find("nonexistent-dir")
            .is_some_and(|at| t[at..].contains(r"C:\Users\demo>"))
    })
    .await;
    let text = out.stdout_text();
    assert!(text.contains("hi\n"), "{text:?}");
    // The prompt and the command's stderr come in order on stdout, as on a console.
    assert!(
        text.find("hi\n").unwrap() < text.rfind(r"C:\Users\demo>").unwrap(),
        "{text:?}"
    );
    client
        .send_input(&shell, &id, b"exit 4\n", false)
        .await
        .unwrap();
    let end = client.receive_all(&shell, &id).await;
    assert_eq!(end.exit_code, 4);
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn cmd_exe_has_cmds_built_ins_on_a_sandbox_removed_with_the_shell() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client.command(&shell, "cmd.exe", &[], false).await.unwrap();
    let mut got = Output::default();
    // Sends a line, then reads until `want` shows after everything read so far.
    let mut say = async |line: &str, want: &str| -> String {
        let from = got.stdout_text().len();
        if !line.is_empty() {
            client
                .send_input(&shell, &id, format!("{line}\r\n").as_bytes(), false)
                .await
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !got.stdout_text()[from..].contains(want) {
            assert!(
                Instant::now() < deadline,
                "gave up on {want:?} in {:?}",
                got.stdout_text()
            );
            match client.receive(&shell, &id).await {
                Ok(r) => {
                    got.absorb(r);
                }
                Err(f) => assert!(f.is_timeout(), "{f:?}"),
            }
        }
        got.stdout_text()[from..].to_string()
    };
    say("", r"C:\Users\demo>").await;
    // The prompt follows cd; cmd echoes each line it reads after its prompt.
    let out = say("cd ..", r"C:\Users>").await;
    assert_eq!(out, "cd ..\r\nC:\\Users>");
    let out = say("ver", r"C:\Users>").await;
    assert!(out.contains("Microsoft Windows [Version 10.0."), "{out:?}");
    let out = say(r"cd /d c:\windows\system32", r"C:\Windows\System32>").await;
    assert!(out.starts_with("cd /d"), "{out:?}");
    let out = say(r"dir C:\Users", r"C:\Windows\System32>").await;
    assert!(out.contains(" Directory of C:\\Users\r\n"), "{out:?}");
    assert!(out.contains("<DIR>          demo\r\n"), "{out:?}");
    // Other programs run through bash, in the sandbox folder that stands for the current one.
    let out = say("pwd", r"C:\Windows\System32>").await;
    let dir = out
        .lines()
        .find(|l| l.starts_with('/'))
        .unwrap_or_else(|| panic!("{out:?}"))
        .trim()
        .to_string();
    assert!(dir.ends_with("/C/Windows/System32"), "{dir}");
    let sandbox = std::path::PathBuf::from(dir.trim_end_matches("/C/Windows/System32"));
    assert!(sandbox.is_dir());
    // set and %VAR% reach programs too; a missing program is cmd's 9009.
    say("set GREETING=hi there", ">").await;
    let out = say("echo [%greeting%]", r"C:\Windows\System32>").await;
    assert!(out.contains("\r\n[hi there]\r\n"), "{out:?}");
    let out = say("echo \"<$GREETING>\"", r"C:\Windows\System32>").await;
    assert!(out.contains("\n<hi there>\n"), "{out:?}");
    say("no-such-program-here", ">").await;
    let out = say("echo %ERRORLEVEL%", ">").await;
    assert!(out.contains("\r\n9009\r\n"), "{out:?}");
    client
        .send_input(&shell, &id, b"exit /b 4\r\n", false)
        .await
        .unwrap();
    let end = client.receive_all(&shell, &id).await;
    assert_eq!(end.exit_code, 4);
    client.delete(&shell).await.unwrap();
    assert!(!sandbox.exists(), "the sandbox goes with the shell");
    sim.shutdown().await;
}

#[tokio::test]
async fn cmd_shows_each_line_once_as_typed_whatever_its_length() {
    // bash with readline (line editing is on for `-i` even on a pipe) redrew lines that
    // reached its 80 columns together with the prompt marker, which holds the sandbox path:
    // cursor movements and the line's end again. Lines of every length around that width
    // must come back as cmd shows them: the line, its output, the prompt. The first line is
    // sent before the first prompt (typed ahead), each in two pieces.
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client.command(&shell, "cmd.exe", &[], false).await.unwrap();
    let mut got = Output::default();
    let prompt = r"C:\Users\demo>";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut from = 0;
    for n in 0..=120 {
        // Quoted: bash's, not cmd's built-in echo.
        let line = format!("echo 'x{}'", "y".repeat(n));
        let (a, b) = line.split_at(line.len() / 2);
        for piece in [a.to_string(), format!("{b}\r\n")] {
            client
                .send_input(&shell, &id, piece.as_bytes(), false)
                .await
                .unwrap();
        }
        // bash's echo of the line as it read it, its output, the prompt.
        let want = format!("{prompt}{line}\nx{}\n{prompt}", "y".repeat(n));
        loop {
            let text = got.stdout_text();
            if text[from..].contains(&want) {
                break;
            }
            assert!(Instant::now() < deadline, "gave up on {want:?} in {text:?}");
            match client.receive(&shell, &id).await {
                Ok(r) => {
                    got.absorb(r);
                }
                Err(f) => assert!(f.is_timeout(), "{f:?}"),
            }
        }
        let text = got.stdout_text();
        let shown = &text[from..];
        assert!(
            shown.ends_with(&want) && !shown.contains('\x1b'),
            "line of {} characters shown as {shown:?}",
            line.len()
        );
        from = text.len() - prompt.len();
    }
    client.delete(&shell).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn powershell_dash_reads_commands_from_stdin() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(
            &shell,
            "powershell.exe",
            &["-NoLogo", "-NoProfile", "-"],
            false,
        )
        .await
        .unwrap();
    client
        .send_input(&shell, &id, b"echo output 1\n", false)
        .await
        .unwrap();
    client
        .send_input(&shell, &id, b"echo output 2\n", true)
        .await
        .unwrap();
    let out = client.receive_all(&shell, &id).await;
    let text = out.stdout_text();
    assert!(
        text.contains("output 1\n") && text.contains("output 2\n"),
        "{text:?}"
    );
    assert!(text.contains(r"PS C:\Users\demo> "), "{text:?}");
    assert_eq!(out.exit_code, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_never_ending_command_keeps_timing_out_cleanly() {
    let (sim, mut client) = start(config()).await;
    client.operation_timeout = Duration::from_millis(500);
    let shell = client.shell().await;
    let id = client
        .command(&shell, "sleep", &["600"], true)
        .await
        .unwrap();
    for _ in 0..4 {
        let started = Instant::now();
        let fault = client.receive(&shell, &id).await.unwrap_err();
        let held = started.elapsed();
        assert!(fault.is_timeout(), "{fault:?}");
        assert_eq!(fault.wsman_code, Some(2150858793));
        assert_eq!(fault.subcode.as_deref(), Some("w:TimedOut"));
        assert!(
            held >= Duration::from_millis(450) && held < Duration::from_secs(5),
            "held {held:?}"
        );
    }
    client
        .signal(&shell, &id, SignalCode::Terminate)
        .await
        .unwrap();
    client.delete(&shell).await.unwrap();
    assert_eq!(sim.shell_count(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_abandoned_receive_loses_no_output() {
    let (sim, client) = start(config()).await;
    let shell = client.shell().await;
    let id = client
        .command(&shell, "cmd", &["/c", "sleep 1; echo late"], false)
        .await
        .unwrap();
    // A client that gives up on its Receive before the output arrives.
    let impatient = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let body = RequestBody::Receive {
        command_id: Some(id.clone()),
        streams: vec!["stdout".into(), "stderr".into()],
        sequence_id: None,
    };
    let xml = wsman::client::write_request(&client.request(Some(&shell), body));
    let abandoned = impatient
        .post(&client.endpoint)
        .basic_auth(USER, Some(PASSWORD))
        .header("Content-Type", "application/soap+xml;charset=UTF-8")
        .body(xml)
        .send()
        .await;
    assert!(
        abandoned.is_err(),
        "the request should have timed out on the client"
    );
    drop(impatient);
    let out = client.receive_all(&shell, &id).await;
    assert_eq!(out.stdout_text(), "late\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_deletes_shells_and_kills_their_processes() {
    let (sim, client) = start(config()).await;
    let mut pids = Vec::new();
    for _ in 0..3 {
        let shell = client.shell().await;
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
        pids.push(out.stdout_text().trim().parse::<i32>().unwrap());
    }
    assert_eq!(sim.shell_count(), 3);
    assert!(pids.iter().all(|p| process_alive(*p)));
    sim.shutdown().await;
    assert!(
        eventually(Duration::from_secs(5), || pids
            .iter()
            .all(|p| !process_alive(*p)))
        .await
    );
}
