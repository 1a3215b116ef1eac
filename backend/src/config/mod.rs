//! The relay's configuration file (TOML): its schema here, the domain types it yields in
//! [`model`].
//!
//! **Invariant:** the relay connects only to endpoints this module resolves from the
//! configuration. A browser names a target; it never supplies a host, port or URL.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

pub mod model;

pub use model::{
    normalize_pin, valid_name, CertCheck, Credentials, PasswordSource, Roles, Secret, ShellKind,
    Target,
};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is invalid.
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is not usable.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    #[serde(default)]
    pub listen: Option<String>,
    /// Origins (besides the relay's own) whose pages may open WebSockets, e.g.
    /// `https://portal.example.com`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The URL people reach the relay at, e.g. `https://term.example.com` behind a
    /// TLS-terminating proxy: its scheme and host count as the relay's own origin.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Host names requests may name (`name` or `name:port`); by default the public URL's
    /// host, and for a relay on a loopback address its loopback names (DNS rebinding).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Reverse proxies in front of the relay: from these addresses `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed (for limits, cookies and the audit log). The
    /// `[proxy_auth]` proxies are trusted for them too.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// Print a one-time login link at start (stdout, never the log), for the person who
    /// started the relay. Turn off where stdout lands in shared logs.
    #[serde(default = "yes")]
    pub login_link: bool,
    /// How long the printed login link works.
    #[serde(with = "humantime_serde", default = "default_login_link_ttl")]
    pub login_link_ttl: Duration,
    /// Prometheus metrics: where and for whom.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Also start the built-in demo target (the simulator on loopback), as a relay without
    /// a configuration file does.
    #[serde(default)]
    pub demo: bool,
    /// Session behaviour.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Fixed targets.
    #[serde(default, rename = "target")]
    pub targets: Vec<TargetConfig>,
    /// Target patterns for containers that come and go.
    #[serde(default, rename = "target_pattern")]
    pub patterns: Vec<PatternConfig>,
    /// Local users (argon2 password hashes).
    #[serde(default, rename = "user")]
    pub users: Vec<UserConfig>,
    /// API tokens for automation (only their SHA-256 is written here).
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenConfig>,
    /// An authenticating proxy (single sign-on) in front of the relay.
    #[serde(default)]
    pub proxy_auth: Option<ProxyAuthConfig>,
    /// HTTPS served by the relay itself.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Embedding in portals.
    #[serde(default)]
    pub embed: Option<EmbedConfig>,
    /// The audit log.
    #[serde(default)]
    pub audit: Option<AuditConfig>,
    /// Session recordings.
    #[serde(default)]
    pub recordings: Option<RecordingsConfig>,
    /// Targets discovered from Docker (and later other sources).
    #[serde(default, rename = "discovery")]
    pub discovery: Vec<DiscoveryConfig>,
    /// Limits that keep one person, or a stranger, from taking the relay from everyone.
    #[serde(default)]
    pub limits: Limits,
    /// Several relays sharing their sessions through Redis (issue 15). Without it: one
    /// process, sessions in memory.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
}

impl Default for Config {
    /// What an empty file says (every field's serde default).
    fn default() -> Self {
        toml::from_str("").expect("an empty configuration is valid")
    }
}

fn yes() -> bool {
    true
}

fn default_login_link_ttl() -> Duration {
    Duration::from_secs(15 * 60)
}

/// `[cluster]`: the Redis every relay of the cluster shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT/DB`, or `rediss://` for TLS; no password in it.
    pub redis: String,
    /// Environment variable holding Redis' password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding Redis' password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// This relay's name in the cluster (default: host name and port). Unique per relay.
    #[serde(default)]
    pub node: Option<String>,
    /// Prefix of every key, so several clusters can share one Redis.
    #[serde(default = "default_cluster_prefix")]
    pub prefix: String,
    /// How long a session's owner holds it without renewing: after a crash another relay
    /// adopts the session once this has passed.
    #[serde(with = "humantime_serde", default = "default_lease")]
    pub lease: Duration,
}

fn default_cluster_prefix() -> String {
    "wr".into()
}

fn default_lease() -> Duration {
    Duration::from_secs(3)
}

impl ClusterConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let rest = match self.redis.split_once("://") {
            Some(("redis" | "rediss", rest)) => rest,
            _ => {
                return bad(format!(
                    "cluster: redis = {:?} must look like redis://host:port/db (rediss:// for TLS)",
                    self.redis
                ))
            }
        };
        let authority = rest.split('/').next().unwrap_or("");
        if authority.contains('@') {
            return bad(
                "cluster: put Redis' password in password_env or password_file, not in the URL"
                    .into(),
            );
        }
        if authority.is_empty() {
            return bad(format!("cluster: redis = {:?} names no host", self.redis));
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            return bad("cluster: set at most one of password_env and password_file".into());
        }
        if let Some(n) = &self.node {
            if !valid_name(n) || n.len() > 64 {
                return bad(format!("cluster: node {n:?} must be a plain name (letters, digits, '-', '_', '.'; at most 64)"));
            }
        }
        if !valid_name(&self.prefix) || self.prefix.len() > 32 {
            return bad(format!(
                "cluster: prefix {:?} must be a plain name",
                self.prefix
            ));
        }
        if self.lease < Duration::from_millis(500) || self.lease > Duration::from_secs(300) {
            return bad("cluster: lease must be between 500ms and 5m".into());
        }
        Ok(())
    }

    /// Redis' password, read now (None: no AUTH).
    pub fn password(&self) -> Result<Option<String>, ConfigError> {
        match (&self.password_env, &self.password_file) {
            (Some(v), _) => std::env::var(v).map(Some).map_err(|_| {
                ConfigError::Invalid(format!("cluster: the environment variable {v} is not set"))
            }),
            (None, Some(p)) => std::fs::read_to_string(p)
                .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|e| {
                    ConfigError::Invalid(format!("cluster: reading {}: {e}", p.display()))
                }),
            (None, None) => Ok(None),
        }
    }
}

/// Where `/metrics` is served (it names targets): on a listen address of its own, or on
/// the main port to a bearer token; neither: not at all.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A separate address serving only `/metrics`, e.g. `127.0.0.1:9100`.
    #[serde(default)]
    pub listen: Option<String>,
    /// SHA-256 (64 hex digits) of a token that reads `/metrics` on the main port
    /// (`Authorization: Bearer TOKEN`).
    #[serde(default)]
    pub token_hash: Option<String>,
}

/// Limits (issue 17): how much of the relay one request, person or connection may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Password checks (argon2, about 19 MiB each) running at once; default one per core,
    /// at most 4.
    #[serde(default)]
    pub password_checks: Option<usize>,
    /// Password checks that may wait for one of those; more are refused with 503 and
    /// `Retry-After` at once.
    #[serde(default = "default_password_queue")]
    pub password_queue: usize,
    /// Connections served at once; more are answered 503 and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections from one address at once (trusted proxies excepted).
    #[serde(default = "default_max_connections_per_address")]
    pub max_connections_per_address: usize,
    /// A request's headers must arrive within this (and a TLS handshake too).
    #[serde(with = "humantime_serde", default = "default_header_timeout")]
    pub header_timeout: Duration,
    /// A request's body must arrive within this.
    #[serde(with = "humantime_serde", default = "default_body_timeout")]
    pub body_timeout: Duration,
    /// A connection with no byte in either direction for this long is closed (WebSockets
    /// are not affected: they have their own keepalive).
    #[serde(with = "humantime_serde", default = "default_conn_idle_timeout")]
    pub idle_timeout: Duration,
}

fn default_max_connections() -> usize {
    4096
}
fn default_max_connections_per_address() -> usize {
    128
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_conn_idle_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_password_queue() -> usize {
    32
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            password_checks: None,
            password_queue: default_password_queue(),
            max_connections: default_max_connections(),
            max_connections_per_address: default_max_connections_per_address(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            idle_timeout: default_conn_idle_timeout(),
        }
    }
}

/// A local user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Sign-in name.
    pub name: String,
    /// Argon2 PHC string (`winrelay hash-password` makes one).
    pub password_hash: String,
    /// Groups, for `group:NAME` entries in target roles.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// An API token: sent as `Authorization: Bearer TOKEN`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// What it is for (appears in the audit log, never the token).
    pub name: String,
    /// SHA-256 of the token, 64 hex digits (`printf %s TOKEN | sha256sum`).
    pub hash: String,
    /// The user the token acts as.
    pub user: String,
    /// That user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Trust user and groups from headers set by an authenticating proxy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyAuthConfig {
    /// Peer addresses of the proxy; headers from anywhere else are ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// Header with the user name.
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// Header with the groups (comma-separated).
    #[serde(default = "default_groups_header")]
    pub groups_header: String,
}

fn default_user_header() -> String {
    "X-Forwarded-User".into()
}
fn default_groups_header() -> String {
    "X-Forwarded-Groups".into()
}

/// HTTPS: certificate files, or a generated self-signed certificate for trials.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Generate a self-signed certificate at start (its fingerprint is printed).
    #[serde(default)]
    pub generate: bool,
}

/// Embed tokens (HS256 JWTs from the portal's backend) and framing.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EmbedConfig {
    /// Environment variable holding the shared secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the shared secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Required `aud` claim, if set.
    #[serde(default)]
    pub audience: Option<String>,
    /// Longest accepted token lifetime (`exp` from now).
    #[serde(with = "humantime_serde", default = "default_embed_ttl")]
    pub max_ttl: Duration,
    /// Origins whose pages may frame the relay (`Content-Security-Policy: frame-ancestors`)
    /// and talk to the embed page with postMessage.
    #[serde(default)]
    pub frame_ancestors: Vec<String>,
}

fn default_embed_ttl() -> Duration {
    Duration::from_secs(600)
}

/// The audit log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// File the JSON lines are appended to.
    pub path: PathBuf,
    /// Also log every input line (may contain secrets people type).
    #[serde(default)]
    pub log_input: bool,
}

/// Where recordings go and how long they stay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsConfig {
    /// Directory of the `.cast` files.
    pub dir: PathBuf,
    /// Recordings older than this are deleted.
    #[serde(with = "humantime_serde", default = "default_rec_age")]
    pub max_age: Duration,
    /// Oldest recordings are deleted while the total exceeds this.
    #[serde(default = "default_rec_bytes")]
    pub max_bytes: u64,
}

fn default_rec_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
fn default_rec_bytes() -> u64 {
    10 << 30
}

/// Session settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// A session with no client attached and no output ends after this long.
    #[serde(with = "humantime_serde", default = "default_idle")]
    pub idle_timeout: Duration,
    /// Bytes of output each session keeps for clients that reconnect.
    #[serde(default = "default_log_bytes")]
    pub log_bytes: usize,
    /// Most sessions one relay runs at once.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Most sessions one person runs at once (no limit unless set).
    #[serde(default)]
    pub max_per_user: Option<usize>,
    /// Most sessions on one target at once, e.g. below its account's MaxShellsPerUser
    /// (WinRM's default is 30) so that its owners can always open one (no limit unless set).
    #[serde(default)]
    pub max_per_target: Option<usize>,
    /// IdleTimeOut of the WinRS shells the relay opens: how long a target keeps a shell the
    /// relay could not delete (it crashed, or the network was cut). A live session never
    /// idles on the target (a Receive is always outstanding).
    #[serde(with = "humantime_serde", default = "default_shell_idle")]
    pub shell_idle_timeout: Duration,
}

/// IdleTimeOut of the shells the relay opens, unless configured.
pub const DEFAULT_SHELL_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

fn default_shell_idle() -> Duration {
    DEFAULT_SHELL_IDLE_TIMEOUT
}

fn default_idle() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_log_bytes() -> usize {
    1 << 20
}
fn default_max_sessions() -> usize {
    2000
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_timeout: default_idle(),
            log_bytes: default_log_bytes(),
            max_sessions: default_max_sessions(),
            max_per_user: None,
            max_per_target: None,
            shell_idle_timeout: default_shell_idle(),
        }
    }
}

/// A fixed target as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Name used by people and URLs.
    pub name: String,
    /// A description.
    #[serde(default)]
    pub description: String,
    /// WinRM endpoint, e.g. `https://web01:5986/wsman`.
    pub endpoint: String,
    /// The shell.
    #[serde(default)]
    pub shell: ShellKind,
    /// The PowerShell session configuration for `shell = "powershell"` (default
    /// `Microsoft.PowerShell`; a JEA endpoint by name).
    #[serde(default)]
    pub configuration: Option<String>,
    #[serde(flatten)]
    /// Credentials and certificate checking.
    pub access: AccessConfig,
    /// Older setting: the same as `owners`.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Users and `group:NAME`s with the owner role.
    #[serde(default)]
    pub owners: Vec<String>,
    /// ... with the writer role.
    #[serde(default)]
    pub writers: Vec<String>,
    /// ... with the viewer role.
    #[serde(default)]
    pub viewers: Vec<String>,
    /// Record every session of this target (needs `[recordings]`).
    #[serde(default)]
    pub record: bool,
}

/// Credential and certificate settings shared by targets and patterns.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// User name on the target; omitted when `ask_credentials`.
    #[serde(default)]
    pub user: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (e.g. `/run/secrets/winrm`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Ask the person connecting for user and password.
    #[serde(default)]
    pub ask_credentials: bool,
    /// SHA-256 fingerprint of the target's certificate.
    #[serde(default)]
    pub pin: Option<String>,
    /// CA file to verify the target's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Skip certificate checks (not recommended).
    #[serde(default)]
    pub insecure: bool,
    /// Allow `http://` endpoints (the password crosses the network in clear).
    #[serde(default)]
    pub allow_http: bool,
}

impl AccessConfig {
    /// The credential source.
    pub fn credentials(&self, what: &str) -> Result<Credentials, ConfigError> {
        if self.ask_credentials {
            return Ok(Credentials::Ask);
        }
        let user = self.user.clone().ok_or_else(|| ConfigError::Invalid(format!("{what}: set `user` (with password_env or password_file) or `ask_credentials = true`")))?;
        let password = match (&self.password_env, &self.password_file) {
            (Some(v), None) => PasswordSource::Env(v.clone()),
            (None, Some(p)) => PasswordSource::File(p.clone()),
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "{what}: set exactly one of password_env and password_file"
                )))
            }
        };
        Ok(Credentials::Fixed { user, password })
    }

    /// The certificate check.
    pub fn cert_check(&self, what: &str) -> Result<CertCheck, ConfigError> {
        match (&self.pin, &self.ca_file, self.insecure) {
            (Some(pin), None, false) => {
                let pin = normalize_pin(pin).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "{what}: pin must be 64 hex digits (SHA-256), colons allowed"
                    ))
                })?;
                Ok(CertCheck::Pin(pin))
            }
            (None, Some(ca), false) => Ok(CertCheck::CaFile(ca.clone())),
            (None, None, true) => Ok(CertCheck::Insecure),
            (None, None, false) => Ok(CertCheck::System),
            _ => Err(ConfigError::Invalid(format!(
                "{what}: choose one of pin, ca_file and insecure"
            ))),
        }
    }
}

/// A pattern for containers that come and go: the person names a host under `host_suffix`;
/// the relay connects only if every address the name resolves to is in `allow_networks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    /// Name prefix: targets are named `PREFIX/HOST`.
    pub name: String,
    /// A description.
    #[serde(default)]
    pub description: String,
    /// DNS suffix the host must end with, e.g. `.app_net` (empty: any single-label name).
    pub host_suffix: String,
    /// Address ranges the resolved addresses must fall in, e.g. `10.0.1.0/24`.
    pub allow_networks: Vec<IpNet>,
    /// WinRM port (5986).
    #[serde(default = "default_port")]
    pub port: u16,
    /// `https` (default) or `http` (needs `allow_http`).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// The shell.
    #[serde(default)]
    pub shell: ShellKind,
    /// The PowerShell session configuration for `shell = "powershell"` (default
    /// `Microsoft.PowerShell`; a JEA endpoint by name).
    #[serde(default)]
    pub configuration: Option<String>,
    #[serde(flatten)]
    /// Credentials and certificate checking.
    pub access: AccessConfig,
    /// Older setting: the same as `owners`.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Users and `group:NAME`s with the owner role.
    #[serde(default)]
    pub owners: Vec<String>,
    /// ... with the writer role.
    #[serde(default)]
    pub writers: Vec<String>,
    /// ... with the viewer role.
    #[serde(default)]
    pub viewers: Vec<String>,
    /// Record every session of hosts of this pattern (needs `[recordings]`).
    #[serde(default)]
    pub record: bool,
}

impl PatternConfig {
    /// Who may use hosts of this pattern.
    pub fn roles(&self) -> Roles {
        Roles::from_lists(&self.allow, &self.owners, &self.writers, &self.viewers)
    }
}

fn default_port() -> u16 {
    5986
}
fn default_scheme() -> String {
    "https".into()
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.targets()?;
        for p in &config.patterns {
            p.access.credentials(&p.name)?;
            p.access.cert_check(&p.name)?;
            check_configuration(&p.name, p.shell, p.configuration.as_deref())?;
            if p.allow_networks.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "pattern {}: allow_networks must name at least one address range",
                    p.name
                )));
            }
            if p.scheme != "https" && !(p.scheme == "http" && p.access.allow_http) {
                return Err(ConfigError::Invalid(format!(
                    "pattern {}: scheme must be https (or http with allow_http)",
                    p.name
                )));
            }
        }
        for d in &config.discovery {
            d.check()?;
        }
        config.check_access()?;
        if let Some(c) = &config.cluster {
            c.check()?;
        }
        if let Some(h) = &config.metrics.token_hash {
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ConfigError::Invalid(
                    "metrics: token_hash must be the SHA-256 of the token, 64 hex digits".into(),
                ));
            }
        }
        if let Some(u) = &config.public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "public_url {u:?} must look like https://host[:port]"
                )));
            }
        }
        for h in &config.allowed_hosts {
            if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid(format!(
                    "allowed host {h:?} must be a host name, optionally with :port"
                )));
            }
        }
        for o in &config.allowed_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                return Err(ConfigError::Invalid(format!(
                    "allowed origin {o:?} must look like https://host[:port]"
                )));
            }
        }
        Ok(config)
    }

    fn check_access(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        for u in &self.users {
            if u.name.is_empty() || u.name.contains(char::is_whitespace) {
                return bad(format!("user {:?}: names have no spaces", u.name));
            }
            if u.name.starts_with("embed:")
                || u.name.len() > 256
                || u.name.contains(char::is_control)
            {
                return bad(format!(
                    "user {:?}: names have at most 256 bytes and do not start with embed: (the embed tokens' namespace)",
                    u.name
                ));
            }
            if argon2::PasswordHash::new(&u.password_hash).is_err() {
                return bad(format!(
                    "user {}: password_hash must be an argon2 PHC string (winrelay hash-password makes one)",
                    u.name
                ));
            }
            if self.users.iter().filter(|o| o.name == u.name).count() > 1 {
                return bad(format!("user {} is defined twice", u.name));
            }
        }
        for t in &self.tokens {
            if t.user.starts_with("embed:")
                || t.user.is_empty()
                || t.user.len() > 256
                || t.user.contains(char::is_control)
            {
                return bad(format!(
                    "token {}: user must have 1 to 256 bytes and not start with embed:",
                    t.name
                ));
            }
            if t.hash.len() != 64 || !t.hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return bad(format!(
                    "token {}: hash must be the SHA-256 of the token, 64 hex digits",
                    t.name
                ));
            }
        }
        if let Some(p) = &self.proxy_auth {
            if p.trusted_proxies.is_empty() {
                return bad("proxy_auth: trusted_proxies must name the proxy's addresses".into());
            }
        }
        if let Some(t) = &self.tls {
            match (&t.cert, &t.key, t.generate) {
                (Some(_), Some(_), false) | (None, None, true) => {}
                _ => return bad("tls: set cert and key, or generate = true".into()),
            }
        }
        if let Some(e) = &self.embed {
            if e.secret_env.is_some() == e.secret_file.is_some() {
                return bad("embed: set exactly one of secret_env and secret_file".into());
            }
            for o in &e.frame_ancestors {
                if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                    return bad(format!(
                        "embed: frame ancestor {o:?} must look like https://host[:port]"
                    ));
                }
            }
        }
        let records = self.targets.iter().any(|t| t.record)
            || self.patterns.iter().any(|p| p.record)
            || self.discovery.iter().any(|d| d.record);
        if records && self.recordings.is_none() {
            return bad("a target has record = true: add [recordings] dir = \"...\"".into());
        }
        Ok(())
    }

    /// The fixed targets, resolved.
    pub fn targets(&self) -> Result<Vec<Target>, ConfigError> {
        let mut out: Vec<Target> = Vec::new();
        for t in &self.targets {
            if !valid_name(&t.name) {
                return Err(ConfigError::Invalid(format!(
                    "target name {:?}: use letters, digits, '-', '_' and '.'",
                    t.name
                )));
            }
            if out.iter().any(|o| o.name == t.name) {
                return Err(ConfigError::Invalid(format!(
                    "target {} is defined twice",
                    t.name
                )));
            }
            let url = t.endpoint.as_str();
            if !(url.starts_with("https://") || (url.starts_with("http://") && t.access.allow_http))
            {
                return Err(ConfigError::Invalid(format!("target {}: endpoint must be https:// (http:// needs allow_http = true: Basic auth would send the password in clear)", t.name)));
            }
            check_configuration(&t.name, t.shell, t.configuration.as_deref())?;
            out.push(Target {
                name: t.name.clone(),
                description: t.description.clone(),
                endpoint: t.endpoint.clone(),
                shell: t.shell,
                configuration: t.configuration.clone(),
                credentials: t.access.credentials(&t.name)?,
                cert: t.access.cert_check(&t.name)?,
                allow_http: t.access.allow_http,
                roles: Roles::from_lists(&t.allow, &t.owners, &t.writers, &t.viewers),
                record: t.record,
            });
        }
        Ok(out)
    }
}

/// A session configuration name is a plain name (it goes into a URI), and only PowerShell
/// remoting has them.
fn check_configuration(
    target: &str,
    shell: ShellKind,
    configuration: Option<&str>,
) -> Result<(), ConfigError> {
    let Some(name) = configuration else {
        return Ok(());
    };
    if shell != ShellKind::Powershell {
        return Err(ConfigError::Invalid(format!(
            "target {target}: configuration = {name:?} needs shell = \"powershell\" (session configurations belong to PowerShell remoting)"
        )));
    }
    if !valid_name(name) || name.len() > 128 {
        return Err(ConfigError::Invalid(format!(
            "target {target}: configuration {name:?}: use letters, digits, '-', '_' and '.' (e.g. Microsoft.PowerShell or a JEA endpoint's name)"
        )));
    }
    Ok(())
}

/// Where discovered targets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscoveryKind {
    /// The Docker Engine API: Swarm services' running tasks and plain containers.
    Docker,
}

/// A `[[discovery]]` block: containers carrying `label` become targets, reached at their
/// address on `network` when it lies inside `allow_networks`. Credentials, certificate
/// checks and roles come from here, never from the containers' labels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// The source: `docker`.
    pub kind: DiscoveryKind,
    /// `unix:///var/run/docker.sock` (default) or `tcp://HOST:2376` (with `cert`, `key`,
    /// `endpoint_ca`).
    #[serde(default = "default_docker_endpoint")]
    pub endpoint: String,
    /// Client certificate for a `tcp://` endpoint (PEM).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The CA that signed the Docker daemon's certificate (PEM). `ca_file` is the
    /// containers' WinRM CA, as for `[[target]]`.
    #[serde(default)]
    pub endpoint_ca: Option<PathBuf>,
    /// The network whose addresses are used, e.g. `app_net`.
    pub network: String,
    /// Address ranges a discovered address must fall in, e.g. `10.0.1.0/24`.
    pub allow_networks: Vec<IpNet>,
    /// `KEY=VALUE` (or just `KEY`) a service or container must carry.
    #[serde(default = "default_discovery_label")]
    pub label: String,
    /// WinRM port, unless a `winrelay.port` label says otherwise.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The shell, unless a `winrelay.shell` label says otherwise.
    #[serde(default)]
    pub shell: ShellKind,
    /// How often the whole list is read again besides following events.
    #[serde(with = "humantime_serde", default = "default_reconcile")]
    pub reconcile: Duration,
    #[serde(flatten)]
    /// Credentials and certificate checking for every discovered target.
    pub access: AccessConfig,
    /// Older setting: the same as `owners`.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Users and `group:NAME`s with the owner role.
    #[serde(default)]
    pub owners: Vec<String>,
    /// ... with the writer role.
    #[serde(default)]
    pub writers: Vec<String>,
    /// ... with the viewer role.
    #[serde(default)]
    pub viewers: Vec<String>,
    /// Record every session of discovered targets (needs `[recordings]`).
    #[serde(default)]
    pub record: bool,
}

fn default_docker_endpoint() -> String {
    "unix:///var/run/docker.sock".into()
}
fn default_discovery_label() -> String {
    "winrelay.enable=true".into()
}
fn default_reconcile() -> Duration {
    Duration::from_secs(30)
}

impl DiscoveryConfig {
    /// Who may use the discovered targets.
    pub fn roles(&self) -> Roles {
        Roles::from_lists(&self.allow, &self.owners, &self.writers, &self.viewers)
    }

    /// A name for messages.
    pub fn what(&self) -> String {
        format!("discovery ({} on {})", self.endpoint, self.network)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let what = self.what();
        let bad = |m: &str| Err(ConfigError::Invalid(format!("{what}: {m}")));
        self.access.credentials(&what)?;
        self.access.cert_check(&what)?;
        if self.access.allow_http {
            return bad("discovered targets are reached over https only");
        }
        if self.network.is_empty() {
            return bad("network must name the network whose addresses to use");
        }
        if self.allow_networks.is_empty() {
            return bad("allow_networks must name at least one address range");
        }
        if self.label.is_empty() || self.label.starts_with('=') {
            return bad("label must be KEY=VALUE or KEY");
        }
        if self.reconcile < Duration::from_secs(1) {
            return bad("reconcile must be at least 1s");
        }
        let tls = [&self.cert, &self.key, &self.endpoint_ca];
        if self.endpoint.starts_with("unix://") {
            if tls.iter().any(|o| o.is_some()) {
                return bad("cert, key and endpoint_ca are for tcp:// endpoints");
            }
        } else if self.endpoint.starts_with("tcp://") {
            if tls.iter().any(|o| o.is_none()) {
                return bad("a tcp:// endpoint needs cert, key and endpoint_ca (the Docker API gives root on the host: never without TLS)");
            }
        } else {
            return bad("endpoint must be unix:///PATH or tcp://HOST:PORT");
        }
        Ok(())
    }
}

impl PatternConfig {
    /// The host a `PREFIX/HOST` name stands for, if it matches this pattern's syntax.
    pub fn host_for<'a>(&self, target: &'a str) -> Option<&'a str> {
        let host = target.strip_prefix(&self.name)?.strip_prefix('/')?;
        if !valid_name(host) {
            return None;
        }
        let suffix_ok = if self.host_suffix.is_empty() {
            !host.contains('.')
        } else {
            host.ends_with(&self.host_suffix) && host.len() > self.host_suffix.len()
        };
        suffix_ok.then_some(host)
    }

    /// Whether every address is inside the allowed ranges (and there is at least one).
    pub fn addresses_allowed(&self, addrs: &[IpAddr]) -> bool {
        !addrs.is_empty()
            && addrs
                .iter()
                .all(|a| self.allow_networks.iter().any(|n| n.contains(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use winrelay_shared::protocol::Role;

    const SAMPLE: &str = r#"
listen = "0.0.0.0:8080"
allowed_origins = ["https://portal.example.com"]

[sessions]
idle_timeout = "10m"

[[target]]
name = "web01"
endpoint = "https://web01:5986/wsman"
shell = "powershell"
user = "Administrator"
password_env = "WEB01_PASSWORD"
pin = "AA:BB:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
allow = ["alice"]

[[target]]
name = "ask"
endpoint = "https://ask:5986/wsman"
ask_credentials = true
insecure = true

[[target_pattern]]
name = "swarm"
host_suffix = ".app_net"
allow_networks = ["10.0.1.0/24"]
user = "u"
password_file = "/run/secrets/winrm"
"#;

    #[test]
    fn parses_a_full_file() {
        let c = Config::parse(SAMPLE).unwrap();
        assert_eq!(c.sessions.idle_timeout, Duration::from_secs(600));
        let t = c.targets().unwrap();
        assert_eq!(
            t[0].cert,
            CertCheck::Pin(
                "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899".into()
            )
        );
        assert_eq!(t[0].shell, ShellKind::Powershell);
        let jea = Config::parse(
            "[[target]]\nname='a'\nendpoint='https://a/wsman'\nask_credentials=true\nshell='powershell'\nconfiguration='JEARole'",
        )
        .unwrap();
        assert_eq!(
            jea.targets().unwrap()[0].configuration.as_deref(),
            Some("JEARole")
        );
        assert_eq!(t[0].roles.role_of("alice", &[]), Some(Role::Owner));
        assert_eq!(t[0].roles.role_of("bob", &[]), None);
        assert_eq!(t[1].credentials, Credentials::Ask);
        assert_eq!(t[1].cert, CertCheck::Insecure);
        assert_eq!(t[1].roles.role_of("anyone", &[]), Some(Role::Owner));
    }

    #[test]
    fn refuses_unsafe_or_ambiguous_settings() {
        let cases = [
            ("[[target]]\nname='a'\nendpoint='http://a/wsman'\nask_credentials=true", "https"),
            ("[[target]]\nname='a b'\nendpoint='https://a/wsman'\nask_credentials=true", "target name"),
            ("[[target]]\nname='a'\nendpoint='https://a/wsman'\nuser='u'", "password_env"),
            ("[[target]]\nname='a'\nendpoint='https://a/wsman'\nask_credentials=true\npin='00'", "64 hex"),
            ("[[target]]\nname='a'\nendpoint='https://a/wsman'\nask_credentials=true\ninsecure=true\npin='00'", "choose one"),
            ("[[target_pattern]]\nname='p'\nhost_suffix='.x'\nallow_networks=[]\nask_credentials=true", "allow_networks"),
            ("bogus = 1", "unknown field"),
            ("[[target]]\nname='a'\nendpoint='https://a/wsman'\nask_credentials=true\nconfiguration='JEA'", "needs shell = \"powershell\""),
            ("[[target]]\nname='a'\nendpoint='https://a/wsman'\nask_credentials=true\nshell='powershell'\nconfiguration='a/b'", "configuration \"a/b\""),
            ("allowed_origins=['portal.example']", "allowed origin"),
        ];
        for (text, needle) in cases {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn patterns_only_accept_names_under_the_suffix_and_allowed_addresses() {
        let c = Config::parse(SAMPLE).unwrap();
        let p = &c.patterns[0];
        assert_eq!(p.host_for("swarm/web.1.app_net"), Some("web.1.app_net"));
        for bad in [
            "swarm/evil.com",
            "swarm/.app_net",
            "swarm/a.app_net:22",
            "swarm/a@b.app_net",
            "swarm/10.0.1.5",
            "other/x.app_net",
            "swarm/x.app_net/../y",
        ] {
            assert_eq!(p.host_for(bad), None, "{bad}");
        }
        assert!(p.addresses_allowed(&["10.0.1.7".parse().unwrap()]));
        assert!(!p.addresses_allowed(&["10.0.1.7".parse().unwrap(), "127.0.0.1".parse().unwrap()]));
        assert!(!p.addresses_allowed(&[]));
    }

    #[test]
    fn roles_by_user_group_and_star() {
        let c = Config::parse(
            "[[target]]\nname='a'\nendpoint='https://a/wsman'\nask_credentials=true\n\
             owners=['alice']\nwriters=['group:ops']\nviewers=['*']\n",
        )
        .unwrap();
        let r = &c.targets().unwrap()[0].roles;
        assert_eq!(r.role_of("alice", &[]), Some(Role::Owner));
        assert_eq!(r.role_of("bob", &["ops".into()]), Some(Role::Writer));
        assert_eq!(r.role_of("bob", &["dev".into()]), Some(Role::Viewer));
        let c = Config::parse(
            "[[target]]\nname='a'\nendpoint='https://a/wsman'\nask_credentials=true\nviewers=['group:ops']\n",
        )
        .unwrap();
        let r = &c.targets().unwrap()[0].roles;
        assert_eq!(
            r.role_of("bob", &[]),
            None,
            "naming any role list drops the default"
        );
        assert_eq!(
            r.role_of("group:ops", &[]),
            None,
            "a user named like a group entry is not in it"
        );
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(
            format!("{:?}", PasswordSource::Inline(Secret("hunter2".into()))),
            "Inline(***)"
        );
    }
}
