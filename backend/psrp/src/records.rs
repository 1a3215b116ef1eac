//! Typed records built on the CLIXML value model: error, progress, information and
//! informational records, credentials, host information, pool and pipeline states.

use crate::clixml::{enum_value, hashtable_value, Object, Value};

/// Why a CLIXML value is not the record it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A required property is missing or has the wrong type.
    #[error("{record}: missing or invalid {property}")]
    Property {
        /// The record being read.
        record: &'static str,
        /// The property.
        property: &'static str,
    },
    /// A value outside the known range.
    #[error("{record}: unknown value {value}")]
    Unknown {
        /// The record being read.
        record: &'static str,
        /// The value.
        value: i64,
    },
}

fn missing(record: &'static str, property: &'static str) -> RecordError {
    RecordError::Property { record, property }
}

fn str_of(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

fn i32_of(v: &Value, name: &str) -> Option<i32> {
    v.get(name).and_then(Value::as_i32)
}

fn opt_str(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Nil, |s| Value::str(s.as_str()))
}

/// RunspacePoolState (MS-PSRP 2.2.3.4, numbered as .NET and Windows send them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunspacePoolState {
    /// 0: not opened yet.
    BeforeOpen,
    /// 1: opening.
    Opening,
    /// 2: usable.
    Opened,
    /// 3: closed.
    Closed,
    /// 4: closing.
    Closing,
    /// 5: failed; the message carries the error.
    Broken,
    /// 6: disconnecting.
    Disconnecting,
    /// 7: disconnected.
    Disconnected,
    /// 8: connecting.
    Connecting,
}

impl RunspacePoolState {
    /// The state of a wire value.
    pub fn from_i32(v: i32) -> Option<Self> {
        use RunspacePoolState::*;
        Some(match v {
            0 => BeforeOpen,
            1 => Opening,
            2 => Opened,
            3 => Closed,
            4 => Closing,
            5 => Broken,
            6 => Disconnecting,
            7 => Disconnected,
            8 => Connecting,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn value(self) -> i32 {
        self as i32
    }
}

/// PSInvocationState: a pipeline's state (MS-PSRP 2.2.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PipelineState {
    /// 0.
    NotStarted,
    /// 1.
    Running,
    /// 2.
    Stopping,
    /// 3: stopped by a `crtl_c` signal.
    Stopped,
    /// 4: finished normally.
    Completed,
    /// 5: failed; the message carries the error.
    Failed,
    /// 6.
    Disconnected,
}

impl PipelineState {
    /// The state of a wire value.
    pub fn from_i32(v: i32) -> Option<Self> {
        use PipelineState::*;
        Some(match v {
            0 => NotStarted,
            1 => Running,
            2 => Stopping,
            3 => Stopped,
            4 => Completed,
            5 => Failed,
            6 => Disconnected,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn value(self) -> i32 {
        self as i32
    }

    /// True for Stopped, Completed and Failed: nothing more will come.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            PipelineState::Stopped | PipelineState::Completed | PipelineState::Failed
        )
    }
}

/// Names of `System.Management.Automation.ErrorCategory`, by value.
pub const ERROR_CATEGORIES: [&str; 32] = [
    "NotSpecified",
    "OpenError",
    "CloseError",
    "DeviceError",
    "DeadlockDetected",
    "InvalidArgument",
    "InvalidData",
    "InvalidOperation",
    "InvalidResult",
    "InvalidType",
    "MetadataError",
    "NotImplemented",
    "NotInstalled",
    "ObjectNotFound",
    "OperationStopped",
    "OperationTimeout",
    "SyntaxError",
    "ParserError",
    "PermissionDenied",
    "ResourceBusy",
    "ResourceExists",
    "ResourceUnavailable",
    "ReadError",
    "WriteError",
    "FromStdErr",
    "SecurityError",
    "ProtocolError",
    "ConnectionError",
    "AuthenticationError",
    "LimitsExceeded",
    "QuotaExceeded",
    "NotEnabled",
];

/// An ErrorRecord (ERROR_RECORD, or `ExceptionAsErrorRecord` of a failed pipeline or pool).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorRecord {
    /// The message: `ErrorDetails_Message`, else the exception's `Message`, else ToString.
    pub message: String,
    /// The exception's type name (most derived), e.g.
    /// `Microsoft.PowerShell.Commands.WriteErrorException`.
    pub exception_type: Option<String>,
    /// `FullyQualifiedErrorId`.
    pub fully_qualified_error_id: String,
    /// `ErrorCategory_Category` (see [`ERROR_CATEGORIES`]).
    pub category: i32,
    /// `ErrorCategory_Activity`.
    pub activity: Option<String>,
    /// `ErrorCategory_Reason`.
    pub reason: Option<String>,
    /// `ErrorCategory_TargetName`.
    pub target_name: Option<String>,
    /// `ErrorCategory_TargetType`.
    pub target_type: Option<String>,
    /// `ErrorCategory_Message`: the ready-made CategoryInfo line.
    pub category_message: Option<String>,
    /// `InvocationInfo.MyCommand` (a command name, or the script text for script-level
    /// invocations).
    pub command: Option<String>,
    /// `InvocationInfo.PositionMessage` ("At line:1 char:55" and the marker lines).
    pub position_message: Option<String>,
    /// `ErrorDetails_RecommendedAction`.
    pub recommended_action: Option<String>,
    /// `ErrorDetails_ScriptStackTrace`.
    pub script_stack_trace: Option<String>,
}

impl ErrorRecord {
    /// Reads an ErrorRecord object.
    pub fn from_value(v: &Value) -> Result<ErrorRecord, RecordError> {
        const R: &str = "ErrorRecord";
        let o = v.as_object().ok_or(missing(R, "object"))?;
        let exception = v.get("Exception");
        let message = str_of(v, "ErrorDetails_Message")
            .filter(|m| !m.is_empty())
            .or_else(|| exception.and_then(|e| str_of(e, "Message")))
            .or_else(|| o.to_string.clone())
            .ok_or(missing(R, "message"))?;
        let inv = v.get("InvocationInfo");
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Ok(ErrorRecord {
            message,
            exception_type: exception
                .and_then(Value::as_object)
                .and_then(|e| e.type_name())
                .map(|t| t.strip_prefix("Deserialized.").unwrap_or(t).to_string()),
            fully_qualified_error_id: str_of(v, "FullyQualifiedErrorId").unwrap_or_default(),
            category: i32_of(v, "ErrorCategory_Category").unwrap_or(0),
            activity: str_of(v, "ErrorCategory_Activity"),
            reason: str_of(v, "ErrorCategory_Reason"),
            target_name: str_of(v, "ErrorCategory_TargetName"),
            target_type: str_of(v, "ErrorCategory_TargetType"),
            category_message: nonempty(str_of(v, "ErrorCategory_Message")),
            command: nonempty(
                inv.and_then(|i| i.get("MyCommand"))
                    .map(Value::display)
                    .or_else(|| str_of(v, "InvocationInfo_MyCommand")),
            ),
            position_message: nonempty(
                inv.and_then(|i| str_of(i, "PositionMessage"))
                    .or_else(|| str_of(v, "InvocationInfo_PositionMessage")),
            ),
            recommended_action: nonempty(str_of(v, "ErrorDetails_RecommendedAction")),
            script_stack_trace: nonempty(str_of(v, "ErrorDetails_ScriptStackTrace")),
        })
    }

    /// The CategoryInfo line: `ErrorCategory_Message` when sent, otherwise built the way
    /// PowerShell builds it: `Category: (TargetName:TargetType) [Activity], Reason`.
    pub fn category_info(&self) -> String {
        if let Some(m) = &self.category_message {
            return m.clone();
        }
        let cat = usize::try_from(self.category)
            .ok()
            .and_then(|i| ERROR_CATEGORIES.get(i))
            .copied()
            .unwrap_or("NotSpecified");
        let d = |s: &Option<String>| s.clone().unwrap_or_default();
        format!(
            "{cat}: ({}:{}) [{}], {}",
            d(&self.target_name),
            d(&self.target_type),
            d(&self.activity),
            d(&self.reason)
        )
    }

    /// The text the Windows PowerShell 5.1 console prints for this error (its default
    /// "NormalView", without colour), lines separated by `\n`:
    ///
    /// ```text
    /// <MyCommand> : <message>
    /// At line:1 char:55
    /// + ... marker lines ...
    ///     + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException
    ///     + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException
    /// ```
    ///
    /// The first line has no `<MyCommand> : ` prefix when the error names no command.
    pub fn console_text(&self) -> String {
        let mut out = String::new();
        if let Some(cmd) = &self.command {
            out.push_str(cmd);
            out.push_str(" : ");
        }
        out.push_str(&self.message);
        if let Some(pos) = &self.position_message {
            out.push('\n');
            out.push_str(pos);
        }
        out.push_str("\n    + CategoryInfo          : ");
        out.push_str(&self.category_info());
        out.push_str("\n    + FullyQualifiedErrorId : ");
        out.push_str(&self.fully_qualified_error_id);
        out.replace("\r\n", "\n").replace('\r', "\n")
    }

    fn invocation_info(&self) -> Value {
        if self.command.is_none() && self.position_message.is_none() {
            return Value::Nil;
        }
        Object::new()
            .with_types(&[
                "System.Management.Automation.InvocationInfo",
                "System.Object",
            ])
            .with_to_string("System.Management.Automation.InvocationInfo")
            .with_prop("MyCommand", opt_str(&self.command))
            .with_prop("PositionMessage", opt_str(&self.position_message))
            .into_value()
    }

    /// An ErrorRecord object as a server sends it (`SerializeExtendedInfo` false: the
    /// InvocationInfo, when known, is a nested object with MyCommand and PositionMessage),
    /// for the simulator.
    pub fn to_value(&self) -> Value {
        let exc_type = self
            .exception_type
            .clone()
            .unwrap_or_else(|| "System.Exception".to_string());
        let exception = Object::new()
            .with_types(&[exc_type.as_str(), "System.Exception", "System.Object"])
            .with_to_string(format!("{exc_type}: {}", self.message))
            .with_prop("Message", Value::str(self.message.as_str()))
            .into_value();
        let mut o = Object::new()
            .with_types(&["System.Management.Automation.ErrorRecord", "System.Object"])
            .with_to_string(self.message.as_str())
            .with_ms("Exception", exception)
            .with_ms("TargetObject", Value::Nil)
            .with_ms(
                "FullyQualifiedErrorId",
                Value::str(self.fully_qualified_error_id.as_str()),
            )
            .with_ms("InvocationInfo", self.invocation_info())
            .with_ms("ErrorCategory_Category", Value::I32(self.category))
            .with_ms("ErrorCategory_Activity", opt_str(&self.activity))
            .with_ms("ErrorCategory_Reason", opt_str(&self.reason))
            .with_ms("ErrorCategory_TargetName", opt_str(&self.target_name))
            .with_ms("ErrorCategory_TargetType", opt_str(&self.target_type))
            .with_ms("ErrorCategory_Message", Value::str(self.category_info()))
            .with_ms("SerializeExtendedInfo", Value::Bool(false));
        if let Some(a) = &self.recommended_action {
            o = o.with_ms("ErrorDetails_RecommendedAction", Value::str(a.as_str()));
        }
        if let Some(s) = &self.script_stack_trace {
            o = o.with_ms("ErrorDetails_ScriptStackTrace", Value::str(s.as_str()));
        }
        o.into_value()
    }
}

/// A DEBUG, VERBOSE or WARNING record (an InformationalRecord).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationalRecord {
    /// The message.
    pub message: String,
}

impl InformationalRecord {
    /// Reads the record: `InformationalRecord_Message`, else ToString.
    pub fn from_value(v: &Value) -> Result<InformationalRecord, RecordError> {
        let message = str_of(v, "InformationalRecord_Message")
            .or_else(|| v.as_object().and_then(|o| o.to_string.clone()))
            .or_else(|| v.as_str().map(str::to_string))
            .ok_or(missing(
                "InformationalRecord",
                "InformationalRecord_Message",
            ))?;
        Ok(InformationalRecord { message })
    }

    /// The record as a server sends it; `kind` is `Debug`, `Verbose` or `Warning`.
    pub fn to_value(&self, kind: &str) -> Value {
        let t = format!("System.Management.Automation.{kind}Record");
        Object::new()
            .with_types(&[
                t.as_str(),
                "System.Management.Automation.InformationalRecord",
                "System.Object",
            ])
            .with_to_string(self.message.as_str())
            .with_ms(
                "InformationalRecord_Message",
                Value::str(self.message.as_str()),
            )
            .with_ms(
                "InformationalRecord_SerializeInvocationInfo",
                Value::Bool(false),
            )
            .into_value()
    }
}

/// A ProgressRecord (PROGRESS_RECORD, or the parameter of a WriteProgress host call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRecord {
    /// What is going on.
    pub activity: String,
    /// Identifies the activity among concurrent ones.
    pub activity_id: i32,
    /// Current status.
    pub status_description: String,
    /// Current operation, if any.
    pub current_operation: Option<String>,
    /// Parent activity; -1 for none.
    pub parent_activity_id: i32,
    /// 0–100, or -1 when unknown.
    pub percent_complete: i32,
    /// True for the record that ends the activity (ProgressRecordType Completed).
    pub completed: bool,
    /// Estimated seconds left, -1 when unknown.
    pub seconds_remaining: i32,
}

impl ProgressRecord {
    /// Reads the record.
    pub fn from_value(v: &Value) -> Result<ProgressRecord, RecordError> {
        const R: &str = "ProgressRecord";
        Ok(ProgressRecord {
            activity: str_of(v, "Activity").ok_or(missing(R, "Activity"))?,
            activity_id: i32_of(v, "ActivityId").ok_or(missing(R, "ActivityId"))?,
            status_description: str_of(v, "StatusDescription").unwrap_or_default(),
            current_operation: str_of(v, "CurrentOperation"),
            parent_activity_id: i32_of(v, "ParentActivityId").unwrap_or(-1),
            percent_complete: i32_of(v, "PercentComplete").unwrap_or(-1),
            completed: i32_of(v, "Type") == Some(1),
            seconds_remaining: i32_of(v, "SecondsRemaining").unwrap_or(-1),
        })
    }

    /// The record as a server sends it.
    pub fn to_value(&self) -> Value {
        let (name, n) = if self.completed {
            ("Completed", 1)
        } else {
            ("Processing", 0)
        };
        Object::new()
            .with_ms("Activity", Value::str(self.activity.as_str()))
            .with_ms("ActivityId", Value::I32(self.activity_id))
            .with_ms(
                "StatusDescription",
                Value::str(self.status_description.as_str()),
            )
            .with_ms("CurrentOperation", opt_str(&self.current_operation))
            .with_ms("ParentActivityId", Value::I32(self.parent_activity_id))
            .with_ms("PercentComplete", Value::I32(self.percent_complete))
            .with_ms(
                "Type",
                enum_value("System.Management.Automation.ProgressRecordType", name, n),
            )
            .with_ms("SecondsRemaining", Value::I32(self.seconds_remaining))
            .into_value()
    }
}

/// An InformationRecord (protocol 2.3: Write-Information, and Write-Host's data).
#[derive(Debug, Clone, PartialEq)]
pub struct InformationRecord {
    /// The data: a string, or for Write-Host a HostInformationMessage object.
    pub message_data: Value,
    /// `Source` (the command that wrote it).
    pub source: Option<String>,
    /// `TimeGenerated`, as sent.
    pub time_generated: Option<String>,
    /// `Tags` (Write-Host adds `PSHOST`).
    pub tags: Vec<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Computer`.
    pub computer: Option<String>,
}

impl InformationRecord {
    /// Reads the record.
    pub fn from_value(v: &Value) -> Result<InformationRecord, RecordError> {
        let message_data = v
            .get("MessageData")
            .cloned()
            .ok_or(missing("InformationRecord", "MessageData"))?;
        Ok(InformationRecord {
            message_data,
            source: str_of(v, "Source"),
            time_generated: match v.get("TimeGenerated") {
                Some(Value::DateTime(s)) => Some(s.clone()),
                _ => None,
            },
            tags: v
                .get("Tags")
                .and_then(Value::items)
                .map(|i| {
                    i.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            user: str_of(v, "User"),
            computer: str_of(v, "Computer"),
        })
    }

    /// The text to show: a HostInformationMessage's `Message`, or the data's display form.
    pub fn text(&self) -> String {
        self.message_data
            .get("Message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.message_data.display())
    }

    /// The record as a server sends it.
    pub fn to_value(&self) -> Value {
        Object::new()
            .with_types(&["System.Management.Automation.InformationRecord", "System.Object"])
            .with_ms("MessageData", self.message_data.clone())
            .with_ms("Source", opt_str(&self.source))
            .with_ms(
                "TimeGenerated",
                self.time_generated
                    .as_ref()
                    .map_or(Value::Nil, |t| Value::DateTime(t.clone())),
            )
            .with_ms(
                "Tags",
                crate::clixml::list_value(
                    &[
                        "System.Collections.Generic.List`1[[System.String, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
                        "System.Object",
                    ],
                    self.tags.iter().map(|t| Value::str(t.as_str())).collect(),
                ),
            )
            .with_ms("User", opt_str(&self.user))
            .with_ms("Computer", opt_str(&self.computer))
            // Windows sends the writer's process and thread ids; readers such as pypsrp
            // require them. This crate has no process to name: zero.
            .with_ms("ProcessId", Value::U32(0))
            .with_ms("NativeThreadId", Value::U32(0))
            .with_ms("ManagedThreadId", Value::U32(0))
            .into_value()
    }

    /// Write-Host's `NoNewLine`, when the data is a HostInformationMessage.
    pub fn no_new_line(&self) -> bool {
        self.message_data
            .get("NoNewLine")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// A PSCredential (PromptForCredential reply, or a credential argument). The password is
/// the SecureString ciphertext: encrypt and decrypt it with [`crate::crypto::SessionKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsCredential {
    /// `UserName`.
    pub user_name: String,
    /// `Password`, encrypted with the session key.
    pub password: Vec<u8>,
}

impl PsCredential {
    /// The object as PowerShell serializes it (as recorded).
    pub fn to_value(&self) -> Value {
        Object::new()
            .with_types(&["System.Management.Automation.PSCredential", "System.Object"])
            .with_to_string("System.Management.Automation.PSCredential")
            .with_prop("UserName", Value::str(self.user_name.as_str()))
            .with_prop("Password", Value::SecureString(self.password.clone()))
            .into_value()
    }

    /// Reads a credential object.
    pub fn from_value(v: &Value) -> Result<PsCredential, RecordError> {
        const R: &str = "PSCredential";
        Ok(PsCredential {
            user_name: str_of(v, "UserName").ok_or(missing(R, "UserName"))?,
            password: match v.get("Password") {
                Some(Value::SecureString(b)) => b.clone(),
                _ => return Err(missing(R, "Password")),
            },
        })
    }
}

/// A width × height (System.Management.Automation.Host.Size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Columns.
    pub width: i32,
    /// Rows.
    pub height: i32,
}

/// An x, y position (System.Management.Automation.Host.Coordinates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coordinates {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
}

/// `_hostDefaultData`: what the server answers RawUI getters with (MS-PSRP 2.2.3.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDefaultData {
    /// Key 0: ConsoleColor.
    pub foreground_color: i32,
    /// Key 1: ConsoleColor.
    pub background_color: i32,
    /// Key 2.
    pub cursor_position: Coordinates,
    /// Key 3.
    pub window_position: Coordinates,
    /// Key 4: percent of a cell.
    pub cursor_size: i32,
    /// Key 5: the scroll-back buffer.
    pub buffer_size: Size,
    /// Key 6: the visible window (the terminal's columns × rows).
    pub window_size: Size,
    /// Key 7.
    pub max_window_size: Size,
    /// Key 8.
    pub max_physical_window_size: Size,
    /// Key 9.
    pub window_title: String,
}

impl HostDefaultData {
    /// Defaults for a terminal of `cols` × `rows`: grey on black, a 9001-line buffer as the
    /// Windows console has, window title `winrelay`.
    pub fn for_terminal(cols: i32, rows: i32) -> HostDefaultData {
        let window = Size {
            width: cols,
            height: rows,
        };
        HostDefaultData {
            foreground_color: 7,
            background_color: 0,
            cursor_position: Coordinates::default(),
            window_position: Coordinates::default(),
            cursor_size: 25,
            buffer_size: Size {
                width: cols,
                height: 9001,
            },
            window_size: window,
            max_window_size: window,
            max_physical_window_size: window,
            window_title: "winrelay".into(),
        }
    }

    fn entry(key: i32, type_name: &str, v: Value) -> (Value, Value) {
        (
            Value::I32(key),
            Object::new()
                .with_ms("T", Value::str(type_name))
                .with_ms("V", v)
                .into_value(),
        )
    }

    fn coords(c: Coordinates) -> Value {
        Object::new()
            .with_ms("x", Value::I32(c.x))
            .with_ms("y", Value::I32(c.y))
            .into_value()
    }

    fn size(s: Size) -> Value {
        Object::new()
            .with_ms("width", Value::I32(s.width))
            .with_ms("height", Value::I32(s.height))
            .into_value()
    }

    /// The `_hostDefaultData` object.
    pub fn to_value(&self) -> Value {
        const C: &str = "System.Management.Automation.Host.Coordinates";
        const S: &str = "System.Management.Automation.Host.Size";
        let entries = vec![
            Self::entry(0, "System.ConsoleColor", Value::I32(self.foreground_color)),
            Self::entry(1, "System.ConsoleColor", Value::I32(self.background_color)),
            Self::entry(2, C, Self::coords(self.cursor_position)),
            Self::entry(3, C, Self::coords(self.window_position)),
            Self::entry(4, "System.Int32", Value::I32(self.cursor_size)),
            Self::entry(5, S, Self::size(self.buffer_size)),
            Self::entry(6, S, Self::size(self.window_size)),
            Self::entry(7, S, Self::size(self.max_window_size)),
            Self::entry(8, S, Self::size(self.max_physical_window_size)),
            Self::entry(9, "System.String", Value::str(self.window_title.as_str())),
        ];
        Object::new()
            .with_ms("data", hashtable_value(entries))
            .into_value()
    }

    /// Reads `_hostDefaultData`; keys that are missing get [`Self::for_terminal`]`(120, 50)`
    /// values.
    pub fn from_value(v: &Value) -> Result<HostDefaultData, RecordError> {
        let entries = v
            .get("data")
            .and_then(Value::entries)
            .ok_or(missing("HostDefaultData", "data"))?;
        let mut d = HostDefaultData::for_terminal(120, 50);
        for (k, e) in entries {
            let Some(val) = e.get("V") else { continue };
            let coords = || Coordinates {
                x: i32_of(val, "x").unwrap_or(0),
                y: i32_of(val, "y").unwrap_or(0),
            };
            let size = || Size {
                width: i32_of(val, "width").unwrap_or(0),
                height: i32_of(val, "height").unwrap_or(0),
            };
            match k.as_i32() {
                Some(0) => d.foreground_color = val.as_i32().unwrap_or(7),
                Some(1) => d.background_color = val.as_i32().unwrap_or(0),
                Some(2) => d.cursor_position = coords(),
                Some(3) => d.window_position = coords(),
                Some(4) => d.cursor_size = val.as_i32().unwrap_or(25),
                Some(5) => d.buffer_size = size(),
                Some(6) => d.window_size = size(),
                Some(7) => d.max_window_size = size(),
                Some(8) => d.max_physical_window_size = size(),
                Some(9) => d.window_title = val.as_str().unwrap_or_default().to_string(),
                _ => {}
            }
        }
        Ok(d)
    }
}

/// HostInfo (MS-PSRP 2.2.3.14): what host the client offers the pool or a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// `_isHostNull`: no host at all (no host calls; Read-Host fails).
    pub is_host_null: bool,
    /// `_isHostUINull`: no `$host.UI` (no Write*/Read*/Prompt* calls).
    pub is_host_ui_null: bool,
    /// `_isHostRawUINull`: no `$host.UI.RawUI`.
    pub is_host_raw_ui_null: bool,
    /// `_useRunspaceHost`: use the pool's host.
    pub use_runspace_host: bool,
    /// `_hostDefaultData` (sent when the RawUI is offered).
    pub default_data: Option<HostDefaultData>,
}

impl HostInfo {
    /// No host at all (pypsrp's default).
    pub fn null() -> HostInfo {
        HostInfo {
            is_host_null: true,
            is_host_ui_null: true,
            is_host_raw_ui_null: true,
            use_runspace_host: true,
            default_data: None,
        }
    }

    /// A console-like host with UI and RawUI for a terminal of `cols` × `rows`.
    pub fn console(cols: i32, rows: i32) -> HostInfo {
        HostInfo {
            is_host_null: false,
            is_host_ui_null: false,
            is_host_raw_ui_null: false,
            use_runspace_host: false,
            default_data: Some(HostDefaultData::for_terminal(cols, rows)),
        }
    }

    /// The HostInfo object.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new();
        if let Some(d) = &self.default_data {
            o = o.with_ms("_hostDefaultData", d.to_value());
        }
        o.with_ms("_isHostNull", Value::Bool(self.is_host_null))
            .with_ms("_isHostUINull", Value::Bool(self.is_host_ui_null))
            .with_ms("_isHostRawUINull", Value::Bool(self.is_host_raw_ui_null))
            .with_ms("_useRunspaceHost", Value::Bool(self.use_runspace_host))
            .into_value()
    }

    /// Reads a HostInfo object.
    pub fn from_value(v: &Value) -> Result<HostInfo, RecordError> {
        const R: &str = "HostInfo";
        let b = |n: &'static str| v.get(n).and_then(Value::as_bool).ok_or(missing(R, n));
        Ok(HostInfo {
            is_host_null: b("_isHostNull")?,
            is_host_ui_null: b("_isHostUINull")?,
            is_host_raw_ui_null: b("_isHostRawUINull")?,
            use_runspace_host: b("_useRunspaceHost")?,
            default_data: match v.get("_hostDefaultData") {
                Some(d) if !d.is_nil() => Some(HostDefaultData::from_value(d)?),
                _ => None,
            },
        })
    }
}
