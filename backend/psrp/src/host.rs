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

/// A field of a Prompt call (System.Management.Automation.Host.FieldDescription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    /// `name`: the key of the reply's hashtable.
    pub name: String,
    /// `label` (may mark a hot key with `&`).
    pub label: String,
    /// `parameterTypeFullName`, e.g. `System.String`, `System.Security.SecureString`,
    /// `System.Management.Automation.PSCredential`: decides the reply value's type.
    pub type_full_name: String,
    /// `helpMessage`.
    pub help_message: String,
    /// `isMandatory`.
    pub is_mandatory: bool,
}

/// A choice of PromptForChoice (System.Management.Automation.Host.ChoiceDescription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceDescription {
    /// `label`, with `&` before the hot key (`&Yes`).
    pub label: String,
    /// `helpMessage`.
    pub help_message: String,
}

impl ChoiceDescription {
    /// The hot key: the character after the first `&`, upper-cased.
    pub fn hot_key(&self) -> Option<char> {
        let i = self.label.find('&')?;
        self.label[i + 1..]
            .chars()
            .next()
            .map(|c| c.to_ascii_uppercase())
    }

    /// The label without the `&` marker.
    pub fn text(&self) -> String {
        self.label.replacen('&', "", 1)
    }
}

/// What a host call asks the client to do, typed (the methods a Windows server sends; see
/// PSRP.md 5.2).
#[derive(Debug, Clone, PartialEq)]
pub enum HostRequest {
    /// Print text (Write1/2, WriteLine1/2/3, WriteErrorLine, WriteDebugLine,
    /// WriteVerboseLine, WriteWarningLine).
    Write(WriteText),
    /// ReadLine (Read-Host): reply with a string.
    ReadLine,
    /// ReadLineAsSecureString: reply with a SecureString.
    ReadLineAsSecureString,
    /// Prompt: reply with a hashtable field name → value.
    Prompt {
        /// Caption.
        caption: String,
        /// Message.
        message: String,
        /// The fields to ask for.
        fields: Vec<FieldDescription>,
    },
    /// PromptForCredential1/2 (Get-Credential): reply with a PSCredential.
    PromptForCredential {
        /// Caption.
        caption: String,
        /// Message.
        message: String,
        /// Suggested user name.
        user_name: String,
        /// Target name.
        target_name: String,
        /// PSCredentialTypes (PromptForCredential2 only).
        allowed_types: Option<i32>,
        /// PSCredentialUIOptions (PromptForCredential2 only).
        options: Option<i32>,
    },
    /// PromptForChoice: reply with the index chosen.
    PromptForChoice {
        /// Caption.
        caption: String,
        /// Message.
        message: String,
        /// The choices.
        choices: Vec<ChoiceDescription>,
        /// The default index (-1 for none).
        default: i32,
    },
    /// PromptForChoiceMultipleSelection: reply with the indexes chosen.
    PromptForChoiceMultiple {
        /// Caption.
        caption: String,
        /// Message.
        message: String,
        /// The choices.
        choices: Vec<ChoiceDescription>,
        /// The default indexes.
        defaults: Vec<i32>,
    },
    /// ReadKey: reply with a KeyInfo.
    ReadKey {
        /// ReadKeyOptions flags (1 AllowCtrlC, 2 NoEcho, 4 IncludeKeyDown, 8 IncludeKeyUp).
        options: i32,
    },
    /// WriteProgress.
    Progress {
        /// The source id.
        source_id: i64,
        /// The record.
        record: crate::records::ProgressRecord,
    },
    /// SetShouldExit (`exit N`).
    SetShouldExit(i32),
    /// Anything else (RawUI setters, buffer calls, PopRunspace, …): the raw call.
    Other,
}

fn param_str(p: &[Value], i: usize) -> String {
    p.get(i).map(Value::display).unwrap_or_default()
}

fn choices(v: Option<&Value>) -> Vec<ChoiceDescription> {
    v.and_then(Value::items)
        .unwrap_or_default()
        .iter()
        .map(|c| ChoiceDescription {
            label: c.get("label").map(Value::display).unwrap_or_default(),
            help_message: c.get("helpMessage").map(Value::display).unwrap_or_default(),
        })
        .collect()
}

impl HostCall {
    /// The call, typed.
    pub fn request(&self) -> HostRequest {
        let p = &self.params;
        let int = |i: usize| p.get(i).and_then(Value::as_i32);
        if let Some(w) = self.write_text() {
            return HostRequest::Write(w);
        }
        match self.method.name() {
            "ReadLine" => HostRequest::ReadLine,
            "ReadLineAsSecureString" => HostRequest::ReadLineAsSecureString,
            "Prompt" => HostRequest::Prompt {
                caption: param_str(p, 0),
                message: param_str(p, 1),
                fields: p
                    .get(2)
                    .and_then(Value::items)
                    .unwrap_or_default()
                    .iter()
                    .map(|f| {
                        let s = |n: &str| f.get(n).map(Value::display).unwrap_or_default();
                        FieldDescription {
                            name: s("name"),
                            label: s("label"),
                            type_full_name: s("parameterTypeFullName"),
                            help_message: s("helpMessage"),
                            is_mandatory: f
                                .get("isMandatory")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        }
                    })
                    .collect(),
            },
            "PromptForCredential1" | "PromptForCredential2" => HostRequest::PromptForCredential {
                caption: param_str(p, 0),
                message: param_str(p, 1),
                user_name: param_str(p, 2),
                target_name: param_str(p, 3),
                allowed_types: int(4),
                options: int(5),
            },
            "PromptForChoice" => HostRequest::PromptForChoice {
                caption: param_str(p, 0),
                message: param_str(p, 1),
                choices: choices(p.get(2)),
                default: int(3).unwrap_or(-1),
            },
            "PromptForChoiceMultipleSelection" => HostRequest::PromptForChoiceMultiple {
                caption: param_str(p, 0),
                message: param_str(p, 1),
                choices: choices(p.get(2)),
                defaults: p
                    .get(3)
                    .and_then(Value::items)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_i32)
                    .collect(),
            },
            "ReadKey" => HostRequest::ReadKey {
                options: int(0).unwrap_or(0),
            },
            "WriteProgress" => match (
                p.first().and_then(Value::as_i64),
                p.get(1).map(crate::records::ProgressRecord::from_value),
            ) {
                (Some(source_id), Some(Ok(record))) => HostRequest::Progress { source_id, record },
                _ => HostRequest::Other,
            },
            "SetShouldExit" => HostRequest::SetShouldExit(int(0).unwrap_or(0)),
            _ => HostRequest::Other,
        }
    }
}

/// A key press for a ReadKey reply (System.Management.Automation.Host.KeyInfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Windows virtual key code (65 = A).
    pub virtual_key_code: i32,
    /// The character (a UTF-16 unit).
    pub character: u16,
    /// ControlKeyStates flags (8 LeftCtrl, 16 Shift, 128 CapsLock, …).
    pub control_key_state: i32,
    /// Key down (true) or up.
    pub key_down: bool,
}

impl HostResponse {
    /// The answer to ReadLine.
    pub fn read_line(call: &HostCall, text: &str) -> HostResponse {
        HostResponse::ok(call, Some(Value::str(text)))
    }

    /// The answer to ReadLineAsSecureString: the text encrypted with the session key.
    pub fn secure_string(call: &HostCall, ciphertext: Vec<u8>) -> HostResponse {
        HostResponse::ok(call, Some(Value::SecureString(ciphertext)))
    }

    /// The answer to Prompt: field name → value (`S`, or `SS` for SecureString fields, a
    /// credential object for PSCredential fields).
    pub fn prompt(call: &HostCall, answers: Vec<(String, Value)>) -> HostResponse {
        let entries = answers
            .into_iter()
            .map(|(k, v)| (Value::String(k), v))
            .collect();
        HostResponse::ok(call, Some(crate::clixml::hashtable_value(entries)))
    }

    /// The answer to PromptForCredential.
    pub fn credential(call: &HostCall, cred: &crate::records::PsCredential) -> HostResponse {
        HostResponse::ok(call, Some(cred.to_value()))
    }

    /// The answer to PromptForChoice.
    pub fn choice(call: &HostCall, index: i32) -> HostResponse {
        HostResponse::ok(call, Some(Value::I32(index)))
    }

    /// The answer to PromptForChoiceMultipleSelection.
    pub fn choices(call: &HostCall, indexes: &[i32]) -> HostResponse {
        let items = indexes.iter().map(|i| Value::I32(*i)).collect();
        HostResponse::ok(
            call,
            Some(crate::clixml::list_value(
                &[
                    "System.Collections.ObjectModel.Collection`1[[System.Int32, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
                    "System.Object",
                ],
                items,
            )),
        )
    }

    /// The answer to ReadKey (the shape recorded from pypsrp and accepted by Windows).
    pub fn key(call: &HostCall, key: KeyInfo) -> HostResponse {
        HostResponse::ok(
            call,
            Some(
                Object::new()
                    .with_ms("virtualKeyCode", Value::I32(key.virtual_key_code))
                    .with_ms("character", Value::Char(key.character))
                    .with_ms("controlKeyState", Value::I32(key.control_key_state))
                    .with_ms("keyDown", Value::Bool(key.key_down))
                    .into_value(),
            ),
        )
    }

    /// A failed host method: `me` carries the error, as PowerShell's client sends when the
    /// user cancels or the host cannot do it.
    pub fn failed(call: &HostCall, error: &crate::records::ErrorRecord) -> HostResponse {
        HostResponse {
            call_id: call.call_id,
            method: call.method,
            result: None,
            error: Some(error.to_value()),
        }
    }
}
