//! The browser app, embedded in the binary (release builds) or read from `dist/` (debug).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../dist/"]
#[allow_missing = true]
struct Dist;

/// Content-Security-Policy of every page; `frame_ancestors` comes from the configuration.
pub fn csp(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

const MISSING: &str = "<!doctype html><meta charset=utf-8><title>winrelay</title>\
<p>The browser app is not built into this relay. Run <code>make run</code> (or \
<code>scripts/build-frontend.sh</code>) and start the relay again.</p>";

/// A compressed copy the build wrote beside an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Gzip => ".gz",
        }
    }

    fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }
}

/// The encodings an `Accept-Encoding` header takes, best first: brotli, then gzip, each only
/// when named (or `*`) without `q=0`.
fn accepted(headers: &HeaderMap) -> Vec<Encoding> {
    let mut br = None;
    let mut gzip = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q_zero = parts.any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            let slot = match name.as_str() {
                "br" => &mut br,
                "gzip" | "x-gzip" => &mut gzip,
                "*" => &mut any,
                _ => continue,
            };
            *slot = Some(!q_zero);
        }
    }
    let ok = |named: Option<bool>| named.or(any).unwrap_or(false);
    let mut out = Vec::new();
    if ok(br) {
        out.push(Encoding::Brotli);
    }
    if ok(gzip) {
        out.push(Encoding::Gzip);
    }
    out
}

/// Serves `/assets/*` with long-lived caching, compressed at build time when the browser takes
/// it, and everything else as the app's index.html.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("assets/") {
        // The compressed copies are served only for the asset they belong to.
        if path.ends_with(".br") || path.ends_with(".gz") {
            return (StatusCode::NOT_FOUND, "no such file").into_response();
        }
        return match Dist::get(path) {
            Some(file) => {
                let mime = file.metadata.mimetype();
                let compressed = accepted(&headers).into_iter().find_map(|enc| {
                    Dist::get(&format!("{path}{}", enc.suffix())).map(|f| (enc, f))
                });
                let (body, encoding) = match compressed {
                    Some((enc, f)) => (f.data.into_owned(), Some(enc)),
                    None => (file.data.into_owned(), None),
                };
                let mut resp = Response::new(Body::from(body));
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_str(mime)
                        .unwrap_or(HeaderValue::from_static("application/octet-stream")),
                );
                h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                if let Some(enc) = encoding {
                    // Already encoded: the compression layer leaves such responses alone.
                    h.insert(
                        header::CONTENT_ENCODING,
                        HeaderValue::from_static(enc.token()),
                    );
                }
                // Names carry a content hash: a new build has new names.
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                );
                resp
            }
            None => (StatusCode::NOT_FOUND, "no such file").into_response(),
        };
    }
    if path.contains('.')
        && !path.starts_with("open/")
        && !path.starts_with("s/")
        && !path.starts_with("embed/")
        && !path.starts_with("fleet/")
    {
        if let Some(file) = Dist::get(path) {
            let mime = file.metadata.mimetype().to_string();
            return (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
                ],
                file.data.into_owned(),
            )
                .into_response();
        }
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    index()
}

/// The app's page (never cached: it names the current assets).
pub fn index() -> Response {
    let body = Dist::get("index.html")
        .map(|f| f.data.into_owned())
        .unwrap_or_else(|| MISSING.as_bytes().to_vec());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accept: &str) -> Vec<Encoding> {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        accepted(&h)
    }

    #[test]
    fn accept_encoding_picks_brotli_then_gzip() {
        use Encoding::*;
        assert_eq!(with("gzip, deflate, br, zstd"), vec![Brotli, Gzip]);
        assert_eq!(with("gzip"), vec![Gzip]);
        assert_eq!(with("br;q=0, gzip;q=0.5"), vec![Gzip]);
        assert_eq!(with("identity"), vec![]);
        assert_eq!(with("*"), vec![Brotli, Gzip]);
        assert_eq!(with("*, br;q=0"), vec![Gzip]);
        assert_eq!(with("GZIP ; Q=1"), vec![Gzip]);
        assert_eq!(accepted(&HeaderMap::new()), vec![]);
    }
}
