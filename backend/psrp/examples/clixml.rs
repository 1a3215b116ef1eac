//! A small command-line front to the CLIXML code, for the psrpcore conformance test
//! (tests/conformance/test_psrp_clixml.py) and for looking at messages by hand.
//!
//! ```text
//! clixml roundtrip        read one CLIXML value (or an <Objs> document) on stdin, write ours
//! clixml canon            read one value on stdin, print it as canonical JSON
//! clixml gen SEED COUNT   print COUNT random values (one JSON line each: {"xml": ...}) that
//!                         psrpcore can represent
//! clixml same             read JSON lines {"ours": xml, "theirs": xml} on stdin; print "ok" or
//!                         what differs for each (psrpcore's "Deserialized." prefix ignored)
//! ```
//! Errors go to stderr with exit status 1.

use std::io::{Read, Write};

use base64::Engine as _;
use psrp::clixml::{self, random, Collection, Limits, Value};
use serde_json::{json, Value as Json};

fn canon(v: &Value) -> Json {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match v {
        Value::Nil => Json::Null,
        Value::String(s) => json!({ "S": s }),
        Value::Char(c) => json!({ "C": c }),
        Value::Bool(b) => json!({ "B": b }),
        Value::DateTime(s) => json!({ "DT": s }),
        Value::Duration(s) => json!({ "TS": s }),
        Value::U8(n) => json!({ "By": n }),
        Value::I8(n) => json!({ "SB": n }),
        Value::U16(n) => json!({ "U16": n }),
        Value::I16(n) => json!({ "I16": n }),
        Value::U32(n) => json!({ "U32": n }),
        Value::I32(n) => json!({ "I32": n }),
        Value::U64(n) => json!({ "U64": n }),
        Value::I64(n) => json!({ "I64": n }),
        Value::Single(f) => json!({ "Sg": f64::from(*f) }),
        Value::Double(f) => json!({ "Db": f }),
        Value::Decimal(s) => json!({ "D": s }),
        Value::Bytes(b) => json!({ "BA": b64(b) }),
        Value::Guid(s) => json!({ "G": s }),
        Value::Uri(s) => json!({ "URI": s }),
        Value::Version(s) => json!({ "Version": s }),
        Value::XmlDocument(s) => json!({ "XD": s }),
        Value::ScriptBlock(s) => json!({ "SBK": s }),
        Value::SecureString(b) => json!({ "SS": b64(b) }),
        Value::Object(o) => {
            let props = |p: &[(String, Value)]| -> Json {
                p.iter().map(|(n, v)| json!([n, canon(v)])).collect()
            };
            let coll = o.collection.as_ref().map(|c| match c {
                Collection::Dictionary(e) => json!({
                    "DCT": e.iter().map(|(k, v)| json!([canon(k), canon(v)])).collect::<Vec<_>>()
                }),
                Collection::List(i) => json!({ "LST": i.iter().map(canon).collect::<Vec<_>>() }),
                Collection::Enumerable(i) => {
                    json!({ "IE": i.iter().map(canon).collect::<Vec<_>>() })
                }
                Collection::Stack(i) => json!({ "STK": i.iter().map(canon).collect::<Vec<_>>() }),
                Collection::Queue(i) => json!({ "QUE": i.iter().map(canon).collect::<Vec<_>>() }),
            });
            json!({ "Obj": {
                "types": o.type_names.as_ref().map(|t| t.to_vec()),
                "str": o.to_string,
                "value": o.value.as_deref().map(canon),
                "coll": coll,
                "props": props(&o.adapted),
                "ms": props(&o.extended),
            }})
        }
    }
}

/// psrpcore prefixes type names it does not know with `Deserialized.`; remove one prefix.
fn strip_deserialized(j: &mut Json) {
    match j {
        Json::Object(m) => {
            if let Some(Json::Object(o)) = m.get_mut("Obj") {
                if let Some(Json::Array(t)) = o.get_mut("types") {
                    for n in t.iter_mut() {
                        if let Some(s) = n.as_str().and_then(|s| s.strip_prefix("Deserialized.")) {
                            *n = Json::String(s.to_string());
                        }
                    }
                }
            }
            for v in m.values_mut() {
                strip_deserialized(v);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(strip_deserialized),
        _ => {}
    }
}

fn stdin_bytes() -> Vec<u8> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .expect("read stdin");
    input
}

fn parse_any(input: &[u8]) -> Result<String, clixml::ClixmlError> {
    let trimmed = String::from_utf8_lossy(input);
    if trimmed.trim_start().starts_with("<Objs") {
        let vals = clixml::parse_objs(input, &Limits::default())?;
        Ok(clixml::write_objs(&vals))
    } else {
        Ok(clixml::write(&clixml::parse(input)?))
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    match args.first().map(String::as_str) {
        Some("roundtrip") => {
            let xml = parse_any(&stdin_bytes()).map_err(|e| e.to_string())?;
            out.write_all(xml.as_bytes()).map_err(|e| e.to_string())?;
        }
        Some("canon") => {
            let v = clixml::parse(&stdin_bytes()).map_err(|e| e.to_string())?;
            writeln!(out, "{}", canon(&v)).map_err(|e| e.to_string())?;
        }
        Some("gen") => {
            let seed: u64 = args
                .get(1)
                .and_then(|s| s.parse().ok())
                .ok_or("gen SEED COUNT")?;
            let count: usize = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .ok_or("gen SEED COUNT")?;
            let mut rng = random::SplitMix(seed);
            for _ in 0..count {
                let v = random::oracle_value(&mut rng, 3);
                writeln!(out, "{}", json!({ "xml": clixml::write(&v) }))
                    .map_err(|e| e.to_string())?;
            }
        }
        Some("same") => {
            let input = String::from_utf8(stdin_bytes()).map_err(|e| e.to_string())?;
            let mut bad = 0;
            for (i, line) in input.lines().filter(|l| !l.trim().is_empty()).enumerate() {
                let pair: Json =
                    serde_json::from_str(line).map_err(|e| format!("line {i}: {e}"))?;
                let get = |k: &str| -> Result<Json, String> {
                    let xml = pair[k].as_str().ok_or(format!("line {i}: no {k}"))?;
                    let v =
                        clixml::parse(xml.as_bytes()).map_err(|e| format!("line {i} {k}: {e}"))?;
                    Ok(canon(&v))
                };
                let ours = get("ours")?;
                let mut theirs = get("theirs")?;
                strip_deserialized(&mut theirs);
                if ours == theirs {
                    writeln!(out, "ok").map_err(|e| e.to_string())?;
                } else {
                    bad += 1;
                    writeln!(out, "differ {i}: ours {ours} theirs {theirs}")
                        .map_err(|e| e.to_string())?;
                }
            }
            if bad > 0 {
                return Err(format!("{bad} values differ"));
            }
        }
        _ => return Err("usage: clixml roundtrip|canon|gen SEED COUNT|same".into()),
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("clixml: {e}");
        std::process::exit(1);
    }
}
