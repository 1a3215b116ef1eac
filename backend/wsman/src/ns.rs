//! Namespace URIs, action URIs, resource URIs and well-known values of WS-Management and WinRS.

/// SOAP 1.2 envelope.
pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing (2004/08).
pub const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
/// DMTF WS-Management.
pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
/// Microsoft's WS-Management extensions.
pub const WSMV: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
/// Windows Remote Shell.
pub const SHELL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
/// WS-Transfer.
pub const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
/// WSMan fault detail.
pub const WSMAN_FAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";

/// The anonymous reply-to address.
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
/// Resource URI of the cmd shell (WinRS).
pub const RESOURCE_CMD: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";

/// Action URIs of requests.
pub mod action {
    /// WS-Transfer Create (opens a shell).
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    /// WS-Transfer Delete (closes a shell).
    pub const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
    /// Start a command in a shell.
    pub const COMMAND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
    /// Send input to a command.
    pub const SEND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send";
    /// Receive output of a command.
    pub const RECEIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
    /// Signal a command.
    pub const SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
    /// Action of every SOAP fault.
    pub const FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
}

/// Signal code URIs.
pub mod signal {
    /// Ctrl+C.
    pub const CTRL_C: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c";
    /// Ctrl+Break.
    pub const CTRL_BREAK: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_break";
    /// Terminate the command.
    pub const TERMINATE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";
}

/// Command state URIs.
pub mod state {
    /// The command is still running.
    pub const RUNNING: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running";
    /// The command has finished.
    pub const DONE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
    /// The command has not started yet.
    pub const PENDING: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Pending";
}

/// WSManFault codes seen from real Windows servers.
pub mod code {
    /// The operation timed out (normal for a Receive with no output: ask again).
    pub const OPERATION_TIMEOUT: u32 = 2150858793;
    /// Invalid selectors: the shell or command id is unknown (the shell is gone).
    pub const INVALID_SELECTORS: u32 = 2150858843;
    /// The user has too many shells open (MaxShellsPerUser).
    pub const SHELL_QUOTA: u32 = 2150859173;
    /// Too many concurrent operations.
    pub const CONCURRENT_OPERATIONS: u32 = 2150859174;
    /// The envelope exceeds MaxEnvelopeSize.
    pub const MAX_ENVELOPE_SIZE: u32 = 2150858824;
    /// The request did not validate against the schema.
    pub const SCHEMA_VALIDATION: u32 = 2150858817;
    /// A header had a bad value.
    pub const BAD_HEADER_VALUE: u32 = 2150858767;
}

/// Options of the OptionSet that WinRS understands.
pub mod option {
    /// Code page of the shell (65001 = UTF-8).
    pub const CODEPAGE: &str = "WINRS_CODEPAGE";
    /// Do not load the user profile.
    pub const NOPROFILE: &str = "WINRS_NOPROFILE";
    /// Run the command directly instead of through `cmd.exe /c`.
    pub const SKIP_CMD_SHELL: &str = "WINRS_SKIP_CMD_SHELL";
    /// stdin is a console rather than a pipe.
    pub const CONSOLEMODE_STDIN: &str = "WINRS_CONSOLEMODE_STDIN";
    /// PSRP: the client's protocol version (`2.3`), sent with Create and Connect.
    pub const PROTOCOL_VERSION: &str = "protocolversion";
    /// Keep the shell alive while a Receive is outstanding (every PSRP Receive sends `True`).
    pub const KEEPALIVE: &str = "WSMAN_CMDSHELL_OPTION_KEEPALIVE";
}
