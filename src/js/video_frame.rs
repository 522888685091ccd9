//! `videoFrameToI420`: a camera `VideoFrame` (I420 or NV12, as cameras give them) copied
//! into one tightly packed I420 buffer, the input `H264Encoder.encodeI420` takes.
//! Used by the Broadcaster's Worker and available to pages with their own capture loop.

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::interop::object;
use crate::LivecastError;

fn frame_error(message: impl Into<String>) -> JsValue {
    LivecastError::InvalidFrame(message.into()).into()
}

fn number(obj: &JsValue, key: &str) -> f64 {
    Reflect::get(obj, &key.into()).ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN)
}

/// Copies the visible part of `frame` into `out` (or a new buffer) as tightly packed I420:
/// Y (`width * height` bytes), then U, then V (a quarter each). Resolves to that buffer,
/// or to `null` when the frame is in another pixel format (draw it to a canvas and use
/// `encodeRgba` then). The frame is not closed.
#[wasm_bindgen(js_name = videoFrameToI420, unchecked_return_type = "Promise<Uint8Array | null>")]
pub fn video_frame_to_i420(
    #[wasm_bindgen(unchecked_param_type = "VideoFrame")] frame: JsValue,
    out: Option<Uint8Array>,
) -> Promise {
    wasm_bindgen_futures::future_to_promise(copy_i420(frame, out))
}

async fn copy_i420(frame: JsValue, out: Option<Uint8Array>) -> Result<JsValue, JsValue> {
    let format = Reflect::get(&frame, &"format".into())?.as_string().unwrap_or_default();
    let rect = Reflect::get(&frame, &"visibleRect".into())?;
    let (w, h) = (number(&rect, "width"), number(&rect, "height"));
    if !(w >= 2.0 && h >= 2.0) || w % 2.0 != 0.0 || h % 2.0 != 0.0 {
        return Err(frame_error(format!("the frame's visible size {w}x{h} is not even and non-zero")));
    }
    let (luma, chroma) = (w * h, w * h / 4.0);
    let total = (luma + 2.0 * chroma) as u32;
    let out = match out {
        Some(buffer) if buffer.length() == total => buffer,
        Some(buffer) => return Err(frame_error(format!("the output buffer has {} bytes, a {w}x{h} frame needs {total}", buffer.length()))),
        None => Uint8Array::new_with_length(total),
    };
    let plane = |offset: f64, stride: f64| JsValue::from(object(&[("offset", offset.into()), ("stride", stride.into())]));
    let copy_to: Function = Reflect::get(&frame, &"copyTo".into())?.dyn_into().map_err(|_| frame_error("not a VideoFrame"))?;
    match format.as_str() {
        "I420" => {
            let layout = Array::of3(&plane(0.0, w), &plane(luma, w / 2.0), &plane(luma + chroma, w / 2.0));
            let options = object(&[("rect", rect), ("layout", layout.into())]);
            JsFuture::from(copy_to.call2(&frame, &out, &options)?.dyn_into::<Promise>()?).await?;
        }
        "NV12" => {
            let nv12 = Uint8Array::new_with_length(total);
            let layout = Array::of2(&plane(0.0, w), &plane(luma, w));
            let options = object(&[("rect", rect), ("layout", layout.into())]);
            JsFuture::from(copy_to.call2(&frame, &nv12, &options)?.dyn_into::<Promise>()?).await?;
            let nv12 = nv12.to_vec();
            let (y, uv) = nv12.split_at(luma as usize);
            let mut i420 = Vec::with_capacity(total as usize);
            i420.extend_from_slice(y);
            i420.extend(uv.iter().step_by(2));
            i420.extend(uv.iter().skip(1).step_by(2));
            out.copy_from(&i420);
        }
        _ => return Ok(JsValue::NULL),
    }
    Ok(out.into())
}
