//! Hostile and broken input: parsing is bounded, never panics, and says what was wrong.
#![allow(clippy::result_large_err)]

use std::time::{Duration, Instant};

use wsman::client::{parse_response, write_request};
use wsman::server::{parse_request, write_response};
use wsman::*;

const ENV_OPEN: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault">"#;

fn bounded<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    // Generous for debug builds on a busy 2-core machine; exponential blow-up would take ages.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    out
}

fn both_sides(xml: &[u8]) -> (ParseError, ParseError) {
    let server = parse_request(xml).expect_err("server side must reject");
    let client = parse_response(Action::Receive, xml).expect_err("client side must reject");
    (server, client)
}

fn valid_request() -> String {
    write_request(&Request::new(
        "https://127.0.0.1:5986/wsman",
        Some("S"),
        RequestBody::Send(vec![StreamData {
            name: "stdin".into(),
            command_id: Some("C".into()),
            end: false,
            data: b"echo hi\r\n".to_vec(),
        }]),
    ))
}

fn receive_response_with(stream_text: &str) -> String {
    format!(
        r#"{ENV_OPEN}<s:Header><a:Action>{}</a:Action></s:Header><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C">{stream_text}</rsp:Stream></rsp:ReceiveResponse></s:Body></s:Envelope>"#,
        Action::Receive.response_uri()
    )
}

#[test]
fn billion_laughs_is_rejected_without_expansion() {
    let mut xml =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    xml.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..10 {
        let prev = format!("&lol{};", i - 1).repeat(10);
        xml.push_str(&format!("<!ENTITY lol{i} \"{prev}\">\n"));
    }
    xml.push_str("]>\n<lolz>&lol9;</lolz>");
    let (s, c) = bounded(|| both_sides(xml.as_bytes()));
    for e in [s, c] {
        assert!(
            matches!(&e, ParseError::Xml(m) if m.contains("DOCTYPE")),
            "{e:?}"
        );
    }
}

#[test]
fn external_entities_and_undeclared_entities_are_rejected() {
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>{ENV_OPEN}<s:Body>&xxe;</s:Body></s:Envelope>"#
    );
    let (s, _) = both_sides(xxe.as_bytes());
    assert!(
        matches!(&s, ParseError::Xml(m) if m.contains("DOCTYPE")),
        "{s:?}"
    );

    // Without a DTD an entity reference cannot be declared anywhere: it must not resolve.
    let undeclared = receive_response_with("&lol9;");
    let (s, c) = both_sides(undeclared.as_bytes());
    for e in [s, c] {
        assert!(
            matches!(&e, ParseError::Xml(m) if m.contains("lol9")),
            "{e:?}"
        );
    }
    let in_attr = format!(r#"{ENV_OPEN}<s:Body a="&lol;"/></s:Envelope>"#);
    let (s, _) = both_sides(in_attr.as_bytes());
    assert!(matches!(s, ParseError::Xml(_)), "{s:?}");
}

#[test]
fn deep_nesting_is_capped() {
    let depth = 10_000;
    let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let (s, c) = bounded(|| both_sides(xml.as_bytes()));
    assert_eq!(s, ParseError::TooLarge);
    assert_eq!(c, ParseError::TooLarge);
    // Unclosed, too: the cap hits before the end of input.
    let (s, _) = bounded(|| both_sides("<a>".repeat(depth).as_bytes()));
    assert_eq!(s, ParseError::TooLarge);
}

#[test]
fn element_count_is_capped() {
    let xml = format!(
        "{ENV_OPEN}<s:Body>{}</s:Body></s:Envelope>",
        "<x/>".repeat(50_000)
    );
    let (s, c) = bounded(|| both_sides(xml.as_bytes()));
    assert_eq!((s, c), (ParseError::TooLarge, ParseError::TooLarge));
}

#[test]
fn huge_attributes_are_rejected() {
    let big = "A".repeat(10 * 1024 * 1024);
    let xml =
        receive_response_with("").replace(r#"CommandId="C""#, &format!(r#"CommandId="{big}""#));
    let (s, c) = bounded(|| both_sides(xml.as_bytes()));
    assert_eq!((s, c), (ParseError::TooLarge, ParseError::TooLarge));

    let many: String = (0..1000).map(|i| format!(" a{i}=\"v\"")).collect();
    let xml = format!("{ENV_OPEN}<s:Body{many}/></s:Envelope>");
    let (s, _) = bounded(|| both_sides(xml.as_bytes()));
    assert_eq!(s, ParseError::TooLarge);
}

#[test]
fn invalid_base64_is_invalid() {
    for bad in ["!!!!", "aGk", "aGk=x", "a=Gk"] {
        let err =
            parse_response(Action::Receive, receive_response_with(bad).as_bytes()).unwrap_err();
        assert!(
            matches!(err, ParseError::Invalid { what, .. } if what.contains("base64")),
            "{bad}: {err:?}"
        );
    }
    let req = valid_request().replace("ZWNobyBoaQ0K", "ZWNobyBoaQ0*");
    let err = parse_request(req.as_bytes()).unwrap_err();
    assert!(
        matches!(err, ParseError::Invalid { what, .. } if what.contains("base64")),
        "{err:?}"
    );
    // Line-wrapped base64 is still fine.
    let ok = parse_response(
        Action::Receive,
        receive_response_with("aG\r\n  k=").as_bytes(),
    )
    .unwrap()
    .unwrap();
    assert!(matches!(&ok.body, ResponseBody::Received { streams, .. } if streams[0].data == b"hi"));
}

#[test]
fn missing_required_elements_are_missing() {
    let req = valid_request();
    let cases: Vec<(String, &str)> = vec![
        (
            req.replace("http://www.w3.org/2003/05/soap-envelope", "urn:not-soap"),
            "s:Envelope",
        ),
        (
            req.replace("<s:Body>", "<s:Bodx>")
                .replace("</s:Body>", "</s:Bodx>"),
            "s:Body",
        ),
        (req.replace("wsa:Action", "wsa:Actio"), "wsa:Action"),
        (
            req.replace("wsa:MessageID", "wsa:MessageIX"),
            "wsa:MessageID",
        ),
        (req.replace("rsp:Send", "rsp:Sent"), "rsp:Send"),
        (
            req.replace(r#" Name="stdin""#, ""),
            "Name attribute of rsp:Stream",
        ),
    ];
    for (xml, what) in cases {
        let err = parse_request(xml.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ParseError::Missing(m) if m.contains(what)),
            "{what}: {err:?}"
        );
    }
    let create = write_request(&Request::new(
        "h",
        None,
        RequestBody::Create(ShellSpec::default()),
    ));
    let err = parse_request(create.replace("rsp:Shell", "rsp:Shelf").as_bytes()).unwrap_err();
    assert_eq!(err, ParseError::Missing("rsp:Shell"));
    let cmd = write_request(&Request::new(
        "h",
        Some("S"),
        RequestBody::Command(CommandLine::default()),
    ));
    let err = parse_request(cmd.replace("rsp:Command>", "rsp:Commanx>").as_bytes()).unwrap_err();
    assert_eq!(err, ParseError::Missing("rsp:Command"));
    let recv = write_request(&Request::new(
        "h",
        Some("S"),
        RequestBody::Receive {
            command_id: None,
            streams: vec!["stdout".into()],
            sequence_id: None,
        },
    ));
    let err =
        parse_request(recv.replace("rsp:DesiredStream", "rsp:Desired").as_bytes()).unwrap_err();
    assert_eq!(err, ParseError::Missing("rsp:DesiredStream"));

    let started = write_response(&Response::new(
        None,
        ResponseBody::CommandStarted {
            command_id: "C".into(),
        },
    ));
    let err = parse_response(
        Action::Command,
        started.replace("rsp:CommandId", "rsp:CommandIx").as_bytes(),
    )
    .unwrap_err();
    assert_eq!(err, ParseError::Missing("rsp:CommandId"));
    let received = receive_response_with("");
    let err = parse_response(
        Action::Receive,
        received
            .replace("rsp:ReceiveResponse", "rsp:Nope")
            .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(err, ParseError::Missing("rsp:ReceiveResponse"));
    let created = format!(
        "{ENV_OPEN}<s:Header><a:Action>{}</a:Action></s:Header><s:Body><rsp:Shell><rsp:Owner>x</rsp:Owner></rsp:Shell></s:Body></s:Envelope>",
        Action::Create.response_uri()
    );
    let err = parse_response(Action::Create, created.as_bytes()).unwrap_err();
    assert_eq!(err, ParseError::Missing("rsp:ShellId"));
}

#[test]
fn invalid_values_are_invalid() {
    let req = valid_request();
    let bad_size = req.replace(">153600<", ">lots<");
    let err = parse_request(bad_size.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::Invalid {
                what: "wsman:MaxEnvelopeSize",
                ..
            }
        ),
        "{err:?}"
    );
    let bad_timeout = req.replace(">PT20S<", ">soon<");
    let err = parse_request(bad_timeout.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::Invalid {
                what: "wsman:OperationTimeout",
                ..
            }
        ),
        "{err:?}"
    );
    let bad_end = req.replace(r#"End="False""#, r#"End="maybe""#);
    let err = parse_request(bad_end.as_bytes()).unwrap_err();
    assert!(matches!(err, ParseError::Invalid { .. }), "{err:?}");
    let unknown = req.replace(
        ns::action::SEND,
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
    );
    let err = parse_request(unknown.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ParseError::UnsupportedAction(u) if u.ends_with("/Enumerate")),
        "{err:?}"
    );
    assert!(err.to_string().contains("Enumerate"));
}

/// A Receive whose `SequenceId` is written by hand, as a hostile or broken client might.
fn receive_with_sequence(value: &str) -> String {
    let req = write_request(&Request::new(
        "h",
        Some("S"),
        RequestBody::Receive {
            command_id: Some("C".into()),
            streams: vec!["stdout".into()],
            sequence_id: Some(7),
        },
    ));
    assert!(req.contains(r#"<rsp:Receive SequenceId="7">"#), "{req}");
    req.replace(r#"SequenceId="7""#, &format!(r#"SequenceId="{value}""#))
}

#[test]
fn a_sequence_id_that_is_not_an_unsigned_64_bit_number_is_invalid() {
    for bad in [
        "",
        "seven",
        "-1",
        "1.5",
        "0x10",
        "18446744073709551616",
        "99999999999999999999999999999999",
        "1 2",
        "&#x31;x",
    ] {
        let err = bounded(|| parse_request(receive_with_sequence(bad).as_bytes())).unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::Invalid {
                    what: "SequenceId attribute of rsp:Receive (an unsigned 64-bit number)",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
        // What a server answers: a schema validation fault naming the attribute.
        let fault = Fault::for_parse_error(None, &err);
        assert_eq!(fault.wsman_code, Some(ns::code::SCHEMA_VALIDATION));
        assert!(fault.message.contains("SequenceId"), "{}", fault.message);
    }
    // Surrounding blanks are tolerated, and so is the largest value.
    for (ok, want) in [(" 3 ", 3u64), ("18446744073709551615", u64::MAX), ("0", 0)] {
        let req = parse_request(receive_with_sequence(ok).as_bytes()).unwrap();
        let RequestBody::Receive { sequence_id, .. } = req.body else {
            panic!("not a Receive")
        };
        assert_eq!(sequence_id, Some(want), "{ok:?}");
    }
}

#[test]
fn a_fault_without_wsman_code_still_parses() {
    let xml = format!(
        r#"{ENV_OPEN}<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text xml:lang="en-US">Bad thing. </s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#
    );
    let f = parse_response(Action::Receive, xml.as_bytes())
        .unwrap()
        .unwrap_err();
    assert_eq!(f.code, "s:Sender");
    assert_eq!(f.reason, "Bad thing.");
    assert!(!f.is_timeout());
    assert_eq!(
        (f.subcode, f.wsman_code, f.machine, f.detail),
        (None, None, None, None)
    );

    let with_detail = xml.replace(
        "</s:Reason>",
        r#"</s:Reason><s:Detail><f:WSManFault Machine="m"><f:Message>why</f:Message></f:WSManFault></s:Detail>"#,
    );
    let f = parse_response(Action::Receive, with_detail.as_bytes())
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (f.wsman_code, f.machine.as_deref(), f.message.as_str()),
        (None, Some("m"), "why")
    );

    let no_code = xml.replace("<s:Code><s:Value>s:Sender</s:Value></s:Code>", "");
    let err = parse_response(Action::Receive, no_code.as_bytes()).unwrap_err();
    assert!(matches!(err, ParseError::Missing(_)), "{err:?}");
}

#[test]
fn every_truncation_is_an_error() {
    let req = valid_request();
    for cut in 0..req.len() {
        if !req.is_char_boundary(cut) {
            continue;
        }
        let part = &req.as_bytes()[..cut];
        assert!(parse_request(part).is_err(), "prefix of {cut} bytes parsed");
        assert!(
            parse_response(Action::Send, part).is_err(),
            "prefix of {cut} bytes parsed"
        );
    }
    let err = parse_request(&req.as_bytes()[..req.len() - 20]).unwrap_err();
    assert!(matches!(&err, ParseError::Xml(_)), "{err:?}");
    assert_eq!(
        parse_request(b"").unwrap_err(),
        ParseError::Xml("no root element".into())
    );
}

#[test]
fn garbage_never_panics() {
    // A fixed-seed generator keeps the test deterministic.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = valid_request().into_bytes();
    bounded(|| {
        for round in 0..2000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..(next() % 512)).map(|_| next() as u8).collect()
            } else {
                // Flip a few bytes of a valid envelope: nastier than pure noise.
                let mut b = base.clone();
                for _ in 0..(1 + next() % 4) {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                b
            };
            let _ = parse_request(&bytes);
            let _ = parse_response(Action::Receive, &bytes);
        }
    });
    let (s, c) = both_sides(b"\xff\xfe<\x00s\x00:\x00E\x00");
    assert!(matches!(s, ParseError::Xml(_)), "{s:?}");
    assert!(matches!(c, ParseError::Xml(_)), "{c:?}");
    let (s, _) = both_sides(b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\xc3\x28</s:Body></s:Envelope>");
    assert!(matches!(s, ParseError::Xml(_)), "{s:?}");
}

#[test]
fn undeclared_prefixes_and_trailing_content_are_errors() {
    let (s, _) = both_sides(b"<x:Envelope/>");
    assert!(
        matches!(&s, ParseError::Xml(m) if m.contains("prefix")),
        "{s:?}"
    );
    let two_roots = format!("{ENV_OPEN}<s:Body/></s:Envelope><again/>");
    let (s, _) = both_sides(two_roots.as_bytes());
    assert!(
        matches!(&s, ParseError::Xml(m) if m.contains("after the root")),
        "{s:?}"
    );
}
