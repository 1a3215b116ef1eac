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

use psrp::crypto::ClientKeyPair;
use rsa::{BigUint, RsaPrivateKey};

const N: &str = "24692106711502830011203227021058444318027801046612842012663747949974978593541529463344548800446917862266219189049856550539417324579114258210080798360122994007305091566363663241781504651372764226027210216355916383975880112316706422502404691353489765771310270171473497918954906308690817673196552680498374521519566949221302301125182104198985782657283395055909134373469597836420671163965867038455758131344733786842283328454828820406016508955409107145350345035248825315933976893356673777910251028486191789752627573225093968284278302684745743589192378470115772764709506475265246795419324395050366115533203601201395969892207";
const D: &str = "21617696977064831737076881102083866512588021127782856037972563073160418492784722157229048881139551797965254106994729989171004895438848876105403145818526588448619012753150859908505079457128264842711189718538434996465875355972895683414261775421352553376878242391757860294122032733780201193753125763293334069627997366690578378643268496972715558088736335242616446993490560907175346811363459760219154246765368454269083276034064771683561116425318584728938420495690895295417261302673227504350398337950587166908640861984752151206832712112769733009288056773792011545187027621461752928443722277452545442134981026071169761569129";
const P: &str = "174331130742537243408330955079815843963035167715989214203198624738597363753422194561659111132445142920926993058833709875440980890363712769908141629896643845627776407469038077862709547359496382776626050712560846670587394813048350142683947903572416102765283173128172045224943986952459084128294017448217886823253";
const Q: &str = "141639112913055250372907285405879139487409354087944702421480687298597773645578986399236760591500655922107321654521995138945695777437048045372013886449237695348272152351631535441304559114954968164429007883070066144736528002854651716726263900736377199146896337887655964419309789253989248300176824884184363216819";

pub fn big(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 10).unwrap()
}

/// The RSA key pypsrp's tests inject (test data from pypsrp, MIT): the recorded key
/// exchanges were made with it.
pub fn pypsrp_test_key() -> ClientKeyPair {
    let key = RsaPrivateKey::from_components(
        big(N),
        BigUint::from(65537u32),
        big(D),
        vec![big(P), big(Q)],
    )
    .unwrap();
    ClientKeyPair::from_private_key(key)
}
