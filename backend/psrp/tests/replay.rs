//! Every PSRP byte of the 35 exchanges pypsrp recorded against real Windows servers
//! (`shared/fixtures/psrp-recorded` beside the repository, MIT, see LICENSE.pypsrp there):
//! envelopes decoded with `wsman::psrp`, fragments reassembled, messages decoded, every
//! CLIXML document parsed and round-tripped, and the message counts compared with
//! `psrp-decoded/index.json`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use common::{all_messages, decoded_index, recordings};
use psrp::clixml;
use psrp::message::{Destination, MessageType};

#[test]
fn message_counts_match_the_decoded_index() {
    let index = decoded_index();
    let recs = recordings();
    assert_eq!(recs.len(), 35);
    assert_eq!(index.len(), 35);
    let mut total = 0;
    for (file, exchanges) in &recs {
        let msgs = all_messages(exchanges);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for m in &msgs {
            *counts
                .entry(m.message.message_type.name().to_string())
                .or_default() += 1;
        }
        let want = &index
            .iter()
            .find(|e| &e.fixture == file)
            .unwrap_or_else(|| panic!("{file} in index.json"))
            .messages;
        assert_eq!(&counts, want, "{file}");
        total += msgs.len();
    }
    assert!(total > 400, "{total}");
}

#[test]
fn destinations_and_pids_are_consistent() {
    for (file, exchanges) in recordings() {
        for m in all_messages(&exchanges) {
            let msg = &m.message;
            let want = if m.from_client {
                Destination::Server
            } else {
                Destination::Client
            };
            assert_eq!(msg.destination, want, "{file}: {}", msg.message_type);
            let pipeline_level = msg.message_type.value() & 0x0004_0000 != 0
                || msg.message_type == MessageType::CREATE_PIPELINE
                || msg.message_type == MessageType::GET_COMMAND_METADATA;
            if !pipeline_level {
                assert!(msg.pid.is_nil(), "{file}: {} has a PID", msg.message_type);
            } else {
                assert!(
                    !msg.pid.is_nil(),
                    "{file}: {} without PID",
                    msg.message_type
                );
            }
            if msg.message_type == MessageType::SESSION_CAPABILITY && m.carrier == "stdout" {
                // (In connectResponseXml the server fills it in.)
                assert!(
                    msg.rpid.is_nil(),
                    "{file}: the server's capability has RPID zero"
                );
            }
        }
    }
}

#[test]
fn every_clixml_document_parses_and_round_trips() {
    let mut docs = 0;
    let mut objects = 0;
    for (file, exchanges) in recordings() {
        for m in all_messages(&exchanges) {
            let msg = &m.message;
            if msg.data.is_empty() {
                assert_eq!(
                    msg.message_type,
                    MessageType::END_OF_PIPELINE_INPUT,
                    "{file}"
                );
                continue;
            }
            let ctx = format!("{file}: {}", msg.message_type);
            let v = clixml::parse(&msg.data)
                .unwrap_or_else(|e| panic!("{ctx}: {e}\n{}", String::from_utf8_lossy(&msg.data)));
            let again = clixml::write(&v);
            let back = clixml::parse(again.as_bytes()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(back, v, "{ctx}");
            // A second write gives the same text: RefIds restart at 0 per message.
            assert_eq!(clixml::write(&back), again, "{ctx}");
            docs += 1;
            objects += again.matches("<Obj ").count();
        }
    }
    assert!(docs > 400, "{docs}");
    assert!(objects > 2000, "{objects}");
}

#[test]
fn server_messages_carry_a_bom_and_client_messages_do_not() {
    for (file, exchanges) in recordings() {
        for m in all_messages(&exchanges) {
            if m.raw_data.is_empty() {
                continue;
            }
            let bom = m.raw_data.starts_with(b"\xEF\xBB\xBF");
            assert_eq!(bom, !m.from_client, "{file}: {}", m.message.message_type);
            // Encoding again gives the same bytes.
            let mut raw = Vec::new();
            raw.extend_from_slice(&m.message.destination.value().to_le_bytes());
            raw.extend_from_slice(&m.message.message_type.value().to_le_bytes());
            raw.extend_from_slice(&m.message.rpid.0);
            raw.extend_from_slice(&m.message.pid.0);
            raw.extend_from_slice(&m.raw_data);
            assert_eq!(m.message.encode(), raw, "{file}");
        }
    }
}

#[test]
fn every_message_decodes_to_its_typed_form() {
    use psrp::messages::{decode, Data};
    use psrp::records::{PipelineState, RunspacePoolState};
    let mut pool_states = BTreeMap::new();
    let mut pipeline_states = BTreeMap::new();
    let mut host_methods = std::collections::BTreeSet::new();
    for (file, exchanges) in recordings() {
        for m in all_messages(&exchanges) {
            let t = m.message.message_type;
            let ctx = format!("{file}: {t}");
            let data = decode(t, &m.message.data).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            match &data {
                Data::PoolState(s) => {
                    *pool_states.entry(format!("{:?}", s.state)).or_insert(0) += 1;
                    assert_eq!(
                        s.error.is_some(),
                        s.state == RunspacePoolState::Broken,
                        "{ctx}"
                    );
                }
                Data::PipelineState(s) => {
                    *pipeline_states.entry(format!("{:?}", s.state)).or_insert(0) += 1;
                    assert!(s.state.is_finished(), "{ctx}");
                    assert_eq!(
                        s.error.is_some(),
                        s.state != PipelineState::Completed,
                        "{ctx}"
                    );
                }
                Data::SessionCapability(c) => {
                    assert_eq!(c.ps_version, "2.0", "{ctx}");
                    assert_eq!(c.serialization_version, "1.1.0.1", "{ctx}");
                    let want =
                        if m.from_client || file.contains("2.3") || !file.contains("version_2.") {
                            "2.3"
                        } else if file.contains("2.2") {
                            "2.2"
                        } else {
                            "2.1"
                        };
                    assert_eq!(c.protocol_version, want, "{ctx}");
                    // Typed round trip.
                    let back = clixml::parse(clixml::write(&c.to_value()).as_bytes()).unwrap();
                    assert_eq!(
                        &psrp::messages::SessionCapability::from_value(&back).unwrap(),
                        c
                    );
                }
                Data::InitRunspacePool(i) => {
                    assert_eq!((i.min_runspaces, i.max_runspaces), (1, 1), "{ctx}");
                    let again =
                        psrp::messages::InitRunspacePool::from_value(&i.to_value()).unwrap();
                    assert_eq!(&again, i, "{ctx}");
                }
                Data::CreatePipeline(p) => {
                    assert!(
                        !p.statements.is_empty() && !p.statements[0].is_empty(),
                        "{ctx}"
                    );
                    let again =
                        psrp::messages::CreatePipeline::from_value(&p.to_value((2, 3))).unwrap();
                    assert_eq!(again.statements.len(), p.statements.len(), "{ctx}");
                    assert_eq!(again.host_info, p.host_info, "{ctx}");
                    assert_eq!(again.no_input, p.no_input, "{ctx}");
                    for (a, b) in again
                        .statements
                        .iter()
                        .flatten()
                        .zip(p.statements.iter().flatten())
                    {
                        assert_eq!(a.cmd, b.cmd, "{ctx}");
                        assert_eq!(a.args, b.args, "{ctx}");
                    }
                }
                Data::HostCall(c) => {
                    host_methods.insert(c.method.name());
                    let again = psrp::host::HostCall::from_value(&c.to_value()).unwrap();
                    assert_eq!(&again, c, "{ctx}");
                }
                Data::HostResponse(r) => {
                    let again = psrp::host::HostResponse::from_value(&r.to_value()).unwrap();
                    assert_eq!(&again, r, "{ctx}");
                }
                Data::PublicKey(b) => assert_eq!(b.len(), 276, "{ctx}"),
                Data::EncryptedSessionKey(b) => assert_eq!(b.len(), 268, "{ctx}"),
                _ => {}
            }
        }
    }
    assert_eq!(pool_states.get("Opened"), Some(&39), "{pool_states:?}");
    assert_eq!(
        format!("{pipeline_states:?}"),
        r#"{"Completed": 31, "Failed": 2}"#
    );
    for m in [
        "ReadLine",
        "ReadLineAsSecureString",
        "Prompt",
        "PromptForCredential2",
        "PromptForChoice",
        "SetShouldExit",
        "ReadKey",
        "WriteLine2",
    ] {
        assert!(host_methods.contains(m), "{m} in {host_methods:?}");
    }
}

#[test]
fn the_failed_pipeline_prints_like_the_console() {
    use psrp::messages::{decode, Data};
    let recs = recordings();
    let (_, ex) = recs
        .iter()
        .find(|(n, _)| n == "test_psrp_error_failed.yml")
        .unwrap();
    let state = all_messages(ex)
        .into_iter()
        .find(|m| m.message.message_type == MessageType::PIPELINE_STATE)
        .unwrap();
    let Data::PipelineState(s) = decode(state.message.message_type, &state.message.data).unwrap()
    else {
        panic!()
    };
    let e = s.error.unwrap();
    assert_eq!(
        e.exception_type.as_deref(),
        Some("Microsoft.PowerShell.Commands.WriteErrorException")
    );
    assert_eq!(
        e.console_text(),
        "$ErrorActionPreference = 'Stop'; Write-Output before; Write-Error error; Write-Output after : error\n\
         At line:1 char:55\n\
         + ... onPreference = 'Stop'; Write-Output before; Write-Error error; Write- ...\n\
         +                                                 ~~~~~~~~~~~~~~~~~\n    \
         + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\n    \
         + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException"
    );
}

#[test]
fn typed_data_encodes_back_to_the_same_meaning() {
    use psrp::messages::{decode, encode, Data};
    let mut checked = 0;
    for (file, exchanges) in recordings() {
        for m in all_messages(&exchanges) {
            let t = m.message.message_type;
            let ctx = format!("{file}: {t}");
            let data = decode(t, &m.message.data).unwrap();
            let again =
                decode(t, &encode(t, &data, (2, 3))).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            match (&data, &again) {
                // Writing a record as a server would keeps what the console shows.
                (Data::Error(a), Data::Error(b)) => {
                    assert_eq!(a.console_text(), b.console_text(), "{ctx}")
                }
                (Data::PipelineState(a), Data::PipelineState(b)) => {
                    assert_eq!(a.state, b.state, "{ctx}");
                    assert_eq!(
                        a.error.as_ref().map(|e| e.console_text()),
                        b.error.as_ref().map(|e| e.console_text()),
                        "{ctx}"
                    );
                }
                // The protocol-2.3 writer adds Merge fields a 2.1/2.2 client did not send.
                (Data::CreatePipeline(a), Data::CreatePipeline(b)) => {
                    assert_eq!(a.statements.len(), b.statements.len(), "{ctx}");
                    assert_eq!(a.host_info, b.host_info, "{ctx}");
                }
                (a, b) => assert_eq!(a, b, "{ctx}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked}");
}

/// The client's builders make what the recorded client sent (pypsrp, test_psrp_open_runspace
/// and test_psrp_run_protocol_version_2.3): same messages, same typed content, same envelope
/// structure once the base64 text (different CLIXML spelling) is swapped for ours.
#[test]
fn builders_make_the_recorded_open_and_run_requests() {
    use psrp::fragment::decode_all;
    use psrp::message::Message;
    use psrp::messages::{decode, Data};
    use psrp::pool::ClientPool;
    use wsman::psrp::{parse_request, write_request, PsrpRequestBody};

    let recs = recordings();
    let find = |f: &str| &recs.iter().find(|(n, _)| n == f).unwrap().1;
    let messages_of = |payload: &[u8]| -> Vec<Message> {
        let mut d = psrp::fragment::Defragmenter::new(Default::default());
        let mut out = Vec::new();
        for f in decode_all(payload).unwrap() {
            if let Some((_, m)) = d.push(f).unwrap() {
                out.push(Message::decode(&m).unwrap());
            }
        }
        out
    };

    // Open.
    let ex = &find("test_psrp_open_runspace.yml")[0];
    let mut rec = parse_request(ex.request.as_bytes()).unwrap();
    let PsrpRequestBody::Create { creation_xml, .. } = &mut rec.body else {
        panic!()
    };
    let rec_msgs = messages_of(creation_xml);
    let Data::InitRunspacePool(init) = decode(rec_msgs[1].message_type, &rec_msgs[1].data).unwrap()
    else {
        panic!()
    };
    let mut client = ClientPool::new(rec_msgs[0].rpid, rec.header.max_envelope_size);
    let ours = client.open(&init).unwrap();
    let our_msgs = messages_of(&ours);
    assert_eq!(our_msgs.len(), 2);
    for (a, b) in our_msgs.iter().zip(&rec_msgs) {
        assert_eq!(
            (a.message_type, a.rpid, a.pid),
            (b.message_type, b.rpid, b.pid)
        );
        assert_eq!(
            decode(a.message_type, &a.data).unwrap(),
            decode(b.message_type, &b.data).unwrap()
        );
    }
    // Object ids 1 and 2, as recorded.
    let frags = decode_all(&ours).unwrap();
    assert_eq!(
        frags.iter().map(|f| f.object_id).collect::<Vec<_>>(),
        [1, 2]
    );
    *creation_xml = ours;
    let written = write_request(&rec);
    let mut want = common_tree(&ex.request);
    let got = common_tree(&written);
    // Only the creationXml text differs.
    replace_text(&mut want, "creationXml", &find_text(&got, "creationXml"));
    assert_eq!(got, want);

    // Run a pipeline (Command with the whole CREATE_PIPELINE in rsp:Arguments).
    let ex = find("test_psrp_run_protocol_version_2.3.yml");
    let cmd = ex
        .iter()
        .find(|e| e.request.contains("/windows/shell/Command<"))
        .unwrap();
    let mut rec = parse_request(cmd.request.as_bytes()).unwrap();
    let PsrpRequestBody::Command {
        arguments,
        command_id,
    } = &mut rec.body
    else {
        panic!()
    };
    let rec_msg = &messages_of(arguments)[0];
    let Data::CreatePipeline(create) = decode(rec_msg.message_type, &rec_msg.data).unwrap() else {
        panic!()
    };
    // Drive the pool to Opened with the recorded replies first.
    let mut client = ClientPool::new(rec_msg.rpid, 512_000);
    let rec_open = messages_of(
        match &parse_request(ex[0].request.as_bytes()).unwrap().body {
            PsrpRequestBody::Create { creation_xml, .. } => creation_xml,
            _ => panic!(),
        },
    );
    let Data::InitRunspacePool(init) = decode(rec_open[1].message_type, &rec_open[1].data).unwrap()
    else {
        panic!()
    };
    client.open(&init).unwrap();
    for e in &ex[1..3] {
        for (_, _, _, bytes) in common::payloads(e) {
            client.receive(&bytes).unwrap();
        }
    }
    assert_eq!(client.state(), psrp::records::RunspacePoolState::Opened);
    assert_eq!(client.server_protocol(), Some((2, 3)));
    let start = client.create_pipeline(rec_msg.pid, &create).unwrap();
    let ours = &messages_of(&start.arguments)[0];
    assert_eq!(
        (ours.message_type, ours.rpid, ours.pid),
        (rec_msg.message_type, rec_msg.rpid, rec_msg.pid)
    );
    let Data::CreatePipeline(again) = decode(ours.message_type, &ours.data).unwrap() else {
        panic!()
    };
    assert_eq!(again, create);
    // The same property order as the recorded CLIXML.
    let names = |data: &[u8]| -> Vec<String> {
        clixml::parse(data)
            .unwrap()
            .as_object()
            .unwrap()
            .extended
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    };
    assert_eq!(names(&ours.data), names(&rec_msg.data));
    assert_eq!(command_id.len(), 36);
    *arguments = start.arguments.clone();
    let written = write_request(&rec);
    let mut want = common_tree(&cmd.request);
    let got = common_tree(&written);
    replace_text(&mut want, "Arguments", &find_text(&got, "Arguments"));
    assert_eq!(got, want);
}

/// A simple (name, attributes, text, children) tree, prefixes dropped, for comparing
/// envelopes.
#[derive(Debug, PartialEq)]
struct Tree(String, Vec<(String, String)>, String, Vec<Tree>);

fn common_tree(xml: &str) -> Tree {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Tree> = vec![Tree(String::new(), vec![], String::new(), vec![])];
    loop {
        match r.read_event().unwrap() {
            ev @ (Event::Start(_) | Event::Empty(_)) => {
                let (Event::Start(e) | Event::Empty(e)) = &ev else {
                    unreachable!()
                };
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                let mut attrs: Vec<(String, String)> = e
                    .attributes()
                    .map(|a| a.unwrap())
                    .filter(|a| a.key.as_namespace_binding().is_none())
                    .map(|a| {
                        (
                            String::from_utf8(a.key.local_name().as_ref().to_vec()).unwrap(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                attrs.sort();
                let node = Tree(name, attrs, String::new(), vec![]);
                if matches!(ev, Event::Empty(_)) {
                    stack.last_mut().unwrap().3.push(node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let t = stack.pop().unwrap();
                stack.last_mut().unwrap().3.push(t);
            }
            Event::Text(t) => stack
                .last_mut()
                .unwrap()
                .2
                .push_str(t.decode().unwrap().trim()),
            Event::Eof => break,
            _ => {}
        }
    }
    stack.pop().unwrap().3.pop().unwrap()
}

fn find_text(t: &Tree, name: &str) -> String {
    if t.0 == name {
        return t.2.clone();
    }
    t.3.iter()
        .map(|c| find_text(c, name))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

fn replace_text(t: &mut Tree, name: &str, text: &str) {
    if t.0 == name {
        t.2 = text.to_string();
    }
    for c in &mut t.3 {
        replace_text(c, name, text);
    }
}

/// Every recorded host call reads as a typed request, and the recorded replies are exactly
/// what the reply builders make from the same answers.
#[test]
fn host_calls_read_typed_and_replies_match_the_builders() {
    use psrp::host::{HostCall, HostRequest, HostResponse, KeyInfo};
    use psrp::messages::{decode, Data};
    use psrp::records::PsCredential;
    let mut calls: std::collections::HashMap<i64, HostCall> = std::collections::HashMap::new();
    let mut matched = BTreeMap::new();
    for file in [
        "test_psrp_pshost_ui_mocked_methods.yml",
        "test_psrp_pshost_raw_ui_mocked_methods.yml",
    ] {
        let recs = recordings();
        let (_, ex) = recs.iter().find(|(n, _)| n == file).unwrap();
        for m in all_messages(ex) {
            let t = m.message.message_type;
            match decode(t, &m.message.data).unwrap() {
                Data::HostCall(c) => {
                    let req = c.request();
                    match (c.method.name(), &req) {
                        (
                            "Prompt",
                            HostRequest::Prompt {
                                caption, fields, ..
                            },
                        ) => {
                            assert_eq!(caption, "Prompt caption");
                            assert_eq!(fields[0].name, "prompt field");
                            assert_eq!(fields[0].type_full_name, "System.String");
                            assert!(fields[0].is_mandatory);
                        }
                        (
                            "PromptForChoice",
                            HostRequest::PromptForChoice {
                                choices, default, ..
                            },
                        ) => {
                            assert_eq!(choices.len(), 2);
                            assert_eq!(choices[1].label, "Prompt2 label");
                            assert_eq!(*default, 0);
                        }
                        (
                            "PromptForCredential2",
                            HostRequest::PromptForCredential {
                                user_name,
                                allowed_types,
                                options,
                                ..
                            },
                        ) => {
                            assert_eq!(user_name, "PromptForCredential user");
                            assert_eq!((*allowed_types, *options), (Some(3), Some(1)));
                        }
                        ("ReadKey", HostRequest::ReadKey { options }) => assert_eq!(*options, 4),
                        ("ReadLine", HostRequest::ReadLine)
                        | ("ReadLineAsSecureString", HostRequest::ReadLineAsSecureString)
                        | ("WriteProgress", HostRequest::Progress { .. }) => {}
                        (_, HostRequest::Write(w)) => assert!(!w.text.is_empty() || w.newline),
                        (_, HostRequest::Other) => {}
                        (name, other) => panic!("{name}: {other:?}"),
                    }
                    calls.insert(c.call_id, c);
                }
                Data::HostResponse(r) => {
                    let call = &calls[&r.call_id];
                    let built = match (call.method.name(), &r.result) {
                        ("ReadLine", Some(v)) => HostResponse::read_line(call, v.as_str().unwrap()),
                        ("ReadLineAsSecureString", Some(psrp::clixml::Value::SecureString(b))) => {
                            HostResponse::secure_string(call, b.clone())
                        }
                        ("Prompt", Some(v)) => HostResponse::prompt(
                            call,
                            v.entries()
                                .unwrap()
                                .iter()
                                .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
                                .collect(),
                        ),
                        ("PromptForCredential2", Some(v)) => {
                            HostResponse::credential(call, &PsCredential::from_value(v).unwrap())
                        }
                        ("PromptForChoice", Some(v)) => {
                            HostResponse::choice(call, v.as_i32().unwrap())
                        }
                        ("ReadKey", Some(v)) => HostResponse::key(
                            call,
                            KeyInfo {
                                virtual_key_code: v
                                    .get("virtualKeyCode")
                                    .unwrap()
                                    .as_i32()
                                    .unwrap(),
                                character: match v.get("character") {
                                    Some(psrp::clixml::Value::Char(c)) => *c,
                                    other => panic!("{other:?}"),
                                },
                                control_key_state: v
                                    .get("controlKeyState")
                                    .unwrap()
                                    .as_i32()
                                    .unwrap(),
                                key_down: v.get("keyDown").unwrap().as_bool().unwrap(),
                            },
                        ),
                        (name, other) => panic!("{name}: {other:?}"),
                    };
                    assert_eq!(built, r, "{}", call.method.name());
                    // And the bytes: our CLIXML for the reply equals the recorded CLIXML.
                    assert_eq!(
                        clixml::write(&built.to_value()),
                        String::from_utf8(m.message.data.clone()).unwrap(),
                        "{}",
                        call.method.name()
                    );
                    *matched.entry(call.method.name()).or_insert(0) += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(matched.len(), 6, "{matched:?}");
}
