//! Seeking in an ended (VOD) playlist, or in a live one's window once the viewer has seeked
//! back (DVR; see [`dvr_seek`]): when the playhead is somewhere the loader is not
//! heading (the page set `currentTime` outside what is buffered, or the media there was
//! evicted), the loader jumps to the segment that holds it. When the playhead is in buffered
//! media that in-order loading is not extending (a seek into media buffered earlier, or a
//! seek back whose reloads ran into it), the loader goes on after that media instead of
//! downloading what is buffered again or what the playhead left behind.
//!
//! Two clocks meet here. The playlist's (each segment's `start`, summed EXTINF durations)
//! says where a segment that was never loaded belongs; the timeline's (where appended
//! segments really landed) says what is loaded. Contiguous segments are placed by the
//! SourceBuffer one after another, so EXTINF rounding never moves media that plays in order;
//! only a jump places a segment by the playlist's clock.

use super::buffer::HOLE_TOLERANCE_S;
use super::playlist::MediaPlaylist;
use super::timeline::Timeline;

/// Where the loader goes instead of `next_sequence`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jump {
    /// The segment to load next.
    pub sequence: u64,
    /// Where it must start in the SourceBuffer, s (its `timestampOffset`).
    pub start: f64,
}

/// A position counts as reached by in-order loading when it lies this close after a
/// buffered range's end, or this close before the next segment's start, s.
const REACH_S: f64 = 0.5;

/// The segment holding `t` on the playlist's clock (the first segment starts at 0); the
/// last one for `t` past the end, the first for `t` before 0.
pub fn segment_at(playlist: &MediaPlaylist, t: f64) -> Option<u64> {
    let first = playlist.segments.first()?;
    Some(playlist.segments.iter().take_while(|s| s.start <= t).last().unwrap_or(first).sequence)
}

/// The first segment from `sequence` on that was not given up; the playlist's end when all
/// the rest were.
fn first_kept(playlist: &MediaPlaylist, mut sequence: u64, skipped: &dyn Fn(u64) -> bool) -> u64 {
    while skipped(sequence) && sequence < playlist.end_sequence() {
        sequence += 1;
    }
    sequence
}

/// Where segment `sequence` belongs in the SourceBuffer on the playlist's clock (the end
/// of the video for the playlist's end).
fn place(playlist: &MediaPlaylist, origin: f64, sequence: u64) -> f64 {
    origin + playlist.segment(sequence).map_or(playlist.duration(), |s| s.start)
}

/// The end of the buffered range holding media at `t`, if any.
fn media_at(ranges: &[(f64, f64)], t: f64) -> Option<f64> {
    ranges.iter().find(|&&(s, e)| s <= t + HOLE_TOLERANCE_S && e > t + 0.05).map(|r| r.1)
}

/// The loader's jump before loading `next_sequence`, or `None` to go on in order.
///
/// - `origin`: where the playlist's clock starts in the SourceBuffer (the first appended
///   segment's start minus its playlist start).
/// - `ranges`: the SourceBuffer's buffered ranges; `position`: the playhead.
/// - `skipped(sequence)`: segments that failed for good this session (a jump lands after
///   them rather than retrying them forever).
///
/// The player asks only for ended playlists, and for live ones while the viewer watches
/// behind the edge on purpose (DVR): live playback at the edge has its own rules (start
/// behind the edge, jump to the edge when too far behind; see [`super::live`]).
pub fn jump(
    playlist: &MediaPlaylist,
    timeline: &Timeline,
    origin: f64,
    ranges: &[(f64, f64)],
    position: f64,
    next_sequence: u64,
    skipped: &dyn Fn(u64) -> bool,
) -> Option<Jump> {
    if playlist.segments.is_empty() {
        return None;
    }
    // Segments given up are stepped over; what follows keeps its place on the playlist's
    // clock (the hole is jumped by the player's monitor).
    if skipped(next_sequence) {
        let sequence = first_kept(playlist, next_sequence, skipped);
        return Some(Jump { sequence, start: place(playlist, origin, sequence) });
    }
    // Before the first segment's place (a stream whose timestamps start after 0): the start.
    let position = position.max(origin);
    let range = ranges.iter().find(|&&(s, e)| position >= s - HOLE_TOLERANCE_S && position <= e + REACH_S);
    let Some(&(_, frontier)) = range else {
        let next_reaches = playlist.segment(next_sequence).is_some_and(|s| position >= origin + s.start - REACH_S && position < origin + s.start + s.duration);
        if next_reaches {
            return None;
        }
        // A seek outside the buffer: load the segment that holds the playhead (unless
        // that is a hole left by segments given up, with media after it: the monitor
        // moves the playhead there).
        // (All given up to the end: the last segment.)
        let sequence = first_kept(playlist, segment_at(playlist, position - origin)?, skipped).min(playlist.end_sequence() - 1);
        let start = origin + playlist.segment(sequence)?.start;
        return media_at(ranges, start).is_none().then_some(Jump { sequence, start });
    };
    let (frontier, after) = reach(playlist, timeline, origin, ranges, frontier, skipped)?;
    // In-order loading lands where the last append ended; when that is not the frontier (a
    // seek into media buffered earlier, or a seek back whose reloads ran into it), go on
    // after the segment that ends there. (Past the last segment: the loader then ends the
    // stream.)
    let heading = timeline.last()?.end;
    ((heading - frontier).abs() > HOLE_TOLERANCE_S).then_some(after)
}

/// Where a live playlist's clock starts in the SourceBuffer: from the newest appended
/// segment the playlist still lists (its start minus its start in the playlist). The
/// window slides, so this is worked out again against each reload. `None` before any
/// listed segment is appended.
pub fn live_origin(playlist: &MediaPlaylist, timeline: &Timeline) -> Option<f64> {
    timeline.newest_first().find_map(|e| playlist.segment(e.sequence).map(|s| e.start - s.start))
}

/// A live playlist's window on the SourceBuffer's clock: `(start, end)` from
/// [`live_origin`]. `None` for an ended playlist or before a listed segment is appended.
pub fn live_window(playlist: &MediaPlaylist, timeline: &Timeline) -> Option<(f64, f64)> {
    let origin = live_origin(playlist, timeline).filter(|_| !playlist.ended)?;
    Some((origin, origin + playlist.duration()))
}

/// Where live segment `sequence` belongs in the SourceBuffer: on the playlist's clock from
/// [`live_origin`], or, before anything is appended, at its place in the window (so the
/// window behind the join point has room at non-negative times for DVR seeks).
pub fn live_place(playlist: &MediaPlaylist, timeline: &Timeline, sequence: u64) -> Option<f64> {
    let start = playlist.segment(sequence)?.start;
    Some(live_origin(playlist, timeline).unwrap_or(0.0) + start)
}

/// Whether a change of playhead between two monitor ticks was a seek back by the viewer: it
/// went back by more than half a second (the player itself only ever moves it forward: to
/// the live edge, over holes, to the start of what it loaded).
pub fn dvr_seek(previous: f64, position: f64) -> bool {
    position < previous - 0.5
}

/// How far media is buffered on from `end` (the end of the range holding the playhead),
/// across holes left by segments given up; and the segment to load after it, with its
/// place. `None` when the playlist cannot say.
pub fn reach(
    playlist: &MediaPlaylist,
    timeline: &Timeline,
    origin: f64,
    ranges: &[(f64, f64)],
    end: f64,
    skipped: &dyn Fn(u64) -> bool,
) -> Option<(f64, Jump)> {
    let mut frontier = end;
    let mut after = None;
    for _ in 0..=ranges.len() {
        let (next, end) = match timeline.ending_at(frontier, 0.1) {
            Some(e) => (e.sequence + 1, e.end),
            None => (segment_at(playlist, frontier - origin + 0.1)?, frontier),
        };
        let sequence = first_kept(playlist, next, skipped);
        let stepped = sequence != next;
        let start = if stepped { place(playlist, origin, sequence) } else { end };
        after = Some(Jump { sequence, start });
        match media_at(ranges, start) {
            Some(e) if stepped && e > frontier => frontier = e,
            _ => break,
        }
    }
    after.map(|a| (frontier, a))
}

/// Seconds buffered ahead of `position` in an ended playlist, across holes left by segments
/// given up (in-order loading would otherwise fetch the whole rest of the video to fill a
/// buffer that never looks full). `None` when the playhead is not in buffered media.
pub fn ahead(
    playlist: &MediaPlaylist,
    timeline: &Timeline,
    origin: f64,
    ranges: &[(f64, f64)],
    position: f64,
    skipped: &dyn Fn(u64) -> bool,
) -> Option<f64> {
    if !playlist.ended {
        return None;
    }
    let containing = |t: f64| ranges.iter().find(|&&(s, e)| t >= s - HOLE_TOLERANCE_S && t < e).map(|r| r.1);
    let end = match containing(position) {
        Some(end) => end,
        None => {
            // In the hole of a segment given up (the monitor is about to move the playhead
            // past it): count from the media after the hole.
            let sequence = segment_at(playlist, position - origin)?;
            if !skipped(sequence) {
                return None;
            }
            containing(origin + playlist.segment(first_kept(playlist, sequence, skipped))?.start)?
        }
    };
    let (frontier, _) = reach(playlist, timeline, origin, ranges, end, skipped)?;
    Some(frontier - position)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::playlist::{self, Parsed};
    use crate::player::timeline::Entry;

    /// A VOD of `n` 2 s segments numbered from 0.
    fn vod(n: usize, ended: bool) -> MediaPlaylist {
        let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n");
        for i in 0..n {
            text.push_str(&format!("#EXTINF:2.000,\n{i}.ts\n"));
        }
        if ended {
            text.push_str("#EXT-X-ENDLIST\n");
        }
        match playlist::parse(text.as_bytes(), "vod.m3u8").unwrap() {
            Parsed::Media(p) => p,
            Parsed::Master(_) => unreachable!(),
        }
    }

    fn entry(sequence: u64, start: f64, end: f64) -> Entry {
        Entry { sequence, level: 0, start, end, date_ms: None }
    }

    fn never(_: u64) -> bool {
        false
    }

    #[test]
    fn maps_positions_to_segments() {
        let p = vod(5, true);
        assert_eq!(segment_at(&p, 0.0), Some(0));
        assert_eq!(segment_at(&p, 3.99), Some(1));
        assert_eq!(segment_at(&p, 4.0), Some(2));
        assert_eq!(segment_at(&p, 99.0), Some(4));
        assert_eq!(segment_at(&p, -1.0), Some(0));
        assert_eq!(segment_at(&vod(0, true), 1.0), None);
    }

    #[test]
    fn in_order_loading_does_not_jump_whatever_the_drift() {
        let p = vod(30, true);
        let mut t = Timeline::default();
        // Start: nothing buffered, the playhead at 0, segment 0 next.
        assert_eq!(jump(&p, &t, 0.0, &[], 0.0, 0, &never), None);
        // Media really 2.1 s per segment (EXTINF says 2): after 10 segments the buffer ends
        // at 21 s while the playlist clock puts segment 10 at 20 s. Still in order.
        for i in 0..10 {
            t.push(entry(i, i as f64 * 2.1, (i + 1) as f64 * 2.1));
        }
        assert_eq!(jump(&p, &t, 0.0, &[(0.0, 21.0)], 12.0, 10, &never), None);
        // A stream whose first frame is at 1.4 s, the playhead still at 0.
        let mut first = Timeline::default();
        first.push(entry(0, 1.4, 3.4));
        assert_eq!(jump(&p, &first, 1.4, &[(1.4, 3.4)], 0.0, 1, &never), None);
        // Stalled at the end of the buffer, waiting for the next segment.
        assert_eq!(jump(&p, &t, 0.0, &[(0.0, 21.0)], 21.0, 10, &never), None);
        // A live playlist the viewer seeked back in (DVR): the same rules.
        assert_eq!(jump(&vod(30, false), &t, 0.0, &[(0.0, 21.0)], 12.0, 10, &never), None);
        assert_eq!(jump(&vod(30, false), &t, 0.0, &[(14.0, 21.0)], 5.0, 10, &never), Some(Jump { sequence: 2, start: 4.0 }));
    }

    #[test]
    fn a_seek_outside_the_buffer_jumps_to_the_segment_holding_it() {
        let p = vod(30, true);
        let mut t = Timeline::default();
        for i in 0..5 {
            t.push(entry(i, 1.4 + i as f64 * 2.0, 1.4 + (i + 1) as f64 * 2.0));
        }
        // Forward, past the buffer; the playlist's clock starts at 1.4 s here.
        assert_eq!(jump(&p, &t, 1.4, &[(1.4, 11.4)], 41.0, 5, &never), Some(Jump { sequence: 19, start: 39.4 }));
        // Back, before what is left after eviction.
        assert_eq!(jump(&p, &t, 1.4, &[(7.4, 11.4)], 2.0, 5, &never), Some(Jump { sequence: 0, start: 1.4 }));
        // A segment that failed for good is stepped over.
        assert_eq!(jump(&p, &t, 1.4, &[(1.4, 11.4)], 41.0, 5, &|s| s == 19), Some(Jump { sequence: 20, start: 41.4 }));
        // In order, the next segment given up: the one after it, at its own place.
        assert_eq!(jump(&p, &t, 1.4, &[(1.4, 11.4)], 9.0, 5, &|s| s == 5 || s == 6), Some(Jump { sequence: 7, start: 15.4 }));
        assert_eq!(jump(&p, &t, 1.4, &[(1.4, 11.4)], 9.0, 29, &|s| s == 29), Some(Jump { sequence: 30, start: 61.4 }));
        // A hole left by segment 6, given up: in-order loading went on after it (7 at
        // 15.4 s) and the playhead, still before the hole, is not sent back for it.
        let mut holed = t.clone();
        holed.push(entry(5, 11.4, 13.4));
        holed.push(entry(7, 15.4, 17.4));
        let ranges = [(1.4, 13.4), (15.4, 17.4)];
        assert_eq!(jump(&p, &holed, 1.4, &ranges, 13.3, 8, &|s| s == 6), None);
        assert_eq!(ahead(&p, &holed, 1.4, &ranges, 13.3, &|s| s == 6).map(|a| (a * 10.0).round() / 10.0), Some(4.1), "the hole is bridged");
        assert_eq!(ahead(&p, &holed, 1.4, &ranges, 13.3, &never).map(|a| (a * 10.0).round() / 10.0), Some(0.1));
        assert_eq!(ahead(&p, &holed, 1.4, &ranges, 14.5, &never), None);
        // In the hole itself: counted from the media after it.
        assert_eq!(ahead(&p, &holed, 1.4, &ranges, 14.5, &|s| s == 6).map(|a| (a * 10.0).round() / 10.0), Some(2.9));
        assert_eq!(ahead(&vod(30, false), &holed, 1.4, &ranges, 13.3, &never), None);
        // A seek into that hole: the media after it is buffered, the monitor moves there.
        assert_eq!(jump(&p, &holed, 1.4, &ranges, 14.5, 8, &|s| s == 6), None);
        // Once the loader heads there, no second jump.
        t.push(entry(19, 39.4, 41.4));
        assert_eq!(jump(&p, &t, 1.4, &[(1.4, 11.4), (39.4, 41.4)], 41.0, 20, &never), None);
    }

    #[test]
    fn after_a_seek_back_buffered_segments_are_not_loaded_again() {
        let p = vod(30, true);
        let mut t = Timeline::default();
        for i in 10..20 {
            t.push(entry(i, i as f64 * 2.0, (i + 1) as f64 * 2.0));
        }
        // Seek back to 12 s: segment 6 goes to 12 s, then 7, 8, 9 in order.
        for i in 6..10 {
            t.push(entry(i, i as f64 * 2.0, (i + 1) as f64 * 2.0));
        }
        // Next is 10, buffered from the first pass up to 40 s: go on at 20 after 40 s.
        assert_eq!(jump(&p, &t, 0.0, &[(12.0, 40.0)], 13.0, 10, &never), Some(Jump { sequence: 20, start: 40.0 }));
        // Evicted in the meantime: loaded again in order.
        assert_eq!(jump(&p, &t, 0.0, &[(12.0, 20.0)], 13.0, 10, &never), None);
        // A seek forward into media buffered earlier (20-24 s), away from where in-order
        // loading was heading (8 s): go on after it.
        let mut t3 = Timeline::default();
        t3.push(entry(10, 20.0, 22.0));
        t3.push(entry(11, 22.0, 24.0));
        for i in 1..4 {
            t3.push(entry(i, i as f64 * 2.0, (i + 1) as f64 * 2.0));
        }
        assert_eq!(jump(&p, &t3, 0.0, &[(2.0, 8.0), (20.0, 24.0)], 21.0, 4, &never), Some(Jump { sequence: 12, start: 24.0 }));
        // ... stepping over a segment that failed for good.
        assert_eq!(jump(&p, &t3, 0.0, &[(2.0, 8.0), (20.0, 24.0)], 21.0, 4, &|s| s == 12), Some(Jump { sequence: 13, start: 26.0 }));
        // Buffered to the very end: nothing left to load (the sequence is the end).
        let mut t2 = Timeline::default();
        for i in 20..30 {
            t2.push(entry(i, i as f64 * 2.0, (i + 1) as f64 * 2.0));
        }
        t2.push(entry(19, 38.0, 40.0));
        assert_eq!(jump(&p, &t2, 0.0, &[(38.0, 60.0)], 38.5, 20, &never), Some(Jump { sequence: 30, start: 60.0 }));
    }

    #[test]
    fn live_origin_follows_the_sliding_window_and_seeks_back_are_told_apart() {
        // Segments 0..30 of 2 s; appended 10..14 at 100 s on (the stream joined late).
        let p = vod(30, false);
        let mut t = Timeline::default();
        assert_eq!(live_origin(&p, &t), None);
        for i in 10..14 {
            t.push(entry(i, 100.0 + (i - 10) as f64 * 2.0, 102.0 + (i - 10) as f64 * 2.0));
        }
        assert_eq!(live_origin(&p, &t), Some(80.0));
        // The window slid past everything appended: no anchor.
        let mut later = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:20\n");
        for i in 20..26 {
            later.push_str(&format!("#EXTINF:2.000,\n{i}.ts\n"));
        }
        let Ok(Parsed::Media(later)) = playlist::parse(later.as_bytes(), "live.m3u8") else { panic!() };
        assert_eq!(live_origin(&later, &t), None);
        t.push(entry(21, 122.0, 124.0));
        assert_eq!(live_origin(&later, &t), Some(120.0), "segment 20 starts the window at 120 s");
        assert_eq!(live_place(&later, &t, 24), Some(128.0));
        assert_eq!(live_window(&later, &t), Some((120.0, 132.0)));
        assert_eq!(live_window(&vod(30, true), &t), None, "not for an ended playlist");
        // Before any append: the join point at its place in the window, room behind it.
        assert_eq!(live_place(&later, &Timeline::default(), 23), Some(6.0));
        assert_eq!(live_place(&later, &t, 99), None);
        assert!(dvr_seek(30.0, 20.0) && !dvr_seek(30.0, 29.7) && !dvr_seek(30.0, 31.0));
    }
}
