//! The crate's one error type.

/// What was wrong with a protocol message, a signature or a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A signature is malformed, has a high S or a V other than 27/28, or does not recover.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// A signature is well formed but was made by another key than the one expected.
    #[error("signature is by {recovered}, expected {expected}")]
    WrongSigner {
        /// The address the signature recovers to.
        recovered: alloy_primitives::Address,
        /// The address that should have signed.
        expected: alloy_primitives::Address,
    },
    /// A private key is not a valid secp256k1 scalar.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A profile name this crate does not know, or a custom profile whose name does not
    /// spell out its own settings.
    #[error("unknown profile {0:?}")]
    UnknownProfile(String),
    /// A known profile name sent with settings other than the table's.
    #[error("profile {name} is {expected}, the message says {got}")]
    ProfileMismatch {
        /// The profile name.
        name: String,
        /// What the table says (`WxH@bps`).
        expected: String,
        /// What the message says.
        got: String,
    },
    /// A profile asks for something this implementation does not produce (codec, container).
    #[error("unsupported profile {name}: {reason}")]
    UnsupportedProfile {
        /// The profile name.
        name: String,
        /// What is unsupported.
        reason: String,
    },
    /// A field of a protocol message is missing or out of range.
    #[error("invalid {message}: {reason}")]
    InvalidMessage {
        /// The message type (`SegData`, `OrchestratorRequest`, ...).
        message: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Bytes that do not decode as the expected protobuf message (or base64 of it).
    #[error("cannot decode {message}: {reason}")]
    Decode {
        /// The message type.
        message: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}
