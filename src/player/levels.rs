//! Which level the next segment comes from, sans-I/O: the page's forced level, one step down
//! after a stall, or ABR's choice; never a level whose copy of the segment is an EXT-X-GAP
//! or whose playlist just failed to load. Also when a level's playlist must be reloaded
//! before its segments can be mapped.
//!
//! The loader performs the answer: it reloads a stale playlist, asks again with what it
//! learnt (a level that failed to load is excluded), and maps the segment onto the level.

use super::abr::{self, AbrInput};
use super::playlist::MediaPlaylist;

/// What a level looks like to the chooser.
#[derive(Debug, Clone, Copy)]
pub struct LevelView<'a> {
    /// Its BANDWIDTH, bit/s.
    pub bandwidth: u64,
    /// Its media playlist, once loaded.
    pub playlist: Option<&'a MediaPlaylist>,
    /// When that playlist was loaded, ms (the loader's clock).
    pub loaded_at_ms: f64,
}

/// How the level is chosen this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The page set `currentLevel`: that one, or the nearest usable one below it (then the
    /// lowest usable) while it has a gap here.
    Forced(usize),
    /// The monitor saw a stall with auto levels: one usable level down from the current.
    Emergency,
    /// ABR's choice from the throughput estimate and the buffer.
    Auto,
}

/// Everything the choice depends on.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    /// Every level, lowest bandwidth first.
    pub levels: &'a [LevelView<'a>],
    /// The level loaded from so far (whose playlist numbers `sequence`).
    pub current: usize,
    /// The next segment's sequence number on the current level.
    pub sequence: u64,
    /// Forced, emergency or auto.
    pub mode: Mode,
    /// Throughput estimate, bit/s.
    pub estimate_bps: f64,
    /// Media buffered ahead of the playhead, s.
    pub buffer_ahead_s: f64,
    /// Levels already found unusable for this segment (their playlist failed to load, or
    /// they turned out to have a gap once reloaded).
    pub excluded: &'a [usize],
}

/// The level to load segment `sequence` from, or `None` when every level is unusable (a gap
/// everywhere: the loader skips the slot).
pub fn pick(c: &Choice) -> Option<usize> {
    let count = c.levels.len();
    let unusable = |l: usize| c.excluded.contains(&l) || is_gap(c.levels, c.current, c.sequence, l);
    match c.mode {
        Mode::Forced(forced) if !unusable(forced) => Some(forced),
        Mode::Forced(forced) => abr::emergency_down(count, forced, &unusable).filter(|&l| !unusable(l)).or_else(|| (0..count).find(|&l| !unusable(l))),
        Mode::Emergency => abr::emergency_down(count, c.current, &unusable).filter(|&l| !unusable(l)),
        Mode::Auto => {
            let bitrates: Vec<u64> = c.levels.iter().map(|l| l.bandwidth).collect();
            let reference = c.levels.get(c.current).and_then(|l| l.playlist).and_then(|p| p.segment(c.sequence));
            let duration = reference.map_or(abr::UNKNOWN_SEGMENT_DURATION_S, |r| r.duration);
            let input = AbrInput { estimate_bps: c.estimate_bps, buffer_ahead_s: c.buffer_ahead_s, segment_duration_s: duration };
            abr::choose(&bitrates, c.current, input, &unusable)
        }
    }
}

/// Whether `level`'s copy of segment `sequence` of the `current` level (matched by date or
/// number) is an EXT-X-GAP. A level whose playlist is not loaded, or that does not list
/// the segment, is not known to have a gap.
pub fn is_gap(levels: &[LevelView], current: usize, sequence: u64, level: usize) -> bool {
    let reference = levels.get(current).and_then(|l| l.playlist).and_then(|p| p.segment(sequence));
    match (reference, levels.get(level).and_then(|l| l.playlist)) {
        (Some(r), Some(p)) => p.matching(r).and_then(|s| p.segment(s)).is_some_and(|s| s.gap),
        _ => false,
    }
}

/// Whether `level`'s playlist must be (re)loaded before a segment is mapped onto it: it was
/// never loaded, or it is another level's live playlist older than half a target duration
/// (the current level's is kept fresh by the reload cadence).
pub fn needs_reload(level: &LevelView, is_current: bool, now_ms: f64) -> bool {
    match level.playlist {
        None => true,
        Some(p) => !is_current && !p.ended && now_ms - level.loaded_at_ms > p.target_duration * 500.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::playlist::test_playlist;

    /// Three aligned live levels (300k, 1M, 3M) of segments 10..16; `gaps` marks (level, sequence).
    fn ladder(gaps: &[(usize, u64)]) -> Vec<MediaPlaylist> {
        (0..3)
            .map(|l| {
                let mut p = test_playlist(6, false, None);
                for s in &mut p.segments {
                    s.gap = gaps.contains(&(l, s.sequence));
                }
                p
            })
            .collect()
    }

    fn views(playlists: &[MediaPlaylist]) -> Vec<LevelView<'_>> {
        [300_000, 1_000_000, 3_000_000].iter().zip(playlists).map(|(&bandwidth, p)| LevelView { bandwidth, playlist: Some(p), loaded_at_ms: 0.0 }).collect()
    }

    fn choice<'a>(levels: &'a [LevelView<'a>], current: usize, mode: Mode, estimate_bps: f64, excluded: &'a [usize]) -> Choice<'a> {
        Choice { levels, current, sequence: 12, mode, estimate_bps, buffer_ahead_s: 10.0, excluded }
    }

    #[test]
    fn forced_level_wins_unless_it_has_a_gap_then_the_nearest_below_then_the_lowest() {
        let clean = ladder(&[]);
        let v = views(&clean);
        assert_eq!(pick(&choice(&v, 0, Mode::Forced(2), 100_000.0, &[])), Some(2), "forced beats a poor estimate");
        let gapped = ladder(&[(2, 12)]);
        let v = views(&gapped);
        assert_eq!(pick(&choice(&v, 2, Mode::Forced(2), 1e9, &[])), Some(1), "a gap on the forced level: the one below");
        let gapped = ladder(&[(0, 12), (1, 12)]);
        let v = views(&gapped);
        assert_eq!(pick(&choice(&v, 1, Mode::Forced(1), 1e9, &[])), Some(2), "nothing usable below: the lowest usable");
        assert_eq!(pick(&choice(&v, 1, Mode::Forced(1), 1e9, &[2])), None, "nothing usable at all");
    }

    #[test]
    fn emergency_steps_one_usable_level_down_and_never_up() {
        let gapped = ladder(&[(1, 12)]);
        let v = views(&gapped);
        assert_eq!(pick(&choice(&v, 2, Mode::Emergency, 1e9, &[])), Some(0), "skips the gap below");
        let clean = ladder(&[]);
        let v = views(&clean);
        assert_eq!(pick(&choice(&v, 2, Mode::Emergency, 1e9, &[])), Some(1));
        assert_eq!(pick(&choice(&v, 0, Mode::Emergency, 1e9, &[])), Some(0), "the lowest stays");
    }

    #[test]
    fn auto_follows_the_estimate_around_gaps_and_excluded_levels() {
        let clean = ladder(&[]);
        let v = views(&clean);
        assert_eq!(pick(&choice(&v, 0, Mode::Auto, 10e6, &[])), Some(2));
        assert_eq!(pick(&choice(&v, 2, Mode::Auto, 400_000.0, &[])), Some(0));
        assert_eq!(pick(&choice(&v, 0, Mode::Auto, 10e6, &[2])), Some(1), "a level whose playlist failed is passed over");
        let gapped = ladder(&[(2, 12)]);
        let v = views(&gapped);
        assert_eq!(pick(&choice(&v, 0, Mode::Auto, 10e6, &[])), Some(1), "the gap on the best level is passed over");
        let everywhere = ladder(&[(0, 12), (1, 12), (2, 12)]);
        let v = views(&everywhere);
        assert_eq!(pick(&choice(&v, 1, Mode::Auto, 10e6, &[])), None, "a gap everywhere: skip the slot");
    }

    /// The loader relies on it: an answer is never a level known to have a gap there.
    #[test]
    fn no_mode_answers_a_level_with_a_gap() {
        let gap_sets: [&[(usize, u64)]; 4] = [&[], &[(0, 12)], &[(1, 12), (2, 12)], &[(0, 12), (2, 12)]];
        for gaps in gap_sets {
            let playlists = ladder(gaps);
            let v = views(&playlists);
            for current in 0..3 {
                for mode in [Mode::Auto, Mode::Emergency, Mode::Forced(0), Mode::Forced(1), Mode::Forced(2)] {
                    for estimate in [100_000.0, 1.5e6, 1e9] {
                        if let Some(l) = pick(&choice(&v, current, mode, estimate, &[])) {
                            assert!(!is_gap(&v, current, 12, l), "{mode:?} from {current} at {estimate} bit/s chose gap level {l} ({gaps:?})");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn gaps_are_found_by_number_and_unknown_levels_have_none() {
        let gapped = ladder(&[(1, 13)]);
        let mut v = views(&gapped);
        assert!(is_gap(&v, 0, 13, 1));
        assert!(!is_gap(&v, 0, 12, 1));
        assert!(!is_gap(&v, 0, 99, 1), "a segment no longer listed");
        v[1].playlist = None;
        assert!(!is_gap(&v, 0, 13, 1), "a level not loaded yet is not known to have a gap");
    }

    #[test]
    fn a_playlist_is_reloaded_when_missing_or_another_levels_live_one_is_stale() {
        let live = test_playlist(3, false, None);
        let vod = test_playlist(3, true, None);
        let at = |playlist, loaded_at_ms| LevelView { bandwidth: 1, playlist, loaded_at_ms };
        assert!(needs_reload(&at(None, 0.0), true, 0.0));
        // Target duration 2 s: stale after 1 s.
        assert!(!needs_reload(&at(Some(&live), 1000.0), false, 1900.0));
        assert!(needs_reload(&at(Some(&live), 1000.0), false, 2100.0));
        assert!(!needs_reload(&at(Some(&live), 1000.0), true, 60_000.0), "the current level has its own cadence");
        assert!(!needs_reload(&at(Some(&vod), 0.0), false, 60_000.0), "an ended playlist never goes stale");
    }
}
