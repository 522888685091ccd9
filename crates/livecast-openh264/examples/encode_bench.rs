//! Native side of `benches/encode.mjs`: writes the benchmark's input frames, and encodes
//! them with openh264 built natively (C++ only, no assembly: the same code as the wasm
//! build) to give the peer figure measured in the same run.
//!
//! ```text
//! encode_bench frames WIDTH HEIGHT COUNT OUT.yuv
//! encode_bench encode WIDTH HEIGHT FPS KBPS IN.yuv OUT.h264   # prints one JSON line
//! ```

use livecast_core::pattern::TestPattern;
use livecast_openh264::{Encoder, EncoderConfig, Picture};
use std::time::Instant;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("argument {i} ({name}) missing or invalid"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("frames") => {
            let (w, h, n): (u32, u32, u32) = (arg(&args, 2, "width"), arg(&args, 3, "height"), arg(&args, 4, "count"));
            let pattern = TestPattern::new(w, h).expect("valid size");
            let mut out = Vec::with_capacity((w * h * 3 / 2 * n) as usize);
            for i in 0..n {
                out.extend(pattern.frame(i).to_packed_bytes());
            }
            std::fs::write(&args[5], out).expect("write frames");
        }
        Some("encode") => {
            let (w, h): (u32, u32) = (arg(&args, 2, "width"), arg(&args, 3, "height"));
            let (fps, kbps): (f32, u32) = (arg(&args, 4, "fps"), arg(&args, 5, "kbps"));
            let frames = std::fs::read(&args[6]).expect("read frames");
            let config = EncoderConfig { width: w, height: h, fps, bitrate_bps: kbps * 1000, keyframe_interval_frames: (fps * 2.0) as u32 };
            let mut encoder = Encoder::new(config).expect("encoder");
            let (luma, chroma) = ((w * h) as usize, (w * h / 4) as usize);
            let mut times = Vec::new();
            let mut stream = Vec::new();
            let start = Instant::now();
            for (i, f) in frames.chunks_exact(luma + 2 * chroma).enumerate() {
                let picture = Picture::packed(w, h, &f[..luma], &f[luma..luma + chroma], &f[luma + chroma..]);
                let t = Instant::now();
                let out = encoder.encode(&picture, (i as f32 * 1000.0 / fps) as i64).expect("encode");
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                stream.extend(out.data);
            }
            let total = start.elapsed().as_secs_f64();
            std::fs::write(&args[7], &stream).expect("write stream");
            times.sort_by(f64::total_cmp);
            let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
            println!(
                "{{\"frames\":{},\"fps\":{:.2},\"p50Ms\":{:.2},\"p95Ms\":{:.2},\"bytes\":{}}}",
                times.len(),
                times.len() as f64 / total,
                pct(0.5),
                pct(0.95),
                stream.len()
            );
        }
        _ => eprintln!("usage: encode_bench frames W H COUNT OUT.yuv | encode_bench encode W H FPS KBPS IN.yuv OUT.h264"),
    }
}
