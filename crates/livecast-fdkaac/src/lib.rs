//! Fraunhofer FDK AAC's encoder for Livecast: one codec build for native targets and for
//! `wasm32-unknown-unknown`, behind a small safe API.
//!
//! The C++ is the one the `fdk-aac-sys` crate ships; `build.rs` compiles its encoder
//! libraries for the current target (that crate's own build has no wasm32 arm). See
//! `docs/fdk-aac-wasm.md` for the recipe, flag by flag.
//!
//! - [`Encoder`]: interleaved 16-bit PCM in, ADTS AAC-LC frames out (1024 samples each).
//!
//! FDK AAC is under the Fraunhofer FDK AAC licence (the `NOTICE` in the `fdk-aac-sys`
//! package): redistribution with the notice; no patent licence is granted.

mod encoder;
mod error;
mod ffi;
#[doc(hidden)]
pub mod testing;
#[cfg(target_arch = "wasm32")]
mod wasm_runtime;

pub use encoder::{Encoder, EncoderConfig, SAMPLES_PER_FRAME};
pub use error::Error;
