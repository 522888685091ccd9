//! Deterministic test input shared by the native tests and the wasm test in the SDK, so both
//! encode the very same samples: integer arithmetic only (no `sin`, whose last bit may
//! differ between libms).

/// `frames` interleaved stereo sample frames: a triangle wave per channel (different
/// pitches) with a little pseudo-random noise.
pub fn stereo_pcm(frames: usize) -> Vec<i16> {
    let mut x = 0x1234_5678u32;
    let mut out = Vec::with_capacity(frames * 2);
    for n in 0..frames as i64 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let noise = (x >> 24) as i64 - 128;
        let tri = |period: i64, amp: i64| {
            let p = n % period;
            let half = period / 2;
            (if p < half { p } else { period - p } * 4 * amp / period) - amp
        };
        out.push((tri(109, 12_000) + noise * 8) as i16);
        out.push((tri(47, 8_000) - noise * 8) as i16);
    }
    out
}

/// 64-bit FNV-1a of some frames, to compare outputs across builds.
pub fn fnv1a(frames: &[Vec<u8>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in frames.iter().flatten() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV-1a of [`reference_frames`]:
/// what the native build writes (checked by the crate's tests) and the wasm build must too.
pub const REFERENCE_DIGEST: u64 = 0x8204_1fed_42fc_bd60;

/// [`stereo_pcm`]`(96_000)` (2 s) encoded at the default configuration, fed in chunks of
/// 441 sample frames, then flushed.
pub fn reference_frames() -> Result<Vec<Vec<u8>>, crate::Error> {
    let pcm = stereo_pcm(96_000);
    let mut encoder = crate::Encoder::new(crate::EncoderConfig::default())?;
    let mut frames = Vec::new();
    for chunk in pcm.chunks(2 * 441) {
        frames.extend(encoder.encode(chunk)?);
    }
    frames.extend(encoder.flush()?);
    Ok(frames)
}
