//! Shells, their commands and the processes behind them.
//!
//! A [`Registry`] holds the live shells. A [`Shell`] holds its commands; a [`Cmd`] owns a
//! process (in its own session, so its whole process group can be signalled), a bounded
//! [`Output`] buffer fed by one reader task per pipe, and a stdin writer task.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};

use crate::cmd::{CmdFront, Sandbox};
use crate::mapping::Launch;
use crate::output::{Batch, Output, Sequencing, Stream};

/// A pipe reader stops reading while this many bytes wait for a Receive, so a chatty process
/// blocks on its pipe instead of filling the simulator's memory.
pub(crate) const OUTPUT_HIGH_WATER: usize = 4 * 1024 * 1024;
/// After the process exits, a pipe still held open by a background child is given up after
/// this long without data, so the command can finish as it does on Windows.
const PIPE_GRACE_AFTER_EXIT: Duration = Duration::from_millis(300);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a new shell is made of (from the Create request and options).
#[derive(Debug, Clone)]
pub(crate) struct ShellParams {
    pub owner: String,
    pub working_directory: Option<PathBuf>,
    pub environment: Vec<(String, String)>,
    pub idle_timeout: Duration,
    pub noprofile: bool,
}

/// Why Create was refused.
#[derive(Debug)]
pub(crate) enum CreateError {
    Quota(u32),
    /// A shell with the requested id exists.
    Exists,
}

/// Why a command could not start.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// The program does not exist (Windows: "The system cannot find the file specified").
    NotFound(String),
    /// The working directory is not a directory (Windows: "The directory name is invalid").
    BadDirectory(PathBuf),
    /// Anything else the OS refused.
    Other(io::Error),
}

/// The live shells.
pub(crate) struct Registry {
    shells: Mutex<HashMap<String, Arc<Shell>>>,
    max_shells_per_user: u32,
    closing: watch::Sender<bool>,
}

impl Registry {
    pub(crate) fn new(max_shells_per_user: u32) -> Registry {
        Registry {
            shells: Mutex::new(HashMap::new()),
            max_shells_per_user,
            closing: watch::channel(false).0,
        }
    }

    /// Opens a shell unless its owner has too many.
    pub(crate) fn create(&self, params: ShellParams) -> Result<Arc<Shell>, CreateError> {
        self.create_with_id(params, None)
    }

    /// Opens a shell with the id the client chose (a PowerShell RunspacePool's RPID), or a
    /// fresh one, unless its owner has too many (pools and WinRS shells count together).
    pub(crate) fn create_with_id(
        &self,
        params: ShellParams,
        id: Option<String>,
    ) -> Result<Arc<Shell>, CreateError> {
        let mut shells = lock(&self.shells);
        let owned = shells
            .values()
            .filter(|s| s.params.owner == params.owner)
            .count();
        if owned >= self.max_shells_per_user as usize {
            return Err(CreateError::Quota(self.max_shells_per_user));
        }
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase());
        if shells.contains_key(&id) {
            return Err(CreateError::Exists);
        }
        let shell = Arc::new(Shell {
            id: id.clone(),
            params,
            created: Instant::now(),
            commands: Mutex::new(HashMap::new()),
            activity: Mutex::new(Activity {
                last: Instant::now(),
                in_flight: 0,
            }),
            closing: self.closing.subscribe(),
            sandbox: Mutex::new(None),
        });
        shells.insert(id, shell.clone());
        Ok(shell)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Shell>> {
        lock(&self.shells).get(id).cloned()
    }

    /// Removes a shell and kills its processes. False if there was no such shell.
    pub(crate) fn delete(&self, id: &str) -> bool {
        let shell = lock(&self.shells).remove(id);
        match shell {
            Some(shell) => {
                shell.kill_all();
                true
            }
            None => false,
        }
    }

    pub(crate) fn count(&self) -> usize {
        lock(&self.shells).len()
    }

    /// Deletes the shells idle for longer than their IdleTimeOut at `now`; returns their ids.
    pub(crate) fn reap_idle(&self, now: Instant) -> Vec<String> {
        let idle: Vec<String> = lock(&self.shells)
            .values()
            .filter(|s| s.idle_expired(now))
            .map(|s| s.id.clone())
            .collect();
        for id in &idle {
            tracing::info!(shell = %id, "deleting idle shell");
            self.delete(id);
        }
        idle
    }

    /// Tells held Receives to give up, deletes every shell and waits (up to `grace`) until
    /// their processes are gone.
    pub(crate) async fn close_all(&self, grace: Duration) {
        self.closing.send_replace(true);
        let shells: Vec<Arc<Shell>> = lock(&self.shells).drain().map(|(_, s)| s).collect();
        let mut cmds = Vec::new();
        for shell in &shells {
            cmds.extend(lock(&shell.commands).values().cloned());
            shell.kill_all();
        }
        let all_exited = async {
            for cmd in cmds {
                let mut rx = cmd.exited.subscribe();
                let _ = rx.wait_for(|e| *e).await;
            }
        };
        if tokio::time::timeout(grace, all_exited).await.is_err() {
            tracing::warn!("some processes had not exited {grace:?} after being killed");
        }
    }

    /// Kills every process group right now, without waiting (for `Drop`).
    pub(crate) fn kill_everything(&self) {
        self.closing.send_replace(true);
        let shells: Vec<Arc<Shell>> = lock(&self.shells).drain().map(|(_, s)| s).collect();
        for shell in shells {
            shell.kill_all();
        }
    }
}

struct Activity {
    last: Instant,
    in_flight: usize,
}

/// One WinRS shell.
pub(crate) struct Shell {
    pub id: String,
    pub params: ShellParams,
    #[allow(dead_code)]
    created: Instant,
    commands: Mutex<HashMap<String, Arc<Cmd>>>,
    activity: Mutex<Activity>,
    closing: watch::Receiver<bool>,
    /// cmd's drive `C:` (made by the first `cmd.exe`), removed when the shell goes.
    sandbox: Mutex<Option<Arc<Sandbox>>>,
}

/// Marks a shell busy while a request on it is being served (a held Receive included).
pub(crate) struct Busy<'a>(&'a Shell);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut a = lock(&self.0.activity);
        a.in_flight -= 1;
        a.last = Instant::now();
    }
}

impl Shell {
    /// The shell is in use until the guard drops (also when the request is abandoned).
    pub(crate) fn busy(&self) -> Busy<'_> {
        let mut a = lock(&self.activity);
        a.in_flight += 1;
        a.last = Instant::now();
        Busy(self)
    }

    fn idle_expired(&self, now: Instant) -> bool {
        let a = lock(&self.activity);
        a.in_flight == 0 && now.saturating_duration_since(a.last) >= self.params.idle_timeout
    }

    pub(crate) fn command(&self, id: &str) -> Option<Arc<Cmd>> {
        lock(&self.commands).get(id).cloned()
    }

    pub(crate) fn remove_command(&self, id: &str) -> Option<Arc<Cmd>> {
        lock(&self.commands).remove(id)
    }

    fn kill_all(&self) {
        let cmds: Vec<Arc<Cmd>> = lock(&self.commands).drain().map(|(_, c)| c).collect();
        for cmd in cmds {
            cmd.signal(libc::SIGKILL);
        }
    }

    /// Starts a process for `launch` in this shell's directory and environment.
    pub(crate) fn start(&self, launch: &Launch) -> Result<Arc<Cmd>, SpawnError> {
        if let Some(dir) = &self.params.working_directory {
            if !dir.is_dir() {
                return Err(SpawnError::BadDirectory(dir.clone()));
            }
        }
        let mut command = tokio::process::Command::new(&launch.argv[0]);
        command.args(&launch.argv[1..]);
        let sandbox = if launch.cmd_builtins {
            Some(self.sandbox().map_err(SpawnError::Other)?)
        } else {
            None
        };
        let cwd = match (&self.params.working_directory, &sandbox) {
            (Some(dir), _) => Some(dir.clone()),
            (None, Some(s)) => Some(s.home().to_path_buf()),
            (None, None) => None,
        };
        if let Some(dir) = &cwd {
            command.current_dir(dir);
        }
        let profile = if self.params.noprofile {
            r"C:\Users\Default".to_string()
        } else {
            format!(r"C:\Users\{}", self.params.owner)
        };
        command
            .env("USERNAME", &self.params.owner)
            .env("USERPROFILE", &profile);
        command.envs(self.params.environment.iter().map(|(k, v)| (k, v)));
        command.envs(launch.env.iter().map(|(k, v)| (k, v)));
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if launch.merge_stderr {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .kill_on_drop(true);
        // A new session: the process gets its own process group (so Signal reaches its
        // children too) and no controlling terminal, so an interactive bash cannot take over
        // the terminal the simulator was started from.
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SpawnError::NotFound(launch.argv[0].clone()),
            _ => SpawnError::Other(e),
        })?;
        let pid = child
            .id()
            .map(|p| p as i32)
            .ok_or_else(|| SpawnError::Other(io::Error::other("no pid")))?;
        let front = sandbox.map(|s| {
            // What `%VAR%` and `set` see: the environment bash was given.
            let mut env: Vec<(String, String)> = std::env::vars().collect();
            let set = [
                ("USERNAME".to_string(), self.params.owner.clone()),
                ("USERPROFILE".to_string(), profile.clone()),
            ];
            let extra = set
                .into_iter()
                .chain(self.params.environment.iter().cloned())
                .chain(launch.env.iter().cloned());
            for (k, v) in extra {
                env.retain(|(n, _)| *n != k);
                env.push((k, v));
            }
            let cwd = cwd.clone().unwrap_or_else(|| s.home().to_path_buf());
            Arc::new(Mutex::new(CmdFront::new(s.drive(), cwd, env)))
        });
        let id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let (stdin_tx, stdin_rx) = mpsc::channel(32);
        let cmd = Arc::new(Cmd {
            id: id.clone(),
            pgid: pid,
            output: Mutex::new(Output::default()),
            data: Notify::new(),
            space: Notify::new(),
            stdin: stdin_tx,
            exited: watch::channel(false).0,
        });
        let mut output = lock(&cmd.output);
        if launch.merge_stderr {
            output.close(Stream::Stderr);
        }
        drop(output);
        tracing::debug!(shell = %self.id, command = %id, pid, argv = ?launch.argv, "started");

        if let Some(stdin) = child.stdin.take() {
            tokio::spawn(write_stdin(
                stdin,
                stdin_rx,
                launch.interactive,
                front.clone().map(|f| (f, Arc::downgrade(&cmd))),
            ));
        }
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(cmd.clone(), Stream::Stdout, out, front.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(cmd.clone(), Stream::Stderr, err, None));
        }
        let waiter = cmd.clone();
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(status) => exit_code(status),
                Err(e) => {
                    tracing::warn!("waiting for process {pid}: {e}");
                    -1
                }
            };
            lock(&waiter.output).set_exit(code);
            waiter.exited.send_replace(true);
            waiter.data.notify_waiters();
        });
        lock(&self.commands).insert(id, cmd.clone());
        Ok(cmd)
    }

    /// The shell's sandbox folder for cmd, made on first use.
    fn sandbox(&self) -> io::Result<Arc<Sandbox>> {
        let mut slot = lock(&self.sandbox);
        if let Some(s) = &*slot {
            return Ok(s.clone());
        }
        let s = Arc::new(Sandbox::create(&self.params.owner)?);
        *slot = Some(s.clone());
        Ok(s)
    }

    /// A watch that turns true when the simulator shuts down.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.clone()
    }
}

/// Windows exit codes are 32-bit; a Unix death by signal N reads as 128+N, as shells report it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

enum StdinMsg {
    Data(Vec<u8>),
    /// Bytes from cmd's built-ins for bash, as they are.
    Raw(Vec<u8>),
    End,
}

/// cmd.exe and PowerShell take `\r\n` as one line break; bash reading a pipe takes `\r` as
/// a line break of its own, which would run an empty command after each line. The
/// interactive shell standing in for them therefore gets `\n` for `\r\n` (and a lone `\r`).
#[derive(Default)]
struct Crlf {
    after_cr: bool,
}

impl Crlf {
    fn translate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            match b {
                b'\r' => out.push(b'\n'),
                b'\n' if self.after_cr => {}
                _ => out.push(b),
            }
            self.after_cr = b == b'\r';
        }
        out
    }
}

/// cmd's built-ins in front of the shell, and the command whose output they answer into.
type Front = (Arc<Mutex<CmdFront>>, std::sync::Weak<Cmd>);

async fn write_stdin(
    mut stdin: tokio::process::ChildStdin,
    mut rx: mpsc::Receiver<StdinMsg>,
    interactive: bool,
    front: Option<Front>,
) {
    let mut crlf = Crlf::default();
    while let Some(msg) = rx.recv().await {
        let (d, end) = match msg {
            StdinMsg::Data(d) => {
                let d = if interactive { crlf.translate(&d) } else { d };
                match &front {
                    Some((front, cmd)) => (answer(front, cmd, |f| f.client_input(&d)), false),
                    None => (d, false),
                }
            }
            StdinMsg::Raw(d) => (d, false),
            StdinMsg::End => match &front {
                Some((front, cmd)) => (answer(front, cmd, CmdFront::end_of_input), true),
                None => (Vec::new(), true),
            },
        };
        if !d.is_empty() && (stdin.write_all(&d).await.is_err() || stdin.flush().await.is_err()) {
            // The process closed its stdin or died: later input has nowhere to go.
            break;
        }
        if end {
            break;
        }
    }
}

/// One step of cmd's front: its answer goes out to the client (under the front's lock, so
/// answers and the shell's output stay in order); returns what goes to bash.
fn answer(
    front: &Mutex<CmdFront>,
    cmd: &std::sync::Weak<Cmd>,
    step: impl FnOnce(&mut CmdFront) -> crate::cmd::Io,
) -> Vec<u8> {
    let mut front = lock(front);
    let io = step(&mut front);
    if !io.to_client.is_empty() {
        if let Some(cmd) = cmd.upgrade() {
            lock(&cmd.output).push(Stream::Stdout, &io.to_client);
            cmd.data.notify_waiters();
        }
    }
    io.to_shell
}

async fn pump(
    cmd: Arc<Cmd>,
    stream: Stream,
    mut pipe: impl AsyncRead + Unpin,
    front: Option<Arc<Mutex<CmdFront>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut exited = cmd.exited.subscribe();
    loop {
        // Back-pressure: wait for the client to take output before reading more.
        loop {
            let space = cmd.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            if lock(&cmd.output).buffered() < OUTPUT_HIGH_WATER {
                break;
            }
            space.await;
        }
        let read = if *exited.borrow() {
            match tokio::time::timeout(PIPE_GRACE_AFTER_EXIT, pipe.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => Ok(0),
            }
        } else {
            tokio::select! {
                r = pipe.read(&mut buf) => r,
                _ = exited.wait_for(|e| *e) => continue,
            }
        };
        match read {
            Ok(0) | Err(_) => {
                lock(&cmd.output).close(stream);
                cmd.data.notify_waiters();
                return;
            }
            Ok(n) => match &front {
                Some(front) => {
                    let weak = Arc::downgrade(&cmd);
                    let to_shell = answer(front, &weak, |f| f.shell_output(&buf[..n]));
                    if !to_shell.is_empty() {
                        let _ = cmd.stdin.send(StdinMsg::Raw(to_shell)).await;
                    }
                }
                None => {
                    lock(&cmd.output).push(stream, &buf[..n]);
                    cmd.data.notify_waiters();
                }
            },
        }
    }
}

/// One command (process) of a shell.
pub(crate) struct Cmd {
    pub id: String,
    pgid: i32,
    output: Mutex<Output>,
    /// Woken when output arrives or the command ends.
    data: Notify,
    /// Woken when a Receive took output (room for the readers).
    space: Notify,
    stdin: mpsc::Sender<StdinMsg>,
    exited: watch::Sender<bool>,
}

impl Cmd {
    /// Waits until there is output or the end to report, up to `deadline` or shutdown.
    /// True when something is ready. For a Receive numbered `sequence`, a response kept
    /// under that number (another Receive with the same number produced it meanwhile) is
    /// ready too.
    pub(crate) async fn wait_ready(
        &self,
        deadline: tokio::time::Instant,
        mut closing: watch::Receiver<bool>,
        sequence: Option<u64>,
    ) -> bool {
        loop {
            let notified = self.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let out = lock(&self.output);
                if out.ready() || out.done_delivered() {
                    return true;
                }
                if sequence.is_some_and(|s| out.sequencing(s) != Sequencing::Next) {
                    return true;
                }
            }
            if *closing.borrow() {
                return false;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return false,
                _ = closing.wait_for(|c| *c) => return false,
            }
        }
    }

    /// True when a Receive arriving now finds something to say (output or the end).
    /// Output bytes waiting for a Receive.
    pub(crate) fn buffered(&self) -> usize {
        lock(&self.output).buffered()
    }

    /// After output arrived, waits up to `window` for more (or for the end) so that output
    /// written in quick succession, and a process's last words with its exit, go out in one
    /// response, as Windows sends them. Returns early once `enough` bytes are waiting.
    pub(crate) async fn coalesce(&self, window: Duration, enough: usize) {
        let until = tokio::time::Instant::now() + window;
        loop {
            let notified = self.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let out = lock(&self.output);
                if out.finished() || out.buffered() >= enough {
                    return;
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(until) => return,
            }
        }
    }

    /// Takes a batch of output (see [`Output::take_batch`]) and lets the readers go on.
    pub(crate) fn take_batch(
        &self,
        room: usize,
        element_overhead: usize,
    ) -> (Vec<(Stream, Vec<u8>)>, Option<i32>) {
        // Asked again after the end, this repeats the end.
        let batch = lock(&self.output).take_batch(room, element_overhead);
        self.space.notify_waiters();
        batch
    }

    /// What a Receive numbered `sequence` asks for (see [`Output::sequencing`]).
    pub(crate) fn sequencing(&self, sequence: u64) -> Sequencing {
        lock(&self.output).sequencing(sequence)
    }

    /// The answer to a Receive numbered `sequence` (see [`Output::take_sequenced`]): taken
    /// and kept under one lock and without waiting, so once output leaves the buffer it is
    /// kept even if the request is abandoned before its response is written.
    pub(crate) fn take_sequenced(
        &self,
        sequence: u64,
        room: usize,
        element_overhead: usize,
    ) -> Result<Batch, u64> {
        let batch = lock(&self.output).take_sequenced(sequence, room, element_overhead);
        self.space.notify_waiters();
        // Another Receive with the same number may be waiting for this response.
        self.data.notify_waiters();
        batch
    }

    /// Queues stdin bytes, then closes stdin if `end`. Waits while the writer is behind.
    pub(crate) async fn send_stdin(&self, data: Vec<u8>, end: bool) {
        // A closed channel means the process is gone; Windows accepts such input silently.
        if !data.is_empty() {
            let _ = self.stdin.send(StdinMsg::Data(data)).await;
        }
        if end {
            let _ = self.stdin.send(StdinMsg::End).await;
        }
    }

    /// Sends `signal` to the command's whole process group.
    pub(crate) fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory effects; a group that is gone yields ESRCH, ignored.
        let rc = unsafe { libc::kill(-self.pgid, signal) };
        if rc != 0 {
            tracing::debug!(command = %self.id, signal, "kill: {}", io::Error::last_os_error());
        }
    }

    /// True once the process has exited.
    #[allow(dead_code)]
    pub(crate) fn has_exited(&self) -> bool {
        *self.exited.borrow()
    }
}

#[cfg(test)]
mod crlf_tests {
    use super::Crlf;

    #[test]
    fn crlf_becomes_one_line_break_across_chunks() {
        let mut c = Crlf::default();
        assert_eq!(c.translate(b"dir\r"), b"dir\n");
        assert_eq!(c.translate(b"\necho a\r\nb\n\rc"), b"echo a\nb\n\nc");
    }
}
