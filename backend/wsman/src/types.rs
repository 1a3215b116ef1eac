//! Typed values of WinRS requests, responses and faults, shared by the client and server sides.

use std::time::Duration;

/// The operation a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open a shell (WS-Transfer Create).
    Create,
    /// Start a command in a shell.
    Command,
    /// Send input to a command.
    Send,
    /// Receive output of a command (a long poll).
    Receive,
    /// Send a signal (Ctrl+C, Ctrl+Break, terminate) to a command.
    Signal,
    /// Close a shell (WS-Transfer Delete).
    Delete,
}

impl Action {
    /// The action URI of the request.
    pub fn uri(self) -> &'static str {
        use crate::ns::action::*;
        match self {
            Action::Create => CREATE,
            Action::Command => COMMAND,
            Action::Send => SEND,
            Action::Receive => RECEIVE,
            Action::Signal => SIGNAL,
            Action::Delete => DELETE,
        }
    }

    /// The action URI of the matching successful response (`...Response`).
    pub fn response_uri(self) -> String {
        format!("{}Response", self.uri())
    }

    /// The action for a request action URI.
    pub fn from_uri(uri: &str) -> Option<Action> {
        [
            Action::Create,
            Action::Command,
            Action::Send,
            Action::Receive,
            Action::Signal,
            Action::Delete,
        ]
        .into_iter()
        .find(|a| a.uri() == uri)
    }
}

/// The SOAP header of a WinRS request.
pub type Header = HeaderOf<Action>;

/// The SOAP header of a request whose operations are the enum `A` ([`Action`] for WinRS,
/// [`crate::psrp::PsrpAction`] for PowerShell remoting).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderOf<A> {
    /// What the request asks for.
    pub action: A,
    /// Resource URI, normally [`crate::ns::RESOURCE_CMD`].
    pub resource_uri: String,
    /// The endpoint address (`wsa:To`), e.g. `https://host:5986/wsman`.
    pub to: String,
    /// `uuid:...`; the response's RelatesTo repeats it.
    pub message_id: String,
    /// Largest response envelope the client accepts, in bytes (clients send 153600).
    pub max_envelope_size: u32,
    /// How long the server may hold the request (a Receive's long poll).
    pub operation_timeout: Duration,
    /// `xml:lang` of Locale and DataLocale, e.g. `en-US`.
    pub locale: String,
    /// `wsmv:SessionId` (`uuid:...`), if the client sends one.
    pub session_id: Option<String>,
    /// The `ShellId` selector: present on every request after Create.
    pub shell_id: Option<String>,
    /// The OptionSet, in order: (Name, value).
    pub options: Vec<(String, String)>,
}

/// The body of a Create request: the shell to open.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShellSpec {
    /// Input stream names (`stdin`).
    pub input_streams: Vec<String>,
    /// Output stream names (`stdout stderr`).
    pub output_streams: Vec<String>,
    /// Working directory of the shell's commands.
    pub working_directory: Option<String>,
    /// Environment variables, in order.
    pub environment: Vec<(String, String)>,
    /// Idle timeout after which the server deletes the shell.
    pub idle_timeout: Option<Duration>,
}

/// The body of a Command request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandLine {
    /// The program, e.g. `cmd.exe` or `powershell.exe`.
    pub command: String,
    /// Its arguments, one `rsp:Arguments` element each.
    pub arguments: Vec<String>,
}

/// One `rsp:Stream` element: bytes for or from a named stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamData {
    /// `stdin`, `stdout` or `stderr`.
    pub name: String,
    /// The command the stream belongs to.
    pub command_id: Option<String>,
    /// `End="true"`: the stream is closed after these bytes.
    pub end: bool,
    /// The decoded bytes.
    pub data: Vec<u8>,
}

/// A signal code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalCode {
    /// Ctrl+C.
    CtrlC,
    /// Ctrl+Break.
    CtrlBreak,
    /// Terminate the command.
    Terminate,
    /// Any other code URI, kept as sent.
    Other(String),
}

impl SignalCode {
    /// The code URI.
    pub fn uri(&self) -> &str {
        match self {
            SignalCode::CtrlC => crate::ns::signal::CTRL_C,
            SignalCode::CtrlBreak => crate::ns::signal::CTRL_BREAK,
            SignalCode::Terminate => crate::ns::signal::TERMINATE,
            SignalCode::Other(s) => s,
        }
    }

    /// The code for a URI.
    pub fn from_uri(uri: &str) -> SignalCode {
        match uri {
            crate::ns::signal::CTRL_C => SignalCode::CtrlC,
            crate::ns::signal::CTRL_BREAK => SignalCode::CtrlBreak,
            crate::ns::signal::TERMINATE => SignalCode::Terminate,
            other => SignalCode::Other(other.to_string()),
        }
    }
}

/// The body of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// Open a shell.
    Create(ShellSpec),
    /// Start a command.
    Command(CommandLine),
    /// Send input (usually one stdin stream).
    Send(Vec<StreamData>),
    /// Receive output: the command and the desired stream names.
    Receive {
        /// The command whose output is wanted (`None`: the shell's).
        command_id: Option<String>,
        /// Desired stream names, e.g. `stdout stderr`.
        streams: Vec<String>,
        /// The `SequenceId` attribute of `rsp:Receive` (MS-WSMV, an xs:unsignedLong), for
        /// acknowledged output: a client numbers its Receives 0, 1, 2, ...; Receive `n + 1`
        /// acknowledges response `n` (the server may forget it), a Receive repeating `n`
        /// asks for response `n` again. `None`: not written / not sent (no acknowledgement).
        sequence_id: Option<u64>,
    },
    /// Signal a command.
    Signal {
        /// The command to signal.
        command_id: Option<String>,
        /// The signal.
        code: SignalCode,
    },
    /// Close the shell (empty body).
    Delete,
}

/// A whole request envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The SOAP header.
    pub header: Header,
    /// The SOAP body.
    pub body: RequestBody,
}

/// What a Create response says about the new shell.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShellInfo {
    /// The shell id (also the `ShellId` selector of later requests).
    pub shell_id: String,
    /// The resource URI of the shell.
    pub resource_uri: String,
    /// The endpoint address in `x:ResourceCreated`.
    pub address: String,
    /// The account that owns the shell.
    pub owner: Option<String>,
    /// The client's address as the server saw it.
    pub client_ip: Option<String>,
    /// The shell's idle timeout.
    pub idle_timeout: Option<Duration>,
    /// Input stream names.
    pub input_streams: Vec<String>,
    /// Output stream names.
    pub output_streams: Vec<String>,
}

/// `rsp:CommandState` of a Receive response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandState {
    /// The command.
    pub command_id: Option<String>,
    /// True for `.../CommandState/Done`.
    pub done: bool,
    /// `rsp:ExitCode`, present when done.
    pub exit_code: Option<i32>,
}

/// The body of a successful response.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// A shell was created.
    Created(ShellInfo),
    /// A command was started.
    CommandStarted {
        /// Its id.
        command_id: String,
    },
    /// Input was accepted.
    Sent,
    /// Output: streams in order, and the command state if the server sent one.
    Received {
        /// The `rsp:Stream` elements, in document order.
        streams: Vec<StreamData>,
        /// The `rsp:CommandState`.
        state: Option<CommandState>,
    },
    /// The signal was delivered.
    Signalled,
    /// The shell was deleted.
    Deleted,
}

/// A whole successful response envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The operation this answers.
    pub action: Action,
    /// `uuid:...` of the response.
    pub message_id: String,
    /// The request's MessageID.
    pub relates_to: Option<String>,
    /// The body.
    pub body: ResponseBody,
}

/// A SOAP fault with its WSMan detail, as servers send with HTTP 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `s:Sender` or `s:Receiver`.
    pub code: String,
    /// The subcode, e.g. `w:TimedOut`, `w:InvalidSelectors`.
    pub subcode: Option<String>,
    /// `s:Reason/s:Text`.
    pub reason: String,
    /// `w:FaultDetail` URI, if any.
    pub detail: Option<String>,
    /// The WSManFault `Code` attribute (see [`crate::ns::code`]); missing in some faults.
    pub wsman_code: Option<u32>,
    /// The WSManFault `Machine` attribute.
    pub machine: Option<String>,
    /// `f:Message`, trimmed.
    pub message: String,
    /// The request's MessageID.
    pub relates_to: Option<String>,
}

impl Fault {
    /// True for the Receive long-poll timeout, which only means "no output yet: ask again".
    pub fn is_timeout(&self) -> bool {
        self.wsman_code == Some(crate::ns::code::OPERATION_TIMEOUT)
            || self.subcode.as_deref() == Some("w:TimedOut")
    }
}

/// Why an envelope could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes are not well-formed XML (or use a forbidden construct such as a DTD).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A required element or attribute is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An element has a value that cannot be used.
    #[error("invalid {what}: {value}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// The offending value (shortened).
        value: String,
    },
    /// The envelope is nested deeper or is larger than the parser allows.
    #[error("envelope too large or too deeply nested")]
    TooLarge,
    /// The envelope is well formed but asks for an operation this crate does not model
    /// (e.g. WS-Transfer Get or Enumerate); the value is the `wsa:Action` URI.
    #[error("unsupported action {0}: only the WinRS shell operations are understood")]
    UnsupportedAction(String),
}

/// A fresh `uuid:...` message id (random, version-4 shaped, upper case like Windows).
///
/// The randomness comes from std's per-process hash seed and a counter, so this crate needs
/// no RNG dependency; message ids only need to be unique, not unpredictable.
pub fn new_message_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED.get_or_init(std::collections::hash_map::RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let half = |salt: u64| {
        let mut h = seed.build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.finish()
    };
    let v = (u128::from(half(1)) << 64) | u128::from(half(2));
    // Set the version (4) and variant (10xx) bits.
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{v:032X}");
    format!(
        "uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl<A> HeaderOf<A> {
    /// The same header for another kind of action.
    pub fn with_action<B>(self, action: B) -> HeaderOf<B> {
        HeaderOf {
            action,
            resource_uri: self.resource_uri,
            to: self.to,
            message_id: self.message_id,
            max_envelope_size: self.max_envelope_size,
            operation_timeout: self.operation_timeout,
            locale: self.locale,
            session_id: self.session_id,
            shell_id: self.shell_id,
            options: self.options,
        }
    }

    /// The value of an OptionSet entry, if present.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Header {
    /// A header with the values pywinrm and pypsrp send: the cmd resource URI, a fresh
    /// MessageID, MaxEnvelopeSize 153600, OperationTimeout 20 s, locale `en-US`, no session
    /// id, no selector and no options.
    pub fn new(action: Action, to: impl Into<String>) -> Header {
        Header {
            action,
            resource_uri: crate::ns::RESOURCE_CMD.to_string(),
            to: to.into(),
            message_id: new_message_id(),
            max_envelope_size: 153_600,
            operation_timeout: Duration::from_secs(20),
            locale: "en-US".to_string(),
            session_id: None,
            shell_id: None,
            options: Vec::new(),
        }
    }
}

impl RequestBody {
    /// The operation this body belongs to.
    pub fn action(&self) -> Action {
        match self {
            RequestBody::Create(_) => Action::Create,
            RequestBody::Command(_) => Action::Command,
            RequestBody::Send(_) => Action::Send,
            RequestBody::Receive { .. } => Action::Receive,
            RequestBody::Signal { .. } => Action::Signal,
            RequestBody::Delete => Action::Delete,
        }
    }
}

impl Request {
    /// A request with a [`Header::new`] header for `body`'s action, addressed to `to`
    /// (`https://host:5986/wsman`), with the `ShellId` selector if given. Add options with
    /// [`Request::with_option`].
    pub fn new(to: impl Into<String>, shell_id: Option<&str>, body: RequestBody) -> Request {
        let mut header = Header::new(body.action(), to);
        header.shell_id = shell_id.map(str::to_string);
        Request { header, body }
    }

    /// Adds an OptionSet entry (e.g. [`crate::ns::option::CODEPAGE`], `"65001"`).
    pub fn with_option(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.header.options.push((name.into(), value.into()));
        self
    }

    /// The value of an OptionSet entry, if present.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.header
            .options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl ResponseBody {
    /// The operation this body answers.
    pub fn action(&self) -> Action {
        match self {
            ResponseBody::Created(_) => Action::Create,
            ResponseBody::CommandStarted { .. } => Action::Command,
            ResponseBody::Sent => Action::Send,
            ResponseBody::Received { .. } => Action::Receive,
            ResponseBody::Signalled => Action::Signal,
            ResponseBody::Deleted => Action::Delete,
        }
    }
}

impl Response {
    /// A response to the request with MessageID `relates_to`, with a fresh MessageID.
    pub fn new(relates_to: Option<String>, body: ResponseBody) -> Response {
        Response {
            action: body.action(),
            message_id: new_message_id(),
            relates_to,
            body,
        }
    }
}

/// Formats a duration as an xs:duration (`PT20S`, `PT0.500S`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}.{:03}S", ms / 1000, ms % 1000)
    }
}

/// Parses the xs:duration forms WinRM uses (`PT20S`, `PT7200.000S`, `P0DT0H0M0S`, `PT1M`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut secs = 0f64;
    let mut num = String::new();
    for c in date.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'D' => {
                secs += num.parse::<f64>().ok()? * 86400.0;
                num.clear();
            }
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    num.clear();
    for c in time.chars() {
        let unit = match c {
            '0'..='9' | '.' => {
                num.push(c);
                continue;
            }
            'H' => 3600.0,
            'M' => 60.0,
            'S' => 1.0,
            _ => return None,
        };
        secs += num.parse::<f64>().ok()? * unit;
        num.clear();
    }
    if !num.is_empty() || !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // An absurd value (PT99999999999999999999S) is not a duration, not a panic.
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("PT20S"), Some(Duration::from_secs(20)));
        assert_eq!(
            parse_duration("PT7200.000S"),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(parse_duration("P0DT0H0M0S"), Some(Duration::ZERO));
        assert_eq!(
            parse_duration("P1DT1H1M1S"),
            Some(Duration::from_secs(90061))
        );
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("20"), None);
        assert_eq!(parse_duration("PTXS"), None);
        assert_eq!(parse_duration("PT9999999999999999999999999920S"), None);
        assert_eq!(parse_duration("P99999999999999999999999DT0S"), None);
        assert_eq!(format_duration(Duration::from_secs(20)), "PT20S");
        assert_eq!(format_duration(Duration::from_millis(1500)), "PT1.500S");
    }

    #[test]
    fn actions_map_both_ways() {
        for a in [
            Action::Create,
            Action::Command,
            Action::Send,
            Action::Receive,
            Action::Signal,
            Action::Delete,
        ] {
            assert_eq!(Action::from_uri(a.uri()), Some(a));
        }
        assert_eq!(Action::from_uri("http://example/Unknown"), None);
        assert!(Action::Receive.response_uri().ends_with("/ReceiveResponse"));
    }

    #[test]
    fn message_ids_are_unique_uuids() {
        let a = new_message_id();
        let b = new_message_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 41, "{a}");
        let hex = a.strip_prefix("uuid:").unwrap();
        let groups: Vec<_> = hex.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&hex[14..15], "4", "version nibble of {a}");
        assert!(
            matches!(&hex[19..20], "8" | "9" | "A" | "B"),
            "variant of {a}"
        );
    }
}
