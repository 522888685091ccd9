//! Helpers shared by the node's integration tests.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::process::{Child, Command};

/// An H.264 Constrained Baseline MPEG-TS segment from ffmpeg's `testsrc2`: `size` like
/// `"1280x720"`, 30 fps, `seconds` long, one keyframe every `gop` frames.
pub fn ffmpeg_segment(size: &str, seconds: u32, gop: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=30"), "-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", &gop.to_string(), "-f", "mpegts", "-"])
        .output()
        .expect("ffmpeg must be installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Starts the node `cmd` describes, with stdout piped, and waits for its first line,
/// `listening on http://ADDR`; returns the process and `ADDR`.
pub fn spawn_listening(cmd: &mut Command) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::inherit()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();
    (child, addr)
}

/// A running node with its data in a temporary folder, killed when dropped.
pub struct Node {
    pub child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// `livecast-transcoder --listen 127.0.0.1:0 --data-dir TMP --workers 2 EXTRA`, logging at
    /// `rust_log`, once it listens.
    pub fn start_with(extra: &[&str], rust_log: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let (child, addr) = spawn_listening(
            Command::new(env!("CARGO_BIN_EXE_livecast-transcoder"))
                .args(["--listen", "127.0.0.1:0", "--data-dir"])
                .arg(dir.path())
                .args(["--workers", "2"])
                .args(extra)
                .env("RUST_LOG", rust_log),
        );
        Node { child, addr, dir }
    }

    /// The node's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
