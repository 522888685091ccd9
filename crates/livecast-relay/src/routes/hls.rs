//! HLS for players: the media playlist of a stream's source and its segments.
//!
//! Playlists change every segment: `Cache-Control: max-age=1`. A stored segment never
//! changes (a different upload for the same `seq` is refused), so segments are `immutable`.
//! Only acknowledged segments (those with a database row) are served.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::db;
use crate::error::AppError;
use crate::extract::AppPath;
use crate::ids;
use crate::playlist;
use crate::state::AppState;

/// Content type of HLS playlists.
pub const PLAYLIST_CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";
/// Content type of MPEG-TS segments.
pub const SEGMENT_CONTENT_TYPE: &str = "video/mp2t";
/// Cache policy of playlists.
pub const PLAYLIST_CACHE_CONTROL: &str = "max-age=1";
/// Cache policy of segments.
pub const SEGMENT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// `GET /hls/{id}/index.m3u8`: a sliding window while live, everything once ended.
pub async fn playlist(State(state): State<AppState>, AppPath(id): AppPath<String>) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let (stream, segments) = state
        .db()
        .call(move |c| {
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            Ok((stream, db::segments(c, &id)?))
        })
        .await?;
    let ended = stream.ended_at_ms.is_some();
    let text = playlist::render(&playlist::media_playlist(&segments, ended, state.settings().window_segments));
    let headers = [(header::CONTENT_TYPE, PLAYLIST_CONTENT_TYPE), (header::CACHE_CONTROL, PLAYLIST_CACHE_CONTROL)];
    Ok((headers, text).into_response())
}

/// `GET /hls/{id}/{seq}.ts`: a stored segment, byte for byte as uploaded.
pub async fn segment(
    State(state): State<AppState>,
    AppPath((id, file)): AppPath<(String, String)>,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let seq = ids::segment_file(&file)?;
    let row_id = id.clone();
    state
        .db()
        .call(move |c| db::get_segment(c, &row_id, seq)?.ok_or(AppError::NotFound("segment")))
        .await?;
    let storage = state.storage().clone();
    let data = tokio::task::spawn_blocking(move || storage.read_segment(&id, seq)).await??;
    let headers = [(header::CONTENT_TYPE, SEGMENT_CONTENT_TYPE), (header::CACHE_CONTROL, SEGMENT_CACHE_CONTROL)];
    Ok((headers, data).into_response())
}
