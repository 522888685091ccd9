//! HLS for players: the media playlist of a stream's source and its segments.
//!
//! Recently written segments are served from memory (shared by every viewer: a reader that
//! stops reading holds a reference, not a copy); older ones are streamed from disk
//! (`ServeFile`, with `Range`), so a reader that stops reading costs one buffer and a file
//! handle until the idle deadline closes it. With an object store they come from the cache
//! of recent segments, or are streamed from the store (see [`crate::storage`]); a store that
//! is down makes a segment not cached `503`, never a playlist (those come from the database).
//!
//! Reads run on the database's read-only connections ([`crate::db::Db::read`]); what they
//! give (a source playlist's text, a segment's row) is kept until the stream's
//! [`crate::db::Generation`] moves on, so between two segments most requests read nothing.
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
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::conditional;

use crate::db::{self, StoredSegment as Stored};
use crate::error::AppError;
use crate::extract::AppPath;
use crate::ids;
use crate::playlist;
use crate::state::AppState;
use crate::storage::{SegmentKey, StoreError};

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
    // Taken before any row is read: a store after it makes this render not served again.
    let generation = state.db().generation(&id);
    if let Some((text, ended)) = state.rendered_playlists().get(&id, generation) {
        return Ok(media_playlist_response(&request_headers, &key, text, ended));
    }
    let window = state.settings().window_segments;
    let shared = state.clone();
    let db_id = id.clone();
    let (built, ended) = state
        .db_read(move |c| {
            let id = db_id;
            let before = shared.prefixes().begin(&id, None);
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            if stream.ended_at_ms.is_some() {
                let text = shared.prefixes().finished(&id, None, before, || {
                    Ok(Some(playlist::render(&playlist::media_playlist(&db::segments(c, &id)?, true, window))))
                })?;
                Ok((Built::Text(text.expect("the source's playlist is always built")), true))
            } else {
                Ok((Built::Live(shared.prefixes().live_playlist(c, &id, window, before)?), false))
            }
        })
        .await?;
    // Rendered here, not on the database thread.
    let text = built.into_text();
    state.rendered_playlists().keep(id, generation, (std::sync::Arc::clone(&text), ended));
    Ok(media_playlist_response(&request_headers, &key, text, ended))
}

/// A media playlist as read from the database: text already kept, or a live one to render.
enum Built {
    Text(std::sync::Arc<[u8]>),
    Live(m3u8_rs::MediaPlaylist),
}

impl Built {
    fn into_text(self) -> std::sync::Arc<[u8]> {
        match self {
            Built::Text(text) => text,
            Built::Live(list) => playlist::render(&list).into(),
        }
    }
}

/// The response of a media playlist (source or rendition), `ended` or live.
fn media_playlist_response(request_headers: &HeaderMap, key: &str, text: std::sync::Arc<[u8]>, ended: bool) -> Response {
    // The text is shared and never changes once built (live ones are kept until the next
    // segment, see `AppState::rendered_playlists`), so its tag is hashed once per text.
    let tag = conditional::shared_etag(key, &text);
    let cache_control = if ended {
        HeaderValue::from_static(conditional::ENDED_PLAYLIST_CACHE_CONTROL)
    } else {
        let target = std::str::from_utf8(&text).ok().and_then(conditional::target_duration).unwrap_or(1);
        conditional::live_cache_control(target)
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
    let key = SegmentKey::source(&id, seq);
    let stored = stored_row(&state, &key, move |c| {
        let row = db::get_segment(c, &id, seq)?.ok_or(AppError::NotFound("segment"))?;
        let live = db::get_stream(c, &id)?.is_some_and(|s| s.ended_at_ms.is_none());
        Ok(Stored { size: row.size, sha256: row.sha256, received_at_ms: row.received_at_ms, live })
    })
    .await?;
    serve_stored(&state, key, stored, request).await
}

/// What the database says of the segment `key`: kept from an earlier request while nothing
/// was written for its stream since ([`AppState::stored_rows`]), else read by `read` (and
/// kept). A crowd of viewers fetching the same new segment costs one database read.
async fn stored_row(
    state: &AppState,
    key: &SegmentKey,
    read: impl FnOnce(&mut db::Conn<'_>) -> Result<Stored, AppError> + Send + 'static,
) -> Result<Stored, AppError> {
    // Taken before the row is read: a write after it makes the row read not served again.
    let generation = state.db().generation(&key.stream);
    if let Some(stored) = state.stored_rows().get(key, generation) {
        return Ok(stored);
    }
    let stored = state.db_read(read).await?;
    state.stored_rows().keep(key.clone(), generation, stored.clone());
    Ok(stored)
}

/// How long after its upload a live stream's segment is read whole into the cache on a miss
/// (viewers are still fetching it); older ones and VOD are streamed from the store.
pub const READ_THROUGH_MAX_AGE_MS: i64 = 120_000;

/// Serves a stored segment: for the file backend from memory when it was written lately
/// ([`crate::storage::FileStore::recent`]), else from disk with [`serve_file`]; for an object
/// store from the cache, or read whole into it (a live stream's recent segment, a bounded
/// number at once), or streamed from the store. From memory or the store, `Range` (one
/// range; several get the whole segment), `HEAD`, `If-None-Match` against the sha256 `ETag`
/// and `If-Modified-Since` against the time it was stored work; a store that is down is
/// `503` unless the segment is cached.
async fn serve_stored(state: &AppState, key: SegmentKey, stored: Stored, request: Request) -> Result<Response, AppError> {
    // Files: the recent ones from memory, like a cached object; older ones from disk.
    let recent = match state.storage().as_file() {
        Some(files) => match files.recent(&key) {
            Some(data) => Some(data),
            None => return serve_file(files.path_of(&key), request).await,
        },
        None => None,
    };
    let etag = format!("\"{}\"", hex::encode(&stored.sha256));
    let etag_value = HeaderValue::from_str(&etag).map_err(AppError::internal)?;
    let stored_secs = u64::try_from(stored.received_at_ms / 1000).unwrap_or(0);
    let mut res = Response::new(Body::empty());
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SEGMENT_CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(SEGMENT_CACHE_CONTROL));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, etag_value);
    headers.insert(header::LAST_MODIFIED, conditional::http_date(stored_secs));
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let not_modified = match if_none_match {
        Some(v) => v.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        // Without If-None-Match, If-Modified-Since (RFC 9110 13.2.2).
        None => request
            .headers()
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(conditional::parse_http_date)
            .is_some_and(|since| since >= stored_secs),
    };
    if not_modified {
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(res);
    }
    let size = stored.size;
    let range = match byte_range(request.headers().get(header::RANGE), size) {
        Want::Whole => None,
        Want::Part(r) => Some(r),
        Want::Unsatisfiable => {
            *res.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let unsatisfied = HeaderValue::from_str(&format!("bytes */{size}")).map_err(AppError::internal)?;
            res.headers_mut().insert(header::CONTENT_RANGE, unsatisfied);
            return Ok(res);
        }
    };
    let length = range.as_ref().map_or(size, |r| r.end - r.start);
    res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(r) = &range {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        let text = format!("bytes {}-{}/{size}", r.start, r.end - 1);
        res.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&text).map_err(AppError::internal)?);
    }
    if request.method() == axum::http::Method::HEAD {
        return Ok(res);
    }
    let slice = |data: axum::body::Bytes| match &range {
        Some(r) => data.slice(r.start as usize..r.end as usize),
        None => data,
    };
    // Bytes of another size than the row's cannot be this segment (a replaced object): never
    // serve them.
    let checked = |data: axum::body::Bytes| {
        if data.len() as u64 == size {
            Ok(data)
        } else {
            tracing::error!(key = %key.relative_path(), bytes = data.len(), row = size, "stored segment differs from its row");
            Err(AppError::internal("stored segment differs from its row"))
        }
    };
    let storage = state.storage();
    let mut whole = match recent {
        Some(data) => Some(checked(data)?),
        None => storage.cached(&key).map(checked).transpose()?,
    };
    if whole.is_none() && stored.live && crate::clock::now_ms() - stored.received_at_ms < READ_THROUGH_MAX_AGE_MS {
        whole = match storage.read_through(&key).await {
            Some(Ok(data)) => Some(checked(data)?),
            Some(Err(e)) => return Err(stored_missing(e, &key)),
            None => None,
        };
    }
    let body = match whole {
        Some(data) => Body::from(slice(data)),
        None => match storage.stream(&key, range).await {
            Some(Ok(stream)) => Body::from_stream(stream),
            Some(Err(e)) => return Err(stored_missing(e, &key)),
            None => return Err(AppError::internal("no segment stream from this backend")),
        },
    };
    *res.body_mut() = body;
    Ok(res)
}

/// A read of a segment that has a row failed: the store is down (`503`) or lost it (`404`,
/// logged: every row names an object the store confirmed).
fn stored_missing(e: StoreError, key: &SegmentKey) -> AppError {
    if matches!(e, StoreError::NotFound) {
        tracing::error!(key = %key.relative_path(), "a segment with a row is missing from the store");
    }
    e.into()
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

/// What a `Range` header asks of a body of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    /// No range, or one the server may ignore (malformed, several ranges).
    Whole,
    /// These bytes.
    Part(std::ops::Range<u64>),
    /// `416`.
    Unsatisfiable,
}

/// Reads one `bytes=` range (`a-b`, `a-`, `-n`).
fn byte_range(header: Option<&HeaderValue>, size: u64) -> Want {
    let Some(spec) = header.and_then(|h| h.to_str().ok()).and_then(|t| t.trim().strip_prefix("bytes=")) else {
        return Want::Whole;
    };
    let number = |t: &str| (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<u64>().ok()).flatten();
    let Some((a, b)) = spec.split_once('-').filter(|_| !spec.contains(',')) else { return Want::Whole };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return match number(b) {
            None => Want::Whole,
            Some(0) => Want::Unsatisfiable,
            Some(_) if size == 0 => Want::Unsatisfiable,
            Some(n) => Want::Part(size.saturating_sub(n)..size),
        };
    }
    let Some(start) = number(a) else { return Want::Whole };
    let end = if b.is_empty() {
        size
    } else {
        match number(b) {
            Some(last) if last >= start => last.saturating_add(1).min(size),
            _ => return Want::Whole,
        }
    };
    if start >= size {
        return Want::Unsatisfiable;
    }
    Want::Part(start..end)
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
        .db_read(move |c| {
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
    let (built, ended) = state
        .db_read(move |c| {
            let prefixes = shared.prefixes();
            let before = prefixes.begin(&id, Some(&profile));
            let stream = db::get_stream(c, &id)?.ok_or(AppError::NotFound("stream"))?;
            let ended = stream.ended_at_ms.is_some();
            let built = if ended {
                prefixes
                    .finished(&id, Some(&profile), before, || {
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
                    .map(Built::Text)
            } else {
                prefixes
                    .live_rendition_playlist(c, &id, &profile, window, crate::clock::now_ms(), before)?
                    .map(Built::Live)
            };
            Ok((built.ok_or(AppError::NotFound("rendition"))?, ended))
        })
        .await?;
    Ok(media_playlist_response(&request_headers, &key, built.into_text(), ended))
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
    let key = SegmentKey::rendition(&id, &profile, seq);
    let stored = stored_row(&state, &key, move |c| {
        let row = db::get_rendition(c, &id, &profile, seq)?.ok_or(AppError::NotFound("segment"))?;
        let live = db::get_stream(c, &id)?.is_some_and(|s| s.ended_at_ms.is_none());
        Ok(Stored { size: row.size, sha256: row.sha256, received_at_ms: row.received_at_ms, live })
    })
    .await?;
    serve_stored(&state, key, stored, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        let want = |h: &str| byte_range(Some(&HeaderValue::from_str(h).unwrap()), 100);
        assert_eq!(byte_range(None, 100), Want::Whole);
        assert_eq!(want("bytes=0-9"), Want::Part(0..10));
        assert_eq!(want("bytes=90-"), Want::Part(90..100));
        assert_eq!(want("bytes=90-500"), Want::Part(90..100));
        assert_eq!(want("bytes=-10"), Want::Part(90..100));
        assert_eq!(want("bytes=-500"), Want::Part(0..100));
        assert_eq!(want("bytes=100-"), Want::Unsatisfiable);
        assert_eq!(want("bytes=-0"), Want::Unsatisfiable);
        for ignored in ["bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=+1-2", "bytes=-", "bytes=a-b", "bytes=1"] {
            assert_eq!(want(ignored), Want::Whole, "{ignored}");
        }
        assert_eq!(byte_range(Some(&HeaderValue::from_static("bytes=-5")), 0), Want::Unsatisfiable);
    }
}
