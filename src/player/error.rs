//! Player errors: what failed (`type`, as in hls.js: network, media, mux, other), a stable
//! `details` string, and a message.

/// The error families of the `error` event's `type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A playlist or segment could not be fetched.
    Network,
    /// The browser's media pipeline (MediaSource, SourceBuffer, decoder) failed.
    Media,
    /// A segment could not be transmuxed or parsed.
    Mux,
    /// Anything else (bad playlist, unsupported stream).
    Other,
}

impl ErrorType {
    /// The `type` string of the `error` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Media => "media",
            Self::Mux => "mux",
            Self::Other => "other",
        }
    }
}

/// A player failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlayerError {
    /// A playlist could not be parsed.
    #[error("the playlist at {url} could not be parsed: {reason}")]
    PlaylistParse {
        /// Where it came from.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A request failed (no answer, or an HTTP error status).
    #[error("{what} {url} failed: {reason}")]
    Network {
        /// "playlist" or "segment".
        what: &'static str,
        /// The URL.
        url: String,
        /// HTTP status or network error.
        reason: String,
    },
    /// A segment could not be turned into fMP4.
    #[error("segment {url} could not be transmuxed: {reason}")]
    Mux {
        /// The segment's URL.
        url: String,
        /// The transmuxer's message.
        reason: String,
    },
    /// The stream uses something the player does not play.
    #[error("unsupported stream: {0}")]
    Unsupported(String),
    /// The browser's media pipeline refused data or failed.
    #[error("media error: {0}")]
    Media(String),
}

impl PlayerError {
    /// The error family.
    pub fn kind(&self) -> ErrorType {
        match self {
            Self::Network { .. } => ErrorType::Network,
            Self::Mux { .. } => ErrorType::Mux,
            Self::Media(_) => ErrorType::Media,
            Self::PlaylistParse { .. } | Self::Unsupported(_) => ErrorType::Other,
        }
    }
}
