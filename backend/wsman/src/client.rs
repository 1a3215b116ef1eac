//! The client side: writing requests, parsing responses and faults.
//!
//! Requests are written in the shape pypsrp sends to real Windows servers (header elements in
//! the same order, `s:mustUnderstand` where pypsrp puts it), which the replay tests check
//! against the recorded exchanges.

use base64::Engine as _;

use crate::common::*;
use crate::ns;
use crate::types::*;
use crate::xml::{self, Element, Writer};

/// Writes a whole request envelope.
///
/// Options are written in order; `WINRS_NOPROFILE` gets `MustComply="true"` as Windows
/// clients send it (the server must fail rather than silently load the profile).
pub fn write_request(req: &Request) -> String {
    let h = &req.header;
    let body_len = match &req.body {
        RequestBody::Send(streams) => streams.iter().map(|s| s.data.len() / 3 * 4 + 200).sum(),
        _ => 512,
    };
    let mut w = Writer::with_capacity(1800 + body_len);
    let uses_rsp = !matches!(req.body, RequestBody::Delete);
    write_request_start(&mut w, h.action.uri(), h, uses_rsp);
    write_request_body(&mut w, &req.body);
    w.close("s:Envelope");
    w.out
}

fn write_request_body(w: &mut Writer, body: &RequestBody) {
    match body {
        RequestBody::Delete => {
            w.empty("s:Body", &[], true);
            return;
        }
        _ => w.open("s:Body", &[]),
    }
    match body {
        RequestBody::Create(spec) => {
            w.open("rsp:Shell", &[]);
            w.leaf("rsp:InputStreams", &[], &spec.input_streams.join(" "));
            w.leaf("rsp:OutputStreams", &[], &spec.output_streams.join(" "));
            if !spec.environment.is_empty() {
                w.open("rsp:Environment", &[]);
                for (k, v) in &spec.environment {
                    w.leaf("rsp:Variable", &[("Name", k)], v);
                }
                w.close("rsp:Environment");
            }
            if let Some(t) = spec.idle_timeout {
                w.leaf("rsp:IdleTimeOut", &[], &format_duration(t));
            }
            if let Some(dir) = &spec.working_directory {
                w.leaf("rsp:WorkingDirectory", &[], dir);
            }
            w.close("rsp:Shell");
        }
        RequestBody::Command(cl) => {
            w.open("rsp:CommandLine", &[]);
            w.leaf("rsp:Command", &[], &cl.command);
            for a in &cl.arguments {
                w.leaf("rsp:Arguments", &[], a);
            }
            w.close("rsp:CommandLine");
        }
        RequestBody::Send(streams) => {
            w.open("rsp:Send", &[]);
            for s in streams {
                let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(3);
                if let Some(id) = &s.command_id {
                    attrs.push(("CommandId", id));
                }
                attrs.push(("End", if s.end { "True" } else { "False" }));
                attrs.push(("Name", &s.name));
                w.open("rsp:Stream", &attrs);
                base64::engine::general_purpose::STANDARD.encode_string(&s.data, &mut w.out);
                w.close("rsp:Stream");
            }
            w.close("rsp:Send");
        }
        RequestBody::Receive {
            command_id,
            streams,
            sequence_id,
        } => {
            let seq = sequence_id.map(|n| n.to_string());
            match &seq {
                Some(n) => w.open("rsp:Receive", &[("SequenceId", n)]),
                None => w.open("rsp:Receive", &[]),
            }
            let joined = streams.join(" ");
            match command_id {
                Some(id) => w.leaf("rsp:DesiredStream", &[("CommandId", id)], &joined),
                None => w.leaf("rsp:DesiredStream", &[], &joined),
            }
            w.close("rsp:Receive");
        }
        RequestBody::Signal { command_id, code } => {
            match command_id {
                Some(id) => w.open("rsp:Signal", &[("CommandId", id)]),
                None => w.open("rsp:Signal", &[]),
            }
            w.leaf("rsp:Code", &[], code.uri());
            w.close("rsp:Signal");
        }
        RequestBody::Delete => unreachable!("handled above"),
    }
    w.close("s:Body");
}

/// Parses a response envelope to a request of `action`.
///
/// `Ok(Ok(_))` is a successful response, `Ok(Err(fault))` a SOAP fault (the body of an HTTP
/// 500: for a Receive, check [`Fault::is_timeout`], which only means "ask again"), and
/// `Err(_)` bytes that are not a usable envelope.
pub fn parse_response(action: Action, xml: &[u8]) -> Result<Result<Response, Fault>, ParseError> {
    let root = xml::parse(xml)?;
    let ResponseParts {
        body,
        message_id,
        relates_to,
    } = match response_parts(&root, &action.response_uri())? {
        Ok(parts) => parts,
        Err(fault) => return Ok(Err(fault)),
    };
    let body = match action {
        Action::Create => ResponseBody::Created(parse_shell_info(body)?),
        Action::Command => ResponseBody::CommandStarted {
            command_id: parse_command_id(body)?,
        },
        Action::Send => ResponseBody::Sent,
        Action::Receive => parse_received(body)?,
        Action::Signal => ResponseBody::Signalled,
        Action::Delete => ResponseBody::Deleted,
    };
    Ok(Ok(Response {
        action,
        message_id,
        relates_to,
        body,
    }))
}

fn parse_received(body: &Element) -> Result<ResponseBody, ParseError> {
    let resp = body
        .child(ns::SHELL, "ReceiveResponse")
        .ok_or(ParseError::Missing("rsp:ReceiveResponse"))?;
    let mut streams = Vec::with_capacity(resp.children.len());
    for s in resp.children(ns::SHELL, "Stream") {
        streams.push(parse_stream(s)?);
    }
    let state = match resp.child(ns::SHELL, "CommandState") {
        None => None,
        Some(cs) => {
            let st = cs
                .attr("State")
                .ok_or(ParseError::Missing("State attribute of rsp:CommandState"))?;
            let done = match st {
                ns::state::DONE => true,
                ns::state::RUNNING | ns::state::PENDING => false,
                other => {
                    return Err(ParseError::Invalid {
                        what: "rsp:CommandState State",
                        value: shorten(other),
                    })
                }
            };
            let exit_code = match cs.child(ns::SHELL, "ExitCode") {
                None => None,
                Some(e) => Some(parse_exit_code(e.text.trim())?),
            };
            Some(CommandState {
                command_id: cs.attr("CommandId").map(str::to_string),
                done,
                exit_code,
            })
        }
    };
    Ok(ResponseBody::Received { streams, state })
}
