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
    // Windows repeats the pool's state on the first pool Receive after a Connect.
    let resp = second.receive(None).await.unwrap();
    let PsrpResponseBody::Received { streams, .. } = resp.body else {
        panic!("not a ReceiveResponse");
    };
    let events = pool.receive(&streams[0].data).unwrap();
    assert!(
        matches!(
            events.as_slice(),
            [ClientEvent::PoolState {
                state: RunspacePoolState::Opened,
                ..
            }]
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
