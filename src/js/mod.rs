//! The JavaScript API (wasm32 only), generated with wasm-bindgen.
//!
//! - [`H264Encoder`](h264_encoder::H264Encoder): the encoder class.
//! - `interop`: turning JS values into Rust ones and Rust errors into JS exceptions.
//!
//! Everything but `Player` needs feature `broadcast`: without it this is the watch-only
//! module (`Player` alone).

#[cfg(feature = "broadcast")]
mod aac_encoder;
#[cfg(all(test, feature = "broadcast"))]
mod aac_tests;
#[cfg(feature = "broadcast")]
mod audio;
#[cfg(feature = "broadcast")]
mod broadcaster;
#[cfg(feature = "broadcast")]
mod h264_encoder;
mod events;
mod interop;
mod player;
#[cfg(feature = "broadcast")]
mod segmenter;
#[cfg(feature = "broadcast")]
mod video_frame;
#[cfg(feature = "broadcast")]
mod wallet;
#[cfg(feature = "broadcast")]
mod webcodecs;
#[cfg(all(test, feature = "broadcast"))]
mod tests;
#[cfg(all(test, feature = "broadcast"))]
mod ticket_tests;

use wasm_bindgen::prelude::*;

/// Module start: runs openh264's C++ static constructors once, before any export is used.
/// The watch-only module has no openh264, hence no start function.
#[cfg(feature = "broadcast")]
#[wasm_bindgen(start)]
pub fn start() {
    livecast_openh264::run_static_constructors();
}

#[wasm_bindgen(typescript_custom_section)]
const TS_ERRORS: &str = r#"
/** The `code` property of every error Livecast throws. */
export type LivecastErrorCode =
  | "INVALID_CONFIG" | "INVALID_FRAME" | "FREED" | "CODEC_ERROR"
  | "NO_CAMERA" | "NO_MICROPHONE" | "PERMISSION_DENIED" | "CAMERA_ERROR"
  | "RELAY_UNREACHABLE" | "BAD_STREAM_KEY" | "SEGMENT_REJECTED" | "SEGMENT_DROPPED"
  | "INVALID_STATE" | "ENCODER_FAILED" | "TRANSCODE_FAILED" | "TRANSCODE_UNAVAILABLE"
  | "WALLET_MISSING" | "USER_REJECTED" | "WRONG_CHAIN" | "DEPOSIT_TOO_LOW" | "PRICE_TOO_HIGH"
  | "PAYMENT_REJECTED" | "WALLET_ERROR" | "PLAYBACK_UNSUPPORTED"
  | "PLAYBACK_NETWORK_ERROR" | "PLAYBACK_MEDIA_ERROR" | "PLAYBACK_PARSE_ERROR";

/**
 * What every `error` event of a Livecast class carries (Broadcaster, Player): a stable
 * `code`, a `message` a page author can act on, and whether it was `fatal` (the broadcast
 * or the playback stopped). Each class's event adds its own fields.
 */
export interface LivecastErrorEvent {
  code: LivecastErrorCode;
  message: string;
  fatal: boolean;
}

/**
 * What Livecast throws: a built-in `TypeError` (wrong or missing value), `RangeError`
 * (value out of range) or `Error`, with `name` set accordingly, a `message` that says
 * what was wrong, and a stable `code`.
 */
export interface LivecastError extends Error {
  readonly code: LivecastErrorCode;
}
"#;
