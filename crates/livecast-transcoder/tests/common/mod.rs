//! Helpers shared by the node's integration tests.

use std::process::Command;

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
