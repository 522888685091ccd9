//! HLS for players: the media playlist of a stream's source and its segments.
//!
//! Segments are streamed from disk (`ServeFile`, with `Range`), so a reader that stops
//! reading costs one buffer and a file handle until the idle deadline closes it.
//!
//! Playlists change every segment: a live one is cached a second by players and half a
//! target duration by edges, an ended one a day; each has a strong `ETag` and a
//! `Last-Modified`, and a conditional `GET` of an unchanged one answers `304`
//! ([`super::conditional`]). A stored segment never changes (a different upload for the same
//! `seq` is refused), so segments are `immutable`. Only acknowledged segments (those with a
//! database row) are served.
//!
//! With transcoders: `master.m3u8` lists the source and each rendition that has segments;
//! `{profile}/index.m3u8` and `{profile}/{seq}.ts` serve a rendition (see
//! [`crate::playlist`] for the rules, gaps included).

use axum::body::Body;
use axum::extract::{Request, State};
use tower::ServiceExt;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

use super::conditional;

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
/// Cache policy of live playlists for players (edges: [`conditional::live_cache_control`]),
/// and of a live master playlist for both.
pub const PLAYLIST_CACHE_CONTROL: &str = "max-age=1";
/// Cache policy of segments.
pub const SEGMENT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// `GET /hls/{id}/index.m3u8`: a sliding window while live, everything once ended.
///
/// While live it costs O(window): the rows before the window are summed once per stream and
/// extended as it slides. Once ended the VOD playlist is built once and kept
/// ([`crate::window`]).
pub async fn playlist(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    request_headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let key = format!("{id}/index.m3u8");
    let window = state.settings().window_segments;
    let shared = state.clone();
    let (text, ended) = state
        .db()
        .call(move |c| {
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            if stream.ended_at_ms.is_some() {
                let text = shared.prefixes().finished(&id, None, || {
                    Ok(Some(playlist::render(&playlist::media_playlist(&db::segments(c, &id)?, true, window))))
                })?;
                Ok((text.expect("the source's playlist is always built"), true))
            } else {
                Ok((playlist::render(&shared.prefixes().live_playlist(c, &id, window)?).into(), false))
            }
        })
        .await?;
    Ok(media_playlist_response(&request_headers, &key, text, ended))
}

/// The response of a media playlist (source or rendition), `ended` or live.
fn media_playlist_response(request_headers: &HeaderMap, key: &str, text: std::sync::Arc<[u8]>, ended: bool) -> Response {
    let (tag, cache_control) = if ended {
        (conditional::shared_etag(key, &text), HeaderValue::from_static(conditional::ENDED_PLAYLIST_CACHE_CONTROL))
    } else {
        let target = std::str::from_utf8(&text).ok().and_then(conditional::target_duration).unwrap_or(1);
        (conditional::etag(&text), conditional::live_cache_control(target))
    };
    conditional::playlist_response(request_headers, key, axum::body::Bytes::from_owner(text), tag, cache_control)
}

/// `GET /hls/{id}/{seq}.ts`: a stored segment, byte for byte as uploaded.
pub async fn segment(
    State(state): State<AppState>,
    AppPath((id, file)): AppPath<(String, String)>,
    request: Request,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let seq = ids::segment_file(&file)?;
    let row_id = id.clone();
    state
        .db()
        .call(move |c| db::get_segment(c, &row_id, seq)?.ok_or(AppError::NotFound("segment")))
        .await?;
    serve_file(state.storage().segment_path(&id, seq), request).await
}

/// Streams a stored segment file from disk with tower-http's `ServeFile`: `Range`,
/// `If-Modified-Since` and `HEAD` work, and a slow reader holds a file handle and one
/// buffer, never the whole file.
async fn serve_file(path: std::path::PathBuf, request: Request) -> Result<Response, AppError> {
    let mime: mime::Mime = SEGMENT_CONTENT_TYPE.parse().map_err(AppError::internal)?;
    let mut res = tower_http::services::ServeFile::new_with_mime(path, &mime)
        .oneshot(request)
        .await
        .map_err(AppError::internal)?
        .map(Body::new);
    if res.status() == axum::http::StatusCode::NOT_FOUND {
        // The row exists but the file does not: recovery drops such rows at start-up.
        return Err(AppError::NotFound("segment"));
    }
    res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static(SEGMENT_CACHE_CONTROL));
    Ok(res)
}

/// `GET /hls/{id}/master.m3u8`: the source and every rendition that has segments, with
/// measured peak and average bandwidth (audio included), resolution, frame rate and the
/// codec strings of the SPS and of the AAC audio when there is some.
///
/// It reads one row per variant: the running totals kept at insert time (`variant_stats`)
/// and each variant's latest segment, never every segment.
pub async fn master(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    request_headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let db_id = id.clone();
    let (source_stats, last_seq, renditions, ended) = state
        .db()
        .call(move |c| {
            let stream = db::get_stream(c, &db_id)?.ok_or(AppError::NotFound("stream"))?;
            let stats = db::variant_stats(c, &db_id, "")?.unwrap_or_default();
            let last_seq = db::segment_summary(c, &db_id)?.last_seq;
            Ok((stats, last_seq, db::rendition_variants(c, &db_id)?, stream.ended_at_ms.is_some()))
        })
        .await?;
    let mut source = playlist::Variant::from_stats("index.m3u8".into(), &source_stats);
    if let Some(last) = last_seq {
        if let Some(probe) = state.source_probe(&id, last).await? {
            source.resolution = Some(probe.resolution);
            source.codecs = Some(probe.codecs);
        }
    }
    let mut ladder: Vec<playlist::Variant> = Vec::new();
    for (stats, last) in &renditions {
        let mut v = playlist::Variant::from_stats(format!("{}/index.m3u8", last.profile), stats);
        v.resolution = Some((last.width, last.height));
        v.codecs = Some(last.codecs.clone());
        ladder.push(v);
    }
    ladder.sort_by_key(|v| std::cmp::Reverse(v.peak_bps));
    let variants: Vec<_> = std::iter::once(source).chain(ladder).collect();
    let text = playlist::render_master(&playlist::master_playlist(&variants));
    // Live, a rendition may appear any segment: a second, for players and edges alike.
    let cache_control = if ended { conditional::ENDED_PLAYLIST_CACHE_CONTROL } else { PLAYLIST_CACHE_CONTROL };
    let key = format!("{id}/master.m3u8");
    let tag = conditional::etag(&text);
    Ok(conditional::playlist_response(&request_headers, &key, text.into(), tag, HeaderValue::from_static(cache_control)))
}

/// `GET /hls/{id}/{profile}/index.m3u8`: one rendition, windowed like the source, in
/// O(window) rows while live; once ended built once and kept ([`crate::window`]).
pub async fn rendition_playlist(
    State(state): State<AppState>,
    AppPath((id, profile)): AppPath<(String, String)>,
    request_headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let profile = ids::profile(&profile)?.to_owned();
    let key = format!("{id}/{profile}/index.m3u8");
    let window = state.settings().window_segments;
    let shared = state.clone();
    let (text, ended) = state
        .db()
        .call(move |c| {
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            let prefixes = shared.prefixes();
            let ended = stream.ended_at_ms.is_some();
            let text = if ended {
                prefixes.finished(&id, Some(&profile), || {
                    if db::latest_rendition(c, &id, &profile)?.is_none() {
                        return Ok(None);
                    }
                    let mut slots = Vec::new();
                    db::scan_segments(c, &id, Some(&profile), None, |slot| {
                        slots.push(slot);
                        true
                    })?;
                    let (segments, gaps): (Vec<_>, Vec<_>) = slots.into_iter().map(|s| (s.segment, !s.present)).unzip();
                    let target = playlist::target_duration(&segments);
                    Ok(Some(playlist::render(&playlist::build(&segments, &gaps, target, true, window))))
                })?
            } else {
                prefixes
                    .live_rendition_playlist(c, &id, &profile, window, crate::state::now_ms())?
                    .map(|list| playlist::render(&list).into())
            };
            Ok((text.ok_or(AppError::NotFound("rendition"))?, ended))
        })
        .await?;
    Ok(media_playlist_response(&request_headers, &key, text, ended))
}

/// `GET /hls/{id}/{profile}/{seq}.ts`: a stored rendition segment.
pub async fn rendition_segment(
    State(state): State<AppState>,
    AppPath((id, profile, file)): AppPath<(String, String, String)>,
    request: Request,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let profile = ids::profile(&profile)?.to_owned();
    let seq = ids::segment_file(&file)?;
    let (row_id, row_profile) = (id.clone(), profile.clone());
    state
        .db()
        .call(move |c| db::get_rendition(c, &row_id, &row_profile, seq)?.ok_or(AppError::NotFound("segment")))
        .await?;
    serve_file(state.storage().rendition_path(&id, &profile, seq), request).await
}
