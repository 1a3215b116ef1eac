//! Disconnect, Reconnect and Connect of a PowerShell pool, as raw PSRP requests from clients
//! told apart by their `wsmv:SessionId` (MS-PSRP 3.1.4.9): what a disconnected pool refuses,
//! how its outstanding Receive ends, who may Reconnect, and the pool's vanished-client
//! timeout.
#![allow(clippy::result_large_err)]

mod common;

use std::time::{Duration, Instant};

use common::{start, Client};
use psrp::message::Guid;
use psrp::messages::{Command, CreatePipeline, InitRunspacePool};
use psrp::pool::{ClientEvent, ClientPool};
use psrp::records::{HostInfo, PipelineState, RunspacePoolState};
use wsman::psrp::{PsrpRequest, PsrpRequestBody, PsrpResponse, PsrpResponseBody};
use wsman::Fault;

const POOL: &str = "B6631D8E-65A0-49F2-9053-A1B156C95777";

struct Peer<'a> {
    http: &'a Client,
    session: String,
}

impl Peer<'_> {
    fn new(http: &Client) -> Peer<'_> {
        Peer {
            http,
            session: format!("uuid:{}", uuid::Uuid::new_v4()),
        }
    }

    async fn call(&self, body: PsrpRequestBody) -> Result<PsrpResponse, Fault> {
        let shell = (!matches!(body, PsrpRequestBody::Create { .. })).then_some(POOL);
        let mut req = PsrpRequest::new(&self.http.endpoint, "Microsoft.PowerShell", shell, body);
        req.header.operation_timeout = self.http.operation_timeout;
        req.header.max_envelope_size = 512_000;
        req.header.session_id = Some(self.session.clone());
        let action = req.header.action;
        let raw = self.http.post_raw(wsman::psrp::write_request(&req)).await;
        wsman::psrp::parse_response(action, &raw.body).expect("a PSRP answer")
    }

    async fn receive(&self, command_id: Option<&str>) -> Result<PsrpResponse, Fault> {
        self.call(PsrpRequestBody::Receive {
            command_id: command_id.map(str::to_string),
            streams: vec!["stdout".into()],
        })
        .await
    }

    /// Receives on the pool until `until` holds.
    async fn pool_until(&self, pool: &mut ClientPool, until: impl Fn(&ClientPool) -> bool) {
        while !until(pool) {
            let resp = self.receive(None).await.expect("pool Receive");
            let PsrpResponseBody::Received { streams, .. } = resp.body else {
                panic!("not a ReceiveResponse");
            };
            for s in streams {
                pool.receive(&s.data).unwrap();
            }
        }
    }

    /// Runs `script` in `pool`; returns its output as text.
    async fn run(&self, pool: &mut ClientPool, script: &str) -> Vec<String> {
        let pid = Guid::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
        let create = CreatePipeline::new(vec![Command::script(script)], HostInfo::null());
        let start = pool.create_pipeline(pid, &create).unwrap();
        let id = pid.to_string().to_ascii_uppercase();
        self.call(PsrpRequestBody::Command {
            command_id: id.clone(),
            arguments: start.arguments,
        })
        .await
        .expect("Command");
        let mut out = Vec::new();
        loop {
            let resp = self.receive(Some(&id)).await.expect("Receive");
            let PsrpResponseBody::Received { streams, .. } = resp.body else {
                panic!("not a ReceiveResponse");
            };
            for s in streams {
                for ev in pool.receive(&s.data).unwrap() {
                    match ev {
                        ClientEvent::Output { value, .. } => out.push(value.display()),
                        ClientEvent::PipelineFinished { state, .. } => {
                            assert_eq!(state, PipelineState::Completed);
                            return out;
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    async fn open(&self) -> ClientPool {
        let mut pool = ClientPool::new(Guid::parse(POOL).unwrap(), 512_000);
        let creation_xml = pool
            .open(&InitRunspacePool::new(HostInfo::console(80, 25)))
            .unwrap();
        self.call(PsrpRequestBody::Create {
            shell_id: POOL.into(),
            input_streams: vec!["stdin".into(), "pr".into()],
            output_streams: vec!["stdout".into()],
            idle_timeout: None,
            creation_xml,
        })
        .await
        .expect("Create");
        self.pool_until(&mut pool, |p| p.state() == RunspacePoolState::Opened)
            .await;
        pool
    }

    async fn connect(&self) -> Result<ClientPool, Fault> {
        let mut pool = ClientPool::new(Guid::parse(POOL).unwrap(), 512_000);
        let connect_xml = pool.connect().unwrap();
        let resp = self
            .call(PsrpRequestBody::Connect {
                command_id: None,
                connect_xml: Some(connect_xml),
            })
            .await?;
        let PsrpResponseBody::Connected {
            input_streams,
            output_streams,
            connect_response_xml: Some(xml),
        } = resp.body
        else {
            panic!("not a pool ConnectResponse: {:?}", resp.body);
        };
        assert_eq!(input_streams, ["stdin", "pr"]);
        assert_eq!(output_streams, ["stdout"]);
        pool.receive(&xml).unwrap();
        assert_eq!(pool.state(), RunspacePoolState::Opened);
        Ok(pool)
    }
}

fn is_disconnected_fault(f: &Fault) -> bool {
    f.subcode.as_deref() == Some("w:InternalError") && f.message.contains("disconnected")
}

fn is_connected_fault(f: &Fault) -> bool {
    f.subcode.as_deref() == Some("w:InternalError") && f.message.contains("connected to a client")
}

#[tokio::test]
async fn disconnect_reconnect_and_connect() {
    let (sim, http) = start(common::config()).await;
    let first = Peer::new(&http);
    let mut pool = first.open().await;
    assert_eq!(first.run(&mut pool, "$x = 'kept'; 'ok'").await, ["ok"]);

    // An outstanding pool Receive ends when the pool is disconnected.
    let held = first.receive(None);
    let disconnect = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        first
            .call(PsrpRequestBody::Disconnect { idle_timeout: None })
            .await
    };
    let started = Instant::now();
    let (held, disconnected) = tokio::join!(held, disconnect);
    assert!(matches!(
        disconnected.map(|r| r.body),
        Ok(PsrpResponseBody::Disconnected)
    ));
    let fault = held.expect_err("the held Receive ends with a fault");
    assert!(is_disconnected_fault(&fault), "{fault:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(sim.pool_count(), 1, "a disconnected pool stays");

    // A disconnected pool refuses work.
    let fault = first.receive(None).await.unwrap_err();
    assert!(is_disconnected_fault(&fault), "{fault:?}");
    let pid = Guid::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let fault = first
        .call(PsrpRequestBody::Command {
            command_id: pid.to_string(),
            arguments: Vec::new(),
        })
        .await
        .unwrap_err();
    assert!(is_disconnected_fault(&fault), "{fault:?}");

    // The same client reconnects and goes on.
    let r = first.call(PsrpRequestBody::Reconnect).await.unwrap();
    assert_eq!(r.body, PsrpResponseBody::Reconnected);
    pool.disconnected();
    pool.reconnected().unwrap();
    assert_eq!(first.run(&mut pool, "$x").await, ["kept"]);
    // Reconnect while connected: ignored for the connected client, refused for another.
    first.call(PsrpRequestBody::Reconnect).await.unwrap();
    let second = Peer::new(&http);
    let fault = second.call(PsrpRequestBody::Reconnect).await.unwrap_err();
    assert!(is_connected_fault(&fault), "{fault:?}");
    // So is Connect.
    let fault = second.connect().await.unwrap_err();
    assert!(is_connected_fault(&fault), "{fault:?}");

    // Disconnected again, another client connects and continues the pool.
    first
        .call(PsrpRequestBody::Disconnect { idle_timeout: None })
        .await
        .unwrap();
    let mut pool = second.connect().await.unwrap();
    // Windows sends the private data or repeats the pool's state on the first pool Receive
    // after a Connect; the simulator both.
    let resp = second.receive(None).await.unwrap();
    let PsrpResponseBody::Received { streams, .. } = resp.body else {
        panic!("not a ReceiveResponse");
    };
    let events: Vec<ClientEvent> = streams
        .iter()
        .flat_map(|s| pool.receive(&s.data).unwrap())
        .collect();
    assert!(
        matches!(
            events.as_slice(),
            [
                ClientEvent::PrivateData(_),
                ClientEvent::PoolState {
                    state: RunspacePoolState::Opened,
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    assert_eq!(second.run(&mut pool, "$x").await, ["kept"]);
    let r = second.call(PsrpRequestBody::Delete).await.unwrap();
    assert_eq!(r.body, PsrpResponseBody::Deleted);
    assert_eq!(sim.pool_count(), 0);
}

#[tokio::test]
async fn a_pool_left_without_requests_is_disconnected_after_the_setting() {
    let mut config = common::config();
    config.pool_disconnect_after = Some(Duration::from_millis(600));
    let (sim, http) = start(config).await;
    let first = Peer::new(&http);
    let mut pool = first.open().await;
    first.run(&mut pool, "'x'").await;
    // Requests keep it connected...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        first.run(&mut pool, "'x'").await;
    }
    // ...their absence does not.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let fault = first.receive(None).await.unwrap_err();
    assert!(is_disconnected_fault(&fault), "{fault:?}");
    let second = Peer::new(&http);
    let mut pool = second.connect().await.unwrap();
    assert_eq!(second.run(&mut pool, "'again'").await, ["again"]);
    second.call(PsrpRequestBody::Delete).await.unwrap();
    assert_eq!(sim.pool_count(), 0);
}

#[tokio::test]
async fn no_timeout_means_never() {
    let mut config = common::config();
    config.pool_disconnect_after = None;
    let (_sim, http) = start(config).await;
    let first = Peer::new(&http);
    let mut pool = first.open().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(first.run(&mut pool, "'still'").await, ["still"]);
    let fault = Peer::new(&http).connect().await.unwrap_err();
    assert!(is_connected_fault(&fault), "{fault:?}");
}

#[derive(serde::Deserialize)]
struct Recording {
    messages: Vec<RecordedPair>,
}

#[derive(serde::Deserialize)]
struct RecordedPair {
    request: String,
    response: Option<String>,
}

/// The PSRP message types of a response (its Receive streams or connectResponseXml).
fn message_types(resp: &Result<PsrpResponse, Fault>) -> Vec<String> {
    let payloads: Vec<Vec<u8>> = match resp {
        Ok(PsrpResponse {
            body: PsrpResponseBody::Received { streams, .. },
            ..
        }) => streams.iter().map(|s| s.data.clone()).collect(),
        Ok(PsrpResponse {
            body:
                PsrpResponseBody::Connected {
                    connect_response_xml: Some(x),
                    ..
                },
            ..
        }) => vec![x.clone()],
        _ => Vec::new(),
    };
    let mut defrag = psrp::fragment::Defragmenter::new(Default::default());
    let mut out = Vec::new();
    for p in payloads {
        for (_, bytes) in defrag.push_payload(&p).unwrap() {
            let m = psrp::message::Message::decode(&bytes).unwrap();
            out.push(m.message_type.to_string());
        }
    }
    out
}

fn outcome(resp: &Result<PsrpResponse, Fault>) -> String {
    match resp {
        Ok(r) => format!("{:?}", r.body.action()),
        Err(f) => format!("fault {:?}", f.subcode),
    }
}

/// test_psrp_disconnect_runspaces replayed against the simulator as recorded (two pools;
/// Disconnect, Reconnect, Disconnect; Connect as a new client to both; Delete), except the
/// two Enumerates, which the simulator does not serve: every operation answers as Windows
/// did, and each pool's server messages come in the recorded order (the simulator puts a
/// pool's three opening messages in one Receive where Windows needed three, so Receives are
/// sent only while recorded messages are still missing).
#[tokio::test]
async fn the_recorded_disconnect_and_connect_exchange_replays() {
    let (sim, http) = start(common::config()).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/psrp-recorded/test_psrp_disconnect_runspaces.yml");
    let rec: Recording = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut expected: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut got: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut replayed = 0;
    for (i, pair) in rec.messages.iter().enumerate() {
        let Ok(req) = wsman::psrp::parse_request(pair.request.as_bytes()) else {
            assert!(pair.request.contains("enumeration/Enumerate"), "pair {i}");
            continue;
        };
        let action = req.header.action;
        let recorded =
            wsman::psrp::parse_response(action, pair.response.as_deref().unwrap().as_bytes())
                .unwrap();
        let shell = match &req.body {
            PsrpRequestBody::Create { shell_id, .. } => shell_id.clone(),
            _ => req.header.shell_id.clone().unwrap(),
        };
        let want = message_types(&recorded);
        let is_receive = matches!(req.body, PsrpRequestBody::Receive { .. });
        expected.entry(shell.clone()).or_default().extend(want);
        let have = got.entry(shell.clone()).or_default();
        if is_receive && have.len() >= expected[&shell].len() {
            continue;
        }
        let raw = http.post_raw(pair.request.clone()).await;
        let ours = wsman::psrp::parse_response(action, &raw.body).unwrap();
        assert_eq!(outcome(&ours), outcome(&recorded), "pair {i}");
        got.get_mut(&shell).unwrap().extend(message_types(&ours));
        replayed += 1;
    }
    assert_eq!(got.len(), 2, "two pools");
    for (shell, types) in &got {
        // After the Connect the simulator also sends the private data again, as Windows did
        // in test_psrp_disconnected_commands; this recording shows only the state.
        assert_eq!(
            types,
            &[
                "SESSION_CAPABILITY",
                "APPLICATION_PRIVATE_DATA",
                "RUNSPACEPOOL_STATE",
                "SESSION_CAPABILITY",
                "RUNSPACEPOOL_INIT_DATA",
                "APPLICATION_PRIVATE_DATA",
                "RUNSPACEPOOL_STATE"
            ]
        );
        let mut ours = types.clone();
        ours.remove(5);
        assert_eq!(ours, expected[shell], "{shell}");
    }
    assert!(replayed >= 14, "{replayed}");
    assert_eq!(sim.pool_count(), 0, "both pools deleted as recorded");
}
