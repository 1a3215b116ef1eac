//! The transport: one HTTPS connection pool per target, Basic auth, one POST per operation.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use wsman::{Action, Fault, Header, Request, RequestBody, Response};

use crate::http::{HttpError, Target, Transport};
use crate::shell::{Shell, ShellOptions};
use crate::tls::{self, SharedSlot, TlsMode};
use crate::Error;

/// A password that never shows up in `Debug` output, logs or error messages.
#[derive(Clone, Default)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    /// The password itself, for the one place that needs it (the Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Password {
    fn from(s: String) -> Password {
        Password(s)
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Password {
        Password(s.to_string())
    }
}

/// What happened to one WS-Management request, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The server answered with a response.
    Ok,
    /// A Receive's long poll ended with no output (a normal "ask again").
    NoOutputYet,
    /// The server answered with a SOAP fault (its WSManFault code, if any).
    Fault(Option<u32>),
    /// No usable answer: transport error, HTTP status, unreadable body.
    Failed,
}

/// Called after every request with its action, how long it took and how it ended.
#[derive(Clone)]
pub struct RequestObserver(pub Arc<dyn Fn(Action, Duration, RequestOutcome) + Send + Sync>);

impl std::fmt::Debug for RequestObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestObserver")
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The endpoint URL, e.g. `https://10.0.0.5:5986/wsman`.
    pub endpoint: String,
    /// The account name (a local account for Basic auth).
    pub user: String,
    /// Its password.
    pub password: Password,
    /// How the server's certificate is checked.
    pub tls: TlsMode,
    /// Allow `http://` endpoints, which send the password in clear. Off by default.
    pub allow_http: bool,
    /// How long the server may hold a request (a Receive's long poll). The HTTP timeout is
    /// always this plus [`ClientConfig::http_grace`], so the server's answer is never cut off.
    pub operation_timeout: Duration,
    /// How much longer than the operation timeout the client waits for an HTTP answer.
    pub http_grace: Duration,
    /// How long a TCP + TLS connect may take.
    pub connect_timeout: Duration,
    /// Largest envelope either side may send, in bytes: sent to the server as
    /// MaxEnvelopeSize, and the limit that stdin chunks are cut to. Windows servers accept
    /// 153600 (older) or 512000 (newer) by default.
    pub max_envelope_size: u32,
    /// `xml:lang` of Locale and DataLocale.
    pub locale: String,
    /// Connect to this address instead of resolving the endpoint's host name (the name is
    /// still used for TLS and the Host header). A caller that checked where a name points
    /// uses this so that a second DNS answer cannot send the connection elsewhere.
    pub resolve: Option<std::net::SocketAddr>,
    /// Told about every request (latency and outcome), e.g. for Prometheus metrics.
    pub observer: Option<RequestObserver>,
}

impl ClientConfig {
    /// A configuration with the usual defaults: PT20S operation timeout, 153600-byte
    /// envelopes, `en-US`.
    pub fn new(
        endpoint: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<Password>,
        tls: TlsMode,
    ) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.into(),
            user: user.into(),
            password: password.into(),
            tls,
            allow_http: false,
            operation_timeout: Duration::from_secs(20),
            http_grace: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_envelope_size: 153_600,
            locale: "en-US".into(),
            resolve: None,
            observer: None,
        }
    }
}

/// A WinRM client for one endpoint. Cheap to clone; clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Holds the Authorization header: never printed.
    http: Transport,
    pub(crate) endpoint: String,
    user: String,
    pub(crate) operation_timeout: Duration,
    http_timeout: Duration,
    pub(crate) max_envelope_size: u32,
    locale: String,
    session_id: String,
    pin: Option<[u8; 32]>,
    certs: SharedSlot,
    /// Shells opened and not yet deleted, so that shutdown can close them all.
    pub(crate) open_shells: Mutex<HashSet<String>>,
    observer: Option<RequestObserver>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field("password", &"***")
            .field("operation_timeout", &self.operation_timeout)
            .field("max_envelope_size", &self.max_envelope_size)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client. No connection is made yet.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let scheme = config
            .endpoint
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        let https = match scheme.as_deref() {
            Some("https") => true,
            Some("http") if config.allow_http => {
                tracing::warn!(
                    endpoint = %config.endpoint,
                    "plain HTTP: the password and all shell traffic cross the network in clear"
                );
                false
            }
            Some("http") => {
                return Err(Error::Config(format!(
                    "{} is plain HTTP, which would send the password in clear; use https \
                     (port 5986) or opt in to plain HTTP explicitly",
                    config.endpoint
                )))
            }
            _ => {
                return Err(Error::Config(format!(
                    "{:?} is not an http(s) URL; expected e.g. https://HOST:5986/wsman",
                    config.endpoint
                )))
            }
        };
        if config.max_envelope_size < 8192 {
            return Err(Error::Config(format!(
                "max envelope size {} is too small; Windows accepts at least 153600",
                config.max_envelope_size
            )));
        }
        let certs = SharedSlot::default();
        let http_timeout = config.operation_timeout + config.http_grace;
        let mut target = Target::parse(&config.endpoint).map_err(Error::Config)?;
        // Never a proxy (from HTTPS_PROXY and friends or otherwise): a proxy would resolve the
        // host name again and undo a caller's checked address.
        target.resolve = config.resolve;
        let tls = if https {
            Some(tls::client_config(
                &config.tls,
                &config.endpoint,
                certs.clone(),
            )?)
        } else {
            None
        };
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            config.user,
            config.password.expose()
        ));
        let auth = format!("Basic {token}");
        let http = Transport::new(
            target,
            tls,
            &[
                (
                    "User-Agent",
                    concat!("winrelay-winrm-client/", env!("CARGO_PKG_VERSION")),
                ),
                ("Content-Type", "application/soap+xml;charset=UTF-8"),
                ("Authorization", &auth),
            ],
            config.connect_timeout,
        )
        .map_err(Error::Config)?;

        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint: config.endpoint,
                user: config.user,
                operation_timeout: config.operation_timeout,
                http_timeout,
                max_envelope_size: config.max_envelope_size,
                locale: config.locale,
                session_id: format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase()),
                pin: match config.tls {
                    TlsMode::Pin(p) => Some(p),
                    _ => None,
                },
                certs,
                open_shells: Mutex::new(HashSet::new()),
                observer: config.observer.clone(),
            }),
        })
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The SHA-256 fingerprint (lowercase hex) of the certificate the server presented in the
    /// most recent handshake, if any handshake happened.
    pub fn seen_fingerprint(&self) -> Option<String> {
        let slot = self.inner.certs.lock().unwrap_or_else(|e| e.into_inner());
        slot.last_seen.map(hex::encode)
    }

    /// Opens a shell.
    pub async fn open_shell(&self, options: ShellOptions) -> Result<Shell, Error> {
        Shell::open(self.clone(), options).await
    }

    /// Continues a command another client (or process) started, by shell id and command
    /// id, without Create or Command: in acknowledged mode (see
    /// [`crate::StartOptions::acknowledged`]), its first Receive numbered `next_sequence`. Give
    /// the number after the last response whose output was stored (0 if none): if the
    /// server had already produced that response, it sends it again; nothing stored is
    /// repeated. The shell then belongs to this client: [`Shell::close`] or dropping it
    /// deletes it, [`Shell::forget`] hands it on again. A shell or command the server no
    /// longer knows shows as an error on the output stream.
    pub async fn resume_command(
        &self,
        shell_id: &str,
        command_id: &str,
        next_sequence: u64,
    ) -> Result<(Shell, crate::CommandInput, crate::OutputStream), Error> {
        Shell::resume(self.clone(), shell_id, command_id, next_sequence)
    }

    /// Ids of the shells this client opened and has not deleted yet.
    pub fn open_shell_ids(&self) -> Vec<String> {
        let set = self
            .inner
            .open_shells
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        set.iter().cloned().collect()
    }

    /// Deletes every shell this client still has open; used on shutdown so that no shell is
    /// left counting against the server's quota. Returns the first error, after trying all.
    pub async fn close_all(&self) -> Result<(), Error> {
        let mut first = None;
        for id in self.open_shell_ids() {
            if let Err(e) = self.delete_shell(&id).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Deletes a shell by id, e.g. one left behind by an earlier process. A shell the server
    /// no longer knows counts as deleted only in [`Client::open_shell_ids`]: the error
    /// ([`Error::ShellGone`]) is still returned.
    pub async fn delete_shell(&self, shell_id: &str) -> Result<(), Error> {
        let res = self
            .call(Action::Delete, Some(shell_id), vec![], RequestBody::Delete)
            .await;
        // A shell the server no longer knows is as deleted as it gets.
        if res.is_ok() || matches!(res, Err(Error::ShellGone { .. })) {
            self.inner
                .open_shells
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(shell_id);
        }
        res.map(|_| ())
    }

    /// Builds the request envelope for one operation.
    pub(crate) fn request(
        &self,
        action: Action,
        shell_id: Option<&str>,
        options: Vec<(String, String)>,
        body: RequestBody,
    ) -> Request {
        let i = &self.inner;
        Request {
            header: Header {
                action,
                resource_uri: wsman::ns::RESOURCE_CMD.to_string(),
                to: i.endpoint.clone(),
                message_id: format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase()),
                max_envelope_size: i.max_envelope_size,
                operation_timeout: i.operation_timeout,
                locale: i.locale.clone(),
                session_id: Some(i.session_id.clone()),
                shell_id: shell_id.map(str::to_string),
                options,
            },
            body,
        }
    }

    /// Performs one operation: builds, posts and parses.
    pub(crate) async fn call(
        &self,
        action: Action,
        shell_id: Option<&str>,
        options: Vec<(String, String)>,
        body: RequestBody,
    ) -> Result<Response, Error> {
        let req = self.request(action, shell_id, options, body);
        self.send(&req).await
    }

    /// Posts a request and interprets the answer, faults included.
    pub(crate) async fn send(&self, req: &Request) -> Result<Response, Error> {
        match self.send_raw(req).await? {
            Ok(resp) => Ok(resp),
            Err(fault) if fault.is_timeout() => Err(Error::Timeout {
                endpoint: self.inner.endpoint.clone(),
                after: self.inner.operation_timeout,
            }),
            Err(fault) => Err(Error::from_fault(&self.inner.endpoint, fault)),
        }
    }

    /// Posts a request and hands back a SOAP fault as it came, so that the receive loop can
    /// tell a long-poll timeout ("no output yet") from a failure.
    pub(crate) async fn send_raw(&self, req: &Request) -> Result<Result<Response, Fault>, Error> {
        self.send_envelope(req.header.action, wsman::client::write_request(req))
            .await
    }

    /// [`Client::send_raw`] for a request already written out: a long-poll Receive keeps
    /// only the envelope while it is sent and nothing of the [`Request`] while it waits.
    pub(crate) async fn send_envelope(
        &self,
        action: Action,
        envelope: String,
    ) -> Result<Result<Response, Fault>, Error> {
        let parse = move |body: &[u8]| wsman::client::parse_response(action, body);
        let Some(observer) = &self.inner.observer else {
            return self.post_envelope(envelope, parse).await;
        };
        let started = std::time::Instant::now();
        let result = self.post_envelope(envelope, parse).await;
        let outcome = match &result {
            Ok(Ok(_)) => RequestOutcome::Ok,
            Ok(Err(f)) if f.is_timeout() => RequestOutcome::NoOutputYet,
            Ok(Err(f)) => RequestOutcome::Fault(f.wsman_code),
            Err(_) => RequestOutcome::Failed,
        };
        (observer.0)(action, started.elapsed(), outcome);
        result
    }

    /// Posts a PowerShell remoting request and parses the answer (faults as they came).
    pub(crate) async fn post_psrp(
        &self,
        req: &wsman::psrp::PsrpRequest,
    ) -> Result<Result<wsman::psrp::PsrpResponse, Fault>, Error> {
        let envelope = wsman::psrp::write_request(req);
        let action = req.header.action;
        self.post_envelope(envelope, |body| wsman::psrp::parse_response(action, body))
            .await
    }

    async fn post_envelope<T>(
        &self,
        envelope: String,
        parse: impl FnOnce(&[u8]) -> Result<Result<T, Fault>, wsman::ParseError>,
    ) -> Result<Result<T, Fault>, Error> {
        let i = &self.inner;
        let limit = response_limit(i.max_envelope_size);
        let answer = match tokio::time::timeout(i.http_timeout, i.http.post(envelope, limit)).await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(self.map_transport(e)),
            Err(_) => {
                return Err(Error::Timeout {
                    endpoint: i.endpoint.clone(),
                    after: i.http_timeout,
                })
            }
        };
        let (status, body) = (answer.status, answer.body);
        match status {
            200 | 400 | 500 => {}
            _ => return Err(Error::from_status(&i.endpoint, &i.user, status)),
        }
        match parse(&body) {
            Ok(r) => Ok(r),
            // A 4xx/5xx without a SOAP body says more as a status than as a parse error.
            Err(_) if status != 200 => Err(Error::from_status(&i.endpoint, &i.user, status)),
            Err(source) => Err(Error::Protocol {
                endpoint: i.endpoint.clone(),
                source,
            }),
        }
    }

    /// A PowerShell remoting request with this client's header values.
    pub(crate) fn psrp_request(
        &self,
        configuration: &str,
        shell_id: Option<&str>,
        body: wsman::psrp::PsrpRequestBody,
    ) -> wsman::psrp::PsrpRequest {
        let i = &self.inner;
        let mut req =
            wsman::psrp::PsrpRequest::new(i.endpoint.clone(), configuration, shell_id, body);
        req.header.max_envelope_size = i.max_envelope_size;
        req.header.operation_timeout = i.operation_timeout;
        req.header.locale = i.locale.clone();
        req.header.session_id = Some(i.session_id.clone());
        req
    }

    fn map_transport(&self, e: HttpError) -> Error {
        let i = &self.inner;
        let endpoint = i.endpoint.clone();
        {
            let mut slot = i.certs.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some(seen), Some(pin)) = (slot.mismatch.take(), i.pin) {
                return Error::CertificateMismatch {
                    endpoint,
                    expected: hex::encode(pin),
                    seen: hex::encode(seen),
                };
            }
            if let Some(message) = slot.rejected.take() {
                return Error::UntrustedCertificate { endpoint, message };
            }
        }
        match e {
            // A server that sends more than any envelope it may send (a 100 MB body, or one
            // that never ends) is cut off as soon as it passes the limit.
            HttpError::TooLarge => Error::Protocol {
                endpoint,
                source: wsman::ParseError::TooLarge,
            },
            e => Error::Unreachable {
                endpoint,
                message: e.to_string(),
            },
        }
    }
}

/// Largest response body the client reads. Servers keep responses within the
/// MaxEnvelopeSize the client sent; the margin allows for servers that count differently.
pub(crate) fn response_limit(max_envelope_size: u32) -> usize {
    (max_envelope_size as usize * 8).max(4 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> ClientConfig {
        ClientConfig::new(endpoint, "admin", "s3cret-pa55", TlsMode::Insecure)
    }

    #[test]
    fn password_never_in_debug() {
        let cfg = config("https://127.0.0.1:5986/wsman");
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("s3cret-pa55"), "{dbg}");
        assert!(dbg.contains("***"));
        let client = Client::new(cfg).unwrap();
        let dbg = format!("{client:?}");
        assert!(!dbg.contains("s3cret-pa55"), "{dbg}");
        // Nor the Authorization header, which only the transport holds.
        let token = base64::engine::general_purpose::STANDARD.encode("admin:s3cret-pa55");
        assert!(!dbg.contains(&token), "{dbg}");
    }

    #[test]
    fn plain_http_needs_opt_in() {
        let err = Client::new(config("http://127.0.0.1:5985/wsman")).unwrap_err();
        assert!(matches!(err, Error::Config(ref m) if m.contains("in clear")));
        let mut cfg = config("http://127.0.0.1:5985/wsman");
        cfg.allow_http = true;
        assert!(Client::new(cfg).is_ok());
        assert!(Client::new(config("ftp://x/wsman")).is_err());
    }

    #[test]
    fn responses_are_limited_with_room_above_the_envelope_size() {
        assert_eq!(response_limit(153_600), 4 << 20);
        assert_eq!(response_limit(512_000), 4 << 20);
        assert_eq!(response_limit(1 << 20), 8 << 20);
        assert!(response_limit(153_600) > 153_600);
    }

    #[test]
    fn http_timeout_outlasts_operation_timeout() {
        let mut cfg = config("https://127.0.0.1:5986/wsman");
        cfg.operation_timeout = Duration::from_secs(60);
        let client = Client::new(cfg).unwrap();
        assert!(client.inner.http_timeout > client.inner.operation_timeout);
    }

    #[test]
    fn requests_carry_the_shell_and_session() {
        let client = Client::new(config("https://127.0.0.1:5986/wsman")).unwrap();
        let a = client.request(Action::Delete, Some("SHELL-1"), vec![], RequestBody::Delete);
        let b = client.request(Action::Delete, Some("SHELL-1"), vec![], RequestBody::Delete);
        assert_eq!(a.header.shell_id.as_deref(), Some("SHELL-1"));
        assert_eq!(a.header.session_id, b.header.session_id);
        assert_ne!(a.header.message_id, b.header.message_id);
        assert!(a.header.message_id.starts_with("uuid:"));
        assert_eq!(a.header.max_envelope_size, 153_600);
        assert_eq!(a.header.to, "https://127.0.0.1:5986/wsman");
    }
}
