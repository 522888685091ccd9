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
    use super::ParseFailures;

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
