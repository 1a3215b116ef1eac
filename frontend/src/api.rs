//! Calls to the relay's HTTP API (same origin as the page; the session cookie rides along).

use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCredentials, RequestInit, Response};
use winrelay_shared::protocol::api::ApiError;

/// `GET /api/me`.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub user: String,
}

/// Why an API call failed, in words a person can act on.
#[derive(Debug, Clone)]
pub enum ApiFail {
    /// The relay could not be reached at all.
    Network,
    /// The relay answered with an error status.
    Status { status: u16, error: ApiError },
}

impl ApiFail {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiFail::Network => None,
            ApiFail::Status { status, .. } => Some(*status),
        }
    }

    /// The relay's machine-readable code (`wrong_credentials`, ...).
    pub fn code(&self) -> &str {
        match self {
            ApiFail::Network => "network",
            ApiFail::Status { error, .. } => &error.error,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiFail::Network => "The relay cannot be reached: it may be stopped or restarting, or \
                                 the network is down. Retry in a moment."
                .into(),
            ApiFail::Status { status: 401, .. } => "You are not signed in. Open the sign-in link \
                 that `winrelay serve` printed (the line starting with `open:`), or sign in \
                 through your organisation's portal."
                .into(),
            ApiFail::Status { error, .. } => error.message.clone(),
        }
    }
}

async fn call(method: &str, path: &str, body: Option<String>) -> Result<(u16, String), ApiFail> {
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
    let window = web_sys::window().ok_or(ApiFail::Network)?;
    let resp: Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|_| ApiFail::Network)?
        .unchecked_into();
    let text = match resp.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_string()),
        Err(_) => None,
    }
    .unwrap_or_default();
    Ok((resp.status(), text))
}

async fn json<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<T, ApiFail> {
    let (status, text) = call(method, path, body).await?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|e| ApiFail::Status {
            status,
            error: ApiError {
                error: "bad_response".into(),
                message: format!(
                    "The relay answered {path} with something this page does not understand ({e}). \
                     The page and the relay may be different versions: reload the page."
                ),
            },
        });
    }
    let error = serde_json::from_str::<ApiError>(&text).unwrap_or_else(|_| ApiError {
        error: "http_error".into(),
        message: format!("The relay answered {path} with HTTP {status}."),
    });
    Err(ApiFail::Status { status, error })
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiFail> {
    json("GET", path, None).await
}

pub async fn post<T: DeserializeOwned>(
    path: &str,
    body: &impl serde::Serialize,
) -> Result<T, ApiFail> {
    json(
        "POST",
        path,
        Some(serde_json::to_string(body).expect("request bodies serialize")),
    )
    .await
}

/// A call whose success has no body (`204 No Content`).
pub async fn post_empty(path: &str, body: &impl serde::Serialize) -> Result<(), ApiFail> {
    let body = serde_json::to_string(body).expect("request bodies serialize");
    let (status, text) = call("POST", path, Some(body)).await?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let error = serde_json::from_str::<ApiError>(&text).unwrap_or_else(|_| ApiError {
        error: "http_error".into(),
        message: format!("The relay answered {path} with HTTP {status}."),
    });
    Err(ApiFail::Status { status, error })
}

/// `POST /api/sessions/{id}/shares` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Share {
    /// Path of the link, with its token (`/s/ID?share=T`).
    pub path: Option<String>,
    pub expires_in_secs: u64,
}
