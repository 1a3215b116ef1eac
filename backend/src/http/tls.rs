//! HTTPS for the relay itself: certificate files, or a self-signed certificate generated at
//! start for trials (its SHA-256 fingerprint is printed so a client can pin it).

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::TlsConfig;

/// A rustls server configuration and its leaf certificate's SHA-256 (hex).
pub struct ServerTls {
    /// For the acceptor.
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate, 64 hex digits.
    pub fingerprint: String,
}

/// Loads or generates the certificate. `ip` is the listen address, added to a generated
/// certificate's names.
pub fn load(c: &TlsConfig, ip: IpAddr) -> anyhow::Result<ServerTls> {
    let (chain, key) = if c.generate {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
            names.push(ip.to_string());
        }
        let k = rcgen::generate_simple_self_signed(names)
            .context("generating a self-signed certificate")?;
        let key = PrivateKeyDer::try_from(k.signing_key.serialize_der())
            .map_err(|e| anyhow::anyhow!("encoding the generated key: {e}"))?;
        (vec![k.cert.der().clone()], key)
    } else {
        let (Some(cert), Some(key)) = (&c.cert, &c.key) else {
            anyhow::bail!("tls: set cert and key, or generate = true");
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", cert.display()))?;
        anyhow::ensure!(
            !chain.is_empty(),
            "{}: no CERTIFICATE block",
            cert.display()
        );
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", key.display()))?;
        (chain, key)
    };
    let fingerprint = hex::encode(Sha256::digest(&chain[0]));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .context("loading the certificate and key")?;
    // WebSockets ride on HTTP/1.1 upgrades.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        fingerprint,
    })
}
