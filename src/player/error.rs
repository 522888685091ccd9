//! Player errors: what failed (`type`, as in hls.js: network, media, mux, other), a stable
//! `details` name ([`ErrorDetails`]), the `code` every Livecast error event carries, and a
//! message.

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

impl PlayerError {
    /// The stable `code` of the `error` event (the one every Livecast error event has).
    pub fn code(&self) -> crate::ErrorCode {
        use crate::ErrorCode;
        match self {
            Self::Network { .. } => ErrorCode::PlaybackNetworkError,
            Self::Media(_) => ErrorCode::PlaybackMediaError,
            Self::Mux { .. } | Self::PlaylistParse { .. } => ErrorCode::PlaybackParseError,
            Self::Unsupported(_) => ErrorCode::PlaybackUnsupported,
        }
    }
}

/// Declares [`ErrorDetails`] and its strings from one table (a test checks the TypeScript
/// union `PlayerErrorDetails` against it).
macro_rules! error_details {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// What failed, hls.js's `details` names: the `error` event's `details` field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorDetails {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorDetails {
            /// Every name, in declaration order.
            pub const ALL: &'static [ErrorDetails] = &[$(ErrorDetails::$variant,)*];

            /// The name as JavaScript sees it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

error_details! {
    /// The playlist given to `load` could not be fetched.
    ManifestLoadError => "manifestLoadError",
    /// The playlist given to `load` could not be parsed, or the stream is unsupported.
    ManifestParsingError => "manifestParsingError",
    /// A level's media playlist could not be fetched or reloaded.
    LevelLoadError => "levelLoadError",
    /// A segment could not be fetched (after its retries).
    FragLoadError => "fragLoadError",
    /// A segment is an EXT-X-GAP on every level: skipped.
    FragGap => "fragGap",
    /// A segment could not be parsed or transmuxed.
    FragParsingError => "fragParsingError",
    /// The SourceBuffer refused an append.
    BufferAppendError => "bufferAppendError",
    /// The SourceBuffer is full: loading pauses until it drains.
    BufferFullError => "bufferFullError",
    /// The browser's media pipeline failed (decode error).
    MediaError => "mediaError",
}

impl ErrorDetails {
    /// The details of a fatal error that ended playback, by family.
    pub fn fatal(error: &PlayerError) -> ErrorDetails {
        match error.kind() {
            ErrorType::Network => Self::ManifestLoadError,
            ErrorType::Media => Self::MediaError,
            ErrorType::Mux => Self::FragParsingError,
            ErrorType::Other => Self::ManifestParsingError,
        }
    }
}

/// Segments in a row that could not be parsed: how long to wait before the next, and when
/// to give up. Without it a stream of bad segments is fetched and thrown away as fast as
/// the network allows, and the page's thread spins on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseFailures {
    count: u32,
}

impl ParseFailures {
    /// Bad segments in a row that end playback with a fatal error.
    pub const LIMIT: u32 = 6;

    /// Counts one more bad segment: `Some(ms)` to wait before the next segment (250 ms,
    /// doubling, at most 4 s), or `None` when this one makes [`Self::LIMIT`] in a row.
    pub fn record(&mut self) -> Option<f64> {
        self.count += 1;
        (self.count < Self::LIMIT).then(|| (250.0 * f64::from(1u32 << (self.count - 1).min(4))).min(4000.0))
    }

    /// A segment played: the count starts over.
    pub fn reset(&mut self) {
        self.count = 0;
    }

    /// Bad segments in a row so far.
    pub fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::{ErrorDetails, ParseFailures, PlayerError};
    use std::collections::BTreeSet;

    #[test]
    fn the_typescript_details_union_names_exactly_the_rust_details() {
        let source = include_str!("../js/player/types.rs");
        let start = source.find("export type PlayerErrorDetails =").expect("the PlayerErrorDetails union in src/js/player/types.rs");
        let union = &source[start..];
        let union = &union[..union.find(';').expect("the union ends with ;")];
        let ts: BTreeSet<&str> = union.split('"').skip(1).step_by(2).collect();
        let rust: BTreeSet<&str> = ErrorDetails::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(rust.len(), ErrorDetails::ALL.len(), "two details share a name");
        assert_eq!(ts, rust, "PlayerErrorDetails in src/js/player/types.rs drifted from ErrorDetails");
    }

    #[test]
    fn every_error_has_a_playback_code() {
        let network = PlayerError::Network { what: "segment", url: "u".into(), reason: "503".into() };
        assert_eq!(network.code().as_str(), "PLAYBACK_NETWORK_ERROR");
        assert_eq!(PlayerError::Media("x".into()).code().as_str(), "PLAYBACK_MEDIA_ERROR");
        assert_eq!(PlayerError::Mux { url: "u".into(), reason: "r".into() }.code().as_str(), "PLAYBACK_PARSE_ERROR");
        assert_eq!(PlayerError::Unsupported("x".into()).code().as_str(), "PLAYBACK_UNSUPPORTED");
        assert_eq!(ErrorDetails::fatal(&network), ErrorDetails::ManifestLoadError);
    }

    #[test]
    fn bad_segments_back_off_then_give_up_and_a_good_one_starts_over() {
        let mut f = ParseFailures::default();
        let waits: Vec<_> = (0..ParseFailures::LIMIT).map(|_| f.record()).collect();
        assert_eq!(waits, vec![Some(250.0), Some(500.0), Some(1000.0), Some(2000.0), Some(4000.0), None]);
        f.reset();
        assert_eq!(f.count(), 0);
        assert_eq!(f.record(), Some(250.0));
    }
}
