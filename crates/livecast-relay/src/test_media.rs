//! Test media: real H.264 MPEG-TS segments made with ffmpeg at run time (no media files in
//! the repository). For the unit tests, and included by the integration tests' `common`
//! module, which cannot see `cfg(test)` items.

use std::process::Command;
use std::sync::OnceLock;

/// `count` consecutive 1-second H.264 Baseline MPEG-TS segments (30 fps, an IDR at each
/// start) of ffmpeg's test picture at `size` (`"640x360"`).
pub fn ffmpeg_segments(size: &str, count: usize) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=30"), "-t", &count.to_string()])
        .args(["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-preset", "veryfast"])
        .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
        .args(["-f", "segment", "-segment_time", "1", "-segment_format", "mpegts"])
        .arg(dir.path().join("seg%d.ts"))
        .status()
        .expect("ffmpeg must be installed to run these tests");
    assert!(status.success(), "ffmpeg failed");
    (0..count).map(|i| std::fs::read(dir.path().join(format!("seg{i}.ts"))).expect("segment")).collect()
}

/// Eight consecutive 1-second 160x120 segments of one stream ([`ffmpeg_segments`]), so
/// they play back to back; made once per test process.
pub fn segments() -> &'static [Vec<u8>] {
    static SEGMENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEGMENTS.get_or_init(|| ffmpeg_segments("160x120", 8))
}
