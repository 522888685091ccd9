//! Benchmark: the node's transcoding pipeline against ffmpeg's CLI, same source, same ladder.
//!
//! ```sh
//! cargo run --release -p livecast-transcoder --example transcode_bench
//! ```
//!
//! Makes a 10 s 1280×720 30 fps source with ffmpeg (libx264 Baseline, an IDR every 2 s, cut
//! into 2 s MPEG-TS segments as a broadcaster sends them), then times:
//! - the node's pipeline (demux, SPS checks, openh264 decode, scale, openh264 encode of
//!   P720p30fps16x9 + P360p30fps16x9 + P240p30fps16x9, TS mux) over the five segments,
//!   with one and with two worker threads;
//! - ffmpeg producing the same three renditions from the same file with libx264
//!   `-preset veryfast` at the same bitrates, with one thread and with its default threads.
//!
//! Prints realtime factors (source seconds per wall-clock second) and the ratio of times.
//! Needs ffmpeg on PATH. Figures are reported, not asserted.

use livecast_protocol::profile::{P240P30FPS16X9, P360P30FPS16X9, P720P30FPS16X9};
use livecast_transcoder::transcode::{inspect, transcode, Limits};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SECONDS: f64 = 10.0;

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).output().expect("ffmpeg must be installed");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn ffmpeg_ladder(dir: &Path, source: &Path, threads: Option<u32>) -> f64 {
    let src = source.to_str().unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(t) = threads {
        args.extend(["-filter_threads".into(), t.to_string(), "-threads".into(), t.to_string()]);
    }
    args.extend(["-i".into(), src.into()]);
    args.extend([
        "-filter_complex".into(),
        "[0:v]split=3[a][b][c];[b]scale=640:360:flags=bilinear[b2];[c]scale=426:240:flags=bilinear[c2]".into(),
    ]);
    for (label, profile, name) in [("[a]", &P720P30FPS16X9, "720"), ("[b2]", &P360P30FPS16X9, "360"), ("[c2]", &P240P30FPS16X9, "240")] {
        let kbps = format!("{}k", profile.bitrate_bps / 1000);
        args.extend(["-map".into(), label.into(), "-c:v".into(), "libx264".into(), "-preset".into(), "veryfast".into()]);
        args.extend(["-b:v".into(), kbps.clone(), "-maxrate".into(), kbps.clone(), "-bufsize".into(), kbps]);
        if let Some(t) = threads {
            args.extend(["-threads".into(), t.to_string()]);
        }
        args.extend(["-f".into(), "mpegts".into(), dir.join(format!("ffmpeg-{name}.ts")).to_str().unwrap().into()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    ffmpeg(&refs);
    started.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.ts");
    ffmpeg(&[
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10", "-c:v", "libx264", "-profile:v", "baseline",
        "-pix_fmt", "yuv420p", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-b:v", "4000k",
        source.to_str().unwrap(),
    ]);
    let pattern = dir.path().join("seg%d.ts");
    ffmpeg(&[
        "-i", source.to_str().unwrap(), "-c", "copy", "-f", "segment", "-segment_time", "2", "-segment_format", "mpegts",
        pattern.to_str().unwrap(),
    ]);
    let segments: Vec<Vec<u8>> = (0..)
        .map(|i| dir.path().join(format!("seg{i}.ts")))
        .take_while(|p| p.exists())
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let ladder = [P720P30FPS16X9, P360P30FPS16X9, P240P30FPS16X9];
    println!(
        "source: {SECONDS} s 1280x720 30 fps in {} segments; ladder: {}",
        segments.len(),
        ladder.iter().map(|p| p.name.as_ref()).collect::<Vec<_>>().join(", ")
    );
    println!("machine: {} cores available", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!();
    println!("| run | seconds | realtime factor | vs ffmpeg (same threads) |");
    println!("|---|---|---|---|");

    let mut ours = Vec::new();
    for workers in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build().unwrap();
        // Warm-up on the first segment (page faults, pool start), not timed.
        let warm = inspect(&segments[0], &Limits::default()).unwrap();
        transcode(&warm, &ladder, &pool).unwrap();
        let started = Instant::now();
        let mut frames = 0;
        for segment in &segments {
            let source = inspect(segment, &Limits::default()).unwrap();
            let renditions = transcode(&source, &ladder, &pool).unwrap();
            frames += renditions[0].as_ref().unwrap().frames;
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(frames, 300, "every source frame is in the 720p rendition");
        ours.push(secs);
    }
    let ff1 = ffmpeg_ladder(dir.path(), &source, Some(1));
    let ff_default = ffmpeg_ladder(dir.path(), &source, None);
    let row = |name: &str, secs: f64, vs: Option<f64>| {
        let ratio = vs.map_or("—".to_string(), |f| format!("{:.2}× ffmpeg's time", secs / f));
        println!("| {name} | {secs:.2} | {:.2}× | {ratio} |", SECONDS / secs);
    };
    row("livecast-transcoder, 1 worker thread", ours[0], Some(ff1));
    row("livecast-transcoder, 2 worker threads", ours[1], Some(ff_default));
    row("ffmpeg libx264 veryfast, -threads 1", ff1, None);
    row("ffmpeg libx264 veryfast, default threads", ff_default, None);
    println!();
    println!(
        "per core: {:.2}× realtime with 1 worker; 2 workers scale {:.2}× over 1",
        SECONDS / ours[0],
        ours[0] / ours[1]
    );
}
