//! The client's error type and how HTTP statuses and WSMan faults map onto it.

use std::time::Duration;

use wsman::ns::code;
use wsman::{Fault, ParseError};

/// Everything that can go wrong talking to a WinRM server.
///
/// Each message says what happened and what to try; none ever contains the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// HTTP 401: the server refused the user name or password.
    #[error(
        "wrong user name or password for {endpoint} (user {user:?}): the server answered \
         401 Unauthorized; check the account, and that Basic auth is enabled on the WinRM service"
    )]
    WrongCredentials {
        /// The endpoint URL.
        endpoint: String,
        /// The user name that was refused.
        user: String,
    },
    /// The server's certificate does not have the pinned fingerprint.
    #[error(
        "the certificate of {endpoint} has fingerprint {seen}, expected pin {expected}: the \
         container was recreated (then pin the new fingerprint) or this is not the host you think"
    )]
    CertificateMismatch {
        /// The endpoint URL.
        endpoint: String,
        /// The pinned fingerprint, lowercase hex.
        expected: String,
        /// The fingerprint the server presented, lowercase hex.
        seen: String,
    },
    /// The certificate was refused by the CA / system-roots check.
    #[error(
        "the certificate of {endpoint} is not trusted: {message}; pass the issuing CA file, \
         or pin the certificate's fingerprint (shown by `winrelay probe`)"
    )]
    UntrustedCertificate {
        /// The endpoint URL.
        endpoint: String,
        /// What the check said.
        message: String,
    },
    /// No connection could be made (refused, DNS failure, TLS handshake failed, reset).
    #[error(
        "cannot reach {endpoint}: {message}; check the host name and port, that the container \
         is running, and that its WinRM listener is up"
    )]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// The underlying cause.
        message: String,
    },
    /// The server did not answer in time.
    #[error(
        "{endpoint} did not answer within {}s: the host is overloaded or the network drops \
         packets; try again, or raise the operation timeout", after.as_secs()
    )]
    Timeout {
        /// The endpoint URL.
        endpoint: String,
        /// How long the client waited.
        after: Duration,
    },
    /// WSMan fault 2150858843: the shell (or command) id is unknown to the server.
    #[error(
        "the shell is gone from {endpoint}: the container restarted, the shell's idle timeout \
         expired, or it was closed; open a new shell (server said: {message})"
    )]
    ShellGone {
        /// The endpoint URL.
        endpoint: String,
        /// The server's message.
        message: String,
    },
    /// WSMan fault 2150859173: the user has as many shells open as the server allows.
    #[error(
        "{endpoint} refuses another shell: the user's quota of open shells (MaxShellsPerUser) \
         is reached; close unused shells or wait for their idle timeout (server said: {message})"
    )]
    QuotaReached {
        /// The endpoint URL.
        endpoint: String,
        /// The server's message.
        message: String,
    },
    /// HTTP 413 or WSMan fault 2150858824: a request exceeded the server's MaxEnvelopeSize.
    #[error(
        "a request to {endpoint} was larger than the server accepts (MaxEnvelopeSize): lower \
         the client's max envelope size to the server's MaxEnvelopeSizekb"
    )]
    EnvelopeTooLarge {
        /// The endpoint URL.
        endpoint: String,
    },
    /// Any other WSMan fault.
    #[error("{endpoint} answered with WSMan fault {}: {message}", code.map_or("(no code)".to_string(), |c| c.to_string()))]
    Fault {
        /// The endpoint URL.
        endpoint: String,
        /// The WSManFault code, when the fault had one.
        code: Option<u32>,
        /// The fault's message.
        message: String,
    },
    /// The response could not be understood.
    #[error(
        "{endpoint} sent a response that is not a usable WinRS envelope ({source}): is this \
         a WinRM endpoint?"
    )]
    Protocol {
        /// The endpoint URL.
        endpoint: String,
        /// What was wrong with it.
        #[source]
        source: ParseError,
    },
    /// An HTTP status the protocol does not explain.
    #[error("{endpoint} answered HTTP {status}: is the URL a WinRM endpoint (usually https://HOST:5986/wsman)?")]
    Http {
        /// The endpoint URL.
        endpoint: String,
        /// The status code.
        status: u16,
    },
    /// The client configuration cannot be used.
    #[error("invalid WinRM client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Maps a WSMan fault to the error a caller can act on.
    pub fn from_fault(endpoint: &str, fault: Fault) -> Error {
        let endpoint = endpoint.to_string();
        let message = if fault.message.is_empty() {
            fault.reason.trim().to_string()
        } else {
            fault.message.trim().to_string()
        };
        match fault.wsman_code {
            Some(code::INVALID_SELECTORS) => Error::ShellGone { endpoint, message },
            Some(code::SHELL_QUOTA) => Error::QuotaReached { endpoint, message },
            Some(code::MAX_ENVELOPE_SIZE) => Error::EnvelopeTooLarge { endpoint },
            code => Error::Fault {
                endpoint,
                code,
                message,
            },
        }
    }

    /// Maps an HTTP status that came without a usable SOAP body.
    pub fn from_status(endpoint: &str, user: &str, status: u16) -> Error {
        let endpoint = endpoint.to_string();
        match status {
            401 => Error::WrongCredentials {
                endpoint,
                user: user.to_string(),
            },
            413 => Error::EnvelopeTooLarge { endpoint },
            status => Error::Http { endpoint, status },
        }
    }

    /// True when the server answered that the shell or command no longer exists.
    pub fn is_shell_gone(&self) -> bool {
        matches!(self, Error::ShellGone { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(code: Option<u32>, message: &str) -> Fault {
        Fault {
            code: "s:Sender".into(),
            subcode: None,
            reason: "reason text ".into(),
            detail: None,
            wsman_code: code,
            machine: None,
            message: message.into(),
            relates_to: None,
        }
    }

    const EP: &str = "https://10.0.0.5:5986/wsman";

    #[test]
    fn faults_map_to_actionable_errors() {
        let e = Error::from_fault(EP, fault(Some(2150858843), "invalid selectors "));
        assert!(matches!(&e, Error::ShellGone { message, .. } if message == "invalid selectors"));
        assert!(e.to_string().contains("container restarted"));
        assert!(e.is_shell_gone());

        let e = Error::from_fault(EP, fault(Some(2150859173), "quota"));
        assert!(matches!(e, Error::QuotaReached { .. }));
        assert!(e.to_string().contains("MaxShellsPerUser"));

        let e = Error::from_fault(EP, fault(Some(2150858824), ""));
        assert!(matches!(e, Error::EnvelopeTooLarge { .. }));

        let e = Error::from_fault(EP, fault(Some(2150858817), "schema"));
        assert!(matches!(
            e,
            Error::Fault {
                code: Some(2150858817),
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            format!("{EP} answered with WSMan fault 2150858817: schema")
        );

        // Without f:Message the reason is the message.
        let e = Error::from_fault(EP, fault(None, ""));
        assert!(matches!(&e, Error::Fault { code: None, message, .. } if message == "reason text"));
        assert!(e.to_string().contains("(no code)"));
    }

    #[test]
    fn statuses_map_to_actionable_errors() {
        let e = Error::from_status(EP, "admin", 401);
        assert!(matches!(e, Error::WrongCredentials { .. }));
        assert_eq!(
            e.to_string(),
            format!(
                "wrong user name or password for {EP} (user \"admin\"): the server answered \
                 401 Unauthorized; check the account, and that Basic auth is enabled on the \
                 WinRM service"
            )
        );
        assert!(matches!(
            Error::from_status(EP, "u", 413),
            Error::EnvelopeTooLarge { .. }
        ));
        assert!(matches!(
            Error::from_status(EP, "u", 404),
            Error::Http { status: 404, .. }
        ));
    }

    #[test]
    fn mismatch_message_names_both_fingerprints() {
        let e = Error::CertificateMismatch {
            endpoint: EP.into(),
            expected: "aa".repeat(32),
            seen: "bb".repeat(32),
        };
        let s = e.to_string();
        assert!(s.contains(&"aa".repeat(32)) && s.contains(&"bb".repeat(32)));
        assert!(s.contains("container was recreated"));
    }
}
