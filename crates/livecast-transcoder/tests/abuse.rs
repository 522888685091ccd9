//! Hostile traffic against the real `livecast-transcoder` binary on 127.0.0.1, each attack
//! bounded in count and time: the node's RSS stays under a stated bound, a legitimate
//! broadcaster keeps transcoding during the attack (latency printed), and the node recovers
//! after. The numbers are in the README beside the limits.

mod common;

use base64::Engine;
use livecast_protocol::net::orchestrator_client::OrchestratorClient;
use livecast_protocol::net::{self, OrchestratorInfo, SegData, TranscodeResult};
use livecast_protocol::profile::P144P30FPS16X9;
use livecast_protocol::{discovery, segment, NodeKey, Profile};
use prost::Message;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::Node;

impl Node {
    fn start(extra: &[&str]) -> Node {
        // The idle deadline stays at its default (60 s): over the 5 s drain, the 10 s stall
        // deadline and the longest transcode here (the node sends nothing while it
        // transcodes, and tests run side by side on a loaded machine).
        let mut args = vec!["--header-timeout-secs", "2"];
        args.extend_from_slice(extra);
        Node::start_with(&args, "error")
    }

    /// (current, peak) resident memory, MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{name} in {status}"))
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

fn key() -> NodeKey {
    NodeKey::from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap()
}

async fn get_orchestrator(node: &Node, key: &NodeKey) -> OrchestratorInfo {
    let mut client = OrchestratorClient::connect(node.url()).await.unwrap();
    client.get_orchestrator(discovery::orchestrator_request(key).unwrap()).await.unwrap().into_inner()
}

fn seg_data(key: &NodeKey, info: &OrchestratorInfo, seq: i64, body: &[u8], profiles: &[Profile]) -> SegData {
    let mut seg = segment::new_seg_data(key, b"abuse", seq, 1000, body, profiles).unwrap();
    seg.auth_token = info.auth_token.clone();
    seg.sig = segment::sign_seg_data(key, &seg).unwrap().to_vec();
    seg
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Posts a segment; (status, body, ms).
async fn post(node: &Node, seg: &SegData, body: Vec<u8>) -> (u16, Vec<u8>, u128) {
    let started = Instant::now();
    let res = client()
        .post(format!("{}/segment", node.url()))
        .header("Livepeer-Segment", b64(&seg.encode_to_vec()))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.bytes().await.unwrap().to_vec();
    (status, body, started.elapsed().as_millis())
}

/// A legitimate segment transcoded to 144p: asserts the result has data; its latency, ms.
async fn legit(node: &Node, info: &OrchestratorInfo, seq: i64) -> u128 {
    let body = small().to_vec();
    let seg = seg_data(&key(), info, seq, &body, &[P144P30FPS16X9]);
    let (status, reply, ms) = post(node, &seg, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let result = TranscodeResult::decode(reply.as_slice()).unwrap();
    assert!(matches!(result.result, Some(net::transcode_result::Result::Data(_))), "{:?}", result.result);
    ms
}

/// 1 s of 320x240 at 30 fps.
fn small() -> &'static [u8] {
    static S: OnceLock<Vec<u8>> = OnceLock::new();
    S.get_or_init(|| common::ffmpeg_segment("320x240", 1, 30))
}

/// A raw POST /segment that declares `len` bytes and sends `len - 1`, then stalls.
fn stalled_post(addr: &str, segment_header: &str, len: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "POST /segment HTTP/1.1\r\nHost: node\r\nLivepeer-Segment: {segment_header}\r\nContent-Length: {len}\r\n\r\n").unwrap();
    s
}

fn status_of(s: &mut TcpStream, within: Duration) -> String {
    s.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).split(' ').nth(1).unwrap_or("none").to_owned()
}

#[test]
fn garbage_headers_pin_no_memory_and_stalled_uploads_take_no_transcode_slot() {
    let node = Node::start(&["--max-concurrent", "2", "--max-segment-bytes", "33554432"]);
    runtime().block_on(async {
        let info = get_orchestrator(&node, &key()).await;
        legit(&node, &info, 0).await;
        let (before, _) = node.rss_mib();

        // 1. Four uploads with a garbage Livepeer-Segment, each sending 16 MiB one byte short.
        let addr = node.addr.clone();
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let len = 16 << 20;
                    let mut s = stalled_post(&addr, "Z2FyYmFnZQ==", len);
                    let chunk = vec![0x47u8; 1 << 20];
                    for _ in 0..15 {
                        if s.write_all(&chunk).is_err() {
                            return s;
                        }
                    }
                    let _ = s.write_all(&chunk[..chunk.len() - 1]);
                    s
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ms = legit(&node, &info, 1).await;
        let (during, _) = node.rss_mib();
        let started = Instant::now();
        let statuses: Vec<String> = senders.into_iter().map(|h| status_of(&mut h.join().unwrap(), Duration::from_secs(15))).collect();
        eprintln!(
            "4 garbage-header uploads of 16 MiB: rss {before:.1} -> {during:.1} MiB, legit transcode {ms} ms, refused {statuses:?} within {:?}",
            started.elapsed()
        );
        assert!(statuses.iter().all(|s| s == "403"), "{statuses:?}");
        // Before: the bodies were buffered, +64 MiB.
        assert!(during < before + 24.0, "rss {before:.1} -> {during:.1} MiB");

        // 2. Two validly signed uploads stall one byte short; the transcode slots (2) stay
        // free for a real broadcaster.
        let big: Vec<u8> = small().iter().copied().cycle().take(4 << 20).collect();
        let seg = seg_data(&key(), &info, 5, &big, &[P144P30FPS16X9]);
        let header = b64(&seg.encode_to_vec());
        let mut stalled: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut s = stalled_post(&addr, &header, big.len());
                s.write_all(&big[..big.len() - 1]).unwrap();
                s
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut worst = 0;
        for seq in 2..5 {
            worst = worst.max(legit(&node, &info, seq).await);
        }
        eprintln!("2 stalled signed uploads: legit transcodes still succeed, worst {worst} ms");
        // The stalled bodies are refused at the stall deadline (10 s): 408.
        for s in &mut stalled {
            assert_eq!(status_of(s, Duration::from_secs(20)), "408");
        }
        let (after, _) = node.rss_mib();
        eprintln!("after: rss {after:.1} MiB");
        assert!(after < before + 32.0, "rss after {after:.1} MiB");
        legit(&node, &info, 6).await;
    });
}

#[test]
fn slowloris_and_idle_connections_are_closed() {
    let node = Node::start(&[]);
    let mut socks: Vec<TcpStream> = (0..10)
        .map(|i| {
            let mut s = TcpStream::connect(&node.addr).unwrap();
            if i % 2 == 0 {
                s.write_all(b"POST /segment HTTP/1.1\r\nHost: node\r\nLivepeer-Seg").unwrap();
            }
            s
        })
        .collect();
    let started = Instant::now();
    for s in &mut socks {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(n == 0 || buf.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    }
    let took = started.elapsed();
    eprintln!("10 slowloris/idle connections closed within {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn decode_budget_refuses_before_decoding_and_frames_are_streamed() {
    // 320 × 240 × 30 = 2,304,000: one second fits, two do not.
    let node = Node::start(&["--max-decode-pixels", "2304000"]);
    runtime().block_on(async {
        let info = get_orchestrator(&node, &key()).await;
        legit(&node, &info, 0).await;
        let two = common::ffmpeg_segment("320x240", 2, 60);
        let seg = seg_data(&key(), &info, 1, &two, &[P144P30FPS16X9]);
        let (status, body, ms) = post(&node, &seg, two).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 422, "{text}");
        assert!(text.contains("60 frames of 320x240") && text.contains("--max-decode-pixels"), "{text}");
        eprintln!("over the decode budget: 422 in {ms} ms: {}", text.trim());
    });
    drop(node);

    // 120 frames of 640x360 (a held-frames design keeps 120 × 345,600 B = 40 MiB of pictures).
    let node = Node::start(&[]);
    runtime().block_on(async {
        let info = get_orchestrator(&node, &key()).await;
        legit(&node, &info, 0).await;
        let (_, peak_before) = node.rss_mib();
        let long = common::ffmpeg_segment("640x360", 4, 120);
        let seg = seg_data(&key(), &info, 1, &long, &[P144P30FPS16X9]);
        let (status, body, ms) = post(&node, &seg, long).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let result = TranscodeResult::decode(body.as_slice()).unwrap();
        let Some(net::transcode_result::Result::Data(data)) = result.result else { panic!("{:?}", result.result) };
        assert_eq!(data.segments[0].pixels, 256 * 144 * 120);
        let (_, peak_after) = node.rss_mib();
        eprintln!("120 frames of 640x360 streamed in {ms} ms: peak rss {peak_before:.1} -> {peak_after:.1} MiB");
        assert!(peak_after < peak_before + 24.0, "peak rss {peak_before:.1} -> {peak_after:.1} MiB");
    });
}
