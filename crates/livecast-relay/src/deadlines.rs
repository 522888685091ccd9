//! The relay's deadlines for work done by transcoder nodes, in one leaf module: the gateway
//! ([`crate::transcoders`]) waits by them, and the playlists ([`crate::playlist`]) decide
//! from them when a rendition that has not come is a gap.

use std::time::Duration;

/// Shortest wait for a node's `TranscodeResult` (go-livepeer: max(8 s, 4 × duration)).
pub const MIN_SEGMENT_TIMEOUT: Duration = Duration::from_secs(8);
/// Time to fetch all the renditions of one segment.
pub const RENDITION_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a node's answer to a segment of `duration_secs`.
pub fn segment_timeout(duration_secs: f64) -> Duration {
    let four = Duration::from_secs_f64((duration_secs * 4.0).clamp(0.0, 3600.0));
    four.max(MIN_SEGMENT_TIMEOUT)
}

/// How long after a source segment arrived its missing rendition becomes a gap (once the
/// rendition has moved past it): three attempts, each up to max(8 s, 4 × duration) for the
/// node plus the rendition fetches, as the broadcaster retries.
pub fn gap_grace_ms(duration_secs: f64) -> i64 {
    let attempt = segment_timeout(duration_secs) + RENDITION_FETCH_TIMEOUT;
    3 * attempt.as_millis() as i64
}
