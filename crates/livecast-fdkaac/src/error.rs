//! The crate's one error type.

/// Why the encoder could not be made or could not encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A configuration FDK AAC (or AAC-LC) does not take.
    #[error("invalid AAC encoder configuration: {0}")]
    InvalidConfig(String),
    /// PCM input the encoder cannot take (not whole sample frames).
    #[error("invalid PCM input: {0}")]
    InvalidInput(String),
    /// An FDK AAC call failed.
    #[error("FDK AAC {call} failed with code {code:#06x}")]
    Codec {
        /// The C function.
        call: &'static str,
        /// Its AACENC_ERROR.
        code: u32,
    },
}
