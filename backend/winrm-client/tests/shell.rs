//! The interactive shell API against the real simulator on loopback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sha2::{Digest, Sha256};
use winrm_client::{Client, Output, RequestObserver, RequestOutcome, ShellOptions};
use wsman::Action;

#[tokio::test]
async fn commands_report_stdout_stderr_and_exit_codes() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    assert_eq!(sim.shell_count(), 1);

    let out = shell
        .run("cmd", ["/c", "echo out; echo err >&2; exit 3"])
        .await
        .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code, 3);

    let out = shell
        .run("cmd", ["/c", "printf 'h\u{e9}llo \u{2713}'"])
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "h\u{e9}llo \u{2713}"
    );
    assert_eq!(out.exit_code, 0);

    // Several commands in one shell, one after another.
    for i in 0..5 {
        let out = shell.run("cmd", [format!("/c exit {i}")]).await.unwrap();
        assert_eq!(out.exit_code, i);
    }

    shell.close().await.unwrap();
    assert_eq!(sim.shell_count(), 0);
    assert!(client.open_shell_ids().is_empty());
}

#[tokio::test]
async fn shell_options_reach_the_commands() {
    let sim = sim().await;
    let client = client(&sim);
    let dir = std::env::temp_dir();
    let shell = client
        .open_shell(ShellOptions {
            working_directory: Some(dir.display().to_string()),
            env: vec![("WINRELAY_TEST".into(), "v a l".into())],
            ..ShellOptions::default()
        })
        .await
        .unwrap();
    let out = shell
        .run("cmd", ["/c", "pwd; echo \"$WINRELAY_TEST\""])
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let want_dir = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(text, format!("{}\nv a l\n", want_dir.display()));
    drop(shell);
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn interactive_cmd_takes_several_lines() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    let mut cmd = shell.start("cmd", Vec::<String>::new()).await.unwrap();

    cmd.send(b"echo first line\n").await.unwrap();
    read_until(&mut cmd, "first line").await;
    cmd.send(b"x=6; echo $((x * 7))\n").await.unwrap();
    read_until(&mut cmd, "42").await;
    // Two lines in one send, and one line in two sends.
    cmd.send(b"echo a-1\necho b-").await.unwrap();
    cmd.send(b"2\n").await.unwrap();
    let text = read_until(&mut cmd, "b-2").await;
    assert!(text.contains("a-1"), "{text:?}");
    cmd.send(b"exit 7\n").await.unwrap();
    let (_, code) = until_exit(&mut cmd).await;
    assert_eq!(code, 7);

    drop(cmd);
    shell.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn closing_stdin_ends_a_reader_and_large_input_is_split_in_order() {
    // The simulator accepts envelopes of 64 KB; the client is told so, and must cut 1 MB of
    // stdin into pieces that fit.
    let sim = sim_with(|c| c.max_envelope_size = 64_000).await;
    let mut cfg = config(&sim);
    cfg.max_envelope_size = 64_000;
    let client = winrm_client::Client::new(cfg).unwrap();
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    let mut cmd = shell.start("cmd", ["/c", "sha256sum"]).await.unwrap();
    let chunk = cmd.input().chunk_size();
    assert!(
        chunk < 64_000 * 3 / 4 && chunk > 40_000,
        "chunk size {chunk}"
    );

    let data: Vec<u8> = (0..1_000_003u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    cmd.send(&data).await.unwrap();
    cmd.close_stdin().await.unwrap();
    let (text, code) = until_exit(&mut cmd).await;
    assert_eq!(code, 0);
    assert_eq!(
        text.split_whitespace().next(),
        Some(hex::encode(Sha256::digest(&data)).as_str())
    );
    assert!(cmd.send(b"late").await.is_err(), "stdin is closed");

    drop(cmd);
    drop(shell);
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn ctrl_c_stops_a_long_command() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    // Not one long `sleep`: a Ctrl+C that lands between bash's fork and sleep's exec is
    // swallowed by bash's own handler in the child, and bash then waits for the sleep. bash
    // gets the signal too, so with a trap it ends after the short sleep it is in.
    let mut cmd = shell
        .start(
            "cmd",
            [
                "/c",
                "trap 'exit 130' INT; echo started; while :; do sleep 0.2; done",
            ],
        )
        .await
        .unwrap();
    read_until(&mut cmd, "started").await;
    let started = std::time::Instant::now();
    cmd.ctrl_c().await.unwrap();
    let (_, code) = until_exit(&mut cmd).await;
    assert_ne!(code, 0, "sleep was interrupted, not finished");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The shell is still usable afterwards.
    let out = shell.run("cmd", ["/c", "echo still here"]).await.unwrap();
    assert_eq!(out.stdout, b"still here\n");
    shell.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn terminate_stops_a_command_that_ignores_ctrl_c() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    let mut cmd = shell
        .start(
            "cmd",
            ["/c", "trap '' INT; echo ready; while :; do sleep 1; done"],
        )
        .await
        .unwrap();
    read_until(&mut cmd, "ready").await;
    cmd.terminate().await.unwrap();
    let (_, code) = until_exit(&mut cmd).await;
    assert_ne!(code, 0);
    drop(cmd);
    shell.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn fifty_megabytes_of_output_arrive_intact() {
    let sim = sim().await;
    let client = client(&sim);
    // Random bytes in a file, so the test knows exactly what must arrive.
    let path = std::env::temp_dir().join(format!("winrm-client-50mb-{}", std::process::id()));
    let mut data = vec![0u8; 50 * 1024 * 1024];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(&path, &data).unwrap();
    let want = Sha256::digest(&data);
    drop(data);

    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    let mut cmd = shell
        .start("cmd", [format!("/c cat {}", path.display())])
        .await
        .unwrap();
    let mut hasher = Sha256::new();
    let mut len = 0usize;
    let code = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            match cmd.recv().await.expect("output until exit").unwrap() {
                Output::Stdout(b) => {
                    len += b.len();
                    hasher.update(&b);
                }
                Output::Stderr(b) => panic!("stderr: {:?}", String::from_utf8_lossy(&b)),
                Output::Exited(code) => return code,
            }
        }
    })
    .await
    .expect("50 MB within 120 s");
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 0);
    assert_eq!(len, 50 * 1024 * 1024);
    assert_eq!(hasher.finalize(), want);
    drop(cmd);
    shell.close().await.unwrap();
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn a_consumer_that_stops_reading_holds_the_command_back() {
    let sim = sim().await;
    let client = client(&sim);
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    let marker = std::env::temp_dir().join(format!("winrm-client-bp-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let mut cmd = shell
        .start(
            "cmd",
            [format!(
                "/c head -c 30000000 /dev/zero; touch {}; echo done >&2",
                marker.display()
            )],
        )
        .await
        .unwrap();
    // Read one piece, then stop reading. Were the client buffering without bound, the 30 MB
    // would all be fetched and the marker written; with back-pressure the producer waits on a
    // full pipe (the simulator buffers 4 MiB, the client 16 responses of at most 150 KB).
    let first = cmd.recv().await.unwrap().unwrap();
    let Output::Stdout(first) = first else {
        panic!("{first:?}")
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !marker.exists(),
        "the command ran ahead of a consumer that does not read"
    );
    // Then drain: everything still arrives. (stdout and stderr are separate pipes: their
    // relative order is not kept, on Windows either.)
    let mut total = first.len();
    let mut saw_done = false;
    let code = loop {
        match cmd.recv().await.unwrap().unwrap() {
            Output::Stdout(b) => total += b.len(),
            Output::Stderr(b) => saw_done = b.as_ref() == b"done\n",
            Output::Exited(code) => break code,
        }
    };
    assert!(marker.exists());
    let _ = std::fs::remove_file(&marker);
    assert_eq!((total, saw_done, code), (30_000_000, true, 0));
    drop(cmd);
    drop(shell);
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn dropping_shells_and_commands_deletes_the_shells() {
    let sim = sim().await;
    let client = client(&sim);
    let mut shells = vec![];
    for _ in 0..3 {
        shells.push(client.open_shell(ShellOptions::default()).await.unwrap());
    }
    assert_eq!(sim.shell_count(), 3);
    // A command still running when everything is dropped.
    let cmd = shells[0].start("cmd", ["/c", "sleep 600"]).await.unwrap();
    drop(shells);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sim.shell_count() >= 1, "the command keeps its shell alive");
    drop(cmd);
    assert_no_shells(&sim).await;
    // The client's own list agrees.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client.open_shell_ids().is_empty());
}

#[tokio::test]
async fn close_all_deletes_every_open_shell() {
    let sim = sim().await;
    let client = client(&sim);
    let a = client.open_shell(ShellOptions::default()).await.unwrap();
    let b = client.open_shell(ShellOptions::default()).await.unwrap();
    assert_eq!(client.open_shell_ids().len(), 2);
    client.close_all().await.unwrap();
    assert_eq!(sim.shell_count(), 0);
    // The handles now refer to deleted shells: using one says so.
    let err = a.run("cmd", ["/c", "echo x"]).await.unwrap_err();
    assert!(err.is_shell_gone(), "{err}");
    drop((a, b));
    assert_no_shells(&sim).await;
}

#[tokio::test]
async fn every_finished_command_is_terminated_even_when_its_output_is_dropped_at_once() {
    let sim = sim().await;
    let mut config = config(&sim);
    let signals = Arc::new(Mutex::new(Vec::new()));
    let seen = signals.clone();
    config.observer = Some(RequestObserver(Arc::new(move |action, _, outcome| {
        if action == Action::Signal {
            seen.lock().unwrap().push(outcome);
        }
    })));
    let client = Client::new(config).unwrap();
    let shell = client.open_shell(ShellOptions::default()).await.unwrap();
    // `run` returns once the finished command was terminated on the server.
    for i in 0..5 {
        let out = shell.run("cmd", [format!("/c exit {i}")]).await.unwrap();
        assert_eq!(out.exit_code, i);
        assert_eq!(signals.lock().unwrap().len(), i as usize + 1);
    }
    // A caller that drops the stream as soon as it has the exit code: the Terminate still
    // goes out (it used to be cancelled with the stream's receive loop).
    for _ in 0..3 {
        let mut cmd = shell.start("cmd", ["/c exit 7"]).await.unwrap();
        assert_eq!(until_exit(&mut cmd).await.1, 7);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = signals.lock().unwrap().clone();
        if got.len() >= 8 {
            assert_eq!(
                got,
                vec![RequestOutcome::Ok; 8],
                "one Terminate per command, each answered"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Terminates answered: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shell.close().await.unwrap();
}
