//! Both directions against each other: what one side writes, the other parses back unchanged.

// The shared API returns `Result<Response, Fault>` by value; Fault is large but rare.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use wsman::client::{parse_response, write_request};
use wsman::server::{parse_request, write_fault, write_response};
use wsman::*;

const TO: &str = "https://127.0.0.1:5986/wsman";
const SHELL: &str = "4283CBDC-3706-415B-88BD-B385F3E51A53";
const CMD: &str = "CF84C20A-0A35-43FA-AF78-0B4711DA5F30";

fn requests() -> Vec<Request> {
    let tricky = "a&b<c>d\"e'f \u{3053}\u{3093} \r\n\tend";
    let mut create = Request::new(
        TO,
        None,
        RequestBody::Create(ShellSpec {
            input_streams: vec!["stdin".into()],
            output_streams: vec!["stdout".into(), "stderr".into()],
            working_directory: Some("C:\\Users\\<me> & you".into()),
            environment: vec![
                ("PATH".into(), "C:\\bin;D:\\x".into()),
                ("T".into(), tricky.into()),
            ],
            idle_timeout: Some(Duration::from_secs(600)),
        }),
    )
    .with_option(ns::option::NOPROFILE, "TRUE")
    .with_option(ns::option::CODEPAGE, "65001");
    create.header.session_id = Some("uuid:A635D444-7E75-4E46-9A68-2FFF53AF45CA".into());
    create.header.locale = "de-DE".into();
    create.header.max_envelope_size = 512_000;
    create.header.operation_timeout = Duration::from_millis(1500);
    let minimal_create = Request::new(TO, None, RequestBody::Create(ShellSpec::default()));
    vec![
        create,
        minimal_create,
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Command(CommandLine {
                command: "cmd.exe".into(),
                arguments: vec!["/c".into(), "echo".into(), tricky.into(), String::new()],
            }),
        )
        .with_option(ns::option::SKIP_CMD_SHELL, "False")
        .with_option(ns::option::CONSOLEMODE_STDIN, "TRUE"),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Send(vec![
                StreamData {
                    name: "stdin".into(),
                    command_id: Some(CMD.into()),
                    end: false,
                    data: b"dir\r\n".to_vec(),
                },
                StreamData {
                    name: "stdin".into(),
                    command_id: None,
                    end: true,
                    data: (0u8..=255).collect(),
                },
                StreamData {
                    name: "stdin".into(),
                    command_id: Some(CMD.into()),
                    end: true,
                    data: Vec::new(),
                },
            ]),
        ),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Receive {
                command_id: Some(CMD.into()),
                streams: vec!["stdout".into(), "stderr".into()],
                sequence_id: None,
            },
        )
        .with_option("WSMAN_CMDSHELL_OPTION_KEEPALIVE", "True"),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Receive {
                command_id: Some(CMD.into()),
                streams: vec!["stdout".into(), "stderr".into()],
                sequence_id: Some(0),
            },
        ),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Receive {
                command_id: Some(CMD.into()),
                streams: vec!["stdout".into(), "stderr".into()],
                sequence_id: Some(u64::MAX),
            },
        ),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Receive {
                command_id: None,
                streams: vec!["stdout".into()],
                sequence_id: None,
            },
        ),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Signal {
                command_id: Some(CMD.into()),
                code: SignalCode::CtrlC,
            },
        ),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Signal {
                command_id: Some(CMD.into()),
                code: SignalCode::CtrlBreak,
            },
        ),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Signal {
                command_id: None,
                code: SignalCode::Terminate,
            },
        ),
        Request::new(
            TO,
            Some(SHELL),
            RequestBody::Signal {
                command_id: Some(CMD.into()),
                code: SignalCode::Other("urn:custom/signal".into()),
            },
        ),
        Request::new(TO, Some(SHELL), RequestBody::Delete),
    ]
}

#[test]
fn every_request_round_trips() {
    let reqs = requests();
    let mut seen = std::collections::HashSet::new();
    for req in reqs {
        seen.insert(req.header.action);
        let xml = write_request(&req);
        let back = parse_request(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(back, req, "{xml}");
    }
    assert_eq!(seen.len(), 6, "every Action is covered");
}

#[test]
fn a_sequence_id_is_written_only_when_given() {
    let recv = |sequence_id| {
        write_request(&Request::new(
            TO,
            Some(SHELL),
            RequestBody::Receive {
                command_id: Some(CMD.into()),
                streams: vec!["stdout".into(), "stderr".into()],
                sequence_id,
            },
        ))
    };
    let plain = recv(None);
    assert!(plain.contains("<rsp:Receive>"), "{plain}");
    assert!(!plain.contains("SequenceId"), "{plain}");
    let numbered = recv(Some(42));
    assert!(
        numbered.contains(r#"<rsp:Receive SequenceId="42"><rsp:DesiredStream"#),
        "{numbered}"
    );
    let RequestBody::Receive { sequence_id, .. } = parse_request(numbered.as_bytes()).unwrap().body
    else {
        panic!("not a Receive")
    };
    assert_eq!(sequence_id, Some(42));
    let RequestBody::Receive { sequence_id, .. } = parse_request(plain.as_bytes()).unwrap().body
    else {
        panic!("not a Receive")
    };
    assert_eq!(sequence_id, None);
}

#[test]
fn noprofile_option_is_must_comply_like_windows_clients_send_it() {
    let req = Request::new(TO, None, RequestBody::Create(ShellSpec::default()))
        .with_option(ns::option::NOPROFILE, "TRUE")
        .with_option(ns::option::CODEPAGE, "65001");
    let xml = write_request(&req);
    assert!(
        xml.contains(
            r#"<wsman:Option MustComply="true" Name="WINRS_NOPROFILE">TRUE</wsman:Option>"#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<wsman:Option Name="WINRS_CODEPAGE">65001</wsman:Option>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<wsman:OptionSet s:mustUnderstand="true">"#),
        "{xml}"
    );
    assert_eq!(req.option(ns::option::CODEPAGE), Some("65001"));
}

fn responses() -> Vec<Response> {
    let rel = Some("uuid:FC40E3CD-53E9-4315-B486-6D538B25D1F5".to_string());
    let big: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
    vec![
        Response::new(
            rel.clone(),
            ResponseBody::Created(ShellInfo {
                shell_id: SHELL.into(),
                resource_uri: ns::RESOURCE_CMD.into(),
                address: TO.into(),
                owner: Some("DOMAIN\\vagrant & co".into()),
                client_ip: Some("::1".into()),
                idle_timeout: Some(Duration::from_secs(7200)),
                input_streams: vec!["stdin".into()],
                output_streams: vec!["stdout".into(), "stderr".into()],
            }),
        ),
        Response::new(
            None,
            ResponseBody::Created(ShellInfo {
                shell_id: SHELL.into(),
                resource_uri: ns::RESOURCE_CMD.into(),
                address: TO.into(),
                ..ShellInfo::default()
            }),
        ),
        Response::new(
            rel.clone(),
            ResponseBody::CommandStarted {
                command_id: CMD.into(),
            },
        ),
        Response::new(rel.clone(), ResponseBody::Sent),
        Response::new(
            rel.clone(),
            ResponseBody::Received {
                streams: vec![
                    StreamData {
                        name: "stdout".into(),
                        command_id: Some(CMD.into()),
                        end: false,
                        data: b"hi\r\n".to_vec(),
                    },
                    StreamData {
                        name: "stderr".into(),
                        command_id: None,
                        end: false,
                        data: big,
                    },
                    StreamData {
                        name: "stdout".into(),
                        command_id: Some(CMD.into()),
                        end: true,
                        data: Vec::new(),
                    },
                ],
                state: Some(CommandState {
                    command_id: Some(CMD.into()),
                    done: true,
                    exit_code: Some(-1),
                }),
            },
        ),
        Response::new(
            rel.clone(),
            ResponseBody::Received {
                streams: vec![],
                state: Some(CommandState {
                    command_id: Some(CMD.into()),
                    done: false,
                    exit_code: None,
                }),
            },
        ),
        Response::new(
            rel.clone(),
            ResponseBody::Received {
                streams: vec![],
                state: None,
            },
        ),
        Response::new(rel.clone(), ResponseBody::Signalled),
        Response::new(rel, ResponseBody::Deleted),
    ]
}

#[test]
fn every_response_round_trips() {
    let mut seen = std::collections::HashSet::new();
    for resp in responses() {
        seen.insert(resp.action);
        let xml = write_response(&resp);
        let back = parse_response(resp.action, xml.as_bytes())
            .unwrap_or_else(|e| panic!("{e}\n{xml}"))
            .unwrap_or_else(|f| panic!("unexpected fault {f:?}"));
        assert_eq!(back, resp, "{xml}");
    }
    assert_eq!(seen.len(), 6, "every Action is covered");
}

#[test]
fn response_to_another_action_is_rejected() {
    let xml = write_response(&Response::new(None, ResponseBody::Sent));
    let err = parse_response(Action::Receive, xml.as_bytes()).unwrap_err();
    assert!(matches!(err, ParseError::Invalid { .. }), "{err:?}");
}

fn faults() -> Vec<Fault> {
    let rel = || Some("uuid:9BE5F54A-6B47-487D-9ACD-65201E650446".to_string());
    vec![
        Fault::timed_out(rel()),
        Fault::invalid_selectors(rel(), "shell"),
        Fault::invalid_selectors(rel(), "command"),
        Fault::invalid_selectors(None, "no such thing <&>"),
        Fault::shell_quota(rel(), 30),
        Fault::envelope_too_large(rel(), 512_000),
        Fault::schema_validation(rel(), "missing rsp:Shell"),
        Fault::action_not_supported(rel(), "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"),
        Fault::timed_out(rel()).with_machine("winhost"),
        Fault {
            code: "s:Sender".into(),
            subcode: None,
            reason: String::new(),
            detail: None,
            wsman_code: None,
            machine: None,
            message: String::new(),
            relates_to: None,
        },
    ]
}

#[test]
fn every_fault_round_trips_for_every_action() {
    for fault in faults() {
        let xml = write_fault(&fault);
        for action in [
            Action::Create,
            Action::Command,
            Action::Send,
            Action::Receive,
            Action::Signal,
            Action::Delete,
        ] {
            let back = parse_response(action, xml.as_bytes())
                .unwrap_or_else(|e| panic!("{e}\n{xml}"))
                .expect_err("a fault");
            assert_eq!(back, fault, "{xml}");
        }
    }
}

#[test]
fn fault_constructors_carry_windows_codes() {
    let t = Fault::timed_out(None);
    assert!(t.is_timeout());
    assert_eq!(
        (t.code.as_str(), t.subcode.as_deref()),
        ("s:Receiver", Some("w:TimedOut"))
    );
    assert_eq!(t.wsman_code, Some(2150858793));
    assert_eq!(
        Fault::invalid_selectors(None, "shell").wsman_code,
        Some(2150858843)
    );
    assert_eq!(
        Fault::invalid_selectors(None, "shell").subcode.as_deref(),
        Some("w:InvalidSelectors")
    );
    assert_eq!(Fault::shell_quota(None, 30).wsman_code, Some(2150859173));
    assert!(Fault::shell_quota(None, 30).message.contains("30"));
    let big = Fault::envelope_too_large(None, 512_000);
    assert_eq!(
        (big.wsman_code, big.subcode.as_deref()),
        (Some(2150858824), Some("w:EncodingLimit"))
    );
    assert!(big.message.contains("512000"));
    assert_eq!(
        Fault::schema_validation(None, "x").wsman_code,
        Some(2150858817)
    );
    assert!(!Fault::schema_validation(None, "x").is_timeout());
    let pe = Fault::for_parse_error(None, &ParseError::UnsupportedAction("urn:x".into()));
    assert_eq!(pe.subcode.as_deref(), Some("a:ActionNotSupported"));
    let pe = Fault::for_parse_error(None, &ParseError::Missing("rsp:Shell"));
    assert!(pe.message.contains("rsp:Shell"), "{}", pe.message);
}
