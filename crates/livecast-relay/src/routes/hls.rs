//! HLS for players: the media playlist of a stream's source and its segments.
//!
//! Playlists change every segment: `Cache-Control: max-age=1`. A stored segment never
//! changes (a different upload for the same `seq` is refused), so segments are `immutable`.
//! Only acknowledged segments (those with a database row) are served.
//!
//! With transcoders: `master.m3u8` lists the source and each rendition that has segments;
//! `{profile}/index.m3u8` and `{profile}/{seq}.ts` serve a rendition (see
//! [`crate::playlist`] for the rules, gaps included).

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

/// `GET /hls/{id}/master.m3u8`: the source and every rendition that has segments, with
/// measured peak and average bandwidth, resolution, frame rate and the SPS's codec string.
pub async fn master(State(state): State<AppState>, AppPath(id): AppPath<String>) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let db_id = id.clone();
    let (segments, renditions) = state
        .db()
        .call(move |c| {
            db::get_stream(c, &db_id)?.ok_or(AppError::NotFound("stream"))?;
            Ok((db::segments(c, &db_id)?, db::renditions(c, &db_id)?))
        })
        .await?;
    let mut source = playlist::Variant::measure(
        "index.m3u8".into(),
        segments.iter().map(|s| (s.size, s.duration_secs, s.video_frames)),
    );
    if let Some(last) = segments.last() {
        let storage = state.storage().clone();
        let seq = last.seq;
        let sps = tokio::task::spawn_blocking(move || {
            storage.read_segment(&id, seq).ok().and_then(|data| livecast_core::sps::segment_sps(&data).ok())
        })
        .await?;
        if let Some(sps) = sps {
            source.resolution = Some((sps.width, sps.height));
            source.codecs = Some(sps.codecs());
        }
    }
    let mut ladder: Vec<playlist::Variant> = Vec::new();
    for group in renditions.chunk_by(|a, b| a.profile == b.profile) {
        let last = &group[group.len() - 1];
        let mut v = playlist::Variant::measure(
            format!("{}/index.m3u8", last.profile),
            group.iter().map(|r| (r.size, r.duration_secs, r.video_frames)),
        );
        v.resolution = Some((last.width, last.height));
        v.codecs = Some(last.codecs.clone());
        ladder.push(v);
    }
    ladder.sort_by_key(|v| std::cmp::Reverse(v.peak_bps));
    let variants: Vec<_> = std::iter::once(source).chain(ladder).collect();
    let text = playlist::render_master(&playlist::master_playlist(&variants));
    let headers = [(header::CONTENT_TYPE, PLAYLIST_CONTENT_TYPE), (header::CACHE_CONTROL, PLAYLIST_CACHE_CONTROL)];
    Ok((headers, text).into_response())
}

/// `GET /hls/{id}/{profile}/index.m3u8`: one rendition, windowed like the source.
pub async fn rendition_playlist(
    State(state): State<AppState>,
    AppPath((id, profile)): AppPath<(String, String)>,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let profile = ids::profile(&profile)?.to_owned();
    let (stream, segments, renditions, gaps) = state
        .db()
        .call(move |c| {
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            let renditions: Vec<_> = db::renditions(c, &id)?.into_iter().filter(|r| r.profile == profile).collect();
            if renditions.is_empty() {
                return Err(AppError::NotFound("rendition"));
            }
            Ok((stream, db::segments(c, &id)?, renditions, db::gaps(c, &id)?))
        })
        .await?;
    let ended = stream.ended_at_ms.is_some();
    let window = state.settings().window_segments;
    let list = playlist::rendition_playlist(&segments, &renditions, &gaps, ended, window, crate::state::now_ms());
    let headers = [(header::CONTENT_TYPE, PLAYLIST_CONTENT_TYPE), (header::CACHE_CONTROL, PLAYLIST_CACHE_CONTROL)];
    Ok((headers, playlist::render(&list)).into_response())
}

/// `GET /hls/{id}/{profile}/{seq}.ts`: a stored rendition segment.
pub async fn rendition_segment(
    State(state): State<AppState>,
    AppPath((id, profile, file)): AppPath<(String, String, String)>,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let profile = ids::profile(&profile)?.to_owned();
    let seq = ids::segment_file(&file)?;
    let (row_id, row_profile) = (id.clone(), profile.clone());
    state
        .db()
        .call(move |c| db::get_rendition(c, &row_id, &row_profile, seq)?.ok_or(AppError::NotFound("segment")))
        .await?;
    let storage = state.storage().clone();
    let data = tokio::task::spawn_blocking(move || storage.read_rendition(&id, &profile, seq)).await??;
    let headers = [(header::CONTENT_TYPE, SEGMENT_CONTENT_TYPE), (header::CACHE_CONTROL, SEGMENT_CACHE_CONTROL)];
    Ok((headers, data).into_response())
}
