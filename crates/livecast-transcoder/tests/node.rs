//! Integration tests against the real `livecast-transcoder` binary on 127.0.0.1:0:
//! gRPC discovery with tonic, segments made by ffmpeg and signed like a go-livepeer
//! broadcaster, renditions checked with ffprobe/ffmpeg, and bad input refused with nothing
//! written.

mod common;

use base64::Engine;
use livecast_protocol::net::orchestrator_client::OrchestratorClient;
use livecast_protocol::net::{self, OrchestratorInfo, Payment, SegData, TranscodeResult, VideoProfile};
use livecast_protocol::profile::{P240P30FPS16X9, P360P30FPS16X9, P480P0, P720P30FPS16X9};
use livecast_protocol::{discovery, result, segment, NodeKey, Profile};
use prost::Message;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::Node;

impl Node {
    fn start(extra: &[&str]) -> Node {
        Node::start_with(extra, "warn")
    }

    /// Files under DATA_DIR/stream.
    fn stored_files(&self) -> usize {
        fn count(p: &Path) -> usize {
            std::fs::read_dir(p).map_or(0, |entries| {
                entries.flatten().map(|e| if e.path().is_dir() { count(&e.path()) } else { 1 }).sum()
            })
        }
        count(&self.dir.path().join("stream"))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn broadcaster() -> NodeKey {
    NodeKey::from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap()
}

async fn get_orchestrator(node: &Node, key: &NodeKey) -> OrchestratorInfo {
    let mut client = OrchestratorClient::connect(node.url()).await.unwrap();
    client.get_orchestrator(discovery::orchestrator_request(key).unwrap()).await.unwrap().into_inner()
}

/// A 2 s 1280x720 30 fps Baseline segment from ffmpeg, made once.
fn source_segment() -> &'static [u8] {
    static SEGMENT: OnceLock<Vec<u8>> = OnceLock::new();
    SEGMENT.get_or_init(|| common::ffmpeg_segment("1280x720", 2, 60))
}

/// A signed SegData for `body` with the token from `info`.
fn seg_data(key: &NodeKey, info: &OrchestratorInfo, seq: i64, body: &[u8], profiles: &[Profile]) -> SegData {
    let mut seg = segment::new_seg_data(key, b"test-stream", seq, 2000, body, profiles).unwrap();
    seg.auth_token = info.auth_token.clone();
    seg.sig = segment::sign_seg_data(key, &seg).unwrap().to_vec();
    seg
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn post(node: &Node, seg: &SegData, payment: Option<&Payment>, body: Vec<u8>) -> (u16, Vec<u8>) {
    let client = client();
    let mut req = client
        .post(format!("{}/segment", node.url()))
        .header("Content-Type", "video/MP2T")
        .header("Livepeer-Segment", b64(&seg.encode_to_vec()))
        .body(body);
    if let Some(p) = payment {
        req = req.header("Livepeer-Payment", b64(&p.encode_to_vec()));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap().to_vec())
}

fn ffprobe(path: &Path) -> (u32, u32, u32) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<u32> = text.lines().next().unwrap_or_default().split(',').map(|x| x.parse().unwrap_or_else(|_| panic!("ffprobe said {text:?}"))).collect();
    (v[0], v[1], v[2])
}

fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(path).args(["-f", "null", "-"]).output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn get_orchestrator_answers_signed_requests_only() {
    let node = Node::start(&["--price-per-unit", "0", "--pixels-per-unit", "1000"]);
    runtime().block_on(async {
        let key = broadcaster();
        let info = get_orchestrator(&node, &key).await;
        assert_eq!(info.transcoder, node.url());
        assert_eq!(info.address.len(), 20);
        let price = info.price_info.unwrap();
        assert_eq!((price.price_per_unit, price.pixels_per_unit), (0, 1000));
        assert_eq!(info.ticket_params.unwrap().recipient, info.address);
        let token = info.auth_token.unwrap();
        assert_eq!(token.session_id.len(), 32, "16 random bytes, in hex");
        assert_eq!(token.token.len(), 32);
        assert!(info.capabilities.unwrap().bitstring[0] & 1 == 1);
        // A request whose signature is not by the address it names is refused.
        let mut forged = discovery::orchestrator_request(&key).unwrap();
        forged.address = NodeKey::generate().unwrap().address().to_vec();
        let mut client = OrchestratorClient::connect(node.url()).await.unwrap();
        let err = client.get_orchestrator(forged).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
    });
}

#[test]
fn transcodes_a_signed_segment_into_a_verified_ladder() {
    let node = Node::start(&[]);
    let source = source_segment().to_vec();
    let work = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let key = broadcaster();
        let info = get_orchestrator(&node, &key).await;
        // 480p0 and the three rungs of the issue; P720p60fps16x9-size profiles larger than
        // the source would be skipped (checked in `larger_profiles_are_skipped`).
        let ladder = [P720P30FPS16X9, P480P0, P360P30FPS16X9, P240P30FPS16X9];
        let seg = seg_data(&key, &info, 42, &source, &ladder);
        let payment = Payment { sender: key.address().to_vec(), ..Default::default() };
        let (status, body) = post(&node, &seg, Some(&payment), source.clone()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let reply = TranscodeResult::decode(body.as_slice()).unwrap();
        assert_eq!(reply.seq, 42);
        let data = match reply.result.unwrap() {
            net::transcode_result::Result::Data(d) => d,
            net::transcode_result::Result::Error(e) => panic!("transcode error: {e}"),
        };
        assert_eq!(data.segments.len(), ladder.len());
        let client = client();
        let mut renditions = Vec::new();
        for (profile, seg) in ladder.iter().zip(&data.segments) {
            assert!(seg.url.starts_with(&format!("{}/stream/", node.url())), "{}", seg.url);
            let res = client.get(&seg.url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let bytes = res.bytes().await.unwrap().to_vec();
            let path: PathBuf = work.path().join(format!("{}.ts", profile.name));
            std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
            let (w, h, frames) = ffprobe(&path);
            assert_eq!((w, h), (profile.width, profile.height), "{}", profile.name);
            assert!(frames.abs_diff(60) <= 1, "{}: {frames} frames", profile.name);
            assert_eq!(seg.pixels, i64::from(w * h * frames), "{}", profile.name);
            let errors = decode_errors(&path);
            assert!(errors.is_empty(), "{}: {errors}", profile.name);
            let kbps = bytes.len() as f64 * 8.0 / (f64::from(frames) / 30.0) / 1000.0;
            let target = f64::from(profile.bitrate_bps) / 1000.0;
            eprintln!("{}: {w}x{h}, {frames} frames, {kbps:.0} kbit/s (target {target:.0})", profile.name);
            assert!((kbps - target).abs() <= 0.35 * target, "{}: {kbps:.0} kbit/s vs {target:.0}", profile.name);
            renditions.push(bytes);
        }
        let address = livecast_protocol::Address::from_slice(&info.address);
        result::verify_renditions(address, renditions.iter().map(Vec::as_slice), &data.sig).unwrap();
        // Renditions keep the source's timeline.
        let src_pts = livecast_core::ts::demux(&source).unwrap()[0].pts;
        for bytes in &renditions {
            assert_eq!(livecast_core::ts::demux(bytes).unwrap()[0].pts, src_pts);
            assert!(livecast_core::ts::demux(bytes).unwrap()[0].keyframe);
        }
    });
}

#[test]
fn larger_profiles_are_skipped_in_place() {
    let node = Node::start(&[]);
    let small = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "1"])
        .args(["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30", "-f", "mpegts", "-"])
        .output()
        .unwrap()
        .stdout;
    runtime().block_on(async {
        let key = broadcaster();
        let info = get_orchestrator(&node, &key).await;
        let seg = seg_data(&key, &info, 1, &small, &[P720P30FPS16X9, P240P30FPS16X9]);
        let (status, body) = post(&node, &seg, None, small.clone()).await;
        assert_eq!(status, 200);
        let Some(net::transcode_result::Result::Data(data)) = TranscodeResult::decode(body.as_slice()).unwrap().result else {
            panic!("no data")
        };
        assert_eq!((data.segments[0].url.as_str(), data.segments[0].pixels), ("", 0));
        let name = data.segments[1].url.rsplit_once("/P240p30fps16x9/").map(|(_, n)| n.to_string()).unwrap_or_default();
        assert!(name.starts_with("1-") && name.ends_with(".ts") && name.len() == "1-".len() + 16 + ".ts".len(), "{}", data.segments[1].url);
        let rendition = reqwest::get(&data.segments[1].url).await.unwrap().bytes().await.unwrap().to_vec();
        let address = livecast_protocol::Address::from_slice(&info.address);
        result::verify_renditions(address, [&[][..], rendition.as_slice()], &data.sig).unwrap();
    });
}

/// A TS segment whose SPS claims `w_mbs` × `h_mbs` macroblocks and `refs` reference frames.
fn absurd_segment(w_mbs: u64, h_mbs: u64, refs: u64) -> Vec<u8> {
    let mut bits: Vec<bool> = Vec::new();
    let put = |bits: &mut Vec<bool>, v: u64, n: u32| (0..n).rev().for_each(|i| bits.push((v >> i) & 1 == 1));
    let ue = |bits: &mut Vec<bool>, v: u64| {
        let code = v + 1;
        let len = 64 - code.leading_zeros();
        put(bits, 0, len - 1);
        put(bits, code, len);
    };
    put(&mut bits, 66, 8);
    put(&mut bits, 0xC0, 8);
    put(&mut bits, 31, 8);
    ue(&mut bits, 0);
    ue(&mut bits, 0);
    ue(&mut bits, 2);
    ue(&mut bits, refs);
    put(&mut bits, 0, 1);
    ue(&mut bits, w_mbs - 1);
    ue(&mut bits, h_mbs - 1);
    put(&mut bits, 0b11, 2);
    put(&mut bits, 0, 2); // no cropping, no VUI
    bits.push(true);
    while !bits.len().is_multiple_of(8) {
        bits.push(false);
    }
    let mut au = vec![0, 0, 0, 1, 0x67];
    au.extend(bits.chunks(8).map(|c| c.iter().fold(0u8, |a, &b| (a << 1) | u8::from(b))));
    au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xCE, 0x38, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21]);
    let mut muxer = livecast_core::ts::TsMuxer::new();
    let mut out = Vec::new();
    muxer.write_tables(&mut out).unwrap();
    muxer.write_access_unit(&au, true, 0, &mut out).unwrap();
    out
}

#[test]
fn bad_segments_are_refused_with_clear_statuses_and_nothing_written() {
    let node = Node::start(&[]);
    let small_node = Node::start(&["--max-segment-bytes", "100000"]);
    let source = source_segment().to_vec();
    runtime().block_on(async {
        let key = broadcaster();
        let info = get_orchestrator(&node, &key).await;
        let good = seg_data(&key, &info, 5, &source, &[P240P30FPS16X9]);
        let me = Payment { sender: key.address().to_vec(), ..Default::default() };

        let check = |what: &str, status: u16, body: &[u8], want: u16, needle: &str| {
            let text = String::from_utf8_lossy(body);
            assert_eq!(status, want, "{what}: {text}");
            assert!(text.contains(needle), "{what}: {text:?} should mention {needle:?}");
        };

        // keccak256(body) != SegData.hash.
        let mut other = source.clone();
        other[1000] ^= 0xff;
        let (s, b) = post(&node, &good, Some(&me), other).await;
        check("hash mismatch", s, &b, 403, "does not match");

        // Signed by another key than the payment's sender.
        let mallory = NodeKey::generate().unwrap();
        let forged = seg_data(&mallory, &info, 5, &source, &[P240P30FPS16X9]);
        let (s, b) = post(&node, &forged, Some(&me), source.clone()).await;
        check("other signer", s, &b, 403, "ErrSegSig");

        // A signed field changed after signing.
        let tampered = SegData { seq: 6, ..good.clone() };
        let (s, b) = post(&node, &tampered, Some(&me), source.clone()).await;
        check("tampered seq", s, &b, 403, "ErrSegSig");

        // Malformed signature (V = 29) and no signature at all.
        let mut bad_v = good.clone();
        bad_v.sig[64] = 29;
        let (s, b) = post(&node, &bad_v, None, source.clone()).await;
        check("bad V", s, &b, 403, "V is 29");
        let unsigned = SegData { sig: vec![], ..good.clone() };
        let (s, b) = post(&node, &unsigned, None, source.clone()).await;
        check("unsigned", s, &b, 403, "no signature");

        // No Livepeer-Segment header; undecodable payment.
        let res = client().post(format!("{}/segment", node.url())).body(source.clone()).send().await.unwrap();
        assert_eq!(res.status(), 403);
        let res = client()
            .post(format!("{}/segment", node.url()))
            .header("Livepeer-Segment", b64(&good.encode_to_vec()))
            .header("Livepeer-Payment", "%%%")
            .body(source.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 402);

        // No auth token, or a forged one.
        let mut no_token = good.clone();
        no_token.auth_token = None;
        no_token.sig = segment::sign_seg_data(&key, &no_token).unwrap().to_vec();
        let (s, b) = post(&node, &no_token, None, source.clone()).await;
        check("no auth token", s, &b, 403, "missing auth token");
        let mut forged_token = good.clone();
        forged_token.auth_token.as_mut().unwrap().expiration += 3600;
        let (s, b) = post(&node, &forged_token, None, source.clone()).await;
        check("forged auth token", s, &b, 403, "invalid auth token");

        // A profile this node does not know.
        let mut unknown = good.clone();
        unknown.full_profiles = vec![VideoProfile { name: "P9000p".into(), width: 9000, height: 5000, bitrate: 1, ..Default::default() }];
        unknown.sig = segment::sign_seg_data(&key, &unknown).unwrap().to_vec();
        let (s, b) = post(&node, &unknown, None, source.clone()).await;
        check("unknown profile", s, &b, 403, "unknown profile \"P9000p\"");

        // Not MPEG-TS (hash and signature right).
        let text = b"this is not a transport stream".to_vec();
        let not_ts = seg_data(&key, &info, 7, &text, &[P240P30FPS16X9]);
        let (s, b) = post(&node, &not_ts, None, text).await;
        check("not TS", s, &b, 422, "not an H.264 MPEG-TS segment");

        // SPS claiming 16384x16384, or 200 reference frames: refused before decoding.
        for (what, ts, needle) in [
            ("absurd size", absurd_segment(1024, 1024, 1), "16384x16384"),
            ("absurd refs", absurd_segment(80, 45, 200), "200 reference frames"),
        ] {
            let seg = seg_data(&key, &info, 8, &ts, &[P240P30FPS16X9]);
            let (s, b) = post(&node, &seg, None, ts).await;
            check(what, s, &b, 422, needle);
        }

        // Larger than the node's limit.
        let small_info = get_orchestrator(&small_node, &key).await;
        let big = seg_data(&key, &small_info, 9, &source, &[P240P30FPS16X9]);
        let (s, b) = post(&small_node, &big, None, source.clone()).await;
        check("oversized", s, &b, 413, "larger than 100000 bytes");

        assert_eq!(node.stored_files() + small_node.stored_files(), 0, "nothing may be written");
    });
    // A priced node needs a TicketBroker to take tickets: without one it does not start.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_livecast-transcoder"))
        .args(["--listen", "127.0.0.1:0", "--price-per-unit", "5", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--price-per-unit 5 needs ticket payments: give --eth-rpc-url and --broker-address"), "{stderr}");
}

/// A refused segment must not poison the sender's connection pool: the refusal arrives whole
/// (not as a reset while the body is still being sent) and the next request on the same
/// client is answered. This is the relay's position when it forwards segments.
#[test]
fn a_refused_segment_leaves_the_senders_connection_pool_usable() {
    let node = Node::start(&[]);
    runtime().block_on(async {
        let key = broadcaster();
        let info = get_orchestrator(&node, &key).await;
        // Large enough that the node answers long before the body has arrived.
        let body: Vec<u8> = source_segment().iter().copied().cycle().take(4 << 20).collect();
        let forged = seg_data(&NodeKey::generate().unwrap(), &info, 1, &body, &[P240P30FPS16X9]);
        let me = Payment { sender: key.address().to_vec(), ..Default::default() };
        let c = client();
        for round in 0..10 {
            let res = c
                .post(format!("{}/segment", node.url()))
                .header("Livepeer-Segment", b64(&forged.encode_to_vec()))
                .header("Livepeer-Payment", b64(&me.encode_to_vec()))
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("round {round}: the refusal did not arrive: {e:?}"));
            assert_eq!(res.status().as_u16(), 403, "round {round}");
            assert_eq!(res.headers()["connection"], "close");
            let text = res.text().await.unwrap();
            assert!(text.contains("ErrSegSig"), "{text}");
        }
    });
}

#[test]
fn help_lists_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_livecast-transcoder")).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen", "--data-dir", "--price-per-unit", "--pixels-per-unit", "--eth-key-file", "--workers", "--max-segment-bytes",
        "--eth-rpc-url", "--broker-address", "--ticket-ev", "--win-prob-fraction", "--ticket-expiration-blocks",
    ] {
        assert!(text.contains(flag), "--help misses {flag}");
    }
}

#[test]
fn key_file_sets_the_address_and_generated_keys_persist() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.hex");
    let key = NodeKey::generate().unwrap();
    std::fs::write(&key_file, format!("0x{}\n", key.to_hex())).unwrap();
    let node = Node::start(&["--eth-key-file", key_file.to_str().unwrap()]);
    runtime().block_on(async {
        let info = get_orchestrator(&node, &broadcaster()).await;
        assert_eq!(info.address, key.address().to_vec());
    });
    let stored = std::fs::read_to_string(node.dir.path().join("auth.secret")).unwrap();
    assert_eq!(stored.trim().len(), 64);
    assert!(!node.dir.path().join("node.key").exists());
}

/// An HTTP client for the tests. With the workspace's feature unification reqwest may be
/// built with rustls but no default crypto provider (the relay's choice): install ring's.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A 1-second 320x240 segment with `codec` audio (ffmpeg's encoder of that name).
fn segment_with_audio(codec: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "1", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30"])
        .args(["-c:a", codec, "-ac", "2", "-b:a", "128k", "-f", "mpegts", "-"])
        .output()
        .expect("ffmpeg must be installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn aac_audio_is_copied_untouched_and_other_audio_is_refused() {
    let node = Node::start(&[]);
    runtime().block_on(async {
        let key = broadcaster();
        let info = get_orchestrator(&node, &key).await;
        let aac = segment_with_audio("aac");
        let seg = seg_data(&key, &info, 1, &aac, &[livecast_protocol::profile::P240P30FPS4X3]);
        let (status, body) = post(&node, &seg, None, aac.clone()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let Some(net::transcode_result::Result::Data(data)) = TranscodeResult::decode(body.as_slice()).unwrap().result else { panic!() };
        let rendition = client().get(&data.segments[0].url).send().await.unwrap().bytes().await.unwrap().to_vec();
        let source_audio = livecast_core::ts::demux_audio(&aac).unwrap();
        assert!(source_audio.len() >= 3);
        assert_eq!(livecast_core::ts::demux_audio(&rendition).unwrap(), source_audio, "same PES payloads at the same PTS");
        assert!(livecast_core::ts::probe_segment(&rendition).unwrap().audio.is_some());

        // AC-3 (stream type 0x81) and MP2 (0x03): refused before decoding, nothing written.
        for (codec, name) in [("ac3", "AC-3"), ("mp2", "MPEG-1/2 audio")] {
            let body = segment_with_audio(codec);
            let seg = seg_data(&key, &info, 2, &body, &[livecast_protocol::profile::P240P30FPS4X3]);
            let (status, reply) = post(&node, &seg, None, body).await;
            let text = String::from_utf8_lossy(&reply);
            assert_eq!(status, 422, "{codec}: {text}");
            assert!(text.contains("unsupported audio") && text.contains(name), "{codec}: {text}");
        }
    });
    assert_eq!(node.stored_files(), 1, "only the AAC segment's rendition");
}
