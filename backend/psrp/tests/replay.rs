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
