//! The shared access state (`winrelay_cluster::tokens`) against a real `redis-server`
//! started by each test on a free loopback port in a temporary directory (`make test`
//! installs it).

use std::time::Duration;

use winrelay_cluster::tokens::{Budget, Lookup};
use winrelay_cluster::{Connect, Store};

use winrelay_testkit::Redis;

/// A store on the test's own Redis.
async fn store(redis: &Redis) -> Store {
    Store::connect(&Connect::new(redis.url()))
        .await
        .expect("connect to the test's redis")
}

const D1: &str = "aa11";
const D2: &str = "bb22";

#[tokio::test]
async fn tokens_live_expire_end_and_are_taken_once() {
    let redis = Redis::start();
    let (a, b) = (store(&redis).await, store(&redis).await);
    let long = Duration::from_secs(60);
    a.put_token("signin", D1, r#"{"user":"alice"}"#, long)
        .await
        .unwrap();
    assert_eq!(
        b.get_token("signin", D1).await.unwrap().as_deref(),
        Some(r#"{"user":"alice"}"#),
        "seen by another store"
    );
    assert_eq!(b.get_token("link", D1).await.unwrap(), None, "kinds apart");
    assert!(b.delete_token("signin", D1).await.unwrap());
    assert_eq!(a.lookup_token("signin", D1).await.unwrap(), Lookup::Unknown);
    assert!(!a.delete_token("signin", D1).await.unwrap());

    // A time to live.
    a.put_token("signin", D2, "v", Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(
        a.lookup_token("signin", D2).await.unwrap(),
        Lookup::Live("v".into())
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(a.lookup_token("signin", D2).await.unwrap(), Lookup::Unknown);

    // Taken once, however many try at the same time.
    a.put_token("link", D1, "alice", long).await.unwrap();
    let takes = futures_join(&a, &b).await;
    assert_eq!(takes.iter().filter(|t| t.is_some()).count(), 1, "{takes:?}");
    assert_eq!(a.take_token("link", D1).await.unwrap(), None);

    // Ended: revoked (end_token) or ran out (mark_ended beside the token).
    a.put_token("share", D1, "s1|viewer", long).await.unwrap();
    assert!(b.end_token("share", D1, "s1", long).await.unwrap());
    assert_eq!(
        a.lookup_token("share", D1).await.unwrap(),
        Lookup::Ended("s1".into())
    );
    assert!(!b.end_token("share", D1, "s1", long).await.unwrap());
    a.put_token("share", D2, "s2|writer", Duration::from_millis(100))
        .await
        .unwrap();
    a.mark_ended("share", D2, "s2", long).await.unwrap();
    assert_eq!(
        a.lookup_token("share", D2).await.unwrap(),
        Lookup::Live("s2|writer".into()),
        "live wins over the marker"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        a.lookup_token("share", D2).await.unwrap(),
        Lookup::Ended("s2".into())
    );
}

async fn futures_join(a: &Store, b: &Store) -> Vec<Option<String>> {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.take_token("link", D1).await.unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn sets_list_and_take_members() {
    let redis = Redis::start();
    let (a, b) = (store(&redis).await, store(&redis).await);
    let ttl = Duration::from_secs(60);
    a.set_add("shares:s1", "id2", "two", ttl).await.unwrap();
    b.set_add("shares:s1", "id1", "one", Duration::from_millis(10))
        .await
        .unwrap();
    a.set_add("shares:s2", "id3", "three", ttl).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        b.set_list("shares:s1").await.unwrap(),
        [("id1".into(), "one".into()), ("id2".into(), "two".into())],
        "a shorter life never shortens the set"
    );
    assert_eq!(
        a.set_take("shares:s1", "id1").await.unwrap().as_deref(),
        Some("one")
    );
    assert_eq!(b.set_take("shares:s1", "id1").await.unwrap(), None);
    assert_eq!(
        b.set_list("shares:s1").await.unwrap(),
        [("id2".into(), "two".into())]
    );
    assert_eq!(b.set_list("nothing").await.unwrap(), []);
}

#[tokio::test]
async fn counters_count_in_a_window_across_stores() {
    let redis = Redis::start();
    let (a, b) = (store(&redis).await, store(&redis).await);
    let w = Duration::from_millis(200);
    assert_eq!(a.count("c", w).await.unwrap(), 1);
    assert_eq!(b.count("c", w).await.unwrap(), 2);
    assert_eq!(a.count("c", w).await.unwrap(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.count("c", w).await.unwrap(), 1, "a new window");
}

fn budgets(user: &str) -> Vec<Budget> {
    vec![
        Budget {
            key: format!("pair:{user}"),
            free: 5,
            max_delay: Duration::from_secs(900),
        },
        Budget {
            key: "addr:x".into(),
            free: 5,
            max_delay: Duration::from_secs(900),
        },
    ]
}

#[tokio::test]
async fn attempts_on_two_stores_share_one_budget() {
    let redis = Redis::start();
    let (a, b) = (store(&redis).await, store(&redis).await);
    let forget = Duration::from_secs(900);
    // A burst over two relays gets exactly five attempts.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.attempt(&budgets("alice"), forget).await.unwrap()
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        if t.await.unwrap().is_none() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
    let wait = b.attempt(&budgets("alice"), forget).await.unwrap().unwrap();
    assert!(
        wait <= Duration::from_secs(1) && wait > Duration::ZERO,
        "{wait:?}"
    );
    // The address budget holds for another name too.
    assert!(a.attempt(&budgets("bob"), forget).await.unwrap().is_some());

    // Given back: a success does not count.
    let redis = Redis::start();
    let s = store(&redis).await;
    for _ in 0..20 {
        assert_eq!(s.attempt(&budgets("carol"), forget).await.unwrap(), None);
        s.give_back(&budgets("carol")).await.unwrap();
    }
    for _ in 0..5 {
        assert_eq!(s.attempt(&budgets("carol"), forget).await.unwrap(), None);
    }
    assert!(s
        .attempt(&budgets("carol"), forget)
        .await
        .unwrap()
        .is_some());
    s.give_back(&budgets("carol")).await.unwrap();
    assert_eq!(
        s.attempt(&budgets("carol"), forget).await.unwrap(),
        None,
        "below the free count again"
    );
    s.forget_counter("pair:carol").await.unwrap();
    s.forget_counter("addr:x").await.unwrap();
    assert_eq!(s.attempt(&budgets("carol"), forget).await.unwrap(), None);
}
