//! Helpers both sides use: envelope parts, streams, faults, the request header, small parsers.

use base64::Engine as _;

use crate::ns;
use crate::types::*;
use crate::xml::{Element, Writer, XML_NS};
use std::time::Duration;

/// MaxEnvelopeSize assumed when a request does not carry one (what clients normally send).
pub const DEFAULT_MAX_ENVELOPE_SIZE: u32 = 153_600;
/// OperationTimeout assumed when a request does not carry one (Windows' MaxTimeoutms default).
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Splits an envelope into its (optional) header and its body.
pub(crate) fn envelope_parts<'r, 'a>(
    root: &'r Element<'a>,
) -> Result<(Option<&'r Element<'a>>, &'r Element<'a>), ParseError> {
    if !root.is(ns::SOAP, "Envelope") {
        return Err(ParseError::Missing("s:Envelope (SOAP 1.2)"));
    }
    let body = root
        .child(ns::SOAP, "Body")
        .ok_or(ParseError::Missing("s:Body"))?;
    Ok((root.child(ns::SOAP, "Header"), body))
}

pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

pub(crate) fn split_names(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

pub(crate) fn duration_of(
    e: &Element,
    what: &'static str,
) -> Result<std::time::Duration, ParseError> {
    parse_duration(&e.text).ok_or_else(|| ParseError::Invalid {
        what,
        value: shorten(e.text.trim()),
    })
}

/// Decodes base64 stream content straight into `out`. Whitespace (line-wrapped base64) is
/// tolerated.
pub(crate) fn decode_base64_into(text: &str, out: &mut Vec<u8>) -> Result<(), ParseError> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let res = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        engine.decode_vec(&compact, out)
    } else {
        engine.decode_vec(text, out)
    };
    res.map_err(|e| ParseError::Invalid {
        what: "base64 stream data",
        value: e.to_string(),
    })
}

/// Parses `rsp:Stream` elements (Send request or Receive response) into `StreamData`.
pub(crate) fn parse_stream(e: &Element) -> Result<StreamData, ParseError> {
    let name = e
        .attr("Name")
        .ok_or(ParseError::Missing("Name attribute of rsp:Stream"))?;
    let end = match e.attr("End") {
        None => false,
        Some(v) => parse_bool(v).ok_or_else(|| ParseError::Invalid {
            what: "End attribute of rsp:Stream",
            value: shorten(v),
        })?,
    };
    let mut data = Vec::new();
    decode_base64_into(&e.text, &mut data)?;
    Ok(StreamData {
        name: name.to_string(),
        command_id: e.attr("CommandId").map(str::to_string),
        end,
        data,
    })
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("true") || v == "1" {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") || v == "0" {
        Some(false)
    } else {
        None
    }
}

/// Exit codes are DWORDs on Windows: `4294967295` is -1; both spellings are accepted.
pub(crate) fn parse_exit_code(s: &str) -> Result<i32, ParseError> {
    s.parse::<i32>()
        .or_else(|_| s.parse::<u32>().map(|u| u as i32))
        .map_err(|_| ParseError::Invalid {
            what: "rsp:ExitCode",
            value: shorten(s),
        })
}

/// Parses an `s:Fault` element.
pub(crate) fn parse_fault(f: &Element, relates_to: Option<String>) -> Result<Fault, ParseError> {
    let code_el = f
        .child(ns::SOAP, "Code")
        .ok_or(ParseError::Missing("s:Code of the fault"))?;
    let code = code_el
        .child(ns::SOAP, "Value")
        .ok_or(ParseError::Missing("s:Code/s:Value of the fault"))?
        .text
        .trim()
        .to_string();
    let subcode = code_el
        .child(ns::SOAP, "Subcode")
        .and_then(|s| s.child(ns::SOAP, "Value"))
        .map(|v| v.text.trim().to_string());
    let reason = f
        .child(ns::SOAP, "Reason")
        .and_then(|r| r.child(ns::SOAP, "Text"))
        .map(|t| t.text.trim().to_string())
        .unwrap_or_default();
    let detail_el = f.child(ns::SOAP, "Detail");
    let detail = detail_el
        .and_then(|d| d.child(ns::WSMAN, "FaultDetail"))
        .map(|e| e.text.trim().to_string());
    let wsf = detail_el.and_then(|d| d.child(ns::WSMAN_FAULT, "WSManFault"));
    // A fault is worth surfacing even with an odd Code, so an unparsable one becomes None.
    let wsman_code = wsf
        .and_then(|w| w.attr("Code"))
        .and_then(|c| c.trim().parse::<u32>().ok());
    let machine = wsf.and_then(|w| w.attr("Machine")).map(str::to_string);
    let message = wsf
        .and_then(|w| w.child(ns::WSMAN_FAULT, "Message"))
        .map(|m| m.deep_text().trim().to_string())
        .unwrap_or_default();
    Ok(Fault {
        code,
        subcode,
        reason,
        detail,
        wsman_code,
        machine,
        message,
        relates_to,
    })
}

/// Options a server must not ignore: written with `MustComply="true"` as Windows clients do.
fn must_comply(name: &str) -> bool {
    name == ns::option::NOPROFILE || name == ns::option::PROTOCOL_VERSION
}

/// Opens the request envelope and writes the whole SOAP header (the action is passed as a URI
/// so that WinRS and PSRP requests share this).
pub(crate) fn write_request_start<A>(
    w: &mut Writer,
    action_uri: &str,
    h: &HeaderOf<A>,
    uses_rsp: bool,
) {
    let mut env_attrs: Vec<(&str, &str)> = Vec::with_capacity(5);
    if uses_rsp {
        env_attrs.push(("xmlns:rsp", ns::SHELL));
    }
    env_attrs.extend([
        ("xmlns:s", ns::SOAP),
        ("xmlns:wsa", ns::ADDRESSING),
        ("xmlns:wsman", ns::WSMAN),
        ("xmlns:wsmv", ns::WSMV),
    ]);
    w.open("s:Envelope", &env_attrs);
    w.open("s:Header", &[]);
    w.leaf("wsa:Action", &[("s:mustUnderstand", "true")], action_uri);
    let lang = [
        ("s:mustUnderstand", "false"),
        ("xml:lang", h.locale.as_str()),
    ];
    w.empty("wsmv:DataLocale", &lang, true);
    w.empty("wsman:Locale", &lang, true);
    w.leaf(
        "wsman:MaxEnvelopeSize",
        &[("s:mustUnderstand", "true")],
        &h.max_envelope_size.to_string(),
    );
    w.leaf("wsa:MessageID", &[], &h.message_id);
    w.leaf(
        "wsman:OperationTimeout",
        &[],
        &format_duration(h.operation_timeout),
    );
    w.open("wsa:ReplyTo", &[]);
    w.leaf(
        "wsa:Address",
        &[("s:mustUnderstand", "true")],
        ns::ANONYMOUS,
    );
    w.close("wsa:ReplyTo");
    w.leaf(
        "wsman:ResourceURI",
        &[("s:mustUnderstand", "true")],
        &h.resource_uri,
    );
    if let Some(sid) = &h.session_id {
        w.leaf("wsmv:SessionId", &[("s:mustUnderstand", "false")], sid);
    }
    w.leaf("wsa:To", &[], &h.to);
    if !h.options.is_empty() {
        w.open("wsman:OptionSet", &[("s:mustUnderstand", "true")]);
        for (name, value) in &h.options {
            if must_comply(name) {
                w.leaf(
                    "wsman:Option",
                    &[("MustComply", "true"), ("Name", name)],
                    value,
                );
            } else {
                w.leaf("wsman:Option", &[("Name", name)], value);
            }
        }
        w.close("wsman:OptionSet");
    }
    if let Some(shell_id) = &h.shell_id {
        w.open("wsman:SelectorSet", &[]);
        w.leaf("wsman:Selector", &[("Name", "ShellId")], shell_id);
        w.close("wsman:SelectorSet");
    }
    w.close("s:Header");
}

/// Reads every header value except the action (which the caller maps to its own enum).
/// Missing optional values get defaults: MaxEnvelopeSize [`DEFAULT_MAX_ENVELOPE_SIZE`],
/// OperationTimeout [`DEFAULT_OPERATION_TIMEOUT`], locale `en-US`, resource URI the cmd shell.
pub(crate) fn parse_request_header(header: &Element) -> Result<HeaderOf<()>, ParseError> {
    let message_id = text(header, ns::ADDRESSING, "MessageID")
        .ok_or(ParseError::Missing("wsa:MessageID"))?
        .to_string();
    let max_envelope_size = match text(header, ns::WSMAN, "MaxEnvelopeSize") {
        None => DEFAULT_MAX_ENVELOPE_SIZE,
        Some(v) => v.parse().map_err(|_| ParseError::Invalid {
            what: "wsman:MaxEnvelopeSize",
            value: shorten(v),
        })?,
    };
    let operation_timeout = match header.child(ns::WSMAN, "OperationTimeout") {
        None => DEFAULT_OPERATION_TIMEOUT,
        Some(e) => duration_of(e, "wsman:OperationTimeout")?,
    };
    let locale = header
        .child(ns::WSMAN, "Locale")
        .or_else(|| header.child(ns::WSMV, "DataLocale"))
        .and_then(|e| e.attr_ns(XML_NS, "lang"))
        .unwrap_or("en-US")
        .to_string();
    let options = match header.child(ns::WSMAN, "OptionSet") {
        None => Vec::new(),
        Some(set) => set
            .children(ns::WSMAN, "Option")
            .map(|o| {
                let name = o
                    .attr("Name")
                    .ok_or(ParseError::Missing("Name attribute of wsman:Option"))?;
                Ok((name.to_string(), o.text.trim().to_string()))
            })
            .collect::<Result<Vec<_>, ParseError>>()?,
    };
    let shell_id = header
        .child(ns::WSMAN, "SelectorSet")
        .and_then(|s| {
            s.children(ns::WSMAN, "Selector")
                .find(|e| e.attr("Name") == Some("ShellId"))
        })
        .map(|e| e.text.trim().to_string());
    Ok(HeaderOf {
        action: (),
        resource_uri: text(header, ns::WSMAN, "ResourceURI")
            .unwrap_or(ns::RESOURCE_CMD)
            .to_string(),
        to: text(header, ns::ADDRESSING, "To")
            .unwrap_or_default()
            .to_string(),
        message_id,
        max_envelope_size,
        operation_timeout,
        locale,
        session_id: text(header, ns::WSMV, "SessionId").map(str::to_string),
        shell_id,
        options,
    })
}

/// The text of a child element, trimmed.
pub(crate) fn text<'a>(parent: &'a Element, ns: &str, name: &str) -> Option<&'a str> {
    parent.child(ns, name).map(|e| e.text.trim())
}

/// The `wsa:Action` URI of a request header.
pub(crate) fn action_uri<'a>(header: &'a Element) -> Result<&'a str, ParseError> {
    text(header, ns::ADDRESSING, "Action").ok_or(ParseError::Missing("wsa:Action"))
}

/// Parses the body of a Create response.
pub(crate) fn parse_shell_info(body: &Element) -> Result<ShellInfo, ParseError> {
    let created = body.child(ns::TRANSFER, "ResourceCreated");
    let shell = body.child(ns::SHELL, "Shell");
    if created.is_none() && shell.is_none() {
        return Err(ParseError::Missing("x:ResourceCreated or rsp:Shell"));
    }
    let text_of = |parent: Option<&Element>, name: &str| {
        parent
            .and_then(|p| p.child(ns::SHELL, name))
            .map(|e| e.text.trim().to_string())
    };
    let refs = created.and_then(|c| c.child(ns::ADDRESSING, "ReferenceParameters"));
    let selector_id = refs
        .and_then(|r| r.child(ns::WSMAN, "SelectorSet"))
        .and_then(|s| {
            s.children(ns::WSMAN, "Selector")
                .find(|e| e.attr("Name") == Some("ShellId"))
        })
        .map(|e| e.text.trim().to_string());
    let shell_id = text_of(shell, "ShellId")
        .or(selector_id)
        .ok_or(ParseError::Missing("rsp:ShellId"))?;
    let resource_uri = text_of(shell, "ResourceUri")
        .or_else(|| {
            refs.and_then(|r| r.child(ns::WSMAN, "ResourceURI"))
                .map(|e| e.text.trim().to_string())
        })
        .unwrap_or_default();
    let address = created
        .and_then(|c| c.child(ns::ADDRESSING, "Address"))
        .map(|e| e.text.trim().to_string())
        .unwrap_or_default();
    let idle_timeout = match shell.and_then(|s| s.child(ns::SHELL, "IdleTimeOut")) {
        Some(e) => Some(duration_of(e, "rsp:IdleTimeOut")?),
        None => None,
    };
    Ok(ShellInfo {
        shell_id,
        resource_uri,
        address,
        owner: text_of(shell, "Owner"),
        client_ip: text_of(shell, "ClientIP"),
        idle_timeout,
        input_streams: text_of(shell, "InputStreams")
            .map(|s| split_names(&s))
            .unwrap_or_default(),
        output_streams: text_of(shell, "OutputStreams")
            .map(|s| split_names(&s))
            .unwrap_or_default(),
    })
}

/// Windows writes durations in responses with milliseconds: `PT7200.000S`.
pub(crate) fn format_duration_ms(d: Duration) -> String {
    let ms = d.as_millis();
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

pub(crate) fn open_response_envelope(
    w: &mut Writer,
    action_uri: &str,
    message_id: &str,
    relates_to: Option<&str>,
    ns_decls: &[(&str, &str)],
) {
    let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(ns_decls.len() + 1);
    attrs.push(("xml:lang", "en-US"));
    attrs.extend_from_slice(ns_decls);
    w.open("s:Envelope", &attrs);
    w.open("s:Header", &[]);
    w.leaf("a:Action", &[], action_uri);
    w.leaf("a:MessageID", &[], message_id);
    w.leaf("a:To", &[], ns::ANONYMOUS);
    if let Some(r) = relates_to {
        w.leaf("a:RelatesTo", &[], r);
    }
    w.close("s:Header");
}

/// The parts every response shares: the SOAP body, `wsa:MessageID`, `wsa:RelatesTo`; or the
/// fault it carries (`Ok(Err(_))`). A `wsa:Action` other than `response_uri` is an error.
pub(crate) struct ResponseParts<'r, 'a> {
    pub body: &'r Element<'a>,
    pub message_id: String,
    pub relates_to: Option<String>,
}

pub(crate) fn response_parts<'r, 'a>(
    root: &'r Element<'a>,
    response_uri: &str,
) -> Result<Result<ResponseParts<'r, 'a>, Fault>, ParseError> {
    let (header, body) = envelope_parts(root)?;
    let relates_to = header
        .and_then(|h| h.child(ns::ADDRESSING, "RelatesTo"))
        .map(|e| e.text.trim().to_string());
    if let Some(f) = body.child(ns::SOAP, "Fault") {
        return Ok(Err(parse_fault(f, relates_to)?));
    }
    if let Some(a) = header.and_then(|h| h.child(ns::ADDRESSING, "Action")) {
        let got = a.text.trim();
        if got != response_uri {
            return Err(ParseError::Invalid {
                what: "wsa:Action of the response",
                value: shorten(got),
            });
        }
    }
    let message_id = header
        .and_then(|h| h.child(ns::ADDRESSING, "MessageID"))
        .map(|e| e.text.trim().to_string())
        .unwrap_or_default();
    Ok(Ok(ResponseParts {
        body,
        message_id,
        relates_to,
    }))
}

/// The command id of a `rsp:CommandResponse`.
pub(crate) fn parse_command_id(body: &Element) -> Result<String, ParseError> {
    let resp = body
        .child(ns::SHELL, "CommandResponse")
        .ok_or(ParseError::Missing("rsp:CommandResponse"))?;
    let id = resp
        .child(ns::SHELL, "CommandId")
        .ok_or(ParseError::Missing("rsp:CommandId"))?;
    Ok(id.text.trim().to_string())
}
