//! Adaptive bit rate: which level to load the next segment from.
//!
//! Throughput is estimated from segment downloads with two time-weighted EWMAs (a fast
//! and a slow half-life, as hls.js does) and the lower of the two is trusted. A level is
//! chosen when its bit rate fits the estimate times a safety factor that shrinks when the
//! buffer is short; switching up also needs a segment's worth of buffer. A stall switches
//! down at once. Levels whose next segment is an EXT-X-GAP are never chosen.

/// Throughput estimator.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimator {
    fast: Ewma,
    slow: Ewma,
    default_bps: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct Ewma {
    half_life_s: f64,
    estimate: f64,
    total_weight: f64,
}

impl Ewma {
    fn new(half_life_s: f64) -> Self {
        Self { half_life_s, estimate: 0.0, total_weight: 0.0 }
    }

    fn sample(&mut self, weight_s: f64, value: f64) {
        let alpha = 0.5f64.powf(weight_s / self.half_life_s);
        self.estimate = value * (1.0 - alpha) + alpha * self.estimate;
        self.total_weight += weight_s;
    }

    /// Bias-corrected (zero-initialised EWMAs underestimate at first).
    fn get(&self) -> Option<f64> {
        if self.total_weight <= 0.0 {
            return None;
        }
        let zero_factor = 1.0 - 0.5f64.powf(self.total_weight / self.half_life_s);
        Some(self.estimate / zero_factor)
    }
}

/// Downloads shorter than this are timed as this long: tiny or cached responses would
/// otherwise claim absurd rates.
const MIN_SAMPLE_MS: f64 = 20.0;

impl Estimator {
    /// An estimator that answers `default_bps` until the first sample.
    pub fn new(default_bps: f64) -> Self {
        Self { fast: Ewma::new(3.0), slow: Ewma::new(9.0), default_bps }
    }

    /// Records a download of `bytes` that took `ms`.
    pub fn sample(&mut self, bytes: usize, ms: f64) {
        let ms = ms.max(MIN_SAMPLE_MS);
        let bps = bytes as f64 * 8.0 / (ms / 1000.0);
        let weight = ms / 1000.0;
        self.fast.sample(weight, bps);
        self.slow.sample(weight, bps);
    }

    /// The throughput estimate, bit/s.
    pub fn estimate_bps(&self) -> f64 {
        match (self.fast.get(), self.slow.get()) {
            (Some(f), Some(s)) => f.min(s),
            _ => self.default_bps,
        }
    }
}

/// What the chooser knows about the moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbrInput {
    /// Throughput estimate, bit/s.
    pub estimate_bps: f64,
    /// Seconds of media buffered ahead of the playhead.
    pub buffer_ahead_s: f64,
    /// Duration of the segment about to be loaded, s.
    pub segment_duration_s: f64,
}

/// The segment length the start level is chosen for when no media playlist is loaded yet
/// (only the master is known): the Broadcaster's default segment, s.
pub const UNKNOWN_SEGMENT_DURATION_S: f64 = 2.0;

/// Chooses the level for the next segment. `bitrates` are the levels' bit rates (ascending
/// as the player sorts them), `current` the level of the last segment, `unusable(i)` says
/// that level `i`'s next segment is known to be a gap. `None`: every level is unusable.
pub fn choose(bitrates: &[u64], current: usize, input: AbrInput, unusable: &dyn Fn(usize) -> bool) -> Option<usize> {
    if bitrates.is_empty() {
        return None;
    }
    let current = current.min(bitrates.len() - 1);
    let healthy = input.buffer_ahead_s >= 2.0 * input.segment_duration_s.max(0.5);
    let factor = if healthy { 0.8 } else { 0.6 };
    let budget = input.estimate_bps * factor;
    let fits = bitrates.iter().rposition(|&b| b as f64 <= budget).unwrap_or(0);
    let mut wanted = fits;
    if wanted > current && input.buffer_ahead_s < input.segment_duration_s {
        // Not enough buffer to risk a bigger download.
        wanted = current;
    }
    if wanted < current {
        // Keep the current level when its next segment will download well before the
        // buffer runs out, even if the estimate dipped.
        let download_s = bitrates[current] as f64 * input.segment_duration_s / input.estimate_bps.max(1.0);
        if healthy && download_s * 2.0 < input.buffer_ahead_s - input.segment_duration_s {
            wanted = current;
        }
    }
    nearest_usable(bitrates.len(), wanted, unusable)
}

/// After a stall: the next lower usable level (the lowest stays the lowest).
pub fn emergency_down(levels: usize, current: usize, unusable: &dyn Fn(usize) -> bool) -> Option<usize> {
    if levels == 0 {
        return None;
    }
    let current = current.min(levels - 1);
    (0..current).rev().find(|&i| !unusable(i)).or_else(|| nearest_usable(levels, current, unusable))
}

/// `wanted` if usable, else the closest lower usable level, else the closest higher one.
fn nearest_usable(levels: usize, wanted: usize, unusable: &dyn Fn(usize) -> bool) -> Option<usize> {
    (0..=wanted).rev().find(|&i| !unusable(i)).or_else(|| (wanted + 1..levels).find(|&i| !unusable(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: [u64; 3] = [600_000, 1_200_000, 2_500_000];
    fn none(_: usize) -> bool {
        false
    }
    fn input(estimate_bps: f64, buffer_ahead_s: f64) -> AbrInput {
        AbrInput { estimate_bps, buffer_ahead_s, segment_duration_s: 2.0 }
    }

    #[test]
    fn estimator_defaults_then_follows_samples_and_trusts_the_lower_average() {
        let mut e = Estimator::new(1e6);
        assert_eq!(e.estimate_bps(), 1e6);
        e.sample(500_000, 1000.0); // 4 Mbit/s
        assert!((e.estimate_bps() - 4e6).abs() < 1.0, "{}", e.estimate_bps());
        for _ in 0..3 {
            e.sample(50_000, 1000.0); // 400 kbit/s
        }
        let after_drop = e.estimate_bps();
        assert!(after_drop < 1.5e6, "the fast average falls quickly: {after_drop}");
        e.sample(1, 0.0);
        assert!(e.estimate_bps().is_finite());
    }

    #[test]
    fn picks_the_highest_level_that_fits_the_estimate() {
        assert_eq!(choose(&LADDER, 0, input(10e6, 10.0), &none), Some(2));
        assert_eq!(choose(&LADDER, 2, input(1.6e6, 1.0), &none), Some(0), "short buffer: factor 0.6");
        assert_eq!(choose(&LADDER, 0, input(1.6e6, 10.0), &none), Some(1));
        assert_eq!(choose(&LADDER, 0, input(100.0, 10.0), &none), Some(0));
    }

    #[test]
    fn no_switch_up_on_an_almost_empty_buffer_and_no_switch_down_on_a_full_one() {
        assert_eq!(choose(&LADDER, 0, input(10e6, 0.5), &none), Some(0));
        // 2.5 Mbit/s level, estimate 2.6 Mbit/s (fits 0.8 × 2.6 = 2.08 → level 1), but a
        // 2 s segment downloads in ~1.9 s and 20 s are buffered: stay.
        assert_eq!(choose(&LADDER, 2, input(2.6e6, 20.0), &none), Some(2));
        assert_eq!(choose(&LADDER, 2, input(2.6e6, 4.0), &none), Some(1));
    }

    #[test]
    fn gap_levels_are_never_chosen() {
        let gap_at_2 = |i: usize| i == 2;
        assert_eq!(choose(&LADDER, 0, input(10e6, 10.0), &gap_at_2), Some(1));
        let only_top = |i: usize| i != 2;
        assert_eq!(choose(&LADDER, 0, input(100.0, 10.0), &only_top), Some(2), "higher when nothing lower");
        assert_eq!(choose(&LADDER, 0, input(1e6, 10.0), &|_| true), None);
        assert_eq!(choose(&[], 0, input(1e6, 1.0), &none), None);
    }

    #[test]
    fn emergency_goes_one_down_skipping_gaps() {
        assert_eq!(emergency_down(3, 2, &none), Some(1));
        assert_eq!(emergency_down(3, 2, &|i| i == 1), Some(0));
        assert_eq!(emergency_down(3, 0, &none), Some(0));
        assert_eq!(emergency_down(3, 1, &|i| i == 0), Some(1));
    }
}
