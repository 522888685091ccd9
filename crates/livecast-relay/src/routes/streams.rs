//! The stream API: create a stream (admin or `--open`), read its state, end it (stream key).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::db::{self, StreamRow};
use crate::error::AppError;
use crate::extract::{optional_json, AppPath};
use crate::routes::auth::{require_admin, require_stream_key};
use crate::routes::body::read_limited;
use crate::clock::now_ms;
use crate::state::AppState;
use crate::{ids, keys};

/// Largest accepted `POST /api/streams` body.
const MAX_JSON_BYTES: u64 = 16 * 1024;
/// Longest accepted stream name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// `POST /api/streams` body; every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateStream {
    /// Display name.
    pub name: Option<String>,
}

/// `POST /api/streams` answer. The key is shown only here, once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedStream {
    /// Stream id.
    pub id: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// The secret for uploading and ending: `Authorization: Bearer {streamKey}`.
    pub stream_key: String,
    /// Where players get the HLS playlist.
    pub playback_url: String,
    /// Where the broadcaster uploads: `PUT {ingestUrl}{seq}.ts`.
    pub ingest_url: String,
}

/// `GET /api/streams/{id}` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStatus {
    /// Stream id.
    pub id: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Whether the stream has ended.
    pub ended: bool,
    /// When it ended, ms since the Unix epoch.
    pub ended_at_ms: Option<i64>,
    /// Number of stored segments.
    pub segments: usize,
    /// Total duration of the stored segments, in seconds.
    pub duration_secs: f64,
    /// Lowest stored segment number.
    pub first_seq: Option<u32>,
    /// Highest stored segment number.
    pub last_seq: Option<u32>,
    /// Where a broadcaster resuming this stream should go on: `lastSeq + 1`, or 0.
    pub next_seq: u32,
    /// Where players get the HLS playlist.
    pub playback_url: String,
}

/// Creates a stream: `201` with its id, its key (once) and its URLs.
///
/// In `--open` mode each client address may create `--open-creates-per-minute` streams a
/// minute (`429` with `Retry-After` beyond); a request with the admin token is not limited.
pub async fn create(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    require_admin(&state, &headers)?;
    let admin = state.settings().admin_token_hash.as_ref().is_some_and(|hash| {
        crate::keys::bearer_token(&headers).is_some_and(|token| crate::keys::secret_matches(token, hash))
    });
    if let (true, false, Some(peer)) = (state.settings().open, admin, peer) {
        if !state.may_create(peer.0 .0.ip()) {
            return Err(AppError::RateLimited { per_minute: state.settings().open_creates_per_minute });
        }
    }
    let body = read_limited(&headers, body, MAX_JSON_BYTES, state.settings().min_upload_rate).await?;
    let req: CreateStream = optional_json(&body)?;
    let name = match req.name.as_deref().map(str::trim) {
        Some(n) if n.chars().count() > MAX_NAME_CHARS => {
            return Err(AppError::InvalidField { field: "name", reason: format!("longer than {MAX_NAME_CHARS} characters") })
        }
        Some(n) if n.chars().any(char::is_control) => {
            return Err(AppError::InvalidField { field: "name", reason: "contains control characters".into() })
        }
        Some("") | None => None,
        Some(n) => Some(n.to_owned()),
    };
    let key = keys::new_stream_key();
    let row = StreamRow {
        id: keys::new_stream_id(),
        name,
        key_hash: keys::hash_secret(&key).to_vec(),
        created_at_ms: now_ms(),
        ended_at_ms: None,
    };
    let stored = row.clone();
    state.db_call(move |c| Ok(db::insert_stream(c, &stored)?)).await?;
    tracing::info!(stream = %row.id, name = ?row.name, "stream created");
    let created = CreatedStream {
        playback_url: state.url(&format!("/hls/{}/index.m3u8", row.id)),
        ingest_url: state.url(&format!("/live/{}/", row.id)),
        id: row.id.clone(),
        name: row.name,
        stream_key: key,
    };
    let headers = [
        (header::LOCATION, format!("/api/streams/{}", row.id)),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((StatusCode::CREATED, headers, Json(created)).into_response())
}

/// The state of a stream (public: no secrets in it).
pub async fn status(State(state): State<AppState>, AppPath(id): AppPath<String>) -> Result<Json<StreamStatus>, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    // A read connection (one snapshot for both reads): status polls never wait for writes.
    let (stream, summary) = state
        .db_read(move |c| {
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            let summary = db::segment_summary(c, &id)?;
            Ok((stream, summary))
        })
        .await?;
    Ok(Json(stream_status(&state, stream, &summary)))
}

/// Ends a stream (stream key required): no more uploads, the playlist gets `EXT-X-ENDLIST`.
/// Ending an ended stream changes nothing.
pub async fn end(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> Result<Json<StreamStatus>, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    require_stream_key(&state, &id, &headers).await?;
    let lock = state.stream_lock(&id);
    let _guard = lock.lock().await;
    let (stream, segments, changed) = state
        .db_call(move |c| {
            let changed = db::end_stream(c, &id, now_ms())?;
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            Ok((stream, db::segment_summary(c, &id)?, changed))
        })
        .await?;
    if changed {
        tracing::info!(stream = %stream.id, segments = segments.count, "stream ended");
    }
    Ok(Json(stream_status(&state, stream, &segments)))
}

fn stream_status(state: &AppState, s: StreamRow, segments: &db::SegmentSummary) -> StreamStatus {
    StreamStatus {
        playback_url: state.url(&format!("/hls/{}/index.m3u8", s.id)),
        id: s.id,
        name: s.name,
        created_at_ms: s.created_at_ms,
        ended: s.ended_at_ms.is_some(),
        ended_at_ms: s.ended_at_ms,
        segments: segments.count,
        duration_secs: (segments.duration_secs * 1000.0).round() / 1000.0,
        first_seq: segments.first_seq,
        last_seq: segments.last_seq,
        next_seq: segments.last_seq.map_or(0, |s| s + 1),
    }
}
