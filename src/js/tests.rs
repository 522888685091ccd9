//! The JavaScript API, exercised inside headless Chromium (`wasm-pack test --headless --chrome`).

use super::h264_encoder::H264Encoder;
use js_sys::{Reflect, Uint8Array, Uint8ClampedArray};
use livecast_core::annexb::{starts_decodable, SpsProfile};
use livecast_core::quality::psnr;
use livecast_core::I420Frame;
use livecast_openh264::Decoder;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn options(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap()
}

/// Asserts `err` is a JS error of class `class` with `code` and a message containing `text`.
fn assert_js_error(err: JsValue, class: &str, code: &str, text: &str) {
    let error: &js_sys::Error = err.dyn_ref().expect("an Error instance");
    assert_eq!(String::from(error.name()), class);
    assert_eq!(get(&err, "code").as_string().as_deref(), Some(code));
    let message = String::from(error.message());
    assert!(message.contains(text), "{message:?} should contain {text:?}");
}

#[wasm_bindgen_test]
fn encodes_rgba_from_a_clamped_array_into_decodable_constrained_baseline() {
    let (w, h) = (320u32, 240u32);
    let mut enc = H264Encoder::new(options(r#"{"width":320,"height":240,"fps":30,"bitrateKbps":1500,"keyframeIntervalFrames":10}"#)).unwrap();
    let mut decoder = Decoder::new().unwrap();
    let mut stream = Vec::new();
    for n in 0..20u32 {
        let rgba: Vec<u8> = (0..w * h).flat_map(|i| [((i % w) + n * 4) as u8, (i / w) as u8, (n * 9) as u8, 255]).collect();
        let out = enc.encode_rgba(Uint8ClampedArray::from(rgba.as_slice()).into(), (n as f64 * 33_333.0).into()).unwrap();
        let data = get(&out, "data").dyn_into::<Uint8Array>().unwrap().to_vec();
        assert_eq!(get(&out, "keyframe").as_bool(), Some(n % 10 == 0), "frame {n}");
        assert_eq!(get(&out, "timestampUs").as_f64(), Some(n as f64 * 33_333.0));
        if n % 10 == 0 {
            assert!(starts_decodable(&data), "IDR {n} must carry SPS and PPS");
        }
        let picture = decoder.decode(&data).unwrap().expect("one picture per frame");
        let reference = I420Frame::from_rgba(&rgba, w, h).unwrap();
        let db = psnr(&reference.to_packed_bytes(), &[picture.y, picture.u, picture.v].concat());
        assert!(db >= 35.0, "frame {n}: {db:.1} dB");
        stream.extend(data);
    }
    assert!(SpsProfile::find(&stream).unwrap().is_constrained_baseline());
    assert_eq!(enc.frames_encoded().unwrap(), 20.0);
}

#[wasm_bindgen_test]
fn i420_planes_and_forced_keyframes() {
    let mut enc = H264Encoder::new(options(r#"{"width":64,"height":48}"#)).unwrap();
    assert_eq!((enc.fps().unwrap(), enc.bitrate_kbps().unwrap(), enc.keyframe_interval_frames().unwrap()), (30.0, 2000, 60));
    let frame = livecast_core::pattern::TestPattern::new(64, 48).unwrap().frame(0);
    let planes = |f: &I420Frame| -> [JsValue; 3] { [f.y(), f.u(), f.v()].map(|p| Uint8Array::from(p).into()) };
    let [y, u, v] = planes(&frame);
    assert_eq!(get(&enc.encode_i420(y, u, v, 0.into()).unwrap(), "keyframe").as_bool(), Some(true));
    let [y, u, v] = planes(&frame);
    assert_eq!(get(&enc.encode_i420(y, u, v, 1.into()).unwrap(), "keyframe").as_bool(), Some(false));
    enc.force_keyframe().unwrap();
    let [y, u, v] = planes(&frame);
    assert_eq!(get(&enc.encode_i420(y, u, v, 2.into()).unwrap(), "keyframe").as_bool(), Some(true));
}

#[wasm_bindgen_test]
fn bad_options_throw_typed_errors() {
    let cases = [
        ("null", "TypeError", "options must be an object"),
        (r#"{"height":480}"#, "TypeError", "`width` is required"),
        (r#"{"width":641,"height":480}"#, "RangeError", "`width` must be even"),
        (r#"{"width":0,"height":480}"#, "RangeError", "`width` must be within 16..=3840"),
        (r#"{"width":640,"height":480,"bitrateKbps":"2000"}"#, "TypeError", "`bitrateKbps` must be a number, got string"),
        (r#"{"width":640,"height":480,"bitrateKbps":900000}"#, "RangeError", "`bitrateKbps` must be within 32..=50000"),
        (r#"{"width":640,"height":480,"fps":0}"#, "RangeError", "`fps` must be within 1..=120"),
        (r#"{"width":640,"height":480,"bitrate":2000}"#, "TypeError", "unknown option `bitrate`"),
    ];
    for (json, class, text) in cases {
        let err = H264Encoder::new(options(json)).err().unwrap_or_else(|| panic!("{json} should be refused"));
        assert_js_error(err, class, "INVALID_CONFIG", text);
    }
}

#[wasm_bindgen_test]
fn bad_frames_throw_and_the_encoder_survives() {
    let mut enc = H264Encoder::new(options(r#"{"width":64,"height":48}"#)).unwrap();
    let ok = || JsValue::from(Uint8Array::new_with_length(64 * 48 * 4));
    assert_js_error(enc.encode_rgba(Uint8Array::new_with_length(10).into(), 0.into()).unwrap_err(), "RangeError", "INVALID_FRAME", "RGBA data has 10 bytes, expected 12288");
    assert_js_error(enc.encode_rgba(js_sys::Array::new().into(), 0.into()).unwrap_err(), "TypeError", "INVALID_FRAME", "got an Array");
    assert_js_error(enc.encode_rgba(ok(), "soon".into()).unwrap_err(), "TypeError", "INVALID_FRAME", "timestampUs must be a number");
    assert_js_error(enc.encode_rgba(ok(), (-5).into()).unwrap_err(), "RangeError", "INVALID_FRAME", "timestampUs");
    let small = JsValue::from(Uint8Array::new_with_length(10));
    assert_js_error(
        enc.encode_i420(Uint8Array::new_with_length(64 * 48).into(), small, Uint8Array::new_with_length(768).into(), 0.into()).unwrap_err(),
        "RangeError",
        "INVALID_FRAME",
        "U plane has 10 bytes, expected 768",
    );
    assert!(enc.encode_rgba(ok(), 0.into()).is_ok());
}

#[wasm_bindgen_test]
fn use_after_free_throws_freed() {
    let mut enc = H264Encoder::new(options(r#"{"width":64,"height":48}"#)).unwrap();
    enc.release();
    enc.release(); // twice is fine
    let rgba = JsValue::from(Uint8Array::new_with_length(64 * 48 * 4));
    assert_js_error(enc.encode_rgba(rgba, 0.into()).unwrap_err(), "Error", "FREED", "this H264Encoder was freed");
    assert_js_error(enc.force_keyframe().unwrap_err(), "Error", "FREED", "freed");
    assert!(enc.width().is_err());
}

#[wasm_bindgen_test]
fn reports_the_codec_version() {
    assert!(H264Encoder::codec_version().starts_with("2."));
}

#[wasm_bindgen_test]
fn broadcaster_options_are_checked_with_typed_errors() {
    use super::broadcaster::Broadcaster;
    let ok = r#"{"relayUrl":"http://127.0.0.1:8080/","streamId":"abc123","streamKey":"k"}"#;
    let b = Broadcaster::new(options(ok)).unwrap();
    for transcode in [r#"true"#, r#"false"#, r#"{"profiles":["P360p30fps16x9","P240p30fps16x9"],"maxPricePerPixel":0}"#] {
        let json = format!(r#"{{"relayUrl":"http://x","streamId":"a","streamKey":"k","transcode":{transcode}}}"#);
        assert!(Broadcaster::new(options(&json)).is_ok(), "{json}");
    }
    assert_eq!(b.state(), "idle");
    assert!(b.media_stream().is_null(), "null (not undefined) before start: `video.srcObject = b.mediaStream` type-checks");
    let cases = [
        (r#"{"streamId":"a","streamKey":"k"}"#, "TypeError", "`relayUrl` is required"),
        (r#"{"relayUrl":"ftp://x","streamId":"a","streamKey":"k"}"#, "RangeError", "`relayUrl` must be an http(s) URL"),
        (r#"{"relayUrl":"http://x","streamId":"../etc","streamKey":"k"}"#, "RangeError", "`streamId` must be 1..=64"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":""}"#, "RangeError", "`streamKey` is empty"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","video":{"width":641}}"#, "RangeError", "video: `width` must be even"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","video":{"fps":"30"}}"#, "TypeError", "`fps` must be a number"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","segmentSeconds":30}"#, "RangeError", "`segmentSeconds` must be within 0.5..=10"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","maxQueuedSegments":0}"#, "RangeError", "`maxQueuedSegments`"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","segmentSecond":2}"#, "TypeError", "unknown option `segmentSecond`"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","transcode":{"profiles":["P999p"]}}"#, "RangeError", "unknown Livepeer profile \"P999p\""),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","transcode":"yes"}"#, "TypeError", "options must be an object"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","transcode":{"maxPricePerPixel":-1}}"#, "RangeError", "maxPricePerPixel"),
        (r#"{"relayUrl":"http://x","streamId":"a","streamKey":"k","video":{"width":320,"height":240},"transcode":true}"#, "RangeError", "no profile below the capture size"),
    ];
    for (json, class, text) in cases {
        let err = Broadcaster::new(options(json)).err().unwrap_or_else(|| panic!("{json} should be refused"));
        assert_js_error(err, class, "INVALID_CONFIG", text);
    }
}

#[wasm_bindgen_test]
fn ts_segmenter_cuts_encoder_output_into_probeable_segments() {
    use super::segmenter::TsSegmenter;
    let mut enc = H264Encoder::new(options(r#"{"width":64,"height":48,"keyframeIntervalFrames":1000}"#)).unwrap();
    let mut seg = TsSegmenter::new(options(r#"{"segmentSeconds":0.5,"firstSeq":3}"#)).unwrap();
    let frame = livecast_core::pattern::TestPattern::new(64, 48).unwrap();
    let mut segments = Vec::new();
    for n in 0..40u32 {
        let ts = n as f64 * 33_333.0;
        if seg.keyframe_due(ts) {
            enc.force_keyframe().unwrap();
        }
        let f = frame.frame(n);
        let [y, u, v] = [f.y(), f.u(), f.v()].map(|p| JsValue::from(Uint8Array::from(p)));
        let out = enc.encode_i420(y, u, v, ts.into()).unwrap();
        let closed = seg.push(get(&out, "data"), get(&out, "keyframe").as_bool().unwrap(), ts).unwrap();
        if !closed.is_undefined() {
            segments.push(closed);
        }
    }
    let last = seg.finish();
    assert!(!last.is_undefined());
    segments.push(last);
    assert_eq!(get(&segments[0], "seq").as_f64(), Some(3.0));
    assert_eq!(segments.len(), 3, "16 + 16 + 8 frames");
    for s in &segments {
        let data = get(s, "data").dyn_into::<Uint8Array>().unwrap().to_vec();
        let info = livecast_core::ts::probe_segment(&data).unwrap();
        assert!(info.starts_with_keyframe);
        assert_eq!(info.video_frames as f64, get(s, "frames").as_f64().unwrap());
    }
    assert_js_error(TsSegmenter::new(options(r#"{"segmentSeconds":0}"#)).err().unwrap(), "RangeError", "INVALID_CONFIG", "`segmentSeconds`");
}

#[wasm_bindgen_test]
fn events_refuse_unknown_names_and_deliver_details() {
    use super::events::Events;
    let events = Events::new("Broadcaster", &["state", "stats"]).unwrap();
    let noop = js_sys::Function::new_no_args("");
    let err = events.add("stat", &noop).unwrap_err();
    assert_js_error(err, "TypeError", "INVALID_CONFIG", "unknown event `stat` (known: state, stats)");
    let err = events.on("segmnet", &noop).unwrap_err();
    assert_js_error(err, "TypeError", "INVALID_CONFIG", "unknown event `segmnet`");

    // `on` hands the detail over and its return value unsubscribes; `addEventListener`
    // listeners get the CustomEvent.
    let seen = js_sys::Array::new();
    let push_detail = js_sys::Function::new_with_args("d", "this.push(d)").bind0(&seen);
    let push_event = js_sys::Function::new_with_args("e", "this.push('event:' + e.detail)").bind0(&seen);
    let off: js_sys::Function = events.on("state", &push_detail).unwrap();
    events.add("state", &push_event).unwrap();
    events.dispatch("state", &"live".into());
    off.call0(&JsValue::NULL).unwrap();
    events.remove("state", &push_event).unwrap();
    events.dispatch("state", &"ended".into());
    let seen: Vec<String> = seen.iter().filter_map(|v| v.as_string()).collect();
    assert_eq!(seen, ["live", "event:live"]);
}
