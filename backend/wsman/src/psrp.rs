//! PowerShell remoting (MS-PSRP) over WS-Management: the same shell operations as WinRS with
//! a `http://schemas.microsoft.com/powershell/<configuration>` resource URI, PSRP fragments as
//! base64 in `creationXml`, `rsp:Arguments`, the `stdin`/`pr`/`stdout` streams and
//! `connectXml`/`connectResponseXml`, plus Disconnect, Reconnect and Connect.
//!
//! Client side: [`write_request`], [`parse_response`]. Server side: [`parse_request`],
//! [`write_response`] (faults are written with [`crate::server::write_fault`]). The fragment
//! bytes are opaque here; the `psrp` crate reads and writes them.

use std::time::Duration;

use base64::Engine as _;

use crate::common::*;
use crate::ns;
use crate::types::*;
use crate::xml::{self, Element, Writer};

/// Namespace of `creationXml`, `connectXml` and `connectResponseXml`.
pub const PS_NS: &str = "http://schemas.microsoft.com/powershell";
/// Resource URIs of PowerShell endpoints start with this; the configuration name follows.
pub const RESOURCE_PREFIX: &str = "http://schemas.microsoft.com/powershell/";
/// The default configuration (Windows PowerShell 5.1).
pub const DEFAULT_CONFIGURATION: &str = "Microsoft.PowerShell";
/// The signal code that stops a pipeline. The misspelling is what PowerShell sends and what
/// the server compares against; any other code closes the command instead.
pub const SIGNAL_STOP: &str = "powershell/signal/crtl_c";
/// The signal code that releases a finished command.
pub const SIGNAL_TERMINATE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/Terminate";
/// Protocol version this crate's callers announce.
pub const PROTOCOL_VERSION: &str = "2.3";
/// Input streams of a PSRP shell.
pub const INPUT_STREAMS: &[&str] = &["stdin", "pr"];
/// Output streams of a PSRP shell.
pub const OUTPUT_STREAMS: &[&str] = &["stdout"];

/// The resource URI of a configuration (`Microsoft.PowerShell`, `JEARole`, …).
pub fn resource_uri(configuration: &str) -> String {
    format!("{RESOURCE_PREFIX}{configuration}")
}

/// The configuration name of a PowerShell resource URI.
pub fn configuration_of(resource_uri: &str) -> Option<&str> {
    resource_uri
        .strip_prefix(RESOURCE_PREFIX)
        .filter(|c| !c.is_empty() && !c.contains('/'))
}

/// The operations of a PowerShell remoting session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PsrpAction {
    /// Open a RunspacePool (WS-Transfer Create).
    Create,
    /// Start a pipeline.
    Command,
    /// Send PSRP fragments to the pool or a pipeline.
    Send,
    /// Receive PSRP fragments (a long poll).
    Receive,
    /// Stop or release a pipeline.
    Signal,
    /// Close the pool (WS-Transfer Delete).
    Delete,
    /// Disconnect the pool, leaving it running on the server.
    Disconnect,
    /// Reconnect the same client to a disconnected pool.
    Reconnect,
    /// Attach another client to a disconnected pool or command.
    Connect,
}

impl PsrpAction {
    const ALL: [PsrpAction; 9] = [
        PsrpAction::Create,
        PsrpAction::Command,
        PsrpAction::Send,
        PsrpAction::Receive,
        PsrpAction::Signal,
        PsrpAction::Delete,
        PsrpAction::Disconnect,
        PsrpAction::Reconnect,
        PsrpAction::Connect,
    ];

    /// The action URI of the request.
    pub fn uri(self) -> &'static str {
        match self {
            PsrpAction::Create => Action::Create.uri(),
            PsrpAction::Command => Action::Command.uri(),
            PsrpAction::Send => Action::Send.uri(),
            PsrpAction::Receive => Action::Receive.uri(),
            PsrpAction::Signal => Action::Signal.uri(),
            PsrpAction::Delete => Action::Delete.uri(),
            PsrpAction::Disconnect => {
                "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect"
            }
            PsrpAction::Reconnect => {
                "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reconnect"
            }
            PsrpAction::Connect => {
                "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect"
            }
        }
    }

    /// The action URI of the matching response.
    pub fn response_uri(self) -> String {
        format!("{}Response", self.uri())
    }

    /// The action for a request action URI.
    pub fn from_uri(uri: &str) -> Option<PsrpAction> {
        Self::ALL.into_iter().find(|a| a.uri() == uri)
    }
}

/// The SOAP header of a PSRP request.
pub type PsrpHeader = HeaderOf<PsrpAction>;

/// The body of a PSRP request.
#[derive(Debug, Clone, PartialEq)]
pub enum PsrpRequestBody {
    /// Open a pool: `rsp:Shell ShellId=…` with `creationXml`.
    Create {
        /// The RunspacePool id (the client chooses it).
        shell_id: String,
        /// `stdin pr`.
        input_streams: Vec<String>,
        /// `stdout`.
        output_streams: Vec<String>,
        /// `rsp:IdleTimeOut`.
        idle_timeout: Option<Duration>,
        /// SESSION_CAPABILITY + INIT_RUNSPACEPOOL fragments.
        creation_xml: Vec<u8>,
    },
    /// Start a pipeline: `rsp:CommandLine CommandId=…`, empty `rsp:Command`, one
    /// `rsp:Arguments` with the first fragment(s) of CREATE_PIPELINE.
    Command {
        /// The pipeline id (the client chooses it).
        command_id: String,
        /// The fragment bytes.
        arguments: Vec<u8>,
    },
    /// Fragments for the pool (`CommandId` absent) or a pipeline, on `stdin` or `pr`.
    Send(Vec<StreamData>),
    /// Ask for output of the pool (`command_id` None) or a pipeline.
    Receive {
        /// The pipeline, if any.
        command_id: Option<String>,
        /// `stdout`.
        streams: Vec<String>,
    },
    /// Signal a pipeline: [`SIGNAL_STOP`] or [`SIGNAL_TERMINATE`].
    Signal {
        /// The pipeline.
        command_id: Option<String>,
        /// The code, as sent.
        code: String,
    },
    /// Close the pool (empty body).
    Delete,
    /// `<rsp:Disconnect/>`, optionally with the idle timeout the pool may stay disconnected.
    Disconnect {
        /// `rsp:IdleTimeOut`.
        idle_timeout: Option<Duration>,
    },
    /// Reconnect (empty body).
    Reconnect,
    /// Connect to a pool (`connect_xml` = SESSION_CAPABILITY + CONNECT_RUNSPACEPOOL) or to a
    /// command (`command_id`, no XML).
    Connect {
        /// The command to attach to; None for the pool.
        command_id: Option<String>,
        /// The `connectXml` fragments (pool connect only).
        connect_xml: Option<Vec<u8>>,
    },
}

impl PsrpRequestBody {
    /// The operation this body belongs to.
    pub fn action(&self) -> PsrpAction {
        match self {
            PsrpRequestBody::Create { .. } => PsrpAction::Create,
            PsrpRequestBody::Command { .. } => PsrpAction::Command,
            PsrpRequestBody::Send(_) => PsrpAction::Send,
            PsrpRequestBody::Receive { .. } => PsrpAction::Receive,
            PsrpRequestBody::Signal { .. } => PsrpAction::Signal,
            PsrpRequestBody::Delete => PsrpAction::Delete,
            PsrpRequestBody::Disconnect { .. } => PsrpAction::Disconnect,
            PsrpRequestBody::Reconnect => PsrpAction::Reconnect,
            PsrpRequestBody::Connect { .. } => PsrpAction::Connect,
        }
    }
}

/// A whole PSRP request.
#[derive(Debug, Clone, PartialEq)]
pub struct PsrpRequest {
    /// The SOAP header.
    pub header: PsrpHeader,
    /// The body.
    pub body: PsrpRequestBody,
}

impl PsrpRequest {
    /// A request for `configuration` (e.g. [`DEFAULT_CONFIGURATION`]) with the header values
    /// of [`Header::new`], the `ShellId` selector (except for Create, which names the shell in
    /// its body) and the options PowerShell sends: `protocolversion` on Create and Connect of
    /// a pool, `WSMAN_CMDSHELL_OPTION_KEEPALIVE=True` on Receive.
    pub fn new(
        to: impl Into<String>,
        configuration: &str,
        shell_id: Option<&str>,
        body: PsrpRequestBody,
    ) -> PsrpRequest {
        let action = body.action();
        let mut header = Header::new(Action::Create, to).with_action(action);
        header.resource_uri = resource_uri(configuration);
        if action != PsrpAction::Create {
            header.shell_id = shell_id.map(str::to_string);
        }
        match &body {
            PsrpRequestBody::Create { .. }
            | PsrpRequestBody::Connect {
                command_id: None, ..
            } => header
                .options
                .push((ns::option::PROTOCOL_VERSION.into(), PROTOCOL_VERSION.into())),
            PsrpRequestBody::Receive { .. } => header
                .options
                .push((ns::option::KEEPALIVE.into(), "True".into())),
            _ => {}
        }
        PsrpRequest { header, body }
    }

    /// Adds an OptionSet entry.
    pub fn with_option(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.header.options.push((name.into(), value.into()));
        self
    }
}

/// `rsp:CommandState` of a PSRP Receive response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsrpCommandState {
    /// The command.
    pub command_id: Option<String>,
    /// The state.
    pub state: CommandStateKind,
    /// `rsp:ExitCode` (always 0 for PowerShell; read PIPELINE_STATE instead).
    pub exit_code: Option<i32>,
}

/// The value of `rsp:CommandState/@State`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStateKind {
    /// `.../CommandState/Running`.
    Running,
    /// `.../CommandState/Pending`: the pipeline waits for a host call answer.
    Pending,
    /// `.../CommandState/Done`: PIPELINE_STATE was sent.
    Done,
}

impl CommandStateKind {
    fn uri(&self) -> &'static str {
        match self {
            CommandStateKind::Running => ns::state::RUNNING,
            CommandStateKind::Pending => ns::state::PENDING,
            CommandStateKind::Done => ns::state::DONE,
        }
    }
}

/// The body of a successful PSRP response.
#[derive(Debug, Clone, PartialEq)]
pub enum PsrpResponseBody {
    /// The pool was created.
    Created(ShellInfo),
    /// A pipeline was started.
    CommandStarted {
        /// Its id, as echoed.
        command_id: String,
    },
    /// Fragments were accepted.
    Sent,
    /// Fragments from the server.
    Received {
        /// `rsp:Stream` elements, in document order (Windows puts one fragment in each).
        streams: Vec<StreamData>,
        /// `rsp:CommandState`, if any.
        state: Option<PsrpCommandState>,
    },
    /// The signal was delivered.
    Signalled,
    /// The pool was closed.
    Deleted,
    /// The pool was disconnected.
    Disconnected,
    /// The pool was reconnected.
    Reconnected,
    /// Connected to a pool (with `connect_response_xml`) or a command (without).
    Connected {
        /// `rsp:InputStreams`, if sent.
        input_streams: Vec<String>,
        /// `rsp:OutputStreams`, if sent.
        output_streams: Vec<String>,
        /// SESSION_CAPABILITY + RUNSPACEPOOL_INIT_DATA fragments (pool connect).
        connect_response_xml: Option<Vec<u8>>,
    },
}

impl PsrpResponseBody {
    /// The operation this body answers.
    pub fn action(&self) -> PsrpAction {
        match self {
            PsrpResponseBody::Created(_) => PsrpAction::Create,
            PsrpResponseBody::CommandStarted { .. } => PsrpAction::Command,
            PsrpResponseBody::Sent => PsrpAction::Send,
            PsrpResponseBody::Received { .. } => PsrpAction::Receive,
            PsrpResponseBody::Signalled => PsrpAction::Signal,
            PsrpResponseBody::Deleted => PsrpAction::Delete,
            PsrpResponseBody::Disconnected => PsrpAction::Disconnect,
            PsrpResponseBody::Reconnected => PsrpAction::Reconnect,
            PsrpResponseBody::Connected { .. } => PsrpAction::Connect,
        }
    }
}

/// A whole successful PSRP response.
#[derive(Debug, Clone, PartialEq)]
pub struct PsrpResponse {
    /// The operation this answers.
    pub action: PsrpAction,
    /// `uuid:...` of the response.
    pub message_id: String,
    /// The request's MessageID.
    pub relates_to: Option<String>,
    /// The body.
    pub body: PsrpResponseBody,
}

impl PsrpResponse {
    /// A response to the request with MessageID `relates_to`, with a fresh MessageID.
    pub fn new(relates_to: Option<String>, body: PsrpResponseBody) -> PsrpResponse {
        PsrpResponse {
            action: body.action(),
            message_id: new_message_id(),
            relates_to,
            body,
        }
    }
}

fn b64(data: &[u8], out: &mut String) {
    base64::engine::general_purpose::STANDARD.encode_string(data, out);
}

// ---------------------------------------------------------------------------------------
// Client side

/// Writes a PSRP request envelope.
pub fn write_request(req: &PsrpRequest) -> String {
    let data_len = match &req.body {
        PsrpRequestBody::Send(s) => s.iter().map(|s| s.data.len() / 3 * 4 + 200).sum(),
        PsrpRequestBody::Create {
            creation_xml: d, ..
        }
        | PsrpRequestBody::Command { arguments: d, .. } => d.len() / 3 * 4 + 200,
        _ => 256,
    };
    let mut w = Writer::with_capacity(1800 + data_len);
    let uses_rsp = !matches!(
        req.body,
        PsrpRequestBody::Delete | PsrpRequestBody::Reconnect
    );
    write_request_start(&mut w, req.header.action.uri(), &req.header, uses_rsp);
    let ps = [("xmlns", PS_NS)];
    match &req.body {
        PsrpRequestBody::Delete | PsrpRequestBody::Reconnect => {
            w.empty("s:Body", &[], true);
            w.close("s:Envelope");
            return w.out;
        }
        _ => w.open("s:Body", &[]),
    }
    match &req.body {
        PsrpRequestBody::Create {
            shell_id,
            input_streams,
            output_streams,
            idle_timeout,
            creation_xml,
        } => {
            w.open("rsp:Shell", &[("ShellId", shell_id)]);
            w.leaf("rsp:InputStreams", &[], &input_streams.join(" "));
            w.leaf("rsp:OutputStreams", &[], &output_streams.join(" "));
            if let Some(t) = idle_timeout {
                w.leaf("rsp:IdleTimeOut", &[], &format_duration(*t));
            }
            w.open("creationXml", &ps);
            b64(creation_xml, &mut w.out);
            w.close("creationXml");
            w.close("rsp:Shell");
        }
        PsrpRequestBody::Command {
            command_id,
            arguments,
        } => {
            w.open("rsp:CommandLine", &[("CommandId", command_id)]);
            w.empty("rsp:Command", &[], true);
            w.open("rsp:Arguments", &[]);
            b64(arguments, &mut w.out);
            w.close("rsp:Arguments");
            w.close("rsp:CommandLine");
        }
        PsrpRequestBody::Send(streams) => {
            w.open("rsp:Send", &[]);
            for s in streams {
                let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(3);
                if let Some(id) = &s.command_id {
                    attrs.push(("CommandId", id));
                }
                attrs.push(("Name", &s.name));
                if s.end {
                    attrs.push(("End", "true"));
                }
                w.open("rsp:Stream", &attrs);
                b64(&s.data, &mut w.out);
                w.close("rsp:Stream");
            }
            w.close("rsp:Send");
        }
        PsrpRequestBody::Receive {
            command_id,
            streams,
        } => {
            w.open("rsp:Receive", &[]);
            let joined = streams.join(" ");
            match command_id {
                Some(id) => w.leaf("rsp:DesiredStream", &[("CommandId", id)], &joined),
                None => w.leaf("rsp:DesiredStream", &[], &joined),
            }
            w.close("rsp:Receive");
        }
        PsrpRequestBody::Signal { command_id, code } => {
            match command_id {
                Some(id) => w.open("rsp:Signal", &[("CommandId", id)]),
                None => w.open("rsp:Signal", &[]),
            }
            w.leaf("rsp:Code", &[], code);
            w.close("rsp:Signal");
        }
        PsrpRequestBody::Disconnect { idle_timeout } => match idle_timeout {
            None => w.empty("rsp:Disconnect", &[], true),
            Some(t) => {
                w.open("rsp:Disconnect", &[]);
                w.leaf("rsp:IdleTimeOut", &[], &format_duration(*t));
                w.close("rsp:Disconnect");
            }
        },
        PsrpRequestBody::Connect {
            command_id,
            connect_xml,
        } => {
            let attrs: Vec<(&str, &str)> = command_id
                .as_deref()
                .map(|id| vec![("CommandId", id)])
                .unwrap_or_default();
            match connect_xml {
                None => w.empty("rsp:Connect", &attrs, true),
                Some(x) => {
                    w.open("rsp:Connect", &attrs);
                    w.open("connectXml", &ps);
                    b64(x, &mut w.out);
                    w.close("connectXml");
                    w.close("rsp:Connect");
                }
            }
        }
        PsrpRequestBody::Delete | PsrpRequestBody::Reconnect => unreachable!("handled above"),
    }
    w.close("s:Body");
    w.close("s:Envelope");
    w.out
}

fn b64_child(parent: &Element, ns: &str, name: &str) -> Result<Option<Vec<u8>>, ParseError> {
    match parent.child(ns, name) {
        None => Ok(None),
        Some(e) => {
            let mut out = Vec::new();
            decode_base64_into(&e.text, &mut out)?;
            Ok(Some(out))
        }
    }
}

/// Parses a response to a PSRP request of `action`: `Ok(Ok(_))` success, `Ok(Err(fault))`
/// a SOAP fault (for Receive, [`Fault::is_timeout`] means "ask again"), `Err(_)` unusable
/// bytes.
pub fn parse_response(
    action: PsrpAction,
    xml: &[u8],
) -> Result<Result<PsrpResponse, Fault>, ParseError> {
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
        PsrpAction::Create => PsrpResponseBody::Created(parse_shell_info(body)?),
        PsrpAction::Command => PsrpResponseBody::CommandStarted {
            command_id: parse_command_id(body)?,
        },
        PsrpAction::Send => PsrpResponseBody::Sent,
        PsrpAction::Receive => parse_received(body)?,
        PsrpAction::Signal => PsrpResponseBody::Signalled,
        PsrpAction::Delete => PsrpResponseBody::Deleted,
        PsrpAction::Disconnect => PsrpResponseBody::Disconnected,
        PsrpAction::Reconnect => PsrpResponseBody::Reconnected,
        PsrpAction::Connect => {
            let resp = body
                .child(ns::SHELL, "ConnectResponse")
                .ok_or(ParseError::Missing("rsp:ConnectResponse"))?;
            let names = |n: &str| {
                text(resp, ns::SHELL, n)
                    .map(split_names)
                    .unwrap_or_default()
            };
            PsrpResponseBody::Connected {
                input_streams: names("InputStreams"),
                output_streams: names("OutputStreams"),
                connect_response_xml: b64_child(resp, PS_NS, "connectResponseXml")?,
            }
        }
    };
    Ok(Ok(PsrpResponse {
        action,
        message_id,
        relates_to,
        body,
    }))
}

fn parse_received(body: &Element) -> Result<PsrpResponseBody, ParseError> {
    let resp = body
        .child(ns::SHELL, "ReceiveResponse")
        .ok_or(ParseError::Missing("rsp:ReceiveResponse"))?;
    let streams = resp
        .children(ns::SHELL, "Stream")
        .map(parse_stream)
        .collect::<Result<Vec<_>, _>>()?;
    let state = match resp.child(ns::SHELL, "CommandState") {
        None => None,
        Some(cs) => {
            let st = cs
                .attr("State")
                .ok_or(ParseError::Missing("State attribute of rsp:CommandState"))?;
            let state = match st {
                ns::state::DONE => CommandStateKind::Done,
                ns::state::RUNNING => CommandStateKind::Running,
                ns::state::PENDING => CommandStateKind::Pending,
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
            Some(PsrpCommandState {
                command_id: cs.attr("CommandId").map(str::to_string),
                state,
                exit_code,
            })
        }
    };
    Ok(PsrpResponseBody::Received { streams, state })
}

// ---------------------------------------------------------------------------------------
// Server side

/// Parses a PSRP request envelope. The resource URI is kept as sent: check it with
/// [`configuration_of`]. Operations other than the nine of [`PsrpAction`] give
/// [`ParseError::UnsupportedAction`].
pub fn parse_request(xml: &[u8]) -> Result<PsrpRequest, ParseError> {
    let root = xml::parse(xml)?;
    let (header, body) = envelope_parts(&root)?;
    let header = header.ok_or(ParseError::Missing("s:Header"))?;
    let uri = action_uri(header)?;
    let action =
        PsrpAction::from_uri(uri).ok_or_else(|| ParseError::UnsupportedAction(shorten(uri)))?;
    let header = parse_request_header(header)?.with_action(action);
    let body = parse_request_body(action, body)?;
    Ok(PsrpRequest { header, body })
}

fn optional_duration(parent: &Element, what: &'static str) -> Result<Option<Duration>, ParseError> {
    match parent.child(ns::SHELL, "IdleTimeOut") {
        None => Ok(None),
        Some(e) => Ok(Some(duration_of(e, what)?)),
    }
}

fn parse_request_body(action: PsrpAction, body: &Element) -> Result<PsrpRequestBody, ParseError> {
    let need = |name: &'static str, what: &'static str| {
        body.child(ns::SHELL, name).ok_or(ParseError::Missing(what))
    };
    Ok(match action {
        PsrpAction::Create => {
            let shell = need("Shell", "rsp:Shell")?;
            let shell_id = shell
                .attr("ShellId")
                .ok_or(ParseError::Missing("ShellId attribute of rsp:Shell"))?
                .to_string();
            let names = |n: &str| {
                text(shell, ns::SHELL, n)
                    .map(split_names)
                    .unwrap_or_default()
            };
            PsrpRequestBody::Create {
                shell_id,
                input_streams: names("InputStreams"),
                output_streams: names("OutputStreams"),
                idle_timeout: optional_duration(shell, "rsp:IdleTimeOut")?,
                creation_xml: b64_child(shell, PS_NS, "creationXml")?
                    .ok_or(ParseError::Missing("creationXml"))?,
            }
        }
        PsrpAction::Command => {
            let cl = need("CommandLine", "rsp:CommandLine")?;
            let command_id = cl
                .attr("CommandId")
                .ok_or(ParseError::Missing(
                    "CommandId attribute of rsp:CommandLine",
                ))?
                .to_string();
            PsrpRequestBody::Command {
                command_id,
                arguments: b64_child(cl, ns::SHELL, "Arguments")?
                    .ok_or(ParseError::Missing("rsp:Arguments"))?,
            }
        }
        PsrpAction::Send => PsrpRequestBody::Send(
            need("Send", "rsp:Send")?
                .children(ns::SHELL, "Stream")
                .map(parse_stream)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        PsrpAction::Receive => {
            let ds = need("Receive", "rsp:Receive")?
                .child(ns::SHELL, "DesiredStream")
                .ok_or(ParseError::Missing("rsp:DesiredStream"))?;
            PsrpRequestBody::Receive {
                command_id: ds.attr("CommandId").map(str::to_string),
                streams: split_names(&ds.text),
            }
        }
        PsrpAction::Signal => {
            let sig = need("Signal", "rsp:Signal")?;
            PsrpRequestBody::Signal {
                command_id: sig.attr("CommandId").map(str::to_string),
                code: text(sig, ns::SHELL, "Code")
                    .ok_or(ParseError::Missing("rsp:Code"))?
                    .to_string(),
            }
        }
        PsrpAction::Delete => PsrpRequestBody::Delete,
        PsrpAction::Reconnect => PsrpRequestBody::Reconnect,
        PsrpAction::Disconnect => PsrpRequestBody::Disconnect {
            idle_timeout: optional_duration(
                need("Disconnect", "rsp:Disconnect")?,
                "rsp:IdleTimeOut",
            )?,
        },
        PsrpAction::Connect => {
            let c = need("Connect", "rsp:Connect")?;
            PsrpRequestBody::Connect {
                command_id: c.attr("CommandId").map(str::to_string),
                connect_xml: b64_child(c, PS_NS, "connectXml")?,
            }
        }
    })
}

/// Writes a successful PSRP response envelope in the shape Windows sends.
pub fn write_response(resp: &PsrpResponse) -> String {
    let data_len: usize = match &resp.body {
        PsrpResponseBody::Received { streams, .. } => {
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
    let decls: &[(&str, &str)] = match resp.body {
        PsrpResponseBody::Received { .. } => &[s, a, wm, rsp, p],
        PsrpResponseBody::Deleted
        | PsrpResponseBody::Disconnected
        | PsrpResponseBody::Reconnected => &[s, a, wm, p],
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
        PsrpResponseBody::Created(info) => write_created(&mut w, info),
        PsrpResponseBody::CommandStarted { command_id } => {
            w.open("rsp:CommandResponse", &[]);
            w.leaf("rsp:CommandId", &[], command_id);
            w.close("rsp:CommandResponse");
        }
        PsrpResponseBody::Sent => w.empty("rsp:SendResponse", &[], false),
        PsrpResponseBody::Received { streams, state } => {
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
                b64(&st.data, &mut w.out);
                w.close("rsp:Stream");
            }
            if let Some(cs) = state {
                let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(2);
                if let Some(id) = &cs.command_id {
                    attrs.push(("CommandId", id));
                }
                attrs.push(("State", cs.state.uri()));
                w.open("rsp:CommandState", &attrs);
                if let Some(code) = cs.exit_code {
                    w.leaf("rsp:ExitCode", &[], &code.to_string());
                }
                w.close("rsp:CommandState");
            }
            w.close("rsp:ReceiveResponse");
        }
        PsrpResponseBody::Signalled => w.empty("rsp:SignalResponse", &[], false),
        PsrpResponseBody::Deleted
        | PsrpResponseBody::Disconnected
        | PsrpResponseBody::Reconnected => {}
        PsrpResponseBody::Connected {
            input_streams,
            output_streams,
            connect_response_xml,
        } => match connect_response_xml {
            None => w.empty("rsp:ConnectResponse", &[], false),
            Some(xml) => {
                w.open("rsp:ConnectResponse", &[]);
                w.leaf("rsp:InputStreams", &[], &input_streams.join(" "));
                w.leaf("rsp:OutputStreams", &[], &output_streams.join(" "));
                w.open("connectResponseXml", &[("xmlns", PS_NS)]);
                b64(xml, &mut w.out);
                w.close("connectResponseXml");
                w.close("rsp:ConnectResponse");
            }
        },
    }
    w.close("s:Body");
    w.close("s:Envelope");
    w.out
}

fn write_created(w: &mut Writer, info: &ShellInfo) {
    w.open("x:ResourceCreated", &[]);
    w.leaf("a:Address", &[], &info.address);
    w.open("a:ReferenceParameters", &[]);
    w.leaf("w:ResourceURI", &[], &info.resource_uri);
    w.open("w:SelectorSet", &[]);
    w.leaf("w:Selector", &[("Name", "ShellId")], &info.shell_id);
    w.close("w:SelectorSet");
    w.close("a:ReferenceParameters");
    w.close("x:ResourceCreated");
    w.open("rsp:Shell", &[("xmlns:rsp", ns::SHELL)]);
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
    // Fixed values Windows reports for a PowerShell shell.
    w.leaf("rsp:CompressionMode", &[], "NoCompression");
    w.leaf("rsp:Encoding", &[], "UTF8");
    w.leaf("rsp:BufferMode", &[], "Block");
    w.leaf("rsp:State", &[], "Connected");
    w.leaf("rsp:ShellRunTime", &[], "P0DT0H0M0S");
    w.leaf("rsp:ShellInactivity", &[], "P0DT0H0M0S");
    w.close("rsp:Shell");
}
