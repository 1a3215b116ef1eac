//! Test helpers: the recorded PSRP exchanges and their decoded index.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use psrp::fragment::{decode_all, DefragLimits, Defragmenter};
use psrp::message::Message;
use wsman::psrp::{parse_request, parse_response, PsrpRequestBody, PsrpResponseBody};

/// The `shared/` folder beside the repository.
pub fn shared_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// One recorded request/response pair (the response is missing where the recording
/// simulated an HTTP failure).
#[derive(Debug, serde::Deserialize)]
pub struct Exchange {
    pub request: String,
    pub response: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Recording {
    messages: Vec<Exchange>,
}

/// Every recorded file: (file name, exchanges), sorted by name.
pub fn recordings() -> Vec<(String, Vec<Exchange>)> {
    let dir = shared_fixtures().join("psrp-recorded");
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

/// One entry of `psrp-decoded/index.json`.
#[derive(Debug, serde::Deserialize)]
pub struct IndexEntry {
    pub fixture: String,
    pub pairs: usize,
    pub operations: Vec<String>,
    pub messages: BTreeMap<String, u64>,
    pub faults: Vec<String>,
}

pub fn decoded_index() -> Vec<IndexEntry> {
    let path = shared_fixtures().join("psrp-decoded/index.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A message found in a recording.
#[derive(Debug)]
pub struct Found {
    /// Index of the exchange.
    pub exchange: usize,
    /// Sent by the client (in a request) or by the server (in a response).
    pub from_client: bool,
    /// The WinRS CommandId of the request or stream, if any.
    pub command_id: Option<String>,
    /// For client messages: the stream name (`stdin`, `pr`) or the element (`creationXml`,
    /// `Arguments`, `connectXml`).
    pub carrier: String,
    pub message: Message,
    /// The data as it was on the wire (BOM included).
    pub raw_data: Vec<u8>,
}

/// Payloads of one exchange: (from_client, command id, carrier, bytes).
pub fn payloads(ex: &Exchange) -> Vec<(bool, Option<String>, String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(req) = parse_request(ex.request.as_bytes()) else {
        return out;
    };
    match &req.body {
        PsrpRequestBody::Create { creation_xml, .. } => {
            out.push((true, None, "creationXml".into(), creation_xml.clone()))
        }
        PsrpRequestBody::Command {
            command_id,
            arguments,
        } => out.push((
            true,
            Some(command_id.clone()),
            "Arguments".into(),
            arguments.clone(),
        )),
        PsrpRequestBody::Send(streams) => {
            for s in streams {
                out.push((true, s.command_id.clone(), s.name.clone(), s.data.clone()));
            }
        }
        PsrpRequestBody::Connect {
            connect_xml: Some(x),
            ..
        } => out.push((true, None, "connectXml".into(), x.clone())),
        _ => {}
    }
    let Some(resp) = &ex.response else { return out };
    let Ok(Ok(resp)) = parse_response(req.header.action, resp.as_bytes()) else {
        return out;
    };
    match resp.body {
        PsrpResponseBody::Received { streams, .. } => {
            for s in streams {
                out.push((false, s.command_id, s.name, s.data));
            }
        }
        PsrpResponseBody::Connected {
            connect_response_xml: Some(x),
            ..
        } => out.push((false, None, "connectResponseXml".into(), x)),
        _ => {}
    }
    out
}

/// Every message of a recording, in order, reassembled per direction.
pub fn all_messages(exchanges: &[Exchange]) -> Vec<Found> {
    let mut from_client = Defragmenter::new(DefragLimits::default());
    let mut from_server = Defragmenter::new(DefragLimits::default());
    let mut out = Vec::new();
    for (i, ex) in exchanges.iter().enumerate() {
        for (client, command_id, carrier, bytes) in payloads(ex) {
            let d = if client {
                &mut from_client
            } else {
                &mut from_server
            };
            for f in decode_all(&bytes).unwrap() {
                if let Some((_, whole)) = d.push(f).unwrap() {
                    let message = Message::decode(&whole).unwrap();
                    out.push(Found {
                        exchange: i,
                        from_client: client,
                        command_id: command_id.clone(),
                        carrier: carrier.clone(),
                        message,
                        raw_data: whole[40..].to_vec(),
                    });
                }
            }
        }
    }
    out
}
