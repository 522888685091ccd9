//! Livecast's pure-Rust core, shared by the browser SDK (wasm32) and the native services.
//!
//! Nothing here touches a browser, a socket or a codec library; everything is unit-tested
//! natively. Modules follow the media pipeline:
//!
//! - [`frame`]: raw I420 video frames, the unit that flows from capture to the encoder.
//! - [`convert`]: RGBA (what a canvas gives) to I420 (what H.264 encoders take).
//! - [`adts`]: AAC's ADTS framing: header fields, splitting, writing.
//! - [`annexb`]: reading H.264 Annex-B bitstreams: NAL units, their types, keyframes.
//! - [`avcc`]: length-prefixed H.264 with an avcC record (WebKit's WebCodecs output) to Annex-B.
//! - [`sps`]: the sequence parameter set fields Livecast checks (size, profile, level).
//! - [`quality`]: PSNR, to measure what encoding cost in picture quality.
//! - [`ts`]: MPEG-TS: the muxer and IDR-aligned segmenter the broadcaster uses, and the
//!   demuxer/prober the relay, transcoder and player use.
//! - [`fmp4`]: MPEG-TS segments to fragmented MP4 (init + `moof`/`mdat`) on one continuous
//!   timeline, for the player's `SourceBuffer`; reading fMP4 init segments.
//! - `ticket` (feature `ticket`, on by default): Livepeer's probabilistic micropayment
//!   tickets: hash, signature, win check, params and payments on the wire, and the balance
//!   both ends keep.
//! - [`pattern`]: a deterministic moving test picture, for tests and benchmarks.

pub mod adts;
pub mod annexb;
pub mod avcc;
pub mod convert;
mod error;
pub mod fmp4;
pub mod frame;
pub mod pattern;
pub mod quality;
pub mod sps;
#[cfg(feature = "ticket")]
pub mod ticket;
pub mod ts;

pub use error::Error;
pub use frame::I420Frame;
