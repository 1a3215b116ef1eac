//! The seam between a session and the shell it drives: [`Connect`] opens a [`RemoteShell`].
//! WinRS implements it (`crate::targets::Connector`), and so does PowerShell remoting, where
//! the relay is the console host (`crate::targets::psrp_shell`, around
//! [`super::pshost::PsConsole`]); tests use a fake.
//!
//! Besides bytes, a shell may tell the session typed things it knows and a pipe cannot say:
//! that the next line is a secret ([`Output::HideNextLine`]) and the answer to a completion
//! request ([`Output::Completion`]). The session tells the shell about completion requests
//! and terminal sizes through [`ShellInput`]; shells that do neither keep the defaults.

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
    /// The next line typed is a secret (Read-Host -AsSecureString, a credential's password):
    /// no echo, no log, no recording. `why` is what the page shows (`read-host`,
    /// `credential`).
    HideNextLine(&'static str),
    /// The answer to [`ShellInput::complete`].
    Completion {
        /// The request's id.
        id: u64,
        /// The matches (an empty list when there are none or the shell was busy).
        answer: winrelay_shared::line::Completion,
    },
    /// Output ([`Checkpoint::output`]) after which the target keeps the rest until
    /// [`Checkpoint::ack`]: once the output so far is safe elsewhere (a cluster's Redis),
    /// the session acknowledges it, and another relay could continue the shell from
    /// [`Checkpoint::resume`]. Only shells opened to be resumable say this.
    Checkpoint(Checkpoint),
}

/// A point in a remote shell's output from which another relay can continue it, with the
/// output that led there (one response of the target): the session stores both together,
/// so that a relay taking over never gets a response's bytes twice.
#[derive(Clone)]
pub struct Checkpoint {
    /// What [`Connect::resume`] needs (the shell's and command's ids and where to go on),
    /// as text the shell's connector understands. No secrets.
    pub resume: String,
    /// The terminal bytes that came with this checkpoint (possibly none).
    pub output: bytes::Bytes,
    ack: std::sync::Arc<dyn Fn() + Send + Sync>,
}

impl Checkpoint {
    /// A checkpoint after `output`, which calls `ack` when acknowledged.
    pub fn new(
        resume: String,
        output: bytes::Bytes,
        ack: impl Fn() + Send + Sync + 'static,
    ) -> Checkpoint {
        Checkpoint {
            resume,
            output,
            ack: std::sync::Arc::new(ack),
        }
    }

    /// The output up to here is safe: the target may drop it and send more.
    pub fn ack(&self) {
        (self.ack)()
    }
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Checkpoint {
    fn eq(&self, other: &Self) -> bool {
        self.resume == other.resume
    }
}

impl Eq for Checkpoint {}

/// A completion request: complete `line` at byte offset `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteRequest {
    /// Answer with this id.
    pub id: u64,
    /// The line.
    pub line: String,
    /// A byte offset into `line`.
    pub cursor: usize,
}

/// What the session must know of the shell's behaviour on a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellTraits {
    /// The shell prints each line it reads (cmd.exe on a pipe): the relay drops that echo.
    pub echoes_input: bool,
    /// Longest command line the shell takes.
    pub max_line_len: usize,
    /// The shell completes (Tab goes to [`ShellInput::complete`]); otherwise the line
    /// discipline completes from history.
    pub completes: bool,
    /// The shell cannot say when it reads a password (a pipe): output ending in a password
    /// prompt hides the next line.
    pub detect_password_prompts: bool,
}

/// Opens remote shells.
pub trait Connect: Send + Sync + 'static {
    /// The shell it opens.
    type Shell: RemoteShell;
    /// How the shell behaves.
    fn traits(&self) -> ShellTraits;
    /// Opens a shell running the target's command line.
    fn open(&self) -> impl Future<Output = Result<Self::Shell, ShellError>> + Send;
    /// Continues a shell another relay opened, from a [`Checkpoint::resume`] it wrote.
    fn resume(
        &self,
        _resume: &str,
    ) -> impl Future<Output = Result<Self::Shell, ShellError>> + Send {
        async {
            Err(ShellError::new(
                FailureCode::ShellGone,
                "this kind of shell cannot be continued by another relay",
            ))
        }
    }
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
    /// Lets go of the shell without deleting it: another relay continues it (a hand-over).
    fn forget(self) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        async move { drop(self) }
    }
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
    /// Complete a line; the answer comes as [`Output::Completion`] (only asked when
    /// [`ShellTraits::completes`]).
    fn complete(
        &self,
        _request: CompleteRequest,
    ) -> impl Future<Output = Result<(), ShellError>> + Send {
        async { Ok(()) }
    }
    /// The terminal's size changed (pipes have no size: nothing to do by default).
    fn resize(
        &self,
        _cols: u16,
        _rows: u16,
    ) -> impl Future<Output = Result<(), ShellError>> + Send {
        async { Ok(()) }
    }
}
