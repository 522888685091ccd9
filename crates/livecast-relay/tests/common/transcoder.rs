//! A real `livecast-transcoder` node for the storage tests, and what a browser broadcaster
//! sends through the relay to have a segment transcoded (discovery with a session key, a
//! signed `SegData` carrying the node's auth token).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use livecast_protocol::net::OrchestratorInfo;
use livecast_protocol::{discovery, segment, NodeKey, Profile};
use prost::Message;
use serde_json::{json, Value};

use super::Relay;

/// The `livecast-transcoder` binary next to the relay's, built (or found up to date) once.
pub fn transcoder_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let relay = Path::new(env!("CARGO_BIN_EXE_livecast-relay"));
        let profile_dir = relay.parent().expect("target/{profile}");
        let target_dir = profile_dir.parent().expect("target");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "livecast-transcoder", "--bin", "livecast-transcoder", "--target-dir"])
            .arg(target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building livecast-transcoder failed");
        profile_dir.join("livecast-transcoder")
    })
}

/// A running transcoder node; SIGKILLed when dropped.
pub struct Transcoder {
    child: Option<Child>,
    /// `http://ADDR`.
    pub uri: String,
    _dir: tempfile::TempDir,
}

impl Transcoder {
    /// Starts a node on 127.0.0.1 port 0 with two workers.
    pub fn start() -> Transcoder {
        Self::start_with(&[])
    }

    /// [`Transcoder::start`] with more flags.
    pub fn start_with(extra: &[&str]) -> Transcoder {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(transcoder_binary())
            .args(["--listen", "127.0.0.1:0", "--workers", "2", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start livecast-transcoder");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_owned();
        Transcoder { child: Some(child), uri: format!("http://{addr}"), _dir: dir }
    }
}

impl Transcoder {
    /// The node's process id (to kill it from another thread at a chosen moment).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the node now (a crash mid-stream).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Transcoder {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Discovery through the relay with the browser's session key: the first node's info.
pub async fn discover_first(relay: &Relay, c: &reqwest::Client, key: &NodeKey) -> OrchestratorInfo {
    let req = discovery::orchestrator_request(key).expect("request");
    let body = json!({ "address": key.address().to_checksum(None), "sig": format!("0x{}", hex::encode(&req.sig)) });
    let res = c.post(relay.url("/api/transcoders/info")).json(&body).send().await.expect("discovery");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let v: Value = res.json().await.expect("JSON");
    let node = &v["transcoders"][0];
    assert!(node["error"].is_null(), "{node}");
    let raw = base64::engine::general_purpose::STANDARD.decode(node["infoBase64"].as_str().expect("info")).expect("base64");
    OrchestratorInfo::decode(raw.as_slice()).expect("OrchestratorInfo")
}

/// `PUT /live/{id}/{seq}.ts` of `body` with a signed `SegData` for `profiles`, to `node`.
pub async fn put_transcoded(
    relay: &Relay,
    c: &reqwest::Client,
    (id, stream_key): (&str, &str),
    (seq, body): (u32, &[u8]),
    key: &NodeKey,
    (node, info): (&str, &OrchestratorInfo),
    profiles: &[Profile],
) -> (reqwest::StatusCode, Value) {
    let mut seg = segment::new_seg_data(key, id.as_bytes(), i64::from(seq), 1000, body, profiles).expect("SegData");
    seg.auth_token = info.auth_token.clone();
    seg.sig = segment::sign_seg_data(key, &seg).expect("sign").to_vec();
    let res = c
        .put(relay.url(&format!("/live/{id}/{seq}.ts")))
        .bearer_auth(stream_key)
        .header("Livepeer-Segment", base64::engine::general_purpose::STANDARD.encode(seg.encode_to_vec()))
        .header("Livecast-Transcoder", node)
        .body(body.to_vec())
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("upload");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}
