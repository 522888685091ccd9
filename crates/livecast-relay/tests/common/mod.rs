//! Helpers for the integration tests: test media made with ffmpeg, and the real
//! `livecast-relay` binary started on 127.0.0.1 port 0.

#![allow(dead_code)] // Each test binary uses a different subset.

pub mod garage;
pub mod transcoder;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[path = "../../src/test_media.rs"]
mod test_media;
#[allow(unused_imports)] // Each test binary uses a different subset (as `dead_code` above).
pub use test_media::{ffmpeg_segments, segments};

/// A 1 s 480x272 segment of noise at near-lossless quality: about 8 MiB, under the
/// relay's 16 MiB cap.
pub fn big_segment() -> &'static [u8] {
    static BIG: OnceLock<Vec<u8>> = OnceLock::new();
    BIG.get_or_init(|| {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=480x272:rate=30,noise=alls=60:allf=t", "-t", "1"])
            .args(["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-qp", "1", "-preset", "ultrafast"])
            .args(["-g", "30", "-f", "mpegts", "-"])
            .output()
            .expect("ffmpeg must be installed to run these tests");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.len() > 4 << 20, "{} bytes", out.stdout.len());
        out.stdout
    })
}

/// Resident memory of a process, MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}

/// Segment `i` of [`segments`].
pub fn seg(i: usize) -> Vec<u8> {
    segments()[i].clone()
}

/// A running `livecast-relay` process; killed (SIGKILL) when dropped.
pub struct Relay {
    child: Option<Child>,
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub base: String,
    /// The relay's stderr (its logs).
    pub log: PathBuf,
}

impl Relay {
    /// Starts the binary with `args` (plus `--listen 127.0.0.1:0`), logging to `log_dir`.
    pub fn start(log_dir: &Path, args: &[&str]) -> Relay {
        Self::start_with_env(log_dir, args, &[])
    }

    /// Same as [`Relay::start`] with extra environment variables.
    pub fn start_with_env(log_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Relay {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = log_dir.join(format!("relay-{n}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_livecast-relay"));
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, _) in std::env::vars() {
            if k.starts_with("LIVECAST_RELAY_") && !env.iter().any(|(e, _)| *e == k) {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().expect("start livecast-relay");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("relay did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        };
        let addr: SocketAddr = addr.parse().expect("address");
        assert!(addr.ip().is_loopback());
        Relay { child: Some(child), base: format!("http://{addr}"), addr, log }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }

    /// SIGTERM; waits up to `timeout` for the exit and returns its status.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
        assert!(ok.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("relay did not stop within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The relay's logs so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- relay log ---\n{}", self.logs());
        }
        self.kill9();
    }
}

/// An HTTP client with short timeouts. It drops pooled connections idle for 1 s: the
/// relay closes a kept-alive connection that sends no request within its header deadline
/// (2 s in the abuse suite), and a request written on one just as it closes fails with
/// `IncompleteMessage` (seen on the loaded 2-core machine, when ffmpeg or an attack phase
/// kept the client idle about that long).
pub fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider (the relay brings its own); these
    // clients speak plain HTTP, but building one needs a provider installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(1))
        .build()
        .expect("client")
}

/// Sends `head` and `body` as they are over a new connection (no URL normalisation: `..`
/// stays `..`) and returns the response's status code.
pub fn raw_status(addr: SocketAddr, head: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// Every file and directory under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            out.push(p.strip_prefix(root).expect("prefix").display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The relay in `--open` mode with its data under `dir/data`, plus `extra` flags.
pub fn start_open(dir: &Path, extra: &[&str]) -> Relay {
    let data = dir.join("data").display().to_string();
    let mut args = vec!["--data-dir", data.as_str(), "--open"];
    args.extend_from_slice(extra);
    Relay::start(dir, &args)
}

/// Creates a stream on an `--open` relay: its id and stream key.
pub async fn create(relay: &Relay, c: &reqwest::Client) -> (String, String) {
    let res = c.post(relay.url("/api/streams")).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let v: serde_json::Value = res.json().await.unwrap();
    (v["id"].as_str().unwrap().to_owned(), v["streamKey"].as_str().unwrap().to_owned())
}

/// The segment URIs of a stream's source media playlist as `relay` serves it (`200` expected).
pub async fn playlist_uris(relay: &Relay, c: &reqwest::Client, id: &str) -> Vec<String> {
    let res = c.get(relay.url(&format!("/hls/{id}/index.m3u8"))).send().await.expect("playlist");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let text = res.bytes().await.expect("body");
    match m3u8_rs::parse_playlist_res(&text) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p.segments.into_iter().map(|s| s.uri).collect(),
        other => panic!("not a media playlist: {other:?}"),
    }
}

/// The `error.code` of a JSON error answer.
pub async fn error_code(res: reqwest::Response) -> String {
    let v: serde_json::Value = res.json().await.expect("JSON error body");
    v["error"]["code"].as_str().expect("error shape").to_owned()
}
