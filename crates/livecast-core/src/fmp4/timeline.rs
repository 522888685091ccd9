//! Placing each segment's 33-bit MPEG-TS timestamps on one continuous output timeline.

/// PTS and DTS are 33-bit counters.
const WRAP: i64 = 1 << 33;
/// Without a discontinuity tag, a segment whose first decode time lands more than this
/// (5 minutes at 90 kHz) away from the previous fragment's end, or before the timeline's
/// start, is taken as an untagged discontinuity: its timestamps cannot be trusted.
const MAX_JUMP: i64 = 5 * 60 * 90_000;
/// Last-sample duration before any delta is known: one frame at 30 fps.
const DEFAULT_DURATION: u32 = 3_000;

/// One sample's timing on the output timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timing {
    /// Decode time, 90 kHz.
    pub dts: u64,
    /// Decode duration, 90 kHz.
    pub duration: u32,
    /// Presentation time minus decode time.
    pub cts: i32,
}

/// The mapping from TS timestamps to output decode times, and where the last fragment ended.
#[derive(Debug, Default)]
pub(super) struct Timeline {
    /// Unwrapped (64-bit) DTS of the last sample placed: the reference for unwrapping the next.
    last_raw: Option<i64>,
    /// Added to unwrapped TS timestamps to get output times.
    offset: i64,
    /// Output decode time where the previous fragment ended.
    end: Option<i64>,
    /// Duration of the last sample placed.
    last_duration: Option<u32>,
    /// Output decode time of the first segment's first sample.
    origin: i64,
}

/// The value `raw + k · 2^33` nearest to `reference`.
fn unwrap_near(raw: u64, reference: i64) -> i64 {
    let raw = (raw % WRAP as u64) as i64;
    let k = (reference - raw + WRAP / 2).div_euclid(WRAP);
    raw + k * WRAP
}

impl Timeline {
    /// A timeline whose first segment starts at `origin` (90 kHz).
    pub fn starting_at(origin: u64) -> Self {
        Self { origin: origin.min(i64::MAX as u64 / 2) as i64, ..Self::default() }
    }

    /// Places one segment's `(pts, dts)` pairs (stream order, non-empty) and returns each
    /// sample's timing. Decode times come out strictly increasing even if the input's are not.
    pub fn place(&mut self, stamps: &[(u64, u64)], discontinuity: bool) -> Vec<Timing> {
        let Some(&(_, first_dts)) = stamps.first() else { return Vec::new() };
        // Unwrap against the previous segment (so a wrap between segments is seen), then
        // each timestamp against the one before it.
        let reference = match self.last_raw {
            Some(last) if !discontinuity => last,
            _ => (first_dts % WRAP as u64) as i64,
        };
        let mut previous = reference;
        let raw: Vec<(i64, i64)> = stamps
            .iter()
            .map(|&(pts, dts)| {
                let dts = unwrap_near(dts, previous);
                previous = dts;
                (unwrap_near(pts, dts), dts)
            })
            .collect();
        let first = raw[0].1;
        match self.end {
            None => self.offset = self.origin - first,
            Some(end) => {
                let placed = first + self.offset;
                if discontinuity || placed < 0 || (placed - end).abs() > MAX_JUMP {
                    self.offset = end - first;
                }
            }
        }

        let mut dts: Vec<i64> = Vec::with_capacity(raw.len());
        for &(_, d) in &raw {
            let d = d + self.offset;
            dts.push(match dts.last() {
                Some(&prev) if d <= prev => prev + 1,
                _ => d.max(0),
            });
        }
        let mut timings = Vec::with_capacity(raw.len());
        for (i, &(pts, _)) in raw.iter().enumerate() {
            let duration = match dts.get(i + 1) {
                Some(next) => clamp_u32(next - dts[i]),
                None if i > 0 => clamp_u32(dts[i] - dts[i - 1]),
                None => self.last_duration.unwrap_or(DEFAULT_DURATION),
            };
            let cts = (pts + self.offset - dts[i]).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            timings.push(Timing { dts: dts[i] as u64, duration, cts });
        }
        let last = timings[timings.len() - 1];
        self.last_duration = Some(last.duration);
        self.end = Some(last.dts as i64 + i64::from(last.duration));
        self.last_raw = Some(raw[raw.len() - 1].1);
        timings
    }
}

impl Timeline {
    /// Where a 90 kHz timestamp of the segment just placed lands on the output timeline
    /// (for the segment's other streams, e.g. audio): the same offset as its video.
    pub fn map(&self, raw: u64) -> Option<i64> {
        let reference = self.last_raw?;
        Some(unwrap_near(raw, reference) + self.offset)
    }
}

fn clamp_u32(v: i64) -> u32 {
    v.clamp(1, i64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(start: u64, n: u64, step: u64) -> Vec<(u64, u64)> {
        (0..n).map(|i| ((start + i * step) % (1 << 33), (start + i * step) % (1 << 33))).collect()
    }

    #[test]
    fn unwraps_to_the_nearest_turn() {
        assert_eq!(unwrap_near(10, WRAP - 5), WRAP + 10);
        assert_eq!(unwrap_near((WRAP - 5) as u64, 10), -5);
        assert_eq!(unwrap_near(500, 400), 500);
    }

    #[test]
    fn first_segment_starts_at_zero_and_the_next_follows() {
        let mut t = Timeline::default();
        let a = t.place(&frames(900_000, 60, 3000), false);
        assert_eq!((a[0].dts, a[59].dts, a[59].duration), (0, 177_000, 3000));
        let b = t.place(&frames(900_000 + 180_000, 60, 3000), false);
        assert_eq!(b[0].dts, 180_000);
    }

    #[test]
    fn a_start_time_leaves_room_to_go_back() {
        let mut t = Timeline::starting_at(900_000);
        assert_eq!(t.place(&frames(5_000_000, 30, 3000), false)[0].dts, 900_000);
        // Going back 6 s (a seek within a live window) lands 6 s earlier, not after the end.
        assert_eq!(t.place(&frames(5_000_000 - 540_000, 30, 3000), false)[0].dts, 360_000);
        // Going back before the start cannot be placed: it continues from the end instead.
        assert_eq!(t.place(&frames(5_000_000 - 1_800_000, 30, 3000), false)[0].dts, 450_000);
    }

    #[test]
    fn a_wrap_between_and_inside_segments_stays_continuous() {
        let mut t = Timeline::default();
        let start = (1u64 << 33) - 100_000;
        let a = t.place(&frames(start, 60, 3000), false); // wraps inside
        assert!(a.windows(2).all(|w| w[1].dts == w[0].dts + 3000));
        let b = t.place(&frames(start + 180_000, 60, 3000), false);
        assert_eq!(b[0].dts, 180_000);
    }

    #[test]
    fn discontinuity_continues_from_the_previous_end() {
        let mut t = Timeline::default();
        t.place(&frames(1_000_000, 30, 3000), false);
        let b = t.place(&frames(7, 30, 3000), true);
        assert_eq!(b[0].dts, 90_000);
        // An untagged jump of an hour is treated the same way.
        let c = t.place(&frames(7 + 3600 * 90_000, 30, 3000), false);
        assert_eq!(c[0].dts, 180_000);
        // A level switch that re-fetches the previous segment's time overlaps it.
        let d = t.place(&frames(3600 * 90_000 + 7, 30, 3000), false);
        assert_eq!(d[0].dts, 180_000);
    }

    #[test]
    fn b_frames_get_composition_offsets_and_bad_dts_is_made_monotonic() {
        let mut t = Timeline::default();
        // I P B B: pts 2 4 3 ... dts 0 1 2 3 (in frames of 3000)
        let stamps = [(6000, 0), (12000, 3000), (9000, 6000), (15000, 9000)];
        let out = t.place(&stamps, false);
        assert_eq!(out.iter().map(|s| s.cts).collect::<Vec<_>>(), vec![6000, 9000, 3000, 6000]);
        let bad = t.place(&[(20_000, 20_000), (19_000, 19_000), (25_000, 25_000)], false);
        assert!(bad.windows(2).all(|w| w[1].dts > w[0].dts));
        assert!(bad.iter().all(|s| s.duration >= 1));
    }
}
