//! Which targets exist, who may open them, and how the relay connects to one.
//!
//! **Invariant:** a [`Connector`] is only ever made from the configuration: a fixed target's
//! endpoint, or a pattern host whose every resolved address is inside the pattern's allowed
//! ranges. The connection then goes to the address that was checked (no second DNS lookup
//! an attacker could answer differently).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use winrelay_shared::api::{FailureCode, Fingerprints, ShellKind, TargetInfo};
use winrelay_shared::protocol::{Role, Signal};

use crate::access::Identity;
use crate::config::{CertCheck, Config, ConfigError, Credentials, PatternConfig, Secret, Target};
use crate::discovery::Directory;
use crate::session::remote::{
    Checkpoint, CompleteRequest, Connect, Output, RemoteShell, ShellError, ShellInput, ShellTraits,
};

pub mod psrp_shell;

/// The targets of this relay.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    fixed: Vec<Target>,
    patterns: Vec<PatternConfig>,
    /// Last reachability check of each fixed target (shared by clones).
    reach: Arc<Mutex<HashMap<String, bool>>>,
    /// IdleTimeOut of the shells opened (see `SessionSettings::shell_idle_timeout`).
    shell_idle_timeout: Duration,
    /// Targets found by `[[discovery]]` blocks (shared with the discovery tasks).
    discovered: Directory,
    /// WinRM clients shared by the sessions of one target and account.
    clients: ClientPool,
}

/// WinRM clients shared by every session of one target and account (one connection pool and
/// one TLS configuration per target instead of per session): each session holds only its
/// long-poll connection, and short requests (Send, Signal, Create) reuse the pool's idle
/// connections. Keyed by a digest of everything a client is built from, so another password,
/// pin or address gets a client of its own.
#[derive(Debug, Clone, Default)]
pub struct ClientPool(Arc<Mutex<HashMap<[u8; 32], winrm_client::Client>>>);

/// Clients kept at most; beyond it the pool starts afresh (sessions keep their clones).
const MAX_POOLED_CLIENTS: usize = 256;

impl ClientPool {
    fn get_or_build(
        &self,
        key: [u8; 32],
        build: impl FnOnce() -> Result<winrm_client::Client, winrm_client::Error>,
    ) -> Result<winrm_client::Client, winrm_client::Error> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let client = build()?;
        if map.len() >= MAX_POOLED_CLIENTS {
            map.clear();
        }
        map.insert(key, client.clone());
        Ok(client)
    }

    /// Clients in the pool.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the pool holds no client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a target cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Not configured (or not visible to this user: the two look the same on purpose).
    #[error("unknown target {0:?}: pick one from the list of targets")]
    Unknown(String),
    /// The target needs credentials from the person connecting.
    #[error("target {0:?} needs a user name and password")]
    NeedsCredentials(String),
    /// A pattern host resolved to an address outside the allowed ranges.
    #[error("target {0:?} resolves to an address this relay may not connect to")]
    AddressNotAllowed(String),
    /// A pattern host did not resolve.
    #[error("target {0:?} does not resolve: is the container running?")]
    NoSuchHost(String),
    /// The caller is only a viewer of this target.
    #[error("you may watch sessions of target {0:?} but not open one")]
    ViewOnly(String),
}

impl Targets {
    /// From the configuration.
    pub fn from_config(config: &Config) -> Result<Targets, ConfigError> {
        Ok(Targets {
            fixed: config.targets()?,
            patterns: config.patterns.clone(),
            reach: Default::default(),
            shell_idle_timeout: config.sessions.shell_idle_timeout,
            discovered: Directory::default(),
            clients: ClientPool::default(),
        })
    }

    /// The discovered targets: fixed targets like the configured ones (a configured target
    /// of the same name wins), connected to only at their checked address.
    pub fn discovered(&self) -> &Directory {
        &self.discovered
    }

    fn reachable(&self, name: &str) -> Option<bool> {
        self.reach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
    }

    /// Checks whether each fixed target's WinRM port accepts connections (a TCP connect,
    /// at most 3 s each, all at once), for the picker. Called periodically.
    pub async fn check_reachability(&self) {
        let checks = self.fixed.iter().map(|t| async move {
            let ok = match endpoint_host_port(&t.endpoint) {
                Some((host, port)) => matches!(
                    tokio::time::timeout(
                        Duration::from_secs(3),
                        tokio::net::TcpStream::connect((host.as_str(), port))
                    )
                    .await,
                    Ok(Ok(_))
                ),
                None => false,
            };
            (t.name.clone(), ok)
        });
        let results = futures::future::join_all(checks).await;
        let mut reach = self.reach.lock().unwrap_or_else(|p| p.into_inner());
        for (name, ok) in results {
            reach.insert(name, ok);
        }
    }

    /// Adds a fixed target (the built-in demo).
    pub fn add(&mut self, target: Target) {
        self.fixed.push(target);
    }

    /// The role `who` has on the target `name` (fixed or a pattern host), if any. Embed
    /// identities have exactly the role their token grants on its one target.
    pub fn role_of(&self, name: &str, who: &Identity) -> Option<Role> {
        if let Some(scope) = &who.scope {
            return (scope.target.as_deref() == Some(name)).then_some(scope.role);
        }
        if let Some(t) = self.fixed.iter().find(|t| t.name == name) {
            return t.roles.role_of(&who.user, &who.groups);
        }
        if let Some(d) = self.discovered.get(name) {
            return d.target.roles.role_of(&who.user, &who.groups);
        }
        self.patterns
            .iter()
            .find(|p| p.host_for(name).is_some())
            .and_then(|p| p.roles().role_of(&who.user, &who.groups))
    }

    /// Whether sessions of target `name` are recorded.
    pub fn records(&self, name: &str) -> bool {
        if let Some(d) = self.discovered.get(name) {
            if !self.fixed.iter().any(|t| t.name == name) {
                return d.target.record;
            }
        }
        match self.fixed.iter().find(|t| t.name == name) {
            Some(t) => t.record,
            None => self
                .patterns
                .iter()
                .find(|p| p.host_for(name).is_some())
                .is_some_and(|p| p.record),
        }
    }

    /// The targets `who` has a role on, for the picker.
    pub fn visible_to(&self, who: &Identity) -> Vec<TargetInfo> {
        let mut out: Vec<TargetInfo> = self
            .fixed
            .iter()
            .filter_map(|t| {
                let role = self.role_of(&t.name, who)?;
                Some(TargetInfo {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    shell: t.shell,
                    role,
                    ask_credentials: t.credentials == Credentials::Ask,
                    reachable: self.reachable(&t.name),
                    facts: Default::default(),
                })
            })
            .collect();
        for d in self.discovered.all() {
            let t = &d.target;
            if out.iter().any(|o| o.name == t.name) {
                continue;
            }
            if let Some(role) = self.role_of(&t.name, who) {
                out.push(TargetInfo {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    shell: t.shell,
                    role,
                    ask_credentials: t.credentials == Credentials::Ask,
                    reachable: self.discovered.reachable(&t.name),
                    facts: d.facts.clone(),
                });
            }
        }
        if who.scope.is_some() {
            return out;
        }
        for p in &self.patterns {
            let Some(role) = p.roles().role_of(&who.user, &who.groups) else {
                continue;
            };
            out.push(TargetInfo {
                name: format!("{}/*", p.name),
                description: if p.description.is_empty() {
                    format!("any host under {}", p.host_suffix)
                } else {
                    p.description.clone()
                },
                shell: p.shell,
                role,
                ask_credentials: p.access.ask_credentials,
                reachable: None,
                facts: Default::default(),
            });
        }
        out
    }

    /// Resolves a target name for `who` into a connector: only for writers and owners of the
    /// target. `credentials` are the ones the person typed, for targets that ask.
    pub async fn connector(
        &self,
        name: &str,
        who: &Identity,
        credentials: Option<(String, Secret)>,
    ) -> Result<Connector, LookupError> {
        match self.role_of(name, who) {
            None => return Err(LookupError::Unknown(name.to_string())),
            Some(Role::Viewer) => return Err(LookupError::ViewOnly(name.to_string())),
            Some(_) => {}
        }
        self.resolve(name, credentials).await
    }

    /// A connector for continuing a session another relay of the cluster opened (issue
    /// 15): access was decided when it was opened; only targets with configured
    /// credentials (typed ones were never stored anywhere).
    pub async fn adoption_connector(&self, name: &str) -> Result<Connector, LookupError> {
        let mut c = self.resolve(name, None).await?;
        c.resumable = true;
        Ok(c)
    }

    async fn resolve(
        &self,
        name: &str,
        credentials: Option<(String, Secret)>,
    ) -> Result<Connector, LookupError> {
        let unknown = || LookupError::Unknown(name.to_string());
        let (target, address) = if let Some(t) = self.fixed.iter().find(|t| t.name == name) {
            (t.clone(), None)
        } else if let Some(d) = self.discovered.get(name) {
            // Checked against the block's allow_networks when it was discovered.
            (d.target, Some(d.address))
        } else {
            let (pattern, host) = self
                .patterns
                .iter()
                .find_map(|p| p.host_for(name).map(|h| (p, h)))
                .ok_or_else(unknown)?;
            let addrs: Vec<IpAddr> = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((host, pattern.port)),
            )
            .await
            .map_err(|_| LookupError::NoSuchHost(name.into()))?
            .map_err(|_| LookupError::NoSuchHost(name.into()))?
            .map(|a| a.ip())
            .collect();
            if !pattern.addresses_allowed(&addrs) {
                return Err(LookupError::AddressNotAllowed(name.into()));
            }
            let addr = SocketAddr::new(addrs[0], pattern.port);
            let target = Target {
                name: name.to_string(),
                description: String::new(),
                endpoint: format!("{}://{}:{}/wsman", pattern.scheme, host, pattern.port),
                shell: pattern.shell,
                configuration: pattern.configuration.clone(),
                credentials: pattern
                    .access
                    .credentials(&pattern.name)
                    .map_err(|_| unknown())?,
                cert: pattern
                    .access
                    .cert_check(&pattern.name)
                    .map_err(|_| unknown())?,
                allow_http: pattern.access.allow_http,
                roles: pattern.roles(),
                record: pattern.record,
            };
            (target, Some(addr))
        };
        let (user_name, password) = match (&target.credentials, credentials) {
            (Credentials::Fixed { user, password }, _) => {
                (user.clone(), password.read().map_err(|_| unknown())?)
            }
            (Credentials::Ask, Some((u, p))) if !u.is_empty() => (u, p),
            (Credentials::Ask, _) => return Err(LookupError::NeedsCredentials(name.into())),
        };
        Ok(Connector {
            target,
            user: user_name,
            password,
            address,
            shell_idle_timeout: if self.shell_idle_timeout.is_zero() {
                crate::config::DEFAULT_SHELL_IDLE_TIMEOUT
            } else {
                self.shell_idle_timeout
            },
            observer: None,
            clients: self.clients.clone(),
            resumable: false,
        })
    }

    /// The WinRM clients the sessions share.
    pub fn clients(&self) -> &ClientPool {
        &self.clients
    }
}

/// Host and port of an endpoint URL (default ports 5986 for https, 5985 for http).
fn endpoint_host_port(endpoint: &str) -> Option<(String, u16)> {
    let uri: http::Uri = endpoint.parse().ok()?;
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            5985
        } else {
            5986
        });
    Some((host, port))
}

/// Everything needed to open one shell on one checked target.
#[derive(Debug)]
pub struct Connector {
    target: Target,
    user: String,
    password: Secret,
    address: Option<SocketAddr>,
    shell_idle_timeout: Duration,
    observer: Option<winrm_client::RequestObserver>,
    clients: ClientPool,
    /// Open shells another relay can continue (a cluster): output is acknowledged to the
    /// target only once it is safe, and checkpoints say where to continue.
    resumable: bool,
}

/// The WinRS command line of a shell kind (`powershell` is PSRP, not a WinRS command: it
/// gets the pipe's command line only where a command line is asked for anyway).
pub fn shell_command(kind: ShellKind) -> (&'static str, &'static [&'static str]) {
    match kind {
        ShellKind::Cmd => ("cmd.exe", &[]),
        ShellKind::Powershell | ShellKind::PowershellPipe => {
            ("powershell.exe", &["-NoLogo", "-NoExit", "-Command", "-"])
        }
    }
}

/// A client error as the session and the page see it: a code chosen by the error's variant,
/// never by its text.
pub fn shell_error(e: &winrm_client::Error) -> ShellError {
    use winrm_client::Error as E;
    let code = match e {
        E::WrongCredentials { .. } => FailureCode::WrongCredentials,
        E::CertificateMismatch { expected, seen, .. } => {
            return ShellError {
                code: FailureCode::CertificateMismatch,
                message: e.to_string(),
                fingerprints: Some(Fingerprints {
                    expected: expected.clone(),
                    seen: seen.clone(),
                }),
            }
        }
        E::UntrustedCertificate { .. } => FailureCode::CertificateUntrusted,
        E::Unreachable { .. } => FailureCode::Unreachable,
        E::Timeout { .. } => FailureCode::Timeout,
        E::ShellGone { .. } => FailureCode::ShellGone,
        E::QuotaReached { .. } => FailureCode::QuotaReached,
        E::EnvelopeTooLarge { .. } => FailureCode::EnvelopeTooLarge,
        E::Fault { .. } | E::Http { .. } => FailureCode::TargetFault,
        E::Protocol { .. } => FailureCode::ProtocolError,
        _ => FailureCode::TargetFailed,
    };
    ShellError::new(code, e.to_string())
}

impl Connector {
    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Reports every WinRM request of this connector's shell (metrics).
    pub fn observe(&mut self, observer: winrm_client::RequestObserver) {
        self.observer = Some(observer);
    }

    /// Open shells that another relay of the cluster can continue.
    pub fn resumable(&mut self, on: bool) {
        self.resumable = on;
    }

    /// The client for this target and account, shared with its other sessions.
    fn client(&self) -> Result<winrm_client::Client, winrm_client::Error> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [
            self.target.name.as_str(),
            self.target.endpoint.as_str(),
            &format!("{:?}", self.address),
            &format!("{:?}|{}", self.target.cert, self.target.allow_http),
            &self.user,
            self.password.0.as_str(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        self.clients
            .get_or_build(h.finalize().into(), || self.build_client())
    }

    fn build_client(&self) -> Result<winrm_client::Client, winrm_client::Error> {
        let tls = match &self.target.cert {
            CertCheck::System => winrm_client::TlsMode::SystemRoots,
            CertCheck::CaFile(p) => winrm_client::TlsMode::CaFile(p.clone()),
            // Checked when the configuration was loaded.
            CertCheck::Pin(hex_pin) => {
                let mut pin = [0u8; 32];
                let _ = hex::decode_to_slice(hex_pin, &mut pin);
                winrm_client::TlsMode::Pin(pin)
            }
            CertCheck::Insecure => winrm_client::TlsMode::Insecure,
        };
        let mut config = winrm_client::ClientConfig::new(
            self.target.endpoint.clone(),
            self.user.clone(),
            self.password.0.as_str(),
            tls,
        );
        config.allow_http = self.target.allow_http;
        config.resolve = self.address;
        config.observer = self.observer.clone();
        winrm_client::Client::new(config)
    }

    async fn open_winrs(&self) -> Result<WinrsShell, winrm_client::Error> {
        let client = self.client()?;
        let shell = client
            .open_shell(winrm_client::ShellOptions {
                noprofile: true,
                // The relay always has a Receive outstanding, so a live session never idles on
                // the target; if the relay dies without deleting the shell (SIGKILL, network
                // cut), the target frees it after this instead of WinRM's default 2 hours.
                idle_timeout: Some(self.shell_idle_timeout),
                ..Default::default()
            })
            .await?;
        let (cmd, args) = shell_command(self.target.shell);
        let running = shell
            .start_with(
                cmd,
                args.iter().copied(),
                winrm_client::StartOptions {
                    // In a cluster: the target keeps each response until it is in Redis,
                    // so another relay can continue exactly where this one stopped.
                    acknowledged: self.resumable,
                    ..Default::default()
                },
            )
            .await?;
        let (input, output) = running.into_split();
        Ok(WinrsShell::new(shell, input, output))
    }

    async fn resume_winrs(&self, point: &ResumePoint) -> Result<WinrsShell, winrm_client::Error> {
        let ResumePoint::Winrs {
            shell,
            command,
            next,
        } = point
        else {
            return Err(winrm_client::Error::Config(
                "not a WinRS resume point".into(),
            ));
        };
        let client = self.client()?;
        let (shell, input, output) = client.resume_command(shell, command, *next).await?;
        Ok(WinrsShell::new(shell, input, output))
    }
}

impl Connect for Connector {
    type Shell = TargetShell;

    fn traits(&self) -> ShellTraits {
        match self.target.shell {
            // cmd.exe echoes the lines it reads from a pipe and cuts them at 8191 characters.
            ShellKind::Cmd => ShellTraits {
                echoes_input: true,
                max_line_len: 8191,
                completes: false,
                detect_password_prompts: true,
            },
            ShellKind::PowershellPipe => ShellTraits {
                echoes_input: false,
                max_line_len: 64 * 1024,
                completes: false,
                detect_password_prompts: true,
            },
            // The relay is the console host: it knows when a secret is read.
            ShellKind::Powershell => ShellTraits {
                echoes_input: false,
                max_line_len: 64 * 1024,
                completes: true,
                detect_password_prompts: false,
            },
        }
    }

    async fn open(&self) -> Result<TargetShell, ShellError> {
        match self.target.shell {
            ShellKind::Powershell => {
                // A discovered target's configuration comes from a container label: it must
                // be a plain name, as in the configuration file.
                if let Some(c) = self.target.configuration.as_deref() {
                    if !crate::config::valid_name(c) || c.len() > 128 {
                        return Err(ShellError::new(
                            FailureCode::TargetFailed,
                            format!("the PowerShell session configuration {c:?} is not a valid name: use letters, digits, '-', '_' and '.'"),
                        ));
                    }
                }
                let client = self.client().map_err(|e| shell_error(&e))?;
                psrp_shell::open(
                    &client,
                    self.target.configuration.as_deref(),
                    self.resumable,
                )
                .await
                .map(TargetShell::Psrp)
                .map_err(|e| shell_error(&e))
            }
            _ => self
                .open_winrs()
                .await
                .map(TargetShell::Winrs)
                .map_err(|e| shell_error(&e)),
        }
    }

    async fn resume(&self, resume: &str) -> Result<TargetShell, ShellError> {
        let point: ResumePoint = serde_json::from_str(resume).map_err(|_| {
            ShellError::new(
                FailureCode::ShellGone,
                "the session's resume point is not one this relay understands",
            )
        })?;
        match point {
            ResumePoint::Winrs { .. } if self.target.shell != ShellKind::Powershell => self
                .resume_winrs(&point)
                .await
                .map(TargetShell::Winrs)
                .map_err(|e| shell_error(&e)),
            ResumePoint::Psrp { pool } if self.target.shell == ShellKind::Powershell => {
                let client = self.client().map_err(|e| shell_error(&e))?;
                let deadline = tokio::time::Instant::now() + PSRP_CONNECT_PATIENCE;
                let mut wait = Duration::from_millis(250);
                loop {
                    match psrp_shell::connect(&client, self.target.configuration.as_deref(), &pool)
                        .await
                    {
                        Ok(shell) => return Ok(TargetShell::Psrp(shell)),
                        // Still connected to the relay that died (the target has not noticed
                        // yet), or briefly unreachable: try again for a while.
                        Err(e) if tokio::time::Instant::now() < deadline => {
                            tracing::debug!(error = %e, "the PowerShell pool cannot be connected to yet");
                            tokio::time::sleep(wait).await;
                            wait = (wait * 2).min(Duration::from_secs(5));
                        }
                        Err(e) => return Err(shell_error(&e)),
                    }
                }
            }
            _ => Err(ShellError::new(
                FailureCode::ShellGone,
                "the session's resume point does not fit its target's shell",
            )),
        }
    }
}

/// Where another relay continues a session's shell. Ids only: nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResumePoint {
    /// A WinRS shell: its ids and the first Receive response not yet stored.
    Winrs {
        /// The shell id.
        shell: String,
        /// The command id.
        command: String,
        /// The sequence number of the first response not yet stored.
        next: u64,
    },
    /// A PowerShell console's runspace pool (connected to with `shell/Connect`).
    Psrp {
        /// The pool's shell id.
        pool: String,
    },
}

/// How long a relay taking over a PowerShell console tries to connect to its pool: Windows
/// accepts a Connect only once the pool is Disconnected, which a pool whose relay died
/// becomes only after the target's own timeout.
const PSRP_CONNECT_PATIENCE: Duration = Duration::from_secs(120);

/// The shell of a target: a WinRS command, or a PowerShell console over PSRP.
pub enum TargetShell {
    /// `cmd` and `powershell-pipe`.
    Winrs(WinrsShell),
    /// `powershell`.
    Psrp(psrp_shell::PsrpShell),
}

/// The input half of a [`TargetShell`].
#[derive(Clone)]
pub enum TargetInput {
    /// WinRS.
    Winrs(WinrsInput),
    /// PSRP.
    Psrp(psrp_shell::PsrpInput),
}

impl RemoteShell for TargetShell {
    type Input = TargetInput;

    fn input(&self) -> TargetInput {
        match self {
            TargetShell::Winrs(s) => TargetInput::Winrs(s.input()),
            TargetShell::Psrp(s) => TargetInput::Psrp(s.input()),
        }
    }

    async fn recv(&mut self) -> Option<Result<Output, ShellError>> {
        match self {
            TargetShell::Winrs(s) => s.recv().await,
            TargetShell::Psrp(s) => s.recv().await,
        }
    }

    async fn close(self) -> Result<(), ShellError> {
        match self {
            TargetShell::Winrs(s) => s.close().await,
            TargetShell::Psrp(s) => s.close().await,
        }
    }

    async fn forget(self) {
        match self {
            TargetShell::Winrs(s) => s.forget().await,
            // Disconnected: the next owner connects to the pool.
            TargetShell::Psrp(s) => s.forget().await,
        }
    }
}

impl ShellInput for TargetInput {
    async fn send(&self, data: &[u8]) -> Result<(), ShellError> {
        match self {
            TargetInput::Winrs(i) => i.send(data).await,
            TargetInput::Psrp(i) => i.send(data).await,
        }
    }

    async fn close_stdin(&self) -> Result<(), ShellError> {
        match self {
            TargetInput::Winrs(i) => i.close_stdin().await,
            TargetInput::Psrp(i) => i.close_stdin().await,
        }
    }

    async fn signal(&self, signal: Signal) -> Result<(), ShellError> {
        match self {
            TargetInput::Winrs(i) => i.signal(signal).await,
            TargetInput::Psrp(i) => i.signal(signal).await,
        }
    }

    async fn terminate(&self) -> Result<(), ShellError> {
        match self {
            TargetInput::Winrs(i) => i.terminate().await,
            TargetInput::Psrp(i) => i.terminate().await,
        }
    }

    async fn complete(&self, request: CompleteRequest) -> Result<(), ShellError> {
        match self {
            TargetInput::Winrs(i) => i.complete(request).await,
            TargetInput::Psrp(i) => i.complete(request).await,
        }
    }

    async fn resize(&self, cols: u16, rows: u16) -> Result<(), ShellError> {
        match self {
            TargetInput::Winrs(i) => i.resize(cols, rows).await,
            TargetInput::Psrp(i) => i.resize(cols, rows).await,
        }
    }
}

/// A WinRS shell running the target's shell command, stdin kept open.
pub struct WinrsShell {
    shell: winrm_client::Shell,
    input: WinrsInput,
    output: winrm_client::OutputStream,
    /// In acknowledged mode: acknowledges responses once the session stored them.
    acker: Option<winrm_client::Acker>,
    /// In acknowledged mode: the current response's bytes, handed on with its checkpoint.
    response: bytes::BytesMut,
    /// An exit that came after a response's bytes, handed on next.
    exited: Option<i32>,
}

impl WinrsShell {
    fn new(
        shell: winrm_client::Shell,
        input: winrm_client::CommandInput,
        output: winrm_client::OutputStream,
    ) -> WinrsShell {
        WinrsShell {
            shell,
            acker: output.acker(),
            input: WinrsInput(input),
            output,
            response: bytes::BytesMut::new(),
            exited: None,
        }
    }
}

/// The input half of a [`WinrsShell`].
#[derive(Clone)]
pub struct WinrsInput(winrm_client::CommandInput);

impl RemoteShell for WinrsShell {
    type Input = WinrsInput;

    fn input(&self) -> WinrsInput {
        self.input.clone()
    }

    async fn recv(&mut self) -> Option<Result<Output, ShellError>> {
        use winrm_client::OutputEvent as E;
        if let Some(code) = self.exited.take() {
            return Some(Ok(Output::Exited(code)));
        }
        loop {
            let event = match self.output.recv_event().await {
                Some(e) => e,
                None if !self.response.is_empty() => {
                    return Some(Ok(Output::Bytes(self.response.split().freeze())))
                }
                None => return None,
            };
            return Some(match event {
                // Acknowledged mode: a response's bytes go out with its checkpoint.
                Ok(E::Output(winrm_client::Output::Stdout(b)))
                | Ok(E::Output(winrm_client::Output::Stderr(b)))
                    if self.acker.is_some() =>
                {
                    self.response.extend_from_slice(&b);
                    continue;
                }
                Ok(E::Output(winrm_client::Output::Stdout(b)))
                | Ok(E::Output(winrm_client::Output::Stderr(b))) => Ok(Output::Bytes(b)),
                Ok(E::Output(winrm_client::Output::Exited(code))) if !self.response.is_empty() => {
                    self.exited = Some(code);
                    Ok(Output::Bytes(self.response.split().freeze()))
                }
                Ok(E::Output(winrm_client::Output::Exited(code))) => Ok(Output::Exited(code)),
                Ok(E::Received(n)) => {
                    let acker = self.acker.clone();
                    let point = ResumePoint::Winrs {
                        shell: self.input.0.shell_id().to_string(),
                        command: self.input.0.command_id().to_string(),
                        next: n + 1,
                    };
                    Ok(Output::Checkpoint(Checkpoint::new(
                        serde_json::to_string(&point).expect("plain data serialises"),
                        self.response.split().freeze(),
                        move || {
                            if let Some(a) = &acker {
                                a.ack(n);
                            }
                        },
                    )))
                }
                Err(e) => Err(shell_error(&e)),
            });
        }
    }

    async fn close(self) -> Result<(), ShellError> {
        self.shell.close().await.map_err(|e| shell_error(&e))
    }

    async fn forget(self) {
        // The receive loop stops with the stream; the shell stays for the next owner.
        drop(self.output);
        let id = self.shell.forget();
        tracing::info!(shell = %id, "left the shell for another relay");
    }
}

impl ShellInput for WinrsInput {
    async fn send(&self, data: &[u8]) -> Result<(), ShellError> {
        self.0.send(data).await.map_err(|e| shell_error(&e))
    }

    async fn close_stdin(&self) -> Result<(), ShellError> {
        self.0.close_stdin().await.map_err(|e| shell_error(&e))
    }

    async fn signal(&self, signal: Signal) -> Result<(), ShellError> {
        match signal {
            Signal::CtrlC => self.0.ctrl_c().await,
            Signal::CtrlBreak => self.0.ctrl_break().await,
        }
        .map_err(|e| shell_error(&e))
    }

    async fn terminate(&self) -> Result<(), ShellError> {
        self.0.terminate().await.map_err(|e| shell_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_host_port;
    use super::{LookupError, Targets};
    use crate::access::{Identity, Method};
    use crate::config::Config;
    use crate::discovery::{Block, Found};
    use winrelay_shared::protocol::Role;

    #[tokio::test]
    async fn discovered_targets_are_listed_and_opened_at_their_checked_address() {
        let config = Config::parse(
            "[[target]]\nname='web.1'\nendpoint='https://fixed:5986/wsman'\nask_credentials=true\n\
             [[discovery]]\nkind='docker'\nnetwork='app_net'\nallow_networks=['10.0.1.0/24']\n\
             user='u'\npassword_env='WINRELAY_TEST_DISCOVERY_PW'\ninsecure=true\nwriters=['group:ops']\nviewers=['carol']\n",
        )
        .unwrap();
        let targets = Targets::from_config(&config).unwrap();
        let block = Block::new(&config.discovery[0]).unwrap();
        let found = |name: &str, addr: &str| Found {
            name: name.into(),
            address: addr.parse().unwrap(),
            ..Found::default()
        };
        targets.discovered().set(
            0,
            vec![
                block.resolve(found("web.1", "10.0.1.5")),
                block.resolve(found("web.2", "10.0.1.6")),
            ],
        );
        let ops = Identity::new("bob", vec!["ops".into()], Method::Token);
        let names: Vec<String> = targets
            .visible_to(&ops)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            ["web.1", "web.2"],
            "the configured web.1 wins its name"
        );
        assert_eq!(targets.role_of("web.2", &ops), Some(Role::Writer));
        let nobody = Identity::new("mallory", vec![], Method::Token);
        assert!(targets
            .visible_to(&nobody)
            .iter()
            .all(|t| t.name != "web.2"));
        let carol = Identity::new("carol", vec![], Method::Token);
        assert!(matches!(
            targets.connector("web.2", &carol, None).await,
            Err(LookupError::ViewOnly(_))
        ));
        std::env::set_var("WINRELAY_TEST_DISCOVERY_PW", "pw");
        let c = targets.connector("web.2", &ops, None).await.unwrap();
        assert_eq!(c.address, Some("10.0.1.6:5986".parse().unwrap()));
        assert_eq!(c.target().endpoint, "https://10.0.1.6:5986/wsman");
        // A configuration label that is not a plain name is refused before any request.
        let mut jea = found("web.3", "10.0.1.7");
        jea.shell = Some(crate::config::ShellKind::Powershell);
        jea.configuration = Some("../x".into());
        targets.discovered().set(0, vec![block.resolve(jea)]);
        let c = targets.connector("web.3", &ops, None).await.unwrap();
        let e = crate::session::remote::Connect::open(&c)
            .await
            .err()
            .expect("refused");
        assert!(e.message.contains("not a valid name"), "{e}");
        targets.discovered().set(0, vec![]);
        assert!(matches!(
            targets.connector("web.2", &ops, None).await,
            Err(LookupError::Unknown(_))
        ));
    }

    #[tokio::test]
    async fn sessions_of_one_target_and_account_share_one_client() {
        let config = Config::parse(
            "[[target]]\nname='a'\nendpoint='https://a.example:5986/wsman'\nuser='u'\n\
             password_env='WINRELAY_TEST_POOL_PW'\ninsecure=true\nwriters=['bob']\n\
             [[target]]\nname='b'\nendpoint='https://b.example:5986/wsman'\nask_credentials=true\n\
             insecure=true\nwriters=['bob']\n",
        )
        .unwrap();
        std::env::set_var("WINRELAY_TEST_POOL_PW", "pw");
        let targets = Targets::from_config(&config).unwrap();
        let bob = Identity::new("bob", vec![], Method::Token);
        let secret = |p: &str| crate::config::Secret(p.to_string());
        for _ in 0..3 {
            let c = targets.connector("a", &bob, None).await.unwrap();
            c.client().unwrap();
        }
        assert_eq!(
            targets.clients().len(),
            1,
            "three sessions of a, one client"
        );
        let b1 = targets
            .connector("b", &bob, Some(("x".into(), secret("one"))))
            .await
            .unwrap();
        b1.client().unwrap();
        let b2 = targets
            .connector("b", &bob, Some(("x".into(), secret("two"))))
            .await
            .unwrap();
        b2.client().unwrap();
        b2.client().unwrap();
        assert_eq!(
            targets.clients().len(),
            3,
            "another target, and another password for it, get clients of their own"
        );
    }

    #[test]
    fn endpoints_split_into_host_and_port() {
        assert_eq!(
            endpoint_host_port("https://web01:5986/wsman"),
            Some(("web01".into(), 5986))
        );
        assert_eq!(
            endpoint_host_port("https://web01/wsman"),
            Some(("web01".into(), 5986))
        );
        assert_eq!(
            endpoint_host_port("http://10.0.0.5/wsman"),
            Some(("10.0.0.5".into(), 5985))
        );
        assert_eq!(
            endpoint_host_port("https://[::1]:6000/wsman"),
            Some(("::1".into(), 6000))
        );
        assert_eq!(endpoint_host_port("not a url"), None);
    }
}
