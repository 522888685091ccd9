//! The relay's one error type, [`AppError`], and how it becomes an HTTP response.
//!
//! Every error, including bad JSON, bad paths, unknown routes and wrong methods, comes back
//! as `{ "error": { "code": "...", "message": "..." } }` with a stable `code`. Internal
//! failures (database, disk, a crashed task) are logged with their cause and shown to the
//! client only as `internal`. The body and its codes are `livecast-api`'s types, which the
//! browser SDK reads with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
pub use livecast_api::RelayErrorCode as Code;
use livecast_api::ErrorBody;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A stream id in the path is not 1 to 64 of `A-Z a-z 0-9 _ -`.
    #[error("invalid stream id: use 1 to 64 of A-Z a-z 0-9 _ -")]
    InvalidStreamId,
    /// A segment number in the path is not `{0..=10000000}.ts`.
    #[error("invalid segment number: use a decimal integer from 0 to 10000000, as `{{seq}}.ts`")]
    InvalidSeq,
    /// A path that does not fit the route (e.g. not UTF-8 once percent-decoded).
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A request body that is not the expected JSON.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// A malformed optional header.
    #[error("invalid {name} header: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// A request field with a value out of range.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No credentials, or not the right ones (also for streams that do not exist, so that a
    /// wrong key cannot tell which streams exist).
    #[error("missing or wrong credentials: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// Nothing here.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The upload is larger than `--max-segment-bytes`.
    #[error("segment larger than the {limit}-byte limit")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The upload is not an H.264 MPEG-TS segment.
    #[error("not an H.264 MPEG-TS segment: {0}")]
    NotMpegTs(String),
    /// The upload carries audio other than AAC in ADTS (`415`, `unsupported_audio`).
    #[error("{0}")]
    UnsupportedAudio(String),
    /// A segment with this number is stored with different bytes.
    #[error("segment {seq} is already stored with different content")]
    SegmentConflict {
        /// The segment number.
        seq: u32,
    },
    /// The stream has ended; it takes no new segments.
    #[error("the stream has ended")]
    StreamEnded,
    /// The request took longer than `--request-timeout-secs`.
    #[error("request timed out")]
    Timeout,
    /// The upload arrived slower than `--min-upload-rate` allows, or stalled.
    #[error("{0}")]
    TooSlow(String),
    /// Every upload slot stayed busy (`--max-uploads`): try again shortly.
    #[error("too many uploads in progress (at most {max} at once); retry shortly")]
    Busy {
        /// The bound.
        max: usize,
    },
    /// A segment whose timing or H.264 cannot be real; nothing was stored.
    #[error("implausible segment: {0}")]
    Implausible(String),
    /// Too many streams created from one address (`--open`).
    #[error("too many streams created from this address; at most {per_minute} a minute")]
    RateLimited {
        /// The quota.
        per_minute: u32,
    },
    /// The disk is full.
    #[error("insufficient storage")]
    InsufficientStorage,
    /// The segment store cannot be reached or failed (the cause is logged where it
    /// happened); nothing was stored or read: retry shortly.
    #[error("the segment store is unavailable; retry shortly")]
    StorageUnavailable,
    /// The database cannot be reached (PostgreSQL down or restarting; the cause is logged);
    /// nothing was stored: retry shortly.
    #[error("the relay's database is unavailable; retry shortly")]
    DatabaseUnavailable,
    /// The request body could not be read (client went away, bad chunking).
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    /// `Livecast-Transcoder` names a node that is not in the relay's registry.
    #[error("{0} is not one of this relay's transcoders (GET them from POST /api/transcoders/info)")]
    UnknownTranscoder(String),
    /// A transcoder node failed, hung, answered garbage, or returned renditions that did not
    /// pass the checks (`502`; the body says whether another node may succeed).
    #[error("{message}")]
    Transcoder {
        /// Stable code (`transcoder_timeout`, `rendition_invalid`, ...).
        code: Code,
        /// What happened.
        message: String,
        /// Whether the broadcaster should retry the segment on another node.
        retryable: bool,
    },
    /// A signature that does not verify (discovery requests).
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// A failure of the relay itself; logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidStreamId
            | Self::InvalidSeq
            | Self::InvalidPath(_)
            | Self::InvalidJson(_)
            | Self::InvalidHeader { .. }
            | Self::InvalidField { .. }
            | Self::BodyRead(_)
            | Self::UnknownTranscoder(_)
            | Self::InvalidSignature(_) => StatusCode::BAD_REQUEST,
            Self::Transcoder { .. } => StatusCode::BAD_GATEWAY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout | Self::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Busy { .. } | Self::StorageUnavailable | Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Implausible(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotMpegTs(_) | Self::UnsupportedAudio(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::SegmentConflict { .. } | Self::StreamEnded => StatusCode::CONFLICT,
            Self::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in the JSON body.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidStreamId => Code::InvalidStreamId,
            Self::InvalidSeq => Code::InvalidSeq,
            Self::InvalidPath(_) => Code::InvalidPath,
            Self::InvalidJson(_) => Code::InvalidJson,
            Self::InvalidHeader { .. } => Code::InvalidHeader,
            Self::InvalidField { .. } => Code::InvalidField,
            Self::Unauthorized => Code::Unauthorized,
            Self::NotFound(_) => Code::NotFound,
            Self::MethodNotAllowed => Code::MethodNotAllowed,
            Self::Timeout => Code::Timeout,
            Self::TooSlow(_) => Code::UploadTooSlow,
            Self::Busy { .. } => Code::Busy,
            Self::Implausible(_) => Code::ImplausibleSegment,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::PayloadTooLarge { .. } => Code::PayloadTooLarge,
            Self::NotMpegTs(_) => Code::NotMpegts,
            Self::UnsupportedAudio(_) => Code::UnsupportedAudio,
            Self::SegmentConflict { .. } => Code::SegmentConflict,
            Self::StreamEnded => Code::StreamEnded,
            Self::InsufficientStorage => Code::InsufficientStorage,
            Self::StorageUnavailable => Code::StorageUnavailable,
            Self::DatabaseUnavailable => Code::DatabaseUnavailable,
            Self::BodyRead(_) => Code::BodyRead,
            Self::UnknownTranscoder(_) => Code::UnknownTranscoder,
            Self::InvalidSignature(_) => Code::InvalidSignature,
            Self::Transcoder { code, .. } => *code,
            Self::Internal(_) => Code::Internal,
        }
    }

    /// An internal error from anything displayable (logged when turned into a response).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<crate::transcoders::NodeError> for AppError {
    fn from(e: crate::transcoders::NodeError) -> Self {
        if e.code == Code::Internal {
            return Self::Internal(e.message);
        }
        Self::Transcoder { code: e.code, message: e.message, retryable: e.retryable }
    }
}

impl From<crate::ids::InvalidId> for AppError {
    fn from(e: crate::ids::InvalidId) -> Self {
        use crate::ids::InvalidId;
        match e {
            InvalidId::StreamId => AppError::InvalidStreamId,
            InvalidId::Seq => AppError::InvalidSeq,
            InvalidId::Profile => AppError::InvalidPath(e.to_string()),
        }
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            Self::DatabaseUnavailable
        } else {
            Self::internal(format_args!("database: {e}"))
        }
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            tracing::error!(error = %e, "disk full");
            Self::InsufficientStorage
        } else {
            Self::internal(format_args!("i/o: {e}"))
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(format_args!("blocking task: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let retryable = match &self {
            Self::Transcoder { retryable, .. } => Some(*retryable),
            _ => None,
        };
        let body = ErrorBody::new(self.code(), message, retryable);
        let mut res = (status, Json(body)).into_response();
        if matches!(self, Self::Busy { .. } | Self::RateLimited { .. } | Self::StorageUnavailable | Self::DatabaseUnavailable) {
            let after = match self {
                Self::Busy { .. } => "1",
                Self::StorageUnavailable | Self::DatabaseUnavailable => "2",
                _ => "60",
            };
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static(after));
        }
        res
    }
}

impl From<livecast_serve::ServeError> for AppError {
    fn from(e: livecast_serve::ServeError) -> Self {
        use livecast_serve::ServeError;
        match e {
            ServeError::BodyTooLarge { limit } => Self::PayloadTooLarge { limit },
            ServeError::BodyTooSlow { .. } => Self::TooSlow(e.to_string()),
            ServeError::BodyRead(m) => Self::BodyRead(m),
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(e: AppError) -> (StatusCode, serde_json::Value) {
        let r = e.into_response();
        let status = r.status();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn shape_and_codes() {
        let (s, v) = body_of(AppError::SegmentConflict { seq: 3 }).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(v["error"]["code"], "segment_conflict");
        assert!(v["error"]["message"].as_str().unwrap().contains("segment 3"));
    }

    #[tokio::test]
    async fn transcoder_failures_say_whether_to_retry() {
        let e = AppError::Transcoder { code: Code::TranscoderTimeout, message: "slow".into(), retryable: true };
        let (s, v) = body_of(e).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
        assert_eq!(v["error"]["code"], "transcoder_timeout");
        assert_eq!(v["error"]["retryable"], true);
        let (s, v) = body_of(AppError::UnknownTranscoder("http://x:1".into())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["code"], "unknown_transcoder");
        assert!(v["error"].get("retryable").is_none());
    }

    #[tokio::test]
    async fn a_store_that_is_down_is_503_with_retry_after() {
        let r = AppError::from(crate::storage::StoreError::Unavailable("PUT x: connection refused".into())).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "2");
        let (_, v) = body_of(AppError::StorageUnavailable).await;
        assert_eq!(v["error"]["code"], "storage_unavailable");
        assert!(!v["error"]["message"].as_str().unwrap().contains("refused"), "the cause is logged, not shown");
    }

    #[tokio::test]
    async fn internal_errors_are_not_shown() {
        let (s, v) = body_of(AppError::internal("/secret/path: permission denied")).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(v["error"]["code"], "internal");
        assert_eq!(v["error"]["message"], "internal error");
    }
}
