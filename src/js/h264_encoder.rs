//! `H264Encoder`: openh264 in the page, frames in, Annex-B H.264 out.

use super::interop::{copy_bytes, number, object, OptionsReader};
use crate::encode::{EncodePipeline, EncodedOutput, EncoderOptions, EncoderSettings};
use crate::LivecastError;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `new H264Encoder(...)`. */
export interface H264EncoderConfig {
  /** Width in pixels: even, 16..=3840. */
  width: number;
  /** Height in pixels: even, 16..=2160. */
  height: number;
  /** Frame rate the rate control plans for, 1..=120. Default 30. */
  fps?: number;
  /** Target bitrate in kbit/s, 32..=50000. Default 2000. */
  bitrateKbps?: number;
  /** Frames from one IDR to the next, 1..=3600. Default `2 * fps` (two seconds). */
  keyframeIntervalFrames?: number;
}

/** One encoded frame. */
export interface EncodedFrame {
  /** Annex-B H.264 (start-code prefixed NAL units). Keyframes carry SPS and PPS first. */
  data: Uint8Array;
  /** True for an IDR picture, where a decoder (or a segment) can start. */
  keyframe: boolean;
  /** The timestamp passed to the encode call, microseconds. */
  timestampUs: number;
}
"#;

/// An H.264 encoder running Cisco's openh264 in WebAssembly.
///
/// Output is Constrained Baseline, one slice per frame, no B-frames, with SPS and PPS in
/// front of every IDR so that any segment starting at a keyframe decodes alone. Every
/// call is synchronous; run it in a Worker to keep the page responsive.
///
/// ```js
/// const enc = new H264Encoder({ width: 640, height: 480, fps: 30, bitrateKbps: 2000 });
/// const { data, keyframe } = enc.encodeRgba(imageData.data, performance.now() * 1000);
/// enc.free();
/// ```
#[wasm_bindgen]
pub struct H264Encoder {
    /// `None` once `free()` was called.
    pipeline: Option<EncodePipeline>,
    /// Reused input buffers: one frame of RGBA, or three I420 planes.
    rgba: Vec<u8>,
    planes: [Vec<u8>; 3],
}

#[wasm_bindgen]
impl H264Encoder {
    /// Creates an encoder. Throws a `TypeError`/`RangeError` (with `code:
    /// "INVALID_CONFIG"`) naming any missing or out-of-range option.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "H264EncoderConfig")] config: JsValue) -> Result<H264Encoder, JsValue> {
        let reader = OptionsReader::new(&config, "H264Encoder", EncoderOptions::KEYS)?;
        let opts = EncoderOptions {
            width: reader.number("width")?,
            height: reader.number("height")?,
            fps: reader.number("fps")?,
            bitrate_kbps: reader.number("bitrateKbps")?,
            keyframe_interval_frames: reader.number("keyframeIntervalFrames")?,
        };
        let settings = EncoderSettings::from_options(&opts)?;
        Ok(Self { pipeline: Some(EncodePipeline::new(settings)?), rgba: Vec::new(), planes: Default::default() })
    }

    /// Encodes one RGBA frame (`width * height * 4` bytes, e.g. `ImageData.data`; alpha is
    /// ignored). `timestampUs` is its capture time in microseconds.
    #[wasm_bindgen(js_name = encodeRgba, unchecked_return_type = "EncodedFrame")]
    pub fn encode_rgba(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] data: JsValue,
        #[wasm_bindgen(js_name = timestampUs, unchecked_param_type = "number")] timestamp_us: JsValue,
    ) -> Result<JsValue, JsValue> {
        let pipeline = live(&mut self.pipeline)?;
        let s = pipeline.settings();
        let expected = s.width as usize * s.height as usize * 4;
        copy_bytes(&data, "RGBA data", expected, &mut self.rgba)?;
        let ts = number(&timestamp_us, "timestampUs")?;
        Ok(to_js(pipeline.encode_rgba(&self.rgba, ts)?))
    }

    /// Encodes one I420 frame from three tightly packed planes (`Y`: `width * height`
    /// bytes, `U` and `V`: a quarter of that each), as `VideoFrame.copyTo` gives them.
    #[wasm_bindgen(js_name = encodeI420, unchecked_return_type = "EncodedFrame")]
    pub fn encode_i420(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] y: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] u: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Uint8ClampedArray")] v: JsValue,
        #[wasm_bindgen(js_name = timestampUs, unchecked_param_type = "number")] timestamp_us: JsValue,
    ) -> Result<JsValue, JsValue> {
        let pipeline = live(&mut self.pipeline)?;
        let s = pipeline.settings();
        let luma = s.width as usize * s.height as usize;
        let [py, pu, pv] = &mut self.planes;
        copy_bytes(&y, "Y plane", luma, py)?;
        copy_bytes(&u, "U plane", luma / 4, pu)?;
        copy_bytes(&v, "V plane", luma / 4, pv)?;
        let ts = number(&timestamp_us, "timestampUs")?;
        Ok(to_js(pipeline.encode_i420(py, pu, pv, ts)?))
    }

    /// Releases the encoder's memory now rather than at garbage collection. Later calls
    /// throw an `Error` with `code: "FREED"`; calling `free()` again does nothing.
    #[wasm_bindgen(js_name = free)]
    pub fn release(&mut self) {
        self.pipeline = None;
    }

    /// Makes the next encoded frame an IDR (with SPS and PPS), e.g. at a segment boundary.
    #[wasm_bindgen(js_name = forceKeyframe)]
    pub fn force_keyframe(&mut self) -> Result<(), JsValue> {
        Ok(live(&mut self.pipeline)?.force_keyframe()?)
    }

    /// Width in pixels.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> Result<u32, JsValue> {
        Ok(settings(&self.pipeline)?.width)
    }

    /// Height in pixels.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> Result<u32, JsValue> {
        Ok(settings(&self.pipeline)?.height)
    }

    /// Frame rate in force (the option, or the default).
    #[wasm_bindgen(getter)]
    pub fn fps(&self) -> Result<f64, JsValue> {
        Ok(settings(&self.pipeline)?.fps)
    }

    /// Target bitrate in force, kbit/s.
    #[wasm_bindgen(getter, js_name = bitrateKbps)]
    pub fn bitrate_kbps(&self) -> Result<u32, JsValue> {
        Ok(settings(&self.pipeline)?.bitrate_kbps)
    }

    /// Frames between IDRs in force.
    #[wasm_bindgen(getter, js_name = keyframeIntervalFrames)]
    pub fn keyframe_interval_frames(&self) -> Result<u32, JsValue> {
        Ok(settings(&self.pipeline)?.keyframe_interval_frames)
    }

    /// Frames encoded so far.
    #[wasm_bindgen(getter, js_name = framesEncoded)]
    pub fn frames_encoded(&self) -> Result<f64, JsValue> {
        Ok(self.pipeline.as_ref().ok_or(FREED)?.frames_encoded() as f64)
    }

    /// The openh264 version inside this module, e.g. `"2.6.0"`.
    #[wasm_bindgen(js_name = codecVersion)]
    pub fn codec_version() -> String {
        livecast_openh264::codec_version()
    }
}

const FREED: LivecastError = LivecastError::Freed("H264Encoder");

fn live(pipeline: &mut Option<EncodePipeline>) -> Result<&mut EncodePipeline, LivecastError> {
    pipeline.as_mut().ok_or(FREED)
}

fn settings(pipeline: &Option<EncodePipeline>) -> Result<&EncoderSettings, LivecastError> {
    Ok(pipeline.as_ref().ok_or(FREED)?.settings())
}

fn to_js(out: EncodedOutput) -> JsValue {
    let data = js_sys::Uint8Array::from(out.data.as_slice());
    object(&[("data", data.into()), ("keyframe", out.keyframe.into()), ("timestampUs", out.timestamp_us.into())]).into()
}
