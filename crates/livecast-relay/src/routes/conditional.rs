//! HTTP caching of playlists for players and for edge caches (CDN, the nginx edge in
//! `deploy/nginx/`): validators, conditional `GET`, and the `Cache-Control` of each kind of
//! HLS response.
//!
//! - Every playlist carries a strong `ETag` (a hash of its body) and a `Last-Modified` (the
//!   first time this relay process served that body). `If-None-Match` that matches answers
//!   `304 Not Modified` with no body; without `If-None-Match`, `If-Modified-Since` does.
//!   An edge with `proxy_cache_revalidate on` revalidates an expired playlist with both, so
//!   a playlist that did not change costs the origin a `304` of a few hundred bytes.
//! - A live playlist: `max-age=1` for players, and for shared caches `s-maxage` of half the
//!   playlist's `EXT-X-TARGETDURATION` (HLS's advice for playlist caching) when that is
//!   longer than a second: nginx takes `s-maxage` over `max-age`, and either over its own
//!   `proxy_cache_valid`. See [`live_cache_control`].
//! - An ended (VOD) playlist does not change any more: [`ENDED_PLAYLIST_CACHE_CONTROL`].
//! - An error (a playlist or segment not uploaded yet, a bad path, a failure): a `404` is
//!   cacheable for one second at most and every other error not at all
//!   ([`error_cache_policy`]), so an edge never pins a miss.
//!
//! `Last-Modified` is remembered per playlist in this process (`Seen`), not stored: after
//! a restart it starts again at the restart's time, which is later than the true change and
//! so only costs a full answer to an `If-Modified-Since`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::hls::PLAYLIST_CONTENT_TYPE;

/// `Cache-Control` of a playlist (media or master) of a stream that has ended: it will not
/// change again, so players and edges keep it a day (not `immutable`: an operator who
/// removes a stream should not have to wait a year for edges to forget it).
pub const ENDED_PLAYLIST_CACHE_CONTROL: &str = "public, max-age=86400";

/// `Cache-Control` of a `404` (a playlist or segment not uploaded yet): one second at most,
/// so that an edge absorbs a burst of misses without pinning one.
pub const NOT_FOUND_CACHE_CONTROL: &str = "max-age=1";

/// `Cache-Control` of every other error: never stored.
pub const ERROR_CACHE_CONTROL: &str = "no-store";

/// The `Cache-Control` of a live media playlist whose `EXT-X-TARGETDURATION` is
/// `target_secs`: players keep it one second (`max-age=1`, as before edges), shared caches
/// half the target duration, rounded down, at least one second (`s-maxage`, only written
/// when it differs from `max-age`).
pub fn live_cache_control(target_secs: u64) -> HeaderValue {
    let shared = (target_secs / 2).max(1);
    if shared == 1 {
        HeaderValue::from_static("max-age=1")
    } else {
        HeaderValue::from_str(&format!("max-age=1, s-maxage={shared}")).expect("ASCII")
    }
}

/// The `EXT-X-TARGETDURATION` of a rendered media playlist, if it has one.
pub fn target_duration(playlist: &str) -> Option<u64> {
    playlist
        .lines()
        .take(16)
        .find_map(|line| line.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The strong `ETag` of a body: 128 bits of its SHA-256, quoted.
pub fn etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16]))).expect("hex is ASCII")
}

/// The [`etag`] of a body that never changes once built (an ended stream's playlist, kept
/// shared by [`crate::window`]): hashed once per `key` and reused while the same allocation
/// is served, so a long VOD playlist is not hashed on every request. The memo holds a
/// reference to the body, so its address cannot be reused for another one meanwhile.
pub fn shared_etag(key: &str, body: &Arc<[u8]>) -> HeaderValue {
    /// Per playlist: the body last hashed (held) and its tag.
    type Memo = Mutex<HashMap<String, (Arc<[u8]>, HeaderValue)>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some((held, tag)) = memo.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
        if Arc::ptr_eq(held, body) {
            return tag.clone();
        }
    }
    let tag = etag(body);
    let mut map = memo.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= MAX_REMEMBERED {
        map.clear();
    }
    map.insert(key.to_owned(), (Arc::clone(body), tag.clone()));
    tag
}

/// An HTTP-date (`Thu, 03 Dec 2026 15:20:48 GMT`) for whole seconds since the Unix epoch.
pub fn http_date(secs: u64) -> HeaderValue {
    let when = chrono::DateTime::<chrono::Utc>::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        .unwrap_or_default();
    HeaderValue::from_str(&when.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).expect("ASCII")
}

/// Seconds since the Unix epoch of an HTTP-date (IMF-fixdate, the form every current client
/// sends; the obsolete forms read as no date).
pub fn parse_http_date(value: &str) -> Option<u64> {
    let when = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    u64::try_from(when.timestamp()).ok()
}

/// Whether an `If-None-Match` value matches `etag` (`*`, or one of a comma-separated list of
/// entity tags, compared weakly as RFC 9110 asks for `If-None-Match`).
pub fn none_match_hits(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(etag);
    if_none_match.trim() == "*" || if_none_match.split(',').any(|tag| opaque(tag) == ours)
}

/// What this process remembers of one playlist: the hash of the body it last served and when
/// that body was first served.
#[derive(Debug, Clone)]
struct Seen {
    etag: HeaderValue,
    modified_secs: u64,
    /// The body before this one was first served in the same second: `Last-Modified` cannot
    /// tell them apart, so `If-Modified-Since` alone never answers `304`.
    same_second_as_previous: bool,
    used: Instant,
}

/// Playlists remembered at most; beyond that the ones not served for a minute are forgotten
/// (and if all were served, all are: forgetting only makes `Last-Modified` later).
const MAX_REMEMBERED: usize = 8192;

fn remembered() -> &'static Mutex<HashMap<String, Seen>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Seen>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// The `Last-Modified` (whole seconds) of the playlist `key` whose body has `etag` now, and
/// whether `If-Modified-Since` may be trusted for it.
fn last_modified(key: &str, etag: &HeaderValue, now_secs: u64) -> (u64, bool) {
    let mut map = remembered().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    if let Some(seen) = map.get_mut(key) {
        seen.used = now;
        if seen.etag != etag {
            seen.same_second_as_previous = seen.modified_secs >= now_secs;
            seen.etag = etag.clone();
            seen.modified_secs = now_secs.max(seen.modified_secs);
        }
        return (seen.modified_secs, !seen.same_second_as_previous);
    }
    if map.len() >= MAX_REMEMBERED {
        map.retain(|_, seen| now.duration_since(seen.used) < Duration::from_secs(60));
        if map.len() >= MAX_REMEMBERED {
            map.clear();
        }
    }
    let seen = Seen { etag: etag.clone(), modified_secs: now_secs, same_second_as_previous: false, used: now };
    map.insert(key.to_owned(), seen);
    (now_secs, true)
}

/// A playlist response for a request with `request_headers`: `200` with the body, or `304`
/// with none when the client's copy is current; both with `ETag` (`tag`, the body's
/// [`etag`]), `Last-Modified` and `cache_control`. `key` names the playlist (stream,
/// variant) for its `Last-Modified`.
pub fn playlist_response(
    request_headers: &HeaderMap,
    key: &str,
    body: Bytes,
    tag: HeaderValue,
    cache_control: HeaderValue,
) -> Response {
    let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (modified, dates_reliable) = last_modified(key, &tag, now_secs);
    let not_modified = match request_headers.get(header::IF_NONE_MATCH) {
        Some(inm) => inm.to_str().is_ok_and(|inm| none_match_hits(inm, tag.to_str().unwrap_or(""))),
        None => {
            dates_reliable
                && request_headers
                    .get(header::IF_MODIFIED_SINCE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_http_date)
                    .is_some_and(|since| modified <= since)
        }
    };
    let headers = [(header::ETAG, tag), (header::LAST_MODIFIED, http_date(modified)), (header::CACHE_CONTROL, cache_control)];
    if not_modified {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(PLAYLIST_CONTENT_TYPE))];
        (headers, content_type, Body::from(body)).into_response()
    }
}

/// Middleware (`map_response`): an error response that set no `Cache-Control` gets one, so
/// that no cache keeps a miss or a failure: `404` [`NOT_FOUND_CACHE_CONTROL`], other errors
/// [`ERROR_CACHE_CONTROL`].
pub async fn error_cache_policy(mut res: Response) -> Response {
    let status = res.status();
    if (status.is_client_error() || status.is_server_error()) && !res.headers().contains_key(header::CACHE_CONTROL) {
        let policy = if status == StatusCode::NOT_FOUND { NOT_FOUND_CACHE_CONTROL } else { ERROR_CACHE_CONTROL };
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    res
}
