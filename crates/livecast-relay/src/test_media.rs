//! Test media: real H.264 MPEG-TS segments made with ffmpeg at run time (no media files in
//! the repository). Unit tests only.

use std::process::Command;
use std::sync::OnceLock;

/// Eight consecutive 1-second segments (30 fps, an IDR at the start of each) of one stream,
/// so they play back to back; made once per test process.
pub fn segments() -> &'static [Vec<u8>] {
    static SEGMENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEGMENTS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-t", "8"])
            .args(["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p"])
            .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
            .args(["-f", "segment", "-segment_time", "1", "-segment_format", "mpegts"])
            .arg(dir.path().join("seg%d.ts"))
            .status()
            .expect("ffmpeg must be installed to run these tests");
        assert!(status.success(), "ffmpeg failed");
        (0..8).map(|i| std::fs::read(dir.path().join(format!("seg{i}.ts"))).expect("segment")).collect()
    })
}
