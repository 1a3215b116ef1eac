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
