//! How the client uses connections: a pool per client, a Send never waiting behind the
//! outstanding Receive, and an idle connection the server closed never used again. Between
//! the client and the simulator sits a counting TCP relay that can cut every connection.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use winrm_client::Client;

/// Forwards connections to `to`; counts them; `cut` ends all that are open.
struct Relay {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    cut: watch::Sender<u64>,
}

impl Relay {
    async fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (cut, cuts) = watch::channel(0u64);
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let mut outbound = TcpStream::connect(to).await.unwrap();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Relay {
            addr,
            accepted,
            cut,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

async fn through_relay() -> (winrs_sim::SimHandle, Relay, Client) {
    let sim = common::sim().await;
    let relay = Relay::start(sim.local_addr()).await;
    let mut config = common::config(&sim);
    config.resolve = Some(relay.addr);
    (sim, relay, Client::new(config).unwrap())
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let (sim, relay, client) = through_relay().await;
    for _ in 0..5 {
        let shell = client.open_shell(Default::default()).await.unwrap();
        shell.close().await.unwrap();
    }
    assert_eq!(relay.accepted(), 1, "ten requests, one after the other");
    common::assert_no_shells(&sim).await;
}

#[tokio::test]
async fn input_does_not_wait_behind_the_long_poll() {
    let (sim, relay, client) = through_relay().await;
    let shell = client.open_shell(Default::default()).await.unwrap();
    let mut cmd = shell.start("cmd.exe", Vec::<String>::new()).await.unwrap();
    common::read_until(&mut cmd, ">").await;
    // The Receive now waits (up to the 20 s operation timeout) on its connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    cmd.send(b"echo second-connection\r\n").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    common::read_until(&mut cmd, "second-connection").await;
    assert!(
        relay.accepted() >= 2,
        "the Send took a connection of its own"
    );
    drop(cmd);
    shell.close().await.unwrap();
    common::assert_no_shells(&sim).await;
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_not_used() {
    let (sim, relay, client) = through_relay().await;
    let shell = client.open_shell(Default::default()).await.unwrap();
    assert_eq!(relay.accepted(), 1);
    // The server side goes away while the connection sits in the pool.
    relay.cut_all();
    tokio::time::sleep(Duration::from_millis(200)).await;
    shell
        .close()
        .await
        .expect("a fresh connection, not the dead one");
    assert_eq!(relay.accepted(), 2);
    common::assert_no_shells(&sim).await;
}
