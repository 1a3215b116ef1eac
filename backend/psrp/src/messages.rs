//! The data of each message type, typed, with the shapes Windows sends and accepts
//! (MS-PSRP 2.2.2; field order as in the recordings).

use crate::clixml::{self, enum_value, list_value, ClixmlError, Object, Value};
use crate::host::{HostCall, HostResponse};
use crate::message::MessageType;
use crate::records::{
    ErrorRecord, HostInfo, InformationRecord, InformationalRecord, PipelineState, ProgressRecord,
    RecordError, RunspacePoolState,
};

/// Why a message's data could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The CLIXML itself is bad.
    #[error(transparent)]
    Clixml(#[from] ClixmlError),
    /// The CLIXML is fine but not the expected record.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Data where none belongs, or none where some must be.
    #[error("{0}: unexpected data")]
    Shape(&'static str),
}

fn rec(record: &'static str, property: &'static str) -> DataError {
    DataError::Record(RecordError::Property { record, property })
}

fn get_i32(v: &Value, record: &'static str, name: &'static str) -> Result<i32, DataError> {
    v.get(name)
        .and_then(Value::as_i32)
        .ok_or_else(|| rec(record, name))
}

fn get_i64(v: &Value, record: &'static str, name: &'static str) -> Result<i64, DataError> {
    v.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| rec(record, name))
}

/// SESSION_CAPABILITY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCapability {
    /// `protocolversion`, e.g. `2.3`.
    pub protocol_version: String,
    /// `PSVersion`: always `2.0`.
    pub ps_version: String,
    /// `SerializationVersion`: `1.1.0.1`.
    pub serialization_version: String,
}

impl Default for SessionCapability {
    /// What winrelay sends: 2.3, 2.0, 1.1.0.1.
    fn default() -> Self {
        SessionCapability {
            protocol_version: "2.3".into(),
            ps_version: "2.0".into(),
            serialization_version: "1.1.0.1".into(),
        }
    }
}

impl SessionCapability {
    /// The message data.
    pub fn to_value(&self) -> Value {
        Object::new()
            .with_ms(
                "protocolversion",
                Value::Version(self.protocol_version.clone()),
            )
            .with_ms("PSVersion", Value::Version(self.ps_version.clone()))
            .with_ms(
                "SerializationVersion",
                Value::Version(self.serialization_version.clone()),
            )
            .into_value()
    }

    /// Reads the message data.
    pub fn from_value(v: &Value) -> Result<SessionCapability, DataError> {
        const R: &str = "SESSION_CAPABILITY";
        let ver = |n: &'static str| match v.get(n) {
            Some(Value::Version(s)) => Ok(s.clone()),
            _ => Err(rec(R, n)),
        };
        Ok(SessionCapability {
            protocol_version: ver("protocolversion")?,
            ps_version: ver("PSVersion")?,
            serialization_version: ver("SerializationVersion")?,
        })
    }

    /// The protocol version as (major, minor); (2, 0) if unreadable.
    pub fn protocol(&self) -> (u32, u32) {
        let mut it = self
            .protocol_version
            .split('.')
            .map(|p| p.parse().unwrap_or(0));
        (it.next().unwrap_or(2), it.next().unwrap_or(0))
    }
}

/// INIT_RUNSPACEPOOL.
#[derive(Debug, Clone, PartialEq)]
pub struct InitRunspacePool {
    /// `MinRunspaces`.
    pub min_runspaces: i32,
    /// `MaxRunspaces`.
    pub max_runspaces: i32,
    /// `PSThreadOptions` (0 Default).
    pub thread_options: i32,
    /// `ApartmentState` (2 Unknown).
    pub apartment_state: i32,
    /// `HostInfo` for the pool's host.
    pub host_info: HostInfo,
    /// `ApplicationArguments` (a PSPrimitiveDictionary), or None.
    pub application_arguments: Option<Value>,
}

impl InitRunspacePool {
    /// One runspace, default options, the given host.
    pub fn new(host_info: HostInfo) -> Self {
        InitRunspacePool {
            min_runspaces: 1,
            max_runspaces: 1,
            thread_options: 0,
            apartment_state: 2,
            host_info,
            application_arguments: None,
        }
    }

    /// The message data.
    pub fn to_value(&self) -> Value {
        Object::new()
            .with_ms("MinRunspaces", Value::I32(self.min_runspaces))
            .with_ms("MaxRunspaces", Value::I32(self.max_runspaces))
            .with_ms("PSThreadOptions", thread_options(self.thread_options))
            .with_ms("ApartmentState", apartment_state(self.apartment_state))
            .with_ms("HostInfo", self.host_info.to_value())
            .with_ms(
                "ApplicationArguments",
                self.application_arguments.clone().unwrap_or(Value::Nil),
            )
            .into_value()
    }

    /// Reads the message data.
    pub fn from_value(v: &Value) -> Result<InitRunspacePool, DataError> {
        const R: &str = "INIT_RUNSPACEPOOL";
        Ok(InitRunspacePool {
            min_runspaces: get_i32(v, R, "MinRunspaces")?,
            max_runspaces: get_i32(v, R, "MaxRunspaces")?,
            thread_options: get_i32(v, R, "PSThreadOptions")?,
            apartment_state: get_i32(v, R, "ApartmentState")?,
            host_info: HostInfo::from_value(v.get("HostInfo").ok_or_else(|| rec(R, "HostInfo"))?)?,
            application_arguments: v
                .get("ApplicationArguments")
                .filter(|a| !a.is_nil())
                .cloned(),
        })
    }
}

fn thread_options(v: i32) -> Value {
    let name = match v {
        0 => "Default",
        1 => "UseNewThread",
        2 => "ReuseThread",
        3 => "UseCurrentThread",
        _ => "",
    };
    enum_value(
        "System.Management.Automation.Runspaces.PSThreadOptions",
        name,
        v,
    )
}

fn apartment_state(v: i32) -> Value {
    let name = match v {
        0 => "STA",
        1 => "MTA",
        _ => "Unknown",
    };
    enum_value("System.Threading.ApartmentState", name, v)
}

/// PipelineResultTypes (for the Merge* fields): 0 None, 1 Output, 2 Error, … 8 Null.
fn result_types(v: i32) -> Value {
    const NAMES: [&str; 9] = [
        "None",
        "Output",
        "Error",
        "Warning",
        "Verbose",
        "Debug",
        "Information",
        "All",
        "Null",
    ];
    let name = usize::try_from(v)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("None");
    enum_value(
        "System.Management.Automation.Runspaces.PipelineResultTypes",
        name,
        v,
    )
}

/// RUNSPACEPOOL_STATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunspacePoolStateInfo {
    /// `RunspaceState`.
    pub state: RunspacePoolState,
    /// `ExceptionAsErrorRecord` (Broken).
    pub error: Option<ErrorRecord>,
}

impl RunspacePoolStateInfo {
    /// Reads the message data.
    pub fn from_value(v: &Value) -> Result<Self, DataError> {
        const R: &str = "RUNSPACEPOOL_STATE";
        let n = match v {
            Value::I32(n) => *n,
            _ => get_i32(v, R, "RunspaceState")?,
        };
        Ok(RunspacePoolStateInfo {
            state: RunspacePoolState::from_i32(n).ok_or(RecordError::Unknown {
                record: R,
                value: i64::from(n),
            })?,
            error: match v.get("ExceptionAsErrorRecord") {
                Some(e) if !e.is_nil() => Some(ErrorRecord::from_value(e)?),
                _ => None,
            },
        })
    }

    /// The message data as a server writes it.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new().with_ms("RunspaceState", Value::I32(self.state.value()));
        if let Some(e) = &self.error {
            o = o.with_ms("ExceptionAsErrorRecord", e.to_value());
        }
        o.into_value()
    }
}

/// PIPELINE_STATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineStateInfo {
    /// `PipelineState`.
    pub state: PipelineState,
    /// `ExceptionAsErrorRecord` (Stopped, Failed).
    pub error: Option<ErrorRecord>,
}

impl PipelineStateInfo {
    /// Reads the message data.
    pub fn from_value(v: &Value) -> Result<Self, DataError> {
        const R: &str = "PIPELINE_STATE";
        let n = get_i32(v, R, "PipelineState")?;
        Ok(PipelineStateInfo {
            state: PipelineState::from_i32(n).ok_or(RecordError::Unknown {
                record: R,
                value: i64::from(n),
            })?,
            error: match v.get("ExceptionAsErrorRecord") {
                Some(e) if !e.is_nil() => Some(ErrorRecord::from_value(e)?),
                _ => None,
            },
        })
    }

    /// The message data as a server writes it.
    pub fn to_value(&self) -> Value {
        let mut o = Object::new().with_ms("PipelineState", Value::I32(self.state.value()));
        if let Some(e) = &self.error {
            o = o.with_ms("ExceptionAsErrorRecord", e.to_value());
        }
        o.into_value()
    }
}

/// One argument of a command: `-Name value`, a switch (`value` Nil), or positional
/// (`name` None).
#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    /// The parameter name, without the dash.
    pub name: Option<String>,
    /// The value.
    pub value: Value,
}

/// One command of a statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Command name, or script text when `is_script`.
    pub cmd: String,
    /// Script text rather than a command name.
    pub is_script: bool,
    /// `UseLocalScope`: None/false run in the global scope (variables persist).
    pub use_local_scope: Option<bool>,
    /// Arguments.
    pub args: Vec<Argument>,
    /// `MergeMyResult` / `MergeToResult` (protocol 2.1 form).
    pub merge_my: i32,
    /// See `merge_my`.
    pub merge_to: i32,
    /// `MergePreviousResults` (3 = Output|Error for a trailing Out-Default).
    pub merge_previous: i32,
    /// `MergeError`, `MergeWarning`, `MergeVerbose`, `MergeDebug` (2.2+),
    /// `MergeInformation` (2.3).
    pub merge_streams: [i32; 5],
}

impl Command {
    /// A script.
    pub fn script(text: impl Into<String>) -> Command {
        Command::new(text, true)
    }

    /// A command by name.
    pub fn cmdlet(name: impl Into<String>) -> Command {
        Command::new(name, false)
    }

    fn new(cmd: impl Into<String>, is_script: bool) -> Command {
        Command {
            cmd: cmd.into(),
            is_script,
            use_local_scope: None,
            args: Vec::new(),
            merge_my: 0,
            merge_to: 0,
            merge_previous: 0,
            merge_streams: [0; 5],
        }
    }

    /// Adds `-name value`.
    pub fn arg(mut self, name: impl Into<String>, value: Value) -> Command {
        self.args.push(Argument {
            name: Some(name.into()),
            value,
        });
        self
    }

    /// Adds a positional value.
    pub fn positional(mut self, value: Value) -> Command {
        self.args.push(Argument { name: None, value });
        self
    }

    fn to_value(&self, protocol: (u32, u32)) -> Value {
        let args = self
            .args
            .iter()
            .map(|a| {
                Object::new()
                    .with_ms(
                        "N",
                        a.name
                            .as_ref()
                            .map_or(Value::Nil, |n| Value::str(n.as_str())),
                    )
                    .with_ms("V", a.value.clone())
                    .into_value()
            })
            .collect();
        let mut o = Object::new()
            .with_ms("Cmd", Value::str(self.cmd.as_str()))
            .with_ms("IsScript", Value::Bool(self.is_script))
            .with_ms(
                "UseLocalScope",
                self.use_local_scope.map_or(Value::Nil, Value::Bool),
            )
            .with_ms("MergeMyResult", result_types(self.merge_my))
            .with_ms("MergeToResult", result_types(self.merge_to))
            .with_ms("MergePreviousResults", result_types(self.merge_previous))
            .with_ms(
                "Args",
                list_value(
                    &[
                        "System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
                        "System.Object",
                    ],
                    args,
                ),
            );
        if protocol >= (2, 2) {
            for (name, v) in ["MergeError", "MergeWarning", "MergeVerbose", "MergeDebug"]
                .iter()
                .zip(self.merge_streams)
            {
                o = o.with_ms(*name, result_types(v));
            }
        }
        if protocol >= (2, 3) {
            o = o.with_ms("MergeInformation", result_types(self.merge_streams[4]));
        }
        o.into_value()
    }

    fn from_value(v: &Value) -> Result<Command, DataError> {
        const R: &str = "Command";
        let int = |n: &str| v.get(n).and_then(Value::as_i32).unwrap_or(0);
        let args = match v.get("Args") {
            None | Some(Value::Nil) => Vec::new(),
            Some(a) => a
                .items()
                .ok_or_else(|| rec(R, "Args"))?
                .iter()
                .map(|a| Argument {
                    name: a.get("N").and_then(Value::as_str).map(str::to_string),
                    value: a.get("V").cloned().unwrap_or(Value::Nil),
                })
                .collect(),
        };
        Ok(Command {
            cmd: v
                .get("Cmd")
                .and_then(Value::as_str)
                .ok_or_else(|| rec(R, "Cmd"))?
                .to_string(),
            is_script: v
                .get("IsScript")
                .and_then(Value::as_bool)
                .ok_or_else(|| rec(R, "IsScript"))?,
            use_local_scope: v.get("UseLocalScope").and_then(Value::as_bool),
            args,
            merge_my: int("MergeMyResult"),
            merge_to: int("MergeToResult"),
            merge_previous: int("MergePreviousResults"),
            merge_streams: [
                int("MergeError"),
                int("MergeWarning"),
                int("MergeVerbose"),
                int("MergeDebug"),
                int("MergeInformation"),
            ],
        })
    }
}

/// CREATE_PIPELINE.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePipeline {
    /// `NoInput`: true unless PIPELINE_INPUT follows.
    pub no_input: bool,
    /// `ApartmentState` (2 Unknown).
    pub apartment_state: i32,
    /// `RemoteStreamOptions` (0, or 15 to add InvocationInfo to records).
    pub remote_stream_options: i32,
    /// `AddToHistory`.
    pub add_to_history: bool,
    /// `HostInfo` for this pipeline.
    pub host_info: HostInfo,
    /// The statements: the first is `Cmds`, the rest `ExtraCmds`.
    pub statements: Vec<Vec<Command>>,
    /// `History`: the text to record in history, if any.
    pub history: Option<String>,
    /// `IsNested`.
    pub is_nested: bool,
    /// `RedirectShellErrorOutputPipe`.
    pub redirect_shell_error_output_pipe: bool,
}

const CMDS_TYPE: &str = "System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]";

impl CreatePipeline {
    /// One statement, no input, added to history, the given host.
    pub fn new(commands: Vec<Command>, host_info: HostInfo) -> CreatePipeline {
        CreatePipeline {
            no_input: true,
            apartment_state: 2,
            remote_stream_options: 0,
            add_to_history: true,
            host_info,
            statements: vec![commands],
            history: None,
            is_nested: false,
            redirect_shell_error_output_pipe: false,
        }
    }

    /// The message data for a server of `protocol` (major, minor): Merge fields the server
    /// does not know are left out, as PowerShell does.
    pub fn to_value(&self, protocol: (u32, u32)) -> Value {
        let cmds = |stmt: &[Command]| {
            list_value(
                &[CMDS_TYPE, "System.Object"],
                stmt.iter().map(|c| c.to_value(protocol)).collect(),
            )
        };
        let first = self.statements.first().map(Vec::as_slice).unwrap_or(&[]);
        let extra = if self.statements.len() > 1 {
            list_value(
                &[CMDS_TYPE, "System.Object"],
                self.statements
                    .iter()
                    .map(|s| Object::new().with_ms("Cmds", cmds(s)).into_value())
                    .collect(),
            )
        } else {
            Value::Nil
        };
        let powershell = Object::new()
            .with_ms("IsNested", Value::Bool(self.is_nested))
            .with_ms("ExtraCmds", extra)
            .with_ms("Cmds", cmds(first))
            .with_ms(
                "History",
                self.history
                    .as_ref()
                    .map_or(Value::Nil, |h| Value::str(h.as_str())),
            )
            .with_ms(
                "RedirectShellErrorOutputPipe",
                Value::Bool(self.redirect_shell_error_output_pipe),
            )
            .into_value();
        Object::new()
            .with_ms("NoInput", Value::Bool(self.no_input))
            .with_ms("ApartmentState", apartment_state(self.apartment_state))
            .with_ms(
                "RemoteStreamOptions",
                enum_value(
                    "System.Management.Automation.RemoteStreamOptions",
                    if self.remote_stream_options == 0 {
                        "None"
                    } else {
                        "AddInvocationInfo"
                    },
                    self.remote_stream_options,
                ),
            )
            .with_ms("AddToHistory", Value::Bool(self.add_to_history))
            .with_ms("HostInfo", self.host_info.to_value())
            .with_ms("PowerShell", powershell)
            .with_ms("IsNested", Value::Bool(self.is_nested))
            .into_value()
    }

    /// Reads the message data.
    pub fn from_value(v: &Value) -> Result<CreatePipeline, DataError> {
        const R: &str = "CREATE_PIPELINE";
        let b = |n: &'static str| v.get(n).and_then(Value::as_bool).ok_or_else(|| rec(R, n));
        let ps = v.get("PowerShell").ok_or_else(|| rec(R, "PowerShell"))?;
        let statement = |cmds: &Value| -> Result<Vec<Command>, DataError> {
            cmds.items()
                .ok_or_else(|| rec(R, "Cmds"))?
                .iter()
                .map(Command::from_value)
                .collect()
        };
        let first = statement(ps.get("Cmds").ok_or_else(|| rec(R, "Cmds"))?)?;
        // ExtraCmds, when present, holds every statement including the first.
        let statements = match ps.get("ExtraCmds") {
            Some(extra) if !extra.is_nil() => extra
                .items()
                .ok_or_else(|| rec(R, "ExtraCmds"))?
                .iter()
                .map(|s| statement(s.get("Cmds").ok_or_else(|| rec(R, "ExtraCmds.Cmds"))?))
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![first],
        };
        Ok(CreatePipeline {
            no_input: b("NoInput")?,
            apartment_state: get_i32(v, R, "ApartmentState")?,
            remote_stream_options: get_i32(v, R, "RemoteStreamOptions")?,
            add_to_history: b("AddToHistory")?,
            host_info: HostInfo::from_value(v.get("HostInfo").ok_or_else(|| rec(R, "HostInfo"))?)?,
            statements,
            history: ps
                .get("History")
                .and_then(Value::as_str)
                .map(str::to_string),
            is_nested: b("IsNested")?,
            redirect_shell_error_output_pipe: ps
                .get("RedirectShellErrorOutputPipe")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// A key-exchange message: PUBLIC_KEY (`PublicKey`) or ENCRYPTED_SESSION_KEY
/// (`EncryptedSessionKey`), the blob base64 in a string property.
pub fn key_blob_value(property: &str, blob: &[u8]) -> Value {
    use base64::Engine as _;
    Object::new()
        .with_ms(
            property,
            Value::String(base64::engine::general_purpose::STANDARD.encode(blob)),
        )
        .into_value()
}

/// Reads the blob of a key-exchange message (see [`key_blob_value`]).
pub fn key_blob_from_value(property: &'static str, v: &Value) -> Result<Vec<u8>, DataError> {
    use base64::Engine as _;
    let s = v
        .get(property)
        .and_then(Value::as_str)
        .ok_or_else(|| rec("key exchange", property))?;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| rec("key exchange", property))
}

/// The pool-size and availability messages, with their call id `ci`.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolRequest {
    /// SET_MAX_RUNSPACES (`MaxRunspaces`, `CI`).
    SetMax {
        /// The new maximum.
        max: i32,
        /// Call id.
        ci: i64,
    },
    /// SET_MIN_RUNSPACES (`MinRunspaces`, `CI`).
    SetMin {
        /// The new minimum.
        min: i32,
        /// Call id.
        ci: i64,
    },
    /// GET_AVAILABLE_RUNSPACES (`ci`).
    GetAvailable {
        /// Call id.
        ci: i64,
    },
    /// RESET_RUNSPACE_STATE (`ci`).
    Reset {
        /// Call id.
        ci: i64,
    },
}

impl PoolRequest {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            PoolRequest::SetMax { .. } => MessageType::SET_MAX_RUNSPACES,
            PoolRequest::SetMin { .. } => MessageType::SET_MIN_RUNSPACES,
            PoolRequest::GetAvailable { .. } => MessageType::GET_AVAILABLE_RUNSPACES,
            PoolRequest::Reset { .. } => MessageType::RESET_RUNSPACE_STATE,
        }
    }

    /// The message data.
    pub fn to_value(&self) -> Value {
        match self {
            PoolRequest::SetMax { max, ci } => Object::new()
                .with_ms("MaxRunspaces", Value::I32(*max))
                .with_ms("CI", Value::I64(*ci)),
            PoolRequest::SetMin { min, ci } => Object::new()
                .with_ms("MinRunspaces", Value::I32(*min))
                .with_ms("CI", Value::I64(*ci)),
            PoolRequest::GetAvailable { ci } | PoolRequest::Reset { ci } => {
                Object::new().with_ms("ci", Value::I64(*ci))
            }
        }
        .into_value()
    }

    /// Reads the data of a message of type `t`.
    pub fn from_value(t: MessageType, v: &Value) -> Result<PoolRequest, DataError> {
        const R: &str = "pool request";
        Ok(match t {
            MessageType::SET_MAX_RUNSPACES => PoolRequest::SetMax {
                max: get_i32(v, R, "MaxRunspaces")?,
                ci: get_i64(v, R, "CI")?,
            },
            MessageType::SET_MIN_RUNSPACES => PoolRequest::SetMin {
                min: get_i32(v, R, "MinRunspaces")?,
                ci: get_i64(v, R, "CI")?,
            },
            MessageType::GET_AVAILABLE_RUNSPACES => PoolRequest::GetAvailable {
                ci: get_i64(v, R, "ci")?,
            },
            MessageType::RESET_RUNSPACE_STATE => PoolRequest::Reset {
                ci: get_i64(v, R, "ci")?,
            },
            _ => return Err(DataError::Shape(R)),
        })
    }
}

/// RUNSPACE_AVAILABILITY: the answer to a [`PoolRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunspaceAvailability {
    /// `SetMinMaxRunspacesResponse`: a Boolean for set/reset, a number for get-available.
    pub response: Value,
    /// `ci` of the request.
    pub ci: i64,
}

impl RunspaceAvailability {
    /// Reads the message data.
    pub fn from_value(v: &Value) -> Result<Self, DataError> {
        const R: &str = "RUNSPACE_AVAILABILITY";
        Ok(RunspaceAvailability {
            response: v
                .get("SetMinMaxRunspacesResponse")
                .cloned()
                .ok_or_else(|| rec(R, "SetMinMaxRunspacesResponse"))?,
            ci: get_i64(v, R, "ci")?,
        })
    }

    /// The message data as a server writes it.
    pub fn to_value(&self) -> Value {
        Object::new()
            .with_ms("SetMinMaxRunspacesResponse", self.response.clone())
            .with_ms("ci", Value::I64(self.ci))
            .into_value()
    }
}

/// The decoded data of a message, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// SESSION_CAPABILITY.
    SessionCapability(SessionCapability),
    /// INIT_RUNSPACEPOOL.
    InitRunspacePool(InitRunspacePool),
    /// PUBLIC_KEY (the PUBLICKEYBLOB).
    PublicKey(Vec<u8>),
    /// ENCRYPTED_SESSION_KEY (the SIMPLEBLOB).
    EncryptedSessionKey(Vec<u8>),
    /// PUBLIC_KEY_REQUEST.
    PublicKeyRequest,
    /// CONNECT_RUNSPACEPOOL (sizes when given).
    ConnectRunspacePool(Option<(i32, i32)>),
    /// RUNSPACEPOOL_INIT_DATA (min, max).
    RunspacePoolInitData(i32, i32),
    /// SET_MAX/SET_MIN/GET_AVAILABLE_RUNSPACES, RESET_RUNSPACE_STATE.
    PoolRequest(PoolRequest),
    /// RUNSPACE_AVAILABILITY.
    RunspaceAvailability(RunspaceAvailability),
    /// RUNSPACEPOOL_STATE.
    PoolState(RunspacePoolStateInfo),
    /// APPLICATION_PRIVATE_DATA (`ApplicationPrivateData`).
    ApplicationPrivateData(Value),
    /// CREATE_PIPELINE.
    CreatePipeline(Box<CreatePipeline>),
    /// PIPELINE_INPUT, PIPELINE_OUTPUT, USER_EVENT, GET_COMMAND_METADATA: the object as is.
    Object(Value),
    /// END_OF_PIPELINE_INPUT.
    EndOfInput,
    /// ERROR_RECORD.
    Error(ErrorRecord),
    /// DEBUG_RECORD, VERBOSE_RECORD, WARNING_RECORD.
    Informational(InformationalRecord),
    /// PROGRESS_RECORD.
    Progress(ProgressRecord),
    /// INFORMATION_RECORD.
    Information(InformationRecord),
    /// PIPELINE_STATE.
    PipelineState(PipelineStateInfo),
    /// RUNSPACEPOOL_HOST_CALL, PIPELINE_HOST_CALL.
    HostCall(HostCall),
    /// RUNSPACEPOOL_HOST_RESPONSE, PIPELINE_HOST_RESPONSE.
    HostResponse(HostResponse),
}

/// Decodes the data of a message of type `t` (UTF-8 CLIXML, BOM already removed or not).
pub fn decode(t: MessageType, data: &[u8]) -> Result<Data, DataError> {
    use MessageType as M;
    if t == M::END_OF_PIPELINE_INPUT {
        return if data.iter().all(u8::is_ascii_whitespace) {
            Ok(Data::EndOfInput)
        } else {
            Err(DataError::Shape("END_OF_PIPELINE_INPUT"))
        };
    }
    let v = clixml::parse(data)?;
    Ok(match t {
        M::SESSION_CAPABILITY => Data::SessionCapability(SessionCapability::from_value(&v)?),
        M::INIT_RUNSPACEPOOL => Data::InitRunspacePool(InitRunspacePool::from_value(&v)?),
        M::PUBLIC_KEY => Data::PublicKey(key_blob_from_value("PublicKey", &v)?),
        M::ENCRYPTED_SESSION_KEY => {
            Data::EncryptedSessionKey(key_blob_from_value("EncryptedSessionKey", &v)?)
        }
        M::PUBLIC_KEY_REQUEST => Data::PublicKeyRequest,
        M::CONNECT_RUNSPACEPOOL => Data::ConnectRunspacePool(
            match (
                v.get("MinRunspaces").and_then(Value::as_i32),
                v.get("MaxRunspaces").and_then(Value::as_i32),
            ) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            },
        ),
        M::RUNSPACEPOOL_INIT_DATA => {
            const R: &str = "RUNSPACEPOOL_INIT_DATA";
            Data::RunspacePoolInitData(
                get_i32(&v, R, "MinRunspaces")?,
                get_i32(&v, R, "MaxRunspaces")?,
            )
        }
        M::SET_MAX_RUNSPACES
        | M::SET_MIN_RUNSPACES
        | M::GET_AVAILABLE_RUNSPACES
        | M::RESET_RUNSPACE_STATE => Data::PoolRequest(PoolRequest::from_value(t, &v)?),
        M::RUNSPACE_AVAILABILITY => {
            Data::RunspaceAvailability(RunspaceAvailability::from_value(&v)?)
        }
        M::RUNSPACEPOOL_STATE => Data::PoolState(RunspacePoolStateInfo::from_value(&v)?),
        M::APPLICATION_PRIVATE_DATA => Data::ApplicationPrivateData(
            v.get("ApplicationPrivateData")
                .cloned()
                .ok_or_else(|| rec("APPLICATION_PRIVATE_DATA", "ApplicationPrivateData"))?,
        ),
        M::CREATE_PIPELINE => Data::CreatePipeline(Box::new(CreatePipeline::from_value(&v)?)),
        M::PIPELINE_INPUT | M::PIPELINE_OUTPUT | M::USER_EVENT | M::GET_COMMAND_METADATA => {
            Data::Object(v)
        }
        M::ERROR_RECORD => Data::Error(ErrorRecord::from_value(&v)?),
        M::DEBUG_RECORD | M::VERBOSE_RECORD | M::WARNING_RECORD => {
            Data::Informational(InformationalRecord::from_value(&v)?)
        }
        M::PROGRESS_RECORD => Data::Progress(ProgressRecord::from_value(&v)?),
        M::INFORMATION_RECORD => Data::Information(InformationRecord::from_value(&v)?),
        M::PIPELINE_STATE => Data::PipelineState(PipelineStateInfo::from_value(&v)?),
        M::RUNSPACEPOOL_HOST_CALL | M::PIPELINE_HOST_CALL => {
            Data::HostCall(HostCall::from_value(&v)?)
        }
        M::RUNSPACEPOOL_HOST_RESPONSE | M::PIPELINE_HOST_RESPONSE => {
            Data::HostResponse(HostResponse::from_value(&v)?)
        }
        M::END_OF_PIPELINE_INPUT => unreachable!("handled above"),
    })
}

/// The `PSVersionTable.PSVersion` of APPLICATION_PRIVATE_DATA, if present.
pub fn ps_version(private_data: &Value) -> Option<String> {
    let table = private_data
        .entries()?
        .iter()
        .find(|(k, _)| k.as_str() == Some("PSVersionTable"))
        .map(|(_, v)| v)?;
    table
        .entries()?
        .iter()
        .find(|(k, _)| k.as_str() == Some("PSVersion"))
        .map(|(_, v)| v.display())
}

/// The data of a message: the inverse of [`decode`]. `protocol` is the peer's version
/// (it decides which Merge fields CREATE_PIPELINE carries). Records are written the way a
/// server writes them ([`ErrorRecord::to_value`] and friends); `kind` of an
/// [`Data::Informational`] record comes from `t`.
pub fn encode(t: MessageType, data: &Data, protocol: (u32, u32)) -> Vec<u8> {
    let v = match data {
        Data::EndOfInput => return Vec::new(),
        Data::SessionCapability(c) => c.to_value(),
        Data::InitRunspacePool(i) => i.to_value(),
        Data::PublicKey(b) => key_blob_value("PublicKey", b),
        Data::EncryptedSessionKey(b) => key_blob_value("EncryptedSessionKey", b),
        Data::PublicKeyRequest => Value::String(String::new()),
        Data::ConnectRunspacePool(None) => Value::String(String::new()),
        Data::ConnectRunspacePool(Some((min, max))) | Data::RunspacePoolInitData(min, max) => {
            Object::new()
                .with_ms("MinRunspaces", Value::I32(*min))
                .with_ms("MaxRunspaces", Value::I32(*max))
                .into_value()
        }
        Data::PoolRequest(r) => r.to_value(),
        Data::RunspaceAvailability(a) => a.to_value(),
        Data::PoolState(s) => s.to_value(),
        Data::ApplicationPrivateData(v) => Object::new()
            .with_ms("ApplicationPrivateData", v.clone())
            .into_value(),
        Data::CreatePipeline(c) => c.to_value(protocol),
        Data::Object(v) => v.clone(),
        Data::Error(e) => e.to_value(),
        Data::Informational(r) => r.to_value(match t {
            MessageType::DEBUG_RECORD => "Debug",
            MessageType::VERBOSE_RECORD => "Verbose",
            _ => "Warning",
        }),
        Data::Progress(p) => p.to_value(),
        Data::Information(i) => i.to_value(),
        Data::PipelineState(s) => s.to_value(),
        Data::HostCall(c) => c.to_value(),
        Data::HostResponse(r) => r.to_value(),
    };
    clixml::write(&v).into_bytes()
}

/// GET_COMMAND_METADATA: run Get-Command on the server (`Name` patterns, CommandTypes flags:
/// 511 = all, 2 = Function). The answer arrives on the pipeline: a count object, one object
/// per command, PIPELINE_STATE. Works in restricted (NoLanguage) endpoints, where scripts do
/// not.
pub fn command_metadata_value(names: &[&str], command_type: i32, namespaces: &[&str]) -> Value {
    let strings = |type_name: &str, items: &[&str]| {
        list_value(
            &[type_name, "System.Array", "System.Object"],
            items.iter().map(|s| Value::str(*s)).collect(),
        )
    };
    Object::new()
        .with_ms("Name", strings("System.String[]", names))
        .with_ms("CommandType", Value::I32(command_type))
        .with_ms(
            "Namespace",
            if namespaces.is_empty() {
                Value::Nil
            } else {
                strings("System.Object[]", namespaces)
            },
        )
        .with_ms("ArgumentList", Value::Nil)
        .into_value()
}
