//! PowerShell remoting (MS-PSRP) on top of the WinRM transport: RunspacePools and pipelines.
//!
//! [`Client::open_pool`] opens a RunspacePool (Create with creationXml, then the pool's
//! Receive until it is Opened). A background task then keeps one Receive outstanding on the
//! pool (session key, pool state); [`PowerShellPool::start`] starts a pipeline whose own task
//! keeps one Receive outstanding on it and hands every message on as a [`PsEvent`] as it
//! arrives. Host calls that want an answer are answered with [`Pipeline::respond`] (or by a
//! [`PsHost`] in [`Pipeline::run_with`]); [`Pipeline::stop`] sends Ctrl+C
//! (`powershell/signal/crtl_c`). SecureStrings need the session key: it is exchanged on
//! demand ([`PowerShellPool::secure_string`]), with the RSA key generated once, lazily, on a
//! blocking thread.
//!
//! [`PowerShellPool::disconnect`] leaves a pool on the server (Disconnected) for another
//! client, which continues it with [`Client::connect_pool`] (MS-PSRP 3.1.4.9/3.1.4.10) and
//! picks up a pipeline that ran on meanwhile with [`PowerShellPool::connect_pipeline`].
//!
//! **Invariant:** a pool this module opened or connected to is deleted when it is closed,
//! dropped, or fails to open, unless it was handed on with [`PowerShellPool::disconnect`]
//! (or [`PowerShellPool::forget`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use psrp::clixml::Value;
use psrp::crypto::ClientKeyPair;
use psrp::host::{HostCall, HostResponse};
use psrp::message::{Guid, MessageType};
use psrp::messages::{CreatePipeline, InitRunspacePool};
use psrp::pool::{ClientEvent, ClientPool, InputStream, Outgoing};
use psrp::records::{
    ErrorRecord, HostInfo, InformationRecord, PipelineState, ProgressRecord, RunspacePoolState,
};
use tokio::sync::{mpsc, watch};
use wsman::psrp::{CommandStateKind, PsrpRequestBody, PsrpResponse, PsrpResponseBody};
use wsman::{Fault, StreamData};

use crate::{Client, Error};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How to open a pool.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// The session configuration (default `Microsoft.PowerShell`; JEA endpoints by name).
    pub configuration: String,
    /// The pool's host (default: a console of 120 × 50).
    pub host: HostInfo,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            configuration: wsman::psrp::DEFAULT_CONFIGURATION.to_string(),
            host: HostInfo::console(120, 50),
        }
    }
}

/// Something a pipeline said, in the order it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum PsEvent {
    /// An output object.
    Output(Value),
    /// An error record (non-terminating).
    Error(ErrorRecord),
    /// Write-Warning.
    Warning(String),
    /// Write-Verbose.
    Verbose(String),
    /// Write-Debug.
    Debug(String),
    /// Write-Information (and Write-Host's copy, tagged `PSHOST`).
    Information(InformationRecord),
    /// Write-Progress.
    Progress(ProgressRecord),
    /// A host call; answer it with [`Pipeline::respond`] if [`HostCall::wants_reply`].
    HostCall(HostCall),
    /// The pipeline's end: Completed, Stopped or Failed (with the reason).
    Finished {
        /// The final state.
        state: PipelineState,
        /// Why it stopped or failed.
        error: Option<ErrorRecord>,
    },
}

/// Answers host calls for [`Pipeline::run_with`].
pub trait PsHost: Send {
    /// The answer to a call that wants one (None: no answer, the call fails on the server).
    /// Called for every host call, void ones (writes) included.
    fn call(&mut self, call: &HostCall, pool: &PowerShellPool) -> Option<HostAnswer>;
}

/// A host's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum HostAnswer {
    /// A return value.
    Value(Value),
    /// A string to be sent as a SecureString (encrypted with the session key, exchanged
    /// first if needed).
    Secret(String),
}

/// What [`Pipeline::run_with`] collected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineResult {
    /// Output objects.
    pub output: Vec<Value>,
    /// Error records.
    pub errors: Vec<ErrorRecord>,
    /// The final state.
    pub state: Option<PipelineState>,
    /// The reason for Stopped/Failed.
    pub failure: Option<ErrorRecord>,
    /// `exit N` (the SetShouldExit host call), if any.
    pub exit_code: Option<i32>,
}

impl PipelineResult {
    /// True if errors were written or the pipeline did not complete.
    pub fn had_errors(&self) -> bool {
        !self.errors.is_empty() || self.state != Some(PipelineState::Completed)
    }
}

struct Shared {
    client: Client,
    id: String,
    configuration: String,
    pool: Mutex<ClientPool>,
    /// Bumped when the session key arrives or the pool state changes.
    key_ready: watch::Sender<bool>,
    key_pair: tokio::sync::OnceCell<()>,
    closed: AtomicBool,
}

impl Shared {
    async fn post(&self, body: PsrpRequestBody) -> Result<Result<PsrpResponse, Fault>, Error> {
        let req = self
            .client
            .psrp_request(&self.configuration, Some(&self.id), body);
        self.client.post_psrp(&req).await
    }

    async fn call(&self, body: PsrpRequestBody) -> Result<PsrpResponse, Error> {
        match self.post(body).await? {
            Ok(r) => Ok(r),
            Err(f) => Err(Error::from_fault(self.client.endpoint(), f)),
        }
    }

    async fn send(&self, out: Outgoing) -> Result<(), Error> {
        for payload in out.payloads {
            let stream = StreamData {
                name: out.stream.name().to_string(),
                command_id: out.pipeline.map(|p| p.to_string()),
                end: false,
                data: payload,
            };
            self.call(PsrpRequestBody::Send(vec![stream])).await?;
        }
        Ok(())
    }

    async fn delete(&self) -> Result<(), Error> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let req =
            self.client
                .psrp_request(&self.configuration, Some(&self.id), PsrpRequestBody::Delete);
        match self.client.post_psrp(&req).await? {
            Ok(_) => Ok(()),
            Err(f) => match Error::from_fault(self.client.endpoint(), f) {
                Error::ShellGone { .. } => Ok(()),
                e => Err(e),
            },
        }
    }
}

struct Guard(Arc<Shared>, tokio::task::JoinHandle<()>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.1.abort();
        if self.0.closed.load(Ordering::Acquire) {
            return;
        }
        let shared = self.0.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = shared.delete().await {
                        tracing::warn!(pool = %shared.id, error = %e, "could not delete a dropped pool");
                    }
                });
            }
            Err(_) => tracing::warn!(
                pool = %self.0.id,
                "a pool was dropped outside a tokio runtime; it stays until its idle timeout"
            ),
        }
    }
}

/// An open RunspacePool. Dropping it deletes it on the server (in the background); prefer
/// [`PowerShellPool::close`].
pub struct PowerShellPool {
    guard: Arc<Guard>,
}

impl std::fmt::Debug for PowerShellPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerShellPool")
            .field("id", &self.guard.0.id)
            .finish()
    }
}

fn protocol_error(client: &Client, what: impl std::fmt::Display) -> Error {
    Error::Fault {
        endpoint: client.endpoint().to_string(),
        code: None,
        message: format!("PowerShell remoting: {what}"),
    }
}

impl Client {
    /// Opens a RunspacePool.
    pub async fn open_pool(&self, options: PoolOptions) -> Result<PowerShellPool, Error> {
        let rpid = Guid::parse(&uuid::Uuid::new_v4().to_string()).expect("a uuid is a guid");
        let id = rpid.to_string().to_ascii_uppercase();
        let mut pool = ClientPool::new(rpid, self.inner.max_envelope_size);
        let creation_xml = pool
            .open(&InitRunspacePool::new(options.host.clone()))
            .map_err(|e| protocol_error(self, e))?;
        let shared = Arc::new(Shared {
            client: self.clone(),
            id: id.clone(),
            configuration: options.configuration.clone(),
            pool: Mutex::new(pool),
            key_ready: watch::channel(false).0,
            key_pair: tokio::sync::OnceCell::new(),
            closed: AtomicBool::new(true),
        });
        let req = self.psrp_request(
            &options.configuration,
            None,
            PsrpRequestBody::Create {
                shell_id: id.clone(),
                input_streams: vec!["stdin".into(), "pr".into()],
                output_streams: vec!["stdout".into()],
                idle_timeout: None,
                creation_xml,
            },
        );
        match self.post_psrp(&req).await? {
            Ok(_) => {}
            Err(f) => return Err(Error::from_fault(self.endpoint(), f)),
        }
        // From here on the pool exists: the guard deletes it on any failure.
        shared.closed.store(false, Ordering::Release);
        let mut guard = Guard(shared.clone(), tokio::spawn(async {}));
        loop {
            let body = PsrpRequestBody::Receive {
                command_id: None,
                streams: vec!["stdout".into()],
            };
            let resp = match shared.post(body).await? {
                Ok(r) => r,
                Err(f) if f.is_timeout() => continue,
                Err(f) => return Err(Error::from_fault(self.endpoint(), f)),
            };
            let PsrpResponseBody::Received { streams, .. } = resp.body else {
                return Err(protocol_error(self, "Receive answered with another body"));
            };
            let mut pool = lock(&shared.pool);
            for s in streams {
                for ev in pool.receive(&s.data).map_err(|e| protocol_error(self, e))? {
                    if let ClientEvent::PoolState { state, error } = ev {
                        match state {
                            RunspacePoolState::Opened => {}
                            _ => {
                                return Err(protocol_error(
                                    self,
                                    format!(
                                        "the pool is {state:?}{}",
                                        error
                                            .map(|e| format!(": {}", e.message))
                                            .unwrap_or_default()
                                    ),
                                ))
                            }
                        }
                    }
                }
            }
            if pool.state() == RunspacePoolState::Opened {
                break;
            }
        }
        guard.1 = tokio::spawn(pool_receive_loop(shared.clone()));
        tracing::debug!(pool = %id, endpoint = self.endpoint(), "opened a runspace pool");
        Ok(PowerShellPool {
            guard: Arc::new(guard),
        })
    }

    /// Connects to a pool that another client (or this one, before
    /// [`PowerShellPool::disconnect`]) opened and that is now Disconnected on the server
    /// (`shell/Connect` with connectXml = SESSION_CAPABILITY + CONNECT_RUNSPACEPOOL; the
    /// answer's RUNSPACEPOOL_INIT_DATA makes it Opened). The pool keeps its state (variables,
    /// functions, current folder); this client numbers its messages from 1 again and has no
    /// session key until [`PowerShellPool::secure_string`] asks for one.
    ///
    /// `options.configuration` must name the pool's session configuration (its resource URI);
    /// `options.host` is not sent (the pool keeps the host it was opened with). A pool that
    /// is still connected to another client cannot be connected to (Windows answers with a
    /// fault, MS-WSMV 3.1.4.17). The returned pool is deleted on close or drop, like one from
    /// [`Client::open_pool`].
    pub async fn connect_pool(
        &self,
        shell_id: &str,
        options: PoolOptions,
    ) -> Result<PowerShellPool, Error> {
        let rpid = Guid::parse(shell_id)
            .ok_or_else(|| protocol_error(self, format!("{shell_id:?} is not a pool id")))?;
        let id = rpid.to_string().to_ascii_uppercase();
        let mut pool = ClientPool::new(rpid, self.inner.max_envelope_size);
        let connect_xml = pool.connect().map_err(|e| protocol_error(self, e))?;
        let req = self.psrp_request(
            &options.configuration,
            Some(&id),
            PsrpRequestBody::Connect {
                command_id: None,
                connect_xml: Some(connect_xml),
            },
        );
        let resp = match self.post_psrp(&req).await? {
            Ok(r) => r,
            Err(f) => return Err(Error::from_fault(self.endpoint(), f)),
        };
        let shared = Arc::new(Shared {
            client: self.clone(),
            id: id.clone(),
            configuration: options.configuration.clone(),
            pool: Mutex::new(pool),
            key_ready: watch::channel(false).0,
            key_pair: tokio::sync::OnceCell::new(),
            closed: AtomicBool::new(false),
        });
        // Connected: from here on the pool is this client's, and the guard deletes it on
        // any failure.
        let mut guard = Guard(shared.clone(), tokio::spawn(async {}));
        let PsrpResponseBody::Connected {
            connect_response_xml: Some(xml),
            ..
        } = resp.body
        else {
            return Err(protocol_error(
                self,
                "Connect answered without connectResponseXml",
            ));
        };
        {
            let mut pool = lock(&shared.pool);
            pool.receive(&xml).map_err(|e| protocol_error(self, e))?;
            if pool.state() != RunspacePoolState::Opened {
                return Err(protocol_error(
                    self,
                    format!(
                        "the pool is {:?} after Connect (no RUNSPACEPOOL_INIT_DATA)",
                        pool.state()
                    ),
                ));
            }
        }
        guard.1 = tokio::spawn(pool_receive_loop(shared.clone()));
        tracing::debug!(pool = %id, endpoint = self.endpoint(), "connected to a runspace pool");
        Ok(PowerShellPool {
            guard: Arc::new(guard),
        })
    }
}

async fn pool_receive_loop(shared: Arc<Shared>) {
    loop {
        let body = PsrpRequestBody::Receive {
            command_id: None,
            streams: vec!["stdout".into()],
        };
        let resp = match shared.post(body).await {
            Ok(Ok(r)) => r,
            Ok(Err(f)) if f.is_timeout() => continue,
            Ok(Err(_)) | Err(_) => return,
        };
        let PsrpResponseBody::Received { streams, .. } = resp.body else {
            return;
        };
        let mut events = Vec::new();
        {
            let mut pool = lock(&shared.pool);
            for s in streams {
                match pool.receive(&s.data) {
                    Ok(ev) => events.extend(ev),
                    Err(e) => {
                        tracing::warn!(pool = %shared.id, "bad pool message: {e}");
                        return;
                    }
                }
            }
        }
        for ev in events {
            match ev {
                ClientEvent::SessionKeyReady => {
                    shared.key_ready.send_replace(true);
                }
                ClientEvent::PoolState {
                    state: RunspacePoolState::Closed | RunspacePoolState::Broken,
                    ..
                } => {
                    shared.key_ready.send_modify(|_| {});
                    return;
                }
                _ => {}
            }
        }
    }
}

impl PowerShellPool {
    fn shared(&self) -> &Arc<Shared> {
        &self.guard.0
    }

    /// The pool id (also its ShellId).
    pub fn id(&self) -> &str {
        &self.shared().id
    }

    /// The server's protocol version (`2.3` for Windows PowerShell 5.1).
    pub fn protocol_version(&self) -> Option<(u32, u32)> {
        lock(&self.shared().pool).server_protocol()
    }

    /// `$PSVersionTable.PSVersion` from the pool's private data, as text.
    pub fn ps_version(&self) -> Option<String> {
        let pool = lock(&self.shared().pool);
        let data = pool.private_data()?;
        let table = data
            .get("ApplicationPrivateData")
            .unwrap_or(data)
            .entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some("PSVersionTable"))?
            .1
            .clone();
        let version = table
            .entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some("PSVersion"))?
            .1
            .display();
        Some(version)
    }

    /// Starts a pipeline with `input` objects (then end of input).
    pub async fn start(
        &self,
        mut create: CreatePipeline,
        input: Vec<Value>,
    ) -> Result<Pipeline, Error> {
        let shared = self.shared().clone();
        let pid = Guid::parse(&uuid::Uuid::new_v4().to_string()).expect("a uuid is a guid");
        create.no_input = input.is_empty();
        let start = lock(&shared.pool)
            .create_pipeline(pid, &create)
            .map_err(|e| protocol_error(&shared.client, e))?;
        let command_id = pid.to_string().to_ascii_uppercase();
        shared
            .call(PsrpRequestBody::Command {
                command_id: command_id.clone(),
                arguments: start.arguments,
            })
            .await?;
        for payload in start.rest {
            shared
                .send(Outgoing {
                    stream: InputStream::Stdin,
                    pipeline: Some(pid),
                    payloads: vec![payload],
                })
                .await?;
        }
        if !input.is_empty() {
            let out = lock(&shared.pool)
                .send_input(pid, &input, true)
                .map_err(|e| protocol_error(&shared.client, e))?;
            shared.send(out).await?;
        }
        let (tx, rx) = mpsc::channel(256);
        let task = tokio::spawn(pipeline_receive_loop(
            shared.clone(),
            pid,
            command_id.clone(),
            tx,
        ));
        Ok(Pipeline {
            shared,
            pid,
            command_id,
            rx,
            task,
        })
    }

    /// Attaches to a pipeline that was running when the pool was disconnected (started by
    /// this pool's previous client; its id is the CommandId that client used), after
    /// [`Client::connect_pool`]: `shell/Connect` with the CommandId, then its output from
    /// where the previous client stopped receiving, as for a pipeline from
    /// [`PowerShellPool::start`]. The pool runs one pipeline at a time, so a new one waits
    /// until such a pipeline ends.
    pub async fn connect_pipeline(&self, command_id: &str) -> Result<Pipeline, Error> {
        let shared = self.shared().clone();
        let pid = Guid::parse(command_id).ok_or_else(|| {
            protocol_error(
                &shared.client,
                format!("{command_id:?} is not a pipeline id"),
            )
        })?;
        let command_id = pid.to_string().to_ascii_uppercase();
        shared
            .call(PsrpRequestBody::Connect {
                command_id: Some(command_id.clone()),
                connect_xml: None,
            })
            .await?;
        lock(&shared.pool)
            .attach_pipeline(pid)
            .map_err(|e| protocol_error(&shared.client, e))?;
        let (tx, rx) = mpsc::channel(256);
        let task = tokio::spawn(pipeline_receive_loop(
            shared.clone(),
            pid,
            command_id.clone(),
            tx,
        ));
        Ok(Pipeline {
            shared,
            pid,
            command_id,
            rx,
            task,
        })
    }

    /// Runs `script` with no input and collects what it wrote (host calls unanswered).
    pub async fn run_script(&self, script: &str) -> Result<PipelineResult, Error> {
        let create = CreatePipeline::new(
            vec![psrp::messages::Command::script(script)],
            HostInfo::null(),
        );
        self.start(create, Vec::new())
            .await?
            .run_with(&mut NoHost, self)
            .await
    }

    /// Makes sure the session key is there (exchanging it if needed) and encrypts `text` as
    /// a SecureString value.
    pub async fn secure_string(&self, text: &str) -> Result<Value, Error> {
        let shared = self.shared();
        if let Some(key) = lock(&shared.pool).session_key() {
            return Ok(Value::SecureString(key.encrypt(text)));
        }
        shared
            .key_pair
            .get_or_try_init(|| async {
                let pair =
                    tokio::task::spawn_blocking(|| ClientKeyPair::generate(&mut rand_core::OsRng))
                        .await
                        .map_err(|e| protocol_error(&shared.client, e))?
                        .map_err(|e| protocol_error(&shared.client, e))?;
                let out = lock(&shared.pool)
                    .start_key_exchange(pair)
                    .map_err(|e| protocol_error(&shared.client, e))?;
                shared.send(out).await
            })
            .await?;
        let mut ready = shared.key_ready.subscribe();
        let wait = ready.wait_for(|r| *r);
        match tokio::time::timeout(shared.client.inner.operation_timeout * 2, wait).await {
            Ok(Ok(_)) => {}
            _ => {
                return Err(protocol_error(
                    &shared.client,
                    "no session key from the server",
                ))
            }
        }
        let pool = lock(&shared.pool);
        let key = pool
            .session_key()
            .ok_or_else(|| protocol_error(&shared.client, "no session key"))?;
        Ok(Value::SecureString(key.encrypt(text)))
    }

    /// Decrypts a SecureString with the session key.
    pub fn reveal(&self, value: &Value) -> Option<String> {
        let Value::SecureString(c) = value else {
            return None;
        };
        let pool = lock(&self.shared().pool);
        pool.session_key()?.decrypt(c).ok().map(|s| s.to_string())
    }

    /// Disconnects the pool (`shell/Disconnect`): it stays on the server, Disconnected, with
    /// its state and any running pipelines, until a client connects to it
    /// ([`Client::connect_pool`] with the returned id) or the server's idle timeout deletes
    /// it. Nothing is deleted afterwards. Pipelines of this pool still held get no more
    /// output. On failure the pool is deleted (as on drop).
    pub async fn disconnect(self) -> Result<String, Error> {
        let shared = self.shared().clone();
        self.guard.1.abort();
        shared
            .call(PsrpRequestBody::Disconnect { idle_timeout: None })
            .await?;
        lock(&shared.pool).disconnected();
        shared.closed.store(true, Ordering::Release);
        tracing::debug!(pool = %shared.id, "disconnected a runspace pool");
        Ok(shared.id.clone())
    }

    /// Lets go of the pool without a word to the server, neither Disconnect nor Delete (as a
    /// client that was killed would), and returns its id. The server keeps it, Connected, until
    /// its own timers act: Windows marks such a pool Disconnected after a while without
    /// requests (then [`Client::connect_pool`] works) and deletes it after its idle timeout.
    pub fn forget(self) -> String {
        self.guard.1.abort();
        self.shared().closed.store(true, Ordering::Release);
        self.shared().id.clone()
    }

    /// Closes the pool (Delete).
    pub async fn close(self) -> Result<(), Error> {
        self.guard.1.abort();
        self.shared().delete().await
    }
}

struct NoHost;

impl PsHost for NoHost {
    fn call(&mut self, _: &HostCall, _: &PowerShellPool) -> Option<HostAnswer> {
        None
    }
}

async fn pipeline_receive_loop(
    shared: Arc<Shared>,
    pid: Guid,
    command_id: String,
    tx: mpsc::Sender<Result<PsEvent, Error>>,
) {
    loop {
        let body = PsrpRequestBody::Receive {
            command_id: Some(command_id.clone()),
            streams: vec!["stdout".into()],
        };
        let resp = match shared.post(body).await {
            Ok(Ok(r)) => r,
            Ok(Err(f)) if f.is_timeout() => continue,
            Ok(Err(f)) => {
                let _ = tx
                    .send(Err(Error::from_fault(shared.client.endpoint(), f)))
                    .await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let PsrpResponseBody::Received { streams, state } = resp.body else {
            let _ = tx
                .send(Err(protocol_error(
                    &shared.client,
                    "Receive answered with another body",
                )))
                .await;
            return;
        };
        let mut events = Vec::new();
        let mut failed = None;
        {
            let mut pool = lock(&shared.pool);
            for s in streams {
                match pool.receive(&s.data) {
                    Ok(ev) => events.extend(ev),
                    Err(e) => {
                        failed = Some(protocol_error(&shared.client, e));
                        break;
                    }
                }
            }
        }
        let mut finished = false;
        for ev in events {
            let ev = match ev {
                ClientEvent::Output { pipeline, value } if pipeline == pid => {
                    PsEvent::Output(value)
                }
                ClientEvent::Error { pipeline, record } if pipeline == pid => {
                    PsEvent::Error(record)
                }
                ClientEvent::Informational {
                    pipeline,
                    kind,
                    record,
                } if pipeline == pid => match kind {
                    MessageType::WARNING_RECORD => PsEvent::Warning(record.message),
                    MessageType::VERBOSE_RECORD => PsEvent::Verbose(record.message),
                    _ => PsEvent::Debug(record.message),
                },
                ClientEvent::Progress { pipeline, record } if pipeline == pid => {
                    PsEvent::Progress(record)
                }
                ClientEvent::Information { pipeline, record } if pipeline == pid => {
                    PsEvent::Information(record)
                }
                ClientEvent::HostCall {
                    pipeline: Some(p),
                    call,
                } if p == pid => PsEvent::HostCall(call),
                ClientEvent::PipelineFinished {
                    pipeline,
                    state,
                    error,
                } if pipeline == pid => {
                    finished = true;
                    PsEvent::Finished { state, error }
                }
                _ => continue,
            };
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
        }
        if let Some(e) = failed {
            let _ = tx.send(Err(e)).await;
            return;
        }
        let done = state.is_some_and(|s| s.state == CommandStateKind::Done);
        if finished || done {
            if !finished {
                let _ = tx
                    .send(Err(protocol_error(
                        &shared.client,
                        "the pipeline ended without PIPELINE_STATE",
                    )))
                    .await;
            }
            return;
        }
    }
}

/// A running pipeline.
pub struct Pipeline {
    shared: Arc<Shared>,
    pid: Guid,
    command_id: String,
    rx: mpsc::Receiver<Result<PsEvent, Error>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pipeline {
    /// The pipeline id (its CommandId).
    pub fn id(&self) -> &str {
        &self.command_id
    }

    /// The next event; None after [`PsEvent::Finished`] (or an error).
    pub async fn next(&mut self) -> Option<Result<PsEvent, Error>> {
        self.rx.recv().await
    }

    /// Answers a host call.
    pub async fn respond(&self, response: &HostResponse) -> Result<(), Error> {
        let out = lock(&self.shared.pool)
            .host_response(Some(self.pid), response)
            .map_err(|e| protocol_error(&self.shared.client, e))?;
        self.shared.send(out).await
    }

    /// Stops the pipeline (Ctrl+C); its [`PsEvent::Finished`] (Stopped) still arrives.
    pub async fn stop(&self) -> Result<(), Error> {
        let _ = lock(&self.shared.pool).stopping(self.pid);
        self.shared
            .call(PsrpRequestBody::Signal {
                command_id: Some(self.command_id.clone()),
                code: wsman::psrp::SIGNAL_STOP.to_string(),
            })
            .await
            .map(|_| ())
    }

    /// A handle that can stop this pipeline from another task.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            shared: self.shared.clone(),
            pid: self.pid,
            command_id: self.command_id.clone(),
        }
    }

    /// Runs to the end, answering host calls with `host` and collecting the rest.
    pub async fn run_with(
        mut self,
        host: &mut dyn PsHost,
        pool: &PowerShellPool,
    ) -> Result<PipelineResult, Error> {
        let mut result = PipelineResult::default();
        while let Some(ev) = self.next().await {
            match ev? {
                PsEvent::Output(v) => result.output.push(v),
                PsEvent::Error(e) => result.errors.push(e),
                PsEvent::HostCall(call) => {
                    if call.method == psrp::host::HostMethodId::SET_SHOULD_EXIT {
                        result.exit_code = call.params.first().and_then(Value::as_i32);
                    }
                    let answer = host.call(&call, pool);
                    if call.wants_reply() {
                        let value = match answer {
                            Some(HostAnswer::Value(v)) => Some(v),
                            Some(HostAnswer::Secret(s)) => Some(pool.secure_string(&s).await?),
                            None => None,
                        };
                        self.respond(&HostResponse::ok(&call, value)).await?;
                    }
                }
                PsEvent::Finished { state, error } => {
                    result.state = Some(state);
                    result.failure = error;
                    break;
                }
                _ => {}
            }
        }
        Ok(result)
    }
}

/// Stops a pipeline from anywhere (see [`Pipeline::stopper`]).
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
    pid: Guid,
    command_id: String,
}

impl Stopper {
    /// Sends Ctrl+C to the pipeline.
    pub async fn stop(&self) -> Result<(), Error> {
        let _ = lock(&self.shared.pool).stopping(self.pid);
        self.shared
            .call(PsrpRequestBody::Signal {
                command_id: Some(self.command_id.clone()),
                code: wsman::psrp::SIGNAL_STOP.to_string(),
            })
            .await
            .map(|_| ())
    }
}
