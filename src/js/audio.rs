//! The Broadcaster's microphone: the `audio` and `audioEncoder` options, the getUserMedia
//! constraints they give, and the audio track handed to the encode worker (which encodes it,
//! see `js/audio-encode.js`). Kept apart from `broadcaster/`, which only calls these.

use super::interop::{object, OptionsReader};
use crate::LivecastError;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MediaStream, MediaStreamTrack};

#[wasm_bindgen(module = "/js/capture-source.js")]
extern "C" {
    #[wasm_bindgen(js_name = openAudioStream, catch)]
    fn open_audio_stream(track: &MediaStreamTrack) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** The Broadcaster's `audio` option (`true`: 128 kbit/s, 2 channels, 48 kHz). */
export interface BroadcastAudioOptions {
  /** AAC-LC bit rate, kbit/s, 16..=320. Default 128. */
  bitrateKbps?: number;
  /** 1 or 2. Default 2. */
  channels?: number;
  /** Asked of the microphone, Hz (8000..=96000, an AAC rate). Default 48000. The microphone's own rate is used when it gives another; `stats.audioEncoder` says which. */
  sampleRate?: number;
}
"#;

/// The `audio` option, read.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOptions {
    pub sample_rate: u32,
    pub channels: u8,
    pub bitrate_kbps: u32,
    /// `"auto"`, `"webcodecs"` or `"fdk-aac"`.
    pub encoder: String,
}

const OBJECT: &str = "Broadcaster";
const RATES: [u32; 12] = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 64_000, 88_200, 96_000];

/// Reads `audio` (`undefined`/`true`: the defaults, `false`: no microphone, or an object)
/// and `audioEncoder`.
pub fn parse(audio: &JsValue, encoder: &JsValue) -> Result<Option<AudioOptions>, LivecastError> {
    let bad = |message: String| LivecastError::InvalidConfig { object: OBJECT, message };
    let encoder = if encoder.is_undefined() {
        "auto".to_owned()
    } else {
        encoder.as_string().ok_or_else(|| LivecastError::ConfigType { object: OBJECT, message: "`audioEncoder` must be a string".into() })?
    };
    if !["auto", "webcodecs", "fdk-aac"].contains(&encoder.as_str()) {
        return Err(bad(format!("`audioEncoder` must be \"auto\", \"webcodecs\" or \"fdk-aac\", got {encoder:?}")));
    }
    let mut options = AudioOptions { sample_rate: 48_000, channels: 2, bitrate_kbps: 128, encoder };
    if audio.is_undefined() || audio.as_bool() == Some(true) {
        return Ok(Some(options));
    }
    if audio.as_bool() == Some(false) {
        return Ok(None);
    }
    let reader = OptionsReader::new(audio, OBJECT, &["bitrateKbps", "channels", "sampleRate"])
        .map_err(|_| LivecastError::ConfigType { object: OBJECT, message: "`audio` must be true, false or { bitrateKbps, channels, sampleRate }".into() })?;
    if let Some(kbps) = reader.number("bitrateKbps")? {
        if !(16.0..=320.0).contains(&kbps) || kbps.fract() != 0.0 {
            return Err(bad(format!("`audio.bitrateKbps` must be a whole number within 16..=320, got {kbps}")));
        }
        options.bitrate_kbps = kbps as u32;
    }
    if let Some(channels) = reader.number("channels")? {
        if channels != 1.0 && channels != 2.0 {
            return Err(bad(format!("`audio.channels` must be 1 or 2, got {channels}")));
        }
        options.channels = channels as u8;
    }
    if let Some(rate) = reader.number("sampleRate")? {
        if rate.fract() != 0.0 || !RATES.contains(&(rate as u32)) {
            return Err(bad(format!("`audio.sampleRate` must be one of AAC's rates {RATES:?}, got {rate}")));
        }
        options.sample_rate = rate as u32;
    }
    Ok(Some(options))
}

impl AudioOptions {
    /// The `audio` member of getUserMedia's constraints.
    pub fn constraints(&self) -> JsValue {
        object(&[
            ("sampleRate", object(&[("ideal", self.sample_rate.into())]).into()),
            ("channelCount", object(&[("ideal", self.channels.into())]).into()),
        ])
        .into()
    }

    /// The encode worker's `config.audio`.
    pub fn worker_config(&self) -> JsValue {
        object(&[
            ("sampleRate", self.sample_rate.into()),
            ("channels", self.channels.into()),
            ("bitrateKbps", self.bitrate_kbps.into()),
            ("encoder", self.encoder.as_str().into()),
        ])
        .into()
    }
}

/// The stream's first audio track, read for the worker: `Ok(None)` when it has none.
/// `readable` is what the worker reads the samples from, transferred to it: a ReadableStream
/// of `AudioData` (MediaStreamTrackProcessor) or a MessagePort an AudioWorklet posts blocks
/// on (where there is no MediaStreamTrackProcessor); `kind` says which.
pub fn open(stream: &MediaStream) -> Result<Option<(JsValue, String)>, String> {
    let Ok(track) = stream.get_audio_tracks().get(0).dyn_into::<MediaStreamTrack>() else { return Ok(None) };
    let source = open_audio_stream(&track).map_err(|e| format!("{e:?}"))?;
    let readable = Reflect::get(&source, &"readable".into()).unwrap_or(JsValue::NULL);
    let kind = Reflect::get(&source, &"kind".into()).ok().and_then(|k| k.as_string()).unwrap_or_default();
    if !readable.is_object() {
        return Err("this browser has neither MediaStreamTrackProcessor nor AudioWorklet to read the microphone off the main thread".into());
    }
    Ok(Some((readable, kind)))
}

/// The audio entries of a `stats` event: the encoder label, frames per second over the
/// window, drops since the start, the peak level over the window.
pub fn stats_entries(label: Option<&str>, frames: f64, dropped: f64, level: f64, seconds: f64) -> Vec<(&'static str, JsValue)> {
    vec![
        ("audioLevel", level.into()),
        ("audioEncoder", label.map_or(JsValue::NULL, JsValue::from)),
        ("audioFps", if seconds > 0.0 { frames / seconds } else { 0.0 }.into()),
        ("audioDroppedFrames", dropped.round().into()),
    ]
}
