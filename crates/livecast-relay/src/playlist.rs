//! The HLS media playlist of a stream's source, built with `m3u8-rs` from the stored
//! segment rows (a pure function of them, so it is tested without a server).
//!
//! - `EXT-X-VERSION:3`; `EXT-X-TARGETDURATION` is the ceiling of the longest segment of the
//!   whole stream (not only the window), so it never changes while the stream is live.
//! - While live: the last `window` segments. Once ended: every segment, with
//!   `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST`.
//! - Media sequence numbers: the stream's lowest stored `seq` plus the segment's rank, so a
//!   segment keeps its number as the window slides, and equals its `seq` when no segment is
//!   missing.
//! - `EXT-X-DISCONTINUITY` before a segment that follows a gap in `seq`, or whose first PTS
//!   does not continue the previous segment's timeline (e.g. the broadcaster restarted its
//!   encoder); `EXT-X-DISCONTINUITY-SEQUENCE` counts those that slid out of the window.
//! - `EXT-X-PROGRAM-DATE-TIME` on every segment: the broadcaster's `Livecast-Capture-Start`
//!   when it sent one, otherwise the time the relay received the segment minus its duration.

use chrono::{DateTime, FixedOffset};
use m3u8_rs::{MediaPlaylist, MediaPlaylistType, MediaSegment};

use crate::db::SegmentRow;

/// The HLS version the playlist needs (floating-point `EXTINF`).
pub const HLS_VERSION: usize = 3;
/// MPEG-TS clock rate.
const CLOCK_HZ: f64 = 90_000.0;
/// PTS wrap-around (33 bits).
const PTS_MODULO: i64 = 1 << 33;
/// A timestamp jump larger than this between consecutive segments is a discontinuity.
const MAX_PTS_JUMP: i64 = 90_000;

/// The media playlist for `segments` (ascending `seq`).
pub fn media_playlist(segments: &[SegmentRow], ended: bool, window: usize) -> MediaPlaylist {
    let start = if ended { 0 } else { segments.len().saturating_sub(window.max(1)) };
    let discontinuity = |i: usize| i > 0 && is_discontinuity(&segments[i - 1], &segments[i]);
    let first_seq = segments.first().map_or(0, |s| u64::from(s.seq));
    MediaPlaylist {
        version: Some(HLS_VERSION),
        target_duration: target_duration(segments),
        media_sequence: first_seq + start as u64,
        discontinuity_sequence: (1..start).filter(|&i| discontinuity(i)).count() as u64,
        end_list: ended,
        playlist_type: ended.then_some(MediaPlaylistType::Vod),
        segments: (start..segments.len())
            .map(|i| {
                let s = &segments[i];
                MediaSegment {
                    uri: format!("{}.ts", s.seq),
                    duration: ((s.duration_secs * 1000.0).round() / 1000.0) as f32,
                    discontinuity: discontinuity(i),
                    program_date_time: program_date_time(s),
                    ..MediaSegment::default()
                }
            })
            .collect(),
        ..MediaPlaylist::default()
    }
}

/// The playlist as text.
pub fn render(playlist: &MediaPlaylist) -> Vec<u8> {
    let mut out = Vec::new();
    playlist.write_to(&mut out).expect("writing to a Vec cannot fail");
    out
}

/// The ceiling of the longest segment duration, at least 1 (a millisecond of rounding noise
/// does not add a second).
pub fn target_duration(segments: &[SegmentRow]) -> u64 {
    let longest = segments.iter().map(|s| s.duration_secs).fold(0.0, f64::max);
    ((longest - 0.001).ceil() as u64).max(1)
}

/// When the segment's first frame was captured, or our best estimate of it.
pub fn program_date_time(s: &SegmentRow) -> Option<DateTime<FixedOffset>> {
    let ms = s
        .capture_start_ms
        .unwrap_or_else(|| s.received_at_ms - (s.duration_secs * 1000.0).round() as i64);
    DateTime::from_timestamp_millis(ms).map(|t| t.fixed_offset())
}

/// Whether `cur` does not follow `prev` without a break: a missing `seq`, or a timeline jump.
pub fn is_discontinuity(prev: &SegmentRow, cur: &SegmentRow) -> bool {
    if cur.seq != prev.seq + 1 {
        return true;
    }
    let expected = prev.first_pts as i64 + (prev.duration_secs * CLOCK_HZ).round() as i64;
    let jump = (cur.first_pts as i64 - expected).rem_euclid(PTS_MODULO);
    let jump = if jump > PTS_MODULO / 2 { jump - PTS_MODULO } else { jump };
    jump.abs() > MAX_PTS_JUMP
}

#[cfg(test)]
mod tests {
    use super::*;
    use m3u8_rs::Playlist;

    fn seg(seq: u32, duration_secs: f64) -> SegmentRow {
        SegmentRow {
            seq,
            size: 188,
            sha256: vec![0; 32],
            duration_secs,
            first_pts: 126_000 + u64::from(seq) * 180_000,
            last_pts: 0,
            video_frames: 60,
            starts_with_keyframe: true,
            received_at_ms: 1_700_000_000_000 + i64::from(seq) * 2000,
            capture_start_ms: None,
            declared_duration_ms: None,
        }
    }

    fn reparse(p: &MediaPlaylist) -> MediaPlaylist {
        match m3u8_rs::parse_playlist_res(&render(p)) {
            Ok(Playlist::MediaPlaylist(m)) => m,
            other => panic!("not a media playlist: {other:?}"),
        }
    }

    #[test]
    fn live_window() {
        let segs: Vec<_> = (0..10).map(|i| seg(i, 2.0)).collect();
        let p = reparse(&media_playlist(&segs, false, 6));
        assert_eq!(p.version, Some(3));
        assert_eq!(p.target_duration, 2);
        assert_eq!(p.media_sequence, 4);
        assert_eq!(p.segments.len(), 6);
        assert_eq!(p.segments[0].uri, "4.ts");
        assert_eq!(p.segments[5].uri, "9.ts");
        assert!(!p.end_list);
        assert_eq!(p.playlist_type, None);
        assert!(p.segments.iter().all(|s| !s.discontinuity && s.program_date_time.is_some()));
    }

    #[test]
    fn ended_is_complete_vod() {
        let segs: Vec<_> = (0..10).map(|i| seg(i, 2.0)).collect();
        let p = reparse(&media_playlist(&segs, true, 6));
        assert_eq!(p.segments.len(), 10);
        assert_eq!(p.media_sequence, 0);
        assert!(p.end_list);
        assert_eq!(p.playlist_type, Some(MediaPlaylistType::Vod));
    }

    #[test]
    fn target_duration_is_ceiling_of_longest() {
        assert_eq!(target_duration(&[]), 1);
        assert_eq!(target_duration(&[seg(0, 2.0), seg(1, 2.0000004)]), 2);
        assert_eq!(target_duration(&[seg(0, 2.0), seg(1, 2.1)]), 3);
        // The longest segment left the window: the target duration stays.
        let segs = [seg(0, 4.5), seg(1, 2.0), seg(2, 2.0)];
        assert_eq!(reparse(&media_playlist(&segs, false, 2)).target_duration, 5);
    }

    #[test]
    fn gaps_are_discontinuities_counted_as_they_slide_out() {
        // seq 0 1 _ 3 4 _ _ 7 8 9
        let segs: Vec<_> = [0, 1, 3, 4, 7, 8, 9].into_iter().map(|i| seg(i, 2.0)).collect();
        let all = reparse(&media_playlist(&segs, true, 6));
        let tagged: Vec<_> = all.segments.iter().filter(|s| s.discontinuity).map(|s| s.uri.as_str()).collect();
        assert_eq!(tagged, ["3.ts", "7.ts"]);
        assert_eq!(all.discontinuity_sequence, 0);

        let live = reparse(&media_playlist(&segs, false, 3));
        let uris: Vec<_> = live.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["7.ts", "8.ts", "9.ts"]);
        assert_eq!(live.media_sequence, 4, "rank 4, not seq 7: numbers stay stable");
        assert!(live.segments[0].discontinuity);
        assert_eq!(live.discontinuity_sequence, 1, "the tag on 3.ts slid out");
    }

    #[test]
    fn timeline_jump_is_a_discontinuity() {
        let a = seg(0, 2.0);
        let mut b = seg(1, 2.0);
        assert!(!is_discontinuity(&a, &b));
        b.first_pts = 5;
        assert!(is_discontinuity(&a, &b));
        // Wrap-around of the 33-bit clock is not a jump.
        let mut a = seg(0, 2.0);
        a.first_pts = (1 << 33) - 90_000;
        let mut b = seg(1, 2.0);
        b.first_pts = 90_000;
        assert!(!is_discontinuity(&a, &b));
    }

    #[test]
    fn program_date_time_prefers_capture_start() {
        let mut s = seg(0, 2.0);
        assert_eq!(program_date_time(&s).unwrap().timestamp_millis(), 1_700_000_000_000 - 2000);
        s.capture_start_ms = Some(1_699_999_999_123);
        assert_eq!(program_date_time(&s).unwrap().timestamp_millis(), 1_699_999_999_123);
        let p = String::from_utf8(render(&media_playlist(&[s], false, 6))).unwrap();
        assert!(p.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:19.123Z"), "{p}");
    }
}
