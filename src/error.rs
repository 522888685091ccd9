//! The SDK's one error type, and the stable codes page authors can branch on.

/// A stable, machine-readable error code, exposed to JavaScript as `error.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// An option passed to a constructor is missing, of the wrong type or out of range.
    InvalidConfig,
    /// A frame buffer has the wrong type or length, or a timestamp is not valid.
    InvalidFrame,
    /// The object was already freed.
    Freed,
    /// The codec itself failed.
    Codec,
    /// No camera was found (or none can give the requested size).
    NoCamera,
    /// No microphone, or access to it refused, or a stream without an audio track: the
    /// broadcast goes on without sound (a non-fatal error event).
    NoMicrophone,
    /// The user or the browser refused camera access.
    PermissionDenied,
    /// The camera exists but could not be opened.
    CameraError,
    /// The relay could not be reached.
    RelayUnreachable,
    /// The relay refused the stream id or key.
    BadStreamKey,
    /// The relay refused a segment.
    SegmentRejected,
    /// A segment was dropped without upload because the network could not keep up.
    SegmentDropped,
    /// A method was called in a state that does not allow it.
    InvalidState,
    /// The encode worker failed.
    EncoderFailed,
    /// A transcoder node failed a segment (the next node is tried), or none could.
    TranscodeFailed,
    /// Transcoding was asked for but no node is available: the source alone goes out.
    TranscodeUnavailable,
    /// No Ethereum wallet (EIP-6963 or `window.ethereum`) is in the page, or it went away.
    WalletMissing,
    /// The user refused a wallet request (EIP-1193 error 4001 or 4100).
    UserRejected,
    /// The wallet is on another chain than the one asked for, and could not switch.
    WrongChain,
    /// The ticket sender's deposit or reserve cannot cover the tickets.
    DepositTooLow,
    /// A transcoder charges more than `maxPricePerPixel`.
    PriceTooHigh,
    /// A transcoder refused a payment (bad ticket, unfunded sender, insufficient balance).
    PaymentRejected,
    /// The wallet or the chain failed a request (RPC error, reverted transaction).
    WalletError,
    /// The browser can play the stream neither through the Player (Media Source
    /// Extensions with H.264) nor natively.
    PlaybackUnsupported,
}

impl ErrorCode {
    /// The code as JavaScript sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidConfig => "INVALID_CONFIG",
            Self::InvalidFrame => "INVALID_FRAME",
            Self::Freed => "FREED",
            Self::Codec => "CODEC_ERROR",
            Self::NoCamera => "NO_CAMERA",
            Self::NoMicrophone => "NO_MICROPHONE",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::CameraError => "CAMERA_ERROR",
            Self::RelayUnreachable => "RELAY_UNREACHABLE",
            Self::BadStreamKey => "BAD_STREAM_KEY",
            Self::SegmentRejected => "SEGMENT_REJECTED",
            Self::SegmentDropped => "SEGMENT_DROPPED",
            Self::InvalidState => "INVALID_STATE",
            Self::EncoderFailed => "ENCODER_FAILED",
            Self::TranscodeFailed => "TRANSCODE_FAILED",
            Self::TranscodeUnavailable => "TRANSCODE_UNAVAILABLE",
            Self::WalletMissing => "WALLET_MISSING",
            Self::UserRejected => "USER_REJECTED",
            Self::WrongChain => "WRONG_CHAIN",
            Self::DepositTooLow => "DEPOSIT_TOO_LOW",
            Self::PriceTooHigh => "PRICE_TOO_HIGH",
            Self::PaymentRejected => "PAYMENT_REJECTED",
            Self::WalletError => "WALLET_ERROR",
            Self::PlaybackUnsupported => "PLAYBACK_UNSUPPORTED",
        }
    }
}

/// Everything that can go wrong in the SDK, with a message a page author can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LivecastError {
    /// A constructor option is missing, of the wrong type or out of range.
    #[error("invalid {object} option: {message}")]
    InvalidConfig {
        /// The class whose options were wrong ("H264Encoder").
        object: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A frame argument is of the wrong type or size.
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// The object was used after `free()`.
    #[error("this {0} was freed; create a new one")]
    Freed(&'static str),
    /// openh264 failed.
    #[error("encoder failure: {0}")]
    Codec(String),
    /// An option has the wrong JavaScript type or is missing (a `TypeError` in JS).
    #[error("invalid {object} option: {message}")]
    ConfigType {
        /// The class whose options were wrong.
        object: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A frame argument has the wrong JavaScript type (a `TypeError` in JS).
    #[error("invalid frame: {0}")]
    FrameType(String),
    /// A broadcast failure (camera, relay, worker, state), with its code.
    #[error("{message}")]
    Broadcast {
        /// What kind of failure.
        code: ErrorCode,
        /// What happened and what to do.
        message: String,
    },
}

/// Which built-in JavaScript error class an error is thrown as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsErrorClass {
    /// `TypeError`: a value of the wrong type, or a missing one.
    TypeError,
    /// `RangeError`: a value of the right type outside the accepted range.
    RangeError,
    /// `Error`: anything else.
    Error,
}

impl LivecastError {
    /// The stable code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidConfig { .. } | Self::ConfigType { .. } => ErrorCode::InvalidConfig,
            Self::InvalidFrame(_) | Self::FrameType(_) => ErrorCode::InvalidFrame,
            Self::Freed(_) => ErrorCode::Freed,
            Self::Codec(_) => ErrorCode::Codec,
            Self::Broadcast { code, .. } => *code,
        }
    }

    /// The JavaScript error class this error is thrown as.
    pub fn js_class(&self) -> JsErrorClass {
        match self {
            Self::ConfigType { .. } | Self::FrameType(_) => JsErrorClass::TypeError,
            Self::InvalidConfig { .. } | Self::InvalidFrame(_) => JsErrorClass::RangeError,
            Self::Freed(_) | Self::Codec(_) | Self::Broadcast { .. } => JsErrorClass::Error,
        }
    }
}

#[cfg(feature = "broadcast")]
impl From<livecast_openh264::Error> for LivecastError {
    fn from(e: livecast_openh264::Error) -> Self {
        match e {
            livecast_openh264::Error::InvalidConfig(m) => Self::InvalidConfig { object: "H264Encoder", message: m },
            livecast_openh264::Error::InvalidPicture(m) => Self::InvalidFrame(m),
            e @ livecast_openh264::Error::Codec { .. } => Self::Codec(e.to_string()),
        }
    }
}

impl From<livecast_core::Error> for LivecastError {
    fn from(e: livecast_core::Error) -> Self {
        Self::InvalidFrame(e.to_string())
    }
}
