//! Shells and the commands running in them.
//!
//! **Invariant: no leaked shells.** A [`Shell`] and every handle of a command started in it
//! share one guard; when the last of them is dropped without [`Shell::close`], the guard spawns
//! a best-effort Delete on the current tokio runtime. Leaked shells count against the server's
//! MaxShellsPerUser quota until their idle timeout, which is hours by default.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;
use wsman::ns::option;
use wsman::{Action, RequestBody, ResponseBody, ShellSpec, SignalCode, StreamData};

use crate::{Client, Error};

/// How many output chunks may wait for a consumer before the receive loop stops asking the
/// server for more. Each chunk is at most one Receive response (about MaxEnvelopeSize).
const OUTPUT_QUEUE: usize = 16;

/// What the receive loop hands on, boxed: a channel allocates 32 slots at once, and an idle
/// relay session keeps one (issue 18: 32 pointers instead of 32 results with an error inside).
type OutputItem = Box<Result<OutputEvent, Error>>;

/// Below this many bytes per Send, a server that still refuses the envelope as too large is
/// reported instead of retried with smaller pieces.
const MIN_CHUNK: usize = 1536;

/// Room left in a Send envelope beyond the measured size of an empty one, in bytes.
const SEND_SLACK: usize = 256;

/// Options of a new shell.
#[derive(Debug, Clone, PartialEq)]
pub struct ShellOptions {
    /// The console code page (`WINRS_CODEPAGE`). 65001 (UTF-8) by default: Windows' own
    /// default, 437, garbles everything outside ASCII. `None` sends no option.
    pub codepage: Option<u32>,
    /// Working directory of the shell's commands.
    pub working_directory: Option<String>,
    /// Environment variables added for the shell's commands.
    pub env: Vec<(String, String)>,
    /// After how long without requests the server deletes the shell (`None`: its default).
    pub idle_timeout: Option<Duration>,
    /// Do not load the user profile (`WINRS_NOPROFILE`): starts faster.
    pub noprofile: bool,
}

impl Default for ShellOptions {
    fn default() -> ShellOptions {
        ShellOptions {
            codepage: Some(65001),
            working_directory: None,
            env: vec![],
            idle_timeout: None,
            noprofile: false,
        }
    }
}

/// Options of a command start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartOptions {
    /// Run the program directly instead of through `cmd.exe /c` (`WINRS_SKIP_CMD_SHELL`).
    pub skip_cmd_shell: bool,
    /// Give the program a console-mode stdin (`WINRS_CONSOLEMODE_STDIN`), as winrs.exe does.
    pub console_mode_stdin: bool,
    /// Acknowledged output (off by default). The receive loop numbers its Receives 0, 1,
    /// 2, ... (`SequenceId`), hands out the output of response `n` followed by
    /// [`OutputEvent::Received`]`(n)` (read them with [`OutputStream::recv_event`]), and
    /// sends Receive `n + 1`, which tells the server it may forget response `n`, only after
    /// [`Acker::ack`]`(n)`. Until then the server keeps response `n`, so whoever continues the
    /// command by id ([`Client::resume_command`] at `n`) gets it again: store the output of
    /// response `n`, then acknowledge it, and nothing is lost or repeated.
    pub acknowledged: bool,
}

impl Default for StartOptions {
    fn default() -> StartOptions {
        StartOptions {
            skip_cmd_shell: false,
            console_mode_stdin: true,
            acknowledged: false,
        }
    }
}

/// A piece of a command's output, in the order the server reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bytes written to stdout.
    Stdout(Bytes),
    /// Bytes written to stderr.
    Stderr(Bytes),
    /// The command finished with this exit code (-1 if the server did not say); always last.
    Exited(i32),
}

/// What the output stream of a command hands out: output, and in acknowledged mode (see
/// [`StartOptions::acknowledged`]) the end of each Receive response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputEvent {
    /// A piece of output, as [`OutputStream::recv`] gives it.
    Output(Output),
    /// Acknowledged mode only: all output of the Receive response with this sequence
    /// number has been handed out (an [`Output::Exited`] included: the marker follows it).
    /// No further Receive is sent until [`Acker::ack`] of this number.
    Received(u64),
}

/// Who acknowledged what: the receive loop waits on it, [`Acker`]s write it.
#[derive(Debug, Default)]
struct AckState {
    /// The last response whose marker the loop handed out.
    marked: Option<u64>,
    /// The last response acknowledged.
    acked: Option<u64>,
}

/// Acknowledges responses of a command in acknowledged mode: after [`Acker::ack`]`(n)`
/// the receive loop asks for response `n + 1`, and the server may forget response `n`.
/// Cheap to clone; may be used from any task or thread.
#[derive(Clone)]
pub struct Acker {
    state: Arc<watch::Sender<AckState>>,
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("Acker")
            .field("marked", &s.marked)
            .field("acked", &s.acked)
            .finish()
    }
}

impl Acker {
    /// Acknowledges response `sequence` and every one before it. Returns false, changing
    /// nothing, for a number already acknowledged or whose [`OutputEvent::Received`] has not
    /// been handed out yet (output nobody has seen cannot have been stored).
    pub fn ack(&self, sequence: u64) -> bool {
        self.state.send_if_modified(|s| {
            let seen = s.marked.is_some_and(|m| sequence <= m);
            let newer = s.acked.is_none_or(|a| sequence > a);
            if seen && newer {
                s.acked = Some(sequence);
            }
            seen && newer
        })
    }

    /// The last response acknowledged, if any.
    pub fn acknowledged(&self) -> Option<u64> {
        self.state.borrow().acked
    }
}

/// Everything a finished command printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandOutput {
    /// All of stdout.
    pub stdout: Vec<u8>,
    /// All of stderr.
    pub stderr: Vec<u8>,
    /// The exit code.
    pub exit_code: i32,
}

/// Deletes the shell when the last handle goes away without an explicit close.
struct ShellGuard {
    client: Client,
    id: String,
    closed: AtomicBool,
}

impl Drop for ShellGuard {
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let client = self.client.clone();
        let id = std::mem::take(&mut self.id);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    match client.delete_shell(&id).await {
                        Ok(()) => tracing::debug!(shell = %id, "deleted a dropped shell"),
                        Err(e) => tracing::warn!(shell = %id, error = %e, "could not delete a dropped shell"),
                    }
                });
            }
            Err(_) => tracing::warn!(
                shell = %id,
                "a shell was dropped outside a tokio runtime and cannot be deleted; it stays \
                 on the server until its idle timeout"
            ),
        }
    }
}

/// An open WinRS shell. Dropping it deletes it on the server (in the background); prefer
/// [`Shell::close`] to learn whether that worked.
pub struct Shell {
    guard: Arc<ShellGuard>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("id", &self.guard.id)
            .field("endpoint", &self.guard.client.endpoint())
            .finish()
    }
}

impl Shell {
    pub(crate) async fn open(client: Client, options: ShellOptions) -> Result<Shell, Error> {
        let mut opts = vec![];
        if options.noprofile {
            opts.push((option::NOPROFILE.to_string(), "TRUE".to_string()));
        }
        if let Some(cp) = options.codepage {
            opts.push((option::CODEPAGE.to_string(), cp.to_string()));
        }
        let spec = ShellSpec {
            input_streams: vec!["stdin".into()],
            output_streams: vec!["stdout".into(), "stderr".into()],
            working_directory: options.working_directory,
            environment: options.env,
            idle_timeout: options.idle_timeout,
        };
        let resp = client
            .call(Action::Create, None, opts, RequestBody::Create(spec))
            .await?;
        let ResponseBody::Created(info) = resp.body else {
            return Err(unexpected(&client, "Create"));
        };
        client
            .inner
            .open_shells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(info.shell_id.clone());
        tracing::debug!(shell = %info.shell_id, endpoint = client.endpoint(), "opened a shell");
        Ok(Shell {
            guard: Arc::new(ShellGuard {
                client,
                id: info.shell_id,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The shell id the server assigned.
    pub fn id(&self) -> &str {
        &self.guard.id
    }

    /// The client this shell belongs to.
    pub fn client(&self) -> &Client {
        &self.guard.client
    }

    /// Starts a command with stdin kept open and output flowing at once. The command is run
    /// through `cmd.exe /c` as Windows does by default; see [`Shell::start_with`].
    pub async fn start<I, S>(&self, command: &str, args: I) -> Result<RunningCommand, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.start_with(command, args, StartOptions::default())
            .await
    }

    /// Starts a command with explicit options.
    pub async fn start_with<I, S>(
        &self,
        command: &str,
        args: I,
        options: StartOptions,
    ) -> Result<RunningCommand, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let client = &self.guard.client;
        let opts = vec![
            (
                option::CONSOLEMODE_STDIN.to_string(),
                bool_option(options.console_mode_stdin),
            ),
            (
                option::SKIP_CMD_SHELL.to_string(),
                bool_option(options.skip_cmd_shell),
            ),
        ];
        let line = wsman::CommandLine {
            command: command.to_string(),
            arguments: args.into_iter().map(Into::into).collect(),
        };
        let resp = client
            .call(
                Action::Command,
                Some(&self.guard.id),
                opts,
                RequestBody::Command(line),
            )
            .await?;
        let ResponseBody::CommandStarted { command_id } = resp.body else {
            return Err(unexpected(client, "Command"));
        };
        let first = options.acknowledged.then_some(0);
        Ok(self.attach(command_id, first))
    }

    /// Handles for a command of this shell, with its receive loop started: acknowledged from
    /// sequence number `first` if given.
    fn attach(&self, command_id: String, first: Option<u64>) -> RunningCommand {
        let client = &self.guard.client;
        let chunk = stdin_chunk_size(client, &self.guard.id, &command_id);
        let (tx, rx) = mpsc::channel(OUTPUT_QUEUE);
        let span =
            tracing::debug_span!("winrs_command", shell = %self.guard.id, command = %command_id);
        let (task, acker) = match first {
            None => {
                let task = tokio::spawn(
                    receive_loop(
                        client.clone(),
                        self.guard.id.clone(),
                        command_id.clone(),
                        tx,
                    )
                    .instrument(span),
                );
                (task, None)
            }
            Some(first) => {
                let acker = Acker {
                    state: Arc::new(watch::channel(AckState::default()).0),
                };
                let task = tokio::spawn(
                    acknowledged_loop(
                        client.clone(),
                        self.guard.id.clone(),
                        command_id.clone(),
                        tx,
                        first,
                        acker.state.clone(),
                    )
                    .instrument(span),
                );
                (task, Some(acker))
            }
        };
        RunningCommand {
            input: CommandInput {
                shared: Arc::new(InputShared {
                    shell: self.guard.clone(),
                    command_id,
                    chunk: AtomicUsize::new(chunk),
                    stdin: tokio::sync::Mutex::new(false),
                }),
            },
            output: OutputStream {
                rx,
                task: task.abort_handle(),
                acker,
                _shell: self.guard.clone(),
            },
        }
    }

    /// Continues a command by id in a shell opened elsewhere (see [`Client::resume_command`]).
    pub(crate) fn resume(
        client: Client,
        shell_id: &str,
        command_id: &str,
        next_sequence: u64,
    ) -> Result<(Shell, CommandInput, OutputStream), Error> {
        if shell_id.is_empty() || command_id.is_empty() {
            return Err(Error::Config(
                "resuming a command needs its shell id and command id".into(),
            ));
        }
        client
            .inner
            .open_shells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shell_id.to_string());
        let shell = Shell {
            guard: Arc::new(ShellGuard {
                client,
                id: shell_id.to_string(),
                closed: AtomicBool::new(false),
            }),
        };
        tracing::debug!(shell = %shell_id, command = %command_id, next_sequence, "resuming a command");
        let cmd = shell.attach(command_id.to_string(), Some(next_sequence));
        let (input, output) = cmd.into_split();
        Ok((shell, input, output))
    }

    /// Runs a command to completion and collects its output. stdin is left open, as other
    /// WinRM clients do; start commands that read stdin with [`Shell::start`] instead.
    pub async fn run<I, S>(&self, command: &str, args: I) -> Result<CommandOutput, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.start(command, args).await?.wait().await
    }

    /// Gives the shell up without deleting it on the server: for handing it, by id, to
    /// another client or process (which continues a command with
    /// [`Client::resume_command`]). Handles of its commands keep working until dropped; drop
    /// the [`OutputStream`]s too, or their Receives go on. Returns the shell id.
    pub fn forget(self) -> String {
        self.guard.closed.store(true, Ordering::Release);
        self.guard
            .client
            .inner
            .open_shells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.guard.id);
        tracing::debug!(shell = %self.guard.id, "gave a shell up without deleting it");
        self.guard.id.clone()
    }

    /// Deletes the shell on the server. Commands still running in it end.
    pub async fn close(self) -> Result<(), Error> {
        // Marked first: even if the Delete fails, a second one on drop would fail the same way.
        self.guard.closed.store(true, Ordering::Release);
        self.guard.client.delete_shell(&self.guard.id).await
    }
}

fn bool_option(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_string()
}

fn unexpected(client: &Client, what: &'static str) -> Error {
    Error::Protocol {
        endpoint: client.endpoint().to_string(),
        source: wsman::ParseError::Invalid {
            what: "response body",
            value: format!("not a {what} response"),
        },
    }
}

/// The largest stdin chunk whose Send envelope stays within the server's MaxEnvelopeSize.
/// Measured from a real envelope for this shell and command, so header growth (long ids,
/// locale, options) is accounted for instead of guessed.
pub(crate) fn stdin_chunk_size(client: &Client, shell_id: &str, command_id: &str) -> usize {
    let empty = client.request(
        Action::Send,
        Some(shell_id),
        vec![],
        RequestBody::Send(vec![StreamData {
            name: "stdin".into(),
            command_id: Some(command_id.to_string()),
            end: false,
            data: vec![],
        }]),
    );
    let overhead = wsman::client::write_request(&empty).len() + SEND_SLACK;
    let room = (client.inner.max_envelope_size as usize).saturating_sub(overhead);
    // base64: 4 characters per 3 bytes.
    (room / 4 * 3).max(3)
}

/// The handles of a running command: input and output together. Use
/// [`RunningCommand::into_split`] to hand them to different tasks.
pub struct RunningCommand {
    input: CommandInput,
    output: OutputStream,
}

impl std::fmt::Debug for RunningCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCommand")
            .field("command_id", &self.input.shared.command_id)
            .field("shell_id", &self.input.shared.shell.id)
            .finish()
    }
}

impl RunningCommand {
    /// The command id the server assigned.
    pub fn id(&self) -> &str {
        &self.input.shared.command_id
    }

    /// The next piece of output; `None` after [`Output::Exited`] or an error. In
    /// acknowledged mode, use [`RunningCommand::recv_event`] instead.
    pub async fn recv(&mut self) -> Option<Result<Output, Error>> {
        self.output.recv().await
    }

    /// The next piece of output or, in acknowledged mode, the end of a response; see
    /// [`OutputStream::recv_event`].
    pub async fn recv_event(&mut self) -> Option<Result<OutputEvent, Error>> {
        self.output.recv_event().await
    }

    /// The acknowledgement handle, in acknowledged mode ([`StartOptions::acknowledged`]).
    pub fn acker(&self) -> Option<Acker> {
        self.output.acker()
    }

    /// A handle for input and signals; clones share the same stdin order.
    pub fn input(&self) -> CommandInput {
        self.input.clone()
    }

    /// Splits into the input handle and the output stream.
    pub fn into_split(self) -> (CommandInput, OutputStream) {
        (self.input, self.output)
    }

    /// Sends bytes to stdin; see [`CommandInput::send`].
    pub async fn send(&self, data: &[u8]) -> Result<(), Error> {
        self.input.send(data).await
    }

    /// Closes stdin; see [`CommandInput::close_stdin`].
    pub async fn close_stdin(&self) -> Result<(), Error> {
        self.input.close_stdin().await
    }

    /// Sends Ctrl+C.
    pub async fn ctrl_c(&self) -> Result<(), Error> {
        self.input.ctrl_c().await
    }

    /// Sends Ctrl+Break.
    pub async fn ctrl_break(&self) -> Result<(), Error> {
        self.input.ctrl_break().await
    }

    /// Ends the command.
    pub async fn terminate(&self) -> Result<(), Error> {
        self.input.terminate().await
    }

    /// Collects all output until the command exits (in acknowledged mode, acknowledging
    /// every response as it comes), and returns once the finished command was terminated on
    /// the server too, as other clients' "run" does (the exit code itself arrives first: a
    /// caller reading the stream has it without waiting for that).
    pub async fn wait(mut self) -> Result<CommandOutput, Error> {
        let mut out = CommandOutput::default();
        let acker = self.acker();
        let mut exited = false;
        // The receive loop ends (closing the stream) after the Terminate was answered.
        while let Some(item) = self.recv_event().await {
            match item? {
                OutputEvent::Output(Output::Stdout(b)) => out.stdout.extend_from_slice(&b),
                OutputEvent::Output(Output::Stderr(b)) => out.stderr.extend_from_slice(&b),
                OutputEvent::Output(Output::Exited(code)) => {
                    out.exit_code = code;
                    exited = true;
                }
                OutputEvent::Received(n) => {
                    if let Some(acker) = &acker {
                        acker.ack(n);
                    }
                }
            }
        }
        if exited {
            return Ok(out);
        }
        Err(Error::Protocol {
            endpoint: self.input.shared.shell.client.endpoint().to_string(),
            source: wsman::ParseError::Missing("command state Done"),
        })
    }
}

struct InputShared {
    shell: Arc<ShellGuard>,
    command_id: String,
    /// Current stdin chunk size; shrinks if the server turns out to accept less.
    chunk: AtomicUsize,
    /// Serialises stdin so chunks of concurrent sends never interleave; true once closed.
    stdin: tokio::sync::Mutex<bool>,
}

/// Input and signals for a running command. Cheap to clone.
#[derive(Clone)]
pub struct CommandInput {
    shared: Arc<InputShared>,
}

impl std::fmt::Debug for CommandInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandInput")
            .field("command_id", &self.shared.command_id)
            .finish()
    }
}

impl CommandInput {
    /// The id of the shell the command runs in.
    pub fn shell_id(&self) -> &str {
        &self.shared.shell.id
    }

    /// The command id.
    pub fn command_id(&self) -> &str {
        &self.shared.command_id
    }

    /// The largest number of stdin bytes sent in one Send envelope.
    pub fn chunk_size(&self) -> usize {
        self.shared.chunk.load(Ordering::Relaxed)
    }

    /// Sends bytes to the command's stdin, split so that every envelope stays under the
    /// server's MaxEnvelopeSize. Bytes of one call, and of calls made one after another, arrive
    /// in order.
    ///
    /// If the server refuses a piece as too large (its MaxEnvelopeSizekb is below the
    /// client's setting), the piece is resent in halves, and later sends keep the smaller
    /// size: a refused envelope was not processed, so nothing is duplicated.
    pub async fn send(&self, data: &[u8]) -> Result<(), Error> {
        let closed = self.shared.stdin.lock().await;
        if *closed {
            return Err(Error::Config(
                "stdin of this command is already closed; start a new command".into(),
            ));
        }
        let mut rest = data;
        while !rest.is_empty() {
            let chunk = self.chunk_size();
            let piece = &rest[..chunk.min(rest.len())];
            match self.send_stream(piece, false).await {
                Ok(()) => rest = &rest[piece.len()..],
                Err(Error::EnvelopeTooLarge { .. }) if chunk > MIN_CHUNK => {
                    let smaller = (chunk / 2 / 3 * 3).max(MIN_CHUNK);
                    tracing::warn!(
                        from = chunk,
                        to = smaller,
                        "the server accepts smaller envelopes than configured; \
                         sending stdin in smaller pieces (set the max envelope size to the \
                         server's MaxEnvelopeSizekb to avoid the retries)"
                    );
                    self.shared.chunk.store(smaller, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Closes stdin (End="true"): the command sees end of file. Closing twice is a no-op.
    pub async fn close_stdin(&self) -> Result<(), Error> {
        let mut closed = self.shared.stdin.lock().await;
        if *closed {
            return Ok(());
        }
        self.send_stream(&[], true).await?;
        *closed = true;
        Ok(())
    }

    async fn send_stream(&self, data: &[u8], end: bool) -> Result<(), Error> {
        let s = &self.shared;
        s.shell
            .client
            .call(
                Action::Send,
                Some(&s.shell.id),
                vec![],
                RequestBody::Send(vec![StreamData {
                    name: "stdin".into(),
                    command_id: Some(s.command_id.clone()),
                    end,
                    data: data.to_vec(),
                }]),
            )
            .await
            .map(|_| ())
    }

    /// Sends Ctrl+C (a Signal, not a byte: it does not wait for pending input).
    pub async fn ctrl_c(&self) -> Result<(), Error> {
        self.signal(SignalCode::CtrlC).await
    }

    /// Sends Ctrl+Break.
    pub async fn ctrl_break(&self) -> Result<(), Error> {
        self.signal(SignalCode::CtrlBreak).await
    }

    /// Terminates the command.
    pub async fn terminate(&self) -> Result<(), Error> {
        self.signal(SignalCode::Terminate).await
    }

    async fn signal(&self, code: SignalCode) -> Result<(), Error> {
        let s = &self.shared;
        signal(&s.shell.client, &s.shell.id, &s.command_id, code).await
    }
}

/// Windows keeps a finished command's resources until it is terminated: the Terminate goes
/// out on a task of its own, so that dropping the command's [`OutputStream`] (which aborts its
/// receive loop) can neither cancel it nor cut its pooled connection mid-request, which would
/// make the next request open a new one (a TLS handshake per command).
fn terminate_after_exit(
    client: &Client,
    shell_id: &str,
    command_id: &str,
) -> tokio::task::JoinHandle<()> {
    let (client, shell_id, command_id) =
        (client.clone(), shell_id.to_string(), command_id.to_string());
    tokio::spawn(async move {
        if let Err(e) = signal(&client, &shell_id, &command_id, SignalCode::Terminate).await {
            tracing::debug!(error = %e, "terminate after exit failed");
        }
    })
}

async fn signal(
    client: &Client,
    shell_id: &str,
    command_id: &str,
    code: SignalCode,
) -> Result<(), Error> {
    client
        .call(
            Action::Signal,
            Some(shell_id),
            vec![],
            RequestBody::Signal {
                command_id: Some(command_id.to_string()),
                code,
            },
        )
        .await
        .map(|_| ())
}

/// The output of a running command, as a stream of [`Output`] ending with
/// [`Output::Exited`] (or an error). Dropping it stops the receive loop.
pub struct OutputStream {
    rx: mpsc::Receiver<OutputItem>,
    task: tokio::task::AbortHandle,
    acker: Option<Acker>,
    _shell: Arc<ShellGuard>,
}

impl std::fmt::Debug for OutputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputStream")
            .field("shell_id", &self._shell.id)
            .finish()
    }
}

impl OutputStream {
    /// The next piece of output; `None` after [`Output::Exited`] or an error. Skips the
    /// [`OutputEvent::Received`] markers of acknowledged mode: a consumer in that mode reads
    /// with [`OutputStream::recv_event`], or the command stalls after its first response.
    pub async fn recv(&mut self) -> Option<Result<Output, Error>> {
        loop {
            match *self.rx.recv().await? {
                Ok(OutputEvent::Output(o)) => return Some(Ok(o)),
                Ok(OutputEvent::Received(_)) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next piece of output or, in acknowledged mode, [`OutputEvent::Received`]`(n)`
    /// after the last output of response `n` (an [`Output::Exited`] included). `None` after
    /// an error, after [`Output::Exited`] (in acknowledged mode: after the marker following
    /// it), or once the stream is closed.
    pub async fn recv_event(&mut self) -> Option<Result<OutputEvent, Error>> {
        self.rx.recv().await.map(|item| *item)
    }

    /// The acknowledgement handle, in acknowledged mode ([`StartOptions::acknowledged`],
    /// [`Client::resume_command`]); `None` otherwise.
    pub fn acker(&self) -> Option<Acker> {
        self.acker.clone()
    }
}

impl Drop for OutputStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl futures_core::Stream for OutputStream {
    type Item = Result<Output, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.rx.poll_recv(cx).map(|item| item.map(|b| *b)) {
                Poll::Ready(Some(Ok(OutputEvent::Received(_)))) => continue,
                Poll::Ready(Some(Ok(OutputEvent::Output(o)))) => Poll::Ready(Some(Ok(o))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// Turns the streams of one Receive response into output items, merging neighbouring
/// pieces of the same stream (Windows sends many small ones).
pub(crate) fn collect_streams(streams: Vec<StreamData>, out: &mut Vec<Output>) {
    let mut cur: Option<(bool, BytesMut)> = None;
    for s in streams {
        if s.data.is_empty() {
            continue;
        }
        let is_err = s.name == "stderr";
        match &mut cur {
            Some((e, buf)) if *e == is_err => buf.extend_from_slice(&s.data),
            _ => {
                if let Some((e, buf)) = cur.take() {
                    out.push(tag(e, buf.freeze()));
                }
                cur = Some((is_err, BytesMut::from(&s.data[..])));
            }
        }
    }
    if let Some((e, buf)) = cur {
        out.push(tag(e, buf.freeze()));
    }
}

fn tag(is_err: bool, b: Bytes) -> Output {
    if is_err {
        Output::Stderr(b)
    } else {
        Output::Stdout(b)
    }
}

/// Keeps exactly one Receive outstanding until the command is done. The next Receive goes
/// out while the previous output is still being handed to the consumer, so a slow consumer
/// costs at most one response of buffering, and a fast one never waits for a round trip it
/// could have overlapped.
async fn receive_loop(
    client: Client,
    shell_id: String,
    command_id: String,
    tx: mpsc::Sender<OutputItem>,
) {
    let mut pending: Vec<Output> = vec![];
    loop {
        // Written out at once: the loop waits on the Receive for most of its life, and keeps
        // neither the Request nor its envelope meanwhile.
        let envelope = wsman::client::write_request(&client.request(
            Action::Receive,
            Some(&shell_id),
            vec![("WSMAN_CMDSHELL_OPTION_KEEPALIVE".into(), "True".into())],
            RequestBody::Receive {
                command_id: Some(command_id.clone()),
                streams: vec!["stdout".into(), "stderr".into()],
                sequence_id: None,
            },
        ));
        let deliver = async {
            for item in pending.drain(..) {
                if tx
                    .send(Box::new(Ok(OutputEvent::Output(item))))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            true
        };
        let (res, delivered) =
            tokio::join!(client.send_envelope(Action::Receive, envelope), deliver);
        if !delivered {
            return;
        }
        match res {
            Ok(Ok(resp)) => {
                let ResponseBody::Received { streams, state } = resp.body else {
                    let _ = tx.send(Box::new(Err(unexpected(&client, "Receive")))).await;
                    return;
                };
                collect_streams(streams, &mut pending);
                if let Some(state) = state.filter(|s| s.done) {
                    // First, and on a task of its own: the consumer usually drops the stream
                    // (which aborts this loop) as soon as it has the exit code.
                    let terminated = terminate_after_exit(&client, &shell_id, &command_id);
                    pending.push(Output::Exited(state.exit_code.unwrap_or(-1)));
                    for item in pending.drain(..) {
                        if tx
                            .send(Box::new(Ok(OutputEvent::Output(item))))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // The stream ends once the Terminate was answered (what `wait` waits for).
                    let _ = terminated.await;
                    return;
                }
            }
            // "No output within OperationTimeout": the normal heartbeat of a long poll.
            Ok(Err(fault)) if fault.is_timeout() => {}
            Ok(Err(fault)) => {
                let _ = tx
                    .send(Box::new(Err(Error::from_fault(client.endpoint(), fault))))
                    .await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Box::new(Err(e))).await;
                return;
            }
        }
    }
}

/// The receive loop of acknowledged mode: Receive `n` (numbered, from `first`), hand out its
/// output and [`OutputEvent::Received`]`(n)`, wait for the acknowledgement of `n`, then
/// Receive `n + 1`. A long-poll timeout asks for the same number again (the server produced
/// nothing under it). No Receive is pipelined: the next one would acknowledge a response
/// before the consumer stored it.
async fn acknowledged_loop(
    client: Client,
    shell_id: String,
    command_id: String,
    tx: mpsc::Sender<OutputItem>,
    first: u64,
    acks: Arc<watch::Sender<AckState>>,
) {
    let mut acked = acks.subscribe();
    let mut sequence = first;
    loop {
        let envelope = wsman::client::write_request(&client.request(
            Action::Receive,
            Some(&shell_id),
            vec![("WSMAN_CMDSHELL_OPTION_KEEPALIVE".into(), "True".into())],
            RequestBody::Receive {
                command_id: Some(command_id.clone()),
                streams: vec!["stdout".into(), "stderr".into()],
                sequence_id: Some(sequence),
            },
        ));
        let (streams, state) = match client.send_envelope(Action::Receive, envelope).await {
            Ok(Ok(resp)) => match resp.body {
                ResponseBody::Received { streams, state } => (streams, state),
                _ => {
                    let _ = tx.send(Box::new(Err(unexpected(&client, "Receive")))).await;
                    return;
                }
            },
            Ok(Err(fault)) if fault.is_timeout() => continue,
            Ok(Err(fault)) => {
                let _ = tx
                    .send(Box::new(Err(Error::from_fault(client.endpoint(), fault))))
                    .await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Box::new(Err(e))).await;
                return;
            }
        };
        let mut items = vec![];
        collect_streams(streams, &mut items);
        let exited = state.filter(|s| s.done).map(|s| s.exit_code.unwrap_or(-1));
        items.extend(exited.map(Output::Exited));
        for item in items {
            if tx
                .send(Box::new(Ok(OutputEvent::Output(item))))
                .await
                .is_err()
            {
                return;
            }
        }
        acks.send_modify(|s| s.marked = Some(sequence));
        if tx
            .send(Box::new(Ok(OutputEvent::Received(sequence))))
            .await
            .is_err()
        {
            return;
        }
        let n = sequence;
        if acked
            .wait_for(|s| s.acked.is_some_and(|a| a >= n))
            .await
            .is_err()
        {
            return;
        }
        if exited.is_some() {
            // Only now: until the end was stored, a successor must be able to receive it.
            let _ = terminate_after_exit(&client, &shell_id, &command_id).await;
            return;
        }
        let Some(next) = sequence.checked_add(1) else {
            let _ = tx
                .send(Box::new(Err(Error::Config(
                    "the Receive sequence numbers of this command are used up".into(),
                ))))
                .await;
            return;
        };
        sequence = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientConfig, TlsMode};

    fn stream(name: &str, data: &[u8]) -> StreamData {
        StreamData {
            name: name.into(),
            command_id: Some("C".into()),
            end: false,
            data: data.to_vec(),
        }
    }

    #[test]
    fn neighbouring_pieces_merge_and_order_is_kept() {
        let mut out = vec![];
        collect_streams(
            vec![
                stream("stdout", b"a"),
                stream("stdout", b"b"),
                stream("stdout", b""),
                stream("stderr", b"E"),
                stream("stdout", b"c"),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                Output::Stdout(Bytes::from_static(b"ab")),
                Output::Stderr(Bytes::from_static(b"E")),
                Output::Stdout(Bytes::from_static(b"c")),
            ]
        );
    }

    #[test]
    fn every_stdin_envelope_fits_the_envelope_limit() {
        for max in [8192u32, 153_600, 512_000] {
            let mut cfg =
                ClientConfig::new("https://127.0.0.1:5986/wsman", "u", "p", TlsMode::Insecure);
            cfg.max_envelope_size = max;
            let client = Client::new(cfg).unwrap();
            let shell = "5E4B1F3A-0000-4000-8000-000000000001";
            let cmd = "9A8B7C6D-0000-4000-8000-000000000002";
            let chunk = stdin_chunk_size(&client, shell, cmd);
            assert!(
                chunk > max as usize / 2,
                "chunk {chunk} wastes envelope {max}"
            );
            let data: Vec<u8> = (0..chunk * 3 + 17).map(|i| (i * 7) as u8).collect();
            let mut rebuilt = vec![];
            for piece in data.chunks(chunk) {
                let req = client.request(
                    Action::Send,
                    Some(shell),
                    vec![],
                    RequestBody::Send(vec![StreamData {
                        name: "stdin".into(),
                        command_id: Some(cmd.into()),
                        end: true,
                        data: piece.to_vec(),
                    }]),
                );
                let xml = wsman::client::write_request(&req);
                assert!(xml.len() <= max as usize, "{} > {max}", xml.len());
                let parsed = wsman::server::parse_request(xml.as_bytes()).unwrap();
                let RequestBody::Send(s) = parsed.body else {
                    panic!("not a Send")
                };
                rebuilt.extend_from_slice(&s[0].data);
            }
            assert_eq!(rebuilt, data);
        }
    }
}
