//! What the Player's loader does next, sans-I/O: the decisions its loop takes before it
//! picks a level and fetches a segment.
//!
//! [`plan`] takes the loader's state at one instant ([`LoaderInput`]: the playhead, the
//! SourceBuffer's ranges, the playing level's playlist, what was appended where, the next
//! segment in line) and answers a [`Plan`]: what to evict from the back buffer, then one
//! [`Next`] step (move the loader after a seek, wait, restart behind a live edge that slid
//! past it, end the stream, or load a segment). `js::player` performs it (SourceBuffer
//! `remove`, timers, `endOfStream`, the fetch and append) and asks again. Level choice is
//! [`super::abr`]'s; where seeks land is [`super::seek`]'s.

use super::buffer;
use super::live;
use super::playlist::MediaPlaylist;
use super::seek;
use super::timeline::Timeline;

/// Idle wait of a loader with nothing to do, ms.
pub const IDLE_MS: f64 = 250.0;
/// Buffer ahead under which a ManagedMediaSource that asked to stop streaming is fed
/// anyway, s (playback would otherwise stall waiting for `startstreaming`).
pub const MANAGED_STREAMING_FLOOR_S: f64 = 2.0;

/// The loader's state at one instant.
#[derive(Debug, Clone, Copy)]
pub struct LoaderInput<'a> {
    /// The playhead, s.
    pub position: f64,
    /// The SourceBuffer's buffered ranges, s.
    pub ranges: &'a [(f64, f64)],
    /// The playing level's media playlist (`None` before it is loaded).
    pub playlist: Option<&'a MediaPlaylist>,
    /// What was appended where.
    pub timeline: &'a Timeline,
    /// The next segment in line (`None` before the start point is known).
    pub next_sequence: Option<u64>,
    /// Where the next segment is to be placed, if the loader was moved.
    pub place_next_at: Option<f64>,
    /// VOD: where the playlist's clock starts in the SourceBuffer.
    pub vod_origin: Option<f64>,
    /// Live: the viewer watches behind the edge on purpose (the loader then follows seeks).
    pub dvr: bool,
    /// Most media to hold ahead of the playhead, s.
    pub max_buffer_s: f64,
    /// Media to keep behind the playhead, s.
    pub back_buffer_s: f64,
    /// The MediaSource wants data (false: a ManagedMediaSource said `endstreaming`).
    pub streaming_wanted: bool,
    /// Segments behind the live edge to start at.
    pub live_sync_segments: u32,
}

/// The loader's next step.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Move the loader (a seek outside the buffer, or past segments given up): load
    /// `sequence` next, placed at `start`; then plan again.
    Jump {
        /// The segment to load next.
        sequence: u64,
        /// Where it goes in the SourceBuffer, s.
        start: f64,
    },
    /// Nothing to load now: plan again after `ms`.
    Wait {
        /// How long, ms.
        ms: f64,
    },
    /// A ManagedMediaSource has enough: wait for its `startstreaming` (at most a second),
    /// then plan again.
    WaitForStreaming,
    /// The loader fell out of the live window (a long stall): load `sequence` next, behind
    /// the edge, placed at `place_at`, and seek there once it is appended.
    Restart {
        /// The segment to load next.
        sequence: u64,
        /// Where it goes in the SourceBuffer, if known.
        place_at: Option<f64>,
    },
    /// Every segment of the ended playlist is buffered: end the stream (seeks back into
    /// evicted media still load), then wait.
    Finish,
    /// Load segment `sequence` (of the playing level's numbering), with `ahead` s buffered.
    Load {
        /// The segment.
        sequence: u64,
        /// Media buffered ahead of the playhead, s.
        ahead: f64,
    },
    /// There is no media playlist to load from.
    NoPlaylist,
}

/// What to do: evict first, then the next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// A back-buffer range to remove first, s.
    pub evict: Option<(f64, f64)>,
    /// Then this.
    pub next: Next,
}

/// The loader's plan at one instant. `skipped(sequence)` says which segments were given up
/// this session.
pub fn plan(input: &LoaderInput<'_>, skipped: &dyn Fn(u64) -> bool) -> Plan {
    // Back buffer first: memory stays bounded however long the session.
    let evict = buffer::eviction(input.ranges, input.position, input.back_buffer_s);
    Plan { evict, next: next_step(input, skipped) }
}

fn next_step(input: &LoaderInput<'_>, skipped: &dyn Fn(u64) -> bool) -> Next {
    let LoaderInput { position, ranges, playlist, timeline, .. } = *input;
    // VOD (and live behind the edge): a seek outside the buffer, or media still buffered
    // from an earlier pass, moves the loader.
    if let (Some(next), Some(p)) = (input.next_sequence, playlist) {
        let origin = if p.ended {
            Some(input.vod_origin.unwrap_or(0.0))
        } else if input.dvr {
            seek::live_origin(p, timeline)
        } else {
            None
        };
        let jump = origin.and_then(|origin| seek::jump(p, timeline, origin, ranges, position, next, skipped));
        // (A plan already in place is not news: applying it again would spin the loader.)
        if let Some(j) = jump.filter(|j| !(next == j.sequence && input.place_next_at == Some(j.start))) {
            return Next::Jump { sequence: j.sequence, start: j.start };
        }
    }
    let ahead = playlist
        .and_then(|p| seek::ahead(p, timeline, input.vod_origin.unwrap_or(0.0), ranges, position, skipped))
        .unwrap_or_else(|| buffer::ahead(ranges, position));
    if ahead >= input.max_buffer_s {
        return Next::Wait { ms: IDLE_MS };
    }
    if !input.streaming_wanted && ahead >= MANAGED_STREAMING_FLOOR_S {
        return Next::WaitForStreaming;
    }
    let Some(sequence) = input.next_sequence else { return Next::Wait { ms: IDLE_MS } };
    let Some(p) = playlist else { return Next::NoPlaylist };
    if sequence < p.media_sequence {
        // Fell out of a live window (a long stall): restart behind the edge.
        let restart = live::start_sequence(p, input.live_sync_segments);
        return Next::Restart { sequence: restart, place_at: seek::live_place(p, timeline, restart) };
    }
    if sequence >= p.end_sequence() {
        if p.ended {
            return Next::Finish;
        }
        // The edge is reached: a quarter target duration until the reload brings more.
        return Next::Wait { ms: p.target_duration * 250.0 };
    }
    Next::Load { sequence, ahead }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::timeline::Entry;

    fn playlist(n: usize, ended: bool) -> MediaPlaylist {
        crate::player::playlist::test_playlist(n, ended, None)
    }


    /// Segments `from..to` appended at their playlist places (origin 0).
    fn timeline(from: u64, to: u64) -> Timeline {
        let mut t = Timeline::default();
        for s in from..to {
            let start = (s - 10) as f64 * 2.0;
            t.push(Entry { sequence: s, level: 0, start, end: start + 2.0, date_ms: None });
        }
        t
    }

    fn input<'a>(p: &'a MediaPlaylist, tl: &'a Timeline, ranges: &'a [(f64, f64)], position: f64, next: u64) -> LoaderInput<'a> {
        LoaderInput {
            position,
            ranges,
            playlist: Some(p),
            timeline: tl,
            next_sequence: Some(next),
            place_next_at: None,
            vod_origin: Some(0.0),
            dvr: false,
            max_buffer_s: 30.0,
            back_buffer_s: 30.0,
            streaming_wanted: true,
            live_sync_segments: 3,
        }
    }

    const NONE_SKIPPED: &dyn Fn(u64) -> bool = &|_| false;

    #[test]
    fn loads_the_next_segment_until_the_buffer_goal_then_waits() {
        let p = playlist(30, true);
        let tl = timeline(10, 13);
        let plan = super::plan(&input(&p, &tl, &[(0.0, 6.0)], 1.0, 13), NONE_SKIPPED);
        assert_eq!(plan, Plan { evict: None, next: Next::Load { sequence: 13, ahead: 5.0 } });
        let tl = timeline(10, 27);
        let full = super::plan(&input(&p, &tl, &[(0.0, 34.0)], 1.0, 27), NONE_SKIPPED);
        assert_eq!(full.next, Next::Wait { ms: IDLE_MS }, "33 s ahead ≥ the 30 s goal");
    }

    #[test]
    fn the_back_buffer_is_evicted_beside_whatever_comes_next() {
        let p = playlist(60, true);
        let tl = timeline(10, 40);
        let plan = super::plan(&input(&p, &tl, &[(0.0, 60.0)], 50.0, 40), NONE_SKIPPED);
        assert_eq!(plan.evict, Some((0.0, 20.0)), "keeps 30 s behind the playhead");
        assert_eq!(plan.next, Next::Load { sequence: 40, ahead: 10.0 });
    }

    #[test]
    fn a_vod_seek_outside_the_buffer_moves_the_loader_once() {
        let p = playlist(30, true);
        let tl = timeline(10, 13);
        let ranges = [(0.0, 6.0)];
        // The viewer seeks to 41 s: segment 30 holds it.
        let plan = super::plan(&input(&p, &tl, &ranges, 41.0, 13), NONE_SKIPPED);
        assert_eq!(plan.next, Next::Jump { sequence: 30, start: 40.0 });
        // Once the loader stands there, the same plan is not news: it loads.
        let moved = LoaderInput { place_next_at: Some(40.0), ..input(&p, &tl, &ranges, 41.0, 30) };
        assert!(matches!(super::plan(&moved, NONE_SKIPPED).next, Next::Load { sequence: 30, .. }));
        // A segment given up is stepped over, keeping the next one's place.
        let skipped: &dyn Fn(u64) -> bool = &|s| s == 13;
        assert_eq!(super::plan(&input(&p, &tl, &ranges, 1.0, 13), skipped).next, Next::Jump { sequence: 14, start: 8.0 });
    }

    #[test]
    fn live_at_the_edge_waits_for_the_reload_and_a_loader_behind_the_window_restarts() {
        let p = playlist(6, false); // 10..=15
        let tl = timeline(10, 16);
        let ranges = [(0.0, 12.0)];
        let at_edge = super::plan(&LoaderInput { vod_origin: None, ..input(&p, &tl, &ranges, 10.0, 16) }, NONE_SKIPPED);
        assert_eq!(at_edge.next, Next::Wait { ms: 500.0 }, "a quarter of the 2 s target");
        // A long stall: the window slid past segment 8.
        let behind = super::plan(&LoaderInput { vod_origin: None, ..input(&p, &Timeline::default(), &[], 0.0, 8) }, NONE_SKIPPED);
        assert!(matches!(behind.next, Next::Restart { sequence: 13, place_at: Some(_) }), "{behind:?}");
        // Live at the edge does not follow seeks (the monitor's jump to the edge does)...
        let seek_back = super::plan(&LoaderInput { vod_origin: None, ..input(&p, &tl, &ranges, 1.0, 16) }, NONE_SKIPPED);
        assert_eq!(seek_back.next, Next::Wait { ms: 500.0 });
        // ...but behind the edge on purpose (DVR) it does: a seek before the buffer loads there.
        let tl_late = timeline(13, 16);
        let dvr = LoaderInput { vod_origin: None, dvr: true, ..input(&p, &tl_late, &[(6.0, 12.0)], 1.0, 16) };
        assert_eq!(super::plan(&dvr, NONE_SKIPPED).next, Next::Jump { sequence: 10, start: 0.0 });
    }

    #[test]
    fn an_ended_playlist_fully_buffered_finishes() {
        let p = playlist(5, true);
        let tl = timeline(10, 15);
        assert_eq!(super::plan(&input(&p, &tl, &[(0.0, 10.0)], 9.0, 15), NONE_SKIPPED).next, Next::Finish);
    }

    #[test]
    fn a_managed_media_source_that_has_enough_is_waited_for_unless_the_buffer_runs_low() {
        let p = playlist(30, true);
        let tl = timeline(10, 13);
        let base = input(&p, &tl, &[(0.0, 6.0)], 1.0, 13);
        assert_eq!(super::plan(&LoaderInput { streaming_wanted: false, ..base }, NONE_SKIPPED).next, Next::WaitForStreaming);
        let low = LoaderInput { streaming_wanted: false, position: 4.5, ..base };
        assert!(matches!(super::plan(&low, NONE_SKIPPED).next, Next::Load { .. }), "1.5 s ahead: fed anyway");
    }

    #[test]
    fn without_a_start_point_or_a_playlist_it_waits_or_says_so() {
        let p = playlist(5, true);
        let tl = Timeline::default();
        assert_eq!(super::plan(&LoaderInput { next_sequence: None, ..input(&p, &tl, &[], 0.0, 0) }, NONE_SKIPPED).next, Next::Wait { ms: IDLE_MS });
        assert_eq!(super::plan(&LoaderInput { playlist: None, ..input(&p, &tl, &[], 0.0, 10) }, NONE_SKIPPED).next, Next::NoPlaylist);
    }
}
