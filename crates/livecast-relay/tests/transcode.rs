//! The relay with transcoder nodes, end to end: the real relay binary, two real
//! `livecast-transcoder` processes (built from this workspace) on 127.0.0.1 port 0, and a
//! client in Rust that does what the browser will do — a session key, discovery through
//! `POST /api/transcoders/info`, a signed `SegData` with the node's auth token, 720p
//! segments made by ffmpeg — then the master playlist checked with m3u8-rs and decoded by
//! ffmpeg, and a node killed with SIGKILL mid-stream. Misbehaving nodes are small fake
//! servers inside this test only.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use common::transcoder::Transcoder;
use common::{client, tree, Relay};
use livecast_protocol::net::orchestrator_server::{Orchestrator, OrchestratorServer};
use livecast_protocol::net::{self, OrchestratorInfo, OrchestratorRequest, TranscodeResult};
use livecast_protocol::profile::{P240P30FPS16X9, P360P30FPS16X9};
use livecast_protocol::{discovery, result, NodeKey, Profile};
use m3u8_rs::Playlist;
use prost::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};

const LADDER: [Profile; 2] = [P360P30FPS16X9, P240P30FPS16X9];

/// Six consecutive 1-second 1280x720 30 fps Baseline segments (IDR at each start).
fn segments_720p() -> &'static [Vec<u8>] {
    static SEGMENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEGMENTS.get_or_init(|| common::ffmpeg_segments("1280x720", 6))
}

fn start_relay(dir: &Path, nodes: &[&str]) -> Relay {
    let data = dir.join("data").display().to_string();
    let mut args = vec!["--data-dir", data.as_str(), "--open"];
    for n in nodes {
        args.extend(["--transcoder", n]);
    }
    Relay::start_with_env(dir, &args, &[("RUST_LOG", "livecast_relay=debug")])
}

async fn create(relay: &Relay, c: &reqwest::Client) -> (String, String) {
    let v: Value = c.post(relay.url("/api/streams")).send().await.unwrap().json().await.unwrap();
    (v["id"].as_str().unwrap().to_owned(), v["streamKey"].as_str().unwrap().to_owned())
}

/// What the browser does: discovery through the relay with its session key.
async fn discover(relay: &Relay, c: &reqwest::Client, key: &NodeKey) -> Vec<Value> {
    let req = discovery::orchestrator_request(key).unwrap();
    let body = json!({ "address": key.address().to_checksum(None), "sig": format!("0x{}", hex::encode(&req.sig)) });
    let res = c.post(relay.url("/api/transcoders/info")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["transcoders"].as_array().unwrap().clone()
}

fn info_of(node: &Value) -> OrchestratorInfo {
    let raw = base64::engine::general_purpose::STANDARD.decode(node["infoBase64"].as_str().unwrap()).unwrap();
    OrchestratorInfo::decode(raw.as_slice()).unwrap()
}

/// `PUT` of segment `seq` for the ladder, through `node`.
async fn put_transcoded(
    relay: &Relay,
    c: &reqwest::Client,
    stream: (&str, &str),
    seq: u32,
    body: &[u8],
    key: &NodeKey,
    node: (&str, &OrchestratorInfo),
) -> (StatusCode, Value) {
    common::transcoder::put_transcoded(relay, c, stream, (seq, body), key, node, &LADDER).await
}

fn check_renditions(v: &Value, source_frames: u64) {
    let r = v["renditions"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(r.len(), 2, "{v}");
    for (got, (w, h)) in r.iter().zip([(426, 240), (640, 360)]) {
        assert_eq!((got["width"].as_u64().unwrap(), got["height"].as_u64().unwrap()), (w, h), "{v}");
        let frames = got["frames"].as_u64().unwrap();
        assert!(frames.abs_diff(source_frames) <= 1);
        assert_eq!(got["pixels"].as_u64().unwrap(), w * h * frames);
        assert!(got["bitrateKbps"].as_u64().unwrap() > 0 && got["bytes"].as_u64().unwrap() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ladder_with_failover_to_the_other_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Transcoder::start();
    let b = Transcoder::start();
    let relay = start_relay(dir.path(), &[&a.uri, &b.uri]);
    let c = client();
    let (id, stream_key) = create(&relay, &c).await;
    let key = NodeKey::generate().unwrap();

    let nodes = discover(&relay, &c, &key).await;
    assert_eq!(nodes.len(), 2);
    for (node, t) in nodes.iter().zip([&a, &b]) {
        assert_eq!(node["uri"], t.uri.as_str());
        assert!(node["error"].is_null(), "{node}");
        assert_eq!(node["info"]["transcoder"], t.uri.as_str());
        assert_eq!(node["health"]["healthy"], true);
        assert!(node["health"]["lastRttMs"].is_u64());
        assert!(node["address"].as_str().unwrap().starts_with("0x"));
        assert!(node["info"]["authToken"]["sessionId"].is_string());
    }
    let (info_a, info_b) = (info_of(&nodes[0]), info_of(&nodes[1]));

    let segs = segments_720p();
    let mut attempts_failed = 0;
    for (seq, body) in segs.iter().enumerate() {
        let seq = seq as u32;
        let frames = livecast_core::ts::probe_segment(body).unwrap().video_frames as u64;
        if seq == 3 {
            // Node A dies while it holds this segment.
            let pid = a.pid().expect("node A runs");
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            });
        }
        let mut answer = None;
        // The browser's policy here: up to 3 attempts, A first, then B.
        let order = [(&a.uri, &info_a), (&b.uri, &info_b), (&b.uri, &info_b)];
        for (uri, info) in order {
            let (status, v) = put_transcoded(&relay, &c, (&id, &stream_key), seq, body, &key, (uri, info)).await;
            if status.is_success() {
                answer = Some(v);
                break;
            }
            assert_eq!(status, StatusCode::BAD_GATEWAY, "seq {seq}: {v}");
            assert_eq!(v["error"]["retryable"], true, "{v}");
            attempts_failed += 1;
        }
        let v = answer.unwrap_or_else(|| panic!("seq {seq} never transcoded"));
        check_renditions(&v, frames);
        assert!(v["nodeLatencyMs"].is_u64(), "{v}");
        eprintln!("seq {seq}: {} in {} ms", v["transcoder"], v["nodeLatencyMs"]);
        if seq >= 3 {
            assert_eq!(v["transcoder"], b.uri.as_str(), "A is dead");
        }
    }
    a.kill9();
    assert!(attempts_failed >= 2, "seq 3 (killed mid-request or refused) and seq 4 must each fail once on A");

    // The same upload again: source 200, renditions already there, no node asked.
    let (status, v) = put_transcoded(&relay, &c, (&id, &stream_key), 5, &segs[5], &key, (&b.uri, &info_b)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["renditionsDuplicate"], true);
    check_renditions(&v, livecast_core::ts::probe_segment(&segs[5]).unwrap().video_frames as u64);

    // Health: A failed last, B is fine.
    let list: Value = c.get(relay.url("/api/transcoders")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["transcoders"][0]["health"]["healthy"], false);
    assert!(list["transcoders"][0]["health"]["consecutiveFailures"].as_u64().unwrap() >= 1);
    assert_eq!(list["transcoders"][1]["health"]["healthy"], true);

    let res = c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth(&stream_key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Master playlist: the source and both rungs, measured and from the real SPS.
    let text = c.get(relay.url(&format!("/hls/{id}/master.m3u8"))).send().await.unwrap().bytes().await.unwrap();
    let master = match m3u8_rs::parse_playlist_res(&text) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        other => panic!("{other:?}"),
    };
    let variants: Vec<_> = master.variants.iter().map(|v| (v.uri.as_str(), v.resolution.map(|r| (r.width, r.height)))).collect();
    assert_eq!(
        variants,
        [("index.m3u8", Some((1280, 720))), ("P360p30fps16x9/index.m3u8", Some((640, 360))), ("P240p30fps16x9/index.m3u8", Some((426, 240)))],
        "{}",
        String::from_utf8_lossy(&text)
    );
    for v in &master.variants {
        assert!(v.codecs.as_deref().unwrap().starts_with("avc1.42"), "{:?}", v.codecs);
        assert!((v.frame_rate.unwrap() - 30.0).abs() < 0.5);
        assert!(v.bandwidth >= v.average_bandwidth.unwrap());
    }
    // Every seq in every rendition, no gap.
    for profile in ["P360p30fps16x9", "P240p30fps16x9"] {
        let text = c.get(relay.url(&format!("/hls/{id}/{profile}/index.m3u8"))).send().await.unwrap().bytes().await.unwrap();
        let Ok(Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(&text) else { panic!() };
        let uris: Vec<_> = p.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["0.ts", "1.ts", "2.ts", "3.ts", "4.ts", "5.ts"]);
        assert!(p.segments.iter().all(|s| s.unknown_tags.is_empty()), "no EXT-X-GAP");
        assert!(p.end_list);
    }
    // ffmpeg decodes every variant of the master without an error.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(relay.url(&format!("/hls/{id}/master.m3u8")))
        .args(["-map", "0:v", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    // Durably stored, like the source.
    let files = tree(&dir.path().join("data").join("streams").join(&id));
    assert!(files.iter().any(|f| f.ends_with("P240p30fps16x9/5.ts")), "{files:?}");
}

// ---- misbehaving nodes, faked inside this test -------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Misbehaviour {
    Garbage,
    Hang,
    ForeignUrl,
    BadSignature,
}

#[derive(Clone)]
struct Fake {
    key: NodeKey,
    uri: String,
    behaviour: Misbehaviour,
    /// Real 640x360 and 426x240 renditions of the 1-second source.
    renditions: Arc<[Vec<u8>; 2]>,
    /// Where `ForeignUrl` points.
    elsewhere: String,
}

#[tonic::async_trait]
impl Orchestrator for Fake {
    async fn get_orchestrator(
        &self,
        _: tonic::Request<OrchestratorRequest>,
    ) -> Result<tonic::Response<OrchestratorInfo>, tonic::Status> {
        Ok(tonic::Response::new(OrchestratorInfo {
            transcoder: self.uri.clone(),
            address: self.key.address().to_vec(),
            ..Default::default()
        }))
    }
}

async fn fake_segment(axum::extract::State(fake): axum::extract::State<Fake>, body: axum::body::Bytes) -> Vec<u8> {
    let _ = body;
    let (base, signer) = match fake.behaviour {
        Misbehaviour::Garbage => return b"\xff\xfe this is not a TranscodeResult".to_vec(),
        Misbehaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return Vec::new();
        }
        Misbehaviour::ForeignUrl => (fake.elsewhere.clone(), fake.key.clone()),
        Misbehaviour::BadSignature => (fake.uri.clone(), NodeKey::generate().unwrap()),
    };
    let segments = fake
        .renditions
        .iter()
        .zip([(640, 360), (426, 240)])
        .map(|(bytes, (w, h))| {
            let frames = livecast_core::ts::probe_segment(bytes).unwrap().video_frames as i64;
            net::TranscodedSegmentData { url: format!("{base}/r/{h}.ts"), pixels: w * h * frames, ..Default::default() }
        })
        .collect();
    let sig = result::sign_renditions(&signer, fake.renditions.iter().map(Vec::as_slice)).unwrap();
    let data = net::TranscodeData { segments, sig: sig.to_vec() };
    TranscodeResult { seq: 0, result: Some(net::transcode_result::Result::Data(data)), info: None }.encode_to_vec()
}

/// Serves `router` (HTTP/1 and h2c) on 127.0.0.1:0 in the background.
async fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

async fn start_fake(behaviour: Misbehaviour, renditions: Arc<[Vec<u8>; 2]>, elsewhere: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let fake = Fake { key: NodeKey::generate().unwrap(), uri: uri.clone(), behaviour, renditions, elsewhere: elsewhere.to_owned() };
    let grpc = tonic::service::Routes::new(OrchestratorServer::new(fake.clone())).prepare().into_axum_router();
    let (r360, r240) = (fake.renditions.clone(), fake.renditions.clone());
    let http = axum::Router::new()
        .route("/segment", axum::routing::post(fake_segment))
        .route("/r/360.ts", axum::routing::get(move || async move { r360[0].clone() }))
        .route("/r/240.ts", axum::routing::get(move || async move { r240[1].clone() }))
        .with_state(fake);
    serve(listener, grpc.merge(http)).await;
    uri
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_nodes_are_502_retryable_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    // The source: 1 s of 1280x720; the "renditions": the same second at 640x360 and 426x240.
    let source = segments_720p()[0].clone();
    let make = |scale: &str| {
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "1"])
            .args(["-vf", scale, "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p"])
            .args(["-g", "30", "-f", "mpegts", "-"])
            .output()
            .unwrap()
            .stdout
    };
    let rendition = Arc::new([make("scale=640:360"), make("scale=426:240")]);
    // Anything a node might point the relay at; it must never be reached.
    let hits = Arc::new(AtomicUsize::new(0));
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_uri = format!("http://{}", evil.local_addr().unwrap());
    let counter = hits.clone();
    serve(evil, axum::Router::new().fallback(move || async move { counter.fetch_add(1, Ordering::SeqCst); "x" })).await;

    let mut fakes = Vec::new();
    for b in [Misbehaviour::Garbage, Misbehaviour::Hang, Misbehaviour::ForeignUrl, Misbehaviour::BadSignature] {
        fakes.push((b, start_fake(b, rendition.clone(), &evil_uri).await));
    }
    let uris: Vec<&str> = fakes.iter().map(|(_, u)| u.as_str()).collect();
    let relay = start_relay(dir.path(), &uris);
    let c = client();
    let (id, stream_key) = create(&relay, &c).await;
    let key = NodeKey::generate().unwrap();
    let info = OrchestratorInfo::default();

    // A node outside the registry: 400, and not even the source is stored.
    let (status, v) = put_transcoded(&relay, &c, (&id, &stream_key), 0, &source, &key, ("http://127.0.0.1:1", &info)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "unknown_transcoder");
    let res = c.get(relay.url(&format!("/hls/{id}/0.ts"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    for (behaviour, uri) in &fakes {
        let started = Instant::now();
        let (status, v) = put_transcoded(&relay, &c, (&id, &stream_key), 0, &source, &key, (uri, &info)).await;
        eprintln!("{behaviour:?}: {status} {v} after {:?}", started.elapsed());
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{behaviour:?}: {v}");
        assert_eq!(v["error"]["retryable"], true);
        let expected = match behaviour {
            Misbehaviour::Garbage => "transcoder_bad_response",
            Misbehaviour::Hang => "transcoder_timeout",
            Misbehaviour::ForeignUrl => "rendition_url_rejected",
            Misbehaviour::BadSignature => "transcoder_bad_signature",
        };
        assert_eq!(v["error"]["code"], expected, "{v}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the relay reached an address outside the node's origin");

    // Nothing in the ladder: the master lists only the source, no rendition playlist, no
    // rendition file or row.
    let text = c.get(relay.url(&format!("/hls/{id}/master.m3u8"))).send().await.unwrap().bytes().await.unwrap();
    let Ok(Playlist::MasterPlaylist(m)) = m3u8_rs::parse_playlist_res(&text) else { panic!() };
    assert_eq!(m.variants.len(), 1);
    let res = c.get(relay.url(&format!("/hls/{id}/P240p30fps16x9/index.m3u8"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let files = tree(&dir.path().join("data").join("streams").join(&id));
    assert_eq!(files, ["0.ts"], "only the source");
}

/// A real node behind TLS with a certificate generated now (self-signed, as Livepeer
/// orchestrators present): a TLS-terminating pass-through in front of the transcoder,
/// which advertises the https URI. Discovery (gRPC over h2) and segments (HTTP/1.1) both
/// go through it, and the renditions are fetched from the https origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_node_with_a_self_signed_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["livecast-test-node".into()]).unwrap();
    let der = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], der)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https_uri = format!("https://{}", front.local_addr().unwrap());
    let node = Transcoder::start_with(&["--service-uri", &https_uri]);
    let backend = node.uri.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = front.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(dir.path(), &[&https_uri]);
    let c = client();
    let (id, stream_key) = create(&relay, &c).await;
    let key = NodeKey::generate().unwrap();
    let nodes = discover(&relay, &c, &key).await;
    assert!(nodes[0]["error"].is_null(), "{}", nodes[0]);
    assert_eq!(nodes[0]["info"]["transcoder"], https_uri.as_str());
    let info = info_of(&nodes[0]);
    let source = &segments_720p()[0];
    let (status, v) = put_transcoded(&relay, &c, (&id, &stream_key), 0, source, &key, (&https_uri, &info)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    check_renditions(&v, livecast_core::ts::probe_segment(source).unwrap().video_frames as u64);
    assert_eq!(v["transcoder"], https_uri.as_str());
}

// ---- audio ---------------------------------------------------------------------------------

/// Three 1-second 640x360 segments with AAC-LC audio (a tone, 48 kHz stereo), as an
/// ffmpeg HLS-style uploader makes them; and one segment with MP2 audio instead.
fn segments_with_audio() -> &'static (Vec<Vec<u8>>, Vec<u8>) {
    static SEGMENTS: OnceLock<(Vec<Vec<u8>>, Vec<u8>)> = OnceLock::new();
    SEGMENTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let make = |codec: &str, pattern: &str| {
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "3"])
                .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000", "-t", "3"])
                .args(["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-preset", "veryfast"])
                .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
                .args(["-c:a", codec, "-ac", "2", "-b:a", "128k"])
                .args(["-f", "segment", "-segment_time", "1", "-segment_format", "mpegts"])
                .arg(dir.path().join(pattern))
                .status()
                .expect("ffmpeg must be installed");
            assert!(status.success());
        };
        make("aac", "a%d.ts");
        make("mp2", "m%d.ts");
        let aac = (0..3).map(|i| std::fs::read(dir.path().join(format!("a{i}.ts"))).unwrap()).collect();
        (aac, std::fs::read(dir.path().join("m0.ts")).unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aac_audio_is_copied_into_every_rendition_and_other_audio_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Transcoder::start();
    let relay = start_relay(dir.path(), &[&node.uri]);
    let c = client();
    let (id, stream_key) = create(&relay, &c).await;
    let key = NodeKey::generate().unwrap();
    let nodes = discover(&relay, &c, &key).await;
    let info = info_of(&nodes[0]);
    let (segs, mp2) = segments_with_audio();

    for (seq, body) in segs.iter().enumerate() {
        let source = livecast_core::ts::probe_segment(body).unwrap();
        let source_audio = source.audio.clone().expect("ffmpeg wrote AAC");
        let (status, v) = put_transcoded(&relay, &c, (&id, &stream_key), seq as u32, body, &key, (&node.uri, &info)).await;
        assert_eq!(status, StatusCode::CREATED, "seq {seq}: {v}");
        assert_eq!(v["renditions"].as_array().map(Vec::len), Some(2), "{v}");
        let source_pes = livecast_core::ts::demux_audio(body).unwrap();
        for profile in ["P360p30fps16x9", "P240p30fps16x9"] {
            let bytes = c.get(relay.url(&format!("/hls/{id}/{profile}/{seq}.ts"))).send().await.unwrap().bytes().await.unwrap();
            let info = livecast_core::ts::probe_segment(&bytes).unwrap();
            assert_eq!(info.audio.as_ref(), Some(&source_audio), "{profile} seq {seq}");
            // Copied untouched: the same PES payloads at the same PTS.
            assert_eq!(livecast_core::ts::demux_audio(&bytes).unwrap(), source_pes, "{profile} seq {seq}");
            let path = dir.path().join(format!("{profile}-{seq}.ts"));
            std::fs::write(&path, &bytes).unwrap();
            let out = Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name,profile,sample_rate,channels", "-of", "csv=p=0"])
                .arg(&path)
                .output()
                .unwrap();
            // ffprobe lists the stream once per program and once on its own: every line agrees.
            let text = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            assert!(!lines.is_empty() && lines.iter().all(|l| *l == "aac,LC,48000,2"), "{profile} seq {seq}: {text}");
            let decode = Command::new("ffmpeg").args(["-v", "error", "-nostdin", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
            assert!(decode.stderr.is_empty(), "{profile} seq {seq}: {}", String::from_utf8_lossy(&decode.stderr));
        }
    }

    // The master playlist names both codecs on every variant.
    let text = c.get(relay.url(&format!("/hls/{id}/master.m3u8"))).send().await.unwrap().bytes().await.unwrap();
    let Ok(Playlist::MasterPlaylist(master)) = m3u8_rs::parse_playlist_res(&text) else { panic!() };
    assert_eq!(master.variants.len(), 3);
    for v in &master.variants {
        let codecs = v.codecs.as_deref().unwrap();
        assert!(codecs.starts_with("avc1.42") && codecs.ends_with(",mp4a.40.2"), "{codecs}");
    }

    // MP2 audio: refused at ingest with its own code, nothing stored.
    let res = c.put(relay.url(&format!("/live/{id}/9.ts"))).bearer_auth(&stream_key).body(mp2.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_audio", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("MPEG-1/2 audio"), "{v}");
    let res = c.get(relay.url(&format!("/hls/{id}/9.ts"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
