//! The PowerShell pool API against the simulator's PSRP endpoint: pools, pipelines, input,
//! every stream, host calls, SecureStrings, stop, small envelopes, quota, and no pool left
//! behind.

mod common;

use std::time::{Duration, Instant};

use common::*;
use psrp::clixml::Value;
use psrp::host::{HostCall, HostMethodId};
use psrp::messages::{Command, CreatePipeline};
use psrp::records::{HostInfo, PipelineState};
use winrm_client::{Error, HostAnswer, PoolOptions, PowerShellPool, PsEvent, PsHost};

async fn assert_no_pools(sim: &winrs_sim::SimHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.pool_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} pool(s) left open",
            sim.pool_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_no_shells(sim).await;
}

fn script(text: &str) -> CreatePipeline {
    CreatePipeline::new(vec![Command::script(text)], HostInfo::null())
}

#[tokio::test]
async fn open_run_several_pipelines_and_close() {
    let sim = sim().await;
    let client = client(&sim);
    let pool = client.open_pool(PoolOptions::default()).await.unwrap();
    assert_eq!(sim.pool_count(), 1);
    assert_eq!(pool.protocol_version(), Some((2, 3)));
    assert_eq!(pool.ps_version().as_deref(), Some("5.1.17763.1007"));
    let r = pool
        .run_script("$x = 'kept'; Write-Output 1 two")
        .await
        .unwrap();
    assert_eq!(r.output, vec![Value::I32(1), Value::str("two")]);
    assert_eq!(r.state, Some(PipelineState::Completed));
    assert!(!r.had_errors());
    let r = pool.run_script("\"$x across pipelines\"").await.unwrap();
    assert_eq!(r.output, vec![Value::str("kept across pipelines")]);
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn input_objects_reach_the_pipeline() {
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let create = CreatePipeline::new(vec![Command::cmdlet("Write-Output")], HostInfo::null());
    let input = vec![Value::str("a"), Value::I32(2)];
    let mut p = pool.start(create, input.clone()).await.unwrap();
    let mut out = Vec::new();
    while let Some(ev) = p.next().await {
        match ev.unwrap() {
            PsEvent::Output(v) => out.push(v),
            PsEvent::Finished { state, .. } => {
                assert_eq!(state, PipelineState::Completed);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(out, input);
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn every_stream_arrives_in_order() {
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let mut p = pool
        .start(
            script(
                "Write-Output first; Write-Error 'bad thing'; Write-Warning w; \
                 Write-Verbose v -Verbose; Write-Debug d -Debug; Write-Information i; \
                 Write-Progress -Activity Act -PercentComplete 30; Write-Output last",
            ),
            vec![],
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(ev) = p.next().await {
        let ev = ev.unwrap();
        let tag = match &ev {
            PsEvent::Output(v) => format!("out:{}", v.display()),
            PsEvent::Error(e) => format!("err:{}", e.message),
            PsEvent::Warning(m) => format!("warn:{m}"),
            PsEvent::Verbose(m) => format!("verbose:{m}"),
            PsEvent::Debug(m) => format!("debug:{m}"),
            PsEvent::Information(i) => format!("info:{}", i.text()),
            PsEvent::Progress(r) => format!("progress:{}:{}", r.activity, r.percent_complete),
            PsEvent::HostCall(c) => format!("host:{}", c.method.name()),
            PsEvent::Finished { state, .. } => format!("finished:{state:?}"),
        };
        seen.push(tag);
        if matches!(ev, PsEvent::Finished { .. }) {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "out:first",
            "err:bad thing",
            "warn:w",
            "verbose:v",
            "debug:d",
            "info:i",
            "progress:Act:30",
            "out:last",
            "finished:Completed"
        ]
    );
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

struct Answers {
    calls: Vec<String>,
}

impl PsHost for Answers {
    fn call(&mut self, call: &HostCall, _: &PowerShellPool) -> Option<HostAnswer> {
        self.calls.push(call.method.name().to_string());
        match call.method {
            HostMethodId::READ_LINE => Some(HostAnswer::Value(Value::str("Ada"))),
            HostMethodId::READ_LINE_AS_SECURE_STRING => Some(HostAnswer::Secret("pa55".into())),
            _ => None,
        }
    }
}

#[tokio::test]
async fn host_calls_are_answered_and_secure_strings_travel_both_ways() {
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let mut host = Answers { calls: Vec::new() };
    let create = CreatePipeline::new(
        vec![Command::script(
            "$n = Read-Host; Write-Host \"hi $n\"; $n; Read-Host -AsSecureString; exit 7",
        )],
        HostInfo::console(80, 25),
    );
    let r = pool
        .start(create, vec![])
        .await
        .unwrap()
        .run_with(&mut host, &pool)
        .await
        .unwrap();
    assert_eq!(
        host.calls,
        [
            "ReadLine",
            "WriteLine2",
            "ReadLineAsSecureString",
            "SetShouldExit"
        ]
    );
    assert_eq!(r.output[0], Value::str("Ada"));
    // The key was exchanged on demand; the server echoed the SecureString.
    assert!(matches!(r.output[1], Value::SecureString(_)));
    assert_eq!(pool.reveal(&r.output[1]).as_deref(), Some("pa55"));
    assert_eq!(r.exit_code, Some(7));
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn stop_ends_a_running_pipeline() {
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    let mut p = pool
        .start(script("Start-Sleep -Seconds 60; 'not reached'"), vec![])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.stop().await.unwrap();
    let mut last = None;
    while let Some(ev) = p.next().await {
        last = Some(ev.unwrap());
    }
    let Some(PsEvent::Finished { state, error }) = last else {
        panic!("no end: {last:?}")
    };
    assert_eq!(state, PipelineState::Stopped);
    assert_eq!(error.unwrap().fully_qualified_error_id, "PipelineStopped");
    assert!(started.elapsed() < Duration::from_secs(10));
    let r = pool.run_script("'after stop'").await.unwrap();
    assert_eq!(r.output, vec![Value::str("after stop")]);
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn small_envelopes_fragment_both_ways() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.max_envelope_size = 8192;
    let client = winrm_client::Client::new(cfg).unwrap();
    let pool = client.open_pool(PoolOptions::default()).await.unwrap();
    let big = "y".repeat(50_000);
    let create = CreatePipeline::new(vec![Command::cmdlet("Write-Output")], HostInfo::null());
    let r = pool
        .start(create, vec![Value::str(big.clone())])
        .await
        .unwrap()
        .run_with(&mut Answers { calls: vec![] }, &pool)
        .await
        .unwrap();
    assert_eq!(r.output, vec![Value::str(big)]);
    let r = pool.run_script("1..2000").await.unwrap();
    assert_eq!(r.output.len(), 2000);
    assert_eq!(r.output[1999], Value::I32(2000));
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn pools_count_in_the_shell_quota_and_dropping_deletes() {
    let sim = sim_with(|c| c.max_shells_per_user = 2).await;
    let client = client(&sim);
    let a = client.open_pool(PoolOptions::default()).await.unwrap();
    let shell = client.open_shell(Default::default()).await.unwrap();
    let err = client.open_pool(PoolOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::QuotaReached { .. }), "{err}");
    drop(a);
    shell.close().await.unwrap();
    assert_no_pools(&sim).await;
    // A failed open leaves nothing either, and any configuration name is served.
    let b = client
        .open_pool(PoolOptions {
            configuration: "JEA.Maintenance".into(),
            ..PoolOptions::default()
        })
        .await
        .unwrap();
    let r = b
        .run_script("Get-Location | Out-String -Stream")
        .await
        .unwrap();
    assert!(
        r.output.iter().any(|v| v.display() == "Path"),
        "{:?}",
        r.output
    );
    b.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn get_credential_and_read_host_prompt_are_host_calls() {
    use psrp::host::HostResponse;
    use psrp::records::PsCredential;
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let create = CreatePipeline::new(
        vec![Command::script(
            "$c = Get-Credential -UserName bob; $c; Read-Host -Prompt Name",
        )],
        HostInfo::console(80, 25),
    );
    let mut p = pool.start(create, vec![]).await.unwrap();
    let mut out = Vec::new();
    while let Some(ev) = p.next().await {
        match ev.unwrap() {
            PsEvent::HostCall(call) => match call.method {
                HostMethodId::PROMPT_FOR_CREDENTIAL2 => {
                    assert_eq!(call.params[2], Value::str("bob"));
                    let Value::SecureString(password) =
                        pool.secure_string("hunter2").await.unwrap()
                    else {
                        panic!("not a SecureString")
                    };
                    let cred = PsCredential {
                        user_name: "bob".into(),
                        password,
                    };
                    p.respond(&HostResponse::credential(&call, &cred))
                        .await
                        .unwrap();
                }
                HostMethodId::PROMPT => {
                    let psrp::host::HostRequest::Prompt { fields, .. } = call.request() else {
                        panic!("not a prompt: {call:?}")
                    };
                    assert_eq!(fields[0].name, "Name");
                    assert_eq!(fields[0].type_full_name, "System.String");
                    let answer = vec![(fields[0].name.clone(), Value::str("Grace"))];
                    p.respond(&HostResponse::prompt(&call, answer))
                        .await
                        .unwrap();
                }
                other => panic!("unexpected host call {other:?}"),
            },
            PsEvent::Output(v) => out.push(v),
            PsEvent::Finished { state, .. } => {
                assert_eq!(state, PipelineState::Completed);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let cred = PsCredential::from_value(&out[0]).unwrap();
    assert_eq!(cred.user_name, "bob");
    assert_eq!(
        pool.reveal(&Value::SecureString(cred.password)).as_deref(),
        Some("hunter2")
    );
    assert_eq!(out[1], Value::str("Grace"));
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn the_console_helpers_pipelines_work_against_the_simulator() {
    use psrp::console::{completion_pipeline, line_pipeline, prompt_pipeline, CommandCompletion};
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let host = HostInfo::console(120, 30);
    // Tab completion: commands, parameters, paths.
    for (line, expected) in [
        ("Set-Lo", "Set-Location"),
        ("Write-Host -Fore", "-ForegroundColor"),
        ("Get-ChildItem /et", "/etc"),
    ] {
        let cursor = line.encode_utf16().count();
        let r = pool
            .start(completion_pipeline(line, cursor, host.clone()), vec![])
            .await
            .unwrap()
            .run_with(&mut Answers { calls: vec![] }, &pool)
            .await
            .unwrap();
        let c = CommandCompletion::from_value(&r.output[0]).expect("a CommandCompletion");
        assert!(
            c.matches
                .iter()
                .any(|m| m.completion_text.replace('\\', "/") == expected),
            "{line}: {c:?}"
        );
        let (applied, _) = c.apply(line, 0).unwrap();
        assert!(
            applied.starts_with(line.split(' ').next().unwrap()),
            "{applied}"
        );
    }
    // The prompt.
    let r = pool
        .start(prompt_pipeline(host.clone()), vec![])
        .await
        .unwrap()
        .run_with(&mut Answers { calls: vec![] }, &pool)
        .await
        .unwrap();
    assert!(r.output[0].display().starts_with("PS "), "{:?}", r.output);
    // A typed line: output and merged errors rendered by Out-Default as host writes.
    let mut p = pool
        .start(
            line_pipeline("'shown'; Write-Error nope", host.clone(), (2, 3)),
            vec![],
        )
        .await
        .unwrap();
    let mut writes = Vec::new();
    while let Some(ev) = p.next().await {
        match ev.unwrap() {
            PsEvent::HostCall(call) => writes.push((
                call.method.name().to_string(),
                call.write_text().unwrap().text,
            )),
            PsEvent::Finished { .. } => break,
            PsEvent::Information(_) => {}
            other => panic!("Out-Default should have taken {other:?}"),
        }
    }
    assert_eq!(writes[0], ("WriteLine2".to_string(), "shown".to_string()));
    assert_eq!(writes[1].0, "WriteErrorLine");
    assert!(writes[1].1.contains("nope"), "{writes:?}");
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn a_chatty_external_program_is_delivered_whole() {
    // More output than the simulator holds unreceived (4 MiB): its evaluator waits for the
    // client's Receives instead of buffering everything.
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let r = pool.run_script("seq 1 60000; $LASTEXITCODE").await.unwrap();
    assert_eq!(r.output.len(), 60_001);
    assert_eq!(r.output[59_999], Value::str("60000"));
    assert_eq!(r.output[60_000], Value::I32(0));
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}
