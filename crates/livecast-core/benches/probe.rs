//! What the relay's ingest spends reading a segment: 2-second 720p30 H.264 + AAC TS segments
//! (made by ffmpeg at run time, ~4 Mbit/s) through [`probe_segment_units`] (one pass: timing,
//! audio and the frames its checks read) beside the former path of the same answer
//! ([`probe_segment`], then [`demux`] again for the checks), in the same run.
//!
//! `cargo bench -p livecast-core --bench probe` (optimised build).

use livecast_core::ts::{demux, probe_segment, probe_segment_units};
use std::process::Command;
use std::time::Instant;

const SEGMENTS: usize = 10;
const ROUNDS: usize = 30;

fn main() {
    let dir = std::env::temp_dir().join(format!("livecast-probe-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pattern = dir.join("seg%d.ts");
    #[rustfmt::skip]
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", &(SEGMENTS * 2).to_string(),
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-pix_fmt", "yuv420p", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "128k",
            "-f", "segment", "-segment_time", "2", "-segment_format", "mpegts"])
        .arg(&pattern)
        .status()
        .expect("ffmpeg must be installed");
    assert!(status.success(), "ffmpeg failed");
    let segments: Vec<Vec<u8>> = (0..SEGMENTS).map(|i| std::fs::read(dir.join(format!("seg{i}.ts"))).unwrap()).collect();
    let _ = std::fs::remove_dir_all(&dir);
    let bytes: usize = segments.iter().map(Vec::len).sum();
    println!("input: {SEGMENTS} segments of 2 s 720p30 x264 + AAC, {:.0} kB per segment", bytes as f64 / SEGMENTS as f64 / 1e3);

    let time = |f: &dyn Fn(&[u8]) -> usize| {
        let start = Instant::now();
        let mut n = 0;
        for _ in 0..ROUNDS {
            for s in &segments {
                n += f(s);
            }
        }
        (start.elapsed().as_secs_f64() * 1e3 / (ROUNDS * SEGMENTS) as f64, n)
    };
    let (two, n2) = time(&|s| {
        let info = probe_segment(s).unwrap();
        demux(s).unwrap().len() + info.video_frames as usize
    });
    let (one, n1) = time(&|s| {
        let (info, units) = probe_segment_units(s).unwrap();
        units.len() + info.video_frames as usize
    });
    assert_eq!(n1, n2, "both paths read the same frames");
    println!("probe + demux again (former ingest path): {two:.2} ms per segment");
    println!("probe_segment_units (one pass):            {one:.2} ms per segment ({:.2}x)", two / one);
}
