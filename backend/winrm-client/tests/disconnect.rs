//! A pool handed from one client to another: Disconnect, then Connect by its id (issue 15),
//! against the simulator: state carries over, a connected pool refuses a second client, a
//! pool whose client vanished becomes connectable after the simulator's timeout, and the
//! new client exchanges its own session key for SecureStrings.

mod common;

use std::time::{Duration, Instant};

use common::*;
use psrp::clixml::Value;
use psrp::host::{HostCall, HostMethodId};
use psrp::messages::{Command, CreatePipeline};
use psrp::records::{HostInfo, PipelineState};
use winrm_client::{Client, Error, HostAnswer, PoolOptions, PowerShellPool, PsHost};

async fn run(pool: &PowerShellPool, script: &str) -> Vec<String> {
    let r = pool.run_script(script).await.unwrap();
    assert_eq!(r.state, Some(PipelineState::Completed), "{script}: {r:?}");
    assert!(r.errors.is_empty(), "{script}: {:?}", r.errors);
    r.output.iter().map(Value::display).collect()
}

async fn assert_no_pools(sim: &winrs_sim::SimHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.pool_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} pool(s) left",
            sim.pool_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_no_shells(sim).await;
}

fn refused_as_connected(r: Result<PowerShellPool, Error>) -> String {
    match r {
        Err(e @ Error::Fault { .. }) => {
            let text = e.to_string();
            assert!(text.contains("connected to a client"), "{text}");
            text
        }
        other => panic!("Connect to a connected pool: {other:?}"),
    }
}

#[tokio::test]
async fn a_second_client_continues_a_disconnected_pool() {
    let sim = sim().await;
    let first = client(&sim);
    let pool = first.open_pool(PoolOptions::default()).await.unwrap();
    assert_eq!(run(&pool, "$x = 42; 'set'").await, ["set"]);
    let id = pool.disconnect().await.unwrap();
    // Nothing was deleted: the pool waits, Disconnected, for its next client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.pool_count(), 1);

    let second = client(&sim);
    let pool = second
        .connect_pool(&id, PoolOptions::default())
        .await
        .unwrap();
    assert_eq!(pool.id(), id);
    assert_eq!(pool.protocol_version(), Some((2, 3)));
    assert_eq!(run(&pool, "$x").await, ["42"]);
    assert_eq!(run(&pool, "\"$x and more\"").await, ["42 and more"]);
    // The private data came again on the pool's Receive.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.ps_version().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pool.ps_version().as_deref(), Some("5.1.17763.1007"));

    // Connected again: a third client is refused until this one lets go.
    let third = client(&sim);
    refused_as_connected(third.connect_pool(&id, PoolOptions::default()).await);
    assert_eq!(
        run(&pool, "$x").await,
        ["42"],
        "the refusal left the pool alone"
    );

    // A connected pool is closed as usual.
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn a_pool_handed_on_twice_and_dropped_is_deleted() {
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    run(&pool, "$n = 'one'").await;
    let id = pool.disconnect().await.unwrap();
    let pool = client(&sim)
        .connect_pool(&id, PoolOptions::default())
        .await
        .unwrap();
    run(&pool, "$n = \"$n two\"").await;
    let id = pool.disconnect().await.unwrap();
    let pool = client(&sim)
        .connect_pool(&id, PoolOptions::default())
        .await
        .unwrap();
    assert_eq!(run(&pool, "$n").await, ["one two"]);
    // The drop guard of a connected pool deletes it too.
    drop(pool);
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn connect_to_an_unknown_pool_says_the_shell_is_gone() {
    let sim = sim().await;
    let r = client(&sim)
        .connect_pool(
            "0E6C4A4B-2E67-4F73-9C8B-6B7D3D6A1F00",
            PoolOptions::default(),
        )
        .await;
    assert!(matches!(r, Err(Error::ShellGone { .. })), "{r:?}");
    let r = client(&sim)
        .connect_pool("not a guid", PoolOptions::default())
        .await;
    assert!(r.is_err());
}

/// A relay killed with -9: no Disconnect, no Delete. The simulator (like Windows) marks the
/// pool Disconnected once nothing has been asked of it for a while; before that a Connect is
/// refused, after it another client continues the pool.
#[tokio::test]
async fn a_vanished_clients_pool_becomes_connectable_after_the_timeout() {
    let after = Duration::from_secs(1);
    let sim = sim_with(|c| c.pool_disconnect_after = Some(after)).await;
    // A short OperationTimeout, so that the vanished client's last Receive (which the
    // server may hold until then) ends soon.
    let mut config = config(&sim);
    config.operation_timeout = Duration::from_secs(2);
    let first = Client::new(config).unwrap();
    let pool = first.open_pool(PoolOptions::default()).await.unwrap();
    run(&pool, "$who = 'first'").await;
    let id = pool.forget();
    let gone_at = Instant::now();

    let second = client(&sim);
    refused_as_connected(second.connect_pool(&id, PoolOptions::default()).await);
    let deadline = Instant::now() + Duration::from_secs(20);
    let pool = loop {
        match second.connect_pool(&id, PoolOptions::default()).await {
            Ok(pool) => break pool,
            Err(e) => {
                assert!(e.to_string().contains("connected to a client"), "{e}");
                assert!(
                    Instant::now() < deadline,
                    "the pool never became Disconnected"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(gone_at.elapsed() >= after, "{:?}", gone_at.elapsed());
    assert_eq!(run(&pool, "$who").await, ["first"]);
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

#[tokio::test]
async fn a_pool_whose_client_keeps_receiving_stays_connected() {
    let sim = sim_with(|c| c.pool_disconnect_after = Some(Duration::from_millis(500))).await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    // The pool's own Receive is always outstanding, so idle time never starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other = client(&sim);
    refused_as_connected(other.connect_pool(pool.id(), PoolOptions::default()).await);
    assert_eq!(run(&pool, "'alive'").await, ["alive"]);
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

struct Secret;

impl PsHost for Secret {
    fn call(&mut self, call: &HostCall, _: &PowerShellPool) -> Option<HostAnswer> {
        (call.method == HostMethodId::READ_LINE_AS_SECURE_STRING)
            .then(|| HostAnswer::Secret("s3cret after connect".into()))
    }
}

/// The new client has no session key: it exchanges its own (PUBLIC_KEY /
/// ENCRYPTED_SESSION_KEY) on the connected pool. The simulator re-encrypts a SecureString it
/// writes out with its current key and refuses one it cannot decrypt, so the round trip
/// proves both ends hold the same new key.
#[tokio::test]
async fn secure_strings_travel_after_connect() {
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    // The first client had a key of its own.
    let before = pool.secure_string("old").await.unwrap();
    let id = pool.disconnect().await.unwrap();

    let pool = client(&sim)
        .connect_pool(&id, PoolOptions::default())
        .await
        .unwrap();
    assert_eq!(pool.reveal(&before), None, "no key before the exchange");
    let create = CreatePipeline::new(
        vec![Command::script("$s = Read-Host -AsSecureString; $s")],
        HostInfo::console(80, 25),
    );
    let r = pool
        .start(create, vec![])
        .await
        .unwrap()
        .run_with(&mut Secret, &pool)
        .await
        .unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.state, Some(PipelineState::Completed));
    assert!(matches!(r.output[0], Value::SecureString(_)));
    assert_eq!(
        pool.reveal(&r.output[0]).as_deref(),
        Some("s3cret after connect")
    );
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}

/// A pipeline still running when its client disconnected goes on on the server; the next
/// client attaches to it by its CommandId and gets the rest of its output and its end.
#[tokio::test]
async fn a_running_pipeline_is_continued_by_the_next_client() {
    use winrm_client::PsEvent;
    let sim = sim().await;
    let pool = client(&sim)
        .open_pool(PoolOptions::default())
        .await
        .unwrap();
    let create = CreatePipeline::new(
        vec![Command::script(
            "'before'; Start-Sleep -Milliseconds 800; 'after'",
        )],
        HostInfo::null(),
    );
    let mut running = pool.start(create, vec![]).await.unwrap();
    let first = running.next().await.unwrap().unwrap();
    assert_eq!(first, PsEvent::Output(Value::str("before")));
    let command_id = running.id().to_string();
    let id = pool.disconnect().await.unwrap();
    // The old client's pipeline hears that the pool is gone from it.
    match running.next().await {
        Some(Err(e)) => assert!(e.to_string().contains("disconnected"), "{e}"),
        other => panic!("{other:?}"),
    }

    let pool = client(&sim)
        .connect_pool(&id, PoolOptions::default())
        .await
        .unwrap();
    let mut attached = pool.connect_pipeline(&command_id).await.unwrap();
    assert_eq!(attached.id(), command_id);
    let mut seen = Vec::new();
    while let Some(ev) = attached.next().await {
        seen.push(ev.unwrap());
    }
    assert_eq!(
        seen,
        [
            PsEvent::Output(Value::str("after")),
            PsEvent::Finished {
                state: PipelineState::Completed,
                error: None
            }
        ]
    );
    // The pool is free for new pipelines again.
    assert_eq!(run(&pool, "'next'").await, ["next"]);
    // An unknown pipeline cannot be attached to.
    let r = pool
        .connect_pipeline("0E6C4A4B-2E67-4F73-9C8B-6B7D3D6A1F00")
        .await;
    assert!(matches!(r, Err(Error::ShellGone { .. })), "{:?}", r.err());
    pool.close().await.unwrap();
    assert_no_pools(&sim).await;
}
