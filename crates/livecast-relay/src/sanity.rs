//! Media sanity of an uploaded segment, beyond "it demuxes": timing a real encoder could
//! have produced, and H.264 that looks like H.264. A segment that fails is refused with
//! `422 implausible_segment` and a message saying what is wrong; nothing is stored.
//!
//! - Duration: at most `--max-segment-secs`, and at most `--max-duration-factor` × the
//!   stream's usual segment (the median of its last [`HISTORY`] stored segments), so one
//!   segment with wild timestamps cannot make the stream's `TARGETDURATION` huge for good.
//! - Timestamps inside the segment: decode times strictly increase (none runs backwards),
//!   no gap between consecutive frames (in presentation order) is over [`MAX_FRAME_GAP_SECS`],
//!   and no frame is shown more than [`MAX_REORDER_SECS`] after it is decoded.
//! - A segment of one frame (or whose frames share one PTS) has no measurable duration: it
//!   gets the stream's usual frame interval instead of `EXTINF:0`, or 1/30 s without one.
//! - H.264: every NAL unit has its forbidden bit clear and a type H.264 defines for a
//!   stream like ours (1–13, 19), every frame carries a coded slice, and every SPS parses.

use livecast_core::annexb::nal_units;
use livecast_core::ts::{AccessUnit, SegmentInfo, CLOCK_HZ};

/// Stored segments looked at for the stream's usual duration.
pub const HISTORY: usize = 16;
/// Largest gap between two consecutive frames, seconds.
pub const MAX_FRAME_GAP_SECS: f64 = 5.0;
/// Largest presentation delay after decoding (B-frame reordering), seconds.
pub const MAX_REORDER_SECS: f64 = 1.0;
/// The frame interval assumed when a stream has none yet: 30 fps.
const DEFAULT_FRAME_SECS: f64 = 1.0 / 30.0;
/// 33-bit PTS wrap.
const WRAP: u64 = 1 << 33;

/// What the relay knows of a stream's recent segments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// `(duration_secs, video_frames)` of its latest stored segments, any order.
    pub recent: Vec<(f64, u32)>,
}

impl History {
    /// The median duration of the recent segments.
    pub fn usual_duration(&self) -> Option<f64> {
        let mut d: Vec<f64> = self.recent.iter().map(|r| r.0).filter(|d| *d > 0.0).collect();
        if d.is_empty() {
            return None;
        }
        d.sort_by(f64::total_cmp);
        Some(d[d.len() / 2])
    }

    /// The usual interval between frames.
    pub fn frame_interval(&self) -> Option<f64> {
        let (secs, frames) = self.recent.iter().filter(|r| r.1 > 1).fold((0.0, 0u64), |(s, f), r| (s + r.0, f + u64::from(r.1)));
        (frames > 0 && secs > 0.0).then(|| secs / frames as f64)
    }
}

/// The caps from the flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Caps {
    /// `--max-segment-secs`.
    pub max_secs: f64,
    /// `--max-duration-factor`.
    pub factor: f64,
}

/// Checks `units` (the demuxed segment) and `info` (its probe) against `history`; may fix
/// up `info.duration_secs` for a one-frame segment. `Err` is the reason for the `422`.
pub fn check(units: &[AccessUnit], info: &mut SegmentInfo, history: &History, caps: Caps) -> Result<(), String> {
    check_h264(units)?;
    check_timestamps(units)?;
    if info.duration_secs <= 0.0 || info.video_frames < 2 || info.first_pts == info.last_pts {
        if info.video_frames > 1 {
            return Err(format!("its {} frames all have the same PTS: no duration", info.video_frames));
        }
        info.duration_secs = history.frame_interval().unwrap_or(DEFAULT_FRAME_SECS);
    }
    let d = info.duration_secs;
    if d > caps.max_secs {
        return Err(format!("it lasts {d:.3} s by its timestamps, more than the {} s cap", caps.max_secs));
    }
    if let Some(usual) = history.usual_duration() {
        let cap = usual * caps.factor;
        if d > cap {
            return Err(format!(
                "it lasts {d:.3} s by its timestamps, more than {} × the stream's usual {usual:.3} s segment",
                caps.factor
            ));
        }
    }
    Ok(())
}

fn check_h264(units: &[AccessUnit]) -> Result<(), String> {
    for (i, unit) in units.iter().enumerate() {
        let mut has_slice = false;
        for nal in nal_units(&unit.data) {
            let header = nal[0];
            if header & 0x80 != 0 {
                return Err(format!("frame {i}: a NAL unit has its forbidden_zero_bit set: not H.264"));
            }
            let kind = header & 0x1f;
            match kind {
                1 | 5 => has_slice = true,
                7 => {
                    livecast_core::sps::parse_sps(nal).map_err(|e| format!("frame {i}: unreadable SPS: {e}"))?;
                }
                2..=4 | 6 | 8..=13 | 19 => {}
                _ => return Err(format!("frame {i}: NAL unit type {kind} is not part of an H.264 stream like this")),
            }
        }
        if !has_slice {
            return Err(format!("frame {i} has no coded slice"));
        }
    }
    Ok(())
}

fn check_timestamps(units: &[AccessUnit]) -> Result<(), String> {
    let Some(first) = units.first() else { return Ok(()) };
    let base = first.dts;
    let rel = |t: u64| (t + WRAP - base % WRAP) % WRAP;
    let secs = |ticks: u64| ticks as f64 / CLOCK_HZ as f64;
    let half = WRAP / 2;
    for (i, pair) in units.windows(2).enumerate() {
        let (a, b) = (rel(pair[0].dts), rel(pair[1].dts));
        if b <= a || b - a >= half {
            return Err(format!("the decode timestamps run backwards or repeat at frame {}", i + 1));
        }
    }
    for (i, u) in units.iter().enumerate() {
        let delay = (u.pts + WRAP - u.dts % WRAP) % WRAP;
        if delay >= half {
            return Err(format!("frame {i} is shown before it is decoded (PTS < DTS)"));
        }
        if secs(delay) > MAX_REORDER_SECS {
            return Err(format!("frame {i} is shown {:.3} s after it is decoded", secs(delay)));
        }
    }
    let mut shown: Vec<u64> = units.iter().map(|u| rel(u.pts)).collect();
    shown.sort_unstable();
    for (i, pair) in shown.windows(2).enumerate() {
        let gap = secs(pair[1] - pair[0]);
        if gap > MAX_FRAME_GAP_SECS {
            return Err(format!("the timestamps jump {gap:.3} s between frames {i} and {} (in presentation order)", i + 1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(pts: u64, dts: u64, data: &[u8]) -> AccessUnit {
        AccessUnit { pts, dts, data: data.to_vec(), keyframe: false }
    }

    /// An access unit with one non-IDR slice NAL.
    const SLICE: &[u8] = &[0, 0, 0, 1, 0x41, 0x9a, 0x00];
    const CAPS: Caps = Caps { max_secs: 30.0, factor: 4.0 };

    fn info(units: &[AccessUnit]) -> SegmentInfo {
        let first = units.iter().map(|u| u.pts).min().unwrap();
        let last = units.iter().map(|u| u.pts).max().unwrap();
        let n = units.len() as f64;
        let span = (last - first) as f64 / 90_000.0;
        SegmentInfo {
            first_pts: first,
            last_pts: last,
            duration_secs: if n > 1.0 { span + span / (n - 1.0) } else { 0.0 },
            video_frames: units.len() as u32,
            starts_with_keyframe: false,
            audio: None,
        }
    }

    fn frames(n: u64, step: u64) -> Vec<AccessUnit> {
        (0..n).map(|i| au(i * step, i * step, SLICE)).collect()
    }

    #[test]
    fn normal_segments_pass() {
        let units = frames(60, 3000);
        let mut i = info(&units);
        check(&units, &mut i, &History::default(), CAPS).unwrap();
        let history = History { recent: vec![(2.0, 60); 5] };
        check(&units, &mut i, &history, CAPS).unwrap();
    }

    #[test]
    fn wild_pts_are_refused() {
        // One frame 127,000 s later: a jump, and far over every cap.
        let mut units = frames(30, 3000);
        units.push(au(127_000 * 90_000, 30 * 3000, SLICE));
        let e = check(&units, &mut info(&units), &History::default(), CAPS).unwrap_err();
        assert!(e.contains("jump") || e.contains("shown"), "{e}");
        // Decode times running backwards.
        let mut units = frames(10, 3000);
        units[5].dts = 0;
        units[5].pts = 0;
        let e = check(&units, &mut info(&units), &History::default(), CAPS).unwrap_err();
        assert!(e.contains("backwards"), "{e}");
    }

    #[test]
    fn duration_caps() {
        // 10 s of steady 30 fps: fine alone, refused against a 2 s history (4 × 2 = 8 s).
        let units = frames(300, 3000);
        check(&units, &mut info(&units), &History::default(), CAPS).unwrap();
        let history = History { recent: vec![(2.0, 60); 16] };
        let e = check(&units, &mut info(&units), &history, CAPS).unwrap_err();
        assert!(e.contains("4 × the stream's usual 2.000 s"), "{e}");
        let e = check(&units, &mut info(&units), &History::default(), Caps { max_secs: 5.0, factor: 4.0 }).unwrap_err();
        assert!(e.contains("5 s cap"), "{e}");
    }

    #[test]
    fn one_frame_gets_a_duration() {
        let units = frames(1, 3000);
        let mut i = info(&units);
        check(&units, &mut i, &History { recent: vec![(2.0, 50)] }, CAPS).unwrap();
        assert!((i.duration_secs - 0.04).abs() < 1e-9, "{}", i.duration_secs);
        let mut i = info(&units);
        check(&units, &mut i, &History::default(), CAPS).unwrap();
        assert!(i.duration_secs > 0.03);
        let same: Vec<_> = (0..5).map(|_| au(0, 0, SLICE)).collect();
        assert!(check(&same, &mut info(&same), &History::default(), CAPS).is_err());
    }

    #[test]
    fn bogus_h264_is_refused() {
        let bad = [
            (&[0, 0, 1, 0xff, 1, 2][..], "forbidden"),
            (&[0, 0, 1, 0x1e, 1, 2][..], "type 30"),
            (&[0, 0, 1, 0x06, 1, 2][..], "no coded slice"),
            (&[0, 0, 1, 0x67, 0xff, 0xff][..], "SPS"),
        ];
        for (data, why) in bad {
            let units = vec![au(0, 0, data), au(3000, 3000, SLICE)];
            let e = check(&units, &mut info(&units), &History::default(), CAPS).unwrap_err();
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
