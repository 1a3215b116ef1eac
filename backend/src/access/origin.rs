//! The Origin rule that keeps other sites' pages out.

use http::{header, HeaderMap};

/// The Origin rule: a request that carries an Origin must come from the relay's own origin
/// (same host and port as the Host header) or from a configured allowed origin. Requests
/// without Origin come from non-browser programs, which cannot be driven by another site.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!(origin_host, Some(h) if !host.is_empty() && h.eq_ignore_ascii_case(host))
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
}
