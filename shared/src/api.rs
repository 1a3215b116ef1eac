//! The relay's HTTP API (`/api/...`): every request and response body, and the failure
//! codes that HTTP errors and session states carry. The relay serializes these and the page
//! deserializes the same types, so the two cannot drift.
//!
//! **Invariant:** programs decide on a [`FailureCode`], never on a message's text; messages
//! are for people.

use serde::{Deserialize, Serialize};

use crate::protocol::{Presence, Role, SessionState};

/// What went wrong, for programs: carried by every failed API call ([`ApiError`]) and by the
/// `failed` / `target_lost` session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    // --- the caller ---------------------------------------------------------------------
    /// No credential was presented: sign in first.
    NotSignedIn,
    /// Wrong user name or password at the relay's own sign-in.
    BadCredentials,
    /// Too many failed sign-ins: wait (`Retry-After`).
    TooManyAttempts,
    /// The API token is not valid.
    BadToken,
    /// The embed token is not valid (or this relay takes none).
    BadEmbedToken,
    /// This call needs an embed token.
    EmbedTokenRequired,
    /// The page's origin is not allowed.
    BadOrigin,
    /// A cookie-authenticated write without Origin lacks `X-Winrelay: 1`.
    Csrf,
    /// The request body or parameters are not usable.
    BadRequest,
    /// The role asked for is not allowed here.
    BadRole,
    // --- what the caller named ----------------------------------------------------------
    /// No such target (or not visible to the caller).
    UnknownTarget,
    /// No such session (or not the caller's).
    UnknownSession,
    /// No such share link.
    UnknownShare,
    /// The share link the caller came with was revoked or has expired (the session may
    /// still run; the link no longer lets anyone in).
    ShareEnded,
    /// No such client in the session.
    UnknownClient,
    /// No such recording (or not the caller's to see).
    UnknownRecording,
    /// No such API path.
    NotFound,
    /// The caller may watch sessions of the target but not open one.
    ViewOnly,
    /// The target asks the person for a user name and password.
    CredentialsRequired,
    /// A pattern host resolved to an address the relay may not connect to.
    AddressNotAllowed,
    /// A pattern host does not resolve.
    NoSuchHost,
    // --- the relay's limits -------------------------------------------------------------
    /// The relay runs as many sessions as it may.
    TooManySessions,
    // --- the target ---------------------------------------------------------------------
    /// The target refused the user name or password (HTTP 401).
    WrongCredentials,
    /// The target's certificate does not have the pinned fingerprint (see
    /// [`ApiError::fingerprints`]).
    CertificateMismatch,
    /// The target's certificate is not trusted.
    CertificateUntrusted,
    /// The target cannot be reached.
    Unreachable,
    /// The target did not answer in time.
    Timeout,
    /// The target's quota of shells per user is reached.
    QuotaReached,
    /// The remote shell is gone (container restarted, idle timeout, closed elsewhere).
    ShellGone,
    /// A request was larger than the target accepts (MaxEnvelopeSize).
    EnvelopeTooLarge,
    /// The target answered with another WS-Management fault or HTTP error.
    TargetFault,
    /// The target's answer was not usable WS-Management.
    ProtocolError,
    /// The session was ended before its shell opened.
    Ended,
    /// Anything else that went wrong with the target.
    #[default]
    TargetFailed,
    // --- added later (append only) ------------------------------------------------------
    /// The relay is checking as many passwords as it may: retry after `Retry-After`.
    RelayBusy,
    /// The caller (or the target) has as many sessions as the relay allows per person or
    /// per target.
    SessionLimit,
    /// The sign-in ended: the account changed or was removed. Sign in again.
    SignInEnded,
    /// The session's owner removed this person (or share link) from the session.
    RemovedByOwner,
    /// The request names a host that is not the relay's (see `allowed_hosts`).
    BadHost,
    /// The session runs on another relay of the cluster, and this relay cannot reach the
    /// cluster's Redis now: retry (maybe through another relay).
    ClusterUnavailable,
}

impl FailureCode {
    /// Whether asking the person for (other) credentials may help.
    pub fn asks_for_credentials(self) -> bool {
        matches!(
            self,
            FailureCode::WrongCredentials | FailureCode::CredentialsRequired
        )
    }

    /// The code's wire name (`wrong_credentials`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::NotSignedIn => "not_signed_in",
            FailureCode::BadCredentials => "bad_credentials",
            FailureCode::TooManyAttempts => "too_many_attempts",
            FailureCode::BadToken => "bad_token",
            FailureCode::BadEmbedToken => "bad_embed_token",
            FailureCode::EmbedTokenRequired => "embed_token_required",
            FailureCode::BadOrigin => "bad_origin",
            FailureCode::Csrf => "csrf",
            FailureCode::BadRequest => "bad_request",
            FailureCode::BadRole => "bad_role",
            FailureCode::UnknownTarget => "unknown_target",
            FailureCode::UnknownSession => "unknown_session",
            FailureCode::UnknownShare => "unknown_share",
            FailureCode::ShareEnded => "share_ended",
            FailureCode::UnknownClient => "unknown_client",
            FailureCode::UnknownRecording => "unknown_recording",
            FailureCode::NotFound => "not_found",
            FailureCode::ViewOnly => "view_only",
            FailureCode::CredentialsRequired => "credentials_required",
            FailureCode::AddressNotAllowed => "address_not_allowed",
            FailureCode::NoSuchHost => "no_such_host",
            FailureCode::TooManySessions => "too_many_sessions",
            FailureCode::WrongCredentials => "wrong_credentials",
            FailureCode::CertificateMismatch => "certificate_mismatch",
            FailureCode::CertificateUntrusted => "certificate_untrusted",
            FailureCode::Unreachable => "unreachable",
            FailureCode::Timeout => "timeout",
            FailureCode::QuotaReached => "quota_reached",
            FailureCode::ShellGone => "shell_gone",
            FailureCode::EnvelopeTooLarge => "envelope_too_large",
            FailureCode::TargetFault => "target_fault",
            FailureCode::ProtocolError => "protocol_error",
            FailureCode::Ended => "ended",
            FailureCode::TargetFailed => "target_failed",
            FailureCode::RelayBusy => "relay_busy",
            FailureCode::SessionLimit => "session_limit",
            FailureCode::SignInEnded => "sign_in_ended",
            FailureCode::RemovedByOwner => "removed_by_owner",
            FailureCode::ClusterUnavailable => "cluster_unavailable",
            FailureCode::BadHost => "bad_host",
        }
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pinned and the presented certificate fingerprints of a
/// [`FailureCode::CertificateMismatch`] (lowercase hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// The pin in the configuration.
    pub expected: String,
    /// What the server presented.
    pub seen: String,
}

/// Error body of every failed API call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable code.
    pub error: FailureCode,
    /// What happened and what to do, for a person.
    pub message: String,
    /// Both fingerprints, with [`FailureCode::CertificateMismatch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprints: Option<Fingerprints>,
}

impl ApiError {
    /// An error without details.
    pub fn new(error: FailureCode, message: impl Into<String>) -> ApiError {
        ApiError {
            error,
            message: message.into(),
            fingerprints: None,
        }
    }
}

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A one-time login link printed by the relay.
    Link,
    /// User name and password.
    Password,
    /// An API token (`Authorization: Bearer`).
    Token,
    /// Headers from a trusted authenticating proxy.
    Proxy,
    /// An embed token from a portal.
    Embed,
}

impl Method {
    /// Whether the browser sends this credential by itself (cookies, and the proxy's own
    /// cookie behind proxy headers): such requests need the cross-site checks.
    pub fn ambient(self) -> bool {
        matches!(self, Method::Link | Method::Password | Method::Proxy)
    }
}

/// `GET /api/me`; also the answer of `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// User name.
    pub user: String,
    /// Always true (a caller who is not signed in gets [`FailureCode::NotSignedIn`]).
    pub signed_in: bool,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// How this sign-in was made.
    pub method: Method,
}

/// `POST /api/login` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordLogin {
    /// User name.
    pub user: String,
    /// Password (never stored or logged).
    pub password: String,
}

/// Which kind of shell a target opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShellKind {
    /// `cmd.exe`.
    #[default]
    Cmd,
    /// PowerShell over PowerShell remoting (PSRP): the relay is the console host.
    Powershell,
    /// PowerShell reading commands from a pipe (`powershell.exe -Command -`) over WinRS, for
    /// endpoints where remoting is disabled.
    PowershellPipe,
}

impl ShellKind {
    /// The configuration name (`cmd`, `powershell`, `powershell-pipe`).
    pub fn name(self) -> &'static str {
        match self {
            ShellKind::Cmd => "cmd",
            ShellKind::Powershell => "powershell",
            ShellKind::PowershellPipe => "powershell-pipe",
        }
    }
}

/// A target the signed-in user may open (`GET /api/targets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Name used in URLs and the API.
    pub name: String,
    /// A description for people.
    #[serde(default)]
    pub description: String,
    /// The kind of shell.
    pub shell: ShellKind,
    /// The best role this user gets on sessions of this target.
    pub role: Role,
    /// Whether the relay must ask the user for credentials.
    pub ask_credentials: bool,
    /// Last reachability check: `None` unknown, `Some(true)` reachable.
    #[serde(default)]
    pub reachable: Option<bool>,
    /// What discovery knows about it (nothing for configured targets).
    #[serde(flatten)]
    pub facts: TargetFacts,
}

/// What discovery knows about a target: where it runs and since when. Every field is absent
/// for configured targets and for what a source does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetFacts {
    /// The service (Swarm) it is a task of; the picker groups by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The task's replica number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u64>,
    /// The node it runs on (as the source names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its image, without the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Its state as the source says it (`running`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Since when it is in that state, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// `POST /api/sessions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateSession {
    /// The target's name.
    pub target: String,
    /// Credentials for targets that ask for them; never stored.
    #[serde(default)]
    pub username: Option<String>,
    /// See `username`.
    #[serde(default)]
    pub password: Option<String>,
    /// Initial size.
    #[serde(default)]
    pub cols: Option<u16>,
    /// Initial size.
    #[serde(default)]
    pub rows: Option<u16>,
}

/// A session (`GET /api/sessions`, `GET /api/sessions/{id}`, `POST /api/sessions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Target name.
    pub target: String,
    /// Who started it.
    pub owner: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// The shell's state.
    pub state: SessionState,
    /// Attached clients.
    pub clients: Vec<Presence>,
    /// The caller's role on this session.
    pub role: Role,
    /// The last command typed (never hidden input), to tell sessions apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_command: Option<String>,
}

/// `POST /api/sessions/{id}/shares` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewShare {
    /// Viewer or writer.
    pub role: Role,
    /// Lifetime in seconds (clamped to 1 s .. 7 days).
    #[serde(default = "default_share_ttl")]
    pub ttl_secs: u64,
}

fn default_share_ttl() -> u64 {
    3600
}

/// A share link as the session's owner sees it (`POST`/`GET /api/sessions/{id}/shares`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareInfo {
    /// Public id (for revoking); not the secret.
    pub id: String,
    /// The role it grants.
    pub role: Role,
    /// Seconds until it stops working.
    pub expires_in_secs: u64,
    /// Clients attached through this link right now.
    #[serde(default)]
    pub clients: Vec<u64>,
    /// The link's secret: only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Path of the link with its token (`/s/ID?share=T`): only when just created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `PUT /api/sessions/{id}/clients/{client}/role` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetRole {
    /// Writer or viewer.
    pub role: Role,
}

/// `POST /api/embed/session` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbedOpen {
    /// Initial size.
    #[serde(default)]
    pub cols: Option<u16>,
    /// Initial size.
    #[serde(default)]
    pub rows: Option<u16>,
}

/// `GET /api/embed/info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbedInfo {
    /// Origins that may frame the relay.
    #[serde(default)]
    pub frame_ancestors: Vec<String>,
}

/// A recording (`GET /api/recordings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// Id (the session's id).
    pub id: String,
    /// Target.
    pub target: String,
    /// Who started the session.
    pub owner: String,
    /// Start, seconds since the epoch.
    pub started: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Still being written.
    #[serde(default)]
    pub live: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_have_stable_names() {
        for code in [
            FailureCode::WrongCredentials,
            FailureCode::CertificateMismatch,
            FailureCode::TooManySessions,
            FailureCode::NotSignedIn,
            FailureCode::TargetFailed,
            FailureCode::RelayBusy,
            FailureCode::SessionLimit,
            FailureCode::SignInEnded,
            FailureCode::RemovedByOwner,
            FailureCode::BadHost,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<FailureCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn discovery_facts_are_flat_and_absent_when_unknown() {
        let mut t = TargetInfo {
            name: "web.2".into(),
            description: String::new(),
            shell: ShellKind::Cmd,
            role: Role::Writer,
            ask_credentials: false,
            reachable: None,
            facts: TargetFacts::default(),
        };
        let plain = serde_json::to_value(&t).unwrap();
        for key in ["service", "slot", "node", "image", "state", "started_at"] {
            assert!(plain.get(key).is_none(), "{key} absent: {plain}");
        }
        t.facts = TargetFacts {
            service: Some("web".into()),
            slot: Some(2),
            node: Some("node-1".into()),
            image: Some("app:1".into()),
            state: Some("running".into()),
            started_at: Some("2026-11-29T03:00:00Z".into()),
        };
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["service"], "web");
        assert_eq!(json["slot"], 2);
        assert_eq!(json["started_at"], "2026-11-29T03:00:00Z");
        assert_eq!(serde_json::from_value::<TargetInfo>(json).unwrap(), t);
        // An older relay's answer (no facts) still reads.
        let old: TargetInfo = serde_json::from_value(plain).unwrap();
        assert_eq!(old.facts, TargetFacts::default());
    }

    #[test]
    fn errors_carry_fingerprints_only_when_there_are_some() {
        let plain = ApiError::new(FailureCode::Unreachable, "cannot reach");
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"error":"unreachable","message":"cannot reach"}"#
        );
        let pinned = ApiError {
            fingerprints: Some(Fingerprints {
                expected: "aa".into(),
                seen: "bb".into(),
            }),
            ..ApiError::new(FailureCode::CertificateMismatch, "mismatch")
        };
        let back: ApiError =
            serde_json::from_str(&serde_json::to_string(&pinned).unwrap()).unwrap();
        assert_eq!(back, pinned);
    }

    #[test]
    fn failed_states_carry_their_code() {
        let s = SessionState::Failed {
            code: FailureCode::WrongCredentials,
            message: "no".into(),
            fingerprints: None,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"state":"failed","code":"wrong_credentials","message":"no"}"#
        );
        // An older relay's state without a code still reads.
        let old: SessionState =
            serde_json::from_str(r#"{"state":"target_lost","message":"x"}"#).unwrap();
        assert_eq!(
            old,
            SessionState::TargetLost {
                code: FailureCode::TargetFailed,
                message: "x".into()
            }
        );
    }

    #[test]
    fn shell_kinds_read_as_configured() {
        assert_eq!(
            serde_json::to_string(&ShellKind::Powershell).unwrap(),
            "\"powershell\""
        );
        assert_eq!(ShellKind::Cmd.name(), "cmd");
    }
}
