//! How the client decides to trust a server certificate.
//!
//! Every mode goes through [`RecordingVerifier`], which remembers the SHA-256 fingerprint of the
//! last end-entity certificate it saw. The transport reports a failed handshake as text, so this slot
//! is how a pin mismatch reaches the caller with the fingerprint that was actually presented,
//! and how `winrelay probe` can print the fingerprint an operator should pin.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::Error;

/// How the server's certificate is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// The operating system's trusted roots, and the host name must match.
    SystemRoots,
    /// Only certificates issued by the CA(s) in this PEM file, and the host name must match.
    CaFile(PathBuf),
    /// Only the certificate whose DER encoding has this SHA-256 digest. Name, issuer and dates
    /// are not checked; the handshake signature still is. The recommended mode for containers
    /// with self-signed certificates.
    Pin([u8; 32]),
    /// No check at all: anyone on the path can read the password. Logged as a warning.
    Insecure,
}

impl std::fmt::Debug for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsMode::SystemRoots => f.write_str("SystemRoots"),
            TlsMode::CaFile(p) => f.debug_tuple("CaFile").field(p).finish(),
            TlsMode::Pin(pin) => write!(f, "Pin({})", hex::encode(pin)),
            TlsMode::Insecure => f.write_str("Insecure"),
        }
    }
}

/// The SHA-256 fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Parses a fingerprint written as 64 hex digits, optionally separated by `:` or spaces and
/// optionally prefixed with `sha256:` (the forms `openssl x509 -fingerprint` and others print).
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], Error> {
    let trimmed = s.trim();
    let body = trimmed
        .strip_prefix("sha256:")
        .or_else(|| trimmed.strip_prefix("SHA256:"))
        .unwrap_or(trimmed);
    let digits: String = body.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&digits, &mut out).map_err(|_| {
        Error::Config(format!(
            "the pin {s:?} is not a SHA-256 fingerprint: expected 64 hex digits \
             (colons allowed), e.g. as printed by `winrelay probe`"
        ))
    })?;
    Ok(out)
}

/// What the verifier saw during the last handshakes of one client.
#[derive(Debug, Default)]
pub(crate) struct CertSlot {
    /// Fingerprint of the last end-entity certificate presented.
    pub last_seen: Option<[u8; 32]>,
    /// Fingerprint of the last certificate refused because it did not match the pin.
    pub mismatch: Option<[u8; 32]>,
    /// Why the last certificate was refused by the CA check, if it was.
    pub rejected: Option<String>,
}

pub(crate) type SharedSlot = Arc<Mutex<CertSlot>>;

#[derive(Debug)]
enum Check {
    WebPki(Arc<WebPkiServerVerifier>),
    Pin([u8; 32]),
    Nothing,
}

/// A rustls verifier that applies a [`TlsMode`] and records what it saw.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    check: Check,
    provider: Arc<CryptoProvider>,
    slot: SharedSlot,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = fingerprint(end_entity);
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.last_seen = Some(seen);
        match &self.check {
            Check::Pin(pin) if *pin == seen => Ok(ServerCertVerified::assertion()),
            Check::Pin(_) => {
                slot.mismatch = Some(seen);
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
            Check::Nothing => Ok(ServerCertVerified::assertion()),
            Check::WebPki(inner) => inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .inspect_err(|e| slot.rejected = Some(e.to_string())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Even with a pin or no check, the server must prove it holds the certificate's key:
        // otherwise a pinned certificate could be replayed by anyone who has seen it.
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds the rustls configuration for a mode; the slot receives what the verifier sees.
pub(crate) fn client_config(
    mode: &TlsMode,
    endpoint: &str,
    slot: SharedSlot,
) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = match mode {
        TlsMode::Pin(pin) => Check::Pin(*pin),
        TlsMode::Insecure => {
            tracing::warn!(
                endpoint,
                "TLS certificate checking is disabled: anyone on the network path can \
                 impersonate the server and read the password; pin the fingerprint instead"
            );
            Check::Nothing
        }
        TlsMode::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "skipping an unreadable system certificate");
            }
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::Config(
                    "no trusted root certificates found on this system; pass a CA file or \
                     pin the server's fingerprint"
                        .into(),
                ));
            }
            Check::WebPki(webpki(roots, &provider)?)
        }
        TlsMode::CaFile(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::Config(format!(
                        "cannot read CA certificates from {}: {e}",
                        path.display()
                    ))
                })?;
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::Config(format!(
                    "{} holds no usable PEM certificate",
                    path.display()
                )));
            }
            Check::WebPki(webpki(roots, &provider)?)
        }
    };
    let verifier = RecordingVerifier {
        check,
        provider: provider.clone(),
        slot,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, Error> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_common_spellings() {
        let hex64 = "ab".repeat(32);
        let want = [0xab; 32];
        assert_eq!(parse_fingerprint(&hex64).unwrap(), want);
        assert_eq!(parse_fingerprint(&hex64.to_uppercase()).unwrap(), want);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&colons).unwrap(), want);
        assert_eq!(parse_fingerprint(&format!("sha256:{hex64}")).unwrap(), want);
        assert!(parse_fingerprint("abcd").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn pin_debug_shows_hex() {
        let s = format!("{:?}", TlsMode::Pin([1; 32]));
        assert_eq!(s, format!("Pin({})", "01".repeat(32)));
    }
}
