//! Several relays, one service: two real `livecast-relay` processes on one PostgreSQL
//! database (`--database postgres://…`, a server started by the test) and one Garage bucket
//! (`--storage s3://…`). A stream created on one is served by the other; uploads land on
//! either and stay idempotent (`200` for the same bytes again, `409` for others, even across
//! relays); each relay's playlists show the other's segments at once (LISTEN/NOTIFY); one
//! relay killed with SIGKILL loses no acknowledged segment; PostgreSQL stopped mid-stream
//! makes uploads `503 database_unavailable` with `Retry-After`, never a false `2xx`, and the
//! stream goes on once it is back. Behind HAProxy (`deploy/haproxy/livecast-relays.cfg`), a
//! relay killed mid-broadcast costs the broadcaster a retry and the viewers nothing.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::garage::Garage;
use common::{client, error_code, playlist_uris, seg, Relay};
use reqwest::StatusCode;
use serde_json::Value;

#[path = "../src/test_postgres.rs"]
mod test_postgres;

/// A relay on `database` and `garage`'s bucket, its own data directory under `dir`.
fn start_relay(dir: &Path, database: &str, garage: &Garage) -> Relay {
    std::fs::create_dir_all(dir).unwrap();
    let data = dir.join("data").display().to_string();
    let s3 = garage.relay_args();
    // A window that holds the whole test stream, so that the playlist lists every segment.
    let mut args: Vec<&str> = vec!["--data-dir", &data, "--open", "--database", database, "--window-segments", "20"];
    args.extend(s3.iter().map(String::as_str));
    let env = garage.relay_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Relay::start_with_env(dir, &args, &env)
}

async fn put(relay: &Relay, c: &reqwest::Client, id: &str, seq: u32, key: &str, body: Vec<u8>) -> reqwest::Response {
    c.put(relay.url(&format!("/live/{id}/{seq}.ts"))).bearer_auth(key).body(body).send().await.expect("upload")
}


/// How long until `relay`'s playlist of `id` lists `uri` (polled every 5 ms, at most 5 s).
async fn until_listed(relay: &Relay, c: &reqwest::Client, id: &str, uri: &str) -> Duration {
    let start = Instant::now();
    loop {
        if playlist_uris(relay, c, id).await.iter().any(|u| u == uri) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{uri} never appeared on {}", relay.base);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_on_one_postgres_and_one_bucket_serve_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let pg = tokio::task::spawn_blocking(test_postgres::Postgres::start).await.unwrap();
    let database = pg.database();
    let (mut a, b) = (start_relay(&dir.path().join("a"), &database, &garage), start_relay(&dir.path().join("b"), &database, &garage));
    let c = client();

    // Created on A, known to B (its key too).
    let res = c.post(a.url("/api/streams")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let (id, key) = (v["id"].as_str().unwrap().to_owned(), v["streamKey"].as_str().unwrap().to_owned());
    let status = c.get(b.url(&format!("/api/streams/{id}"))).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    assert_eq!(put(&b, &c, &id, 0, "wrong-key", seg(0)).await.status(), StatusCode::UNAUTHORIZED);

    // Uploads alternate between the relays; each relay lists the other's at once.
    let mut heard = Vec::new();
    for seq in 0..4u32 {
        let (to, other) = if seq % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(put(to, &c, &id, seq, &key, seg(seq as usize)).await.status(), StatusCode::CREATED, "seq {seq}");
        heard.push(until_listed(other, &c, &id, &format!("{seq}.ts")).await);
    }
    // "Current within one segment": these segments are 1 s long.
    let slowest = heard.iter().max().copied().unwrap();
    eprintln!("the other relay listed each segment after {heard:?}");
    assert!(slowest < Duration::from_secs(1), "a relay listed the other's segment after {slowest:?}");
    assert_eq!(playlist_uris(&a, &c, &id).await, playlist_uris(&b, &c, &id).await);

    // A retry sent to the other relay is a duplicate; other bytes are a conflict there too.
    let again = put(&b, &c, &id, 0, &key, seg(0)).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);
    let other = put(&b, &c, &id, 0, &key, seg(5)).await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(other).await, "segment_conflict");
    // The same new segment sent to both at once (a retry racing the original): one stores
    // it, the other answers that it is there, and both answers are successes.
    let (x, y) = tokio::join!(put(&a, &c, &id, 4, &key, seg(4)), put(&b, &c, &id, 4, &key, seg(4)));
    let mut codes = [x.status().as_u16(), y.status().as_u16()];
    codes.sort();
    assert_eq!(codes, [200, 201]);

    // A is killed mid-broadcast: the broadcast goes on through B, nothing acknowledged lost.
    a.kill9();
    for seq in 5..7u32 {
        assert_eq!(put(&b, &c, &id, seq, &key, seg(seq as usize)).await.status(), StatusCode::CREATED, "seq {seq}");
    }
    let listed = playlist_uris(&b, &c, &id).await;
    assert_eq!(listed, (0..7).map(|s| format!("{s}.ts")).collect::<Vec<_>>());
    for seq in 0..7usize {
        let got = c.get(b.url(&format!("/hls/{id}/{seq}.ts"))).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap(), seg(seq), "segment {seq} from B");
    }

    // PostgreSQL stops: an upload is 503 with Retry-After, never a false 2xx.
    let pg = std::sync::Arc::new(pg);
    let stopper = std::sync::Arc::clone(&pg);
    tokio::task::spawn_blocking(move || stopper.stop()).await.unwrap();
    let started = Instant::now();
    let down = put(&b, &c, &id, 7, &key, seg(7)).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", b.logs());
    assert_eq!(down.headers()["retry-after"], "2");
    assert_eq!(error_code(down).await, "database_unavailable");
    assert!(started.elapsed() < Duration::from_secs(15), "the 503 took {:?}", started.elapsed());
    // Back: the broadcaster's retry of the same segment is stored.
    let starter = std::sync::Arc::clone(&pg);
    tokio::task::spawn_blocking(move || starter.run()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = put(&b, &c, &id, 7, &key, seg(7)).await;
        match res.status() {
            StatusCode::CREATED => break,
            StatusCode::SERVICE_UNAVAILABLE if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("after the restart: {other} {}", b.logs()),
        }
    }
    assert_eq!(playlist_uris(&b, &c, &id).await.len(), 8);
}

/// HAProxy with the shipped `deploy/haproxy/livecast-relays.cfg`, in front of `relays`;
/// killed when dropped.
struct Haproxy {
    child: std::process::Child,
    base: String,
}

impl Haproxy {
    fn start(dir: &Path, relays: [&Relay; 2]) -> Haproxy {
        let bin = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .into_iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| "haproxy".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/haproxy/livecast-relays.cfg");
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = std::process::Command::new(bin)
            .args(["-db", "-f"])
            .arg(&config)
            .env("LIVECAST_HAPROXY_LISTEN", format!("127.0.0.1:{port}"))
            .env("LIVECAST_RELAY_1", relays[0].addr.to_string())
            .env("LIVECAST_RELAY_2", relays[1].addr.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("haproxy must be installed to run this test (scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Haproxy { child, base: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Uploads a segment as the broadcaster does: the same bytes again after a failed or `5xx`
/// answer (a few times, 100 ms apart); the final status and how many tries it took.
async fn upload_with_retries(c: &reqwest::Client, url: &str, key: &str, body: &[u8]) -> (StatusCode, u32) {
    let mut tries = 0;
    loop {
        tries += 1;
        match c.put(url).bearer_auth(key).body(body.to_vec()).send().await {
            Ok(res) if !res.status().is_server_error() => return (res.status(), tries),
            Ok(res) if tries >= 20 => return (res.status(), tries),
            Err(e) if tries >= 20 => panic!("{url}: {e}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_a_relay_killed_mid_broadcast_loses_no_acknowledged_segment() {
    let dir = tempfile::tempdir().unwrap();
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let database = tokio::task::spawn_blocking(|| test_postgres::server().database()).await.unwrap();
    let mut a = start_relay(&dir.path().join("a"), &database, &garage);
    let b = start_relay(&dir.path().join("b"), &database, &garage);
    let lb = Haproxy::start(dir.path(), [&a, &b]);
    let c = client();
    let res = c.post(format!("{}/api/streams", lb.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let (id, key) = (v["id"].as_str().unwrap().to_owned(), v["streamKey"].as_str().unwrap().to_owned());

    // A viewer polls the playlist through HAProxy the whole time and notes the newest segment
    // it has seen, and when.
    let viewer = {
        let (c, url) = (c.clone(), format!("{}/hls/{id}/index.m3u8", lb.base));
        tokio::spawn(async move {
            let mut seen: Vec<(Instant, usize)> = Vec::new();
            let mut errors = 0;
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(60) {
                match c.get(&url).send().await {
                    Ok(res) if res.status() == StatusCode::OK => {
                        let text = res.bytes().await.unwrap_or_default();
                        if let Ok(m3u8_rs::Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(&text) {
                            if seen.last().is_none_or(|(_, n)| *n != p.segments.len()) {
                                seen.push((Instant::now(), p.segments.len()));
                            }
                            if p.segments.len() == 8 {
                                break;
                            }
                        }
                    }
                    _ => errors += 1,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (seen, errors)
        })
    };

    let mut acknowledged = Vec::new();
    let mut retried = 0;
    let mut killed_at = None;
    for seq in 0..8u32 {
        if seq == 4 {
            // Killed while the broadcast runs, half-way through receiving this segment (sent
            // to it directly, so that it is surely the one cut off); HAProxy's health check
            // has not noticed yet. The broadcaster gets no answer and sends it again.
            use std::io::{Read, Write};
            let body = seg(4);
            let mut conn = std::net::TcpStream::connect(a.addr).unwrap();
            let head = format!(
                "PUT /live/{id}/4.ts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).unwrap();
            conn.write_all(&body[..body.len() / 2]).unwrap();
            a.kill9();
            killed_at = Some(Instant::now());
            let mut answer = Vec::new();
            let _ = conn.read_to_end(&mut answer);
            assert!(answer.is_empty(), "the killed relay answered {:?}", String::from_utf8_lossy(&answer));
            retried += 1;
        }
        let url = format!("{}/live/{id}/{seq}.ts", lb.base);
        let (status, tries) = upload_with_retries(&c, &url, &key, &seg(seq as usize)).await;
        assert!(status == StatusCode::CREATED || status == StatusCode::OK, "seq {seq}: {status}");
        retried += tries - 1;
        acknowledged.push(seq);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (seen, viewer_errors) = viewer.await.unwrap();
    eprintln!("upload retries {retried}; viewer errors {viewer_errors}; playlist lengths seen {:?}", seen.iter().map(|s| s.1).collect::<Vec<_>>());
    // Every acknowledged segment is listed and served, byte for byte, through HAProxy.
    let res = c.get(format!("{}/hls/{id}/index.m3u8", lb.base)).send().await.unwrap();
    let text = res.bytes().await.unwrap();
    let Ok(m3u8_rs::Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(&text) else { panic!("playlist") };
    let uris: Vec<String> = p.segments.iter().map(|s| s.uri.clone()).collect();
    assert_eq!(uris, acknowledged.iter().map(|s| format!("{s}.ts")).collect::<Vec<_>>());
    for seq in &acknowledged {
        let got = c.get(format!("{}/hls/{id}/{seq}.ts", lb.base)).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap(), seg(*seq as usize), "segment {seq}");
    }
    // The viewer's playlist kept advancing after the kill, up to the last segment.
    let killed_at = killed_at.unwrap();
    let after: Vec<usize> = seen.iter().filter(|(t, _)| *t > killed_at).map(|(_, n)| *n).collect();
    assert!(after.len() >= 3, "the viewer's playlist advanced only {after:?} after the kill");
    assert_eq!(seen.last().map(|s| s.1), Some(8));
    // HAProxy sent the viewer's requests that met the dead relay to the other one.
    assert_eq!(viewer_errors, 0, "the viewer saw errors");
}
