//! API failures: a status, a [`FailureCode`] and a message, as the JSON body every failed
//! call answers with.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use winrelay_shared::api::{ApiError, FailureCode};

use crate::session::remote::ShellError;

/// An API failure.
#[derive(Debug)]
pub struct Failure {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ApiError,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

impl Failure {
    /// A failure with `status`, `code` and a message for a person.
    pub fn new(status: StatusCode, code: FailureCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            body: ApiError::new(code, message),
            retry_after: None,
        }
    }

    /// No credential was presented.
    pub fn not_signed_in() -> Failure {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            FailureCode::NotSignedIn,
            "sign in first (the relay printed a login link when it started)",
        )
    }

    /// No such session, or not the caller's: the two look the same on purpose.
    pub fn no_session() -> Failure {
        Failure::new(
            StatusCode::NOT_FOUND,
            FailureCode::UnknownSession,
            "no such session, or it is not yours: it may have ended",
        )
    }

    /// The caller's share link was revoked or has expired.
    pub fn share_ended() -> Failure {
        Failure::new(
            StatusCode::GONE,
            FailureCode::ShareEnded,
            "this share link was revoked or has expired: ask the session's owner for a new one",
        )
    }

    /// The remote shell could not be opened.
    pub fn from_shell(e: ShellError) -> Failure {
        Failure {
            status: StatusCode::BAD_GATEWAY,
            body: ApiError {
                error: e.code,
                message: e.message,
                fingerprints: e.fingerprints,
            },
            retry_after: None,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                secs.to_string().parse().expect("digits"),
            );
        }
        resp
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, Failure>;
