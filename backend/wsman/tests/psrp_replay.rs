//! Replays the PowerShell remoting exchanges pypsrp recorded against real Windows servers
//! (`shared/fixtures/psrp-recorded` beside the repository, MIT, see LICENSE.pypsrp there).
//!
//! Requests: the PSRP server side parses each one, and the client side writing the parsed
//! value gives the recorded structure back. Responses: the client side parses each one, and
//! the server side writing that value parses back to the same value (Create responses carry
//! server details the shared `ShellInfo` does not keep, so their structure is not compared).
//! WS-Transfer Get and Enumerate are not PSRP operations and are reported as unsupported.
#![allow(clippy::result_large_err)]

mod common;

use std::path::PathBuf;

use common::{assert_same_structure, tree};
use wsman::psrp::*;
use wsman::{ns, ParseError};

#[derive(Debug, serde::Deserialize)]
struct Exchange {
    request: String,
    response: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Recording {
    messages: Vec<Exchange>,
}

fn psrp_recordings() -> Vec<(String, Vec<Exchange>)> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/psrp-recorded");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yml") {
            continue;
        }
        let rec: Recording =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            rec.messages,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn action_of(xml: &str) -> String {
    tree(xml)
        .find(ns::ADDRESSING, "Action")
        .expect("Action")
        .text
        .clone()
}

#[test]
fn every_psrp_request_parses_and_rewrites_to_the_recorded_structure() {
    let recs = psrp_recordings();
    assert_eq!(recs.len(), 35);
    let mut per_action = std::collections::BTreeMap::new();
    let mut unsupported = 0;
    for (file, exchanges) in &recs {
        for (i, ex) in exchanges.iter().enumerate() {
            let ctx = format!("{file} #{i} request");
            let parsed = match parse_request(ex.request.as_bytes()) {
                Ok(p) => p,
                Err(ParseError::UnsupportedAction(uri)) => {
                    assert!(
                        uri.ends_with("/transfer/Get") || uri.ends_with("/enumeration/Enumerate"),
                        "{ctx}: {uri}"
                    );
                    unsupported += 1;
                    continue;
                }
                Err(e) => panic!("{ctx}: {e}"),
            };
            assert_eq!(parsed.header.action.uri(), action_of(&ex.request), "{ctx}");
            assert_eq!(
                configuration_of(&parsed.header.resource_uri),
                Some(
                    if file.contains("jea") && parsed.header.action != PsrpAction::Delete {
                        "JEARole"
                    } else if file.contains("jea") {
                        // pypsrp's Delete for the JEA pool used the same URI.
                        "JEARole"
                    } else {
                        DEFAULT_CONFIGURATION
                    }
                ),
                "{ctx}"
            );
            *per_action
                .entry(format!("{:?}", parsed.header.action))
                .or_insert(0) += 1;
            check_values(&parsed, &ctx);
            let got = tree(&write_request(&parsed));
            assert_same_structure(&got, &tree(&ex.request), &ctx);
        }
    }
    assert_eq!(per_action.len(), 9, "{per_action:?}");
    assert!(unsupported >= 10, "{unsupported}");
}

fn check_values(req: &PsrpRequest, ctx: &str) {
    match &req.body {
        PsrpRequestBody::Create {
            input_streams,
            output_streams,
            creation_xml,
            shell_id,
            ..
        } => {
            assert_eq!(input_streams, &["stdin", "pr"], "{ctx}");
            assert_eq!(output_streams, &["stdout"], "{ctx}");
            assert_eq!(req.header.option("protocolversion"), Some("2.3"), "{ctx}");
            assert_eq!(req.header.shell_id, None, "{ctx}");
            assert_eq!(shell_id.len(), 36, "{ctx}");
            // Fragment 1 starts with object id 1, fragment id 0, Start|End.
            assert_eq!(
                &creation_xml[..17],
                &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3],
                "{ctx}"
            );
        }
        PsrpRequestBody::Command { arguments, .. } => {
            assert!(arguments.len() > 61, "{ctx}");
            assert_eq!(arguments[16] & 1, 1, "{ctx}: the first fragment has Start");
        }
        PsrpRequestBody::Receive { streams, .. } => {
            assert_eq!(streams, &["stdout"], "{ctx}");
            assert_eq!(
                req.header.option("WSMAN_CMDSHELL_OPTION_KEEPALIVE"),
                Some("True"),
                "{ctx}"
            );
        }
        PsrpRequestBody::Send(streams) => {
            assert!(!streams.is_empty(), "{ctx}");
            for s in streams {
                assert!(s.name == "stdin" || s.name == "pr", "{ctx}");
                assert!(!s.end, "{ctx}: PSRP sends no End");
                assert!(s.data.len() >= 21, "{ctx}");
            }
        }
        PsrpRequestBody::Connect {
            command_id,
            connect_xml,
        } => assert_eq!(command_id.is_none(), connect_xml.is_some(), "{ctx}"),
        PsrpRequestBody::Signal { code, .. } => {
            assert!(
                code.ends_with("ctrl_c") || code.ends_with("/Terminate"),
                "{ctx}: {code}"
            )
        }
        _ => {}
    }
    if req.header.action != PsrpAction::Create {
        assert!(req.header.shell_id.is_some(), "{ctx}");
    }
}

#[test]
fn every_psrp_response_parses_and_rewrites_to_the_same_values() {
    let mut ok = 0;
    let mut faults = Vec::new();
    for (file, exchanges) in psrp_recordings() {
        for (i, ex) in exchanges.iter().enumerate() {
            let ctx = format!("{file} #{i} response");
            let Ok(req) = parse_request(ex.request.as_bytes()) else {
                continue;
            };
            let Some(resp) = &ex.response else {
                assert_eq!(file, "test_psrp_is_alive_http_error.yml");
                continue;
            };
            let action = req.header.action;
            match parse_response(action, resp.as_bytes()).unwrap_or_else(|e| panic!("{ctx}: {e}")) {
                Err(fault) => faults.push((file.clone(), fault.wsman_code)),
                Ok(parsed) => {
                    assert_eq!(
                        parsed.relates_to.as_deref(),
                        Some(req.header.message_id.as_str()),
                        "{ctx}"
                    );
                    check_response(&req, &parsed, &ctx);
                    let written = write_response(&parsed);
                    let back = parse_response(action, written.as_bytes())
                        .unwrap_or_else(|e| panic!("{ctx}: {e}\n{written}"))
                        .unwrap();
                    assert_eq!(back.body, parsed.body, "{ctx}");
                    if !matches!(parsed.body, PsrpResponseBody::Created(_)) {
                        let mut want = tree(resp);
                        want.remove(&|n| n.name == "ActivityId");
                        assert_same_structure(&tree(&written), &want, &ctx);
                    }
                    ok += 1;
                }
            }
        }
    }
    assert!(ok > 250, "{ok}");
    faults.sort();
    assert_eq!(
        faults,
        vec![
            (
                "test_psrp_long_running_cmdlet.yml".to_string(),
                Some(2150858793)
            ),
            (
                "test_psrp_long_running_cmdlet.yml".to_string(),
                Some(2150858793)
            ),
            (
                "test_psrp_receive_failure.yml".to_string(),
                Some(2150858843)
            ),
        ]
    );
}

fn check_response(req: &PsrpRequest, resp: &PsrpResponse, ctx: &str) {
    match (&req.body, &resp.body) {
        (PsrpRequestBody::Create { shell_id, .. }, PsrpResponseBody::Created(info)) => {
            // The PowerShell 2.0 server (protocol 2.1) ignores the client's ShellId and
            // picks its own: later requests must use the one in the response.
            if ctx.contains("version_2.1") {
                assert_ne!(&info.shell_id, shell_id, "{ctx}");
            } else {
                assert_eq!(&info.shell_id, shell_id, "{ctx}");
            }
            assert!(configuration_of(&info.resource_uri).is_some(), "{ctx}");
        }
        (
            PsrpRequestBody::Command { command_id, .. },
            PsrpResponseBody::CommandStarted { command_id: got },
        ) => {
            // As with ShellId, the 2.1 server chooses its own CommandId.
            if ctx.contains("version_2.1") {
                assert_ne!(got, command_id, "{ctx}");
            } else {
                assert_eq!(got, command_id, "{ctx}");
            }
        }
        (
            PsrpRequestBody::Receive { command_id, .. },
            PsrpResponseBody::Received { streams, state },
        ) => {
            for s in streams {
                assert_eq!(s.name, "stdout", "{ctx}");
                assert_eq!(&s.command_id, command_id, "{ctx}");
            }
            if let Some(st) = state {
                assert_eq!(&st.command_id, command_id, "{ctx}");
                if st.state == CommandStateKind::Done {
                    assert_eq!(st.exit_code, Some(0), "{ctx}");
                }
            }
        }
        (
            PsrpRequestBody::Connect { connect_xml, .. },
            PsrpResponseBody::Connected {
                connect_response_xml,
                ..
            },
        ) => {
            assert_eq!(
                connect_xml.is_some(),
                connect_response_xml.is_some(),
                "{ctx}"
            )
        }
        (r, b) => assert_eq!(r.action(), b.action(), "{ctx}"),
    }
}

#[test]
fn builders_make_the_recorded_open_and_run_requests() {
    // test_psrp_open_runspace #0 (Create) and test_psrp_application_args #3 (Command), #4
    // (Receive): the same values through PsrpRequest::new, ids copied from the recording.
    let recs = psrp_recordings();
    let find =
        |f: &str, i: usize| -> &str { &recs.iter().find(|(n, _)| n == f).unwrap().1[i].request };
    let rec_create = parse_request(find("test_psrp_open_runspace.yml", 0).as_bytes()).unwrap();
    let PsrpRequestBody::Create {
        shell_id,
        creation_xml,
        ..
    } = &rec_create.body
    else {
        panic!()
    };
    let mut built = PsrpRequest::new(
        rec_create.header.to.clone(),
        DEFAULT_CONFIGURATION,
        None,
        PsrpRequestBody::Create {
            shell_id: shell_id.clone(),
            input_streams: INPUT_STREAMS.iter().map(|s| s.to_string()).collect(),
            output_streams: OUTPUT_STREAMS.iter().map(|s| s.to_string()).collect(),
            idle_timeout: None,
            creation_xml: creation_xml.clone(),
        },
    );
    built.header.message_id = rec_create.header.message_id.clone();
    built.header.session_id = rec_create.header.session_id.clone();
    assert_eq!(built, rec_create);
    assert_same_structure(
        &tree(&write_request(&built)),
        &tree(find("test_psrp_open_runspace.yml", 0)),
        "built Create",
    );

    let rec_cmd = parse_request(find("test_psrp_application_args.yml", 3).as_bytes()).unwrap();
    let PsrpRequestBody::Command {
        command_id,
        arguments,
    } = &rec_cmd.body
    else {
        panic!()
    };
    let mut built = PsrpRequest::new(
        rec_cmd.header.to.clone(),
        DEFAULT_CONFIGURATION,
        rec_cmd.header.shell_id.as_deref(),
        PsrpRequestBody::Command {
            command_id: command_id.clone(),
            arguments: arguments.clone(),
        },
    )
    .with_option("WINRS_SKIP_CMD_SHELL", "False");
    built.header.message_id = rec_cmd.header.message_id.clone();
    built.header.session_id = rec_cmd.header.session_id.clone();
    built.header.max_envelope_size = rec_cmd.header.max_envelope_size;
    assert_eq!(built, rec_cmd);

    let rec_recv = parse_request(find("test_psrp_application_args.yml", 4).as_bytes()).unwrap();
    let mut built = PsrpRequest::new(
        rec_recv.header.to.clone(),
        DEFAULT_CONFIGURATION,
        rec_recv.header.shell_id.as_deref(),
        PsrpRequestBody::Receive {
            command_id: Some(command_id.clone()),
            streams: vec!["stdout".into()],
        },
    );
    built.header.message_id = rec_recv.header.message_id.clone();
    built.header.session_id = rec_recv.header.session_id.clone();
    built.header.max_envelope_size = rec_recv.header.max_envelope_size;
    assert_eq!(built, rec_recv);
}

#[test]
fn stop_signal_keeps_the_misspelling_and_winrs_requests_still_parse() {
    assert_eq!(SIGNAL_STOP, "powershell/signal/crtl_c");
    let req = PsrpRequest::new(
        "https://h:5986/wsman",
        "PowerShell.7",
        Some("S"),
        PsrpRequestBody::Signal {
            command_id: Some("C".into()),
            code: SIGNAL_STOP.into(),
        },
    );
    let xml = write_request(&req);
    assert!(
        xml.contains("<rsp:Code>powershell/signal/crtl_c</rsp:Code>"),
        "{xml}"
    );
    assert!(xml.contains("http://schemas.microsoft.com/powershell/PowerShell.7"));
    assert_eq!(parse_request(xml.as_bytes()).unwrap(), req);
    // The WinRS parser refuses the PSRP-only operations with a clear error.
    let dis = write_request(&PsrpRequest::new(
        "https://h:5986/wsman",
        DEFAULT_CONFIGURATION,
        Some("S"),
        PsrpRequestBody::Disconnect {
            idle_timeout: Some(std::time::Duration::from_secs(240)),
        },
    ));
    assert!(matches!(
        wsman::server::parse_request(dis.as_bytes()),
        Err(ParseError::UnsupportedAction(_))
    ));
    assert_eq!(
        parse_request(dis.as_bytes()).unwrap().body,
        PsrpRequestBody::Disconnect {
            idle_timeout: Some(std::time::Duration::from_secs(240))
        }
    );
    assert_eq!(
        configuration_of("http://schemas.microsoft.com/powershell/"),
        None
    );
    assert_eq!(configuration_of(ns::RESOURCE_CMD), None);
}

#[test]
fn missing_parts_are_clear_errors() {
    let good = write_request(&PsrpRequest::new(
        "https://h/wsman",
        DEFAULT_CONFIGURATION,
        None,
        PsrpRequestBody::Create {
            shell_id: "X".into(),
            input_streams: vec!["stdin".into(), "pr".into()],
            output_streams: vec!["stdout".into()],
            idle_timeout: None,
            creation_xml: vec![1, 2, 3],
        },
    ));
    let no_xml = good.replace(
        &good[good.find("<creationXml").unwrap()..good.find("</creationXml>").unwrap() + 14],
        "",
    );
    assert_eq!(
        parse_request(no_xml.as_bytes()),
        Err(ParseError::Missing("creationXml"))
    );
    let no_id = good.replace(" ShellId=\"X\"", "");
    assert_eq!(
        parse_request(no_id.as_bytes()),
        Err(ParseError::Missing("ShellId attribute of rsp:Shell"))
    );
    let bad64 = good.replace("AQID", "!!!!");
    assert!(matches!(
        parse_request(bad64.as_bytes()),
        Err(ParseError::Invalid { .. })
    ));
}
