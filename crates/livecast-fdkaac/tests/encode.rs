//! The native build, judged by ffmpeg: what it writes is ADTS AAC-LC at the configured rate,
//! channels and bit rate, decodes without an error, and carries the input's signal.

use livecast_fdkaac::{testing, Encoder, EncoderConfig, Error, SAMPLES_PER_FRAME};
use std::path::{Path, PathBuf};
use std::process::Command;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("livecast-fdkaac-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn ffprobe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A 1 kHz square-ish tone, integer-only, `channels` interleaved.
fn tone(rate: u32, channels: usize, seconds: f64) -> Vec<i16> {
    let period = (rate / 1000) as usize;
    let n = (f64::from(rate) * seconds) as usize;
    (0..n).flat_map(|i| std::iter::repeat_n(if i % period < period / 2 { 8000i16 } else { -8000 }, channels)).collect()
}

fn encode_all(config: EncoderConfig, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut encoder = Encoder::new(config).unwrap();
    let mut frames = Vec::new();
    // Uneven chunks, as audio callbacks deliver them.
    for chunk in pcm.chunks(usize::from(config.channels) * 441) {
        frames.extend(encoder.encode(chunk).unwrap());
    }
    frames.extend(encoder.flush().unwrap());
    frames
}

#[test]
fn encodes_adts_aac_lc_that_ffmpeg_decodes_at_the_right_rate_and_channels() {
    for (rate, channels, kbps) in [(48_000, 2u8, 128u32), (44_100, 1, 64)] {
        let config = EncoderConfig { sample_rate: rate, channels, bitrate_bps: kbps * 1000 };
        let seconds = 3.0;
        let frames = encode_all(config, &tone(rate, channels.into(), seconds));
        let expected = (f64::from(rate) * seconds / SAMPLES_PER_FRAME as f64).ceil() as usize;
        assert!((expected..=expected + 3).contains(&frames.len()), "{} frames for {expected}", frames.len());
        for f in &frames {
            let h = livecast_core::adts::parse_header(f).expect("each output is one whole ADTS frame");
            assert_eq!(h.frame_len, f.len());
            assert_eq!((h.config.object_type, h.config.sample_rate, h.config.channels), (2, rate, channels));
        }
        let path = temp(&format!("tone-{rate}-{channels}.aac"));
        std::fs::write(&path, frames.concat()).unwrap();
        assert_eq!(ffprobe(&path, "stream=codec_name,profile,sample_rate,channels"), format!("aac,LC,{rate},{channels}"));
        let decode = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(decode.status.success() && decode.stderr.is_empty(), "{}", String::from_utf8_lossy(&decode.stderr));
        let bits = frames.iter().map(|f| f.len()).sum::<usize>() as f64 * 8.0;
        let kbps_out = bits / (frames.len() as f64 * SAMPLES_PER_FRAME as f64 / f64::from(rate)) / 1000.0;
        assert!((kbps_out - f64::from(kbps)).abs() < f64::from(kbps) * 0.15, "{kbps_out:.1} kbit/s for {kbps}");
        // The tone survives: decoded RMS level of a ±8000 square wave is about -12 dBFS.
        let stats = Command::new("ffmpeg")
            .args(["-v", "info", "-i"])
            .arg(&path)
            .args(["-af", "astats=measure_overall=RMS_level:measure_perchannel=none", "-f", "null", "-"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&stats.stderr);
        let rms: f64 = text
            .lines()
            .find_map(|l| l.split("RMS level dB:").nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no RMS level in {text}"));
        assert!((-15.0..-9.0).contains(&rms), "RMS {rms} dBFS");
    }
}

#[test]
fn same_input_same_bytes_and_a_known_digest() {
    let a = testing::reference_frames().unwrap();
    let b = encode_all(EncoderConfig::default(), &testing::stereo_pcm(96_000));
    assert_eq!(a, b, "same input, same bytes");
    // The SDK's wasm test (src/js/aac_tests.rs) checks the wasm build against this digest.
    assert_eq!(testing::fnv1a(&a), livecast_fdkaac::testing::REFERENCE_DIGEST, "{:#018x}", testing::fnv1a(&a));
}

#[test]
fn refuses_what_it_cannot_encode() {
    let bad = |c: EncoderConfig| matches!(Encoder::new(c), Err(Error::InvalidConfig(_)));
    assert!(bad(EncoderConfig { sample_rate: 47_999, ..Default::default() }));
    assert!(bad(EncoderConfig { channels: 3, ..Default::default() }));
    assert!(bad(EncoderConfig { channels: 0, ..Default::default() }));
    assert!(bad(EncoderConfig { bitrate_bps: 1000, ..Default::default() }));
    let mut encoder = Encoder::new(EncoderConfig::default()).unwrap();
    assert!(matches!(encoder.encode(&[1, 2, 3]), Err(Error::InvalidInput(_))));
    assert!(encoder.delay_samples() >= 1024, "delay {}", encoder.delay_samples());
}

/// The decoded output lags the input by exactly `delay_samples()`: what the broadcaster
/// takes off to stamp frames with their capture time. Checked with a click at 1 s.
#[test]
fn delay_samples_is_the_decoded_lag() {
    let config = EncoderConfig { sample_rate: 48_000, channels: 1, bitrate_bps: 128_000 };
    let mut pcm = vec![0i16; 96_000];
    for s in &mut pcm[48_000..48_048] {
        *s = 20_000;
    }
    let mut encoder = Encoder::new(config).unwrap();
    let mut frames = encoder.encode(&pcm).unwrap();
    frames.extend(encoder.flush().unwrap());
    let aac = temp("click.aac");
    std::fs::write(&aac, frames.concat()).unwrap();
    let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&aac).args(["-f", "s16le", "-ac", "1", "-"]).output().unwrap();
    assert!(out.status.success());
    let decoded: Vec<i16> = out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let onset = decoded.iter().position(|s| s.unsigned_abs() > 4000).expect("the click is decoded");
    let lag = onset as i64 - 48_000;
    eprintln!("delay_samples {} decoded lag {lag}", encoder.delay_samples());
    assert!((lag - i64::from(encoder.delay_samples())).abs() <= 48, "decoded lag {lag}, delay_samples {}", encoder.delay_samples());
}
