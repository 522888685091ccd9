//! Livecast: live streaming from a web page, in Rust compiled to WebAssembly.
//!
//! This crate is the browser SDK. Its pipeline runs capture → encode → segment → upload
//! (with payment beside the upload) on the broadcasting side, and playlist → fetch →
//! transmux → play on the watching side:
//!
//! - [`encode`]: the encoder pipeline (RGBA or I420 in, Annex-B H.264 out) on openh264,
//!   plain Rust, tested natively.
//! - [`broadcast`]: the Broadcaster's decisions in plain Rust: upload retries and queue,
//!   transcoder choice and failover, payment, stats, the microphone's clock.
//! - [`player`]: the Player's decisions in plain Rust: playlists, levels and ABR, the live
//!   edge, seeking, the buffer.
//! - `js` (wasm32 only): the JavaScript API generated with wasm-bindgen: `H264Encoder`,
//!   `Broadcaster`, `Player`, `Wallet`, their typed options, events and errors.
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
