//! `winrelay healthcheck`: exit 0 when the relay on this machine answers ready on `/readyz`
//! (the container image's `HEALTHCHECK`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;

/// Options of `winrelay healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The relay's readiness URL; without it, derived from the configuration's `listen` and
    /// `[tls]` (the relay on loopback), else `http://127.0.0.1:8080/readyz`.
    #[arg(long, env = "WINRELAY_HEALTHCHECK_URL")]
    pub url: Option<String>,
    /// The configuration file the relay runs with.
    #[arg(long, env = "WINRELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// The readiness URL of a relay listening on `listen`, reached from the same machine.
pub fn local_url(listen: Option<&str>, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let addr = listen.unwrap_or("127.0.0.1:8080");
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "8080"));
    let host = match host.trim_start_matches('[').trim_end_matches(']') {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("{scheme}://{host}:{port}/readyz")
}

/// Asks once; an error says why the relay is not ready.
pub async fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = match (&args.url, &args.config) {
        (Some(u), _) => u.clone(),
        (None, Some(path)) => {
            let c = Config::load(path).with_context(|| format!("loading {}", path.display()))?;
            local_url(c.listen.as_deref(), c.tls.is_some())
        }
        (None, None) => local_url(None, false),
    };
    // The relay's own certificate is often self-signed: this asks our own process on
    // loopback, and the answer only decides whether it is healthy.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(args.timeout))
        .build()?;
    let resp = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success() && body.trim() == "ready",
        "{url} answered {status}: {}",
        body.trim()
    );
    println!("ready");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::local_url;

    #[test]
    fn the_local_url_follows_listen_and_tls() {
        assert_eq!(local_url(None, false), "http://127.0.0.1:8080/readyz");
        assert_eq!(
            local_url(Some("0.0.0.0:9000"), true),
            "https://127.0.0.1:9000/readyz"
        );
        assert_eq!(
            local_url(Some("[::]:8080"), false),
            "http://[::1]:8080/readyz"
        );
        assert_eq!(
            local_url(Some("10.0.1.2:8080"), false),
            "http://10.0.1.2:8080/readyz"
        );
    }
}
