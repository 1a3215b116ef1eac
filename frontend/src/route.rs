//! The page's paths: `/` (picker), `/open/TARGET` (new shell), `/s/ID` (a session), each
//! also under `/embed/...` (terminal only, for portals); `/recordings` and
//! `/recordings/ID` (replay), `/fleet/SERVICE` (a service's tasks). The relay serves the
//! same index.html for all of them.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Home,
    Open(String),
    Session(String),
    Recordings,
    Replay(String),
    Fleet(String),
}

pub fn parse(path: &str) -> (Route, bool) {
    let (path, embed) = match path.strip_prefix("/embed") {
        Some(rest) => (rest, true),
        None => (path, false),
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = match segs.as_slice() {
        ["open", target] => Route::Open(decode(target)),
        ["s", id] => Route::Session(decode(id)),
        ["recordings"] if !embed => Route::Recordings,
        ["recordings", id] if !embed => Route::Replay(decode(id)),
        ["fleet", service] if !embed => Route::Fleet(decode(service)),
        _ => Route::Home,
    };
    (route, embed)
}

pub fn path(route: &Route, embed: bool) -> String {
    let p = match route {
        Route::Home => "/".to_string(),
        Route::Open(t) => format!("/open/{}", encode(t)),
        Route::Session(id) => format!("/s/{}", encode(id)),
        Route::Recordings => "/recordings".to_string(),
        Route::Replay(id) => format!("/recordings/{}", encode(id)),
        Route::Fleet(s) => format!("/fleet/{}", encode(s)),
    };
    if embed {
        format!("/embed{p}")
    } else {
        p
    }
}

fn decode(s: &str) -> String {
    js_sys::decode_uri_component(s)
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| s.to_string())
}

fn encode(s: &str) -> String {
    js_sys::encode_uri_component(s)
        .as_string()
        .unwrap_or_default()
}
