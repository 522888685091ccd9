//! `TsSegmenter`: the MPEG-TS segmenter from livecast-core, for JavaScript (the
//! Broadcaster's encode Worker uses it; page authors with their own encoder can too).

use super::interop::{copy_bytes, object, OptionsReader};
use crate::LivecastError;
use livecast_core::ts::{Segment, Segmenter};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `new TsSegmenter(...)`. */
export interface TsSegmenterConfig {
  /** Target segment length in seconds, 0.1..=60. Default 2. */
  segmentSeconds?: number;
  /** Sequence number of the first segment. Default 0. */
  firstSeq?: number;
  /**
   * Carry ADTS AAC audio beside the video (default false): feed it with `pushVideo` and
   * `pushAudio`, end with `finishAll`. Both streams are interleaved by capture time and each
   * AAC frame lands in exactly one segment.
   */
  audio?: boolean;
}

/** One MPEG-TS segment: PAT, PMT, then an IDR with SPS/PPS; decodes on its own. */
export interface TsSegment {
  seq: number;
  data: Uint8Array;
  /** Timestamp of the first frame, microseconds. */
  firstTimestampUs: number;
  durationUs: number;
  frames: number;
  /** AAC frames in the segment (0 without audio). */
  audioFrames: number;
}
"#;

/// Cuts encoded H.264 frames into self-contained MPEG-TS segments, at the first keyframe
/// after the target duration. Ask `keyframeDue(ts)` before encoding each frame and force
/// a keyframe when it answers true.
#[wasm_bindgen]
pub struct TsSegmenter {
    inner: Segmenter,
    frame: Vec<u8>,
}

#[wasm_bindgen]
impl TsSegmenter {
    /// Creates a segmenter; throws `INVALID_CONFIG` for an unknown option or a length
    /// outside 0.1..=60 s.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "TsSegmenterConfig | undefined")] config: JsValue) -> Result<TsSegmenter, JsValue> {
        let config = if config.is_undefined() { js_sys::Object::new().into() } else { config };
        let reader = OptionsReader::new(&config, "TsSegmenter", &["segmentSeconds", "firstSeq", "audio"])?;
        let audio = reader.bool("audio")?.unwrap_or(false);
        let seconds = reader.number("segmentSeconds")?.unwrap_or(2.0);
        let first_seq = reader.number("firstSeq")?.unwrap_or(0.0);
        let bad = |message: String| LivecastError::InvalidConfig { object: "TsSegmenter", message };
        if !(0.1..=60.0).contains(&seconds) {
            return Err(bad(format!("`segmentSeconds` must be within 0.1..=60, got {seconds}")).into());
        }
        if !(0.0..=1e15).contains(&first_seq) || first_seq.fract() != 0.0 {
            return Err(bad(format!("`firstSeq` must be a whole number >= 0, got {first_seq}")).into());
        }
        let make = if audio { Segmenter::with_audio } else { Segmenter::new };
        let inner = make((seconds * 1e6).round() as i64, first_seq as u64).map_err(|e| bad(e.to_string()))?;
        Ok(Self { inner, frame: Vec::new() })
    }

    /// True when the frame captured at `timestampUs` should be encoded as a keyframe.
    #[wasm_bindgen(js_name = keyframeDue)]
    pub fn keyframe_due(&self, #[wasm_bindgen(js_name = timestampUs)] timestamp_us: f64) -> bool {
        self.inner.keyframe_due(timestamp_us as i64)
    }

    /// Decides, before the frame captured at `timestampUs` is encoded, whether it is to be a
    /// keyframe, and remembers the decision: `keyframeDue`'s rule for encoders whose output
    /// comes later (several encoders each a segment behind). Call it once per frame, in
    /// capture order.
    #[wasm_bindgen(js_name = scheduleKeyframe)]
    pub fn schedule_keyframe(&mut self, #[wasm_bindgen(js_name = timestampUs)] timestamp_us: f64) -> bool {
        self.inner.schedule_keyframe(timestamp_us as i64)
    }

    /// Adds one encoded frame (Annex-B); returns the segment it completed, if any.
    /// Frames before the first keyframe are dropped; timestamps must increase.
    #[wasm_bindgen(unchecked_return_type = "TsSegment | undefined")]
    pub fn push(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] data: JsValue,
        keyframe: bool,
        #[wasm_bindgen(js_name = timestampUs)] timestamp_us: f64,
    ) -> Result<JsValue, JsValue> {
        let len = data.dyn_ref::<js_sys::Uint8Array>().map_or(0, |a| a.length() as usize);
        copy_bytes(&data, "frame data", len, &mut self.frame)?;
        let closed = self.inner.push(&self.frame, keyframe, timestamp_us as i64).map_err(|e| LivecastError::InvalidFrame(e.to_string()))?;
        Ok(closed.map_or(JsValue::UNDEFINED, to_js))
    }

    /// Adds one encoded video frame (a segmenter with `audio: true`); returns the segments it
    /// completed (frames wait for the audio up to their capture time, so none or several).
    #[wasm_bindgen(js_name = pushVideo, unchecked_return_type = "TsSegment[]")]
    pub fn push_video(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] data: JsValue,
        keyframe: bool,
        #[wasm_bindgen(js_name = timestampUs)] timestamp_us: f64,
    ) -> Result<js_sys::Array, JsValue> {
        let len = data.dyn_ref::<js_sys::Uint8Array>().map_or(0, |a| a.length() as usize);
        copy_bytes(&data, "frame data", len, &mut self.frame)?;
        let closed = self.inner.push_video(&self.frame, keyframe, timestamp_us as i64).map_err(|e| LivecastError::InvalidFrame(e.to_string()))?;
        Ok(closed.into_iter().map(to_js).collect())
    }

    /// Adds one or more whole ADTS AAC frames, the first captured at `timestampUs`; returns
    /// the segments completed.
    #[wasm_bindgen(js_name = pushAudio, unchecked_return_type = "TsSegment[]")]
    pub fn push_audio(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] data: JsValue,
        #[wasm_bindgen(js_name = timestampUs)] timestamp_us: f64,
    ) -> Result<js_sys::Array, JsValue> {
        let len = data.dyn_ref::<js_sys::Uint8Array>().map_or(0, |a| a.length() as usize);
        copy_bytes(&data, "audio data", len, &mut self.frame)?;
        let closed = self.inner.push_audio(&self.frame, timestamp_us as i64).map_err(|e| LivecastError::InvalidFrame(e.to_string()))?;
        Ok(closed.into_iter().map(to_js).collect())
    }

    /// Audio frames not written so far: `{ beforeVideo, late, queueFull }`.
    #[wasm_bindgen(js_name = audioDrops, unchecked_return_type = "{ beforeVideo: number; late: number; queueFull: number }")]
    pub fn audio_drops(&self) -> JsValue {
        let d = self.inner.audio_drops();
        object(&[
            ("beforeVideo", (d.before_video as f64).into()),
            ("late", (d.late as f64).into()),
            ("queueFull", (d.queue_full as f64).into()),
        ])
        .into()
    }

    /// Writes everything still queued and closes the last segment: the end of the stream.
    #[wasm_bindgen(js_name = finishAll, unchecked_return_type = "TsSegment[]")]
    pub fn finish_all(&mut self) -> Result<js_sys::Array, JsValue> {
        let closed = self.inner.finish_all().map_err(|e| LivecastError::InvalidFrame(e.to_string()))?;
        Ok(closed.into_iter().map(to_js).collect())
    }

    /// Closes the last segment at the end of the stream.
    #[wasm_bindgen(unchecked_return_type = "TsSegment | undefined")]
    pub fn finish(&mut self) -> JsValue {
        self.inner.finish().map_or(JsValue::UNDEFINED, to_js)
    }
}

fn to_js(s: Segment) -> JsValue {
    object(&[
        ("seq", (s.seq as f64).into()),
        ("data", js_sys::Uint8Array::from(s.data.as_slice()).into()),
        ("firstTimestampUs", (s.first_timestamp_us as f64).into()),
        ("durationUs", (s.duration_us as f64).into()),
        ("frames", s.frames.into()),
        ("audioFrames", s.audio_frames.into()),
    ])
    .into()
}
