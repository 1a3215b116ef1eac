//! A whole PowerShell remoting session through both crates with no network: the client pool's
//! bytes go into `wsman::psrp` request envelopes, the server side parses them and feeds its
//! pool, whose bytes go into response envelopes that the client side parses. This is the
//! shape of the real client (winrm-client) and of the simulator.

use psrp::clixml::Value;
use psrp::host::{HostMethodId, HostResponse};
use psrp::message::Guid;
use psrp::messages::InitRunspacePool;
use psrp::pool::{ClientEvent, ClientPool, ServerEvent, ServerPool};
use psrp::records::{HostInfo, PipelineState, RunspacePoolState};
use wsman::psrp::*;
use wsman::{ShellInfo, StreamData};

const TO: &str = "https://container:5986/wsman";

/// Client request → XML → server parse, and server response → XML → client parse.
struct Wire {
    server: ServerPool,
}

impl Wire {
    fn exchange(
        &mut self,
        req: PsrpRequest,
        answer: impl FnOnce(&PsrpRequest, &mut ServerPool) -> PsrpResponseBody,
    ) -> PsrpResponseBody {
        let action = req.header.action;
        let xml = write_request(&req);
        let parsed = parse_request(xml.as_bytes()).unwrap();
        assert_eq!(parsed, req, "the server reads what the client wrote");
        let body = answer(&parsed, &mut self.server);
        let resp = PsrpResponse::new(Some(parsed.header.message_id.clone()), body);
        let xml = write_response(&resp);
        let back = parse_response(action, xml.as_bytes()).unwrap().unwrap();
        assert_eq!(
            back.relates_to.as_deref(),
            Some(req.header.message_id.as_str())
        );
        assert_eq!(back.body, resp.body);
        back.body
    }
}

fn received(
    frags: Vec<Vec<u8>>,
    command_id: Option<String>,
    state: Option<PsrpCommandState>,
) -> PsrpResponseBody {
    PsrpResponseBody::Received {
        streams: frags
            .into_iter()
            .map(|data| StreamData {
                name: "stdout".into(),
                command_id: command_id.clone(),
                end: false,
                data,
            })
            .collect(),
        state,
    }
}

fn client_events(client: &mut ClientPool, body: PsrpResponseBody) -> Vec<ClientEvent> {
    let PsrpResponseBody::Received { streams, .. } = body else {
        panic!("{body:?}")
    };
    streams
        .iter()
        .flat_map(|s| client.receive(&s.data).unwrap())
        .collect()
}

#[test]
fn open_run_answer_a_prompt_and_close() {
    let rpid = Guid::parse("9B0D0E1C-3F40-4E5A-8C1D-2A3B4C5D6E7F").unwrap();
    let shell_id = rpid.to_text();
    let mut client = ClientPool::new(rpid, 512_000);
    let mut wire = Wire {
        server: ServerPool::new(),
    };

    // Create.
    let creation_xml = client
        .open(&InitRunspacePool::new(HostInfo::console(132, 43)))
        .unwrap();
    let body = wire.exchange(
        PsrpRequest::new(
            TO,
            DEFAULT_CONFIGURATION,
            None,
            PsrpRequestBody::Create {
                shell_id: shell_id.clone(),
                input_streams: INPUT_STREAMS.iter().map(|s| s.to_string()).collect(),
                output_streams: OUTPUT_STREAMS.iter().map(|s| s.to_string()).collect(),
                idle_timeout: None,
                creation_xml,
            },
        ),
        |req, server| {
            assert_eq!(req.header.option("protocolversion"), Some("2.3"));
            let PsrpRequestBody::Create {
                shell_id,
                creation_xml,
                ..
            } = &req.body
            else {
                panic!()
            };
            let events = server.receive(creation_xml).unwrap();
            let [ServerEvent::Open { init, .. }] = events.as_slice() else {
                panic!("{events:?}")
            };
            assert_eq!(
                init.host_info
                    .default_data
                    .as_ref()
                    .unwrap()
                    .window_size
                    .width,
                132
            );
            PsrpResponseBody::Created(ShellInfo {
                shell_id: shell_id.clone(),
                resource_uri: req.header.resource_uri.clone(),
                address: TO.into(),
                input_streams: vec!["stdin".into(), "pr".into()],
                output_streams: vec!["stdout".into()],
                ..ShellInfo::default()
            })
        },
    );
    let PsrpResponseBody::Created(info) = body else {
        panic!()
    };
    assert_eq!(info.shell_id, shell_id);

    // Pool Receive until Opened.
    let receive = |command_id: Option<String>| {
        PsrpRequest::new(
            TO,
            DEFAULT_CONFIGURATION,
            Some(&shell_id),
            PsrpRequestBody::Receive {
                command_id,
                streams: vec!["stdout".into()],
            },
        )
    };
    let body = wire.exchange(receive(None), |_, server| {
        received(server.accept_open(Value::Nil).unwrap(), None, None)
    });
    let events = client_events(&mut client, body);
    assert_eq!(events.len(), 3);
    assert_eq!(client.state(), RunspacePoolState::Opened);

    // Command: the line, with Out-Default, for the terminal's size.
    let pid = Guid::parse("0F1E2D3C-4B5A-4697-8877-665544332211").unwrap();
    let command_id = pid.to_text();
    let create = psrp::console::line_pipeline(
        "Read-Host 'Your name'",
        HostInfo::console(132, 43),
        client.server_protocol().unwrap(),
    );
    let start = client.create_pipeline(pid, &create).unwrap();
    assert!(start.rest.is_empty());
    wire.exchange(
        PsrpRequest::new(
            TO,
            DEFAULT_CONFIGURATION,
            Some(&shell_id),
            PsrpRequestBody::Command {
                command_id: command_id.clone(),
                arguments: start.arguments,
            },
        ),
        |req, server| {
            let PsrpRequestBody::Command {
                command_id,
                arguments,
            } = &req.body
            else {
                panic!()
            };
            let events = server.receive(arguments).unwrap();
            assert!(matches!(events[..], [ServerEvent::PipelineCreated { .. }]));
            PsrpResponseBody::CommandStarted {
                command_id: command_id.clone(),
            }
        },
    );

    // Pipeline Receive: a prompt text and a ReadLine that waits (CommandState Pending).
    let body = wire.exchange(receive(Some(command_id.clone())), |req, server| {
        let PsrpRequestBody::Receive { command_id, .. } = &req.body else {
            panic!()
        };
        let (_, mut frags) = server
            .host_call(
                Some(pid),
                HostMethodId::WRITE1,
                vec![Value::str("Your name: ")],
                true,
            )
            .unwrap();
        frags.extend(
            server
                .host_call(Some(pid), HostMethodId::READ_LINE, vec![], false)
                .unwrap()
                .1,
        );
        assert!(server.is_pending(pid));
        received(
            frags,
            command_id.clone(),
            Some(PsrpCommandState {
                command_id: command_id.clone(),
                state: CommandStateKind::Pending,
                exit_code: None,
            }),
        )
    });
    let events = client_events(&mut client, body);
    let ClientEvent::HostCall { call: prompt, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        psrp::console::render_request(prompt.method.name(), &prompt.request()).as_deref(),
        Some("Your name: ")
    );
    let ClientEvent::HostCall { call: read, .. } = &events[1] else {
        panic!("{events:?}")
    };
    assert!(read.wants_reply());

    // The answer goes on `pr` with the CommandId.
    let out = client
        .host_response(Some(pid), &HostResponse::read_line(read, "Ada"))
        .unwrap();
    let streams = out
        .payloads
        .iter()
        .map(|data| StreamData {
            name: out.stream.name().into(),
            command_id: out.pipeline.map(|p| p.to_text()),
            end: false,
            data: data.clone(),
        })
        .collect();
    wire.exchange(
        PsrpRequest::new(
            TO,
            DEFAULT_CONFIGURATION,
            Some(&shell_id),
            PsrpRequestBody::Send(streams),
        ),
        |req, server| {
            let PsrpRequestBody::Send(streams) = &req.body else {
                panic!()
            };
            assert_eq!(streams[0].name, "pr");
            assert_eq!(streams[0].command_id.as_deref(), Some(command_id.as_str()));
            let events = server.receive(&streams[0].data).unwrap();
            let [ServerEvent::HostResponse { response, .. }] = events.as_slice() else {
                panic!("{events:?}")
            };
            assert_eq!(response.result, Some(Value::str("Ada")));
            PsrpResponseBody::Sent
        },
    );

    // The rest of the output and the end: CommandState Done, ExitCode 0.
    let body = wire.exchange(receive(Some(command_id.clone())), |req, server| {
        let PsrpRequestBody::Receive { command_id, .. } = &req.body else {
            panic!()
        };
        let (_, mut frags) = server
            .host_call(
                Some(pid),
                HostMethodId::WRITE_LINE2,
                vec![Value::str("Ada")],
                true,
            )
            .unwrap();
        frags.extend(server.finish(pid, PipelineState::Completed, None).unwrap());
        received(
            frags,
            command_id.clone(),
            Some(PsrpCommandState {
                command_id: command_id.clone(),
                state: CommandStateKind::Done,
                exit_code: Some(0),
            }),
        )
    });
    let events = client_events(&mut client, body);
    assert!(matches!(
        events.last(),
        Some(ClientEvent::PipelineFinished {
            state: PipelineState::Completed,
            ..
        })
    ));

    // Release the command, close the pool.
    wire.exchange(
        PsrpRequest::new(
            TO,
            DEFAULT_CONFIGURATION,
            Some(&shell_id),
            PsrpRequestBody::Signal {
                command_id: Some(command_id.clone()),
                code: SIGNAL_TERMINATE.into(),
            },
        ),
        |_, _| PsrpResponseBody::Signalled,
    );
    let body = wire.exchange(
        PsrpRequest::new(
            TO,
            DEFAULT_CONFIGURATION,
            Some(&shell_id),
            PsrpRequestBody::Delete,
        ),
        |_, server| {
            let closing = server.close(RunspacePoolState::Closed, None);
            assert_eq!(closing.len(), 1);
            PsrpResponseBody::Deleted
        },
    );
    assert_eq!(body, PsrpResponseBody::Deleted);
    assert_eq!(
        wire.server.pipeline_state(pid),
        Some(PipelineState::Completed)
    );
}
