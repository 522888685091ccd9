//! The JavaScript API (wasm32 only), generated with wasm-bindgen.
//!
//! - [`H264Encoder`](h264_encoder::H264Encoder): the encoder class.
//! - `interop`: turning JS values into Rust ones and Rust errors into JS exceptions.

mod broadcaster;
mod h264_encoder;
mod interop;
mod player;
mod segmenter;
mod video_frame;
mod wallet;
mod webcodecs;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ticket_tests;

use wasm_bindgen::prelude::*;

/// Module start: runs openh264's C++ static constructors once, before any export is used.
#[wasm_bindgen(start)]
pub fn start() {
    livecast_openh264::run_static_constructors();
}

#[wasm_bindgen(typescript_custom_section)]
const TS_ERRORS: &str = r#"
/** The `code` property of every error Livecast throws. */
export type LivecastErrorCode =
  | "INVALID_CONFIG" | "INVALID_FRAME" | "FREED" | "CODEC_ERROR"
  | "NO_CAMERA" | "PERMISSION_DENIED" | "CAMERA_ERROR"
  | "RELAY_UNREACHABLE" | "BAD_STREAM_KEY" | "SEGMENT_REJECTED" | "SEGMENT_DROPPED"
  | "INVALID_STATE" | "ENCODER_FAILED" | "TRANSCODE_FAILED" | "TRANSCODE_UNAVAILABLE"
  | "WALLET_MISSING" | "USER_REJECTED" | "WRONG_CHAIN" | "DEPOSIT_TOO_LOW" | "PRICE_TOO_HIGH"
  | "PAYMENT_REJECTED" | "WALLET_ERROR" | "PLAYBACK_UNSUPPORTED";

/**
 * What Livecast throws: a built-in `TypeError` (wrong or missing value), `RangeError`
 * (value out of range) or `Error`, with `name` set accordingly, a `message` that says
 * what was wrong, and a stable `code`.
 */
export interface LivecastError extends Error {
  readonly code: LivecastErrorCode;
}
"#;
