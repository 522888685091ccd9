//! Transmux throughput: 2-second 720p30 H.264 TS segments (x264 with B-frames, ~4 Mbit/s,
//! made by ffmpeg at run time) through [`Transmuxer::push_segment`], against ffmpeg remuxing
//! the same segments to fragmented MP4 (`-c copy`, one fragment per keyframe) in the same run.
//!
//! `cargo bench -p livecast-core --bench transmux` (optimised build). ffmpeg's figure includes
//! its process start-up, so it is given both per run and per segment of a 10-segment run.

use livecast_core::fmp4::{SegmentOptions, Transmuxer};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SEGMENTS: usize = 10;
const ROUNDS: usize = 20;

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg").args(["-v", "error", "-nostdin", "-y"]).args(args).status().expect("ffmpeg must be installed");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

fn main() {
    let dir = std::env::temp_dir().join(format!("livecast-transmux-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pattern = dir.join("seg%d.ts");
    ffmpeg(&[
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", &(SEGMENTS * 2).to_string(),
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-pix_fmt", "yuv420p",
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
        "-f", "segment", "-segment_time", "2", "-segment_format", "mpegts", pattern.to_str().unwrap(),
    ]);
    let segments: Vec<Vec<u8>> = (0..SEGMENTS).map(|i| std::fs::read(dir.join(format!("seg{i}.ts"))).unwrap()).collect();
    let bytes: usize = segments.iter().map(Vec::len).sum();
    println!("input: {SEGMENTS} segments of 2 s 720p30 x264, {:.2} MB in all, {:.0} kB per segment", bytes as f64 / 1e6, bytes as f64 / SEGMENTS as f64 / 1e3);

    // Ours: a fresh transmuxer per round, every segment pushed in order.
    let mut frames = 0;
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let mut t = Transmuxer::new();
        for s in &segments {
            frames += t.push_segment(s, SegmentOptions::default()).expect("transmux").frames;
        }
    }
    let ours = start.elapsed().as_secs_f64();
    let per_segment_ms = ours * 1e3 / (ROUNDS * SEGMENTS) as f64;
    println!(
        "livecast fmp4::Transmuxer: {:.2} ms per segment, {:.0} MB/s of TS, {:.0} frames/s",
        per_segment_ms,
        (bytes * ROUNDS) as f64 / ours / 1e6,
        frames as f64 / ours
    );

    // Peer: ffmpeg remuxes the same segments to fMP4, one process per segment and one for all.
    let all = dir.join("all.ts");
    std::fs::write(&all, segments.concat()).unwrap();
    let remux = |input: &Path, output: &Path| {
        ffmpeg(&["-i", input.to_str().unwrap(), "-map", "0:v", "-c", "copy", "-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", output.to_str().unwrap()]);
    };
    let start = Instant::now();
    for i in 0..SEGMENTS {
        remux(&dir.join(format!("seg{i}.ts")), &dir.join(format!("seg{i}.mp4")));
    }
    let per_process = start.elapsed().as_secs_f64() * 1e3 / SEGMENTS as f64;
    let start = Instant::now();
    remux(&all, &dir.join("all.mp4"));
    let batch = start.elapsed().as_secs_f64();
    println!(
        "ffmpeg -c copy to fMP4: {:.2} ms per segment as one process per segment, {:.2} ms per segment in one {SEGMENTS}-segment run ({:.0} MB/s)",
        per_process,
        batch * 1e3 / SEGMENTS as f64,
        bytes as f64 / batch / 1e6
    );
    std::fs::remove_dir_all(&dir).ok();
}
