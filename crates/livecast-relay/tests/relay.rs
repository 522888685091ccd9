//! End-to-end tests of the real `livecast-relay` binary on 127.0.0.1, port 0, with an HTTP
//! client, real ffmpeg-made MPEG-TS segments, and ffmpeg/ffprobe judging the served HLS.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{client, create, raw_status, seg, segments, start_open, tree, Relay};
use m3u8_rs::{MediaPlaylist, MediaPlaylistType, Playlist};
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN: &str = "admin-token-for-tests-0123";

fn data_arg(dir: &Path) -> String {
    dir.join("data").display().to_string()
}

async fn put(relay: &Relay, c: &reqwest::Client, id: &str, seq: &str, key: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut req = c.put(relay.url(&format!("/live/{id}/{seq}.ts"))).body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

async fn error_code(res: reqwest::Response) -> String {
    let v: Value = res.json().await.expect("JSON error body");
    v["error"]["code"].as_str().expect("error shape").to_owned()
}

async fn playlist(relay: &Relay, c: &reqwest::Client, id: &str) -> MediaPlaylist {
    let res = c.get(relay.url(&format!("/hls/{id}/index.m3u8"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/vnd.apple.mpegurl");
    let text = res.bytes().await.unwrap();
    match m3u8_rs::parse_playlist_res(&text) {
        Ok(Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist: {other:?}\n{}", String::from_utf8_lossy(&text)),
    }
}

fn uris(p: &MediaPlaylist) -> Vec<&str> {
    p.segments.iter().map(|s| s.uri.as_str()).collect()
}

#[tokio::test]
async fn create_stream_in_open_mode_configured_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let relay = Relay::start_with_env(dir.path(), &[], &[("LIVECAST_RELAY_DATA_DIR", &data), ("LIVECAST_RELAY_OPEN", "true")]);
    let c = client();
    let res = c.post(relay.url("/api/streams")).json(&serde_json::json!({ "name": "demo" })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let id = v["id"].as_str().unwrap();
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert!(v["streamKey"].as_str().unwrap().len() >= 32);
    assert_eq!(v["playbackUrl"], format!("/hls/{id}/index.m3u8"));
    let status: Value = c.get(relay.url(&format!("/api/streams/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((status["name"].as_str(), status["segments"].as_u64(), status["ended"].as_bool()), (Some("demo"), Some(0), Some(false)));
    assert!(Path::new(&data).join("relay.db").is_file());
}

#[tokio::test]
async fn create_stream_needs_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let relay = Relay::start(dir.path(), &["--data-dir", &data, "--admin-token", ADMIN]);
    let c = client();
    let res = c.post(relay.url("/api/streams")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthorized");
    let res = c.post(relay.url("/api/streams")).bearer_auth("not-the-token").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = c.post(relay.url("/api/streams")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn upload_then_live_window_then_vod_after_end() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &["--window-segments", "3"]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let capture_start: i64 = 1_750_000_000_000;
    for i in 0..5 {
        let mut req = c.put(relay.url(&format!("/live/{id}/{i}.ts"))).bearer_auth(&key).body(seg(i));
        if i < 2 {
            req = req.header("Livecast-Capture-Start", (capture_start + i as i64 * 1000).to_string()).header("Content-Duration", "1000");
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "segment {i}");
    }

    let live = playlist(&relay, &c, &id).await;
    assert_eq!(live.version, Some(3));
    assert_eq!(live.target_duration, 1);
    assert_eq!(live.media_sequence, 2);
    assert_eq!(uris(&live), ["2.ts", "3.ts", "4.ts"]);
    assert!(!live.end_list);
    assert_eq!(live.playlist_type, None);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for s in &live.segments {
        assert!((s.duration - 1.0).abs() < 0.01, "{}", s.duration);
        assert!(!s.discontinuity);
        // No capture header: receive time minus duration.
        let pdt = s.program_date_time.expect("PDT").timestamp_millis();
        assert!((now - 30_000..=now).contains(&pdt), "{pdt} vs {now}");
    }

    let res = c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let vod = playlist(&relay, &c, &id).await;
    assert!(vod.end_list);
    assert_eq!(vod.playlist_type, Some(MediaPlaylistType::Vod));
    assert_eq!(vod.media_sequence, 0);
    assert_eq!(uris(&vod), ["0.ts", "1.ts", "2.ts", "3.ts", "4.ts"]);
    // The capture start given by the broadcaster is the PDT.
    assert_eq!(vod.segments[0].program_date_time.unwrap().timestamp_millis(), capture_start);
    assert_eq!(vod.segments[1].program_date_time.unwrap().timestamp_millis(), capture_start + 1000);

    let status: Value = c.get(relay.url(&format!("/api/streams/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((status["ended"].as_bool(), status["segments"].as_u64()), (Some(true), Some(5)));
    assert!((status["durationSecs"].as_f64().unwrap() - 5.0).abs() < 0.05, "{status}");

    let res = put(&relay, &c, &id, "5", Some(&key), seg(5)).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(res).await, "stream_ended");
}

#[tokio::test]
async fn served_hls_decodes_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    for (i, data) in segments().iter().enumerate() {
        assert_eq!(put(&relay, &c, &id, &i.to_string(), Some(&key), data.clone()).await.status(), StatusCode::CREATED);
    }
    let res = c.get(relay.url(&format!("/hls/{id}/3.ts"))).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "video/mp2t");
    assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(res.bytes().await.unwrap(), seg(3));
    assert_eq!(c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth(&key).send().await.unwrap().status(), StatusCode::OK);

    let url = relay.url(&format!("/hls/{id}/index.m3u8"));
    let out = tokio::task::spawn_blocking(move || {
        let decode = Command::new("timeout")
            .args(["60", "ffmpeg", "-v", "error", "-nostdin", "-i", &url, "-f", "null", "-"])
            .output()
            .expect("ffmpeg");
        let frames = Command::new("timeout")
            .args(["60", "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames,codec_name", "-of", "default=nw=1", &url])
            .output()
            .expect("ffprobe");
        (decode, frames)
    })
    .await
    .unwrap();
    let (decode, frames) = out;
    assert!(decode.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&decode.stderr));
    assert_eq!(String::from_utf8_lossy(&decode.stderr).trim(), "", "ffmpeg reported errors");
    let probe = String::from_utf8_lossy(&frames.stdout);
    assert!(frames.status.success(), "{}", String::from_utf8_lossy(&frames.stderr));
    assert!(probe.contains("codec_name=h264") && probe.contains("nb_read_frames=240"), "{probe}");
}

#[tokio::test]
async fn missing_or_wrong_stream_key_is_401() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, _key) = create(&relay, &c).await;
    let (_other, other_key) = create(&relay, &c).await;
    for key in [None, Some("wrong-key"), Some(other_key.as_str())] {
        let res = put(&relay, &c, &id, "0", key, seg(0)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(error_code(res).await, "unauthorized");
    }
    let res = put(&relay, &c, "0123456789abcdef", "0", Some(&other_key), seg(0)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "unknown streams look like wrong keys");
    let res = c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth("wrong-key").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(playlist(&relay, &c, &id).await.segments.is_empty());
}

/// An upload refused before its body is read must not poison the client's connection pool:
/// the next request on the same client gets its answer. (Without `Connection: close` on the
/// refusal, hyper's pool reused the dropped connection and the next GET failed mid-flight.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_does_not_break_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    // Large enough that the relay answers long before the body has arrived.
    let body: Vec<u8> = seg(0).into_iter().cycle().take(4 << 20).collect();
    for round in 0..10 {
        // Refused on the key, then on the path (before the handler's own checks).
        let (seq, key, status) =
            if round % 2 == 0 { ("0", "wrong-key", StatusCode::UNAUTHORIZED) } else { ("abc", key.as_str(), StatusCode::BAD_REQUEST) };
        let res = put(&relay, &c, &id, seq, Some(key), body.clone()).await;
        assert_eq!(res.status(), status, "round {round}");
        assert_eq!(res.headers()["connection"], "close");
        let res = c.get(relay.url(&format!("/hls/{id}/index.m3u8"))).send().await;
        let res = res.unwrap_or_else(|e| panic!("round {round}: the request after a refusal failed: {e:?}"));
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn non_mpegts_body_is_415() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let mut truncated = seg(0);
    truncated.truncate(1000);
    for body in [png, Vec::new(), b"GET / HTTP/1.1".to_vec(), truncated] {
        let res = put(&relay, &c, &id, "0", Some(&key), body).await;
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(error_code(res).await, "not_mpegts");
    }
    assert!(playlist(&relay, &c, &id).await.segments.is_empty());
    assert!(!dir.path().join("data/streams").join(&id).join("0.ts").exists());
}

#[tokio::test]
async fn oversized_body_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &["--max-segment-bytes", "10000"]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    assert!(seg(0).len() > 10_000);
    let res = put(&relay, &c, &id, "0", Some(&key), seg(0)).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(res).await, "payload_too_large");
    assert!(playlist(&relay, &c, &id).await.segments.is_empty());
    assert!(!dir.path().join("data/streams").join(&id).join("0.ts").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_are_refused_and_nothing_lands_outside_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let body = seg(0);
    let put_raw = |path: &str| {
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        raw_status(relay.addr, &head, &body)
    };
    let long = "a".repeat(65);
    let very_long = "b".repeat(5000);
    let cases = [
        "/live/../0.ts".to_owned(),
        "/live/../../etc/0.ts".to_owned(),
        format!("/live/{id}/../0.ts"),
        "/live/%2e%2e/0.ts".to_owned(),
        "/live/%2E%2E/0.ts".to_owned(),
        format!("/live/{id}/..%2f..%2f0.ts"),
        format!("/live/%2e%2e%2f%2e%2e%2f{id}/0.ts"),
        format!("/live/{id}%00/0.ts"),
        format!("/live/{long}/0.ts"),
        format!("/live/{very_long}/0.ts"),
        format!("/live/{id}/%2e%2e.ts"),
    ];
    for path in &cases {
        let status = tokio::task::block_in_place(|| put_raw(path));
        assert!(status == 400 || status == 404, "{path}: {status}");
    }
    for path in ["/hls/../../etc/passwd", "/hls/%2e%2e/index.m3u8", "/www/../data/relay.db", "/hls/x/..%2f..%2frelay.db"] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let status = tokio::task::block_in_place(|| raw_status(relay.addr, &head, b""));
        assert!(status == 400 || status == 404, "{path}: {status}");
    }
    // Through the client as well: the same JSON error shape.
    // (The client's URL parser turns `%2e%2e` into `..` and removes it, so use a dot.)
    let res = c.put(relay.url("/live/a.b/0.ts")).bearer_auth(&key).body(seg(0)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "invalid_stream_id");

    // The temp dir holds the data dir and the log only; the data dir only the database and
    // the one stream's (empty) directory.
    let top: Vec<_> = tree(dir.path()).into_iter().filter(|p| !p.starts_with("data/") && !p.ends_with(".log")).collect();
    assert_eq!(top, ["data"]);
    let data: Vec<_> = tree(&dir.path().join("data")).into_iter().filter(|p| !p.starts_with("relay.db")).collect();
    assert!(data == ["streams"] || data == ["streams".to_owned(), format!("streams/{id}")], "{data:?}");
}

#[tokio::test]
async fn negative_absurd_or_non_numeric_seq_is_400() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    for seq in ["-1", "10000001", "18446744073709551616", "1.5", "abc", "0x10", "1e3", "%20", "+1"] {
        let res = put(&relay, &c, &id, seq, Some(&key), seg(0)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{seq}");
        assert_eq!(error_code(res).await, "invalid_seq");
    }
    assert_eq!(put(&relay, &c, &id, "10000000", Some(&key), seg(0)).await.status(), StatusCode::CREATED);
    assert_eq!(uris(&playlist(&relay, &c, &id).await), ["10000000.ts"]);
}

#[tokio::test]
async fn same_bytes_again_is_200_other_bytes_409() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    assert_eq!(put(&relay, &c, &id, "0", Some(&key), seg(0)).await.status(), StatusCode::CREATED);
    let res = put(&relay, &c, &id, "0", Some(&key), seg(0)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["duplicate"], true);
    let res = put(&relay, &c, &id, "0", Some(&key), seg(1)).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(res).await, "segment_conflict");
    let p = playlist(&relay, &c, &id).await;
    assert_eq!(uris(&p), ["0.ts"]);
    let served = c.get(relay.url(&format!("/hls/{id}/0.ts"))).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(served, seg(0), "the first upload is kept");
}

/// The restart-safety test: SIGKILL while uploads are in flight (one of them half-sent),
/// restart on the same data directory, and every acknowledged segment is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_then_restart_keeps_every_acknowledged_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let mut acked = Vec::new();
    for seq in 0..3u32 {
        assert_eq!(put(&relay, &c, &id, &seq.to_string(), Some(&key), seg(seq as usize)).await.status(), StatusCode::CREATED);
        acked.push(seq);
    }

    // Segment 3: headers and half the body, then nothing.
    let half = {
        let body = seg(3);
        let head = format!("PUT /live/{id}/3.ts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n", body.len());
        let mut s = std::net::TcpStream::connect(relay.addr).unwrap();
        std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
        std::io::Write::write_all(&mut s, &body[..body.len() / 2]).unwrap();
        s
    };

    // Meanwhile a broadcaster uploads 4, 5, 6, ... as fast as it can until the relay dies.
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let uploader = {
        let (c, base, id, key) = (client(), relay.base.clone(), id.clone(), key.clone());
        let progress = std::sync::Arc::clone(&progress);
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for seq in 4u32..1_000_000 {
                let res = c
                    .put(format!("{base}/live/{id}/{seq}.ts"))
                    .bearer_auth(&key)
                    .body(seg(seq as usize % 8))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => {
                        acked.push(seq);
                        progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(r) => panic!("segment {seq}: {}", r.status()),
                    Err(_) => break, // the relay is gone
                }
            }
            acked
        })
    };
    // Kill once the uploader is well under way (bounded: 20 s).
    for _ in 0..2000 {
        if progress.load(std::sync::atomic::Ordering::SeqCst) >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::block_in_place(|| relay.kill9());
    let more = tokio::time::timeout(Duration::from_secs(30), uploader).await.expect("uploader stops").unwrap();
    assert!(!more.is_empty() && more.len() < 999_996, "the kill must land mid-stream ({} uploads)", more.len());
    eprintln!("SIGKILL after {} acknowledged concurrent uploads", more.len());
    acked.extend(more);
    drop(half);

    // Restart on the same data directory: every acknowledged segment is listed and served
    // byte for byte.
    let relay = start_open(dir.path(), &[]);
    let c = client();
    let status: Value = c.get(relay.url(&format!("/api/streams/{id}"))).send().await.unwrap().json().await.unwrap();
    // At most one more than acknowledged: the upload in flight may have been committed just
    // before the kill, without its answer getting out.
    let stored = status["segments"].as_u64().unwrap() as usize;
    assert!(stored == acked.len() || stored == acked.len() + 1, "{status} vs {} acknowledged", acked.len());
    let last = *acked.last().unwrap();
    let live = playlist(&relay, &c, &id).await;
    assert!(live.segments.iter().any(|s| s.uri == format!("{last}.ts")), "{:?}", uris(&live));
    for seq in &acked {
        let res = c.get(relay.url(&format!("/hls/{id}/{seq}.ts"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "acknowledged segment {seq} lost");
        assert_eq!(res.bytes().await.unwrap(), seg(*seq as usize % 8), "segment {seq} changed");
    }
    // The half-sent segment never became one, and no temporary file is left.
    assert_eq!(c.get(relay.url(&format!("/hls/{id}/3.ts"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let files = tree(&dir.path().join("data/streams"));
    assert!(files.iter().all(|f| !f.ends_with(".tmp")), "{files:?}");

    // The broadcaster carries on: the half-sent segment, a retry of the last acknowledged one
    // (200), the one that was in flight (201, or 200 if it was committed before the kill),
    // and a new one.
    assert_eq!(put(&relay, &c, &id, "3", Some(&key), seg(3)).await.status(), StatusCode::CREATED);
    assert_eq!(put(&relay, &c, &id, &last.to_string(), Some(&key), seg(last as usize % 8)).await.status(), StatusCode::OK);
    let in_flight = put(&relay, &c, &id, &(last + 1).to_string(), Some(&key), seg((last as usize + 1) % 8)).await.status();
    assert_eq!(in_flight, if stored == acked.len() { StatusCode::CREATED } else { StatusCode::OK });
    assert_eq!(put(&relay, &c, &id, &(last + 2).to_string(), Some(&key), seg((last as usize + 2) % 8)).await.status(), StatusCode::CREATED);
    assert_eq!(c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth(&key).send().await.unwrap().status(), StatusCode::OK);
    let vod = playlist(&relay, &c, &id).await;
    let seqs: Vec<u32> = vod.segments.iter().map(|s| s.uri.trim_end_matches(".ts").parse().unwrap()).collect();
    for seq in acked.iter().chain([3, last + 1, last + 2].iter()) {
        assert!(seqs.contains(seq), "segment {seq} missing from {seqs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_open(dir.path(), &[]);
    let c = client();
    create(&relay, &c).await;
    let status = tokio::task::block_in_place(|| relay.terminate(Duration::from_secs(10)));
    assert!(status.success(), "{status:?}");
    assert!(relay.logs().contains("SIGTERM"), "{}", relay.logs());
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_livecast-relay")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--open",
        "--admin-token",
        "--max-segment-bytes",
        "--window-segments",
        "--static-dir",
        "--request-timeout-secs",
        "--public-url",
        "LIVECAST_RELAY_DATA_DIR",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}:\n{help}");
    }
}

#[test]
fn refuses_to_start_without_a_way_to_create_streams() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_livecast-relay"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("LIVECAST_RELAY_OPEN")
        .env_remove("LIVECAST_RELAY_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-token"));
}
