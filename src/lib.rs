//! Livecast: live streaming from a web page, in Rust compiled to WebAssembly.
//!
//! This crate is the browser SDK. Its pipeline runs capture → encode → segment → upload;
//! so far it holds the encode stage:
//!
//! - [`encode`]: the encoder pipeline (RGBA or I420 in, Annex-B H.264 out) on openh264,
//!   plain Rust, tested natively.
//! - `js` (wasm32 only): the JavaScript API generated with wasm-bindgen: the
//!   `H264Encoder` class, its typed options and errors.

pub mod broadcast;
pub mod encode;
pub mod player;
mod error;
#[cfg(target_arch = "wasm32")]
mod js;

pub use error::{ErrorCode, JsErrorClass, LivecastError};
