//! What `winrelay probe` says when a container does not let the relay in: one unauthenticated
//! look at the endpoint (does the port speak HTTPS at all, which authentication schemes does
//! it offer) plus the client's typed error, turned into what is wrong and how to fix it.
//! [`diagnosis`] is plain code; [`look`] is the one request.

use std::time::Duration;

use winrm_client::Error;

/// What an unauthenticated request to the endpoint showed. No credentials are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// The endpoint is `https://` but the port answers plain HTTP (the HTTP listener).
    pub plain_http_on_https: bool,
    /// The schemes of `WWW-Authenticate` on a 401, lower-case (`basic`, `negotiate`, ...).
    pub schemes: Option<Vec<String>>,
}

/// Looks at `endpoint` without credentials (certificate not checked: only headers are read).
pub async fn look(endpoint: &str) -> Look {
    let Ok(client) = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return Look::default();
    };
    let post = |url: String| {
        client
            .post(url)
            .header("Content-Type", "application/soap+xml;charset=UTF-8")
            .body("")
            .send()
    };
    match post(endpoint.to_string()).await {
        Ok(resp) => Look {
            plain_http_on_https: false,
            schemes: (resp.status() == 401).then(|| {
                resp.headers()
                    .get_all("www-authenticate")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(|v| v.split_whitespace().next())
                    .map(|s| s.trim_end_matches(',').to_ascii_lowercase())
                    .collect()
            }),
        },
        Err(_) => match endpoint.strip_prefix("https://") {
            Some(rest) => Look {
                plain_http_on_https: post(format!("http://{rest}")).await.is_ok(),
                schemes: None,
            },
            None => Look::default(),
        },
    }
}

/// What is wrong and what to do, one line each, from the client's error and the look.
pub fn diagnosis(error: &Error, look: &Look) -> Vec<String> {
    let mut out = Vec::new();
    if look.plain_http_on_https {
        out.push(
            "this port speaks plain HTTP, not HTTPS: it is WinRM's HTTP listener (usually 5985); \
             use the HTTPS listener on 5986 (deploy/windows/start.ps1 creates it)"
                .into(),
        );
        return out;
    }
    let basic_offered = look
        .schemes
        .as_ref()
        .map(|s| s.iter().any(|x| x == "basic"));
    match error {
        Error::WrongCredentials { user, .. } => match basic_offered {
            Some(false) => out.push(format!(
                "Basic authentication is disabled on the target (it offers {}): \
                 Set-Item WSMan:\\localhost\\Service\\Auth\\Basic $true",
                look.schemes.as_deref().unwrap_or_default().join(", ")
            )),
            _ => out.push(format!(
                "the user name or password is wrong (Basic is enabled): check the password of \
                 {user} in the container (the winrm_password secret) and in relay.toml; a local \
                 account, not a domain one"
            )),
        },
        Error::CertificateMismatch { expected, seen, .. } => out.push(format!(
            "the certificate is not the pinned one (pinned {expected}, seen {seen}): each container \
             made its own self-signed certificate? share one through the winrm_cert.pfx secret \
             and pin it, or pin = \"{seen}\" if this one is right"
        )),
        Error::UntrustedCertificate { message, .. } => out.push(format!(
            "the certificate is not trusted ({message}): give its CA in ca_file, or pin its \
             SHA-256 (printed above and by start.ps1)"
        )),
        Error::EnvelopeTooLarge { .. } => out.push(
            "the target's MaxEnvelopeSizekb is smaller than the relay's requests: \
             Set-Item WSMan:\\localhost\\MaxEnvelopeSizekb 512"
                .into(),
        ),
        Error::Fault {
            code: Some(2150858824),
            ..
        } => out.push(
            "the target's MaxEnvelopeSizekb is too small (fault 2150858824): \
             Set-Item WSMan:\\localhost\\MaxEnvelopeSizekb 512"
                .into(),
        ),
        Error::QuotaReached { .. } => out.push(
            "the user has as many shells as MaxShellsPerUser allows (leaked shells expire after \
             the shells' idle timeout): Set-Item WSMan:\\localhost\\Shell\\MaxShellsPerUser 30, \
             or restart the WinRM service"
                .into(),
        ),
        Error::Unreachable { .. } => out.push(
            "nothing accepts connections there: is the container running, is the address on the \
             relay's network, and does an HTTPS listener exist on that port \
             (winrm enumerate winrm/config/listener)?"
                .into(),
        ),
        Error::Timeout { .. } => out.push(
            "the target accepted the connection but did not answer in time: a firewall dropping \
             packets, or WinRM hanging (Restart-Service WinRM)"
                .into(),
        ),
        Error::Http { status: 413, .. } => out.push(
            "the target refused the request's size (413): raise MaxEnvelopeSizekb".into(),
        ),
        Error::Http { status, .. } => out.push(format!(
            "HTTP {status} from something that is not WinRM's listener at /wsman: check the port \
             and the path"
        )),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e() -> String {
        "https://10.0.1.5:5986/wsman".into()
    }

    #[test]
    fn each_misconfiguration_gets_its_own_advice() {
        let wrong = Error::WrongCredentials {
            endpoint: e(),
            user: "winrelay".into(),
        };
        let basic = Look {
            schemes: Some(vec!["basic".into()]),
            ..Look::default()
        };
        let negotiate = Look {
            schemes: Some(vec!["negotiate".into(), "kerberos".into()]),
            ..Look::default()
        };
        let says = |err: &Error, look: &Look, needle: &str| {
            let d = diagnosis(err, look).join("\n");
            assert!(d.contains(needle), "{needle:?} not in {d:?}");
        };
        says(&wrong, &basic, "password is wrong");
        says(&wrong, &negotiate, "Basic authentication is disabled");
        says(&wrong, &negotiate, "negotiate, kerberos");
        let http = Look {
            plain_http_on_https: true,
            ..Look::default()
        };
        says(
            &Error::Unreachable {
                endpoint: e(),
                message: "tls".into(),
            },
            &http,
            "speaks plain HTTP",
        );
        says(
            &Error::CertificateMismatch {
                endpoint: e(),
                expected: "aa".into(),
                seen: "bb".into(),
            },
            &Look::default(),
            "pin = \"bb\"",
        );
        says(
            &Error::EnvelopeTooLarge { endpoint: e() },
            &Look::default(),
            "MaxEnvelopeSizekb",
        );
        says(
            &Error::Fault {
                endpoint: e(),
                code: Some(2150858824),
                message: "x".into(),
            },
            &Look::default(),
            "MaxEnvelopeSizekb",
        );
    }

    /// Serves one canned HTTP answer on a plain TCP port.
    async fn canned(answer: &'static str) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn the_look_sees_plain_http_and_the_offered_schemes() {
        let a = canned("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: Kerberos\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        let look_https = look(&format!("https://{a}/wsman")).await;
        assert!(look_https.plain_http_on_https, "{look_https:?}");
        let look_http = look(&format!("http://{a}/wsman")).await;
        assert_eq!(
            look_http.schemes,
            Some(vec!["negotiate".to_string(), "kerberos".to_string()])
        );
        let mut sim = winrs_sim::SimConfig::new("u", "p");
        sim.listen = "127.0.0.1:0".parse().unwrap();
        let sim = winrs_sim::start(sim).await.unwrap();
        let l = look(&sim.endpoint()).await;
        assert_eq!(l.schemes, Some(vec!["basic".to_string()]));
        assert!(!l.plain_http_on_https);
        sim.shutdown().await;
    }
}
