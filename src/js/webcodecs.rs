//! `WebCodecsEncoder`: the browser's own H.264 encoder (WebCodecs `VideoEncoder`, often
//! hardware) behind the same contract as `H264Encoder`: Constrained Baseline, Annex-B with
//! SPS/PPS in front of every keyframe, no B-frames, the configured bitrate. Encoders that
//! output the `avc` layout anyway (WebKit) are converted to Annex-B (`livecast_core::avcc`). The
//! Broadcaster's Worker picks it when the browser supports the configuration.

use super::interop::{object, OptionsReader};
use crate::encode::{avc_codec_string, EncoderOptions, EncoderSettings};
use crate::{ErrorCode, LivecastError};
use livecast_core::avcc::{to_annexb, AvcConfig};
use js_sys::{Array, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{
    EncodedVideoChunk, EncodedVideoChunkType, LatencyMode, VideoEncoder, VideoEncoderBitrateMode, VideoEncoderConfig,
    VideoEncoderEncodeOptions, VideoEncoderInit, VideoEncoderSupport, VideoFrame,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** What `WebCodecsEncoder.probe` found. */
export interface WebCodecsSupport {
  supported: boolean;
  /** The codec string tried, e.g. `"avc1.42E01F"`. */
  codec: string;
  /** Why it is or is not used, for stats and logs. */
  reason: string;
}
"#;

/// Encoded frames waiting to be taken, with the error the encoder reported, if any.
#[derive(Default)]
struct Outputs {
    frames: VecDeque<JsValue>,
    /// Timestamps given to `encode`, in order: outputs come back in the same order.
    timestamps: VecDeque<f64>,
    error: Option<String>,
    /// The avcC record of an encoder that outputs length-prefixed NAL units although
    /// Annex-B was asked for (WebKit): its chunks are converted.
    avc: Option<AvcConfig>,
}

/// The WebCodecs H.264 encoder, configured like `H264Encoder`.
#[wasm_bindgen]
pub struct WebCodecsEncoder {
    encoder: VideoEncoder,
    outputs: Rc<RefCell<Outputs>>,
    _on_output: Closure<dyn FnMut(EncodedVideoChunk, JsValue)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

fn settings_from(config: &JsValue) -> Result<EncoderSettings, LivecastError> {
    let r = OptionsReader::new(config, "WebCodecsEncoder", &["width", "height", "fps", "bitrateKbps"])?;
    EncoderSettings::from_options(&EncoderOptions {
        width: r.number("width")?,
        height: r.number("height")?,
        fps: r.number("fps")?,
        bitrate_kbps: r.number("bitrateKbps")?,
        keyframe_interval_frames: None,
    })
}

fn encoder_config(s: &EncoderSettings, codec: &str) -> VideoEncoderConfig {
    let config = VideoEncoderConfig::new(codec, s.height, s.width);
    config.set_bitrate(s.bitrate_kbps * 1000);
    config.set_framerate(s.fps);
    config.set_latency_mode(LatencyMode::Realtime);
    config.set_bitrate_mode(VideoEncoderBitrateMode::Constant);
    // Annex-B output (start codes, parameter sets in band) instead of avcC length prefixes.
    let _ = Reflect::set(&config, &"avc".into(), &object(&[("format", "annexb".into())]));
    config
}

/// `metadata.decoderConfig.description`'s bytes, when the encoder gave one.
fn description(metadata: &JsValue) -> Option<Vec<u8>> {
    if !metadata.is_object() {
        return None;
    }
    let config = Reflect::get(metadata, &"decoderConfig".into()).ok().filter(|c| c.is_object())?;
    let d = Reflect::get(&config, &"description".into()).ok().filter(|d| d.is_object())?;
    let bytes = if let Some(buffer) = d.dyn_ref::<js_sys::ArrayBuffer>() {
        Uint8Array::new(buffer)
    } else if js_sys::ArrayBuffer::is_view(&d) {
        let offset = Reflect::get(&d, &"byteOffset".into()).ok()?.as_f64()? as u32;
        let length = Reflect::get(&d, &"byteLength".into()).ok()?.as_f64()? as u32;
        Uint8Array::new_with_byte_offset_and_length(&Reflect::get(&d, &"buffer".into()).ok()?, offset, length)
    } else {
        return None;
    };
    (bytes.length() > 0).then(|| bytes.to_vec())
}

/// Asks `MediaSource.isTypeSupported` once before the first `VideoEncoder`: WebKitGTK 2.50
/// aborts the page's web process (a GStreamer initialisation assertion) when a
/// `VideoEncoder` is the first media object a page creates, and this query initialises its
/// media stack the way that works. Harmless elsewhere; nothing when there is no MediaSource
/// (a worker).
fn prime_media_stack() {
    let global = js_sys::global();
    for name in ["MediaSource", "ManagedMediaSource"] {
        let Ok(class) = Reflect::get(&global, &name.into()) else { continue };
        let Ok(check) = Reflect::get(&class, &"isTypeSupported".into()) else { continue };
        if let Some(check) = check.dyn_ref::<js_sys::Function>() {
            let _ = check.call1(&class, &r#"video/mp4; codecs="avc1.42E01E""#.into());
            return;
        }
    }
}

fn failure(message: impl Into<String>) -> LivecastError {
    LivecastError::Broadcast { code: ErrorCode::EncoderFailed, message: message.into() }
}

#[wasm_bindgen]
impl WebCodecsEncoder {
    /// Asks the browser whether it can encode H.264 Constrained Baseline at this size,
    /// rate and bitrate. Never rejects: an unsupported or missing WebCodecs resolves to
    /// `{ supported: false, reason }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<WebCodecsSupport>")]
    pub fn probe(#[wasm_bindgen(unchecked_param_type = "{ width: number; height: number; fps?: number; bitrateKbps?: number }")] config: JsValue) -> Promise {
        future_to_promise(async move {
            let answer = |supported: bool, codec: &str, reason: String| -> Result<JsValue, JsValue> {
                Ok(object(&[("supported", supported.into()), ("codec", codec.into()), ("reason", reason.into())]).into())
            };
            let settings = match settings_from(&config) {
                Ok(s) => s,
                Err(e) => return answer(false, "", e.to_string()),
            };
            let Some(codec) = avc_codec_string(settings.width, settings.height, settings.fps) else {
                return answer(false, "", format!("{}x{} at {} fps is beyond H.264 level 5.1", settings.width, settings.height, settings.fps));
            };
            let has_webcodecs = Reflect::get(&js_sys::global(), &"VideoEncoder".into()).map(|v| v.is_function()).unwrap_or(false);
            if !has_webcodecs {
                return answer(false, &codec, "this browser has no WebCodecs VideoEncoder".into());
            }
            prime_media_stack();
            let support = match JsFuture::from(VideoEncoder::is_config_supported(&encoder_config(&settings, &codec))).await {
                Ok(s) => s.unchecked_into::<VideoEncoderSupport>(),
                Err(e) => return answer(false, &codec, format!("VideoEncoder.isConfigSupported failed: {e:?}")),
            };
            if support.get_supported().unwrap_or(false) {
                answer(true, &codec, format!("WebCodecs supports {codec} at {}x{}", settings.width, settings.height))
            } else {
                answer(false, &codec, format!("WebCodecs does not support {codec} at {}x{}", settings.width, settings.height))
            }
        })
    }

    /// Creates and configures the encoder (`{ width, height, fps, bitrateKbps }`, checked
    /// like `H264Encoder`'s). Call `probe` first: an unsupported configuration fails later,
    /// on the first `encode`.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "{ width: number; height: number; fps?: number; bitrateKbps?: number }")] config: JsValue) -> Result<WebCodecsEncoder, JsValue> {
        let settings = settings_from(&config)?;
        let codec = avc_codec_string(settings.width, settings.height, settings.fps)
            .ok_or_else(|| failure("the size and frame rate are beyond H.264 level 5.1"))?;
        let outputs = Rc::new(RefCell::new(Outputs::default()));
        let sink = outputs.clone();
        let on_output = Closure::<dyn FnMut(EncodedVideoChunk, JsValue)>::new(move |chunk: EncodedVideoChunk, metadata: JsValue| {
            let mut data = vec![0u8; chunk.byte_length() as usize];
            if chunk.copy_to_with_u8_slice(&mut data).is_err() {
                sink.borrow_mut().error = Some("could not read an encoded chunk".into());
                return;
            }
            let mut out = sink.borrow_mut();
            // A description means the `avc` layout (ISO/IEC 14496-15): WebKit ignores
            // `format: "annexb"`. Chromium gives none in Annex-B mode.
            if let Some(record) = description(&metadata) {
                match AvcConfig::parse(&record) {
                    Ok(config) => out.avc = Some(config),
                    Err(e) => {
                        out.error = Some(format!("the encoder's description is not an avcC record: {e}"));
                        return;
                    }
                }
            }
            if let Some(config) = &out.avc {
                match to_annexb(&data, config) {
                    Ok(annexb) => data = annexb,
                    Err(e) => {
                        out.error = Some(format!("cannot convert the encoder's output to Annex-B: {e}"));
                        return;
                    }
                }
            }
            let timestamp = out.timestamps.pop_front().unwrap_or(chunk.timestamp());
            let keyframe = chunk.type_() == EncodedVideoChunkType::Key;
            let frame = object(&[
                ("data", Uint8Array::from(data.as_slice()).into()),
                ("keyframe", keyframe.into()),
                ("timestampUs", timestamp.into()),
            ]);
            out.frames.push_back(frame.into());
        });
        let errors = outputs.clone();
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let message = Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"));
            errors.borrow_mut().error = Some(message);
        });
        let init = VideoEncoderInit::new(on_error.as_ref().unchecked_ref(), on_output.as_ref().unchecked_ref());
        prime_media_stack();
        let encoder = VideoEncoder::new(&init).map_err(|e| failure(format!("cannot create a VideoEncoder: {e:?}")))?;
        encoder
            .configure(&encoder_config(&settings, &codec))
            .map_err(|e| failure(format!("VideoEncoder.configure refused {codec}: {e:?}")))?;
        Ok(Self { encoder, outputs, _on_output: on_output, _on_error: on_error })
    }

    /// Queues one frame; `timestampUs` is reported back with its output. `keyframe` asks
    /// for an IDR (with SPS and PPS in front). The frame is not closed.
    pub fn encode(&mut self, frame: &VideoFrame, #[wasm_bindgen(js_name = timestampUs)] timestamp_us: f64, keyframe: bool) -> Result<(), JsValue> {
        self.check()?;
        let options = VideoEncoderEncodeOptions::new();
        options.set_key_frame(keyframe);
        self.outputs.borrow_mut().timestamps.push_back(timestamp_us);
        self.encoder.encode_with_options(frame, &options).map_err(|e| failure(format!("VideoEncoder.encode failed: {e:?}")).into())
    }

    /// Encoded frames produced since the last call, in order: `EncodedFrame[]`.
    #[wasm_bindgen(js_name = takeOutput, unchecked_return_type = "EncodedFrame[]")]
    pub fn take_output(&mut self) -> Result<Array, JsValue> {
        self.check()?;
        Ok(self.outputs.borrow_mut().frames.drain(..).collect())
    }

    /// Frames queued inside the encoder, not yet output (for backpressure).
    #[wasm_bindgen(getter, js_name = queueSize)]
    pub fn queue_size(&self) -> u32 {
        self.encoder.encode_queue_size()
    }

    /// Resolves when every queued frame has been output.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        self.encoder.flush().unchecked_into()
    }

    /// Releases the encoder.
    pub fn close(&mut self) {
        let _ = self.encoder.close();
    }

    fn check(&self) -> Result<(), LivecastError> {
        match &self.outputs.borrow().error {
            Some(e) => Err(failure(format!("the WebCodecs encoder failed: {e}"))),
            None => Ok(()),
        }
    }
}
