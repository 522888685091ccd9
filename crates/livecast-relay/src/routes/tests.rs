//! Router tests: requests through [`app`] with `oneshot`, no socket, on a temporary data
//! directory; each runs on SQLite and on a real PostgreSQL server unless it tests what only
//! SQLite has (its statement counter, its one writer connection).

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::keys;
use crate::config::{Settings, StaticMount};
use crate::db::DatabaseConfig;
use crate::state::AppState;
use crate::test_media;

use super::app;

struct Relay {
    app: Router,
    state: AppState,
    _dir: tempfile::TempDir,
}

fn relay_on(database: Option<String>, f: impl FnOnce(&mut Settings)) -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_tests(dir.path().join("data"));
    if let Some(url) = database {
        settings.database = DatabaseConfig::Postgres(url);
    }
    f(&mut settings);
    let (state, _) = AppState::open(settings).unwrap();
    Relay { app: app(state.clone()), state, _dir: dir }
}

/// A relay on SQLite (the default), for what only SQLite has.
fn relay() -> Relay {
    relay_on(None, |_| {})
}

/// The same relay twice: on SQLite, then on a fresh database of a real PostgreSQL server
/// ([`crate::test_postgres`]); a test runs its requests against each.
fn relays_with(f: impl Fn(&mut Settings)) -> [Relay; 2] {
    [relay_on(None, &f), relay_on(Some(crate::test_postgres::server().database()), &f)]
}

fn relays() -> [Relay; 2] {
    relays_with(|_| {})
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().expect("error shape").to_owned()
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

impl Relay {
    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        Reply { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
    }

    /// Runs `f` on the relay's database, on a thread of its own: PostgreSQL's blocking
    /// client cannot run on the test's runtime.
    fn db<R: Send>(&self, f: impl FnOnce(&mut crate::db::Conn<'_>) -> R + Send) -> R {
        std::thread::scope(|t| t.spawn(|| self.state.db().with_blocking(f)).join().unwrap())
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    async fn create(&self) -> (String, String) {
        let r = self.send(Request::post("/api/streams").body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let v = r.json();
        (v["id"].as_str().unwrap().to_owned(), v["streamKey"].as_str().unwrap().to_owned())
    }

    async fn put(&self, uri: &str, key: Option<&str>, data: impl Into<Body>) -> Reply {
        let mut req = Request::put(uri);
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        self.send(req.body(data.into()).unwrap()).await
    }
}

fn seg(i: usize) -> Vec<u8> {
    test_media::segments()[i].clone()
}

#[tokio::test]
async fn create_in_open_mode() {
    for r in relays() {
        let res = r
            .send(
                Request::post("/api/streams")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(r#"{"name":"  My show "}"#))
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
        assert_eq!(res.header(header::CACHE_CONTROL), "no-store");
        let v = res.json();
        let id = v["id"].as_str().unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(v["name"], "My show");
        assert_eq!(v["streamKey"].as_str().unwrap().len(), 64);
        assert_eq!(v["playbackUrl"], format!("/hls/{id}/index.m3u8"));
        assert_eq!(v["ingestUrl"], format!("/live/{id}/"));
        // The key is stored hashed, never in clear.
        let row = r.db(|c| crate::db::get_stream(c, id).unwrap().unwrap());
        assert_eq!(row.key_hash, keys::hash_secret(v["streamKey"].as_str().unwrap()));

        let status = r.get(&format!("/api/streams/{id}")).await;
        assert_eq!(status.status, StatusCode::OK);
        let s = status.json();
        assert_eq!(s["segments"], 0);
        assert_eq!(s["nextSeq"], 0);
        assert_eq!(s["ended"], false);
        assert!(s.get("streamKey").is_none());
    }
}

#[tokio::test]
async fn public_url_makes_the_returned_urls_absolute() {
    // `--public-url https://relay.example.com/` (the trailing slash is dropped by the config).
    for r in relays_with(|s| s.public_url = Some("https://relay.example.com".into())) {
        let created = r.send(Request::post("/api/streams").body(Body::empty()).unwrap()).await;
        assert_eq!(created.status, StatusCode::CREATED);
        let v = created.json();
        let id = v["id"].as_str().unwrap();
        assert_eq!(v["playbackUrl"], format!("https://relay.example.com/hls/{id}/index.m3u8"));
        assert_eq!(v["ingestUrl"], format!("https://relay.example.com/live/{id}/"));
        let status = r.get(&format!("/api/streams/{id}")).await.json();
        assert_eq!(status["playbackUrl"], format!("https://relay.example.com/hls/{id}/index.m3u8"));
    }
}

#[tokio::test]
async fn create_needs_admin_token_unless_open() {
    for r in relays_with(|s| {
        s.open = false;
        s.admin_token_hash = Some(keys::hash_secret("admin-token-0123456789"));
    }) {
        let post = |auth: Option<&str>| {
            let mut b = Request::post("/api/streams");
            if let Some(a) = auth {
                b = b.header(header::AUTHORIZATION, a);
            }
            b.body(Body::empty()).unwrap()
        };
        for auth in [None, Some("Bearer wrong"), Some("Basic admin-token-0123456789")] {
            let res = r.send(post(auth)).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{auth:?}");
            assert_eq!(res.error_code(), "unauthorized");
        }
        assert_eq!(r.send(post(Some("Bearer admin-token-0123456789"))).await.status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn bad_json_unknown_routes_and_methods_share_the_error_shape() {
    for r in relays() {
        let res = r.send(Request::post("/api/streams").body(Body::from("{nope")).unwrap()).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_json"));
        let res = r.send(Request::post("/api/streams").body(Body::from(r#"{"nmae":"x"}"#)).unwrap()).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_json"));
        let res = r.send(Request::post("/api/streams").body(Body::from(format!(r#"{{"name":"{}"}}"#, "x".repeat(201)))).unwrap()).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_field"));
        let res = r.get("/nothing/here").await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::NOT_FOUND, "not_found"));
        let res = r.send(Request::delete("/api/streams").body(Body::empty()).unwrap()).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
        let res = r.get("/api/streams/0123456789abcdef").await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::NOT_FOUND, "not_found"));
        // Not UTF-8 once percent-decoded.
        let res = r.get("/api/streams/%ff%fe").await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_path"));
    }
}

#[tokio::test]
async fn ingest_rules() {
    for r in relays() {
        let (id, key) = r.create().await;
        let uri = |seq: &str| format!("/live/{id}/{seq}.ts");

        let res = r.put(&uri("0"), Some(&key), seg(0)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        let v = res.json();
        assert_eq!(v["duplicate"], false);
        assert_eq!(v["videoFrames"], 30);
        assert_eq!(v["startsWithKeyframe"], true);
        assert!((v["durationSecs"].as_f64().unwrap() - 1.0).abs() < 0.01, "{v}");

        // Same bytes again: 200, not stored twice. Other bytes: 409.
        let res = r.put(&uri("0"), Some(&key), seg(0)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json()["duplicate"], true);
        assert!(!res.headers.contains_key(header::CONNECTION), "accepted uploads keep the connection");
        let res = r.put(&uri("0"), Some(&key), seg(1)).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::CONFLICT, "segment_conflict"));

        // Keys: missing, wrong, or another stream's.
        let (other, other_key) = r.create().await;
        for k in [None, Some("wrong"), Some(other_key.as_str())] {
            let res = r.put(&uri("1"), k, seg(1)).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{k:?}");
            assert_eq!(res.header(header::CONNECTION), "close", "a refused upload's body may be unread");
        }
        // An unknown stream looks the same as a wrong key.
        let res = r.put("/live/0123456789abcdef/1.ts", Some(&key), seg(1)).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);

        // Not MPEG-TS.
        for body in [Vec::new(), b"hello world".to_vec(), vec![0x47; 188 * 4], seg(1)[..100].to_vec()] {
            let res = r.put(&uri("1"), Some(&key), body).await;
            assert_eq!((res.status, res.error_code().as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_mpegts"));
        }

        // Bad numbers and ids.
        for bad in ["-1", "10000001", "99999999999", "abc", "1e3", "%2B1", "0x1"] {
            let res = r.put(&uri(bad), Some(&key), seg(1)).await;
            assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_seq"), "{bad}");
        }
        let res = r.put(&format!("/live/{id}/1.mp4"), Some(&key), seg(1)).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        for bad_id in ["%2e%2e", "a.b", &"a".repeat(65), "%2F..%2Fx"] {
            let res = r.put(&format!("/live/{bad_id}/1.ts"), Some(&key), seg(1)).await;
            assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_stream_id"), "{bad_id}");
        }

        // Malformed optional headers are refused, not ignored.
        let req = |name: &str, value: &str| {
            Request::put(uri("1"))
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .header(name, value)
                .body(Body::from(seg(1)))
                .unwrap()
        };
        for (name, value) in [("content-duration", "abc"), ("livecast-capture-start", "-5"), ("livecast-capture-start", "12")] {
            let res = r.send(req(name, value)).await;
            assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_header"), "{name}: {value}");
        }
        // Well-formed ones are fine (and the duration still comes from the segment).
        let res = r.send(req("content-duration", "5000")).await;
        assert_eq!(res.status, StatusCode::CREATED);
        assert!((res.json()["durationSecs"].as_f64().unwrap() - 1.0).abs() < 0.01);

        let stored = r.db(|c| crate::db::segments(c, &id).unwrap());
        assert_eq!(stored.iter().map(|s| s.seq).collect::<Vec<_>>(), [0, 1]);
        assert!(r.db(|c| crate::db::segments(c, &other).unwrap()).is_empty());
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_with_or_without_content_length() {
    for r in relays_with(|s| s.max_segment_bytes = 10_000) {
        let (id, key) = r.create().await;
        let res = r.put(&format!("/live/{id}/0.ts"), Some(&key), seg(0)).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
        let chunks: Vec<Result<Bytes, std::io::Error>> = seg(0).chunks(4096).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let res = r.put(&format!("/live/{id}/0.ts"), Some(&key), body).await;
        assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(r.state.storage().as_file().expect("file backend").segment_files(&id).unwrap().is_empty());
    }
}

#[tokio::test]
async fn playlist_segments_and_end() {
    for r in relays_with(|s| s.window_segments = 3) {
        let (id, key) = r.create().await;
        let res = r.get(&format!("/hls/{id}/index.m3u8")).await;
        assert_eq!(res.status, StatusCode::OK);
        for i in 0..5 {
            assert_eq!(r.put(&format!("/live/{id}/{i}.ts"), Some(&key), seg(i)).await.status, StatusCode::CREATED);
        }
        let res = r.get(&format!("/hls/{id}/index.m3u8")).await;
        assert_eq!(res.header(header::CONTENT_TYPE), "application/vnd.apple.mpegurl");
        assert_eq!(res.header(header::CACHE_CONTROL), "max-age=1");
        let text = std::str::from_utf8(&res.body).unwrap();
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:2\n"), "{text}");
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 3);
        assert!(text.contains("\n2.ts\n") && text.contains("\n4.ts\n") && !text.contains("\n1.ts\n"), "{text}");
        assert!(!text.contains("#EXT-X-ENDLIST"));

        let res = r.get(&format!("/hls/{id}/3.ts")).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.header(header::CONTENT_TYPE), "video/mp2t");
        assert_eq!(res.header(header::CACHE_CONTROL), "public, max-age=31536000, immutable");
        assert_eq!(res.body, seg(3));
        assert_eq!(r.get(&format!("/hls/{id}/9.ts")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(r.get("/hls/0123456789abcdef/index.m3u8").await.status, StatusCode::NOT_FOUND);

        // Ending needs the stream key.
        let end = |auth: String| Request::post(format!("/api/streams/{id}/end")).header(header::AUTHORIZATION, auth).body(Body::empty()).unwrap();
        assert_eq!(r.send(end("Bearer nope".into())).await.status, StatusCode::UNAUTHORIZED);
        let res = r.send(end(format!("Bearer {key}"))).await;
        assert_eq!(res.status, StatusCode::OK);
        let v = res.json();
        assert_eq!((v["ended"].as_bool(), v["segments"].as_u64(), v["lastSeq"].as_u64()), (Some(true), Some(5), Some(4)));
        assert_eq!(v["nextSeq"], 5);
        assert_eq!(r.send(end(format!("Bearer {key}"))).await.status, StatusCode::OK, "ending twice is harmless");

        let text = String::from_utf8(r.get(&format!("/hls/{id}/index.m3u8")).await.body.to_vec()).unwrap();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
        assert_eq!(text.matches(".ts\n").count(), 5, "the complete list once ended");

        // No new segments after the end; a retry of a stored one is still a 200.
        let res = r.put(&format!("/live/{id}/5.ts"), Some(&key), seg(5)).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::CONFLICT, "stream_ended"));
        assert_eq!(r.put(&format!("/live/{id}/4.ts"), Some(&key), seg(4)).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn cors_preflight_allows_the_upload_headers() {
    for r in relays() {
        let res = r
            .send(
                Request::builder()
                    .method(Method::OPTIONS)
                    .uri("/live/abc/0.ts")
                    .header(header::ORIGIN, "https://example.com")
                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
                    .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-duration,livecast-capture-start")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(res.status.is_success());
        assert_eq!(res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        let allowed = res.header(header::ACCESS_CONTROL_ALLOW_HEADERS).to_ascii_lowercase();
        for h in ["authorization", "content-duration", "livecast-capture-start"] {
            assert!(allowed.contains(h), "{allowed}");
        }
        assert!(res.header(header::ACCESS_CONTROL_ALLOW_METHODS).contains("PUT"));
        assert_eq!(res.header(header::ACCESS_CONTROL_EXPOSE_HEADERS), "");
    }
}

#[tokio::test]
async fn static_files_and_root_redirect() {
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("broadcast.html"), "<!doctype html>").unwrap();
    std::fs::write(www.path().join("app.js"), "export {}").unwrap();
    std::fs::write(www.path().join("livecast_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let dir = www.path().to_owned();
    for r in relays_with(|s| {
        s.static_mounts = vec![
            StaticMount { mount: "www".into(), dir: dir.clone() },
            StaticMount { mount: "pkg".into(), dir: dir.clone() },
        ]
    }) {
        let res = r.get("/").await;
        assert!(res.status.is_redirection());
        assert_eq!(res.header(header::LOCATION), "/www/broadcast.html");
        assert_eq!(r.get("/www/broadcast.html").await.header(header::CONTENT_TYPE), "text/html");
        assert_eq!(r.get("/www/app.js").await.header(header::CONTENT_TYPE), "text/javascript");
        let res = r.get("/pkg/livecast_bg.wasm").await;
        assert_eq!((res.status, res.header(header::CONTENT_TYPE)), (StatusCode::OK, "application/wasm"));
        assert_eq!(r.get("/www/../relay.db").await.status, StatusCode::NOT_FOUND);
        assert_eq!(r.get("/www/%2e%2e/%2e%2e/etc/passwd").await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_stalled_upload_times_out_with_the_json_error() {
    for r in relays_with(|s| s.request_timeout = std::time::Duration::from_millis(200)) {
        let (id, key) = r.create().await;
        let stalled = Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let res = r.put(&format!("/live/{id}/0.ts"), Some(&key), stalled).await;
        assert_eq!((res.status, res.error_code().as_str()), (StatusCode::REQUEST_TIMEOUT, "timeout"));
    }
}

/// A stored 1 s segment row `seq` on one continuous timeline, received `age_ms` ago.
fn cost_row(seq: u32, age_ms: i64) -> crate::db::SegmentRow {
    crate::db::SegmentRow {
        seq,
        size: 30_000 + u64::from(seq % 7) * 1000,
        sha256: vec![0; 32],
        duration_secs: 1.0,
        first_pts: 126_000 + u64::from(seq) * 90_000,
        last_pts: 126_000 + u64::from(seq) * 90_000 + 87_000,
        video_frames: 30,
        starts_with_keyframe: true,
        received_at_ms: crate::clock::now_ms() - age_ms,
        capture_start_ms: None,
        declared_duration_ms: Some(1000),
    }
}

/// The rendition rows of `seq` in the two profiles the cost test uses.
fn cost_renditions(seq: u32) -> [crate::db::RenditionRow; 2] {
    ["P144p30fps16x9", "P240p30fps16x9"].map(|profile| crate::db::RenditionRow {
        profile: profile.into(),
        seq,
        size: 10_000 + u64::from(seq % 5) * 500,
        sha256: vec![0; 32],
        duration_secs: 1.0,
        first_pts: 126_000 + u64::from(seq) * 90_000,
        video_frames: 30,
        width: 256,
        height: 144,
        codecs: "avc1.42C01E".into(),
        pixels: 256 * 144 * 30,
        bitrate_bps: 400_000,
        transcoder: "http://127.0.0.1:1".into(),
        received_at_ms: crate::clock::now_ms(),
    })
}

/// Stores segments `seqs` of `id` (rows straight into the database, the last one's file on
/// disk for the master's SPS probe) with both renditions of each.
fn cost_store(r: &Relay, id: &str, seqs: std::ops::Range<u32>) {
    let last = seqs.end - 1;
    r.db(|c| {
        c.batch("BEGIN").unwrap();
        for seq in seqs.clone() {
            crate::db::insert_segment(c, id, &cost_row(seq, i64::from(last - seq) * 1000)).unwrap();
            for row in cost_renditions(seq) {
                crate::db::insert_rendition(c, id, &row).unwrap();
            }
        }
        c.batch("COMMIT").unwrap();
    });
    r.state.storage().as_file().expect("file backend").write_segment(id, last, &seg(0)).unwrap();
    for seq in seqs {
        r.state.prefixes().stored(id, seq);
    }
}

/// What one GET costs: rows decoded from SQLite and SQLite's VM steps (the time is printed
/// only, never asserted).
async fn cost_of(r: &Relay, uri: &str) -> (u64, u64, Reply) {
    let (rows, steps) = (r.state.db().rows_read(), r.state.db().vm_steps());
    let t = std::time::Instant::now();
    let reply = r.get(uri).await;
    let elapsed = t.elapsed();
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
    let (rows, steps) = (r.state.db().rows_read() - rows, r.state.db().vm_steps() - steps);
    eprintln!("{uri}: {rows} rows read, {steps} SQLite VM steps, {elapsed:?}");
    (rows, steps, reply)
}

/// Issue 14: every per-request path of a live stream costs O(window) rows, not O(stream).
/// Two streams on one relay, 100 and 20,000 segments (each with two renditions); after a
/// first request (which may sum the rows before the window, once) and one more segment, each
/// playlist and the status read at most a window's worth of rows, and SQLite does about as
/// much work for the long stream as for the short one (VM steps, deterministic; a scan or an
/// aggregate over the stream's rows would cost 200 times more).
#[tokio::test]
async fn per_request_cost_is_bounded_by_the_window_not_the_stream() {
    let r = relay();
    r.state.db().count_vm_steps();
    let window = r.state.settings().window_segments as u64;
    let mut costs = Vec::new();
    for n in [100u32, 20_000] {
        let (id, _) = r.create().await;
        cost_store(&r, &id, 0..n);
        let uris = [
            format!("/hls/{id}/index.m3u8"),
            format!("/hls/{id}/master.m3u8"),
            format!("/hls/{id}/P240p30fps16x9/index.m3u8"),
            format!("/api/streams/{id}"),
        ];
        for uri in &uris {
            cost_of(&r, uri).await;
        }
        cost_store(&r, &id, n..n + 1);
        let mut cost = Vec::new();
        for uri in &uris {
            eprint!("{n} segments: ");
            cost.push(cost_of(&r, uri).await);
        }
        // The answers are right, not only cheap.
        let text = String::from_utf8(cost[0].2.body.to_vec()).unwrap();
        assert!(text.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}", n + 1 - window as u32)), "{text}");
        assert!(text.contains(&format!("{n}.ts")), "{text}");
        let text = String::from_utf8(cost[2].2.body.to_vec()).unwrap();
        assert!(text.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}", n + 1 - window as u32)), "{text}");
        assert!(text.contains(&format!("{n}.ts")), "{text}");
        let master = String::from_utf8(cost[1].2.body.to_vec()).unwrap();
        assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 3, "{master}");
        assert_eq!(cost[3].2.json()["segments"], n + 1);
        costs.push(cost);
    }
    let names = ["index.m3u8", "master.m3u8", "rendition index.m3u8", "status"];
    let mut over = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (short, long) = (&costs[0][i], &costs[1][i]);
        if long.0 > 3 * window + 10 {
            over.push(format!("{name} at 20,001 segments read {} rows (window {window})", long.0));
        }
        if long.1 > short.1 * 3 / 2 + 200 {
            over.push(format!("{name}: {} SQLite VM steps at 20,001 segments vs {} at 101", long.1, short.1));
        }
    }
    assert!(over.is_empty(), "O(stream), not O(window):\n{}", over.join("\n"));
}

/// An ended stream's playlists no longer change: after the first request builds them, a
/// request reads no segment rows (the finished playlist is kept; see [`crate::window`]).
#[tokio::test]
async fn an_ended_streams_playlists_are_built_once() {
    for r in relays() {
        let (id, key) = r.create().await;
        cost_store(&r, &id, 0..2_000);
        let end = r
            .send(
                Request::post(format!("/api/streams/{id}/end"))
                    .header(header::AUTHORIZATION, format!("Bearer {key}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(end.status, StatusCode::OK, "{:?}", end.body);
        for uri in [format!("/hls/{id}/index.m3u8"), format!("/hls/{id}/P240p30fps16x9/index.m3u8")] {
            let (first_rows, _, first) = cost_of(&r, &uri).await;
            let (mut rows, _, mut again) = cost_of(&r, &uri).await;
            // PostgreSQL: the relay hears its own 2,000 inserts back through NOTIFY, a little
            // later, and each drops what it kept of the stream; once they are in, the
            // playlist is built once more and then kept.
            let heard_by = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while r.state.db().backend() == "postgres" && rows > 5 && std::time::Instant::now() < heard_by {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                (rows, _, again) = cost_of(&r, &uri).await;
            }
            assert_eq!(first.body, again.body, "{uri}");
            let text = String::from_utf8(again.body.to_vec()).unwrap();
            assert!(text.contains("#EXT-X-ENDLIST") && text.contains("1999.ts") && text.contains("\n0.ts"), "{uri}: {text}");
            assert!(first_rows >= 2_000, "{uri}: the first request reads every row ({first_rows})");
            assert!(rows <= 5, "{uri}: the second request read {rows} rows");
        }
    }
}

/// A stream's status and a key check (which every upload makes) are reads: they answer while
/// the database's one writer connection is held by someone else (another stream's upload, a
/// slow commit). Had they gone through the writer, they would wait here until the holder
/// lets go, which it does only after they answered or after 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_key_checks_do_not_wait_for_the_writer() {
    let r = relay();
    let (id, _key) = r.create().await;
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = tokio::sync::oneshot::channel::<()>();
    let db = r.state.db().clone();
    let holder = std::thread::spawn(move || {
        db.with_blocking(|_| {
            let _ = held.send(());
            let _ = released.recv_timeout(std::time::Duration::from_secs(30));
        })
    });
    holding.await.unwrap();
    let checks = async {
        let status = r.get(&format!("/api/streams/{id}")).await;
        let wrong_key = r.put(&format!("/live/{id}/0.ts"), Some("not-the-key"), seg(0)).await;
        (status, wrong_key)
    };
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), checks).await;
    let _ = release.send(());
    holder.join().unwrap();
    let (status, wrong_key) = answered.expect("the status and the key check waited for the writer connection");
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.json()["id"], id.as_str());
    assert_eq!(wrong_key.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn healthz_says_the_process_answers_and_which_database_it_uses() {
    // (Also what shows that `relays()` gives one relay of each kind.)
    for (r, database) in relays().into_iter().zip(["sqlite", "postgres"]) {
        let res = r.get("/healthz").await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.header(header::CACHE_CONTROL), "no-store");
        assert_eq!(res.json(), serde_json::json!({ "status": "ok", "database": database }));
    }
}
