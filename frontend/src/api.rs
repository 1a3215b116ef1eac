//! Calls to the relay's HTTP API (same origin as the page; the session cookie rides along,
//! or the embed token on the embed page).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCredentials, RequestInit, Response};
pub use winrelay_shared::api::{
    ApiError, EmbedInfo, EmbedOpen, FailureCode, Me, Method, NewShare, PasswordLogin,
    RecordingInfo, SetRole, ShareInfo,
};
use winrelay_shared::protocol::api::{CreateSession, SessionInfo};
use winrelay_shared::protocol::Role;

thread_local! {
    /// The embed page's token: sent with every API call and WebSocket instead of a cookie.
    static EMBED_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Sets (or replaces, after the host page sends a fresh one) the embed token.
pub fn set_embed_token(token: Option<String>) {
    EMBED_TOKEN.with(|t| *t.borrow_mut() = token);
}

pub fn embed_token() -> Option<String> {
    EMBED_TOKEN.with(|t| t.borrow().clone())
}

/// Why an API call failed, in words a person can act on.
#[derive(Debug, Clone)]
pub enum ApiFail {
    /// The relay could not be reached at all.
    Network,
    /// The relay answered with something that is not its API (another version, a proxy's
    /// error page).
    BadAnswer { status: u16, message: String },
    /// The relay answered with an error status.
    Status {
        status: u16,
        error: ApiError,
        /// `Retry-After` (seconds) of a 429.
        retry_after: Option<u32>,
    },
}

impl ApiFail {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiFail::Network => None,
            ApiFail::BadAnswer { status, .. } | ApiFail::Status { status, .. } => Some(*status),
        }
    }

    /// The relay's failure code, when the relay said what went wrong.
    pub fn code(&self) -> Option<FailureCode> {
        match self {
            ApiFail::Status { error, .. } => Some(error.error),
            ApiFail::Network | ApiFail::BadAnswer { .. } => None,
        }
    }

    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiFail::Status { retry_after, .. } => *retry_after,
            ApiFail::Network | ApiFail::BadAnswer { .. } => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiFail::Network => "The relay cannot be reached: it may be stopped or restarting, or \
                                 the network is down. Retry in a moment."
                .into(),
            ApiFail::BadAnswer { message, .. } => message.clone(),
            ApiFail::Status { error, .. } if error.error == FailureCode::NotSignedIn => {
                "You are not signed in. Sign in below, open \
                 the sign-in link that `winrelay serve` printed (the line starting with \
                 `open:`), or sign in through your organisation's portal."
                    .into()
            }
            ApiFail::Status { error, .. } => error.message.clone(),
        }
    }
}

/// A GET that `boot.js` sent while the wasm was still loading (`/api/me`, and on `/` the
/// targets and the sessions), taken once: a promise of `{ text }` for a success, `null`
/// otherwise. Only a fresh (first 10 s) success is used: a refusal is asked again (the user
/// may have signed in since), and so is anything later.
fn prefetched(path: &str) -> Option<js_sys::Promise> {
    let store = js_sys::Reflect::get(&js_sys::global(), &"WinrelayPrefetch".into()).ok()?;
    if !store.is_object() {
        return None;
    }
    let key = JsValue::from_str(path);
    let pending = js_sys::Reflect::get(&store, &key).ok()?;
    let _ = js_sys::Reflect::delete_property(store.unchecked_ref::<js_sys::Object>(), &key);
    let fresh = web_sys::window()?.performance()?.now() < 10_000.0;
    (fresh && pending.is_instance_of::<js_sys::Promise>()).then(|| pending.unchecked_into())
}

/// One request; `Ok((status, body, retry_after))` whatever the status.
async fn call(
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, String, Option<u32>), ApiFail> {
    if method == "GET" && embed_token().is_none() {
        if let Some(p) = prefetched(path) {
            let answer = JsFuture::from(p).await.unwrap_or(JsValue::NULL);
            let text = js_sys::Reflect::get(&answer, &"text".into()).ok();
            if let Some(text) = text.and_then(|t| t.as_string()) {
                return Ok((200, text, None));
            }
        }
    }
    answer(fetch_now(method, path, body)).await
}

/// Sends one request at once (not when a future is first polled): the fetch's promise.
fn fetch_now(method: &str, path: &str, body: Option<String>) -> Result<js_sys::Promise, ApiFail> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    if let Some(b) = &body {
        init.set_body(&JsValue::from_str(b));
    }
    let req = Request::new_with_str_and_init(path, &init).map_err(|_| ApiFail::Network)?;
    let headers = req.headers();
    let _ = headers.set("Accept", "application/json");
    if body.is_some() {
        let _ = headers.set("Content-Type", "application/json");
    }
    if method != "GET" {
        // Cross-site protection: the relay wants this on cookie-authenticated writes that
        // come without an Origin; a page of another site cannot add it.
        let _ = headers.set("X-Winrelay", "1");
    }
    if let Some(t) = embed_token() {
        let _ = headers.set("X-Winrelay-Embed", &t);
    }
    let window = web_sys::window().ok_or(ApiFail::Network)?;
    Ok(window.fetch_with_request(&req))
}

/// The answer to a request [`fetch_now`] sent.
async fn answer(
    sent: Result<js_sys::Promise, ApiFail>,
) -> Result<(u16, String, Option<u32>), ApiFail> {
    let resp: Response = JsFuture::from(sent?)
        .await
        .map_err(|_| ApiFail::Network)?
        .unchecked_into();
    read(resp).await
}

/// A response's status, body and `Retry-After`.
async fn read(resp: Response) -> Result<(u16, String, Option<u32>), ApiFail> {
    let retry_after = resp
        .headers()
        .get("Retry-After")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok());
    let text = match resp.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_string()),
        Err(_) => None,
    }
    .unwrap_or_default();
    Ok((resp.status(), text, retry_after))
}

fn fail(path: &str, status: u16, text: &str, retry_after: Option<u32>) -> ApiFail {
    match crate::json::from_str::<ApiError>(text) {
        Ok(error) => ApiFail::Status {
            status,
            error,
            retry_after,
        },
        Err(_) => ApiFail::BadAnswer {
            status,
            message: format!("The relay answered {path} with HTTP {status}."),
        },
    }
}

/// A call whose answer is the body as text (2xx), or the relay's error.
pub async fn text(method: &str, path: &str, body: Option<String>) -> Result<String, ApiFail> {
    checked(path, call(method, path, body).await)
}

/// The body of a 2xx answer, or the relay's error.
fn checked(
    path: &str,
    answer: Result<(u16, String, Option<u32>), ApiFail>,
) -> Result<String, ApiFail> {
    let (status, text, retry_after) = answer?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(fail(path, status, &text, retry_after))
    }
}

async fn json<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<T, ApiFail> {
    decode(path, text(method, path, body).await)
}

/// A 2xx answer's body as `T`.
fn decode<T: DeserializeOwned>(path: &str, text: Result<String, ApiFail>) -> Result<T, ApiFail> {
    crate::json::from_str(&text?).map_err(|e| ApiFail::BadAnswer {
        status: 200,
        message: format!(
            "The relay answered {path} with something this page does not understand ({e}). \
             The page and the relay may be different versions: reload the page."
        ),
    })
}

fn body(b: &impl Serialize) -> Option<String> {
    Some(crate::json::to_string(b))
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiFail> {
    json("GET", path, None).await
}

pub async fn post<T: DeserializeOwned>(path: &str, b: &impl Serialize) -> Result<T, ApiFail> {
    json("POST", path, body(b)).await
}

/// A session being created: the answer to `POST /api/sessions`.
pub type Creating = Pin<Box<dyn Future<Output = Result<SessionInfo, ApiFail>>>>;

/// `POST /api/sessions` for a shell on `target` in a terminal of `cols` x `rows`, with typed
/// credentials (user, password) if given; sent at once: whoever starts it can do other work
/// (change the page) while it travels, and await the answer later.
pub fn create_session(
    target: &str,
    login: Option<(String, String)>,
    (cols, rows): (u16, u16),
) -> Creating {
    const PATH: &str = "/api/sessions";
    let (username, password) = login.unzip();
    let req = CreateSession {
        target: target.to_string(),
        username,
        password,
        cols: Some(cols),
        rows: Some(rows),
    };
    let sent = fetch_now("POST", PATH, body(&req));
    Box::pin(async move { decode(PATH, checked(PATH, answer(sent).await)) })
}

/// A call whose success has no body we need (`204 No Content`).
pub async fn send(method: &str, path: &str, b: Option<&Role>) -> Result<(), ApiFail> {
    let b = match b {
        Some(role) => body(&SetRole { role: *role }),
        None => Some("{}".into()),
    };
    text(method, path, b).await.map(|_| ())
}
