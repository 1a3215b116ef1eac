//! The server side: parsing requests, writing responses and faults.
//!
//! Responses and faults are written in the shape real Windows servers send (namespace
//! prefixes `s`, `a`, `x`, `w`, `rsp`, `p`, `f`; `xml:lang="en-US"` on the envelope), which the
//! replay tests check against the recorded exchanges.

use base64::Engine as _;

use crate::common::*;
use crate::ns;
use crate::types::*;
use crate::xml::{self, Element, Writer};

pub use crate::common::{DEFAULT_MAX_ENVELOPE_SIZE, DEFAULT_OPERATION_TIMEOUT};

/// Parses a request envelope.
///
/// Operations other than the six WinRS ones (e.g. WS-Transfer Get, Enumerate) give
/// [`ParseError::UnsupportedAction`]. Missing optional header values get defaults:
/// MaxEnvelopeSize [`DEFAULT_MAX_ENVELOPE_SIZE`], OperationTimeout
/// [`DEFAULT_OPERATION_TIMEOUT`], locale `en-US`, resource URI the cmd shell.
pub fn parse_request(xml: &[u8]) -> Result<Request, ParseError> {
    let root = xml::parse(xml)?;
    let (header, body) = envelope_parts(&root)?;
    let header = header.ok_or(ParseError::Missing("s:Header"))?;
    let action_uri = action_uri(header)?;
    let action = Action::from_uri(action_uri)
        .ok_or_else(|| ParseError::UnsupportedAction(shorten(action_uri)))?;
    let header = parse_request_header(header)?.with_action(action);
    let body = parse_request_body(action, body)?;
    Ok(Request { header, body })
}

fn parse_request_body(action: Action, body: &Element) -> Result<RequestBody, ParseError> {
    Ok(match action {
        Action::Create => {
            let shell = body
                .child(ns::SHELL, "Shell")
                .ok_or(ParseError::Missing("rsp:Shell"))?;
            let names = |n: &str| {
                text(shell, ns::SHELL, n)
                    .map(split_names)
                    .unwrap_or_default()
            };
            let environment = match shell.child(ns::SHELL, "Environment") {
                None => Vec::new(),
                Some(env) => env
                    .children(ns::SHELL, "Variable")
                    .map(|v| {
                        let name = v
                            .attr("Name")
                            .ok_or(ParseError::Missing("Name attribute of rsp:Variable"))?;
                        Ok((name.to_string(), v.text.to_string()))
                    })
                    .collect::<Result<Vec<_>, ParseError>>()?,
            };
            let idle_timeout = match shell.child(ns::SHELL, "IdleTimeOut") {
                None => None,
                Some(e) => Some(duration_of(e, "rsp:IdleTimeOut")?),
            };
            RequestBody::Create(ShellSpec {
                input_streams: names("InputStreams"),
                output_streams: names("OutputStreams"),
                working_directory: shell
                    .child(ns::SHELL, "WorkingDirectory")
                    .map(|e| e.text.to_string()),
                environment,
                idle_timeout,
            })
        }
        Action::Command => {
            let cl = body
                .child(ns::SHELL, "CommandLine")
                .ok_or(ParseError::Missing("rsp:CommandLine"))?;
            let command = cl
                .child(ns::SHELL, "Command")
                .ok_or(ParseError::Missing("rsp:Command"))?
                .text
                .to_string();
            RequestBody::Command(CommandLine {
                command,
                arguments: cl
                    .children(ns::SHELL, "Arguments")
                    .map(|a| a.text.to_string())
                    .collect(),
            })
        }
        Action::Send => {
            let send = body
                .child(ns::SHELL, "Send")
                .ok_or(ParseError::Missing("rsp:Send"))?;
            RequestBody::Send(
                send.children(ns::SHELL, "Stream")
                    .map(parse_stream)
                    .collect::<Result<Vec<_>, _>>()?,
            )
        }
        Action::Receive => {
            let recv = body
                .child(ns::SHELL, "Receive")
                .ok_or(ParseError::Missing("rsp:Receive"))?;
            let ds = recv
                .child(ns::SHELL, "DesiredStream")
                .ok_or(ParseError::Missing("rsp:DesiredStream"))?;
            let sequence_id = match recv.attr("SequenceId") {
                None => None,
                Some(v) => Some(v.trim().parse::<u64>().map_err(|_| ParseError::Invalid {
                    what: "SequenceId attribute of rsp:Receive (an unsigned 64-bit number)",
                    value: shorten(v),
                })?),
            };
            RequestBody::Receive {
                command_id: ds.attr("CommandId").map(str::to_string),
                streams: split_names(&ds.text),
                sequence_id,
            }
        }
        Action::Signal => {
            let sig = body
                .child(ns::SHELL, "Signal")
                .ok_or(ParseError::Missing("rsp:Signal"))?;
            let code = text(sig, ns::SHELL, "Code").ok_or(ParseError::Missing("rsp:Code"))?;
            RequestBody::Signal {
                command_id: sig.attr("CommandId").map(str::to_string),
                code: SignalCode::from_uri(code),
            }
        }
        Action::Delete => RequestBody::Delete,
    })
}

/// Writes a successful response envelope.
pub fn write_response(resp: &Response) -> String {
    let data_len: usize = match &resp.body {
        ResponseBody::Received { streams, .. } => {
            streams.iter().map(|s| s.data.len() / 3 * 4 + 200).sum()
        }
        _ => 0,
    };
    let mut w = Writer::with_capacity(1600 + data_len);
    let s = ("xmlns:s", ns::SOAP);
    let a = ("xmlns:a", ns::ADDRESSING);
    let x = ("xmlns:x", ns::TRANSFER);
    let wm = ("xmlns:w", ns::WSMAN);
    let rsp = ("xmlns:rsp", ns::SHELL);
    let p = ("xmlns:p", ns::WSMV);
    // The namespace sets Windows declares per response kind.
    let decls: &[(&str, &str)] = match resp.body {
        ResponseBody::Received { .. } => &[s, a, wm, rsp, p],
        ResponseBody::Deleted => &[s, a, wm, p],
        _ => &[s, a, x, wm, rsp, p],
    };
    open_response_envelope(
        &mut w,
        &resp.action.response_uri(),
        &resp.message_id,
        resp.relates_to.as_deref(),
        decls,
    );
    w.open("s:Body", &[]);
    match &resp.body {
        ResponseBody::Created(info) => {
            w.open("x:ResourceCreated", &[]);
            w.leaf("a:Address", &[], &info.address);
            w.open("a:ReferenceParameters", &[]);
            w.leaf("w:ResourceURI", &[], &info.resource_uri);
            w.open("w:SelectorSet", &[]);
            w.leaf("w:Selector", &[("Name", "ShellId")], &info.shell_id);
            w.close("w:SelectorSet");
            w.close("a:ReferenceParameters");
            w.close("x:ResourceCreated");
            w.open("rsp:Shell", &[rsp]);
            w.leaf("rsp:ShellId", &[], &info.shell_id);
            w.leaf("rsp:ResourceUri", &[], &info.resource_uri);
            if let Some(o) = &info.owner {
                w.leaf("rsp:Owner", &[], o);
            }
            if let Some(ip) = &info.client_ip {
                w.leaf("rsp:ClientIP", &[], ip);
            }
            if let Some(t) = info.idle_timeout {
                w.leaf("rsp:IdleTimeOut", &[], &format_duration_ms(t));
            }
            w.leaf("rsp:InputStreams", &[], &info.input_streams.join(" "));
            w.leaf("rsp:OutputStreams", &[], &info.output_streams.join(" "));
            // A shell that was just created has neither run nor idled.
            w.leaf("rsp:ShellRunTime", &[], "P0DT0H0M0S");
            w.leaf("rsp:ShellInactivity", &[], "P0DT0H0M0S");
            w.close("rsp:Shell");
        }
        ResponseBody::CommandStarted { command_id } => {
            w.open("rsp:CommandResponse", &[]);
            w.leaf("rsp:CommandId", &[], command_id);
            w.close("rsp:CommandResponse");
        }
        ResponseBody::Sent => w.empty("rsp:SendResponse", &[], false),
        ResponseBody::Received { streams, state } => {
            w.open("rsp:ReceiveResponse", &[]);
            for st in streams {
                let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(3);
                attrs.push(("Name", &st.name));
                if let Some(id) = &st.command_id {
                    attrs.push(("CommandId", id));
                }
                if st.end {
                    attrs.push(("End", "true"));
                }
                w.open("rsp:Stream", &attrs);
                base64::engine::general_purpose::STANDARD.encode_string(&st.data, &mut w.out);
                w.close("rsp:Stream");
            }
            if let Some(cs) = state {
                let uri = if cs.done {
                    ns::state::DONE
                } else {
                    ns::state::RUNNING
                };
                let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(2);
                if let Some(id) = &cs.command_id {
                    attrs.push(("CommandId", id));
                }
                attrs.push(("State", uri));
                w.open("rsp:CommandState", &attrs);
                if let Some(code) = cs.exit_code {
                    w.leaf("rsp:ExitCode", &[], &code.to_string());
                }
                w.close("rsp:CommandState");
            }
            w.close("rsp:ReceiveResponse");
        }
        ResponseBody::Signalled => w.empty("rsp:SignalResponse", &[], false),
        ResponseBody::Deleted => {}
    }
    w.close("s:Body");
    w.close("s:Envelope");
    w.out
}

/// Writes a SOAP fault envelope (send it with HTTP status 500), with a fresh MessageID.
pub fn write_fault(fault: &Fault) -> String {
    let mut w = Writer::with_capacity(1800);
    let decls = [
        ("xmlns:s", ns::SOAP),
        ("xmlns:a", ns::ADDRESSING),
        ("xmlns:x", ns::TRANSFER),
        ("xmlns:e", "http://schemas.xmlsoap.org/ws/2004/08/eventing"),
        (
            "xmlns:n",
            "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
        ),
        ("xmlns:w", ns::WSMAN),
        ("xmlns:p", ns::WSMV),
    ];
    open_response_envelope(
        &mut w,
        ns::action::FAULT,
        &new_message_id(),
        fault.relates_to.as_deref(),
        &decls,
    );
    w.open("s:Body", &[]);
    w.open("s:Fault", &[]);
    w.open("s:Code", &[]);
    w.leaf("s:Value", &[], &fault.code);
    if let Some(sub) = &fault.subcode {
        w.open("s:Subcode", &[]);
        w.leaf("s:Value", &[], sub);
        w.close("s:Subcode");
    }
    w.close("s:Code");
    w.open("s:Reason", &[]);
    w.leaf("s:Text", &[("xml:lang", "en-US")], &fault.reason);
    w.close("s:Reason");
    w.open("s:Detail", &[]);
    if let Some(d) = &fault.detail {
        w.leaf("w:FaultDetail", &[], d);
    }
    let code = fault.wsman_code.map(|c| c.to_string());
    let mut attrs: Vec<(&str, &str)> = vec![("xmlns:f", ns::WSMAN_FAULT)];
    if let Some(c) = &code {
        attrs.push(("Code", c));
    }
    if let Some(m) = &fault.machine {
        attrs.push(("Machine", m));
    }
    w.open("f:WSManFault", &attrs);
    w.leaf("f:Message", &[], &fault.message);
    w.close("f:WSManFault");
    w.close("s:Detail");
    w.close("s:Fault");
    w.close("s:Body");
    w.close("s:Envelope");
    w.out
}

const DETAIL_PREFIX: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/";

impl Fault {
    /// The Receive long poll expired with no output (`w:TimedOut`, 2150858793): "ask again".
    pub fn timed_out(relates_to: Option<String>) -> Fault {
        let text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.";
        Fault {
            code: "s:Receiver".into(),
            subcode: Some("w:TimedOut".into()),
            reason: text.into(),
            detail: None,
            wsman_code: Some(ns::code::OPERATION_TIMEOUT),
            machine: None,
            message: text.into(),
            relates_to,
        }
    }

    /// An unknown shell or command id (`w:InvalidSelectors`, 2150858843). `what` is
    /// `"shell"` or `"command"` (giving Windows' message for that case) or a whole message.
    pub fn invalid_selectors(relates_to: Option<String>, what: &str) -> Fault {
        let message = match what {
            "command" => "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier.".to_string(),
            "shell" => "The request for the Windows Remote Shell failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation.".to_string(),
            other => other.to_string(),
        };
        Fault {
            code: "s:Sender".into(),
            subcode: Some("w:InvalidSelectors".into()),
            reason: "The WS-Management service cannot process the request because the request contained invalid selectors for the resource.".into(),
            detail: Some(format!("{DETAIL_PREFIX}UnexpectedSelectors")),
            wsman_code: Some(ns::code::INVALID_SELECTORS),
            machine: None,
            message,
            relates_to,
        }
    }

    /// The user already has `limit` shells open (MaxShellsPerUser, 2150859173).
    pub fn shell_quota(relates_to: Option<String>, limit: u32) -> Fault {
        let text = format!("The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.");
        Fault {
            code: "s:Receiver".into(),
            subcode: Some("w:InternalError".into()),
            reason: text.clone(),
            detail: None,
            wsman_code: Some(ns::code::SHELL_QUOTA),
            machine: None,
            message: text,
            relates_to,
        }
    }

    /// An envelope would exceed `limit` bytes (`w:EncodingLimit`, 2150858824): a request
    /// larger than the server accepts, or a response larger than the client's
    /// MaxEnvelopeSize.
    pub fn envelope_too_large(relates_to: Option<String>, limit: u32) -> Fault {
        Fault {
            code: "s:Sender".into(),
            subcode: Some("w:EncodingLimit".into()),
            reason: "The WS-Management service cannot process the request because an envelope exceeds the maximum envelope size.".into(),
            detail: Some(format!("{DETAIL_PREFIX}MaxEnvelopeSize")),
            wsman_code: Some(ns::code::MAX_ENVELOPE_SIZE),
            machine: None,
            message: format!("The envelope exceeds the maximum envelope size of {limit} bytes. Send less data per request, or use a larger MaxEnvelopeSize."),
            relates_to,
        }
    }

    /// The request does not match the schema (`w:SchemaValidationError`, 2150858817);
    /// `detail` says what was wrong (e.g. a [`ParseError`]'s message).
    pub fn schema_validation(relates_to: Option<String>, detail: &str) -> Fault {
        Fault {
            code: "s:Sender".into(),
            subcode: Some("w:SchemaValidationError".into()),
            reason: "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry.".into(),
            detail: None,
            wsman_code: Some(ns::code::SCHEMA_VALIDATION),
            machine: None,
            message: format!("The SOAP XML in the message does not match the corresponding XML schema definition: {detail}"),
            relates_to,
        }
    }

    /// An operation (Command, Send, Receive, Signal) on a shell that is Disconnected: the
    /// client must Reconnect (same client) or Connect (another client) first. MS-WSMV does
    /// not name this fault; `w:InternalError` is what MS-WSMV 3.1.4.16/3.1.4.17 prescribe for
    /// the neighbouring state errors. Windows' own WSManFault code and text for it are not in
    /// the recordings (pypsrp users saw HTTP 400 for a Command on an auto-disconnected pool),
    /// so this fault carries no code.
    pub fn shell_disconnected(relates_to: Option<String>) -> Fault {
        let text = "The WS-Management service cannot process the request because the shell is disconnected. Reconnect to it (shell/Reconnect) or connect to it (shell/Connect) and retry the operation.";
        Fault {
            code: "s:Receiver".into(),
            subcode: Some("w:InternalError".into()),
            reason: text.into(),
            detail: None,
            wsman_code: None,
            machine: None,
            message: text.into(),
            relates_to,
        }
    }

    /// A Connect to a shell that is still connected (to this or another client):
    /// `w:InternalError`, as MS-WSMV 3.1.4.17 requires; also a Reconnect from a client other
    /// than the connected one (3.1.4.16). Only a disconnected shell can be connected to.
    pub fn shell_connected(relates_to: Option<String>) -> Fault {
        let text = "The WS-Management service cannot process the request because the shell is connected to a client. Only a disconnected shell can be connected to: disconnect it from its client first, or wait until the server disconnects it.";
        Fault {
            code: "s:Receiver".into(),
            subcode: Some("w:InternalError".into()),
            reason: text.into(),
            detail: None,
            wsman_code: None,
            machine: None,
            message: text.into(),
            relates_to,
        }
    }

    /// The request asks for an operation the server does not implement
    /// (`w:ActionNotSupported`). There is no WSManFault code for it here.
    pub fn action_not_supported(relates_to: Option<String>, action_uri: &str) -> Fault {
        Fault {
            code: "s:Sender".into(),
            subcode: Some("a:ActionNotSupported".into()),
            reason: "The action is not supported by the service.".into(),
            detail: None,
            wsman_code: None,
            machine: None,
            message: format!("The WS-Management service does not support the action {action_uri}; only the WinRS shell operations are implemented."),
            relates_to,
        }
    }

    /// The fault a server should answer a request that failed to parse with.
    pub fn for_parse_error(relates_to: Option<String>, err: &ParseError) -> Fault {
        match err {
            ParseError::UnsupportedAction(uri) => Fault::action_not_supported(relates_to, uri),
            other => Fault::schema_validation(relates_to, &other.to_string()),
        }
    }

    /// The fault Windows' shell plugin sends for a Win32 error (`code` = 0x8007xxxx).
    pub fn win32(relates_to: Option<String>, code: u32, text: &str) -> Fault {
        Fault {
            code: "s:Receiver".into(),
            subcode: Some("w:InternalError".into()),
            reason: text.into(),
            detail: None,
            wsman_code: Some(code),
            machine: None,
            message: text.into(),
            relates_to,
        }
    }

    /// The fault Windows sends for a Receive or Send without a command id (ERROR_INVALID_PARAMETER).
    pub fn invalid_parameter(relates_to: Option<String>) -> Fault {
        Fault {
            code: "s:Sender".into(),
            subcode: Some("w:InvalidParameter".into()),
            reason: "The parameter is incorrect. ".into(),
            detail: Some(
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue".into(),
            ),
            wsman_code: Some(87),
            machine: None,
            message: "The parameter is incorrect. ".into(),
            relates_to,
        }
    }

    /// The fault for a resource URI the server does not serve.
    pub fn unknown_resource(relates_to: Option<String>, uri: &str) -> Fault {
        Fault {
            code: "s:Sender".into(),
            subcode: Some("w:DestinationUnreachable".into()),
            reason: "The WS-Management service cannot process the request because the resource URI is not supported. ".into(),
            detail: Some(
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI".into(),
            ),
            wsman_code: Some(2150858770),
            machine: None,
            message: format!("The WS-Management service does not support the resource URI {uri}."),
            relates_to,
        }
    }

    /// Sets the `Machine` attribute (Windows puts its host name or address there).
    pub fn with_machine(mut self, machine: impl Into<String>) -> Fault {
        self.machine = Some(machine.into());
        self
    }
}
