//! Hostile traffic against the real `livecast-relay` binary on 127.0.0.1, each attack
//! bounded in count and time: the relay's RSS stays under a stated bound, a legitimate
//! broadcaster and viewer keep working during the attack (their latency is measured and
//! printed), and the relay recovers after. The numbers are in the README beside the limits.
//!
//! Deadlines are shortened by flags so the suite runs in seconds; margins are generous for a
//! loaded 2-core machine.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{big_segment, client, create, rss_mib, seg, start_open, Relay};
use reqwest::StatusCode;
use serde_json::Value;

/// The relay with short deadlines so attacks end within seconds.
fn start(dir: &Path, extra: &[&str]) -> Relay {
    let mut args = vec![
        "--header-timeout-secs", "2", "--idle-timeout-secs", "3", "--request-timeout-secs", "20",
        "--max-connections", "64", "--max-uploads", "8", "--max-uploads-per-address", "4",
    ];
    args.extend_from_slice(extra);
    start_open(dir, &args)
}

/// A legitimate broadcaster's upload of `seq` and a viewer's playlist and segment fetch,
/// all successful; returns the slowest of the three, ms.
async fn legit_round(relay: &Relay, c: &reqwest::Client, id: &str, key: &str, seq: usize) -> u128 {
    try_legit_round(relay, c, id, key, seq).await.unwrap_or_else(|e| panic!("{e}"))
}

/// [`legit_round`], a refused or dropped connection an error (while the connection cap is
/// full, new connections are closed on accept). The upload is idempotent: a retry with the
/// same bytes answers `200`.
async fn try_legit_round(relay: &Relay, c: &reqwest::Client, id: &str, key: &str, seq: usize) -> Result<u128, String> {
    let started = Instant::now();
    let url = relay.url(&format!("/live/{id}/{seq}.ts"));
    let res = c.put(&url).bearer_auth(key).body(seg(seq % 8)).send().await.map_err(|e| format!("upload {seq}: {e:?}"))?;
    let status = res.status();
    assert!(status.is_success(), "upload {seq}: {status} {}", res.text().await.unwrap_or_default());
    let upload = started.elapsed().as_millis();
    let t = Instant::now();
    let res = c.get(relay.url(&format!("/hls/{id}/index.m3u8"))).send().await.map_err(|e| format!("playlist: {e:?}"))?;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.map_err(|e| format!("playlist body: {e:?}"))?;
    assert!(text.contains(&format!("{seq}.ts")), "{text}");
    let playlist = t.elapsed().as_millis();
    let t = Instant::now();
    let res = c.get(relay.url(&format!("/hls/{id}/{seq}.ts"))).send().await.map_err(|e| format!("segment {seq}: {e:?}"))?;
    assert_eq!(res.status(), StatusCode::OK);
    let len = res.bytes().await.map_err(|e| format!("segment {seq} body: {e:?}"))?.len();
    assert_eq!(len, seg(seq % 8).len());
    Ok(upload.max(playlist).max(t.elapsed().as_millis()))
}

fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).ok()?;
        match s.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() < within => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// A connection from another loopback address (an attacker that is not the broadcaster).
async fn connect_from(src: &str, addr: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{src}:0").parse().unwrap()).unwrap();
    let s = sock.connect(addr).await.unwrap().into_std().unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_nodelay(true).ok();
    s
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_idle_and_connection_floods_are_cut_and_legit_traffic_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    legit_round(&relay, &c, &id, &key, 0).await;
    let before = rss_mib(relay.pid());

    // 20 header slowloris (half a header, then nothing), 20 silent sockets, and 40 more past
    // the cap of 64.
    let addr = relay.addr;
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"PUT /live/x/1.ts HTTP/1.1\r\nHost: relay\r\nContent-Le").unwrap();
            s
        })
        .collect();
    let mut silent: Vec<TcpStream> = (0..20).map(|_| connect(addr)).collect();
    let flood: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While the cap is full, new connections are closed at once (not left hanging); the
    // slowloris and silent ones go at the header deadline (2 s), and then legit traffic flows.
    let mut worst = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seq = 1;
    let mut last_error = String::new();
    while Instant::now() < deadline && seq < 4 {
        match tokio::time::timeout(Duration::from_secs(3), try_legit_round(&relay, &c, &id, &key, seq)).await {
            Ok(Ok(ms)) => {
                worst = worst.max(ms);
                seq += 1;
            }
            Ok(Err(e)) => {
                last_error = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => last_error = "a round took over 3 s".into(),
        }
    }
    assert_eq!(seq, 4, "the legitimate broadcaster could not upload within 10 s of the flood (last: {last_error})");
    for (what, socks) in [("slowloris", &mut slow), ("silent", &mut silent)] {
        for s in socks.iter_mut() {
            let t = closed_within(s, Duration::from_secs(8)).unwrap_or_else(|| panic!("a {what} connection is still open"));
            assert!(t < Duration::from_secs(8), "{what}: {t:?}");
        }
    }
    drop(flood);
    let during = rss_mib(relay.pid());
    eprintln!("connection flood: rss {before:.1} -> {during:.1} MiB, legit worst latency {worst} ms");
    assert!(during < before + 32.0, "rss {before:.1} -> {during:.1} MiB");

    // An upload on a kept-alive connection after all that works.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ms = legit_round(&relay, &c, &id, &key, 4).await;
    eprintln!("after the flood: legit round {ms} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_and_slow_readers_pin_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let (big_id, big_key) = create(&relay, &c).await;
    let big = big_segment();
    let res = c.put(relay.url(&format!("/live/{big_id}/0.ts"))).bearer_auth(&big_key).body(big.to_vec()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    legit_round(&relay, &c, &id, &key, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_mib(relay.pid());
    let big_mib = big.len() as f64 / (1 << 20) as f64;

    // 24 viewers GET the big segment and never read; from another address, 8 uploads with
    // the right key of the attacker's own stream stall one byte short of the big body (4 get
    // a body slot, the other 4 are over the address's share: 503 at once).
    let (evil_id, evil_key) = create(&relay, &c).await;
    let addr = relay.addr;
    let mut evil = Vec::new();
    for _ in 0..8 {
        evil.push(connect_from("127.0.0.2", addr).await);
    }
    let readers: Vec<TcpStream> = (0..24)
        .map(|_| {
            let mut s = connect(addr);
            write!(s, "GET /hls/{big_id}/0.ts HTTP/1.1\r\nHost: relay\r\n\r\n").unwrap();
            s
        })
        .collect();
    let uploads: Vec<std::thread::JoinHandle<TcpStream>> = evil
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let (id, key) = (evil_id.clone(), evil_key.clone());
            let body = &big[..big.len() - 1];
            let body = body.to_vec();
            std::thread::spawn(move || {
                let head = format!(
                    "PUT /live/{id}/{}.ts HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n",
                    100 + i,
                    body.len() + 1
                );
                s.write_all(head.as_bytes()).unwrap();
                let _ = s.write_all(&body);
                s
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut worst = 0;
    for seq in 1..4 {
        worst = worst.max(legit_round(&relay, &c, &id, &key, seq).await);
    }
    let peak = rss_mib(relay.pid());
    eprintln!(
        "24 stalled readers of a {big_mib:.1} MiB segment + 8 stalled {big_mib:.1} MiB uploads: rss {before:.1} -> {peak:.1} MiB, legit worst latency {worst} ms"
    );
    // Before: +24 × the segment for the readers alone. Now: at most the 4 upload slots'
    // bodies plus buffers.
    assert!(peak < before + 4.0 * big_mib + 32.0, "rss {before:.1} -> {peak:.1} MiB");

    // The stalled uploads end: here the idle deadline (3 s) closes them before the 10 s stall
    // deadline would answer 408 (or the 5 s drain of the 503s ends); the silent readers are
    // closed at the idle deadline too.
    let ended = Instant::now();
    let mut statuses = Vec::new();
    for h in uploads {
        let mut s = h.join().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        statuses.push(text.split(' ').nth(1).unwrap_or("closed").to_owned());
    }
    assert!(statuses.iter().all(|s| ["408", "503", "closed"].contains(&s.as_str())), "{statuses:?}");
    assert!(ended.elapsed() < Duration::from_secs(12), "the stalled uploads lasted {:?} more", ended.elapsed());
    for mut r in readers {
        assert!(closed_within(&mut r, Duration::from_secs(10)).is_some(), "a stalled reader is still connected");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_mib(relay.pid());
    eprintln!("after: rss {after:.1} MiB, uploads {statuses:?}");
    assert!(after < before + 4.0 * big_mib + 32.0, "rss after {after:.1} MiB");
    legit_round(&relay, &c, &id, &key, 4).await;

    // A viewer can still fetch the big segment whole, and by range.
    let res = c.get(relay.url(&format!("/hls/{big_id}/0.ts"))).header("Range", "bytes=188-375").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &big[188..376]);
    let res = c.get(relay.url(&format!("/hls/{big_id}/0.ts"))).send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), big.len());
}

/// The TS packets of `data` with every 33-bit PTS/DTS in a PES header shifted by `delta`
/// ticks for the PES packets from index `from` on.
fn shift_pts(data: &[u8], from: usize, delta: u64) -> Vec<u8> {
    fn read(b: &[u8]) -> u64 {
        (u64::from(b[0] >> 1) & 0x07) << 30 | u64::from(b[1]) << 22 | (u64::from(b[2]) >> 1) << 15 | u64::from(b[3]) << 7 | u64::from(b[4]) >> 1
    }
    fn write(b: &mut [u8], v: u64) {
        b[0] = (b[0] & 0xf1) | (((v >> 30) as u8 & 0x07) << 1);
        b[1] = (v >> 22) as u8;
        b[2] = (((v >> 15) as u8) << 1) | 1;
        b[3] = (v >> 7) as u8;
        b[4] = ((v as u8) << 1) | 1;
    }
    let mut out = data.to_vec();
    let mut pes = 0usize;
    for p in out.chunks_mut(188) {
        let start = p[1] & 0x40 != 0;
        let afc = (p[3] >> 4) & 3;
        let mut i = 4;
        if afc & 2 != 0 {
            i += 1 + p[4] as usize;
        }
        if !start || afc & 1 == 0 || i + 14 > 188 || p[i..i + 3] != [0, 0, 1] || !(0xe0..=0xef).contains(&p[i + 3]) {
            continue;
        }
        if pes >= from {
            let flags = p[i + 7] >> 6;
            if flags & 2 != 0 {
                let v = read(&p[i + 9..]);
                write(&mut p[i + 9..], (v + delta) % (1 << 33));
            }
            if flags == 3 {
                let v = read(&p[i + 14..]);
                write(&mut p[i + 14..], (v + delta) % (1 << 33));
            }
        }
        pes += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implausible_segments_are_422_and_stored_nowhere_and_open_creation_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path(), &["--open-creates-per-minute", "5"]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    for seq in 0..3 {
        legit_round(&relay, &c, &id, &key, seq).await;
    }
    // Wild PTS: the second half of the frames 127,000 s later.
    let wild = shift_pts(&seg(3), 15, 127_000 * 90_000);
    let res = c.put(relay.url(&format!("/live/{id}/3.ts"))).bearer_auth(&key).body(wild).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "implausible_segment");
    assert!(v["error"]["message"].as_str().unwrap().contains("jump"), "{v}");
    let text = c.get(relay.url(&format!("/hls/{id}/index.m3u8"))).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("#EXT-X-TARGETDURATION:1\n") || text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
    assert!(!text.contains("3.ts"), "{text}");
    assert!(!dir.path().join(format!("data/streams/{id}/3.ts")).exists());
    // The same segment with sane timestamps is then accepted.
    legit_round(&relay, &c, &id, &key, 3).await;

    // --open: 5 creations a minute per address (one made above), then 429 with Retry-After.
    let mut codes = Vec::new();
    for _ in 0..8 {
        let res = c.post(relay.url("/api/streams")).send().await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
        }
        codes.push(res.status().as_u16());
    }
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 4, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 4, "{codes:?}");
}

#[test]
fn a_connection_cap_over_the_fd_limit_stops_the_relay_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec \"$0\" --listen 127.0.0.1:0 --open --data-dir {} --max-connections 1000",
            dir.path().display()
        ))
        .arg(env!("CARGO_BIN_EXE_livecast-relay"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-connections 1000") && err.contains("ulimit -n"), "{err}");
}
