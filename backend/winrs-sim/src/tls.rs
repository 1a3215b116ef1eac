//! The HTTPS certificate: generated at start or read from PEM files, and its fingerprint.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::SimError;

/// A rustls server configuration and the SHA-256 fingerprint of its leaf certificate.
pub(crate) struct ServerTls {
    pub(crate) config: Arc<rustls::ServerConfig>,
    pub(crate) fingerprint: String,
}

/// SHA-256 of a DER certificate as 64 lowercase hex digits.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A self-signed certificate for `localhost`, the loopback addresses and `ip`.
pub(crate) fn generated(ip: IpAddr) -> Result<ServerTls, SimError> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
        names.push(ip.to_string());
    }
    let key = rcgen::generate_simple_self_signed(names).map_err(|e| SimError::Certificate {
        what: "generating a self-signed certificate".into(),
        detail: e.to_string(),
    })?;
    let cert = key.cert.der().clone();
    let key_der = PrivateKeyDer::try_from(key.signing_key.serialize_der()).map_err(|e| {
        SimError::Certificate {
            what: "encoding the generated key".into(),
            detail: e.to_string(),
        }
    })?;
    build(vec![cert], key_der)
}

/// The certificate chain and key of PEM files.
pub(crate) fn from_files(cert: &Path, key: &Path) -> Result<ServerTls, SimError> {
    let bad = |path: &Path, e: &dyn std::fmt::Display| SimError::Certificate {
        what: format!("reading {}", path.display()),
        detail: e.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, &e))?;
    if chain.is_empty() {
        return Err(bad(cert, &"no CERTIFICATE block in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    build(chain, key_der)
}

fn build(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerTls, SimError> {
    let fingerprint = fingerprint(&chain[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| SimError::Certificate {
            what: "loading the certificate and key".into(),
            detail: e.to_string(),
        })?;
    // WinRM is HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        fingerprint,
    })
}
