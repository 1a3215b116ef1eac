//! The Origin rule that keeps other sites' pages out, and the Host rule that keeps out
//! pages of names that were made to point at the relay (DNS rebinding).

use std::net::SocketAddr;

use http::{header, HeaderMap};

/// Which origins and hosts are the relay's own.
#[derive(Debug, Clone, Default)]
pub struct OriginRule {
    /// Origins allowed besides the relay's own (`allowed_origins`).
    pub allowed: Vec<String>,
    /// Schemes the relay is reached with: its own (`http`, or `https` with `[tls]`) and
    /// its public URL's (behind a TLS-terminating proxy).
    pub schemes: Vec<String>,
    /// Host names (`name` for any port, `name:port`) requests may name; `None`: any.
    pub hosts: Option<Vec<String>>,
}

fn split_host(hostport: &str) -> (&str, Option<&str>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        // [v6]:port
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (hostport, None),
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (hostport, None),
    }
}

impl OriginRule {
    /// The rule of a relay serving with `tls` (or not), with `public_url` and
    /// `allowed_hosts` from its configuration, listening on `listen` (when known).
    ///
    /// Hosts, unless configured: the public URL's host and, for a relay listening on a
    /// loopback address, the loopback names on any port (a page of another name that
    /// resolves to 127.0.0.1 is refused; an SSH tunnel to another port is not); a relay listening on other addresses accepts any
    /// Host unless `allowed_hosts` or `public_url` says otherwise.
    pub fn new(
        allowed: Vec<String>,
        tls: bool,
        public_url: Option<&str>,
        allowed_hosts: &[String],
        listen: Option<SocketAddr>,
    ) -> OriginRule {
        let mut schemes = vec![if tls { "https" } else { "http" }.to_string()];
        let public = public_url.and_then(|u| {
            let (scheme, rest) = u.split_once("://")?;
            let host = rest.split('/').next()?.to_string();
            Some((scheme.to_ascii_lowercase(), host))
        });
        if let Some((scheme, _)) = &public {
            if !schemes.contains(scheme) {
                schemes.push(scheme.clone());
            }
        }
        let hosts = if !allowed_hosts.is_empty() {
            let mut h = allowed_hosts.to_vec();
            h.extend(public.map(|(_, host)| host));
            Some(h)
        } else {
            let loopback = listen.filter(|a| a.ip().is_loopback());
            match (public, loopback) {
                (None, None) => None,
                (public, loopback) => {
                    let mut h: Vec<String> = public.map(|(_, host)| host).into_iter().collect();
                    // Any port: DNS rebinding needs a foreign host *name*; the port a
                    // browser uses differs from the listening one behind an SSH tunnel,
                    // a `docker run -p` mapping or a local proxy.
                    if let Some(a) = loopback.or(listen) {
                        h.push(match a {
                            SocketAddr::V4(v4) => v4.ip().to_string(),
                            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
                        });
                        if a.ip().is_loopback() {
                            h.extend(
                                ["localhost", "127.0.0.1", "[::1]"]
                                    .iter()
                                    .map(|n| n.to_string()),
                            );
                        }
                    }
                    Some(h)
                }
            }
        };
        OriginRule {
            allowed,
            schemes,
            hosts,
        }
    }

    /// Whether a Host header value is one of the relay's names.
    pub fn host_ok(&self, host: &str) -> bool {
        let Some(hosts) = &self.hosts else {
            return true;
        };
        let (name, port) = split_host(host);
        hosts.iter().any(|allowed| {
            let (an, ap) = split_host(allowed);
            an.eq_ignore_ascii_case(name) && (ap.is_none() || ap == port)
        })
    }

    /// The Host rule: a request without Host (HTTP/1.0, in-process tests) passes; one
    /// naming another host does not.
    pub fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let mut all = headers.get_all(header::HOST).iter();
        match (all.next(), all.next()) {
            (None, _) => true,
            (Some(h), None) => h.to_str().is_ok_and(|h| self.host_ok(h)),
            (Some(_), Some(_)) => false,
        }
    }

    /// The Origin rule: a request that carries an Origin must come from the relay's own
    /// origin (same scheme, host and port as the relay is reached with) or from a
    /// configured allowed origin. Requests without Origin come from non-browser
    /// programs, which cannot be driven by another site.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        if self.allowed.iter().any(|a| a == origin) {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some((scheme, origin_host)) = origin.split_once("://") else {
            return false;
        };
        // A trusted reverse proxy said the page came over HTTPS (see `forwarded`).
        let forwarded_https = headers.contains_key(super::forwarded::FORWARDED_HTTPS)
            && scheme.eq_ignore_ascii_case("https");
        (forwarded_https || self.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)))
            && !host.is_empty()
            && origin_host.eq_ignore_ascii_case(host)
            && self.host_ok(host)
    }
}

/// The Origin rule of a plain-HTTP relay with `allowed` origins (see
/// [`OriginRule::origin_allowed`]).
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    OriginRule::new(allowed.to_vec(), false, None, &[], None).origin_allowed(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        let allowed = vec!["https://portal.example".to_string()];
        assert!(origin_allowed(&headers(&[]), &allowed));
        assert!(origin_allowed(
            &headers(&[
                (header::HOST, "127.0.0.1:8080"),
                (header::ORIGIN, "http://127.0.0.1:8080")
            ]),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(&[
                (header::HOST, "relay"),
                (header::ORIGIN, "https://portal.example")
            ]),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(&[
                (header::HOST, "127.0.0.1:8080"),
                (header::ORIGIN, "http://evil.example")
            ]),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(&[
                (header::HOST, "127.0.0.1:8080"),
                (header::ORIGIN, "http://127.0.0.1:8081")
            ]),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(&[(header::ORIGIN, "null")]),
            &allowed
        ));
    }

    /// Issue 17, item 13: the scheme counts (an https page is not the http relay's own,
    /// nor the other way round).
    #[test]
    fn the_scheme_is_part_of_the_origin() {
        let h = |origin: &str| headers(&[(header::HOST, "relay:8080"), (header::ORIGIN, origin)]);
        let plain = OriginRule::new(vec![], false, None, &[], None);
        assert!(plain.origin_allowed(&h("http://relay:8080")));
        assert!(!plain.origin_allowed(&h("https://relay:8080")));
        assert!(!plain.origin_allowed(&h("ftp://relay:8080")));
        let tls = OriginRule::new(vec![], true, None, &[], None);
        assert!(tls.origin_allowed(&h("https://relay:8080")));
        assert!(!tls.origin_allowed(&h("http://relay:8080")));
        // Behind a TLS-terminating proxy the public URL's scheme is the relay's too.
        let proxied = OriginRule::new(vec![], false, Some("https://relay:8080"), &[], None);
        assert!(proxied.origin_allowed(&h("https://relay:8080")));
    }

    /// Issue 17, item 13: only the relay's own names (DNS rebinding).
    #[test]
    fn only_the_relays_own_host_names() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let rule = OriginRule::new(vec![], false, None, &[], Some(lo));
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            // Behind an SSH tunnel or a local port mapping the browser's port differs.
            "127.0.0.1:9999",
            "localhost:2222",
        ] {
            assert!(rule.host_ok(ok), "{ok}");
        }
        for bad in ["evil.example:8080", "attacker.rebind.example", ""] {
            assert!(!rule.host_ok(bad), "{bad}");
        }
        assert!(!rule.host_allowed(&headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::HOST, "evil.example")
        ])));
        assert!(rule.host_allowed(&headers(&[])));
        // A same-origin page of a rebound name is not the relay's own either.
        assert!(!rule.origin_allowed(&headers(&[
            (header::HOST, "evil.example:8080"),
            (header::ORIGIN, "http://evil.example:8080")
        ])));
        let configured = OriginRule::new(
            vec![],
            true,
            Some("https://term.example.com/"),
            &["relay.internal".to_string()],
            Some("0.0.0.0:443".parse().unwrap()),
        );
        assert!(configured.host_ok("term.example.com"));
        assert!(configured.host_ok("relay.internal:8443"));
        assert!(!configured.host_ok("10.0.0.5:443"));
        let open = OriginRule::new(
            vec![],
            false,
            None,
            &[],
            Some("0.0.0.0:8080".parse().unwrap()),
        );
        assert!(
            open.host_ok("anything:8080"),
            "without configuration, any name on 0.0.0.0"
        );
    }
}
