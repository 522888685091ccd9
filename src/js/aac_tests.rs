//! The wasm build of FDK AAC, inside headless Chromium (`wasm-pack test --headless --chrome`):
//! byte-identical to the native build on the same PCM, and the JS class's checks.

use super::aac_encoder::AacEncoder;
use js_sys::{Float32Array, Reflect, Uint8Array};
use livecast_fdkaac::testing;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn wasm_fdk_aac_writes_the_same_bytes_as_native() {
    let frames = testing::reference_frames().unwrap();
    assert!((94..=100).contains(&frames.len()), "{} frames", frames.len());
    assert_eq!(testing::fnv1a(&frames), testing::REFERENCE_DIGEST, "{:#018x}", testing::fnv1a(&frames));
}

#[wasm_bindgen_test]
fn aac_encoder_gives_adts_frames_on_the_capture_clock() {
    let options = js_sys::JSON::parse(r#"{"sampleRate":48000,"channels":2,"bitrateKbps":96}"#).unwrap();
    let mut enc = AacEncoder::new(options).unwrap();
    let delay = f64::from(enc.delay_samples());
    // 1 s of a mono tone in 10 ms blocks from t = 3 s, doubled to stereo by the encoder.
    let mut frames = Vec::new();
    for b in 0..100 {
        let block: Vec<f32> = (0..480).map(|i| if (b * 480 + i) % 48 < 24 { 0.25 } else { -0.25 }).collect();
        let out = enc.encode_planar(&Float32Array::from(block.as_slice()), 1, 3e6 + f64::from(b as u32) * 10_000.0).unwrap();
        frames.extend(out.iter());
    }
    frames.extend(enc.flush().unwrap().iter());
    let get = |v: &JsValue, k: &str| Reflect::get(v, &k.into()).unwrap();
    let first_ts = get(&frames[0], "timestampUs").as_f64().unwrap();
    assert!((first_ts - (3e6 - delay / 48_000.0 * 1e6)).abs() <= 1.0, "{first_ts}");
    for f in &frames {
        let data: Uint8Array = get(f, "data").unchecked_into();
        let header = livecast_core::adts::parse_header(&data.to_vec()).expect("an ADTS frame");
        assert_eq!((header.config.object_type, header.config.sample_rate, header.config.channels), (2, 48_000, 2));
        assert_eq!(header.frame_len, data.length() as usize);
    }
    assert!(frames.len() >= 47, "{} frames", frames.len());
    assert!(AacEncoder::new(js_sys::JSON::parse(r#"{"channels":3}"#).unwrap()).is_err());
    assert!(AacEncoder::new(js_sys::JSON::parse(r#"{"sampleRate":47000}"#).unwrap()).is_err());
    assert!(enc.encode_planar(&Float32Array::new_with_length(3), 2, 0.0).is_err());
}
