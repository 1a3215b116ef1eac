//! The domain types a configuration yields: targets with their roles, credentials and
//! certificate checks. Nothing here reads TOML.

use std::path::PathBuf;

use winrelay_shared::protocol::Role;

use super::ConfigError;

/// Who may use a target, and how. Entries are user names, `group:NAME`, or `*` (every
/// signed-in user).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// Open sessions, join any session of the target as owner, download its recordings.
    pub owners: Vec<String>,
    /// Open sessions, join others' sessions as writer.
    pub writers: Vec<String>,
    /// Join sessions of the target read-only; cannot open sessions.
    pub viewers: Vec<String>,
}

impl Roles {
    /// Everyone signed in is an owner (the demo, and targets that name no roles).
    pub fn everyone() -> Roles {
        Roles {
            owners: vec!["*".into()],
            ..Roles::default()
        }
    }

    /// From the file's lists; `allow` (the older setting) counts as owners; nothing at all
    /// means every signed-in user is an owner, as before roles existed.
    pub(crate) fn from_lists(
        allow: &Option<Vec<String>>,
        owners: &[String],
        writers: &[String],
        viewers: &[String],
    ) -> Roles {
        let mut r = Roles {
            owners: owners.to_vec(),
            writers: writers.to_vec(),
            viewers: viewers.to_vec(),
        };
        if let Some(a) = allow {
            r.owners.extend(a.iter().cloned());
        } else if r.owners.is_empty() && r.writers.is_empty() && r.viewers.is_empty() {
            r = Roles::everyone();
        }
        r
    }

    /// The best role of `user` with `groups`, if any.
    pub fn role_of(&self, user: &str, groups: &[String]) -> Option<Role> {
        let hit = |list: &[String]| {
            list.iter().any(|e| {
                e == "*"
                    || match e.strip_prefix("group:") {
                        Some(g) => groups.iter().any(|x| x == g),
                        None => e == user,
                    }
            })
        };
        if hit(&self.owners) {
            Some(Role::Owner)
        } else if hit(&self.writers) {
            Some(Role::Writer)
        } else if hit(&self.viewers) {
            Some(Role::Viewer)
        } else {
            None
        }
    }
}

pub use winrelay_shared::api::ShellKind;

/// How the relay checks a target's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertCheck {
    /// The system's roots.
    System,
    /// A CA file.
    CaFile(PathBuf),
    /// The SHA-256 of the certificate (64 hex digits).
    Pin(String),
    /// No check (only when configured explicitly; logged as a warning).
    Insecure,
}

/// Where a target's credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A fixed user with the password in an environment variable or a file.
    Fixed {
        /// User name.
        user: String,
        /// The password source.
        password: PasswordSource,
    },
    /// Asked from the person connecting, used once and never stored.
    Ask,
}

/// Where a password lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// An environment variable.
    Env(String),
    /// A file, such as a Docker secret; trailing newlines are dropped.
    File(PathBuf),
    /// In memory (the built-in demo target only: never read from a file).
    Inline(Secret),
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl PasswordSource {
    /// Reads the password now.
    pub fn read(&self) -> Result<Secret, ConfigError> {
        match self {
            PasswordSource::Env(var) => std::env::var(var).map(Secret).map_err(|_| {
                ConfigError::Invalid(format!(
                    "the environment variable {var} with the target's password is not set"
                ))
            }),
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                }),
            PasswordSource::Inline(s) => Ok(s.clone()),
        }
    }
}

/// Lower-case hex without separators, if `pin` is a SHA-256 fingerprint.
pub fn normalize_pin(pin: &str) -> Option<String> {
    let hex: String = pin
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// A target resolved to what the relay needs to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// The shell.
    pub shell: ShellKind,
    /// The PowerShell session configuration (`shell = "powershell"`; None: the default,
    /// `Microsoft.PowerShell`; a JEA endpoint by name).
    pub configuration: Option<String>,
    /// Credentials.
    pub credentials: Credentials,
    /// Certificate check.
    pub cert: CertCheck,
    /// Plain HTTP allowed.
    pub allow_http: bool,
    /// Who may use it, with which role.
    pub roles: Roles,
    /// Sessions are recorded.
    pub record: bool,
}

/// Names of targets and pattern hosts: no URL syntax can sneak in.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['.', '-'])
}
