//! The HTTP(S) front: authentication, envelope limits, and the six WinRS operations.
//!
//! Envelopes are parsed and written by the `wsman` crate; this module decides what to answer.
// A Fault is large but built at most once per request: boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use bytes::Bytes;
use wsman::{
    Action, CommandState, Fault, Request, RequestBody, Response, ResponseBody, ShellInfo,
    SignalCode, StreamData,
};

use crate::output::{Sequencing, Stream};
use crate::shells::{CreateError, Registry, ShellParams, SpawnError};
use crate::{SimConfig, SimError, SimHandle, Tls};

const SOAP_CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";
/// How often idle shells are looked for.
const REAP_EVERY: Duration = Duration::from_millis(250);

pub(crate) struct AppState {
    config: SimConfig,
    pub(crate) registry: Registry,
    pub(crate) pools: crate::psrp_server::Pools,
    /// What faults name as `Machine`.
    machine: String,
}

pub(crate) struct Running {
    pub(crate) endpoint: String,
    pub(crate) local_addr: SocketAddr,
    pub(crate) fingerprint: Option<String>,
    pub(crate) state: Arc<AppState>,
    handle: axum_server::Handle<SocketAddr>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    reaper: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(crate) async fn shutdown(&mut self) {
        self.state.pools.stop_everything();
        self.state.registry.close_all(Duration::from_secs(5)).await;
        self.handle.graceful_shutdown(Some(Duration::from_secs(1)));
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
        }
        self.reaper.abort();
    }

    pub(crate) fn abort(&mut self) {
        self.state.pools.stop_everything();
        self.state.registry.kill_everything();
        self.handle.shutdown();
        self.reaper.abort();
    }
}

pub(crate) async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    if !config.listen.ip().is_loopback() && !config.allow_remote {
        return Err(SimError::NotLoopback(config.listen));
    }
    let tls = match &config.tls {
        Tls::Generated => Some(crate::tls::generated(config.listen.ip())?),
        Tls::Files { cert, key } => Some(crate::tls::from_files(cert, key)?),
        Tls::Off => None,
    };
    let listen = config.listen;
    let bind_err = |source| SimError::Bind {
        addr: listen,
        source,
    };
    let listener = std::net::TcpListener::bind(config.listen).map_err(bind_err)?;
    let local_addr = listener.local_addr().map_err(bind_err)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoint = format!("{scheme}://{local_addr}/wsman");

    let state = Arc::new(AppState {
        registry: Registry::new(config.max_shells_per_user),
        pools: Default::default(),
        machine: local_addr.ip().to_string(),
        config,
    });
    let app = Router::new()
        .route("/wsman", post(wsman_endpoint))
        .layer(DefaultBodyLimit::max(state.config.max_request_body))
        .with_state(state.clone())
        .into_make_service_with_connect_info::<SocketAddr>();

    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener)
        .map_err(bind_err)?
        .handle(handle.clone());
    let fingerprint = tls.as_ref().map(|t| t.fingerprint.clone());
    let server = match tls {
        Some(tls) => {
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
                axum_server::tls_rustls::RustlsConfig::from_config(tls.config),
            )
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
            tokio::spawn(server.acceptor(acceptor).serve(app))
        }
        // Small answers (a Receive with a few bytes) must not wait for Nagle + delayed ACK.
        None => tokio::spawn(
            server
                .acceptor(axum_server::accept::NoDelayAcceptor::new())
                .serve(app),
        ),
    };

    let reaper_state = Arc::downgrade(&state);
    let reaper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(REAP_EVERY);
        loop {
            tick.tick().await;
            match reaper_state.upgrade() {
                Some(state) => {
                    let now = Instant::now();
                    state.registry.reap_idle(now);
                    if let Some(after) = state.config.pool_disconnect_after {
                        state.pools.disconnect_idle(&state.registry, now, after);
                    }
                }
                None => return,
            }
        }
    });
    tracing::info!(%endpoint, "WinRS simulator listening");
    Ok(SimHandle {
        inner: Running {
            endpoint,
            local_addr,
            fingerprint,
            state,
            handle,
            server: Some(server),
            reaper,
        },
    })
}

/// The authenticated user name, if the Basic credentials match.
fn authenticate(config: &SimConfig, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    // Windows account names are case-insensitive; passwords are not.
    let user_ok = user.eq_ignore_ascii_case(&config.user);
    let password_ok = constant_time_eq(password.as_bytes(), config.password.as_bytes());
    (user_ok & password_ok).then(|| config.user.clone())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> HttpResponse {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"WSMAN\"")],
    )
        .into_response()
}

fn soap(status: StatusCode, xml: String) -> HttpResponse {
    (status, [(header::CONTENT_TYPE, SOAP_CONTENT_TYPE)], xml).into_response()
}

async fn wsman_endpoint(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResponse {
    let Some(user) = authenticate(&state.config, &headers) else {
        tracing::debug!(%peer, "rejected credentials");
        return unauthorized();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/soap+xml")
    {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let limit = state.config.max_envelope_size;
    if body.len() > limit as usize {
        let relates = wsman::server::parse_request(&body)
            .ok()
            .map(|r| r.header.message_id);
        return fault_response(&state, Fault::envelope_too_large(relates, limit));
    }
    if is_powershell(&body) {
        if let Ok(request) = wsman::psrp::parse_request(&body) {
            if wsman::psrp::configuration_of(&request.header.resource_uri).is_some() {
                return match crate::psrp_server::operate(&state, &user, peer, request).await {
                    Ok(response) => soap(StatusCode::OK, wsman::psrp::write_response(&response)),
                    Err(fault) => fault_response(&state, fault),
                };
            }
        }
    }
    let request = match wsman::server::parse_request(&body) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%peer, "malformed request: {e}");
            return fault_response(&state, Fault::for_parse_error(None, &e));
        }
    };
    let action = request.header.action;
    let message_id = request.header.message_id.clone();
    match operate(&state, &user, peer, request).await {
        Ok(body) => {
            let response = Response {
                action,
                message_id: new_message_id(),
                relates_to: Some(message_id),
                body,
            };
            soap(StatusCode::OK, wsman::server::write_response(&response))
        }
        Err(fault) => fault_response(&state, fault),
    }
}

/// True if the envelope names a PowerShell resource URI (cheap test before parsing).
fn is_powershell(body: &[u8]) -> bool {
    let needle = wsman::psrp::RESOURCE_PREFIX.as_bytes();
    body.windows(needle.len()).any(|w| w == needle)
}

impl AppState {
    pub(crate) fn config(&self) -> &SimConfig {
        &self.config
    }
}

fn fault_response(state: &AppState, mut fault: Fault) -> HttpResponse {
    if fault.machine.is_none() {
        fault.machine = Some(state.machine.clone());
    }
    soap(
        StatusCode::INTERNAL_SERVER_ERROR,
        wsman::server::write_fault(&fault),
    )
}

fn new_message_id() -> String {
    format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase())
}

fn option_is_true(request: &Request, name: &str) -> bool {
    request
        .header
        .options
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim().eq_ignore_ascii_case("true"))
}

async fn operate(
    state: &AppState,
    user: &str,
    peer: SocketAddr,
    request: Request,
) -> Result<ResponseBody, Fault> {
    let relates = Some(request.header.message_id.clone());
    if !request
        .header
        .resource_uri
        .eq_ignore_ascii_case(wsman::ns::RESOURCE_CMD)
    {
        return Err(Fault::unknown_resource(
            relates,
            &request.header.resource_uri,
        ));
    }
    if let RequestBody::Create(spec) = &request.body {
        return create(state, user, peer, &request, spec);
    }
    let shell_id = request.header.shell_id.clone().unwrap_or_default();
    if matches!(request.body, RequestBody::Delete) {
        return if state.registry.delete(&shell_id) {
            tracing::debug!(shell = %shell_id, "deleted");
            Ok(ResponseBody::Deleted)
        } else {
            Err(Fault::invalid_selectors(relates, "shell"))
        };
    }
    let Some(shell) = state.registry.get(&shell_id) else {
        return Err(Fault::invalid_selectors(relates, "shell"));
    };
    let _busy = shell.busy();
    let timeout = request
        .header
        .operation_timeout
        .min(state.config.max_operation_timeout);
    match &request.body {
        RequestBody::Command(line) => {
            let skip = option_is_true(&request, wsman::ns::option::SKIP_CMD_SHELL);
            let launch = state
                .config
                .command_map
                .resolve(&line.command, &line.arguments, skip);
            match shell.start(&launch) {
                Ok(cmd) => Ok(ResponseBody::CommandStarted {
                    command_id: cmd.id.clone(),
                }),
                Err(SpawnError::NotFound(program)) => {
                    tracing::debug!(shell = %shell.id, "program not found: {program}");
                    Err(Fault::win32(
                        relates,
                        2147942402,
                        "The system cannot find the file specified. ",
                    ))
                }
                Err(SpawnError::BadDirectory(dir)) => {
                    tracing::debug!(shell = %shell.id, "not a directory: {}", dir.display());
                    Err(Fault::win32(
                        relates,
                        2147942667,
                        "The directory name is invalid. ",
                    ))
                }
                Err(SpawnError::Other(e)) => {
                    tracing::warn!(shell = %shell.id, "cannot start {:?}: {e}", launch.argv);
                    Err(Fault::win32(
                        relates,
                        2147942405,
                        &format!("The process could not be started: {e}. "),
                    ))
                }
            }
        }
        RequestBody::Send(streams) => {
            for stream in streams {
                let Some(id) = &stream.command_id else {
                    return Err(Fault::invalid_parameter(relates));
                };
                let Some(cmd) = shell.command(id) else {
                    return Err(Fault::invalid_selectors(relates, "command"));
                };
                if !stream.name.eq_ignore_ascii_case("stdin") {
                    continue;
                }
                let send = cmd.send_stdin(stream.data.clone(), stream.end);
                if tokio::time::timeout(timeout, send).await.is_err() {
                    return Err(Fault::timed_out(relates));
                }
            }
            Ok(ResponseBody::Sent)
        }
        RequestBody::Receive {
            command_id,
            sequence_id,
            ..
        } => {
            let Some(id) = command_id else {
                return Err(Fault::invalid_parameter(relates));
            };
            let Some(cmd) = shell.command(id) else {
                return Err(Fault::invalid_selectors(relates, "command"));
            };
            if let Some(seq) = *sequence_id {
                match cmd.sequencing(seq) {
                    Sequencing::Next => {}
                    // The last answer was lost on its way: say it again, at once.
                    Sequencing::Repeat => {
                        return match cmd.take_sequenced(seq, 0, 0) {
                            Ok((batch, done)) => Ok(receive_body(id, batch, done)),
                            // Another Receive acknowledged it meanwhile.
                            Err(last) => Err(out_of_sequence(relates, seq, last)),
                        };
                    }
                    Sequencing::OutOfOrder { last } => {
                        return Err(out_of_sequence(relates, seq, last))
                    }
                }
            }
            // A good deal of output already waiting when the Receive arrives means output is
            // sustained (it piled up while the last answer travelled): batch it. A Receive that
            // waited through an idle period, or finds only a few bytes (a client that asks
            // for the next response only after storing the last one finds an echo and a
            // prompt waiting), answers at once: that is a person's Enter.
            let sustained = cmd.buffered() >= SUSTAINED_BYTES;
            let deadline = tokio::time::Instant::now() + timeout;
            if !cmd
                .wait_ready(deadline, shell.closing(), *sequence_id)
                .await
            {
                return Err(Fault::timed_out(relates));
            }
            let max = request
                .header
                .max_envelope_size
                .min(state.config.max_envelope_size) as usize;
            let (base, per_element) = receive_overhead(id, &request.header.message_id);
            // Spare bytes for differences between this estimate and the real response (ids,
            // numbers of a different length).
            let room = max.saturating_sub(base + 64);
            if sustained {
                cmd.coalesce(state.config.coalesce_window, room / 4 * 3)
                    .await;
            }
            // From here on nothing waits: output taken from the buffer is answered (and, for
            // a numbered Receive, kept) even if the client has gone.
            let (batch, done) = match *sequence_id {
                None => cmd.take_batch(room, per_element),
                Some(seq) => match cmd.take_sequenced(seq, room, per_element) {
                    Ok(batch) => batch,
                    // Another Receive moved on while this one waited.
                    Err(last) => return Err(out_of_sequence(relates, seq, last)),
                },
            };
            if batch.is_empty() && done.is_none() {
                return Err(Fault::envelope_too_large(relates, max as u32));
            }
            Ok(receive_body(id, batch, done))
        }
        RequestBody::Signal { command_id, code } => {
            let Some(id) = command_id else {
                return Err(Fault::invalid_parameter(relates));
            };
            let Some(cmd) = shell.command(id) else {
                return Err(Fault::invalid_selectors(relates, "command"));
            };
            // pypsrp sends `.../signal/Terminate` (as MS-WSMV spells it), pywinrm
            // `.../signal/terminate`; Windows takes both.
            let code = match code {
                SignalCode::Other(uri) => SignalCode::from_uri(&uri.to_ascii_lowercase()),
                known => known.clone(),
            };
            match code {
                SignalCode::CtrlC | SignalCode::CtrlBreak => cmd.signal(libc::SIGINT),
                SignalCode::Terminate => {
                    cmd.signal(libc::SIGKILL);
                    shell.remove_command(id);
                }
                SignalCode::Other(_) => return Err(Fault::invalid_parameter(relates)),
            }
            Ok(ResponseBody::Signalled)
        }
        RequestBody::Create(_) | RequestBody::Delete => unreachable!("handled above"),
    }
}

/// Output waiting at a Receive's arrival from which on it counts as sustained (batched).
const SUSTAINED_BYTES: usize = 4096;

/// A Receive whose `SequenceId` is neither the kept response's number nor the next one.
fn out_of_sequence(relates_to: Option<String>, got: u64, last: u64) -> Fault {
    let message = format!(
        "The Receive's SequenceId {got} is out of order: the last response to this command \
         was number {last}. Send SequenceId {last} to get that response again, or {} to \
         acknowledge it and receive new output.",
        last.saturating_add(1)
    );
    Fault {
        code: "s:Sender".into(),
        subcode: Some("w:InvalidParameter".into()),
        reason: message.clone(),
        detail: Some("http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue".into()),
        wsman_code: Some(87),
        machine: None,
        message,
        relates_to,
    }
}

fn create(
    state: &AppState,
    user: &str,
    peer: SocketAddr,
    request: &Request,
    spec: &wsman::ShellSpec,
) -> Result<ResponseBody, Fault> {
    let relates = Some(request.header.message_id.clone());
    let idle_timeout = spec
        .idle_timeout
        .unwrap_or(state.config.default_idle_timeout);
    let params = ShellParams {
        owner: user.to_string(),
        working_directory: spec
            .working_directory
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| state.config.working_directory.clone()),
        environment: spec.environment.clone(),
        idle_timeout,
        noprofile: option_is_true(request, wsman::ns::option::NOPROFILE),
    };
    let shell = match state.registry.create(params) {
        Ok(shell) => shell,
        Err(CreateError::Quota(limit)) => return Err(Fault::shell_quota(relates, limit)),
        Err(CreateError::Exists) => return Err(Fault::invalid_selectors(relates, "shell")),
    };
    tracing::debug!(shell = %shell.id, %user, "created");
    let or = |given: &Vec<String>, default: &[&str]| {
        if given.is_empty() {
            default.iter().map(|s| s.to_string()).collect()
        } else {
            given.clone()
        }
    };
    Ok(ResponseBody::Created(ShellInfo {
        shell_id: shell.id.clone(),
        resource_uri: wsman::ns::RESOURCE_CMD.to_string(),
        address: request.header.to.clone(),
        owner: Some(user.to_string()),
        client_ip: Some(peer.ip().to_string()),
        idle_timeout: Some(idle_timeout),
        input_streams: or(&spec.input_streams, &["stdin"]),
        output_streams: or(&spec.output_streams, &["stdout", "stderr"]),
    }))
}

fn receive_body(
    command_id: &str,
    batch: Vec<(Stream, Vec<u8>)>,
    done: Option<i32>,
) -> ResponseBody {
    let mut streams: Vec<StreamData> = batch
        .into_iter()
        .map(|(s, data)| StreamData {
            name: s.name().to_string(),
            command_id: Some(command_id.to_string()),
            end: false,
            data,
        })
        .collect();
    if done.is_some() {
        for s in [Stream::Stdout, Stream::Stderr] {
            streams.push(StreamData {
                name: s.name().to_string(),
                command_id: Some(command_id.to_string()),
                end: true,
                data: Vec::new(),
            });
        }
    }
    ResponseBody::Received {
        streams,
        state: Some(CommandState {
            command_id: Some(command_id.to_string()),
            done: done.is_some(),
            exit_code: done,
        }),
    }
}

/// Bytes of a Receive response with no output but everything else at its largest, and the
/// cost of one more (empty) stream element: measured on the real writer, not guessed.
fn receive_overhead(command_id: &str, relates_to: &str) -> (usize, usize) {
    let envelope = |streams: Vec<(Stream, Vec<u8>)>| {
        wsman::server::write_response(&Response {
            action: Action::Receive,
            message_id: new_message_id(),
            relates_to: Some(relates_to.to_string()),
            body: receive_body(command_id, streams, Some(i32::MIN)),
        })
        .len()
    };
    let base = envelope(Vec::new());
    let one = envelope(vec![(Stream::Stderr, Vec::new())]);
    (base, one.saturating_sub(base))
}
