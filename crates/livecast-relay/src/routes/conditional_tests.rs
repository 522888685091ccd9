//! Caching headers of HLS responses and conditional `GET` ([`super::conditional`]), through
//! [`super::app`] with `oneshot` on a temporary data directory.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::app;
use super::conditional::{
    self, etag, http_date, live_cache_control, none_match_hits, parse_http_date, shared_etag, target_duration,
};
use crate::config::Settings;
use crate::state::AppState;
use crate::test_media;

struct Relay {
    app: Router,
    state: AppState,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

fn relay() -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_tests(dir.path().join("data"));
    settings.window_segments = 3;
    let (state, _) = AppState::open(settings).unwrap();
    Relay { app: app(state.clone()), state, _dir: dir }
}

impl Relay {
    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        Reply { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
    }

    async fn get(&self, uri: &str, headers: &[(header::HeaderName, &str)]) -> Reply {
        let mut req = Request::get(uri);
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn create(&self) -> (String, String) {
        let r = self.send(Request::post("/api/streams").body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        (v["id"].as_str().unwrap().to_owned(), v["streamKey"].as_str().unwrap().to_owned())
    }

    async fn upload(&self, id: &str, key: &str, seq: usize) {
        let req = Request::put(format!("/live/{id}/{seq}.ts"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::from(test_media::segments()[seq].clone()))
            .unwrap();
        assert_eq!(self.send(req).await.status, StatusCode::CREATED);
    }

    async fn end(&self, id: &str, key: &str) {
        let req = Request::post(format!("/api/streams/{id}/end"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(self.send(req).await.status, StatusCode::OK);
    }
}

/// A strong validator: quoted, not `W/`, 32 hex digits.
fn assert_strong_etag(reply: &Reply) {
    let tag = reply.header(header::ETAG);
    assert!(tag.len() == 34 && tag.starts_with('"') && tag.ends_with('"'), "ETag {tag:?} of {reply:?}");
    assert!(tag[1..33].bytes().all(|b| b.is_ascii_hexdigit()), "ETag {tag:?}");
}

#[test]
fn live_cache_control_is_half_the_target_duration_for_edges() {
    assert_eq!(live_cache_control(1), "max-age=1");
    assert_eq!(live_cache_control(2), "max-age=1");
    assert_eq!(live_cache_control(3), "max-age=1");
    assert_eq!(live_cache_control(4), "max-age=1, s-maxage=2");
    assert_eq!(live_cache_control(6), "max-age=1, s-maxage=3");
    assert_eq!(live_cache_control(0), "max-age=1", "never uncacheable (s-maxage=0 would make nginx skip it)");
}

#[test]
fn target_duration_is_read_from_the_playlist() {
    assert_eq!(target_duration("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"), Some(4));
    assert_eq!(target_duration("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n"), None);
}

#[test]
fn validators_and_dates() {
    assert_eq!(etag(b"abc"), etag(b"abc"));
    assert_ne!(etag(b"abc"), etag(b"abd"));
    assert_eq!(http_date(1_796_311_248), "Thu, 03 Dec 2026 15:20:48 GMT");
    assert_eq!(parse_http_date("Thu, 03 Dec 2026 15:20:48 GMT"), Some(1_796_311_248));
    assert_eq!(parse_http_date("yesterday"), None);
    assert!(none_match_hits("\"a\"", "\"a\""));
    assert!(none_match_hits("\"x\", W/\"a\"", "\"a\""), "a list, and weak comparison");
    assert!(none_match_hits("*", "\"a\""));
    assert!(!none_match_hits("\"b\"", "\"a\""));
    assert!(!none_match_hits("", "\"a\""));
}

#[test]
fn a_shared_body_is_hashed_once_and_a_new_one_again() {
    let key = "shared-etag-test/index.m3u8";
    let a: std::sync::Arc<[u8]> = b"#EXTM3U\n#EXT-X-ENDLIST\n".to_vec().into();
    assert_eq!(shared_etag(key, &a), etag(&a));
    assert_eq!(shared_etag(key, &a.clone()), etag(&a), "the same allocation: the memo");
    let b: std::sync::Arc<[u8]> = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n".to_vec().into();
    assert_eq!(shared_etag(key, &b), etag(&b), "another body under the same key: hashed");
    let same_bytes: std::sync::Arc<[u8]> = a.to_vec().into();
    assert_eq!(shared_etag(key, &same_bytes), etag(&a));
}

#[tokio::test]
async fn live_playlist_has_validators_and_answers_304_when_unchanged() {
    let r = relay();
    let (id, key) = r.create().await;
    r.upload(&id, &key, 0).await;
    let uri = format!("/hls/{id}/index.m3u8");
    let first = r.get(&uri, &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header(header::CACHE_CONTROL), "max-age=1", "target 1 s: edges keep it a second too");
    assert_eq!(first.header(header::CONTENT_TYPE), "application/vnd.apple.mpegurl");
    assert_strong_etag(&first);
    assert_eq!(first.header(header::ETAG), etag(&first.body), "the hash of the body");
    let modified = parse_http_date(first.header(header::LAST_MODIFIED)).expect("Last-Modified is an HTTP-date");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(modified <= now && modified + 5 >= now, "Last-Modified {modified} vs now {now}");

    // The same body: the same validators, and a 304 with none of the body.
    let tag = first.header(header::ETAG).to_owned();
    let again = r.get(&uri, &[(header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty(), "a 304 has no body: {:?}", again.body);
    assert_eq!(again.header(header::ETAG), tag);
    assert_eq!(again.header(header::LAST_MODIFIED), first.header(header::LAST_MODIFIED));
    assert_eq!(again.header(header::CACHE_CONTROL), "max-age=1", "a 304 refreshes an edge's copy: it carries the policy");
    let weak = format!("W/{tag}");
    assert_eq!(r.get(&uri, &[(header::IF_NONE_MATCH, &weak)]).await.status, StatusCode::NOT_MODIFIED);
    let since = first.header(header::LAST_MODIFIED).to_owned();
    assert_eq!(r.get(&uri, &[(header::IF_MODIFIED_SINCE, &since)]).await.status, StatusCode::NOT_MODIFIED);
    let earlier = http_date(modified - 10).to_str().unwrap().to_owned();
    assert_eq!(r.get(&uri, &[(header::IF_MODIFIED_SINCE, &earlier)]).await.status, StatusCode::OK);
    let other = r.get(&uri, &[(header::IF_NONE_MATCH, "\"0123\"")]).await;
    assert_eq!((other.status, &other.body), (StatusCode::OK, &first.body));
    // If-None-Match decides when both are sent (RFC 9110): a wrong tag is a 200 whatever the date.
    let both = r.get(&uri, &[(header::IF_NONE_MATCH, "\"0123\""), (header::IF_MODIFIED_SINCE, &since)]).await;
    assert_eq!(both.status, StatusCode::OK);

    // A new segment: a new body, a new ETag; the old one is a full answer now.
    r.upload(&id, &key, 1).await;
    let next = r.get(&uri, &[(header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(next.header(header::ETAG), tag);
    assert!(std::str::from_utf8(&next.body).unwrap().contains("\n1.ts\n"));
    let modified_next = parse_http_date(next.header(header::LAST_MODIFIED)).unwrap();
    assert!(modified_next >= modified, "Last-Modified never goes back");
    // Changed within the second the old body was first served: the date cannot tell them
    // apart, so a date alone must not answer 304 for the old copy.
    if modified_next == modified {
        assert_eq!(r.get(&uri, &[(header::IF_MODIFIED_SINCE, &since)]).await.status, StatusCode::OK);
    }
    // HEAD: the same validators, no body.
    let head = r.send(Request::head(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header(header::ETAG), next.header(header::ETAG));
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn ended_playlists_are_kept_long_and_master_has_validators() {
    let r = relay();
    let (id, key) = r.create().await;
    for seq in 0..3 {
        r.upload(&id, &key, seq).await;
    }
    let master_uri = format!("/hls/{id}/master.m3u8");
    let master = r.get(&master_uri, &[]).await;
    assert_eq!(master.status, StatusCode::OK);
    assert_eq!(master.header(header::CACHE_CONTROL), "max-age=1", "live: a rendition may appear any segment");
    assert_strong_etag(&master);
    let tag = master.header(header::ETAG).to_owned();
    let again = r.get(&master_uri, &[(header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!((again.status, again.body.len()), (StatusCode::NOT_MODIFIED, 0));

    r.end(&id, &key).await;
    let uri = format!("/hls/{id}/index.m3u8");
    let vod = r.get(&uri, &[]).await;
    assert_eq!(vod.status, StatusCode::OK);
    assert!(std::str::from_utf8(&vod.body).unwrap().ends_with("#EXT-X-ENDLIST\n"));
    assert_eq!(vod.header(header::CACHE_CONTROL), conditional::ENDED_PLAYLIST_CACHE_CONTROL);
    assert_strong_etag(&vod);
    let tag = vod.header(header::ETAG).to_owned();
    let again = r.get(&uri, &[(header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!((again.status, again.body.len()), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(again.header(header::CACHE_CONTROL), conditional::ENDED_PLAYLIST_CACHE_CONTROL);
    let master = r.get(&master_uri, &[]).await;
    assert_eq!(master.header(header::CACHE_CONTROL), conditional::ENDED_PLAYLIST_CACHE_CONTROL);
}

#[tokio::test]
async fn rendition_playlists_have_validators() {
    let r = relay();
    let (id, key) = r.create().await;
    r.upload(&id, &key, 0).await;
    let profile = "P240p30fps16x9";
    r.state.db().with_blocking(|c| {
        crate::db::insert_rendition(c, &id, &crate::db::RenditionRow::for_test(profile, 0, 10_000)).unwrap();
    });
    r.end(&id, &key).await;
    let uri = format!("/hls/{id}/{profile}/index.m3u8");
    let res = r.get(&uri, &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{res:?}");
    assert_eq!(res.header(header::CACHE_CONTROL), conditional::ENDED_PLAYLIST_CACHE_CONTROL);
    assert_strong_etag(&res);
    assert_eq!(res.header(header::ETAG), etag(&res.body));
    let tag = res.header(header::ETAG).to_owned();
    let again = r.get(&uri, &[(header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!((again.status, again.body.len()), (StatusCode::NOT_MODIFIED, 0));
}

#[tokio::test]
async fn misses_are_cached_a_second_at_most_and_cors_passes() {
    let r = relay();
    let (id, key) = r.create().await;
    let origin = [(header::ORIGIN, "https://viewer.example")];
    // Nothing uploaded yet: the rendition, the segment; and a stream that does not exist.
    for uri in [
        format!("/hls/{id}/0.ts"),
        format!("/hls/{id}/P240p30fps16x9/index.m3u8"),
        format!("/hls/{id}/P240p30fps16x9/0.ts"),
        "/hls/0123456789abcdef/index.m3u8".to_owned(),
        "/hls/0123456789abcdef/master.m3u8".to_owned(),
    ] {
        let res = r.get(&uri, &origin).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(res.header(header::CACHE_CONTROL), "max-age=1", "{uri}");
        assert_eq!(res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*", "{uri}");
    }
    let bad = r.get("/hls/not%20an%20id/index.m3u8", &[]).await;
    assert_eq!((bad.status, bad.header(header::CACHE_CONTROL)), (StatusCode::BAD_REQUEST, "no-store"));

    r.upload(&id, &key, 0).await;
    let uri = format!("/hls/{id}/index.m3u8");
    let ok = r.get(&uri, &origin).await;
    assert_eq!(ok.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let tag = ok.header(header::ETAG).to_owned();
    let not_modified = r.get(&uri, &[origin[0].clone(), (header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    // Segments: immutable, with tower-http's validators (ETag from size and mtime).
    let seg = r.get(&format!("/hls/{id}/0.ts"), &origin).await;
    assert_eq!(seg.status, StatusCode::OK);
    assert_eq!(seg.header(header::CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert!(!seg.header(header::ETAG).is_empty() && !seg.header(header::LAST_MODIFIED).is_empty(), "{:?}", seg.headers);
    assert_eq!(seg.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let tag = seg.header(header::ETAG).to_owned();
    let again = r.get(&format!("/hls/{id}/0.ts"), &[(header::IF_NONE_MATCH, &tag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}
