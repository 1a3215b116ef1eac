//! Recordings: listed and downloaded by the owners of their target.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use winrelay_shared::api::{FailureCode, RecordingInfo};
use winrelay_shared::protocol::Role;

use super::caller::Caller;
use super::error::{ApiResult, Failure};
use super::AppState;

/// `GET /api/recordings`: recordings of targets the caller owns.
pub async fn list_recordings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<RecordingInfo>>> {
    let who = caller.require()?;
    let Some(recs) = &state.recordings else {
        return Ok(Json(Vec::new()));
    };
    Ok(Json(
        recs.list()
            .into_iter()
            .filter(|r| state.targets().role_of(&r.target, who) == Some(Role::Owner))
            .collect(),
    ))
}

/// `GET /api/recordings/{id}`: the asciicast file, for owners of its target.
pub async fn get_recording(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let who = caller.require()?;
    let unknown = || {
        Failure::new(
            StatusCode::NOT_FOUND,
            FailureCode::UnknownRecording,
            "no such recording, or not yours to see",
        )
    };
    let recs = state.recordings.as_ref().ok_or_else(unknown)?;
    let (info, path) = recs.get(&id).ok_or_else(unknown)?;
    if state.targets().role_of(&info.target, who) != Some(Role::Owner) {
        return Err(unknown());
    }
    let data = tokio::fs::read(&path).await.map_err(|_| unknown())?;
    state.audit.log(
        "recording_downloaded",
        json!({"user": who.user, "recording": id, "target": info.target}),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-asciicast".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.cast\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        data,
    )
        .into_response())
}
