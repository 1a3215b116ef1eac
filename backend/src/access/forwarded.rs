//! Behind a reverse proxy: the client's address and scheme from `X-Forwarded-For` and
//! `X-Forwarded-Proto`, believed only from configured proxy addresses (issue 17).
//!
//! Without this every sign-in behind a proxy shared the proxy's address (one person's
//! wrong passwords slowed everyone), the cookie lost `Secure`, and the audit log recorded
//! the proxy. From any other address the headers are ignored: a client cannot choose its
//! own address for the limits or the audit log.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// Header the relay sets for itself (after removing any a client sent) when a trusted proxy
/// said the client used HTTPS.
pub const FORWARDED_HTTPS: &str = "x-winrelay-forwarded-https";

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Whether `ip` is one of the `trusted` proxies.
pub fn trusted(trusted: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|n| n.contains(&ip))
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the last address in
/// `X-Forwarded-For` (all such headers, in order) that is not itself a trusted proxy.
/// Anything unparsable leaves the last usable answer.
pub fn client_addr(proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted(proxies, peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !trusted(proxies, client) {
            break;
        }
    }
    client
}

/// Whether a trusted proxy says the client used HTTPS (its last `X-Forwarded-Proto`).
pub fn forwarded_https(proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> bool {
    trusted(proxies, peer)
        && headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 192.0.2.7"),
        );
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.9"));
        h.append("x-forwarded-proto", HeaderValue::from_static("https"));
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        // The client's own claim (6.6.6.6) is not believed: the last untrusted hop is.
        assert_eq!(
            client_addr(&proxies, proxy, &h),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_addr(&proxies, stranger, &h), stranger);
        assert!(forwarded_https(&proxies, proxy, &h));
        assert!(!forwarded_https(&proxies, stranger, &h));
        let mut junk = HeaderMap::new();
        junk.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not-an-address"),
        );
        assert_eq!(client_addr(&proxies, proxy, &junk), proxy);
    }
}
