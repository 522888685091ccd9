//! Buffered-range arithmetic (`SourceBuffer.buffered` as `(start, end)` pairs) and the
//! eviction plans that keep memory bounded on long live sessions.

/// Gaps smaller than this between buffered ranges are treated as contiguous, s.
pub const HOLE_TOLERANCE_S: f64 = 0.25;

/// Seconds buffered ahead of `position` (0 when the position is not buffered).
pub fn ahead(ranges: &[(f64, f64)], position: f64) -> f64 {
    let mut end: Option<f64> = None;
    for &(s, e) in ranges {
        match end {
            None if s <= position + HOLE_TOLERANCE_S && e > position => end = Some(e),
            Some(cur) if s <= cur + HOLE_TOLERANCE_S => end = Some(cur.max(e)),
            _ => {}
        }
    }
    end.map_or(0.0, |e| (e - position).max(0.0))
}

/// How far after its expected place an appended segment may land and still count as
/// placed there (a stream whose first timestamps are not 0), s.
pub const PLACEMENT_SLACK_S: f64 = 2.0;

/// Where a segment of `duration` s expected from `from` landed: the first range reaching
/// past `from` that starts at most `slack` s after it, clipped to the segment's length (a
/// segment appended right before older media merges with it). `None` when nothing landed
/// there: the SourceBuffer dropped the data.
pub fn appended(ranges: &[(f64, f64)], from: f64, slack: f64, duration: f64) -> Option<(f64, f64)> {
    let Some(&(s, e)) = ranges.iter().find(|&&(s, e)| e > from + 0.05 && s <= from + slack) else {
        return (duration <= 0.2).then_some((from, from));
    };
    let start = from.max(s);
    let end = if duration > 0.0 { e.min(start + duration + HOLE_TOLERANCE_S) } else { e };
    (end - start >= 0.05 || duration <= 0.2).then_some((start, end))
}

/// The end of the buffered media, s (0 when empty).
pub fn end(ranges: &[(f64, f64)]) -> f64 {
    ranges.iter().map(|r| r.1).fold(0.0, f64::max)
}

/// Seconds from the first buffered start to the last buffered end.
pub fn span(ranges: &[(f64, f64)]) -> f64 {
    match (ranges.first(), ranges.last()) {
        (Some(f), Some(l)) => (l.1 - f.0).max(0.0),
        _ => 0.0,
    }
}

/// What to remove to keep at most `back_buffer_s` behind `position`: `[start, end)`, or
/// `None` when less than a second would go (removals have a cost; batch them).
pub fn eviction(ranges: &[(f64, f64)], position: f64, back_buffer_s: f64) -> Option<(f64, f64)> {
    let start = ranges.first()?.0;
    let cut = position - back_buffer_s;
    (cut - start >= 1.0).then_some((start, cut))
}

/// After `QuotaExceededError`: everything up to a second behind the playhead, or `None`
/// when there is not even that much (the append is then given up, not retried in a loop).
pub fn quota_eviction(ranges: &[(f64, f64)], position: f64) -> Option<(f64, f64)> {
    let start = ranges.first()?.0;
    let cut = position - 1.0;
    (cut - start >= 0.1).then_some((start, cut))
}

/// Where to seek when the playhead sits in a hole (or before the first range) shorter than
/// `max_hole_s`: the next range's start. `None` when the position is buffered or the next
/// media is too far. A playhead within `end_margin_s` of its range's end counts as in the
/// hole (a stuck video stops a frame or two before the end of its media).
pub fn hole_skip(ranges: &[(f64, f64)], position: f64, max_hole_s: f64, end_margin_s: f64) -> Option<f64> {
    if ranges.iter().any(|&(s, e)| position >= s && position < e - end_margin_s) {
        return None;
    }
    let next = ranges.iter().map(|r| r.0).filter(|&s| s > position).fold(f64::INFINITY, f64::min);
    (next.is_finite() && next - position <= max_hole_s).then_some(next + 0.01)
}

/// Whether a SourceBuffer playing `old` needs `changeType` to take `new` (MIME types such as
/// `video/mp4; codecs="avc1.42E01E,mp4a.40.2"`). Not when only an H.264 level differs (the
/// new init segment carries the new SPS): WebKit's GStreamer pipeline fails on the first
/// segment after such a `changeType` ("buffered nothing"), and a transcoder's renditions
/// change level from segment to segment (3.0 then 2.2 for the same 640x360).
pub fn needs_change_type(old: &str, new: &str) -> bool {
    /// The MIME type with each `avc1.PPCCLL` cut to `avc1.PPCC`.
    fn without_levels(mime: &str) -> String {
        let mut out = String::with_capacity(mime.len());
        let mut rest = mime;
        while let Some(at) = rest.find("avc1.") {
            let code = &rest[at + 5..];
            let hex = code.bytes().take_while(u8::is_ascii_hexdigit).count();
            out.push_str(&rest[..at + 5]);
            if hex == 6 {
                out.push_str(&code[..4]);
            } else {
                out.push_str(&code[..hex]);
            }
            rest = &code[hex..];
        }
        out.push_str(rest);
        out
    }
    without_levels(old) != without_levels(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahead_bridges_small_holes_only() {
        let r = [(0.0, 4.0), (4.1, 8.0), (10.0, 12.0)];
        assert_eq!(ahead(&r, 1.0), 7.0);
        assert_eq!(ahead(&r, 9.0), 0.0);
        assert_eq!(ahead(&[], 1.0), 0.0);
        assert_eq!(end(&r), 12.0);
        assert_eq!(span(&r), 12.0);
    }

    #[test]
    fn appended_media_is_found_where_it_landed() {
        // In order: the new 2 s merge with the range ending where they start.
        assert_eq!(appended(&[(0.0, 6.0)], 4.0, 2.0, 2.0), Some((4.0, 6.0)));
        // The first segment of a stream starting at 1.4 s.
        assert_eq!(appended(&[(1.4, 3.4)], 0.0, f64::INFINITY, 2.0), Some((1.4, 3.4)));
        // Placed before older media it merges with: clipped to its own length.
        assert_eq!(appended(&[(4.0, 60.0)], 4.0, 2.0, 2.0), Some((4.0, 6.25)));
        // Nothing landed at 4 s (only older media later on): dropped.
        assert_eq!(appended(&[(0.0, 4.0), (20.0, 60.0)], 4.0, 2.0, 2.0), None);
        assert_eq!(appended(&[], 0.0, f64::INFINITY, 2.0), None);
        // A tiny segment may add nothing visible.
        assert_eq!(appended(&[(0.0, 4.0)], 4.0, 2.0, 0.1), Some((4.0, 4.0)));
    }

    #[test]
    fn eviction_keeps_the_back_buffer_and_batches() {
        let r = [(0.0, 100.0)];
        assert_eq!(eviction(&r, 50.0, 30.0), Some((0.0, 20.0)));
        assert_eq!(eviction(&r, 30.5, 30.0), None);
        assert_eq!(eviction(&[], 50.0, 30.0), None);
        assert_eq!(quota_eviction(&r, 50.0), Some((0.0, 49.0)));
        assert_eq!(quota_eviction(&[(49.5, 60.0)], 50.0), None);
    }

    #[test]
    fn holes_are_skipped_when_small() {
        let r = [(0.0, 4.0), (4.5, 8.0)];
        assert_eq!(hole_skip(&r, 2.0, 2.0, 0.05), None);
        assert_eq!(hole_skip(&r, 4.0, 2.0, 0.05), Some(4.51));
        assert_eq!(hole_skip(&[(3.0, 5.0)], 0.0, 2.0, 0.05), None);
        assert_eq!(hole_skip(&[(1.4, 5.0)], 0.0, 2.0, 0.05), Some(1.41));
        // Stuck two frames before the end of the media.
        assert_eq!(hole_skip(&r, 3.93, 2.0, 0.05), None);
        assert_eq!(hole_skip(&r, 3.93, 2.0, HOLE_TOLERANCE_S), Some(4.51));
    }

    #[test]
    fn change_type_only_for_a_new_codec_not_a_new_level() {
        let a = r#"video/mp4; codecs="avc1.42E01E,mp4a.40.2""#;
        assert!(!super::needs_change_type(a, r#"video/mp4; codecs="avc1.42E016,mp4a.40.2""#));
        assert!(!super::needs_change_type(a, a));
        assert!(super::needs_change_type(a, r#"video/mp4; codecs="avc1.4D401E,mp4a.40.2""#));
        assert!(super::needs_change_type(a, r#"video/mp4; codecs="avc1.42E01E""#));
        assert!(super::needs_change_type(r#"video/mp4; codecs="avc1.42E01E""#, r#"video/mp4; codecs="hvc1.1.6.L93.B0""#));
    }
}
