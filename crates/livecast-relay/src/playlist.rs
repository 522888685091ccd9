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

//!
//! Rendition playlists ([`rendition_playlist`]) follow the source's segments, numbering and
//! window, so players switch between variants at the same media sequence numbers. A source
//! segment's slot in a rendition is:
//! - the rendition, when one is stored;
//! - `EXT-X-GAP` when the broadcaster reported that no node could transcode it
//!   (`POST /api/streams/{id}/gaps`), when the stream has ended without it, or when the
//!   rendition already has a later segment and [`gap_grace_ms`] has passed since the source
//!   arrived (every retry the broadcaster may make is over by then);
//! - pending otherwise: the rendition playlist stops just before the first pending slot, so
//!   a player never sees a segment that may still come.
//!
//! The master playlist ([`master_playlist`]) lists the source and every rendition that has
//! segments, with measured bandwidths and the codec string of the real SPS.

use chrono::{DateTime, FixedOffset};
use m3u8_rs::{ExtTag, MasterPlaylist, MediaPlaylist, MediaPlaylistType, MediaSegment, Resolution, VariantStream};

use crate::db::{RenditionRow, SegmentRow, VariantStats};

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
    build(segments, &[], target_duration(segments), ended, window)
}

/// Builds a playlist of `segments`; `gaps[i]` marks segment `i` as `EXT-X-GAP` (missing
/// entries are not gaps).
pub(crate) fn build(segments: &[SegmentRow], gaps: &[bool], target: u64, ended: bool, window: usize) -> MediaPlaylist {
    let start = if ended { 0 } else { segments.len().saturating_sub(window.max(1)) };
    let discontinuity = |i: usize| i > 0 && is_discontinuity(&segments[i - 1], &segments[i]);
    let first_seq = segments.first().map_or(0, |s| u64::from(s.seq));
    let gap_tag = || ExtTag { tag: "X-GAP".into(), rest: None };
    MediaPlaylist {
        version: Some(HLS_VERSION),
        target_duration: target,
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
                    unknown_tags: if gaps.get(i).copied().unwrap_or(false) { vec![gap_tag()] } else { Vec::new() },
                    ..MediaSegment::default()
                }
            })
            .collect(),
        ..MediaPlaylist::default()
    }
}

pub use crate::deadlines::gap_grace_ms;


/// The media playlist of one rendition. `renditions` are that profile's rows (ascending
/// `seq`), `gaps` the segments the broadcaster gave up on; see the module documentation.
pub fn rendition_playlist(
    source: &[SegmentRow],
    renditions: &[RenditionRow],
    gaps: &[u32],
    ended: bool,
    window: usize,
    now_ms: i64,
) -> MediaPlaylist {
    let last_rendition = renditions.last().map(|r| r.seq);
    let mut flags = Vec::with_capacity(source.len());
    for s in source {
        let present = renditions.binary_search_by_key(&s.seq, |r| r.seq).is_ok();
        let overdue = last_rendition.is_some_and(|last| last > s.seq)
            && now_ms - s.received_at_ms > gap_grace_ms(s.duration_secs);
        if present {
            flags.push(false);
        } else if ended || gaps.binary_search(&s.seq).is_ok() || overdue {
            flags.push(true);
        } else {
            break; // pending: stop here
        }
    }
    build(&source[..flags.len()], &flags, target_duration(source), ended, window)
}

/// One variant of the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Its media playlist, relative to the master (`index.m3u8`, `P360p30fps16x9/index.m3u8`).
    pub uri: String,
    /// Highest bitrate of any of its segments, bits per second.
    pub peak_bps: u64,
    /// Bits over seconds of all its segments.
    pub average_bps: u64,
    /// Width and height from the SPS.
    pub resolution: Option<(u32, u32)>,
    /// Frames per second.
    pub frame_rate: Option<f64>,
    /// RFC 6381 codec string from the SPS.
    pub codecs: Option<String>,
}

impl Variant {
    /// Bandwidths and frame rate from `(bytes, seconds, frames)` of each segment.
    pub fn measure(uri: String, segments: impl IntoIterator<Item = (u64, f64, u32)>) -> Variant {
        let mut stats = VariantStats::default();
        for (bytes, duration, n) in segments {
            if duration > 0.0 {
                stats.peak_bps = stats.peak_bps.max(bytes as f64 * 8.0 / duration);
                stats.measured_bytes += bytes;
                stats.measured_secs += duration;
                stats.measured_frames += u64::from(n);
            }
        }
        Variant::from_stats(uri, &stats)
    }

    /// Bandwidths and frame rate from a variant's running totals (kept at insert time, so
    /// the master playlist reads one row per variant, not every segment). `BANDWIDTH` is the
    /// peak segment bit rate, as RFC 8216 section 4.3.4.2 defines it; `AVERAGE-BANDWIDTH`
    /// the bits over the seconds of every segment.
    pub fn from_stats(uri: String, stats: &VariantStats) -> Variant {
        let (bits, secs, frames) = (stats.measured_bytes as f64 * 8.0, stats.measured_secs, stats.measured_frames);
        let peak = stats.peak_bps;
        let average = if secs > 0.0 { bits / secs } else { 0.0 };
        let frame_rate = (secs > 0.0).then(|| (frames as f64 / secs * 1000.0).round() / 1000.0);
        Variant {
            uri,
            peak_bps: peak.ceil() as u64,
            average_bps: average.ceil() as u64,
            resolution: None,
            frame_rate,
            codecs: None,
        }
    }
}

/// The master playlist of `variants`, in the order given.
pub fn master_playlist(variants: &[Variant]) -> MasterPlaylist {
    MasterPlaylist {
        version: Some(HLS_VERSION),
        independent_segments: true,
        variants: variants
            .iter()
            .map(|v| VariantStream {
                uri: v.uri.clone(),
                bandwidth: v.peak_bps.max(1),
                average_bandwidth: Some(v.average_bps.max(1)),
                codecs: v.codecs.clone(),
                resolution: v.resolution.map(|(w, h)| Resolution { width: u64::from(w), height: u64::from(h) }),
                frame_rate: v.frame_rate,
                ..VariantStream::default()
            })
            .collect(),
        ..MasterPlaylist::default()
    }
}

/// A master playlist as text.
pub fn render_master(playlist: &MasterPlaylist) -> Vec<u8> {
    let mut out = Vec::new();
    playlist.write_to(&mut out).expect("writing to a Vec cannot fail");
    out
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
    target_for_longest(segments.iter().map(|s| s.duration_secs).fold(0.0, f64::max))
}

/// [`target_duration`] of segments whose longest lasts `longest` seconds.
pub fn target_for_longest(longest: f64) -> u64 {
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
pub(crate) mod tests {
    use super::*;
    use m3u8_rs::Playlist;

    /// A stored 2 s-cadence segment row `seq` lasting `duration_secs` (also the window's tests').
    pub(crate) fn seg(seq: u32, duration_secs: f64) -> SegmentRow {
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

    fn rendition(seq: u32) -> RenditionRow {
        RenditionRow::for_test("P240p30fps16x9", seq, 188)
    }

    fn gap_uris(p: &MediaPlaylist) -> Vec<&str> {
        p.segments.iter().filter(|s| s.unknown_tags.iter().any(|t| t.tag == "X-GAP")).map(|s| s.uri.as_str()).collect()
    }

    #[test]
    fn rendition_playlists_follow_the_source_and_mark_gaps() {
        let source: Vec<_> = (0..6).map(|i| seg(i, 2.0)).collect();
        let now = 1_700_000_000_000 + 10 * 2000;
        // 0 1 _ 3 _ _ : seq 2 pending (recent), so the playlist stops after 1.
        let r: Vec<_> = [0, 1, 3].into_iter().map(rendition).collect();
        let p = reparse(&rendition_playlist(&source, &r, &[], false, 6, now));
        assert_eq!(p.segments.iter().map(|s| s.uri.as_str()).collect::<Vec<_>>(), ["0.ts", "1.ts"]);
        assert_eq!(p.target_duration, 2);
        // The broadcaster gave up on 2: a gap, then 3, then 4 is pending.
        let p = reparse(&rendition_playlist(&source, &r, &[2], false, 6, now));
        assert_eq!(p.segments.len(), 4);
        assert_eq!(gap_uris(&p), ["2.ts"]);
        assert!(!p.segments[2].discontinuity, "a gap is not a discontinuity");
        // Long after, with a later rendition: overdue slots are gaps without a report.
        let later = now + gap_grace_ms(2.0) + 60_000;
        let p = reparse(&rendition_playlist(&source, &r, &[], false, 6, later));
        assert_eq!(gap_uris(&p), ["2.ts"]);
        assert_eq!(p.segments.len(), 4, "4 and 5 come after the last rendition: still pending");
        // Ended: everything missing is a gap, the list is complete.
        let p = reparse(&rendition_playlist(&source, &r, &[], true, 6, now));
        assert_eq!(gap_uris(&p), ["2.ts", "4.ts", "5.ts"]);
        assert!(p.end_list);
        // Same numbering and window as the source.
        let full: Vec<_> = (0..6).map(rendition).collect();
        let p = reparse(&rendition_playlist(&source, &full, &[], false, 3, now));
        let s = reparse(&media_playlist(&source, false, 3));
        assert_eq!((p.media_sequence, p.segments.len()), (s.media_sequence, 3));
        assert_eq!(p.segments[0].uri, s.segments[0].uri);
    }

    #[test]
    fn master_lists_variants_with_measured_bandwidth() {
        let mut source = Variant::measure("index.m3u8".into(), [(250_000, 2.0, 60), (500_000, 2.0, 60)]);
        source.resolution = Some((1280, 720));
        source.codecs = Some("avc1.42C01F".into());
        assert_eq!((source.peak_bps, source.average_bps, source.frame_rate), (2_000_000, 1_500_000, Some(30.0)));
        let low = Variant { uri: "P240p30fps16x9/index.m3u8".into(), ..source.clone() };
        let text = render_master(&master_playlist(&[source, low]));
        let m = match m3u8_rs::parse_playlist_res(&text) {
            Ok(Playlist::MasterPlaylist(m)) => m,
            other => panic!("not a master playlist: {other:?}"),
        };
        assert_eq!(m.variants.len(), 2);
        assert_eq!(m.variants[0].bandwidth, 2_000_000);
        assert_eq!(m.variants[0].average_bandwidth, Some(1_500_000));
        assert_eq!(m.variants[0].codecs.as_deref(), Some("avc1.42C01F"));
        assert_eq!(m.variants[0].resolution, Some(Resolution { width: 1280, height: 720 }));
        assert_eq!(m.variants[1].uri, "P240p30fps16x9/index.m3u8");
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
