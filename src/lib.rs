//! Livecast: live streaming from a web page, in Rust compiled to WebAssembly.
//!
//! This crate is the browser SDK. Its pipeline runs capture → encode → segment → upload;
//! so far it holds the encode stage:
//!
//! - [`encode`]: the encoder pipeline (RGBA or I420 in, Annex-B H.264 out) on openh264,
//!   plain Rust, tested natively.
//! - `js` (wasm32 only): the JavaScript API generated with wasm-bindgen: the
//!   `H264Encoder` class, its typed options and errors.
//!
//! Feature `broadcast` (on by default) builds the encode and broadcast stages and their JS
//! classes. Without it only [`player`] and the `Player` class are built: the watch-only
//! wasm module (`pkg/player`, the package's `livecast/player` entry), which then links
//! neither openh264 nor the wallet and signing code.

#[cfg(feature = "broadcast")]
pub mod broadcast;
#[cfg(feature = "broadcast")]
pub mod encode;
pub mod player;
mod error;
#[cfg(target_arch = "wasm32")]
mod js;

pub use error::{ErrorCode, JsErrorClass, LivecastError};
