//! Cisco's openh264 for Livecast: one codec build for native targets and for
//! `wasm32-unknown-unknown`, behind a small safe API.
//!
//! The C++ is the one the `openh264-sys2` crate ships; `build.rs` compiles it for the
//! current target (that crate's own build has no wasm32 support), and on wasm32
//! [`wasm_runtime`](crate) supplies the C and C++ runtime symbols it links against.
//! See `docs/openh264-wasm.md` for the whole recipe.
//!
//! - [`Encoder`]: I420 in, Annex-B H.264 out; Constrained Baseline, one slice, no
//!   B-frames, SPS and PPS in front of every IDR, so every GOP decodes on its own.
//! - [`Decoder`]: Annex-B in, I420 pictures out (used by tests and by the transcoder).

mod decoder;
mod encoder;
mod error;
mod ffi;
mod picture;
#[cfg(target_arch = "wasm32")]
mod wasm_runtime;

pub use decoder::{DecodedPicture, Decoder};
pub use encoder::{EncodedFrame, Encoder, EncoderConfig, FrameKind};
pub use error::Error;
pub use picture::Picture;

#[cfg(target_arch = "wasm32")]
pub use wasm_runtime::run_static_constructors;

/// The openh264 version this crate compiles, as `major.minor.revision`.
pub fn codec_version() -> String {
    // SAFETY: a pure function of the library, no arguments.
    let v = unsafe { ffi::WelsGetCodecVersion() };
    format!("{}.{}.{}", v.uMajor, v.uMinor, v.uRevision)
}
