//! A WinRS server for Linux: the WinRM shell operations, backed by real local processes.
//!
//! No Windows host is needed to try or test a WinRM client: this crate serves the WinRS part
//! of WS-Management (Create, Command, Send, Receive, Signal, Delete on the resource URI
//! `http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd`) over HTTPS with Basic
//! authentication, shaped as real Windows servers answer (see `WINRM.md` and the recorded
//! exchanges in the tests), and runs each command as a process of this machine, as the user
//! that started the simulator.
//!
//! ```no_run
//! # async fn demo() -> Result<(), winrs_sim::SimError> {
//! let mut config = winrs_sim::SimConfig::new("demo", "secret");
//! config.listen = "127.0.0.1:0".parse().unwrap();
//! let sim = winrs_sim::start(config).await?;
//! println!("endpoint: {}", sim.endpoint());
//! println!("fingerprint: {}", sim.fingerprint().unwrap_or_default());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Behaviour
//! * Processes get pipes, never a terminal, as WinRS gives them. Each runs in a new session,
//!   so `Signal ctrl_c` reaches its whole process group with SIGINT, `ctrl_break` also with
//!   SIGINT (SIGQUIT would leave core files behind), and `terminate` with SIGKILL.
//! * Receive is a long poll held up to the request's OperationTimeout (at most
//!   [`SimConfig::max_operation_timeout`]); with no output it answers HTTP 500 `w:TimedOut`.
//!   Output goes out in base64 `rsp:Stream` elements, as many as fit the request's
//!   MaxEnvelopeSize; the last response carries `End="true"` streams and `CommandState Done`
//!   with the exit code (128+N for a process killed by signal N). A command's unreceived
//!   output is bounded (4 MiB): past that the process blocks on its pipe until the client
//!   receives. Output is taken from the buffer only when a response is written, so a Receive
//!   abandoned by its client loses nothing.
//! * Numbered Receives (MS-WSMV's `SequenceId` on `rsp:Receive`, opt-in per request): the
//!   response to Receive `n` of a command is kept until Receive `n + 1` acknowledges it; a
//!   Receive repeating `n` gets the same streams and state again (the answer was lost, or
//!   another client of the same user takes the command over by id). The first number may
//!   be any; any other number than the kept one or the next is a fault (87, InvalidParameter)
//!   saying which to send. Output taken for a numbered Receive is kept before the response
//!   is written, so a dropped connection loses nothing. Receives without a number keep
//!   nothing, as before.
//! * Faults as Windows sends them: unknown shell or command (2150858843), too many shells for
//!   the user (2150859173, [`SimConfig::max_shells_per_user`]), request envelope over
//!   [`SimConfig::max_envelope_size`] (2150858824; bodies over
//!   [`SimConfig::max_request_body`] get HTTP 413), malformed request (schema validation,
//!   2150858817), program not found (2147942402), bad working directory (2147942667). A wrong
//!   password gets HTTP 401 with an empty body and `WWW-Authenticate: Basic realm="WSMAN"`.
//! * A shell with no request for its IdleTimeOut (the Create request's, else
//!   [`SimConfig::default_idle_timeout`]) is deleted with its processes.
//! * `WINRS_CODEPAGE`: bytes pass through unchanged, so 65001 (UTF-8) works as on Windows.
//!   `WINRS_NOPROFILE=TRUE`: `USERPROFILE` is `C:\Users\Default` instead of
//!   `C:\Users\<user>`. The shell's WorkingDirectory and Environment apply to its commands.
//! * Which program runs for which command line is [`CommandMap`]'s business (see
//!   [`mapping`]): `cmd.exe` starts an interactive bash behind cmd's own built-ins (`cd`,
//!   `dir`, `type`, `set`, `echo %VAR%`, `ver`, `cls`, `exit /b N`, and chains of them with
//!   `&`, `&&`, `||`) on a folder of its own
//!   per shell that stands for drive `C:` and is removed with the shell; the prompt
//!   (`C:\Users\<user>>`) follows the current folder.
//!
//! # PowerShell remoting
//! The same listener serves PSRP (what `Enter-PSSession`, pypsrp and `winrelay exec
//! --powershell` speak) on the resource URI `http://schemas.microsoft.com/powershell/<NAME>`
//! for any configuration NAME: real RunspacePools and pipelines driven by the `psrp` crate's
//! server state machine (session key exchange, host calls, Ctrl+C stop), protocol 2.3,
//! presenting itself as Windows PowerShell 5.1. Pools count against
//! [`SimConfig::max_shells_per_user`] together with WinRS shells ([`SimHandle::pool_count`]
//! counts them). Pipelines run a small PowerShell-flavoured evaluator: the Write-* cmdlets and
//! their streams, Read-Host and Get-Credential as host calls, Start-Sleep, Get-Location,
//! Set-Location, Get-ChildItem with PowerShell's table, Get-Date, Out-Default, Out-String,
//! `prompt`, TabExpansion2, `$PSVersionTable`, `$LASTEXITCODE`, `$?`, `exit N`; anything else
//! runs through bash (stdout as output strings, stderr as error records). Receive responses
//! hold as many fragments as fit the client's MaxEnvelopeSize.
//!
//! Pools can change hands (MS-PSRP 3.1.4.9/3.1.4.10): Disconnect leaves a pool running,
//! Disconnected (an outstanding Receive ends; Command, Send, Receive and Signal fault with
//! `w:InternalError` until the pool is connected again); Reconnect gives it back to a client
//! (the connected client's own Reconnect is ignored, another's refused); Connect with
//! connectXml lets any client of the same account continue a Disconnected pool (answered with
//! SESSION_CAPABILITY + RUNSPACEPOOL_INIT_DATA, then APPLICATION_PRIVATE_DATA and
//! RUNSPACEPOOL_STATE Opened on the next pool Receive, as Windows sent one or the other), and
//! faults (`w:InternalError`) for a pool that is still connected (MS-WSMV 3.1.4.17); a
//! pipeline that ran on through the disconnect is attached to with a Connect naming its
//! CommandId. A pool whose client sent nothing for
//! [`SimConfig::pool_disconnect_after`] becomes Disconnected by itself. SecureStrings a
//! pipeline writes out are encrypted with the current session key (each client exchanges
//! its own), and one that does not decrypt with it becomes an error record.
//!
//! # Safety
//! Whoever knows the password runs commands as the simulator's user. It listens on loopback
//! only unless [`SimConfig::allow_remote`] is set.
#![deny(missing_docs)]

mod cmd;
pub mod mapping;
mod output;
mod powershell;
mod psrp_server;
mod server;
mod shells;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use mapping::{CommandMap, Launch};
pub use tls::fingerprint;

/// How the simulator speaks HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// HTTPS with a self-signed certificate generated at start (for `localhost`, the loopback
    /// addresses and the listen address).
    Generated,
    /// HTTPS with a PEM certificate chain and private key read from files.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// Plain HTTP (as Windows' port 5985 without message encryption).
    Off,
}

/// Settings of a simulator. Start from [`SimConfig::new`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// The one account accepted by Basic authentication.
    pub user: String,
    /// Its password.
    pub password: String,
    /// HTTPS or plain HTTP. Default [`Tls::Generated`].
    pub tls: Tls,
    /// Allow a non-loopback listen address. Default false.
    pub allow_remote: bool,
    /// Open shells allowed per user (Windows' MaxShellsPerUser). Default 30.
    pub max_shells_per_user: u32,
    /// Largest request envelope accepted, and largest response sent (Windows'
    /// MaxEnvelopeSizekb). Default 512000.
    pub max_envelope_size: u32,
    /// Request bodies larger than this get HTTP 413 without being read. Default 4 MiB.
    pub max_request_body: usize,
    /// IdleTimeOut of shells whose Create request names none. Default 7200 s, as Windows.
    pub default_idle_timeout: Duration,
    /// Longest a request may be held (Windows' MaxTimeoutms). Default 60 s.
    pub max_operation_timeout: Duration,
    /// Under sustained output (a Receive arrives and output is already waiting), how long it
    /// waits for more before answering, so that output travels in fewer, fuller envelopes.
    /// A Receive that waited through an idle period answers its first output at once, so an
    /// interactive command's first output never waits for this. Default 20 ms.
    pub coalesce_window: Duration,
    /// A PowerShell pool whose client vanished without Disconnect (no request on it, so no
    /// Receive outstanding, for this long) becomes Disconnected, so that another client can
    /// Connect to it; `None` never. Default 2 s (short, for tests).
    ///
    /// What real Windows does, as far as known: a client that keeps a pool Receive
    /// outstanding (PowerShell's does, with `WSMAN_CMDSHELL_OPTION_KEEPALIVE=True`) stays
    /// connected. Users of pypsrp, which keeps no pool Receive outstanding between commands,
    /// saw pools turn Disconnected after about two minutes without requests, after which
    /// Command failed with HTTP 400 (pypsrp issues 21 and 203: `State Disconnected`,
    /// `ShellInactivity P0DT0H1M55S`). Which Windows timer does it (WinRM's keep-alive or
    /// PowerShell's robust-connection timeout, documented as about 4 minutes for a lost
    /// network) and whether it is configurable is not verified. MS-WSMV 3.1.6.5 says only
    /// that a client whose TCP connection ends without Disconnect leaves an idle shell, not a
    /// disconnected one; the shell's IdleTimeOut ([`SimConfig::default_idle_timeout`])
    /// deletes it in the end either way.
    pub pool_disconnect_after: Option<Duration>,
    /// Working directory of commands whose shell names none; `None`: the simulator's own.
    pub working_directory: Option<PathBuf>,
    /// Which program runs for which WinRS command line.
    pub command_map: CommandMap,
}

impl SimConfig {
    /// Defaults for one account `user` / `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> SimConfig {
        let user = user.into();
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            command_map: CommandMap::for_user(&user),
            user,
            password: password.into(),
            tls: Tls::Generated,
            allow_remote: false,
            max_shells_per_user: 30,
            max_envelope_size: 512_000,
            max_request_body: 4 * 1024 * 1024,
            default_idle_timeout: Duration::from_secs(7200),
            max_operation_timeout: Duration::from_secs(60),
            coalesce_window: Duration::from_millis(20),
            pool_disconnect_after: Some(Duration::from_secs(2)),
            working_directory: None,
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The listen address is not loopback and remote access was not allowed.
    #[error(
        "refusing to listen on {0}: it is not a loopback address, and anyone who can reach it and \
         knows the password runs commands as this user; allow remote access explicitly to do so \
         (`winrelay sim --allow-remote`, or `SimConfig::allow_remote`)"
    )]
    NotLoopback(SocketAddr),
    /// The socket could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; pick another address or port (0 picks a free one)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificate could not be made or read.
    #[error("TLS certificate: {what} failed: {detail}; check the PEM files, or let the simulator generate one")]
    Certificate {
        /// What was being done.
        what: String,
        /// The underlying error.
        detail: String,
    },
}

/// Starts a simulator; it serves until [`SimHandle::shutdown`] (or until the handle drops).
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    server::start(config).await
}

/// A running simulator.
pub struct SimHandle {
    inner: server::Running,
}

impl SimHandle {
    /// The WinRM endpoint URL, e.g. `https://127.0.0.1:5986/wsman`.
    pub fn endpoint(&self) -> String {
        self.inner.endpoint.clone()
    }

    /// The address actually listened on (with the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// SHA-256 of the certificate (DER) as 64 lowercase hex digits; `None` over plain HTTP.
    pub fn fingerprint(&self) -> Option<String> {
        self.inner.fingerprint.clone()
    }

    /// Number of live shells (tests use it to prove that no shell leaks).
    pub fn shell_count(&self) -> usize {
        self.inner.state.registry.count()
    }

    /// Number of open PowerShell RunspacePools (they are also counted in
    /// [`SimHandle::shell_count`]).
    pub fn pool_count(&self) -> usize {
        self.inner.state.pools.count(&self.inner.state.registry)
    }

    /// Stops serving, deletes every shell and kills its processes, and waits until they are
    /// gone (a few seconds at most).
    pub async fn shutdown(mut self) {
        self.inner.shutdown().await;
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.inner.abort();
    }
}

// Keep the handle usable from spawned tasks.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SimHandle>();
    send_sync::<Arc<SimHandle>>();
};
