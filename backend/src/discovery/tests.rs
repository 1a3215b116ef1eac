//! Discovery against recorded Engine API 1.41 answers (`fixtures/`), and the runner against
//! a fake source with paused time.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::docker::{self, Event, Rules, Snapshot};
use super::*;
use crate::config::{Config, PasswordSource, Roles};
use winrelay_shared::protocol::Role;

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let text = match name {
        "services" => include_str!("fixtures/services.json"),
        "tasks" => include_str!("fixtures/tasks.json"),
        "containers" => include_str!("fixtures/containers.json"),
        "events" => include_str!("fixtures/events.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).unwrap()
}

fn snapshot() -> Snapshot {
    Snapshot {
        services: fixture("services"),
        tasks: fixture("tasks"),
        containers: fixture("containers"),
        network: None,
    }
}

fn rules() -> Rules {
    Rules::new(
        "app_net",
        &["10.0.1.0/25".parse().unwrap()],
        "winrelay.enable=true",
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn running_tasks_are_service_dot_slot_at_their_address_on_the_network() {
    let (found, _) = docker::targets(&snapshot(), &rules());
    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["pipe-shell", "web.1", "web.2", "win-plain"]);
    let web1 = &found[1];
    assert_eq!(
        web1.address,
        ip("10.0.1.5"),
        "the app_net address, not ingress"
    );
    assert_eq!(web1.group, "web");
    assert_eq!(web1.image, "winapp:ltsc2022", "without the digest");
    assert_eq!(web1.state, "running");
    assert_eq!(web1.since.as_deref(), Some("2026-11-29T01:12:03.5Z"));
    assert_eq!(web1.node.as_deref(), Some("n0d3a1b2c3d4e5f6g7h8i9j0k"));
    assert_eq!(found[2].address, ip("10.0.1.6"));
    let plain = &found[3];
    assert_eq!(plain.address, ip("10.0.1.20"));
    assert_eq!(plain.group, "", "a plain container has no service");
    // A container's state is Docker's word for it; since when comes from its creation.
    assert_eq!(plain.state, "running");
    assert!(
        plain.since.as_deref().is_some_and(|s| s.ends_with('Z')),
        "{:?}",
        plain.since
    );
}

#[test]
fn unlabelled_stopped_starting_and_outside_never_appear() {
    let (found, skipped) = docker::targets(&snapshot(), &rules());
    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    for never in [
        "plain.1",      // unlabelled service (even if the engine's filter let it through)
        "unlabelled",   // unlabelled container
        "switched-off", // winrelay.enable=false
        "web.3",        // still starting
        "web.4",        // shut down
    ] {
        assert!(!names.contains(&never), "{never} listed: {names:?}");
        assert!(
            !skipped.iter().any(|s| s.name == never),
            "{never} is not even a candidate"
        );
    }
    let why = |name: &str| {
        skipped
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.why.clone())
            .unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"))
    };
    // The global service's task: on app_net, but outside 10.0.1.0/25.
    assert!(why("edge.n0d3a1b2c3d4e5f6g7h8i9j0k").contains("outside allow_networks"));
    assert!(why("web.5").contains("no address on network app_net"));
    assert!(why("bridge-only").contains("no address on network app_net"));
    assert!(why("badport").contains("winrelay.port"));
    assert!(why("odd.1").contains("winrelay.shell"));
    // With a wider range the global service appears, named by its node.
    let wide = Rules::new(
        "app_net",
        &["10.0.1.0/24".parse().unwrap()],
        "winrelay.enable=true",
    );
    let (found, _) = docker::targets(&snapshot(), &wide);
    let edge = found.iter().find(|f| f.group == "edge").unwrap();
    assert_eq!(edge.name, "edge.n0d3a1b2c3d4e5f6g7h8i9j0k");
    assert_eq!(edge.port, Some(15986));
}

#[test]
fn task_containers_are_found_once_as_tasks() {
    let (found, skipped) = docker::targets(&snapshot(), &rules());
    assert!(!found.iter().any(|f| f.name.starts_with("web.1.")));
    assert!(!skipped.iter().any(|s| s.name.starts_with("web.1.")));
}

#[test]
fn labels_choose_shell_port_and_configuration() {
    let (found, _) = docker::targets(&snapshot(), &rules());
    let get = |n: &str| found.iter().find(|f| f.name == n).unwrap().clone();
    assert_eq!(get("web.1").shell, Some(ShellKind::Powershell));
    assert_eq!(
        get("web.1").configuration.as_deref(),
        Some("Microsoft.PowerShell")
    );
    assert_eq!(get("web.1").port, None);
    assert_eq!(get("win-plain").shell, Some(ShellKind::Cmd));
    assert_eq!(get("pipe-shell").shell, Some(ShellKind::PowershellPipe));
    assert_eq!(get("pipe-shell").port, Some(5999));
    assert_eq!(docker::shell_from_label("cmd"), Some(ShellKind::Cmd));
    assert_eq!(docker::shell_from_label("bash"), None);
}

#[test]
fn a_label_key_alone_matches_any_value() {
    let r = Rules::new(
        "app_net",
        &["10.0.1.0/24".parse().unwrap()],
        "winrelay.enable",
    );
    let (found, _) = docker::targets(&snapshot(), &r);
    assert!(found.iter().any(|f| f.name == "switched-off"));
    assert_eq!(r.label_filter(), "winrelay.enable");
    assert_eq!(rules().label_filter(), "winrelay.enable=true");
}

#[test]
fn events_that_may_change_targets() {
    let events: Vec<Event> = fixture("events");
    let relevant: Vec<String> = events
        .iter()
        .filter(|e| docker::relevant(e))
        .map(|e| format!("{} {}", e.kind, e.action))
        .collect();
    assert_eq!(
        relevant,
        [
            "service update",
            "network connect",
            "container start",
            "container die",
            "service remove",
            "node update"
        ]
    );
}

const BLOCK: &str = r#"
[[discovery]]
kind = "docker"
network = "app_net"
allow_networks = ["10.0.1.0/24"]
user = "ContainerAdministrator"
password_env = "WINRM_PASSWORD"
insecure = true
writers = ["group:ops"]
"#;

#[test]
fn the_block_parses_with_defaults() {
    let c = Config::parse(BLOCK).unwrap();
    let d = &c.discovery[0];
    assert_eq!(d.kind, crate::config::DiscoveryKind::Docker);
    assert_eq!(d.endpoint, "unix:///var/run/docker.sock");
    assert_eq!(d.label, "winrelay.enable=true");
    assert_eq!(d.port, 5986);
    assert_eq!(d.reconcile, Duration::from_secs(30));
    let tcp = BLOCK.replace(
        "kind = \"docker\"",
        "kind = \"docker\"\nendpoint = \"tcp://mgr:2376\"\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nendpoint_ca = \"/ca.pem\"",
    );
    assert!(Config::parse(&tcp).is_ok());
}

#[test]
fn the_block_refuses_unsafe_or_unclear_settings() {
    let cases = [
        (
            BLOCK.replace("\"docker\"", "\"kubernetes\""),
            "unknown variant",
        ),
        (BLOCK.replace("[\"10.0.1.0/24\"]", "[]"), "allow_networks"),
        (BLOCK.replace("\"app_net\"", "\"\""), "network"),
        (BLOCK.replace("insecure = true", "pin = \"00\""), "64 hex"),
        (
            BLOCK.replace("insecure = true", "insecure = true\npin = \"00\""),
            "choose one",
        ),
        (
            BLOCK.replace("password_env = \"WINRM_PASSWORD\"", ""),
            "password_env",
        ),
        (
            BLOCK.replace("insecure = true", "insecure = true\nallow_http = true"),
            "https only",
        ),
        (
            BLOCK.replace(
                "kind = \"docker\"",
                "kind = \"docker\"\nendpoint = \"tcp://mgr:2375\"",
            ),
            "needs cert, key and endpoint_ca",
        ),
        (
            BLOCK.replace(
                "kind = \"docker\"",
                "kind = \"docker\"\nendpoint = \"http://mgr\"",
            ),
            "unix:///PATH",
        ),
        (
            BLOCK.replace("kind = \"docker\"", "kind = \"docker\"\nlabel = \"=x\""),
            "label",
        ),
        (
            BLOCK.replace("kind = \"docker\"", "kind = \"docker\"\nrecord = true"),
            "recordings",
        ),
    ];
    for (text, needle) in cases {
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

fn block() -> Block {
    Block::new(&Config::parse(BLOCK).unwrap().discovery[0]).unwrap()
}

#[test]
fn access_comes_from_the_block_never_from_labels() {
    let wide = Rules::new(
        "app_net",
        &["10.0.1.0/24".parse().unwrap()],
        "winrelay.enable=true",
    );
    let (found, _) = docker::targets(&snapshot(), &wide);
    let edge = found.into_iter().find(|f| f.group == "edge").unwrap();
    // Its labels say winrelay.user=Administrator and winrelay.insecure=true: ignored.
    let d = block().resolve(edge);
    assert_eq!(
        d.target.credentials,
        Credentials::Fixed {
            user: "ContainerAdministrator".into(),
            password: PasswordSource::Env("WINRM_PASSWORD".into())
        }
    );
    assert_eq!(d.target.cert, CertCheck::Insecure);
    assert_eq!(d.address, "10.0.1.200:15986".parse().unwrap());
    assert_eq!(d.target.endpoint, "https://10.0.1.200:15986/wsman");
    assert!(!d.target.allow_http);
    assert_eq!(
        d.target.roles.role_of("bob", &["ops".into()]),
        Some(Role::Writer)
    );
    assert_eq!(d.target.roles.role_of("bob", &[]), None);
    assert_ne!(d.target.roles, Roles::everyone());
    assert!(d
        .target
        .description
        .starts_with("service edge · node n0d3a1b2c3d4"));
}

fn found(name: &str, addr: &str) -> Found {
    Found {
        name: name.into(),
        address: ip(addr),
        state: "running".into(),
        ..Found::default()
    }
}

#[test]
fn the_directory_wakes_subscribers_only_on_change() {
    let dir = Directory::default();
    let mut rx = dir.subscribe();
    let b = block();
    dir.set(0, vec![b.resolve(found("web.1", "10.0.1.5"))]);
    assert!(rx.has_changed().unwrap());
    rx.mark_unchanged();
    dir.set(0, vec![b.resolve(found("web.1", "10.0.1.5"))]);
    assert!(!rx.has_changed().unwrap(), "same list: no wake-up");
    dir.set(
        1,
        vec![
            b.resolve(found("web.1", "10.0.1.99")),
            b.resolve(found("x", "10.0.1.7")),
        ],
    );
    assert!(rx.has_changed().unwrap());
    assert_eq!(
        dir.get("web.1").unwrap().address,
        "10.0.1.5:5986".parse().unwrap(),
        "the first block wins a name"
    );
    assert_eq!(dir.all().len(), 2);
    dir.set(0, vec![]);
    assert_eq!(dir.names().into_iter().collect::<Vec<_>>(), ["web.1", "x"]);
}

type Answers = Arc<Mutex<VecDeque<Result<Vec<Found>, String>>>>;

/// A source whose answers and changes a test scripts.
#[derive(Clone, Default)]
struct Fake {
    answers: Answers,
    lists: Arc<Mutex<u32>>,
    changes: Arc<tokio::sync::Notify>,
}

impl Source for Fake {
    fn describe(&self) -> String {
        "fake".into()
    }
    async fn list(&mut self) -> Result<(Vec<Found>, Vec<Skipped>), SourceError> {
        *self.lists.lock().unwrap() += 1;
        let mut a = self.answers.lock().unwrap();
        let next = if a.len() > 1 {
            a.pop_front()
        } else {
            a.front().cloned()
        };
        match next.unwrap_or(Ok(vec![])) {
            Ok(v) => Ok((v, vec![])),
            Err(e) => Err(SourceError(e)),
        }
    }
    async fn changed(&mut self) -> Result<(), SourceError> {
        self.changes.notified().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_runner_follows_changes_keeps_the_list_on_failure_and_reconciles() {
    let fake = Fake::default();
    let answers = fake.answers.clone();
    answers.lock().unwrap().extend([
        Ok(vec![found("web.1", "10.0.1.5")]),
        Ok(vec![found("web.1", "10.0.1.5"), found("web.2", "10.0.1.6")]),
        Err("engine down".into()),
        Ok(vec![found("web.2", "10.0.1.6")]),
    ]);
    let dir = Directory::default();
    let task = tokio::spawn(run(fake.clone(), block(), 0, dir.clone()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(dir.names().len(), 1);

    // An event: the list is read again after the debounce.
    fake.changes.notify_one();
    tokio::time::sleep(DEBOUNCE + Duration::from_millis(10)).await;
    assert_eq!(dir.names().len(), 2);
    assert_eq!(*fake.lists.lock().unwrap(), 2);

    // The follow-up read fails: the last list stays.
    tokio::time::sleep(FOLLOW_UP).await;
    assert_eq!(*fake.lists.lock().unwrap(), 3);
    assert_eq!(
        dir.names().len(),
        2,
        "a failing engine does not empty the list"
    );

    // After the retry pause the engine answers again.
    tokio::time::sleep(RETRY + Duration::from_millis(10)).await;
    assert_eq!(dir.names().into_iter().collect::<Vec<_>>(), ["web.2"]);

    // The remaining follow-up reads, then nothing happens: it reconciles every 30 s.
    tokio::time::sleep(FOLLOW_UP * FOLLOW_UPS).await;
    let before = *fake.lists.lock().unwrap();
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(*fake.lists.lock().unwrap(), before + 2);
    task.abort();
}

fn recorded(name: &str) -> &'static str {
    match name {
        "services" => include_str!("fixtures/engine-20.10/services.json"),
        "tasks" => include_str!("fixtures/engine-20.10/tasks.json"),
        "containers" => include_str!("fixtures/engine-20.10/containers.json"),
        "network" => include_str!("fixtures/engine-20.10/network.json"),
        _ => unreachable!(),
    }
}

#[test]
fn a_real_swarm_answer_gives_the_labelled_tasks_and_containers() {
    let mut snap = Snapshot {
        services: serde_json::from_str(recorded("services")).unwrap(),
        tasks: serde_json::from_str(recorded("tasks")).unwrap(),
        containers: serde_json::from_str(recorded("containers")).unwrap(),
        network: None,
    };
    let r = Rules::new(
        "e2e_net",
        &["10.231.1.0/25".parse().unwrap()],
        "winrelay.enable=true",
    );
    let names = |snap: &Snapshot| -> Vec<(String, IpAddr)> {
        docker::targets(snap, &r)
            .0
            .into_iter()
            .map(|f| (f.name, f.address))
            .collect()
    };
    let want = [
        ("e2e-box".to_string(), ip("10.231.1.100")),
        ("e2eweb.1".to_string(), ip("10.231.1.2")),
        ("e2eweb.2".to_string(), ip("10.231.1.3")),
        ("e2eweb.3".to_string(), ip("10.231.1.6")),
    ];
    // The raw /tasks answer carries NetworksAttachments.
    assert_eq!(names(&snap), want);
    // A typed client drops them: the network's verbose answer gives the same addresses.
    for t in &mut snap.tasks {
        t.networks_attachments.clear();
    }
    assert!(
        docker::targets(&snap, &r).0.len() == 1,
        "only the container without them"
    );
    snap.network = Some(serde_json::from_str(recorded("network")).unwrap());
    assert_eq!(names(&snap), want);
    let (_, skipped) = docker::targets(&snap, &r);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].name, "e2e-outside");
}

#[test]
fn recorded_events_of_a_scale_up() {
    let events: Vec<Event> = include_str!("fixtures/engine-20.10/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() >= 10);
    // Recorded from `service create`, `service scale` and `service rm`: no event says a task
    // is running (hence the follow-up reads).
    let irrelevant: Vec<String> = events
        .iter()
        .filter(|e| !docker::relevant(e))
        .map(|e| format!("{} {}", e.kind, e.action))
        .collect();
    assert!(
        irrelevant
            .iter()
            .all(|e| e.ends_with(" create") || e == "network destroy"),
        "{irrelevant:?}"
    );
    assert!(events
        .iter()
        .any(|e| e.kind == "service" && e.action == "update" && docker::relevant(e)));
    assert!(events
        .iter()
        .any(|e| e.kind == "container" && e.action == "start" && docker::relevant(e)));
}

#[test]
fn recorded_answers_give_each_target_its_facts() {
    let snap = Snapshot {
        services: serde_json::from_str(recorded("services")).unwrap(),
        tasks: serde_json::from_str(recorded("tasks")).unwrap(),
        containers: serde_json::from_str(recorded("containers")).unwrap(),
        network: None,
    };
    let r = Rules::new(
        "e2e_net",
        &["10.231.1.0/25".parse().unwrap()],
        "winrelay.enable=true",
    );
    let (found, _) = docker::targets(&snap, &r);
    let by_name = |name: &str| {
        let f = found.iter().find(|f| f.name == name).unwrap().clone();
        block().resolve(f)
    };
    let task = by_name("e2eweb.2");
    assert_eq!(
        task.facts,
        TargetFacts {
            service: Some("e2eweb".into()),
            slot: Some(2),
            node: Some("529dh7j6cfth".into()),
            image: Some("winrelay-e2e/busybox:local".into()),
            state: Some("running".into()),
            started_at: Some("2026-11-29T01:43:38.454198855Z".into()),
        }
    );
    let plain = by_name("e2e-box");
    assert_eq!(
        plain.facts,
        TargetFacts {
            service: None,
            slot: None,
            node: None,
            image: Some("winrelay-e2e/busybox:local".into()),
            state: Some("running".into()),
            started_at: Some("2026-11-29T01:43:36Z".into()),
        }
    );
}

#[tokio::test]
async fn reachability_of_discovered_targets_is_checked_at_their_address() {
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let up = Found {
        port: Some(open.local_addr().unwrap().port()),
        ..found("up.1", "127.0.0.1")
    };
    let down = Found {
        port: Some(closed),
        ..found("down.1", "127.0.0.1")
    };
    let dir = Directory::default();
    dir.set(0, vec![block().resolve(up), block().resolve(down)]);
    assert_eq!(
        dir.reachable("up.1"),
        None,
        "unknown before the first check"
    );
    dir.check_reachability().await;
    assert_eq!(dir.reachable("up.1"), Some(true));
    assert_eq!(dir.reachable("down.1"), Some(false));
    dir.set(0, vec![]);
    dir.check_reachability().await;
    assert_eq!(dir.reachable("up.1"), None, "gone targets are forgotten");
}
