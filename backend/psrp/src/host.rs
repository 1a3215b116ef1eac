//! Host calls (MS-PSRP 2.2.2.15/16, 2.2.3.17): the server asks the client's host to write,
//! read, prompt, or change the RawUI, and (unless the call is void) waits for the answer.

use crate::clixml::{enum_value, Object, Value};
use crate::records::RecordError;

/// The call id of void methods: never answer them.
pub const VOID_CALL_ID: i64 = -100;

/// Type name of the method id enum.
pub const METHOD_ID_TYPE: &str = "System.Management.Automation.Remoting.RemoteHostMethodId";

/// Names of RemoteHostMethodId values 1..=56, in order (PowerShell's `RemoteHostMethodInfo`).
const METHODS: [&str; 56] = [
    "GetName",
    "GetVersion",
    "GetInstanceId",
    "GetCurrentCulture",
    "GetCurrentUICulture",
    "SetShouldExit",
    "EnterNestedPrompt",
    "ExitNestedPrompt",
    "NotifyBeginApplication",
    "NotifyEndApplication",
    "ReadLine",
    "ReadLineAsSecureString",
    "Write1",
    "Write2",
    "WriteLine1",
    "WriteLine2",
    "WriteLine3",
    "WriteErrorLine",
    "WriteDebugLine",
    "WriteProgress",
    "WriteVerboseLine",
    "WriteWarningLine",
    "Prompt",
    "PromptForCredential1",
    "PromptForCredential2",
    "PromptForChoice",
    "GetForegroundColor",
    "SetForegroundColor",
    "GetBackgroundColor",
    "SetBackgroundColor",
    "GetCursorPosition",
    "SetCursorPosition",
    "GetWindowPosition",
    "SetWindowPosition",
    "GetCursorSize",
    "SetCursorSize",
    "GetBufferSize",
    "SetBufferSize",
    "GetWindowSize",
    "SetWindowSize",
    "GetWindowTitle",
    "SetWindowTitle",
    "GetMaxWindowSize",
    "GetMaxPhysicalWindowSize",
    "GetKeyAvailable",
    "ReadKey",
    "FlushInputBuffer",
    "SetBufferContents1",
    "SetBufferContents2",
    "GetBufferContents",
    "ScrollBufferContents",
    "PushRunspace",
    "PopRunspace",
    "GetIsRunspacePushed",
    "GetRunspace",
    "PromptForChoiceMultipleSelection",
];

/// A RemoteHostMethodId (1–56).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostMethodId(i32);

impl HostMethodId {
    /// ReadLine (Read-Host).
    pub const READ_LINE: HostMethodId = HostMethodId(11);
    /// ReadLineAsSecureString (Read-Host -AsSecureString).
    pub const READ_LINE_AS_SECURE_STRING: HostMethodId = HostMethodId(12);
    /// Write1 (text).
    pub const WRITE1: HostMethodId = HostMethodId(13);
    /// Write2 (fg, bg, text).
    pub const WRITE2: HostMethodId = HostMethodId(14);
    /// WriteLine1 (empty line).
    pub const WRITE_LINE1: HostMethodId = HostMethodId(15);
    /// WriteLine2 (text).
    pub const WRITE_LINE2: HostMethodId = HostMethodId(16);
    /// WriteLine3 (fg, bg, text).
    pub const WRITE_LINE3: HostMethodId = HostMethodId(17);
    /// WriteErrorLine.
    pub const WRITE_ERROR_LINE: HostMethodId = HostMethodId(18);
    /// Prompt.
    pub const PROMPT: HostMethodId = HostMethodId(23);
    /// PromptForCredential2 (Get-Credential).
    pub const PROMPT_FOR_CREDENTIAL2: HostMethodId = HostMethodId(25);
    /// PromptForChoice.
    pub const PROMPT_FOR_CHOICE: HostMethodId = HostMethodId(26);
    /// ReadKey.
    pub const READ_KEY: HostMethodId = HostMethodId(46);
    /// SetShouldExit (`exit N`).
    pub const SET_SHOULD_EXIT: HostMethodId = HostMethodId(6);

    /// The id of a wire value, if it is one of the 56.
    pub fn new(v: i32) -> Option<HostMethodId> {
        (1..=56).contains(&v).then_some(HostMethodId(v))
    }

    /// The id of a method name (`ReadLine`).
    pub fn from_name(name: &str) -> Option<HostMethodId> {
        METHODS
            .iter()
            .position(|m| *m == name)
            .map(|i| HostMethodId(i as i32 + 1))
    }

    /// The wire value.
    pub fn value(self) -> i32 {
        self.0
    }

    /// The method's name.
    pub fn name(self) -> &'static str {
        METHODS[(self.0 - 1) as usize]
    }

    /// The `mi` object as PowerShell serializes it.
    pub fn to_value(self) -> Value {
        enum_value(METHOD_ID_TYPE, self.name(), self.0)
    }
}

/// A host call from the server (RUNSPACEPOOL_HOST_CALL or PIPELINE_HOST_CALL).
#[derive(Debug, Clone, PartialEq)]
pub struct HostCall {
    /// `ci`: the call id; [`VOID_CALL_ID`] for calls that get no answer.
    pub call_id: i64,
    /// `mi`.
    pub method: HostMethodId,
    /// `mp`: the parameters in signature order.
    pub params: Vec<Value>,
}

impl HostCall {
    /// True if the server waits for an answer.
    pub fn wants_reply(&self) -> bool {
        self.call_id != VOID_CALL_ID
    }

    /// Reads a host call message.
    pub fn from_value(v: &Value) -> Result<HostCall, RecordError> {
        const R: &str = "host call";
        let call_id = v
            .get("ci")
            .and_then(Value::as_i64)
            .ok_or(RecordError::Property {
                record: R,
                property: "ci",
            })?;
        let mi = v
            .get("mi")
            .and_then(Value::as_i64)
            .ok_or(RecordError::Property {
                record: R,
                property: "mi",
            })?;
        let method =
            i32::try_from(mi)
                .ok()
                .and_then(HostMethodId::new)
                .ok_or(RecordError::Unknown {
                    record: R,
                    value: mi,
                })?;
        let params = match v.get("mp") {
            None | Some(Value::Nil) => Vec::new(),
            Some(p) => p
                .items()
                .ok_or(RecordError::Property {
                    record: R,
                    property: "mp",
                })?
                .to_vec(),
        };
        Ok(HostCall {
            call_id,
            method,
            params,
        })
    }

    /// The message data as a server writes it.
    pub fn to_value(&self) -> Value {
        Object::new()
            .with_ms("ci", Value::I64(self.call_id))
            .with_ms("mi", self.method.to_value())
            .with_ms("mp", crate::clixml::list_value(&[], self.params.clone()))
            .into_value()
    }

    /// The text of a Write*/WriteLine*/Write*Line call, with the colours of Write2 and
    /// WriteLine3, and whether a newline follows. None for other methods.
    pub fn write_text(&self) -> Option<WriteText> {
        let s = |i: usize| self.params.get(i).map(Value::display).unwrap_or_default();
        let c = |i: usize| self.params.get(i).and_then(Value::as_i32);
        let (text, fg, bg, newline) = match self.method.value() {
            13 => (s(0), None, None, false),
            14 => (s(2), c(0), c(1), false),
            15 => (String::new(), None, None, true),
            16 | 18 | 19 | 21 | 22 => (s(0), None, None, true),
            17 => (s(2), c(0), c(1), true),
            _ => return None,
        };
        Some(WriteText {
            text,
            foreground: fg,
            background: bg,
            newline,
        })
    }
}

/// What a write host call asks to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteText {
    /// The text.
    pub text: String,
    /// ConsoleColor of the text, if given.
    pub foreground: Option<i32>,
    /// ConsoleColor of the background, if given.
    pub background: Option<i32>,
    /// A newline follows.
    pub newline: bool,
}

/// The answer to a host call (RUNSPACEPOOL_HOST_RESPONSE or PIPELINE_HOST_RESPONSE).
#[derive(Debug, Clone, PartialEq)]
pub struct HostResponse {
    /// `ci` of the call.
    pub call_id: i64,
    /// `mi` of the call.
    pub method: HostMethodId,
    /// `mr`: the return value (None for a void method or a null result).
    pub result: Option<Value>,
    /// `me`: an ErrorRecord when the host method failed.
    pub error: Option<Value>,
}

impl HostResponse {
    /// A successful answer to `call`.
    pub fn ok(call: &HostCall, result: Option<Value>) -> HostResponse {
        HostResponse {
            call_id: call.call_id,
            method: call.method,
            result,
            error: None,
        }
    }

    /// The message data as a client writes it.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new()
            .with_ms("ci", Value::I64(self.call_id))
            .with_ms("mi", self.method.to_value());
        if let Some(r) = &self.result {
            o = o.with_ms("mr", r.clone());
        }
        if let Some(e) = &self.error {
            o = o.with_ms("me", e.clone());
        }
        o.into_value()
    }

    /// Reads a host response message.
    pub fn from_value(v: &Value) -> Result<HostResponse, RecordError> {
        let call = HostCall::from_value(v)?;
        Ok(HostResponse {
            call_id: call.call_id,
            method: call.method,
            result: v.get("mr").cloned(),
            error: v.get("me").cloned(),
        })
    }
}
