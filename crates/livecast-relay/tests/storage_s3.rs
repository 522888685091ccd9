//! The relay with `--storage s3://…` against a real single-node Garage on 127.0.0.1
//! (`tests/common/garage.rs`): uploads are objects in the bucket before the `2xx`, retries
//! stay idempotent and conflicts `409`, HLS (with `Range`) is served from the cache and from
//! the bucket after a restart, renditions from a real transcoder land in the bucket, and a
//! Garage that is down makes uploads `503` with `Retry-After` (never a false `2xx`) while
//! playlists keep working, until it is back.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::garage::Garage;
use common::{big_segment, client, create, error_code, playlist_uris, rss_mib, seg, segments, tree, Relay};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use reqwest::StatusCode;
use serde_json::Value;

/// The relay on `garage`'s bucket, its database under `dir/data`, plus `extra` flags.
fn start_relay(dir: &Path, garage: &Garage, extra: &[&str]) -> Relay {
    let data = dir.join("data").display().to_string();
    let s3 = garage.relay_args();
    let mut args: Vec<&str> = vec!["--data-dir", &data, "--open"];
    args.extend(s3.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let env = garage.relay_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Relay::start_with_env(dir, &args, &env)
}

async fn put(relay: &Relay, c: &reqwest::Client, id: &str, seq: u32, key: &str, body: Vec<u8>) -> reqwest::Response {
    c.put(relay.url(&format!("/live/{id}/{seq}.ts"))).bearer_auth(key).body(body).send().await.expect("upload")
}

async fn object(store: &Arc<dyn ObjectStore>, key: &str) -> Option<Vec<u8>> {
    match store.get(&ObjectPath::from(key)).await {
        Ok(r) => Some(r.bytes().await.expect("object body").to_vec()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("GET {key}: {e}"),
    }
}



/// Waits up to `secs` for `what` in the relay's log.
async fn wait_log(relay: &Relay, what: &str, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !relay.logs().contains(what) {
        assert!(tokio::time::Instant::now() < deadline, "no {what:?} in the relay log within {secs} s:\n{}", relay.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_objects_in_the_bucket_before_the_answer_and_are_served_with_ranges() {
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(dir.path(), &garage, &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let store = garage.store();

    for i in 0..4u32 {
        let res = put(&relay, &c, &id, i, &key, seg(i as usize)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        // The 201 came after the object: it is in the bucket, byte for byte, now.
        assert_eq!(object(&store, &format!("{id}/{i}.ts")).await.as_deref(), Some(&seg(i as usize)[..]), "seq {i}");
    }
    // Nothing on the relay's disk but the database.
    assert!(tree(&dir.path().join("data")).iter().all(|f| f.starts_with("relay.db")), "{:?}", tree(&dir.path().join("data")));

    // A retry is idempotent; other bytes for a stored seq are 409, and the object stays.
    let res = put(&relay, &c, &id, 1, &key, seg(1)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["duplicate"], true);
    let res = put(&relay, &c, &id, 1, &key, seg(5)).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(res).await, "segment_conflict");
    assert_eq!(object(&store, &format!("{id}/1.ts")).await.as_deref(), Some(&seg(1)[..]));

    assert_eq!(playlist_uris(&relay, &c, &id).await, ["0.ts", "1.ts", "2.ts", "3.ts"]);
    let url = relay.url(&format!("/hls/{id}/2.ts"));
    let res = c.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "video/mp2t");
    assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(res.bytes().await.unwrap(), seg(2));
    let whole = seg(2);
    let n = whole.len();
    let res = c.get(&url).header("Range", "bytes=188-375").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["content-range"], format!("bytes 188-375/{n}").as_str());
    assert_eq!(res.bytes().await.unwrap(), whole[188..376]);
    let res = c.get(&url).header("Range", "bytes=-100").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap(), whole[n - 100..]);
    let res = c.get(&url).header("Range", format!("bytes={n}-")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()["content-range"], format!("bytes */{n}").as_str());
    let res = c.get(&url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = c.head(&url).send().await.unwrap();
    assert_eq!((res.status(), res.headers()["content-length"].to_str().unwrap()), (StatusCode::OK, n.to_string().as_str()));
    assert_eq!(c.get(relay.url(&format!("/hls/{id}/9.ts"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // The start-up probe found out what Garage does with If-None-Match on PUT.
    wait_log(&relay, "object store reachable", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_of_one_seq_store_one_segment() {
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(dir.path(), &garage, &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let store = garage.store();

    let (a, b) = tokio::join!(put(&relay, &c, &id, 0, &key, seg(0)), put(&relay, &c, &id, 0, &key, seg(0)));
    let mut got = [a.status(), b.status()];
    got.sort();
    assert_eq!(got, [StatusCode::OK, StatusCode::CREATED], "the same bytes twice at once: one stored, one duplicate");

    let (a, b) = tokio::join!(put(&relay, &c, &id, 1, &key, seg(1)), put(&relay, &c, &id, 1, &key, seg(2)));
    let (sa, sb) = (a.status(), b.status());
    let winner = match (sa, sb) {
        (StatusCode::CREATED, StatusCode::CONFLICT) => seg(1),
        (StatusCode::CONFLICT, StatusCode::CREATED) => seg(2),
        other => panic!("other bytes at once: one 201 and one 409, got {other:?}"),
    };
    assert_eq!(object(&store, &format!("{id}/1.ts")).await, Some(winner.clone()), "the bucket has what was acknowledged");
    assert_eq!(c.get(relay.url(&format!("/hls/{id}/1.ts"))).send().await.unwrap().bytes().await.unwrap(), winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_relay_serves_every_segment_from_the_bucket() {
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_relay(dir.path(), &garage, &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    for (i, data) in segments().iter().enumerate() {
        assert_eq!(put(&relay, &c, &id, i as u32, &key, data.clone()).await.status(), StatusCode::CREATED);
    }
    relay.kill9();

    // No cache at all: every read is streamed from Garage.
    let relay = start_relay(dir.path(), &garage, &["--segment-cache-bytes", "0"]);
    assert!(relay.logs().contains("s3://segments at http://127.0.0.1:"), "{}", relay.logs());
    for (i, data) in segments().iter().enumerate() {
        let res = c.get(relay.url(&format!("/hls/{id}/{i}.ts"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "seq {i}");
        assert_eq!(res.bytes().await.unwrap(), *data, "seq {i}");
    }
    let res = c.get(relay.url(&format!("/hls/{id}/3.ts"))).header("Range", "bytes=376-").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap(), seg(3)[376..]);
    assert_eq!(put(&relay, &c, &id, 1, &key, seg(1)).await.status(), StatusCode::OK, "a retry after the restart");
    let res = c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // ffmpeg plays the VOD, every segment streamed from the bucket.
    let url = relay.url(&format!("/hls/{id}/index.m3u8"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["60", "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames,codec_name", "-of", "default=nw=1", &url])
            .output()
            .expect("ffprobe")
    })
    .await
    .unwrap();
    let probe = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "", "ffprobe reported errors");
    assert!(probe.contains("codec_name=h264") && probe.contains("nb_read_frames=240"), "{probe}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_is_503_with_retry_after_and_never_a_false_2xx() {
    let mut garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(dir.path(), &garage, &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    assert_eq!(put(&relay, &c, &id, 0, &key, seg(0)).await.status(), StatusCode::CREATED);

    garage.kill();
    let started = std::time::Instant::now();
    let res = put(&relay, &c, &id, 1, &key, seg(1)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(error_code(res).await, "storage_unavailable");
    assert!(started.elapsed() < Duration::from_secs(20), "a refused connection fails fast: {:?}", started.elapsed());
    assert!(relay.logs().contains("object store request failed"), "{}", relay.logs());
    // Nothing was acknowledged: the playlist and the status still have one segment, and the
    // cached segment is still served.
    assert_eq!(playlist_uris(&relay, &c, &id).await, ["0.ts"]);
    let status: Value = c.get(relay.url(&format!("/api/streams/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["segments"], 1);
    let res = c.get(relay.url(&format!("/hls/{id}/0.ts"))).send().await.unwrap();
    assert_eq!((res.status(), res.bytes().await.unwrap()), (StatusCode::OK, seg(0).into()));
    assert_eq!(c.get(relay.url(&format!("/hls/{id}/1.ts"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    garage.restart();
    let res = put(&relay, &c, &id, 1, &key, seg(1)).await;
    assert_eq!(res.status(), StatusCode::CREATED, "after Garage is back");
    assert_eq!(object(&garage.store(), &format!("{id}/1.ts")).await, Some(seg(1)));
    assert_eq!(playlist_uris(&relay, &c, &id).await, ["0.ts", "1.ts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_started_while_the_store_is_down_serves_playlists_and_answers_503() {
    let mut garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_relay(dir.path(), &garage, &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    assert_eq!(put(&relay, &c, &id, 0, &key, seg(0)).await.status(), StatusCode::CREATED);
    relay.kill9();
    garage.kill();

    let relay = start_relay(dir.path(), &garage, &[]);
    wait_log(&relay, "object store not reachable at start-up", 30).await;
    assert_eq!(playlist_uris(&relay, &c, &id).await, ["0.ts"]);
    let res = c.get(relay.url(&format!("/hls/{id}/master.m3u8"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the master playlist without the source's SPS");
    assert!(res.text().await.unwrap().contains("index.m3u8"));
    let res = c.get(relay.url(&format!("/hls/{id}/0.ts"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "not cached, store down");
    assert_eq!(res.headers()["retry-after"], "2");
    let res = put(&relay, &c, &id, 1, &key, seg(1)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    garage.restart();
    assert_eq!(put(&relay, &c, &id, 1, &key, seg(1)).await.status(), StatusCode::CREATED);
    let res = c.get(relay.url(&format!("/hls/{id}/0.ts"))).send().await.unwrap();
    assert_eq!((res.status(), res.bytes().await.unwrap()), (StatusCode::OK, seg(0).into()));
}

/// What the README and `storage::object` say about Garage 2.5: it ignores `If-None-Match: *`
/// on `PutObject` and replaces the object (so the relay's row check is the guard). If a newer
/// Garage honours it, this fails: update both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_ignores_if_none_match_on_put_object() {
    let garage = Garage::start();
    let store = garage.store();
    let path = ObjectPath::from("probe/x");
    let create = || PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    store.put_opts(&path, PutPayload::from_static(b"one"), create()).await.expect("first create");
    let second = store.put_opts(&path, PutPayload::from_static(b"two"), create()).await;
    assert!(second.is_ok(), "Garage now refuses a second conditional create: {second:?}; update the docs");
    assert_eq!(object(&store, "probe/x").await.as_deref(), Some(&b"two"[..]), "Garage replaced the object");
}

/// Two 1-second 640x360 segments (a 240p rendition fits them).
fn segments_360p() -> &'static [Vec<u8>] {
    static SEGMENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEGMENTS.get_or_init(|| common::ffmpeg_segments("640x360", 2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renditions_from_a_real_transcoder_go_to_the_bucket() {
    use common::transcoder::{discover_first, put_transcoded, Transcoder};
    use livecast_protocol::profile::P240P30FPS16X9;

    let garage = Garage::start();
    let node = Transcoder::start();
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(dir.path(), &garage, &["--transcoder", &node.uri]);
    let c = client();
    let (id, stream_key) = create(&relay, &c).await;
    let key = livecast_protocol::NodeKey::generate().unwrap();
    let info = discover_first(&relay, &c, &key).await;
    let store = garage.store();
    let profile = P240P30FPS16X9.name.to_string();
    for (seq, source) in segments_360p().iter().enumerate() {
        let seq = seq as u32;
        let (status, v) =
            put_transcoded(&relay, &c, (&id, &stream_key), (seq, source), &key, (&node.uri, &info), &[P240P30FPS16X9]).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(v["renditions"][0]["profile"], profile.as_str(), "{v}");
        let stored = object(&store, &format!("{id}/{profile}/{seq}.ts")).await.expect("the rendition is in the bucket");
        assert_eq!(stored.len() as u64, v["renditions"][0]["bytes"].as_u64().unwrap());
        let served = c.get(relay.url(&format!("/hls/{id}/{profile}/{seq}.ts"))).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.bytes().await.unwrap(), stored);
    }
    let res = c.get(relay.url(&format!("/hls/{id}/master.m3u8"))).send().await.unwrap();
    assert!(res.text().await.unwrap().contains(&format!("{profile}/index.m3u8")));
    // The relay's disk has only the database.
    assert!(tree(&dir.path().join("data")).iter().all(|f| f.starts_with("relay.db")), "{:?}", tree(&dir.path().join("data")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_stop_reading_a_streamed_object_pin_no_copy_of_it() {
    use std::io::{Read, Write};
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_relay(dir.path(), &garage, &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let big = big_segment().to_vec();
    assert_eq!(put(&relay, &c, &id, 0, &key, big.clone()).await.status(), StatusCode::CREATED);
    let res = c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    relay.kill9();
    // VOD, nothing cached: every GET streams the object from Garage.
    let relay = start_relay(dir.path(), &garage, &["--segment-cache-bytes", "0", "--idle-timeout-secs", "30"]);
    assert_eq!(c.get(relay.url(&format!("/hls/{id}/0.ts"))).send().await.unwrap().bytes().await.unwrap(), big);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_mib(relay.pid());
    let big_mib = big.len() as f64 / (1 << 20) as f64;

    let readers: Vec<std::net::TcpStream> = (0..24)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(relay.addr).expect("connect");
            write!(s, "GET /hls/{id}/0.ts HTTP/1.1\r\nHost: relay\r\n\r\n").expect("write");
            s
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let peak = rss_mib(relay.pid());
    eprintln!("24 stalled readers of a {big_mib:.1} MiB object streamed from Garage: relay rss {before:.1} -> {peak:.1} MiB");
    // Buffered whole, that would be 24 × the segment (about 190 MiB).
    assert!(peak - before < 6.0 * big_mib, "rss {before:.1} -> {peak:.1} MiB for 24 readers of {big_mib:.1} MiB");
    // Each reader still gets the whole segment when it does read.
    let mut first = readers.into_iter().next().expect("a reader");
    first.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    while got.len() < big.len() {
        let n = first.read(&mut buf).expect("read");
        assert!(n > 0, "the body ended after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n").filter(|_| got.starts_with(b"HTTP/")) {
            assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got[..at]));
            got.drain(..at + 4);
        }
    }
    assert_eq!(&got[..big.len()], &big[..]);
}
