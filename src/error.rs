//! The SDK's one error type, and the stable codes page authors can branch on.

/// Declares [`ErrorCode`], its [`ALL`](ErrorCode::ALL) list and [`as_str`](ErrorCode::as_str)
/// from one table, so a code cannot be added to one and missed in another (and a test checks
/// the TypeScript union `LivecastErrorCode` against `ALL`).
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// A stable, machine-readable error code, exposed to JavaScript as `error.code`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as JavaScript sees it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The code named `code` (as JavaScript sees it), if there is one.
            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// An option passed to a constructor is missing, of the wrong type or out of range.
    InvalidConfig => "INVALID_CONFIG",
    /// A frame buffer has the wrong type or length, or a timestamp is not valid.
    InvalidFrame => "INVALID_FRAME",
    /// The object was already freed.
    Freed => "FREED",
    /// The codec itself failed.
    Codec => "CODEC_ERROR",
    /// No camera was found (or none can give the requested size).
    NoCamera => "NO_CAMERA",
    /// No microphone, or access to it refused, or a stream without an audio track: the
    /// broadcast goes on without sound (a non-fatal error event).
    NoMicrophone => "NO_MICROPHONE",
    /// The user or the browser refused camera access.
    PermissionDenied => "PERMISSION_DENIED",
    /// The camera exists but could not be opened; or (a non-fatal event) a live camera
    /// gave no frame for 5 s: the broadcast waits for it.
    CameraError => "CAMERA_ERROR",
    /// The relay could not be reached.
    RelayUnreachable => "RELAY_UNREACHABLE",
    /// The relay refused the stream id or key.
    BadStreamKey => "BAD_STREAM_KEY",
    /// The relay refused a segment.
    SegmentRejected => "SEGMENT_REJECTED",
    /// A segment was dropped without upload because the network could not keep up.
    SegmentDropped => "SEGMENT_DROPPED",
    /// A method was called in a state that does not allow it.
    InvalidState => "INVALID_STATE",
    /// The encode worker failed.
    EncoderFailed => "ENCODER_FAILED",
    /// A transcoder node failed a segment (the next node is tried), or none could.
    TranscodeFailed => "TRANSCODE_FAILED",
    /// Transcoding was asked for but no node is available: the source alone goes out.
    TranscodeUnavailable => "TRANSCODE_UNAVAILABLE",
    /// No Ethereum wallet (EIP-6963 or `window.ethereum`) is in the page, or it went away.
    WalletMissing => "WALLET_MISSING",
    /// The user refused a wallet request (EIP-1193 error 4001 or 4100).
    UserRejected => "USER_REJECTED",
    /// The wallet is on another chain than the one asked for, and could not switch.
    WrongChain => "WRONG_CHAIN",
    /// The ticket sender's deposit or reserve cannot cover the tickets.
    DepositTooLow => "DEPOSIT_TOO_LOW",
    /// A transcoder charges more than `maxPricePerPixel`.
    PriceTooHigh => "PRICE_TOO_HIGH",
    /// A transcoder refused a payment (bad ticket, unfunded sender, insufficient balance).
    PaymentRejected => "PAYMENT_REJECTED",
    /// The wallet or the chain failed a request (RPC error, reverted transaction).
    WalletError => "WALLET_ERROR",
    /// The browser can play the stream neither through the Player (Media Source
    /// Extensions with H.264) nor natively.
    PlaybackUnsupported => "PLAYBACK_UNSUPPORTED",
    /// The Player could not fetch a playlist or segment (after its retries).
    PlaybackNetworkError => "PLAYBACK_NETWORK_ERROR",
    /// The browser's media pipeline refused the Player's data or failed to decode it.
    PlaybackMediaError => "PLAYBACK_MEDIA_ERROR",
    /// The Player could not parse a playlist, or parse or transmux a segment.
    PlaybackParseError => "PLAYBACK_PARSE_ERROR",
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

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::BTreeSet;

    /// The string literals of the TypeScript union `LivecastErrorCode` in the package's
    /// `.d.ts` section (src/js/mod.rs), read from the source the `.d.ts` is generated from.
    fn typescript_codes() -> BTreeSet<String> {
        let source = include_str!("js/mod.rs");
        let start = source.find("export type LivecastErrorCode =").expect("the LivecastErrorCode union in src/js/mod.rs");
        let union = &source[start..];
        let union = &union[..union.find(';').expect("the union ends with ;")];
        union.split('"').skip(1).step_by(2).map(str::to_owned).collect()
    }

    #[test]
    fn the_typescript_union_names_exactly_the_rust_codes() {
        let rust: BTreeSet<String> = ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect();
        assert_eq!(rust.len(), ErrorCode::ALL.len(), "two codes share a string");
        let ts = typescript_codes();
        let missing: Vec<_> = rust.difference(&ts).collect();
        let extra: Vec<_> = ts.difference(&rust).collect();
        assert!(missing.is_empty() && extra.is_empty(), "LivecastErrorCode in src/js/mod.rs drifted from ErrorCode: missing {missing:?}, not a Rust code {extra:?}");
    }

    #[test]
    fn every_code_parses_back_from_its_string() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
        assert_eq!(ErrorCode::parse("camera_error"), None);
    }
}
