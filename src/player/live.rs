//! Live-edge control: where to start, how fast to play to catch up, when to jump, when to
//! reload the playlist, and latency when the playlist carries no dates.

use super::playlist::MediaPlaylist;

/// The first segment to load: the first one of a finished (VOD) playlist, or
/// `live_sync_segments` segments before the live edge (gaps count: they hold a place).
pub fn start_sequence(playlist: &MediaPlaylist, live_sync_segments: u32) -> u64 {
    if playlist.ended {
        return playlist.media_sequence;
    }
    playlist.end_sequence().saturating_sub(u64::from(live_sync_segments)).max(playlist.media_sequence)
}

/// Playback rate for holding the target latency: above it (plus a quarter second of
/// slack) the rate grows with the excess up to `max_rate`, never with less than a second
/// buffered (speeding up would only drain it into a stall). Below it by more than half a
/// second with less than a second buffered (skipped segments brought the playhead to the
/// edge), playback slows down, at most to `2 − max_rate`, to win the margin back instead of
/// stalling for it. Otherwise 1.
pub fn catch_up_rate(latency_s: f64, target_s: f64, max_rate: f64, buffer_ahead_s: f64) -> f64 {
    let excess = latency_s - target_s;
    if !excess.is_finite() {
        return 1.0;
    }
    if excess > 0.25 && buffer_ahead_s >= 1.0 {
        return (1.0 + 0.05 * excess).min(max_rate).max(1.0);
    }
    if excess < -0.5 && buffer_ahead_s < 1.0 {
        return (1.0 + 0.05 * excess).max(2.0 - max_rate).min(1.0);
    }
    1.0
}

/// The step playback rates are set in (hls.js rounds its catch-up rate to the same).
pub const RATE_STEP: f64 = 0.05;

/// The rate to set, given the rate [`catch_up_rate`] wants and the rate set now: a whole
/// number of [`RATE_STEP`]s from 1 (at least one while catching up, within
/// `2 − max_rate ..= max_rate`), kept while the wanted rate stays on the same side of 1 and
/// less than a step away from it, and 1 as soon as the wanted rate is 1. Every change of
/// `playbackRate` costs some engines a flush of their media pipeline (WebKitGTK's GStreamer
/// seeks on each one; with sound the picture froze while a rate that moved every tick was
/// set), so a catch-up from 2 s behind sets three rates (1.1, 1.05, 1) instead of a new one
/// every 250 ms.
pub fn stepped_rate(wanted: f64, held: f64, max_rate: f64) -> f64 {
    if !wanted.is_finite() || wanted == 1.0 {
        return 1.0;
    }
    let same_side = (wanted > 1.0) == (held > 1.0) && held != 1.0;
    // (Less than a step by more than rounding: a rate exactly one step away moves.)
    if same_side && (wanted - held).abs() < RATE_STEP - 1e-9 {
        return held;
    }
    let steps = ((wanted - 1.0).abs() / RATE_STEP).round().max(1.0);
    let rate = 1.0 + (wanted - 1.0).signum() * steps * RATE_STEP;
    let max_rate = max_rate.max(1.0);
    rate.clamp((2.0 - max_rate).min(1.0), max_rate)
}

/// Whether to jump to the live edge (after a pause, a stall or a slow network).
pub fn should_jump(latency_s: f64, max_latency_s: f64) -> bool {
    latency_s.is_finite() && latency_s > max_latency_s
}

/// Delay until the next reload of a live playlist, ms: one target duration after a reload
/// that brought new segments, half of one after one that did not (RFC 8216 §6.3.4).
pub fn reload_delay_ms(playlist: &MediaPlaylist, changed: bool) -> f64 {
    let target = playlist.target_duration.max(0.5) * 1000.0;
    if changed { target } else { target / 2.0 }
}

/// Latency without EXT-X-PROGRAM-DATE-TIME: the media listed after the playhead (the rest
/// of segment `sequence` from `offset_s` on, and every later one) plus the time since the
/// playlist was loaded. `None` when the segment slid out of the playlist.
pub fn latency_from_playlist(playlist: &MediaPlaylist, sequence: u64, offset_s: f64, seconds_since_load: f64) -> Option<f64> {
    let segment = playlist.segment(sequence)?;
    let after: f64 = playlist.segments.iter().filter(|s| s.sequence > sequence).map(|s| s.duration).sum();
    Some((segment.duration - offset_s).max(0.0) + after + seconds_since_load.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(n: usize, ended: bool) -> MediaPlaylist {
        crate::player::playlist::test_playlist(n, ended, None)
    }


    #[test]
    fn starts_behind_the_edge_or_at_the_start_of_vod() {
        assert_eq!(start_sequence(&live(6, false), 3), 13);
        assert_eq!(start_sequence(&live(2, false), 3), 10, "clamped to the window");
        assert_eq!(start_sequence(&live(6, true), 3), 10);
    }

    #[test]
    fn catch_up_is_bounded_and_only_with_buffer() {
        assert_eq!(catch_up_rate(6.1, 6.0, 1.1, 5.0), 1.0);
        assert!((catch_up_rate(7.0, 6.0, 1.1, 5.0) - 1.05).abs() < 1e-9);
        assert_eq!(catch_up_rate(20.0, 6.0, 1.1, 5.0), 1.1);
        assert_eq!(catch_up_rate(20.0, 6.0, 1.1, 0.5), 1.0);
        assert_eq!(catch_up_rate(f64::NAN, 6.0, 1.1, 5.0), 1.0);
        assert!((catch_up_rate(4.0, 6.0, 1.1, 0.5) - 0.9).abs() < 1e-9, "slows down near the edge");
        assert!((catch_up_rate(5.0, 6.0, 1.1, 0.5) - 0.95).abs() < 1e-9);
        assert!((catch_up_rate(1.0, 6.0, 1.1, 0.5) - 0.9).abs() < 1e-9, "bounded");
        assert_eq!(catch_up_rate(4.0, 6.0, 1.1, 3.0), 1.0, "not with a buffer");
        assert_eq!(catch_up_rate(4.0, 6.0, 1.0, 0.5), 1.0, "catch-up off");
        assert!(should_jump(13.0, 12.0) && !should_jump(11.0, 12.0) && !should_jump(f64::NAN, 1.0));
    }

    #[test]
    fn rates_move_in_whole_steps_and_hold_while_less_than_a_step_away() {
        let max = 1.1;
        // Entering catch-up: at least one step, whatever the excess.
        assert!((stepped_rate(1.0125, 1.0, max) - 1.05).abs() < 1e-9);
        assert!((stepped_rate(1.09, 1.0, max) - 1.1).abs() < 1e-9);
        // Held while the wanted rate drifts less than a step.
        assert_eq!(stepped_rate(1.03, 1.05, max), 1.05);
        assert_eq!(stepped_rate(1.07, 1.05, max), 1.05);
        // A step away: moves to the nearest step.
        assert!((stepped_rate(1.1, 1.05, max) - 1.1).abs() < 1e-9);
        // Back in the slack band: 1 at once.
        assert_eq!(stepped_rate(1.0, 1.05, max), 1.0);
        // Slowing down is stepped and bounded the same way.
        assert!((stepped_rate(0.99, 1.0, max) - 0.95).abs() < 1e-9);
        assert_eq!(stepped_rate(0.97, 0.95, max), 0.95);
        assert!((stepped_rate(0.5, 0.95, max) - 0.9).abs() < 1e-9, "bounded by 2 - max");
        // From fast straight to slow: a change of side is not held.
        assert!((stepped_rate(0.99, 1.05, max) - 0.95).abs() < 1e-9);
        // A max rate under one step is still honoured.
        assert!((stepped_rate(1.01, 1.0, 1.02) - 1.02).abs() < 1e-9);
        assert_eq!(stepped_rate(f64::NAN, 1.05, max), 1.0);
        // Over a whole catch-up from 2 s behind, at the rates catch_up_rate asks for as the
        // excess shrinks by 0.1 s each step: three changes, not one per tick.
        let (mut held, mut changes) = (1.0, vec![]);
        for tenth in (0..=20).rev() {
            let latency = 6.0 + f64::from(tenth) / 10.0;
            let next = stepped_rate(catch_up_rate(latency, 6.0, max, 5.0), held, max);
            if next != held {
                changes.push(next);
                held = next;
            }
        }
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert_eq!(changes.last(), Some(&1.0));
    }

    #[test]
    fn reload_cadence_and_undated_latency() {
        let p = live(6, false);
        assert_eq!((reload_delay_ms(&p, true), reload_delay_ms(&p, false)), (2000.0, 1000.0));
        assert_eq!(latency_from_playlist(&p, 13, 0.5, 0.25), Some(1.5 + 4.0 + 0.25));
        assert_eq!(latency_from_playlist(&p, 3, 0.0, 0.0), None);
    }
}
