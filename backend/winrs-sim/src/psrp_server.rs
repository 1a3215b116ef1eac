//! The PowerShell remoting endpoint: RunspacePools and pipelines on the same listener as
//! WinRS, resource URI `http://schemas.microsoft.com/powershell/<configuration>` (any
//! configuration name), driven by `psrp::ServerPool` and the [`crate::powershell`] evaluator.
//!
//! A pool is also a shell of the [`Registry`] (same per-user quota, idle timeout and count).
//! Fragments wait in a queue per pool and per pipeline until a Receive takes as many as fit
//! the client's MaxEnvelopeSize.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use psrp::clixml::Value;
use psrp::host::{HostMethodId, HostResponse};
use psrp::message::{Guid, MessageType};
use psrp::messages::{CreatePipeline, PoolRequest};
use psrp::pool::{ServerEvent, ServerPool};
use psrp::records::{HostInfo, PipelineState, RunspacePoolState};
use tokio::sync::{oneshot, watch};
use wsman::psrp::{
    CommandStateKind, PsrpCommandState, PsrpRequest, PsrpRequestBody, PsrpResponse,
    PsrpResponseBody,
};
use wsman::{Fault, ShellInfo, StreamData};

use crate::powershell::{self, Outcome, Runspace};
use crate::shells::{CreateError, Registry, Shell, ShellParams};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The live pools, by ShellId (upper case).
#[derive(Default)]
pub(crate) struct Pools {
    map: Mutex<HashMap<String, Arc<PsPool>>>,
}

impl Pools {
    fn get(&self, registry: &Registry, id: &str) -> Option<Arc<PsPool>> {
        let id = id.to_ascii_uppercase();
        let mut map = lock(&self.map);
        if registry.get(&id).is_none() {
            // Deleted as idle (or never there).
            if let Some(p) = map.remove(&id) {
                p.stop_all();
            }
            return None;
        }
        map.get(&id).cloned()
    }

    /// Number of open pools.
    pub(crate) fn count(&self, registry: &Registry) -> usize {
        let mut map = lock(&self.map);
        map.retain(|id, p| {
            let alive = registry.get(id).is_some();
            if !alive {
                p.stop_all();
            }
            alive
        });
        map.len()
    }

    /// Marks Disconnected every connected pool that had no request in flight (so no Receive
    /// outstanding) for `after`, as Windows does with a pool whose client vanished (see
    /// [`crate::SimConfig::pool_disconnect_after`]). Its pipelines go on running; their
    /// output waits for the next client.
    pub(crate) fn disconnect_idle(&self, registry: &Registry, now: Instant, after: Duration) {
        let pools: Vec<Arc<PsPool>> = lock(&self.map).values().cloned().collect();
        for p in pools {
            if registry.get(&p.shell.id).is_none() {
                continue;
            }
            let mut inner = lock(&p.inner);
            let idle =
                inner.in_flight == 0 && now.saturating_duration_since(inner.last_request) >= after;
            if idle && !inner.disconnected {
                inner.disconnected = true;
                inner.client_session = None;
                drop(inner);
                tracing::info!(pool = %p.shell.id, "runspace pool disconnected: no request for {after:?}");
                p.bump();
            }
        }
    }

    pub(crate) fn stop_everything(&self) {
        for (_, p) in lock(&self.map).drain() {
            p.stop_all();
        }
    }
}

/// Fragments waiting for a Receive, and their total size.
#[derive(Default)]
struct Queue {
    frags: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Queue {
    fn extend(&mut self, frags: impl IntoIterator<Item = Vec<u8>>) {
        for f in frags {
            self.bytes += f.len();
            self.frags.push_back(f);
        }
    }

    fn front(&self) -> Option<&Vec<u8>> {
        self.frags.front()
    }

    fn pop_front(&mut self) -> Option<Vec<u8>> {
        let f = self.frags.pop_front()?;
        self.bytes -= f.len();
        Some(f)
    }

    fn is_empty(&self) -> bool {
        self.frags.is_empty()
    }
}

impl From<Vec<Vec<u8>>> for Queue {
    fn from(frags: Vec<Vec<u8>>) -> Queue {
        let mut q = Queue::default();
        q.extend(frags);
        q
    }
}

struct Pipe {
    #[allow(dead_code)]
    pid: Guid,
    out: Queue,
    finished: bool,
    input: Option<tokio::sync::mpsc::UnboundedSender<Option<Value>>>,
    stop: watch::Sender<bool>,
    waiting: HashMap<i64, oneshot::Sender<HostResponse>>,
    host_ui: bool,
}

struct Inner {
    server: ServerPool,
    pool_out: Queue,
    pipes: HashMap<Guid, Pipe>,
    host: HostInfo,
    /// Disconnected (by Disconnect, or by [`Pools::disconnect_idle`]): Command, Send, Receive
    /// and Signal fault until a Reconnect or Connect.
    disconnected: bool,
    /// The `wsmv:SessionId` of the connected client (MS-PSRP 3.1.4.9: servers tell clients
    /// apart by it), which alone may Reconnect while connected.
    client_session: Option<String>,
    /// The connected client's requests (Command, Send, Receive, Signal) in flight, and when
    /// the last one began or ended; other clients' attempts do not count.
    in_flight: usize,
    last_request: Instant,
}

/// Counts a request of the connected client while it is served.
struct ClientBusy<'a>(&'a PsPool);

impl<'a> ClientBusy<'a> {
    fn new(pool: &'a PsPool) -> ClientBusy<'a> {
        let mut inner = lock(&pool.inner);
        inner.in_flight += 1;
        inner.last_request = Instant::now();
        ClientBusy(pool)
    }
}

impl Drop for ClientBusy<'_> {
    fn drop(&mut self) {
        let mut inner = lock(&self.0.inner);
        inner.in_flight -= 1;
        inner.last_request = Instant::now();
    }
}

pub(crate) struct PsPool {
    shell: Arc<Shell>,
    inner: Mutex<Inner>,
    /// Bumped whenever a queue gets fragments or a pipeline finishes.
    changed: watch::Sender<u64>,
    runspace: tokio::sync::Mutex<Runspace>,
}

impl PsPool {
    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    fn stop_all(&self) {
        for p in lock(&self.inner).pipes.values() {
            p.stop.send_replace(true);
        }
        self.bump();
    }
}

/// The evaluator's view of one pipeline.
struct PipeIo {
    pool: Arc<PsPool>,
    pid: Guid,
    host_ui: bool,
}

impl powershell::Io for PipeIo {
    fn emit(&self, t: MessageType, v: &Value) {
        let mut inner = lock(&self.pool.inner);
        // A SecureString lives decrypted in the server and is encrypted with the current
        // session key when it is written out (as PowerShell serializes one); one that does
        // not decrypt with that key (none exchanged, or the key of another client) cannot be
        // sent.
        let resealed = match v {
            Value::SecureString(c) => Some(inner.server.session_key().and_then(|k| {
                k.decrypt(c)
                    .ok()
                    .map(|p| Value::SecureString(k.encrypt(&p)))
            })),
            _ => None,
        };
        let (t, owned) = match resealed {
            Some(Some(sealed)) => (t, sealed),
            Some(None) => {
                let e = psrp::records::ErrorRecord {
                    message: "A SecureString could not be decrypted with the session key: exchange the key (PUBLIC_KEY) before SecureStrings travel.".into(),
                    fully_qualified_error_id: "SecureStringSessionKey".into(),
                    category: 7,
                    ..Default::default()
                };
                (MessageType::ERROR_RECORD, e.to_value())
            }
            None => (t, v.clone()),
        };
        let v = &owned;
        if let Ok(frags) = inner.server.pipeline_message(self.pid, t, v) {
            if let Some(p) = inner.pipes.get_mut(&self.pid) {
                p.out.extend(frags);
            }
        }
        drop(inner);
        self.pool.bump();
    }

    async fn host_call(
        &self,
        method: HostMethodId,
        params: Vec<Value>,
        void: bool,
    ) -> Option<HostResponse> {
        let (tx, rx) = oneshot::channel();
        let mut stop = {
            let mut inner = lock(&self.pool.inner);
            let (ci, frags) = inner
                .server
                .host_call(Some(self.pid), method, params, void)
                .ok()?;
            let p = inner.pipes.get_mut(&self.pid)?;
            p.out.extend(frags);
            if !void {
                p.waiting.insert(ci, tx);
            }
            p.stop.subscribe()
        };
        self.pool.bump();
        if void {
            return None;
        }
        tokio::select! {
            r = rx => r.ok(),
            _ = stop.wait_for(|s| *s) => None,
        }
    }

    fn has_host_ui(&self) -> bool {
        self.host_ui
    }

    async fn wait_room(&self) {
        let mut changed = self.pool.changed.subscribe();
        loop {
            changed.borrow_and_update();
            {
                let inner = lock(&self.pool.inner);
                let Some(p) = inner.pipes.get(&self.pid) else {
                    return;
                };
                if *p.stop.borrow() || p.out.bytes <= OUTPUT_HIGH_WATER {
                    return;
                }
            }
            if changed.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Unreceived output a pipeline may hold before its evaluator waits (as WinRS commands block
/// on their pipes).
const OUTPUT_HIGH_WATER: usize = 4 * 1024 * 1024;

fn new_message_id() -> String {
    format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase())
}

fn unknown(relates: Option<String>, what: &str) -> Fault {
    Fault::invalid_selectors(relates, what)
}

fn bad_request(relates: Option<String>, detail: &str) -> Fault {
    Fault::schema_validation(relates, detail)
}

/// Serves one PSRP request.
pub(crate) async fn operate(
    state: &crate::server::AppState,
    user: &str,
    peer: SocketAddr,
    request: PsrpRequest,
) -> Result<PsrpResponse, Fault> {
    let relates = Some(request.header.message_id.clone());
    let config = state.config();
    let max_env = request
        .header
        .max_envelope_size
        .min(config.max_envelope_size);
    let body = match request.body {
        PsrpRequestBody::Create {
            shell_id,
            input_streams,
            output_streams,
            idle_timeout,
            creation_xml,
        } => {
            let id = shell_id.to_ascii_uppercase();
            let idle_timeout = idle_timeout.unwrap_or(config.default_idle_timeout);
            let params = ShellParams {
                owner: user.to_string(),
                working_directory: config.working_directory.clone(),
                environment: Vec::new(),
                idle_timeout,
                noprofile: false,
            };
            let mut server = ServerPool::new();
            server.set_max_envelope_size(max_env);
            let events = server
                .receive(&creation_xml)
                .map_err(|e| bad_request(relates.clone(), &e.to_string()))?;
            let Some(ServerEvent::Open { init, .. }) = events.into_iter().next() else {
                return Err(bad_request(relates, "creationXml has no INIT_RUNSPACEPOOL"));
            };
            let shell = match state.registry.create_with_id(params, Some(id.clone())) {
                Ok(s) => s,
                Err(CreateError::Quota(limit)) => return Err(Fault::shell_quota(relates, limit)),
                Err(CreateError::Exists) => {
                    return Err(bad_request(relates, "a shell with this ShellId exists"))
                }
            };
            let pool_out: Queue = server
                .accept_open(powershell::private_data())
                .map_err(|e| bad_request(relates.clone(), &e.to_string()))?
                .into();
            let cwd = config
                .working_directory
                .clone()
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_else(|| PathBuf::from("/"));
            let pool = Arc::new(PsPool {
                shell,
                inner: Mutex::new(Inner {
                    server,
                    pool_out,
                    pipes: HashMap::new(),
                    host: init.host_info.clone(),
                    disconnected: false,
                    client_session: request.header.session_id.clone(),
                    in_flight: 0,
                    last_request: Instant::now(),
                }),
                changed: watch::channel(0).0,
                runspace: tokio::sync::Mutex::new(Runspace::new(cwd, user)),
            });
            lock(&state.pools.map).insert(id.clone(), pool);
            tracing::debug!(pool = %id, %user, "runspace pool opened");
            let or = |given: Vec<String>, default: &[&str]| {
                if given.is_empty() {
                    default.iter().map(|s| s.to_string()).collect()
                } else {
                    given
                }
            };
            PsrpResponseBody::Created(ShellInfo {
                shell_id: id,
                resource_uri: request.header.resource_uri.clone(),
                address: request.header.to.clone(),
                owner: Some(user.to_string()),
                client_ip: Some(peer.ip().to_string()),
                idle_timeout: Some(idle_timeout),
                input_streams: or(input_streams, wsman::psrp::INPUT_STREAMS),
                output_streams: or(output_streams, wsman::psrp::OUTPUT_STREAMS),
            })
        }
        PsrpRequestBody::Delete => {
            let id = request
                .header
                .shell_id
                .clone()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let pool = lock(&state.pools.map).remove(&id);
            if let Some(p) = &pool {
                p.stop_all();
            }
            if !state.registry.delete(&id) {
                return Err(unknown(relates, "shell"));
            }
            tracing::debug!(pool = %id, "runspace pool closed");
            PsrpResponseBody::Deleted
        }
        body => {
            let id = request.header.shell_id.clone().unwrap_or_default();
            let Some(pool) = state.pools.get(&state.registry, &id) else {
                return Err(unknown(relates, "shell"));
            };
            let _busy = pool.shell.busy();
            lock(&pool.inner).server.set_max_envelope_size(max_env);
            let timeout = request
                .header
                .operation_timeout
                .min(config.max_operation_timeout);
            let session = request.header.session_id.clone();
            let disconnected = lock(&pool.inner).disconnected;
            if disconnected
                && matches!(
                    body,
                    PsrpRequestBody::Command { .. }
                        | PsrpRequestBody::Send(_)
                        | PsrpRequestBody::Receive { .. }
                        | PsrpRequestBody::Signal { .. }
                        | PsrpRequestBody::Connect {
                            command_id: Some(_),
                            ..
                        }
                )
            {
                return Err(Fault::shell_disconnected(relates));
            }
            let _client_busy = matches!(
                body,
                PsrpRequestBody::Command { .. }
                    | PsrpRequestBody::Send(_)
                    | PsrpRequestBody::Receive { .. }
                    | PsrpRequestBody::Signal { .. }
            )
            .then(|| ClientBusy::new(&pool));
            match body {
                PsrpRequestBody::Command {
                    command_id,
                    arguments,
                } => command(&pool, &command_id, &arguments, relates)?,
                PsrpRequestBody::Send(streams) => {
                    for s in streams {
                        send(&pool, &s, relates.clone())?;
                    }
                    PsrpResponseBody::Sent
                }
                PsrpRequestBody::Receive { command_id, .. } => {
                    receive(
                        &pool,
                        command_id,
                        max_env,
                        &request.header.message_id,
                        timeout,
                        relates,
                    )
                    .await?
                }
                PsrpRequestBody::Signal { command_id, code } => {
                    let pid = command_id.as_deref().and_then(Guid::parse);
                    let inner = lock(&pool.inner);
                    tracing::debug!(?command_id, %code, found = pid.is_some_and(|p| inner.pipes.contains_key(&p)), "signal");
                    // PowerShell sends `crtl_c` (sic); pypsrp spells it `ctrl_c`.
                    if code.eq_ignore_ascii_case(wsman::psrp::SIGNAL_STOP)
                        || code.eq_ignore_ascii_case("powershell/signal/ctrl_c")
                    {
                        if let Some(p) = pid.and_then(|pid| inner.pipes.get(&pid)) {
                            p.stop.send_replace(true);
                            // A pipeline waiting for room notices the stop.
                            pool.bump();
                        }
                    }
                    // Terminate (or a stop for a finished pipeline): nothing left to release.
                    PsrpResponseBody::Signalled
                }
                PsrpRequestBody::Disconnect { .. } => {
                    let mut inner = lock(&pool.inner);
                    inner.disconnected = true;
                    inner.client_session = None;
                    drop(inner);
                    // An outstanding Receive ends (with the disconnected fault).
                    pool.bump();
                    tracing::debug!(pool = %pool.shell.id, "runspace pool disconnected");
                    PsrpResponseBody::Disconnected
                }
                PsrpRequestBody::Reconnect => {
                    let mut inner = lock(&pool.inner);
                    if inner.disconnected {
                        inner.disconnected = false;
                        inner.client_session = session;
                        inner.last_request = Instant::now();
                    } else if inner.client_session != session {
                        // MS-WSMV 3.1.4.16: the connected client's Reconnect is ignored,
                        // another's is an InternalError.
                        return Err(Fault::shell_connected(relates));
                    }
                    PsrpResponseBody::Reconnected
                }
                PsrpRequestBody::Connect {
                    command_id: Some(command_id),
                    ..
                } => {
                    // Attach to a pipeline of a pool this client connected to.
                    let inner = lock(&pool.inner);
                    let known =
                        Guid::parse(&command_id).is_some_and(|pid| inner.pipes.contains_key(&pid));
                    if !known {
                        return Err(unknown(relates, "command"));
                    }
                    PsrpResponseBody::Connected {
                        input_streams: Vec::new(),
                        output_streams: Vec::new(),
                        connect_response_xml: None,
                    }
                }
                PsrpRequestBody::Connect {
                    command_id: None,
                    connect_xml,
                } => {
                    let mut inner = lock(&pool.inner);
                    if !inner.disconnected {
                        return Err(Fault::shell_connected(relates));
                    }
                    let Some(xml) = connect_xml else {
                        return Err(bad_request(relates, "Connect to a pool without connectXml"));
                    };
                    let events = inner
                        .server
                        .receive(&xml)
                        .map_err(|e| bad_request(relates.clone(), &e.to_string()))?;
                    if !events
                        .iter()
                        .any(|e| matches!(e, ServerEvent::Connect { .. }))
                    {
                        return Err(bad_request(
                            relates,
                            "connectXml has no CONNECT_RUNSPACEPOOL",
                        ));
                    }
                    let xml = inner.server.accept_connect(1, 1);
                    // Windows follows with the private data (test_psrp_disconnected_commands)
                    // or the pool's state again (test_psrp_disconnect_runspaces) on the next
                    // pool Receive; the simulator sends both.
                    let data = inner
                        .server
                        .private_data_message(powershell::private_data());
                    let state = inner.server.state_message();
                    inner.pool_out.extend(data);
                    inner.pool_out.extend(state);
                    inner.disconnected = false;
                    inner.client_session = session;
                    inner.last_request = Instant::now();
                    drop(inner);
                    pool.bump();
                    tracing::debug!(pool = %pool.shell.id, %user, "runspace pool connected");
                    PsrpResponseBody::Connected {
                        input_streams: wsman::psrp::INPUT_STREAMS
                            .iter()
                            .map(|s| s.to_string())
                            .collect(),
                        output_streams: wsman::psrp::OUTPUT_STREAMS
                            .iter()
                            .map(|s| s.to_string())
                            .collect(),
                        connect_response_xml: Some(xml),
                    }
                }
                PsrpRequestBody::Create { .. } | PsrpRequestBody::Delete => {
                    unreachable!("handled above")
                }
            }
        }
    };
    Ok(PsrpResponse {
        action: request.header.action,
        message_id: new_message_id(),
        relates_to: Some(request.header.message_id),
        body,
    })
}

fn command(
    pool: &Arc<PsPool>,
    command_id: &str,
    arguments: &[u8],
    relates: Option<String>,
) -> Result<PsrpResponseBody, Fault> {
    let events = lock(&pool.inner)
        .server
        .receive(arguments)
        .map_err(|e| bad_request(relates.clone(), &e.to_string()))?;
    for ev in events {
        handle_event(pool, ev, Some(command_id));
    }
    Ok(PsrpResponseBody::CommandStarted {
        command_id: command_id.to_string(),
    })
}

fn send(pool: &Arc<PsPool>, s: &StreamData, relates: Option<String>) -> Result<(), Fault> {
    let events = lock(&pool.inner)
        .server
        .receive(&s.data)
        .map_err(|e| bad_request(relates, &e.to_string()))?;
    for ev in events {
        handle_event(pool, ev, s.command_id.as_deref());
    }
    Ok(())
}

fn handle_event(pool: &Arc<PsPool>, ev: ServerEvent, command_id: Option<&str>) {
    let mut inner = lock(&pool.inner);
    match ev {
        ServerEvent::PipelineCreated { pipeline, create } => {
            let host = if create.host_info.use_runspace_host {
                inner.host.clone()
            } else {
                create.host_info.clone()
            };
            let host_ui = !host.is_host_null && !host.is_host_ui_null;
            let (stop, stop_rx) = watch::channel(false);
            let (input_tx, input_rx) = tokio::sync::mpsc::unbounded_channel();
            let takes_input = !create.no_input;
            inner.pipes.insert(
                pipeline,
                Pipe {
                    pid: pipeline,
                    out: Queue::default(),
                    finished: false,
                    input: takes_input.then_some(input_tx),
                    stop,
                    waiting: HashMap::new(),
                    host_ui,
                },
            );
            drop(inner);
            let _ = command_id;
            tokio::spawn(run_pipeline(
                pool.clone(),
                pipeline,
                *create,
                takes_input.then_some(input_rx),
                stop_rx,
                host_ui,
            ));
        }
        ServerEvent::Input { pipeline, value } => {
            if let Some(tx) = inner.pipes.get(&pipeline).and_then(|p| p.input.as_ref()) {
                let _ = tx.send(Some(value));
            }
        }
        ServerEvent::EndOfInput { pipeline } => {
            if let Some(tx) = inner.pipes.get(&pipeline).and_then(|p| p.input.as_ref()) {
                let _ = tx.send(None);
            }
        }
        ServerEvent::HostResponse {
            pipeline: Some(pid),
            response,
        } => {
            if let Some(tx) = inner
                .pipes
                .get_mut(&pid)
                .and_then(|p| p.waiting.remove(&response.call_id))
            {
                let _ = tx.send(response);
            }
        }
        ServerEvent::PublicKey(blob) => {
            match inner.server.send_session_key(&blob, &mut rand_core::OsRng) {
                Ok(frags) => inner.pool_out.extend(frags),
                Err(e) => tracing::debug!("bad public key: {e}"),
            }
            drop(inner);
            pool.bump();
        }
        ServerEvent::PoolRequest(r) => {
            let (ci, v) = match r {
                PoolRequest::GetAvailable { ci } => (ci, Value::I64(1)),
                PoolRequest::SetMax { ci, .. } | PoolRequest::SetMin { ci, .. } => {
                    (ci, Value::Bool(true))
                }
                PoolRequest::Reset { ci } => (ci, Value::Bool(true)),
            };
            let frags = inner.server.availability(ci, v);
            inner.pool_out.extend(frags);
            drop(inner);
            pool.bump();
        }
        ServerEvent::CommandMetadata { pipeline, .. } => {
            if let Ok(frags) = inner
                .server
                .finish(pipeline, PipelineState::Completed, None)
            {
                let (stop, _) = watch::channel(false);
                inner.pipes.insert(
                    pipeline,
                    Pipe {
                        pid: pipeline,
                        out: frags.into(),
                        finished: true,
                        input: None,
                        stop,
                        waiting: HashMap::new(),
                        host_ui: false,
                    },
                );
            }
            drop(inner);
            pool.bump();
        }
        ServerEvent::Open { .. }
        | ServerEvent::Connect { .. }
        | ServerEvent::HostResponse { .. } => {}
    }
}

async fn run_pipeline(
    pool: Arc<PsPool>,
    pid: Guid,
    create: CreatePipeline,
    input: Option<tokio::sync::mpsc::UnboundedReceiver<Option<Value>>>,
    stop: watch::Receiver<bool>,
    host_ui: bool,
) {
    // Input arrives before the pipeline runs (the evaluator's commands take all of it).
    let mut values = Vec::new();
    if let Some(mut rx) = input {
        let mut stop = stop.clone();
        loop {
            tokio::select! {
                v = rx.recv() => match v {
                    Some(Some(v)) => values.push(v),
                    _ => break,
                },
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    }
    let io = PipeIo {
        pool: pool.clone(),
        pid,
        host_ui,
    };
    let outcome = {
        let mut rs = pool.runspace.lock().await;
        if *stop.borrow() {
            Outcome::Stopped
        } else {
            powershell::run(&io, &mut rs, &create, values, stop).await
        }
    };
    let mut inner = lock(&pool.inner);
    let frags = match outcome {
        Outcome::Completed | Outcome::Exit(_) => {
            if let Outcome::Exit(n) = outcome {
                // `exit N` sets $LASTEXITCODE, as in a remote session.
                if let Ok(mut rs) = pool.runspace.try_lock() {
                    rs.last_exit_code = Some(n);
                }
                let host_ui = inner.pipes.get(&pid).is_some_and(|p| p.host_ui);
                let frags = inner.server.host_call(
                    Some(pid),
                    HostMethodId::SET_SHOULD_EXIT,
                    vec![Value::I32(n)],
                    true,
                );
                if let (true, Ok((_, f)), Some(p)) = (host_ui, frags, inner.pipes.get_mut(&pid)) {
                    p.out.extend(f);
                }
            }
            inner.server.finish(pid, PipelineState::Completed, None)
        }
        Outcome::Stopped => inner.server.stop(pid),
        Outcome::Failed(e) => inner.server.finish(pid, PipelineState::Failed, Some(*e)),
    };
    if let (Ok(frags), Some(p)) = (frags, inner.pipes.get_mut(&pid)) {
        p.out.extend(frags);
        p.finished = true;
    }
    drop(inner);
    pool.bump();
}

/// Bytes of a Receive response around its stream data.
fn receive_overhead(command_id: Option<&str>, relates_to: &str) -> usize {
    wsman::psrp::write_response(&PsrpResponse {
        action: wsman::psrp::PsrpAction::Receive,
        message_id: new_message_id(),
        relates_to: Some(relates_to.to_string()),
        body: PsrpResponseBody::Received {
            streams: vec![StreamData {
                name: "stdout".into(),
                command_id: command_id.map(str::to_string),
                end: false,
                data: Vec::new(),
            }],
            state: Some(PsrpCommandState {
                command_id: command_id.map(str::to_string),
                state: CommandStateKind::Running,
                exit_code: Some(0),
            }),
        },
    })
    .len()
}

async fn receive(
    pool: &Arc<PsPool>,
    command_id: Option<String>,
    max_env: u32,
    message_id: &str,
    timeout: Duration,
    relates: Option<String>,
) -> Result<PsrpResponseBody, Fault> {
    let pid = match &command_id {
        Some(id) => Some(Guid::parse(id).ok_or_else(|| unknown(relates.clone(), "command"))?),
        None => None,
    };
    let room = (max_env as usize)
        .saturating_sub(receive_overhead(command_id.as_deref(), message_id) + 64)
        / 4
        * 3;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changed = pool.changed.subscribe();
    loop {
        changed.borrow_and_update();
        {
            let mut inner = lock(&pool.inner);
            if inner.disconnected {
                return Err(Fault::shell_disconnected(relates));
            }
            let Inner {
                pool_out,
                pipes,
                server,
                ..
            } = &mut *inner;
            let queue = match pid {
                None => Some(pool_out),
                Some(pid) => pipes.get_mut(&pid).map(|p| &mut p.out),
            };
            let Some(queue) = queue else {
                return Err(unknown(relates, "command"));
            };
            if !queue.is_empty() {
                let mut data = Vec::new();
                while let Some(f) = queue.front() {
                    if !data.is_empty() && data.len() + f.len() > room {
                        break;
                    }
                    data.extend(queue.pop_front().unwrap_or_default());
                }
                let empty = queue.is_empty();
                // A pipeline waiting for room may go on.
                pool.bump();
                let state = pid.map(|pid| {
                    let finished = pipes.get(&pid).is_some_and(|p| p.finished);
                    let done = finished && empty;
                    let kind = if done {
                        pipes.remove(&pid);
                        CommandStateKind::Done
                    } else if server.is_pending(pid) {
                        CommandStateKind::Pending
                    } else {
                        CommandStateKind::Running
                    };
                    PsrpCommandState {
                        command_id: command_id.clone(),
                        state: kind,
                        exit_code: done.then_some(0),
                    }
                });
                return Ok(PsrpResponseBody::Received {
                    streams: vec![StreamData {
                        name: "stdout".into(),
                        command_id: command_id.clone(),
                        end: false,
                        data,
                    }],
                    state,
                });
            }
            if server.state() == RunspacePoolState::Closed {
                return Err(unknown(relates, "shell"));
            }
        }
        if tokio::time::timeout_at(deadline, changed.changed())
            .await
            .is_err()
        {
            return Err(Fault::timed_out(relates));
        }
    }
}
