//! The pool state machines: a client and a server driven against each other in memory, and
//! the client driven by the recorded Windows replies.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use common::{all_messages, pypsrp_test_key, recordings};
use psrp::clixml::{self, Value};
use psrp::fragment;
use psrp::host::{HostMethodId, HostResponse};
use psrp::message::{Guid, MessageType};
use psrp::messages::{decode, Command, CreatePipeline, Data, InitRunspacePool, PoolRequest};
use psrp::pool::{ClientEvent, ClientPool, InputStream, PoolError, ServerEvent, ServerPool};
use psrp::records::{ErrorRecord, HostInfo, PipelineState, RunspacePoolState};

fn feed_client(client: &mut ClientPool, fragments: &[Vec<u8>]) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    for f in fragments {
        events.extend(client.receive(f).unwrap());
    }
    events
}

fn opened_pair(max_envelope: u32) -> (ClientPool, ServerPool) {
    let rpid = Guid::parse("76056A84-51DC-4F24-9262-CA2A55464B2B").unwrap();
    let mut client = ClientPool::new(rpid, max_envelope);
    let mut server = ServerPool::new();
    server.set_max_envelope_size(max_envelope);
    let creation = client
        .open(&InitRunspacePool::new(HostInfo::console(120, 30)))
        .unwrap();
    assert_eq!(client.state(), RunspacePoolState::Opening);
    let events = server.receive(&creation).unwrap();
    let [ServerEvent::Open { capability, init }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(capability.protocol_version, "2.3");
    assert_eq!(init.host_info, HostInfo::console(120, 30));
    let private = clixml::hashtable_value(vec![(
        Value::str("PSVersionTable"),
        clixml::hashtable_value(vec![(
            Value::str("PSVersion"),
            Value::Version("5.1.17763.1".into()),
        )]),
    )]);
    let reply = server.accept_open(private).unwrap();
    assert_eq!(reply.len(), 3, "one fragment per message");
    let events = feed_client(&mut client, &reply);
    assert!(matches!(events[0], ClientEvent::SessionCapability(_)));
    assert!(matches!(events[1], ClientEvent::PrivateData(_)));
    assert_eq!(
        events[2],
        ClientEvent::PoolState {
            state: RunspacePoolState::Opened,
            error: None
        }
    );
    assert_eq!(client.state(), RunspacePoolState::Opened);
    assert_eq!(
        psrp::messages::ps_version(client.private_data().unwrap()).as_deref(),
        Some("5.1.17763.1")
    );
    (client, server)
}

#[test]
fn a_pipeline_runs_with_output_a_host_call_and_a_reply() {
    let (mut client, mut server) = opened_pair(512_000);
    let pid = Guid::parse("58955C51-F72D-43D9-A2B8-DEEEA3B64869").unwrap();
    let create = CreatePipeline::new(
        vec![
            Command::script("Read-Host 'name'"),
            Command::cmdlet("Out-Default"),
        ],
        HostInfo::console(120, 30),
    );
    let start = client.create_pipeline(pid, &create).unwrap();
    assert!(start.rest.is_empty());
    assert!(
        client.create_pipeline(pid, &create).is_err(),
        "already running"
    );
    let events = server.receive(&start.arguments).unwrap();
    let [ServerEvent::PipelineCreated {
        pipeline,
        create: got,
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*pipeline, pid);
    assert_eq!(got.statements[0][0].cmd, "Read-Host 'name'");
    assert_eq!(got.statements[0][1].cmd, "Out-Default");
    assert_eq!(
        got.host_info
            .default_data
            .as_ref()
            .unwrap()
            .window_size
            .width,
        120
    );

    // Output, a void write, then a ReadLine that waits.
    let mut frags = server
        .pipeline_message(pid, MessageType::PIPELINE_OUTPUT, &Value::str("hello"))
        .unwrap();
    let (void_ci, f) = server
        .host_call(
            Some(pid),
            HostMethodId::WRITE_LINE2,
            vec![Value::str("line")],
            true,
        )
        .unwrap();
    assert_eq!(void_ci, -100);
    frags.extend(f);
    let (ci, f) = server
        .host_call(Some(pid), HostMethodId::READ_LINE, vec![], false)
        .unwrap();
    assert_eq!(ci, 1);
    frags.extend(f);
    assert!(server.is_pending(pid));
    let events = feed_client(&mut client, &frags);
    assert_eq!(
        events[0],
        ClientEvent::Output {
            pipeline: pid,
            value: Value::str("hello")
        }
    );
    let ClientEvent::HostCall { call: write, .. } = &events[1] else {
        panic!()
    };
    assert!(!write.wants_reply());
    assert_eq!(write.write_text().unwrap().text, "line");
    let ClientEvent::HostCall { pipeline, call } = &events[2] else {
        panic!()
    };
    assert_eq!(*pipeline, Some(pid));
    assert_eq!(call.method, HostMethodId::READ_LINE);
    // Answering a void call is refused; the real one goes on `pr` with the CommandId.
    assert!(client
        .host_response(Some(pid), &HostResponse::ok(write, None))
        .is_err());
    let out = client
        .host_response(Some(pid), &HostResponse::ok(call, Some(Value::str("Ada"))))
        .unwrap();
    assert_eq!(out.stream, InputStream::Pr);
    assert_eq!(out.pipeline, Some(pid));
    assert!(client
        .host_response(
            Some(pid),
            &HostResponse::ok(call, Some(Value::str("twice")))
        )
        .is_err());
    let events = server.receive(&out.payloads.concat()).unwrap();
    let [ServerEvent::HostResponse { pipeline, response }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(*pipeline, Some(pid));
    assert_eq!(response.result, Some(Value::str("Ada")));
    assert!(!server.is_pending(pid));

    let fin = server.finish(pid, PipelineState::Completed, None).unwrap();
    let events = feed_client(&mut client, &fin);
    assert_eq!(
        events,
        vec![ClientEvent::PipelineFinished {
            pipeline: pid,
            state: PipelineState::Completed,
            error: None
        }]
    );
    assert_eq!(client.pipeline_state(pid), Some(PipelineState::Completed));
    assert!(server
        .pipeline_message(pid, MessageType::PIPELINE_OUTPUT, &Value::Nil)
        .is_err());
    // The id can be reused once the pipeline has finished.
    client.create_pipeline(pid, &create).unwrap();
}

#[test]
fn a_failed_pipeline_carries_its_error() {
    let (mut client, mut server) = opened_pair(512_000);
    let pid = Guid::parse("11111111-2222-3333-4444-555555555555").unwrap();
    let start = client
        .create_pipeline(
            pid,
            &CreatePipeline::new(vec![Command::script("{")], HostInfo::null()),
        )
        .unwrap();
    server.receive(&start.arguments).unwrap();
    let err = ErrorRecord {
        message: "Missing closing '}' in statement block or type definition.".into(),
        exception_type: Some("System.Management.Automation.IncompleteParseException".into()),
        fully_qualified_error_id: "MissingEndCurlyBrace".into(),
        category: 17,
        reason: Some("IncompleteParseException".into()),
        ..ErrorRecord::default()
    };
    let fin = server
        .finish(pid, PipelineState::Failed, Some(err.clone()))
        .unwrap();
    let events = feed_client(&mut client, &fin);
    let [ClientEvent::PipelineFinished {
        state,
        error: Some(got),
        ..
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*state, PipelineState::Failed);
    assert_eq!(got.message, err.message);
    assert_eq!(got.exception_type, err.exception_type);
    assert_eq!(
        got.console_text(),
        "Missing closing '}' in statement block or type definition.\n    \
         + CategoryInfo          : ParserError: (:) [], IncompleteParseException\n    \
         + FullyQualifiedErrorId : MissingEndCurlyBrace"
    );
}

#[test]
fn a_large_pipeline_is_split_over_command_and_sends() {
    // 32 KiB envelopes as in test_psrp_small_msg_size, and a 100 KB script.
    let (mut client, mut server) = opened_pair(32_768);
    let pid = Guid::parse("95836029-0000-4000-8000-000000000001").unwrap();
    let script = "Write-Output 'x'\n".repeat(6000);
    let start = client
        .create_pipeline(
            pid,
            &CreatePipeline::new(vec![Command::script(script.clone())], HostInfo::null()),
        )
        .unwrap();
    assert!(start.rest.len() >= 3, "{}", start.rest.len());
    for p in std::iter::once(&start.arguments).chain(start.rest.iter()) {
        // Each payload, base64-encoded into an envelope, fits 32 KiB.
        assert!(p.len() / 3 * 4 + 1_600 < 32_768, "{}", p.len());
    }
    assert!(server.receive(&start.arguments).unwrap().is_empty());
    let mut events = Vec::new();
    for p in &start.rest {
        events.extend(server.receive(p).unwrap());
    }
    let [ServerEvent::PipelineCreated { create, .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(create.statements[0][0].cmd, script);
}

#[test]
fn input_goes_to_a_pipeline_that_asked_for_it() {
    let (mut client, mut server) = opened_pair(512_000);
    let pid = Guid::parse("69743726-0000-4000-8000-000000000001").unwrap();
    let mut create = CreatePipeline::new(vec![Command::cmdlet("Measure-Object")], HostInfo::null());
    create.no_input = false;
    let start = client.create_pipeline(pid, &create).unwrap();
    server.receive(&start.arguments).unwrap();
    let out = client
        .send_input(pid, &[Value::I32(1), Value::I32(2)], true)
        .unwrap();
    assert_eq!(out.stream, InputStream::Stdin);
    assert_eq!(out.payloads.len(), 1, "several fragments share one Send");
    let events = server.receive(&out.payloads[0]).unwrap();
    assert_eq!(
        events,
        vec![
            ServerEvent::Input {
                pipeline: pid,
                value: Value::I32(1)
            },
            ServerEvent::Input {
                pipeline: pid,
                value: Value::I32(2)
            },
            ServerEvent::EndOfInput { pipeline: pid },
        ]
    );
    assert!(
        client.send_input(pid, &[Value::I32(3)], false).is_err(),
        "input ended"
    );
}

#[test]
fn key_exchange_between_the_two_ends() {
    let (mut client, mut server) = opened_pair(512_000);
    let out = client.start_key_exchange(pypsrp_test_key()).unwrap();
    assert!(
        client.start_key_exchange(pypsrp_test_key()).is_err(),
        "once per pool"
    );
    let events = server.receive(&out.payloads.concat()).unwrap();
    let [ServerEvent::PublicKey(blob)] = events.as_slice() else {
        panic!("{events:?}")
    };
    let reply = server
        .send_session_key(blob, &mut rand_core::OsRng)
        .unwrap();
    let events = feed_client(&mut client, &reply);
    assert_eq!(events, vec![ClientEvent::SessionKeyReady]);
    let ck = client.session_key().unwrap();
    let sk = server.session_key().unwrap();
    assert_eq!(ck, sk);
    let ss = ck.encrypt("P@ssw0rd");
    assert_eq!(sk.decrypt(&ss).unwrap().as_str(), "P@ssw0rd");
    // A second ENCRYPTED_SESSION_KEY is refused.
    let again = server
        .send_session_key(blob, &mut rand_core::OsRng)
        .unwrap();
    assert!(matches!(
        client.receive(&again[0]),
        Err(PoolError::State(_))
    ));
}

#[test]
fn pool_requests_and_wrong_states() {
    let rpid = Guid::parse("00000000-0000-4000-8000-000000000009").unwrap();
    let mut fresh = ClientPool::new(rpid, 153_600);
    assert!(fresh
        .create_pipeline(rpid, &CreatePipeline::new(vec![], HostInfo::null()))
        .is_err());
    assert!(fresh.start_key_exchange(pypsrp_test_key()).is_err());
    let (mut client, mut server) = opened_pair(512_000);
    let (ci, out) = client.pool_request(|ci| PoolRequest::Reset { ci }).unwrap();
    let events = server.receive(&out.payloads.concat()).unwrap();
    assert_eq!(
        events,
        vec![ServerEvent::PoolRequest(PoolRequest::Reset { ci })]
    );
    let reply = server.availability(ci, Value::Bool(true));
    let events = feed_client(&mut client, &reply);
    let [ClientEvent::Availability(a)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!((a.ci, a.response.clone()), (ci, Value::Bool(true)));
    // Messages for a pipeline nobody created.
    let stray = Guid::parse("DEADBEEF-0000-4000-8000-000000000000").unwrap();
    assert!(matches!(
        server.pipeline_message(stray, MessageType::PIPELINE_OUTPUT, &Value::Nil),
        Err(PoolError::UnknownPipeline(_))
    ));
    assert!(matches!(
        client.send_input(stray, &[], true),
        Err(PoolError::UnknownPipeline(_))
    ));
    // A server message with that PID reaching the client is an error too.
    let (mut c2, mut s2) = opened_pair(512_000);
    let start = c2
        .create_pipeline(
            stray,
            &CreatePipeline::new(vec![Command::cmdlet("Get-Date")], HostInfo::null()),
        )
        .unwrap();
    s2.receive(&start.arguments).unwrap();
    let out = s2
        .pipeline_message(stray, MessageType::PIPELINE_OUTPUT, &Value::Nil)
        .unwrap();
    assert!(matches!(
        client.receive(&out[0]),
        Err(PoolError::UnknownPipeline(_))
    ));
    let closing = server.close(RunspacePoolState::Closed, None);
    feed_client(&mut client, &closing);
    assert_eq!(client.state(), RunspacePoolState::Closed);
}

/// Drives a ClientPool with what the recorded client did and feeds it every recorded server
/// message: the pool must accept all of them, in order, and end with every pipeline finished.
#[test]
fn the_client_accepts_every_recorded_windows_reply() {
    let mut driven = 0;
    let mut event_counts: BTreeMap<String, usize> = BTreeMap::new();
    for (file, exchanges) in recordings() {
        // A second client attaches in these (Connect).
        if file.contains("disconnect_runspaces") || file.contains("disconnected_commands") {
            continue;
        }
        let msgs = all_messages(&exchanges);
        let rpid = msgs[0].message.rpid;
        let mut client = ClientPool::new(rpid, 512_000);
        let mut object_id = 1000;
        for m in &msgs {
            let msg = &m.message;
            let t = msg.message_type;
            let ctx = format!("{file}: {t}");
            if m.from_client {
                match decode(t, &msg.data).unwrap() {
                    Data::InitRunspacePool(init) => {
                        client.open(&init).unwrap();
                    }
                    Data::Object(v) if t == MessageType::GET_COMMAND_METADATA => {
                        let names: Vec<&str> = v
                            .get("Name")
                            .unwrap()
                            .items()
                            .unwrap()
                            .iter()
                            .map(|n| n.as_str().unwrap())
                            .collect();
                        let namespaces: Vec<&str> = v
                            .get("Namespace")
                            .and_then(Value::items)
                            .unwrap_or_default()
                            .iter()
                            .map(|n| n.as_str().unwrap())
                            .collect();
                        let ct = v.get("CommandType").unwrap().as_i32().unwrap();
                        let start = client
                            .command_metadata(msg.pid, &names, ct, &namespaces)
                            .unwrap();
                        // Our request is the recorded one, byte for byte.
                        let ours = psrp::message::Message::decode(
                            &fragment::decode_all(&start.arguments).unwrap()[0].blob,
                        )
                        .unwrap();
                        assert_eq!(ours.data, msg.data, "{ctx}");
                    }
                    Data::CreatePipeline(create) => {
                        client
                            .create_pipeline(msg.pid, &create)
                            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    }
                    Data::HostResponse(r) => {
                        let scope = (t == MessageType::PIPELINE_HOST_RESPONSE).then_some(msg.pid);
                        client
                            .host_response(scope, &r)
                            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    }
                    Data::PublicKey(_) => {
                        client.start_key_exchange(pypsrp_test_key()).unwrap();
                    }
                    Data::PoolRequest(r) => {
                        client.pool_request(|_| r.clone()).unwrap();
                    }
                    Data::Object(v) if t == MessageType::PIPELINE_INPUT => {
                        client.send_input(msg.pid, &[v], false).unwrap();
                    }
                    Data::EndOfInput => {
                        client.send_input(msg.pid, &[], true).unwrap();
                    }
                    _ => {}
                }
                continue;
            }
            let mut raw = msg.encode();
            raw.truncate(40);
            raw.extend_from_slice(&m.raw_data);
            object_id += 1;
            let mut events = Vec::new();
            for f in fragment::split(object_id, &raw, 1000) {
                events.extend(
                    client
                        .receive(&f.encode())
                        .unwrap_or_else(|e| panic!("{ctx}: {e}")),
                );
            }
            assert_eq!(events.len(), 1, "{ctx}");
            let name = format!("{:?}", events[0]);
            let name = name.split([' ', '(', '{']).next().unwrap().to_string();
            *event_counts.entry(name).or_default() += 1;
        }
        assert_eq!(client.state(), RunspacePoolState::Opened, "{file}");
        // The PowerShell 2.0 server gets 150 KB envelopes, the others keep 500 KB.
        let want = if file.contains("version_2.1") {
            153_600
        } else {
            512_000
        };
        assert_eq!(client.max_envelope_size(), want, "{file}");
        driven += 1;
    }
    assert_eq!(driven, 33);
    for e in [
        "PoolState",
        "Output",
        "HostCall",
        "PipelineFinished",
        "Progress",
        "Error",
        "Informational",
        "Information",
        "SessionKeyReady",
        "Availability",
    ] {
        assert!(event_counts.contains_key(e), "{e} in {event_counts:?}");
    }
}

#[test]
fn a_stopped_pipeline_and_a_server_asking_for_the_key() {
    let (mut client, mut server) = opened_pair(512_000);
    let pid = Guid::parse("1076F64C-EE0D-4253-A092-E777479C6656").unwrap();
    let start = client
        .create_pipeline(
            pid,
            &CreatePipeline::new(vec![Command::script("while ($true) {}")], HostInfo::null()),
        )
        .unwrap();
    server.receive(&start.arguments).unwrap();
    client.stopping(pid).unwrap();
    assert_eq!(client.pipeline_state(pid), Some(PipelineState::Stopping));
    let events = feed_client(&mut client, &server.stop(pid).unwrap());
    let [ClientEvent::PipelineFinished {
        state,
        error: Some(e),
        ..
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*state, PipelineState::Stopped);
    assert_eq!(e.fully_qualified_error_id, "PipelineStopped");
    assert!(client.stopping(pid).is_err(), "finished");

    let events = feed_client(&mut client, &server.request_public_key());
    assert_eq!(events, vec![ClientEvent::PublicKeyRequested]);
    let out = client.start_key_exchange(pypsrp_test_key()).unwrap();
    assert!(matches!(
        server.receive(&out.payloads[0]).unwrap().as_slice(),
        [ServerEvent::PublicKey(_)]
    ));
}

/// The two recordings where pools are disconnected and a second client connects to them
/// (test_psrp_disconnect_runspaces, test_psrp_disconnected_commands): one ClientPool per
/// (client, pool), driven by the recorded requests, fed every recorded reply.
#[test]
fn the_client_follows_recorded_disconnects_and_connects() {
    use std::collections::HashMap;
    use wsman::psrp::{parse_request, PsrpRequestBody};
    for file in [
        "test_psrp_disconnect_runspaces.yml",
        "test_psrp_disconnected_commands.yml",
    ] {
        let recs = recordings();
        let (_, exchanges) = recs.iter().find(|(n, _)| n == file).unwrap();
        let msgs = all_messages(exchanges);
        // Pools by ShellId (the recorded client wrote RPIDs in RFC byte order).
        let mut pools: HashMap<String, ClientPool> = HashMap::new();
        let mut connected = 0;
        let mut reconnected = 0;
        let mut object_id = 5000;
        for (i, ex) in exchanges.iter().enumerate() {
            let Ok(req) = parse_request(ex.request.as_bytes()) else {
                continue;
            };
            let shell = req.header.shell_id.clone();
            match &req.body {
                PsrpRequestBody::Disconnect { .. } => {
                    pools
                        .get_mut(shell.as_ref().unwrap())
                        .unwrap()
                        .disconnected();
                }
                PsrpRequestBody::Reconnect => {
                    let pool = pools.get_mut(shell.as_ref().unwrap()).unwrap();
                    if pool.state() == RunspacePoolState::Disconnected {
                        pool.reconnected().unwrap();
                        reconnected += 1;
                    }
                }
                PsrpRequestBody::Connect {
                    command_id: Some(cmd),
                    ..
                } => {
                    let pool = pools.get_mut(shell.as_ref().unwrap()).unwrap();
                    pool.attach_pipeline(Guid::parse_rfc_order(cmd).unwrap())
                        .unwrap();
                }
                _ => {}
            }
            for m in msgs.iter().filter(|m| m.exchange == i) {
                let msg = &m.message;
                let t = msg.message_type;
                let ctx = format!("{file} #{i}: {t}");
                let key = msg.rpid.to_text_rfc();
                if m.from_client {
                    match decode(t, &msg.data).unwrap() {
                        Data::InitRunspacePool(init) => {
                            let mut pool = ClientPool::new(msg.rpid, 512_000);
                            pool.open(&init).unwrap();
                            pools.insert(key, pool);
                        }
                        Data::ConnectRunspacePool(_) => {
                            // A new client: a new ClientPool for the same pool id.
                            let mut pool = ClientPool::new(msg.rpid, 512_000);
                            pool.connect().unwrap();
                            assert_eq!(pool.state(), RunspacePoolState::Connecting, "{ctx}");
                            pools.insert(key, pool);
                            connected += 1;
                        }
                        Data::CreatePipeline(create) => {
                            pools
                                .get_mut(&key)
                                .unwrap()
                                .create_pipeline(msg.pid, &create)
                                .unwrap();
                        }
                        _ => {}
                    }
                    continue;
                }
                // Server messages: the pool of the request's ShellId (SESSION_CAPABILITY on a
                // pool Receive has a zero RPID).
                let pool = pools
                    .get_mut(shell.as_ref().unwrap_or(&key))
                    .unwrap_or_else(|| panic!("{ctx}"));
                let mut raw = msg.encode();
                raw.truncate(40);
                raw.extend_from_slice(&m.raw_data);
                object_id += 1;
                for f in fragment::split(object_id, &raw, 4096) {
                    pool.receive(&f.encode())
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                }
            }
        }
        assert_eq!(connected, 2, "{file}");
        // Only the first recording reconnects a disconnected pool with the same client (the
        // other sends Reconnect to pools that are already open again, which is a no-op).
        assert_eq!(
            reconnected,
            usize::from(file.contains("runspaces")),
            "{file}"
        );
        for (id, pool) in &pools {
            assert_eq!(pool.state(), RunspacePoolState::Opened, "{file} {id}");
        }
    }
}

/// The server end driven by every recorded client request (one ServerPool per pool): it
/// accepts them all, and where the recorded server sent a host call or a pipeline's end, our
/// server does the same and numbers the host calls as Windows did.
#[test]
fn the_server_accepts_every_recorded_client_request() {
    use psrp::messages::PipelineStateInfo;
    use std::collections::HashMap;
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for (file, exchanges) in recordings() {
        if file.contains("disconnect_runspaces") || file.contains("disconnected_commands") {
            continue;
        }
        let mut server = ServerPool::new();
        let mut pids: HashMap<Guid, Guid> = HashMap::new();
        for m in all_messages(&exchanges) {
            let msg = &m.message;
            let t = msg.message_type;
            let ctx = format!("{file}: {t}");
            if m.from_client {
                let mut raw = msg.encode();
                raw.truncate(40);
                raw.extend_from_slice(&m.raw_data);
                let payload = fragment::split(1, &raw, 100_000)
                    .iter()
                    .flat_map(|f| f.encode())
                    .collect::<Vec<u8>>();
                let events = server
                    .receive(&payload)
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                for e in &events {
                    let name = format!("{e:?}");
                    *totals
                        .entry(name.split([' ', '(', '{']).next().unwrap().to_string())
                        .or_default() += 1;
                    match e {
                        ServerEvent::Open { .. } => {
                            server.accept_open(Value::Nil).unwrap();
                        }
                        ServerEvent::PipelineCreated { pipeline, .. }
                        | ServerEvent::CommandMetadata { pipeline, .. } => {
                            pids.insert(*pipeline, *pipeline);
                        }
                        _ => {}
                    }
                }
                continue;
            }
            match decode(t, &msg.data).unwrap() {
                Data::HostCall(call) if t == MessageType::PIPELINE_HOST_CALL => {
                    let (ci, frags) = server
                        .host_call(
                            Some(msg.pid),
                            call.method,
                            call.params.clone(),
                            !call.wants_reply(),
                        )
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(ci, call.call_id, "{ctx}: call ids count like Windows'");
                    // Our host call message is Windows', byte for byte, apart from the BOM.
                    let ours = psrp::message::Message::decode(
                        &fragment::decode_all(&frags[0]).unwrap()[0].blob,
                    )
                    .unwrap();
                    assert_eq!(
                        decode(t, &ours.data).unwrap(),
                        Data::HostCall(call),
                        "{ctx}"
                    );
                    assert_eq!(ours.pid, msg.pid, "{ctx}: the PID bytes are echoed");
                    assert_eq!(ours.rpid, msg.rpid, "{ctx}: the RPID bytes are echoed");
                }
                Data::PipelineState(PipelineStateInfo { state, error }) => {
                    assert!(!server.is_pending(msg.pid), "{ctx}: no call left open");
                    server
                        .finish(msg.pid, state, error)
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                }
                _ => {}
            }
        }
        // Pipelines end with PIPELINE_STATE, except one that the recorded client closed with
        // a Signal (test_psrp_nested_command's endless loop).
        let signalled: Vec<String> = exchanges
            .iter()
            .filter_map(|ex| wsman::psrp::parse_request(ex.request.as_bytes()).ok())
            .filter_map(|r| match r.body {
                wsman::psrp::PsrpRequestBody::Signal { command_id, .. } => command_id,
                _ => None,
            })
            .collect();
        for pid in pids.keys() {
            let finished = server.pipeline_state(*pid).unwrap().is_finished();
            let was_signalled =
                signalled.contains(&pid.to_text()) || signalled.contains(&pid.to_text_rfc());
            assert!(finished || was_signalled, "{file}: pipeline {pid} finished");
        }
    }
    for e in [
        "Open",
        "PipelineCreated",
        "HostResponse",
        "PublicKey",
        "PoolRequest",
        "Input",
        "EndOfInput",
        "CommandMetadata",
    ] {
        assert!(totals.contains_key(e), "{e} in {totals:?}");
    }
}

/// A new client connecting to a disconnected pool, byte for byte as recorded
/// (test_psrp_disconnect_runspaces, pairs 14 and 15): its connectXml is SESSION_CAPABILITY
/// and CONNECT_RUNSPACEPOOL (`<S />`) with ObjectIds 1 and 2; Windows' connectResponseXml
/// (SESSION_CAPABILITY + RUNSPACEPOOL_INIT_DATA) opens the pool; the RUNSPACEPOOL_STATE that
/// Windows repeats (with its old ObjectId 3) on the next pool Receive keeps it Opened; the
/// first pipeline of the new client is its ObjectId 3.
#[test]
fn a_new_client_connects_as_recorded() {
    use common::payloads;
    let recs = recordings();
    let (_, exchanges) = recs
        .iter()
        .find(|(n, _)| n == "test_psrp_disconnect_runspaces.yml")
        .unwrap();
    let connect = payloads(&exchanges[14]);
    let [(true, None, name, connect_xml), (false, None, rname, response_xml)] = connect.as_slice()
    else {
        panic!("pair 14 is not a Connect: {connect:?}");
    };
    assert_eq!(
        (name.as_str(), rname.as_str()),
        ("connectXml", "connectResponseXml")
    );
    // The recorded client's pool id, as its messages carry it.
    let mut defrag = psrp::fragment::Defragmenter::new(Default::default());
    let first = defrag.push_payload(connect_xml).unwrap();
    let rpid = psrp::message::Message::decode(&first[0].1).unwrap().rpid;

    let mut pool = ClientPool::new(rpid, 153_600);
    let ours = pool.connect().unwrap();
    assert_eq!(
        ours, *connect_xml,
        "connectXml differs from the recorded one"
    );
    assert_eq!(pool.state(), RunspacePoolState::Connecting);

    let events = pool.receive(response_xml).unwrap();
    assert!(
        matches!(
            events.as_slice(),
            [
                ClientEvent::SessionCapability(_),
                ClientEvent::InitData { min: 1, max: 1 }
            ]
        ),
        "{events:?}"
    );
    assert_eq!(pool.state(), RunspacePoolState::Opened);
    assert_eq!(pool.server_protocol(), Some((2, 3)));

    let receive = payloads(&exchanges[15]);
    let [(false, None, _, state)] = receive.as_slice() else {
        panic!("pair 15 is not a pool Receive: {receive:?}");
    };
    let events = pool.receive(state).unwrap();
    assert!(
        matches!(
            events.as_slice(),
            [ClientEvent::PoolState {
                state: RunspacePoolState::Opened,
                error: None
            }]
        ),
        "{events:?}"
    );

    let pid = Guid::parse("1076F64C-EE0D-4253-A092-E777479C6656").unwrap();
    let start = pool
        .create_pipeline(
            pid,
            &CreatePipeline::new(vec![Command::script("$x")], HostInfo::null()),
        )
        .unwrap();
    assert_eq!(
        &start.arguments[..8],
        &3u64.to_be_bytes(),
        "ObjectIds restart at 1"
    );
    // No session key yet: this client exchanges its own.
    assert!(pool.session_key().is_none());
    assert!(pool.start_key_exchange(pypsrp_test_key()).is_ok());
}

/// Our server end answers a Connect as Windows did, and our client follows it: the pool's
/// pipelines, session key and ObjectIds carry on for the server, start afresh for the client.
#[test]
fn a_server_pool_takes_a_new_client() {
    let (mut old, mut server) = opened_pair(512_000);
    let create = CreatePipeline::new(vec![Command::script("1")], HostInfo::null());
    let pid = Guid::parse("58955C51-F72D-43D9-A2B8-DEEEA3B64869").unwrap();
    let start = old.create_pipeline(pid, &create).unwrap();
    server.receive(&start.arguments).unwrap();
    old.disconnected();

    let mut new = ClientPool::new(old.rpid(), 512_000);
    let xml = new.connect().unwrap();
    let events = server.receive(&xml).unwrap();
    assert!(
        matches!(events.as_slice(), [ServerEvent::Connect { .. }]),
        "{events:?}"
    );
    let response = server.accept_connect(1, 1);
    new.receive(&response).unwrap();
    assert_eq!(new.state(), RunspacePoolState::Opened);
    let events = feed_client(&mut new, &server.state_message());
    assert!(matches!(
        events.as_slice(),
        [ClientEvent::PoolState {
            state: RunspacePoolState::Opened,
            ..
        }]
    ));
    // The old pipeline goes on on the server; the new client attaches to it.
    new.attach_pipeline(pid).unwrap();
    let out = server
        .pipeline_message(pid, MessageType::PIPELINE_OUTPUT, &Value::I32(1))
        .unwrap();
    let events = feed_client(&mut new, &out);
    assert!(matches!(events.as_slice(), [ClientEvent::Output { .. }]));
    let done = server.finish(pid, PipelineState::Completed, None).unwrap();
    let events = feed_client(&mut new, &done);
    assert!(matches!(
        events.as_slice(),
        [ClientEvent::PipelineFinished {
            state: PipelineState::Completed,
            ..
        }]
    ));
}
