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
