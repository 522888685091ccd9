//! The crate's one error type.

/// What went wrong in a codec call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A configuration value is outside what the encoder supports.
    #[error("invalid encoder configuration: {0}")]
    InvalidConfig(String),
    /// A picture does not match the configured size or its planes are too small.
    #[error("invalid picture: {0}")]
    InvalidPicture(String),
    /// openh264 returned an error code from the named call.
    #[error("openh264 {call} failed with code {code}")]
    Codec {
        /// The openh264 function that failed.
        call: &'static str,
        /// Its return code (see openh264's `CM_RETURN` / `DECODING_STATE`).
        code: i64,
    },
}
