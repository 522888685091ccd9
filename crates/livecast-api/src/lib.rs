//! The relay's HTTP API on the wire: the JSON error body and its stable codes.
//!
//! The relay writes these (`livecast-relay`'s `AppError`), the browser SDK reads them (the
//! Broadcaster's upload answers), both through these types: no code is a copied string.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`RelayErrorCode`] with its wire strings from one table.
macro_rules! relay_error_codes {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal,)*) => {
        /// A stable, machine-readable error code in the relay's error body.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RelayErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this version does not know (a newer relay): read its message.
            Unknown,
        }

        impl RelayErrorCode {
            /// Every known code, in declaration order.
            pub const ALL: &'static [RelayErrorCode] = &[$(RelayErrorCode::$variant,)*];

            /// The code on the wire (`"unknown"` for [`Unknown`](Self::Unknown)).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Unknown => "unknown",
                }
            }

            /// The code for a wire string; [`Unknown`](Self::Unknown) for any other.
            pub fn parse(wire: &str) -> Self {
                match wire {
                    $($wire => Self::$variant,)*
                    _ => Self::Unknown,
                }
            }
        }
    };
}

relay_error_codes! {
    /// The stream id in the path is not one the relay issues.
    InvalidStreamId => "invalid_stream_id",
    /// The segment number in the path is not a number in range.
    InvalidSeq => "invalid_seq",
    /// The path is not one of the relay's.
    InvalidPath => "invalid_path",
    /// The request body is not the JSON asked for.
    InvalidJson => "invalid_json",
    /// A header is missing or malformed.
    InvalidHeader => "invalid_header",
    /// A field of the request is out of range.
    InvalidField => "invalid_field",
    /// Wrong or missing stream key (or operator token).
    Unauthorized => "unauthorized",
    /// No such stream, segment or playlist.
    NotFound => "not_found",
    /// The path does not take this method.
    MethodNotAllowed => "method_not_allowed",
    /// The request took longer than the relay's request deadline.
    Timeout => "timeout",
    /// The body arrived below the minimum rate.
    UploadTooSlow => "upload_too_slow",
    /// Too many uploads at once (in all, or from this address): retry later.
    Busy => "busy",
    /// The segment's duration or timestamps are implausible; nothing was stored.
    ImplausibleSegment => "implausible_segment",
    /// Too many requests from this address (stream creation on an open relay).
    RateLimited => "rate_limited",
    /// The body is over the relay's size cap.
    PayloadTooLarge => "payload_too_large",
    /// The body is not MPEG-TS with H.264.
    NotMpegts => "not_mpegts",
    /// The segment's audio is not AAC in ADTS.
    UnsupportedAudio => "unsupported_audio",
    /// Another segment with this number and different bytes is already stored.
    SegmentConflict => "segment_conflict",
    /// The stream has ended: it takes no more segments.
    StreamEnded => "stream_ended",
    /// The relay's disk is full.
    InsufficientStorage => "insufficient_storage",
    /// The relay's segment store (an object store) cannot be reached: nothing was stored;
    /// retry after `Retry-After`.
    StorageUnavailable => "storage_unavailable",
    /// The relay's database (PostgreSQL) cannot be reached: nothing was stored; retry after
    /// `Retry-After`.
    DatabaseUnavailable => "database_unavailable",
    /// The body could not be read.
    BodyRead => "body_read",
    /// `Livecast-Transcoder` names a node that is not one of the relay's.
    UnknownTranscoder => "unknown_transcoder",
    /// A signature that does not verify (discovery requests).
    InvalidSignature => "invalid_signature",
    /// The transcoder node could not be reached.
    TranscoderUnreachable => "transcoder_unreachable",
    /// The transcoder node did not answer in time.
    TranscoderTimeout => "transcoder_timeout",
    /// The transcoder node refused the payment (HTTP 402 from the node).
    TranscoderPaymentRejected => "transcoder_payment_rejected",
    /// The transcoder node refused the segment.
    TranscoderRejected => "transcoder_rejected",
    /// The transcoder node answered something that is not a valid result.
    TranscoderBadResponse => "transcoder_bad_response",
    /// The transcoder node reported an error of its own.
    TranscoderError => "transcoder_error",
    /// The transcoder node's signature over the renditions does not verify.
    TranscoderBadSignature => "transcoder_bad_signature",
    /// A rendition's URL is not one the relay will fetch (not on the node's origin).
    RenditionUrlRejected => "rendition_url_rejected",
    /// A rendition could not be fetched from the node.
    RenditionFetchFailed => "rendition_fetch_failed",
    /// A rendition failed the relay's checks (size, frames, audio, ...).
    RenditionInvalid => "rendition_invalid",
    /// A failure of the relay itself (logged there, never detailed).
    Internal => "internal",
}

impl std::fmt::Display for RelayErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RelayErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RelayErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&wire))
    }
}

/// The relay's error body: `{ "error": { "code", "message", "retryable"? } }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, in an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The stable code to branch on.
    pub code: RelayErrorCode,
    /// What happened, for people.
    pub message: String,
    /// On the gateway's `502`s: whether another transcoder node may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl ErrorBody {
    /// A body for `code` with `message` (and `retryable` for gateway errors).
    pub fn new(code: RelayErrorCode, message: impl Into<String>, retryable: Option<bool>) -> Self {
        Self { error: ErrorDetail { code, message: message.into(), retryable } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_round_trips_through_its_wire_string_and_json() {
        let wires: HashSet<&str> = RelayErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(wires.len(), RelayErrorCode::ALL.len(), "two codes share a wire string");
        for &code in RelayErrorCode::ALL {
            assert_eq!(RelayErrorCode::parse(code.as_str()), code);
            let body = ErrorBody::new(code, "m", None);
            let json = serde_json::to_string(&body).unwrap();
            assert_eq!(json, format!(r#"{{"error":{{"code":"{}","message":"m"}}}}"#, code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), body);
        }
    }

    #[test]
    fn retryable_is_written_only_when_set_and_unknown_codes_still_read() {
        let body = ErrorBody::new(RelayErrorCode::TranscoderTimeout, "slow", Some(true));
        assert_eq!(serde_json::to_value(&body).unwrap()["error"]["retryable"], true);
        let newer: ErrorBody = serde_json::from_str(r#"{"error":{"code":"from_the_future","message":"x","extra":1}}"#).unwrap();
        assert_eq!(newer.error.code, RelayErrorCode::Unknown);
        assert_eq!(newer.error.retryable, None);
    }
}
