//! `AacEncoder`: FDK AAC in WebAssembly, PCM in, ADTS AAC-LC frames with capture times out.
//! The Broadcaster's encode Worker uses it when WebCodecs has no AAC encoder.

use super::interop::{object, OptionsReader};
use crate::broadcast::audio_clock::AudioClock;
use crate::LivecastError;
use js_sys::{Array, Float32Array, Uint8Array};
use livecast_fdkaac::{Encoder, EncoderConfig, SAMPLES_PER_FRAME};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `new AacEncoder(...)`. */
export interface AacEncoderConfig {
  /** Sampling rate of input and output, Hz: 8000..=96000, one of AAC's rates. Default 48000. */
  sampleRate?: number;
  /** Output channels, 1 or 2. Default 2. */
  channels?: number;
  /** Bit rate, kbit/s, 8..=512. Default 128. */
  bitrateKbps?: number;
}

/** One ADTS AAC-LC frame (1024 samples) and the capture time of its first sample. */
export interface AacFrame {
  data: Uint8Array;
  timestampUs: number;
}
"#;

/// An AAC-LC encoder (Fraunhofer FDK AAC compiled to WebAssembly). Synchronous: run it in
/// a Worker.
///
/// ```js
/// const enc = new AacEncoder({ sampleRate: 48000, channels: 2, bitrateKbps: 128 });
/// for (const f of enc.encodePlanar(planes, audioData.numberOfChannels, audioData.timestamp)) mux(f);
/// ```
#[wasm_bindgen]
pub struct AacEncoder {
    encoder: Encoder,
    clock: AudioClock,
    pcm: Vec<i16>,
    planes: Vec<f32>,
}

fn codec(e: livecast_fdkaac::Error) -> LivecastError {
    LivecastError::Codec(e.to_string())
}

#[wasm_bindgen]
impl AacEncoder {
    /// Creates an encoder; throws `INVALID_CONFIG` for an unknown option or a value FDK AAC
    /// does not take.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "AacEncoderConfig | undefined")] config: JsValue) -> Result<AacEncoder, JsValue> {
        let config = if config.is_undefined() { js_sys::Object::new().into() } else { config };
        let reader = OptionsReader::new(&config, "AacEncoder", &["sampleRate", "channels", "bitrateKbps"])?;
        let bad = |message: String| LivecastError::InvalidConfig { object: "AacEncoder", message };
        let sample_rate = reader.number("sampleRate")?.unwrap_or(48_000.0);
        let channels = reader.number("channels")?.unwrap_or(2.0);
        let kbps = reader.number("bitrateKbps")?.unwrap_or(128.0);
        if !(1.0..=2.0).contains(&channels) || channels.fract() != 0.0 {
            return Err(bad(format!("`channels` must be 1 or 2, got {channels}")).into());
        }
        if !(8.0..=512.0).contains(&kbps) {
            return Err(bad(format!("`bitrateKbps` must be within 8..=512, got {kbps}")).into());
        }
        if !(8_000.0..=96_000.0).contains(&sample_rate) || sample_rate.fract() != 0.0 {
            return Err(bad(format!("`sampleRate` must be a whole number of Hz within 8000..=96000, got {sample_rate}")).into());
        }
        let encoder = Encoder::new(EncoderConfig {
            sample_rate: sample_rate as u32,
            channels: channels as u8,
            bitrate_bps: (kbps * 1000.0).round() as u32,
        })
        .map_err(|e| bad(e.to_string()))?;
        let clock = AudioClock::new(sample_rate as u32, encoder.delay_samples(), SAMPLES_PER_FRAME as u32);
        Ok(Self { encoder, clock, pcm: Vec::new(), planes: Vec::new() })
    }

    /// FDK's codec delay, samples per channel.
    #[wasm_bindgen(getter, js_name = delaySamples)]
    pub fn delay_samples(&self) -> u32 {
        self.encoder.delay_samples()
    }

    /// Samples lost between input blocks so far (timestamp jumps), per channel.
    #[wasm_bindgen(getter, js_name = lostSamples)]
    pub fn lost_samples(&self) -> f64 {
        self.clock.lost_samples() as f64
    }

    /// Encodes one block of planar float PCM (`channels` planes of equal length one after
    /// the other, as `AudioData.copyTo` with `format: "f32-planar"` gives them) captured at
    /// `timestampUs`. Mono input is doubled to stereo, stereo mixed to mono, extra channels
    /// after the second left out. Returns the frames completed.
    #[wasm_bindgen(js_name = encodePlanar, unchecked_return_type = "AacFrame[]")]
    pub fn encode_planar(
        &mut self,
        planes: &Float32Array,
        #[wasm_bindgen(js_name = inputChannels)] input_channels: u32,
        #[wasm_bindgen(js_name = timestampUs)] timestamp_us: f64,
    ) -> Result<Array, JsValue> {
        let input_channels = input_channels as usize;
        let len = planes.length() as usize;
        if input_channels == 0 || !len.is_multiple_of(input_channels) || !timestamp_us.is_finite() {
            return Err(LivecastError::InvalidFrame(format!(
                "{len} samples in {input_channels} planes at timestamp {timestamp_us}"
            ))
            .into());
        }
        self.planes.resize(len, 0.0);
        planes.copy_to(&mut self.planes);
        let frames = len / input_channels;
        let out_channels = usize::from(self.encoder.config().channels);
        self.pcm.clear();
        self.pcm.reserve(frames * out_channels);
        let s16 = |x: f32| (x.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        for i in 0..frames {
            let left = self.planes[i];
            let right = if input_channels > 1 { self.planes[frames + i] } else { left };
            if out_channels == 2 {
                self.pcm.push(s16(left));
                self.pcm.push(s16(right));
            } else {
                self.pcm.push(s16((left + right) * 0.5));
            }
        }
        self.clock.input(frames, timestamp_us);
        let encoded = self.encoder.encode(&self.pcm).map_err(codec)?;
        Ok(self.frames_to_js(encoded))
    }

    /// Ends the stream: the frames still in the encoder (padded with silence).
    #[wasm_bindgen(unchecked_return_type = "AacFrame[]")]
    pub fn flush(&mut self) -> Result<Array, JsValue> {
        let encoded = self.encoder.flush().map_err(codec)?;
        Ok(self.frames_to_js(encoded))
    }
}

impl AacEncoder {
    fn frames_to_js(&mut self, frames: Vec<Vec<u8>>) -> Array {
        frames
            .into_iter()
            .map(|f| {
                let ts = self.clock.next_frame_us();
                JsValue::from(object(&[("data", Uint8Array::from(f.as_slice()).into()), ("timestampUs", (ts as f64).into())]))
            })
            .collect()
    }
}
