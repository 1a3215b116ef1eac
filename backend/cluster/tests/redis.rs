//! The cluster store against a real `redis-server` (Debian's), started by each test on a free
//! loopback port in a temporary directory and stopped after (`make test` installs it).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use winrelay_cluster::{Connect, Error, Read, Store};

/// A redis-server of the test's own.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
}

impl Redis {
    fn start(password: Option<&str>) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("winrelay-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Redis {
            child: spawn(port, &dir, password),
            port,
            dir,
            password: password.map(str::to_string),
        };
        r.wait_ready();
        r
    }

    fn wait_ready(&mut self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("redis-server exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not listen on {} within 5 s", self.port);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn store(&self) -> Store {
        let mut c = Connect::new(self.url());
        c.password = self.password.clone();
        Store::connect(&c)
            .await
            .expect("connect to the test's redis")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, &self.dir, self.password.as_deref());
        self.wait_ready();
    }
}

fn spawn(port: u16, dir: &std::path::Path, password: Option<&str>) -> Child {
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(p) = password {
        cmd.args(["--requirepass", p]);
    }
    cmd.spawn()
        .expect("redis-server is not installed: `make test` installs Debian's redis-server")
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const TTL: Duration = Duration::from_secs(30);

fn bytes(r: Read) -> Vec<u8> {
    match r {
        Read::Bytes(s) => s.data,
        other => panic!("expected bytes, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lease_has_one_owner_and_a_stale_owner_is_fenced() {
    let redis = Redis::start(None);
    let s = redis.store().await;
    let a = s
        .acquire("s1", "node-a", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.fence, 1);
    assert_eq!(
        s.acquire("s1", "node-b", TTL).await.unwrap(),
        None,
        "held by a"
    );
    assert_eq!(
        s.acquire("s1", "node-a", TTL).await.unwrap(),
        None,
        "no re-entry"
    );
    assert_eq!(s.holder("s1").await.unwrap(), Some(("node-a".into(), 1)));
    assert!(s.renew(&a, Duration::from_millis(300)).await.unwrap());
    assert_eq!(s.append(&a, b"from a\n", 1 << 20).await.unwrap(), 7);

    // a stops renewing (paused, partitioned): the lease lapses and b adopts the session.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.holder("s1").await.unwrap(), None);
    let b = s.acquire("s1", "node-b", TTL).await.unwrap().unwrap();
    assert_eq!(b.fence, 2, "a new owner gets a greater token");

    // a comes back believing it owns the session: every write is refused.
    assert!(matches!(
        s.append(&a, b"stale\n", 1 << 20).await,
        Err(Error::Fenced(_))
    ));
    assert!(!s.renew(&a, TTL).await.unwrap());
    assert!(!s.release(&a).await.unwrap());
    assert!(matches!(
        s.put_record(&a, &[("state", "x")]).await,
        Err(Error::Fenced(_))
    ));
    assert!(matches!(
        s.mark_applied(&a, "1-0").await,
        Err(Error::Fenced(_))
    ));
    assert!(matches!(s.end(&a, TTL).await, Err(Error::Fenced(_))));

    // b continues at the end a left: nothing lost, nothing repeated.
    assert_eq!(s.append(&b, b"from b\n", 1 << 20).await.unwrap(), 14);
    assert_eq!(
        bytes(s.read("s1", 0, 1 << 20).await.unwrap()),
        b"from a\nfrom b\n"
    );

    // A hand-over: b releases, c takes it at once with the next token.
    assert!(s.release(&b).await.unwrap());
    let c = s.acquire("s1", "node-c", TTL).await.unwrap().unwrap();
    assert_eq!(c.fence, 3);
    assert!(matches!(
        s.append(&b, b"late", 1 << 20).await,
        Err(Error::Fenced(_))
    ));
}

#[tokio::test]
async fn the_log_is_addressed_by_byte_offset_and_bounded() {
    let redis = Redis::start(None);
    let s = redis.store().await;
    let l = s.acquire("log", "n", TTL).await.unwrap().unwrap();
    // Every byte value survives (Lua strings are binary).
    let all: Vec<u8> = (0..=255u8).collect();
    assert_eq!(s.append(&l, &all, 1000).await.unwrap(), 256);
    assert_eq!(bytes(s.read("log", 0, 4096).await.unwrap()), all);
    assert_eq!(
        bytes(s.read("log", 100, 10).await.unwrap()),
        (100..110u8).collect::<Vec<_>>()
    );
    assert_eq!(
        s.append(&l, b"", 1000).await.unwrap(),
        256,
        "nothing to append"
    );
    match s.read("log", 256, 10).await.unwrap() {
        Read::Bytes(sl) => assert!(sl.data.is_empty() && sl.end == 256),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.read("log", 300, 10).await.unwrap(),
        Read::Ahead { end: 256 }
    );

    // Many chunks: the log keeps at least the last 1000 bytes and at most one chunk more.
    let mut want = all.clone();
    for i in 0..100u32 {
        let chunk = format!("line {i:04} of the output\n").into_bytes();
        want.extend_from_slice(&chunk);
        s.append(&l, &chunk, 1000).await.unwrap();
    }
    let end = want.len() as u64;
    let (start, got) = match s.read("log", end - 1000, 4096).await.unwrap() {
        Read::Bytes(sl) => (sl.start, sl.data),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        got,
        &want[want.len() - 1000..],
        "the last 1000 bytes, exact"
    );
    assert!(
        end - start >= 1000 && end - start < 1000 + 26,
        "bounded: start {start}, end {end}"
    );
    assert_eq!(
        s.read("log", 0, 10).await.unwrap(),
        Read::Gone { start, end }
    );
    // Reads across chunk boundaries, from inside a chunk, capped by max.
    let from = start + 7;
    let got = bytes(s.read("log", from, 60).await.unwrap());
    assert_eq!(got, &want[from as usize..from as usize + 60]);
}

#[tokio::test]
async fn a_reader_waits_for_output_on_its_own_connection() {
    let redis = Redis::start(None);
    let s = redis.store().await;
    let l = s.acquire("w", "n", TTL).await.unwrap().unwrap();
    s.append(&l, b"abc", 1 << 20).await.unwrap();
    let mut conn = s.blocking_connection().await.unwrap();
    assert!(
        s.wait_output(&mut conn, "w", 0, Duration::from_millis(50))
            .await
            .unwrap(),
        "output at 0 is there"
    );
    assert!(
        !s.wait_output(&mut conn, "w", 3, Duration::from_millis(100))
            .await
            .unwrap(),
        "nothing after the end yet"
    );
    let writer = {
        let s = s.clone();
        let l = l.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.append(&l, b"def", 1 << 20).await.unwrap();
        })
    };
    // Meanwhile the shared connection still answers: the blocked read has its own.
    let waiting = s.wait_output(&mut conn, "w", 3, Duration::from_secs(10));
    let (woke, pong) = tokio::join!(waiting, s.ping());
    assert!(woke.unwrap(), "woken by the append");
    pong.unwrap();
    writer.await.unwrap();
    assert_eq!(bytes(s.read("w", 3, 100).await.unwrap()), b"def");
}

#[tokio::test]
async fn the_inbox_keeps_order_and_a_new_owner_continues_where_the_last_applied() {
    let redis = Redis::start(None);
    let s = redis.store().await;
    let a = s
        .acquire("in", "a", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    for m in ["one", "two", "three"] {
        s.post("in", m.as_bytes()).await.unwrap();
    }
    let mut conn = s.blocking_connection().await.unwrap();
    let after = s.applied("in").await.unwrap();
    assert_eq!(after, "0-0");
    let got = s
        .take_inbox(&mut conn, "in", &after, 2, None)
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|m| m.1.as_slice()).collect::<Vec<_>>(),
        [b"one".as_slice(), b"two"]
    );
    s.mark_applied(&a, &got[1].0).await.unwrap();

    // a dies before applying "three"; b adopts and continues after "two".
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = s.acquire("in", "b", TTL).await.unwrap().unwrap();
    let after = s.applied("in").await.unwrap();
    assert_eq!(after, got[1].0);
    let rest = s
        .take_inbox(&mut conn, "in", &after, 10, None)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|m| m.1.as_slice()).collect::<Vec<_>>(),
        [b"three".as_slice()]
    );
    s.mark_applied(&b, &rest[0].0).await.unwrap();
    // A waiting owner is woken by the next post.
    let poster = {
        let s = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.post("in", b"four").await.unwrap();
        })
    };
    let next = s
        .take_inbox(
            &mut conn,
            "in",
            &rest[0].0,
            10,
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    poster.await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].1, b"four");
}

#[tokio::test]
async fn records_are_written_by_the_owner_and_listed_until_the_session_ends() {
    let redis = Redis::start(None);
    let s = redis.store().await;
    let l = s.acquire("r1", "a", TTL).await.unwrap().unwrap();
    s.put_record(
        &l,
        &[
            ("target", "demo"),
            ("shell", "SHELL-ID"),
            ("state", "connected"),
        ],
    )
    .await
    .unwrap();
    let l2 = s.acquire("r2", "a", TTL).await.unwrap().unwrap();
    s.put_record(&l2, &[("target", "demo")]).await.unwrap();
    assert_eq!(s.sessions().await.unwrap(), ["r1", "r2"]);
    let rec = s.record("r1").await.unwrap();
    assert_eq!(rec.get("shell").map(String::as_str), Some("SHELL-ID"));
    assert_eq!(rec.get("state").map(String::as_str), Some("connected"));
    s.end(&l, Duration::from_secs(60)).await.unwrap();
    assert_eq!(s.sessions().await.unwrap(), ["r2"]);
    assert_eq!(
        s.record("r1")
            .await
            .unwrap()
            .get("ended")
            .map(String::as_str),
        Some("1")
    );
    assert!(s.record("nosuch").await.unwrap().is_empty());
}

#[tokio::test]
async fn nodes_are_alive_while_they_send_heartbeats() {
    let redis = Redis::start(None);
    let s = redis.store().await;
    s.heartbeat("a").await.unwrap();
    s.heartbeat("b").await.unwrap();
    assert_eq!(s.nodes(Duration::from_secs(10)).await.unwrap(), ["a", "b"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.heartbeat("b").await.unwrap();
    assert_eq!(
        s.nodes(Duration::from_millis(200)).await.unwrap(),
        ["b"],
        "a went quiet"
    );
    s.leave("b").await.unwrap();
    assert_eq!(
        s.nodes(Duration::from_secs(10)).await.unwrap(),
        ["a"],
        "b left"
    );
}

#[tokio::test]
async fn the_store_comes_back_after_redis_restarts() {
    let mut redis = Redis::start(None);
    let s = redis.store().await;
    s.ping().await.unwrap();
    redis.kill();
    assert!(
        matches!(s.ping().await, Err(Error::Redis(_))),
        "a clear error while Redis is down"
    );
    redis.restart();
    // The multiplexed connection reconnects by itself; the data was lost (no persistence),
    // which the owners notice and repair (re-register) in the relay.
    let mut ok = false;
    for _ in 0..50 {
        if s.ping().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "reconnected after the restart");
    assert!(s.sessions().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_password_protected_redis_takes_the_password_and_refuses_without() {
    let redis = Redis::start(Some("s3cret-for-the-test"));
    let s = redis.store().await;
    s.ping().await.unwrap();
    let without = Store::connect(&Connect::new(redis.url())).await;
    match without {
        Err(e) => assert!(
            e.to_string().to_lowercase().contains("auth"),
            "says why: {e}"
        ),
        Ok(s) => assert!(s.ping().await.is_err(), "no command without the password"),
    }
}
