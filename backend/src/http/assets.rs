//! The browser app, embedded in the binary (release builds) or read from `dist/` (debug).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode, Uri};
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

/// Serves `/assets/*` with long-lived caching and everything else as the app's index.html.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("assets/") {
        return match Dist::get(path) {
            Some(file) => {
                let mime = file.metadata.mimetype();
                let mut resp = Response::new(Body::from(file.data.into_owned()));
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_str(mime)
                        .unwrap_or(HeaderValue::from_static("application/octet-stream")),
                );
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
