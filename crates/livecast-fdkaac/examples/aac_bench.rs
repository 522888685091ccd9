//! Native half of `benches/audio.mjs`: encodes `seconds` (default 60) of the shared test PCM
//! (48 kHz stereo, `testing::stereo_pcm`) at 128 kbit/s in 10 ms blocks, as the browser
//! does, and prints one JSON line: milliseconds, frames, bytes and the output's digest.
//!
//! Usage: cargo run --release -p livecast-fdkaac --example aac_bench [-- SECONDS]

use livecast_fdkaac::{testing, Encoder, EncoderConfig};
use std::time::Instant;

fn main() -> Result<(), livecast_fdkaac::Error> {
    let seconds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let pcm = testing::stereo_pcm(48_000 * seconds);
    let mut encoder = Encoder::new(EncoderConfig::default())?;
    let start = Instant::now();
    let mut frames = Vec::new();
    for block in pcm.chunks(2 * 480) {
        frames.extend(encoder.encode(block)?);
    }
    frames.extend(encoder.flush()?);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let bytes: usize = frames.iter().map(Vec::len).sum();
    println!(
        "{{\"seconds\":{seconds},\"ms\":{ms:.1},\"frames\":{},\"bytes\":{bytes},\"digest\":\"{:016x}\"}}",
        frames.len(),
        testing::fnv1a(&frames)
    );
    Ok(())
}
