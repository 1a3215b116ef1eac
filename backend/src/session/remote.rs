//! The seam between a session and the shell it drives: [`Connect`] opens a [`RemoteShell`].
//! WinRS implements it (`crate::targets::Connector`); PowerShell remoting will too; tests
//! use a fake.

use std::future::Future;

use winrelay_shared::api::{FailureCode, Fingerprints};
use winrelay_shared::protocol::Signal;

/// A failure of the remote shell, typed end to end: the code goes to the page as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellError {
    /// What went wrong, for programs.
    pub code: FailureCode,
    /// What happened and what to do, for a person (never a password).
    pub message: String,
    /// Both fingerprints of a certificate mismatch.
    pub fingerprints: Option<Fingerprints>,
}

impl ShellError {
    /// An error without details.
    pub fn new(code: FailureCode, message: impl Into<String>) -> ShellError {
        ShellError {
            code,
            message: message.into(),
            fingerprints: None,
        }
    }

    /// Whether the remote shell no longer exists.
    pub fn is_gone(&self) -> bool {
        self.code == FailureCode::ShellGone
    }
}

impl std::fmt::Display for ShellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a remote shell produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Terminal bytes (stdout and stderr alike).
    Bytes(bytes::Bytes),
    /// The shell's command ended with this code.
    Exited(i32),
}

/// What the session must know of the shell's behaviour on a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellTraits {
    /// The shell prints each line it reads (cmd.exe on a pipe): the relay drops that echo.
    pub echoes_input: bool,
    /// Longest command line the shell takes.
    pub max_line_len: usize,
}

/// Opens remote shells.
pub trait Connect: Send + Sync + 'static {
    /// The shell it opens.
    type Shell: RemoteShell;
    /// How the shell behaves.
    fn traits(&self) -> ShellTraits;
    /// Opens a shell running the target's command line.
    fn open(&self) -> impl Future<Output = Result<Self::Shell, ShellError>> + Send;
}

/// One open remote shell: output comes from [`RemoteShell::recv`]; input goes through a
/// [`ShellInput`] that another task may hold.
pub trait RemoteShell: Send + 'static {
    /// The input half.
    type Input: ShellInput;
    /// A handle for input, signals and termination.
    fn input(&self) -> Self::Input;
    /// The next output; `None` when the shell sends no more.
    fn recv(&mut self) -> impl Future<Output = Option<Result<Output, ShellError>>> + Send;
    /// Deletes the shell on the target.
    fn close(self) -> impl Future<Output = Result<(), ShellError>> + Send;
}

/// The input half of a [`RemoteShell`].
pub trait ShellInput: Clone + Send + Sync + 'static {
    /// Bytes for the shell's input, in order.
    fn send(&self, data: &[u8]) -> impl Future<Output = Result<(), ShellError>> + Send;
    /// Closes the shell's input.
    fn close_stdin(&self) -> impl Future<Output = Result<(), ShellError>> + Send;
    /// A signal for the running command.
    fn signal(&self, signal: Signal) -> impl Future<Output = Result<(), ShellError>> + Send;
    /// Ends the running command.
    fn terminate(&self) -> impl Future<Output = Result<(), ShellError>> + Send;
}
