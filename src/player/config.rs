//! Player settings, their defaults, and retry policies as data.

/// How the delay grows between retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// The same delay every time.
    Constant,
    /// `retryDelayMs × retry number`.
    Linear,
    /// `retryDelayMs × 2^(retry − 1)`.
    Exponential,
}

impl Backoff {
    /// Parses the config string (`"constant" | "linear" | "exponential"`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "constant" => Some(Self::Constant),
            "linear" => Some(Self::Linear),
            "exponential" => Some(Self::Exponential),
            _ => None,
        }
    }
}

/// Retries of one request: how many, how long to wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: give up at the first failure).
    pub max_retries: u32,
    /// Delay before the first retry, ms.
    pub retry_delay_ms: f64,
    /// How the delay grows.
    pub backoff: Backoff,
    /// Longest delay between two attempts, ms.
    pub max_delay_ms: f64,
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 = the first retry), or `None` when the
    /// policy allows no more.
    pub fn delay_ms(&self, retry: u32) -> Option<f64> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        let factor = match self.backoff {
            Backoff::Constant => 1.0,
            Backoff::Linear => f64::from(retry),
            Backoff::Exponential => 2f64.powi(retry.saturating_sub(1).min(30) as i32),
        };
        Some((self.retry_delay_ms * factor).min(self.max_delay_ms))
    }
}

/// The player's settings. Every field has a default (see [`PlayerConfig::default`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerConfig {
    /// How many segments behind the live edge playback starts. Default 3 (as hls.js).
    pub live_sync_segments: u32,
    /// Latency the catch-up aims at, s; `None`: `live_sync_segments` × target duration.
    pub target_latency_seconds: Option<f64>,
    /// Beyond this latency the player jumps to the live edge, s; `None`: the target
    /// latency plus three target durations.
    pub max_latency_seconds: Option<f64>,
    /// Fastest catch-up playback rate (1 disables catch-up). Default 1.1.
    pub max_catch_up_rate: f64,
    /// Media loaded ahead of the playhead, s. Default 30.
    pub max_buffer_seconds: f64,
    /// Media kept behind the playhead, s; older media is removed. Default 30.
    pub back_buffer_seconds: f64,
    /// Playlist loads and live reloads. Default: 4 retries, 500 ms, exponential.
    pub playlist_retry: RetryPolicy,
    /// Segment loads; a segment that still fails is skipped. Default: 3 retries, 250 ms,
    /// exponential.
    pub segment_retry: RetryPolicy,
    /// Request timeout, ms. Default 10 000.
    pub request_timeout_ms: f64,
    /// Throughput assumed before the first measurement, bit/s. Default 1 000 000.
    pub default_bandwidth_bps: f64,
    /// Level to start with; `None`: chosen by ABR from `default_bandwidth_bps`.
    pub start_level: Option<usize>,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        Self {
            live_sync_segments: 3,
            target_latency_seconds: None,
            max_latency_seconds: None,
            max_catch_up_rate: 1.1,
            max_buffer_seconds: 30.0,
            back_buffer_seconds: 30.0,
            playlist_retry: RetryPolicy { max_retries: 4, retry_delay_ms: 500.0, backoff: Backoff::Exponential, max_delay_ms: 8_000.0 },
            segment_retry: RetryPolicy { max_retries: 3, retry_delay_ms: 250.0, backoff: Backoff::Exponential, max_delay_ms: 4_000.0 },
            request_timeout_ms: 10_000.0,
            default_bandwidth_bps: 1_000_000.0,
            start_level: None,
        }
    }
}

impl PlayerConfig {
    /// Checks ranges; the message names the option as JavaScript spells it.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |v: f64, name: &str| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("`{name}` must be a positive number, got {v}")) }
        };
        if self.live_sync_segments == 0 || self.live_sync_segments > 100 {
            return Err(format!("`liveSyncSegments` must be 1..=100, got {}", self.live_sync_segments));
        }
        if let Some(v) = self.target_latency_seconds {
            positive(v, "targetLatencySeconds")?;
        }
        if let Some(v) = self.max_latency_seconds {
            positive(v, "maxLatencySeconds")?;
            if let Some(t) = self.target_latency_seconds {
                if v <= t {
                    return Err(format!("`maxLatencySeconds` ({v}) must be larger than `targetLatencySeconds` ({t})"));
                }
            }
        }
        if !(1.0..=2.0).contains(&self.max_catch_up_rate) {
            return Err(format!("`maxCatchUpRate` must be 1..=2, got {}", self.max_catch_up_rate));
        }
        positive(self.max_buffer_seconds, "maxBufferSeconds")?;
        if !(self.back_buffer_seconds.is_finite() && self.back_buffer_seconds >= 0.0) {
            return Err(format!("`backBufferSeconds` must be 0 or more, got {}", self.back_buffer_seconds));
        }
        positive(self.request_timeout_ms, "requestTimeoutMs")?;
        positive(self.default_bandwidth_bps, "defaultBandwidth")?;
        for (p, name) in [(&self.playlist_retry, "playlistRetry"), (&self.segment_retry, "segmentRetry")] {
            if p.max_retries > 100 {
                return Err(format!("`{name}.maxRetries` must be 0..=100, got {}", p.max_retries));
            }
            if !(p.retry_delay_ms.is_finite() && p.retry_delay_ms >= 0.0) {
                return Err(format!("`{name}.retryDelayMs` must be 0 or more, got {}", p.retry_delay_ms));
            }
        }
        Ok(())
    }

    /// The latency catch-up aims at, for a playlist of this target duration.
    pub fn target_latency(&self, target_duration: f64) -> f64 {
        self.target_latency_seconds.unwrap_or(f64::from(self.live_sync_segments) * target_duration)
    }

    /// The latency beyond which the player jumps to the edge.
    pub fn max_latency(&self, target_duration: f64) -> f64 {
        self.max_latency_seconds
            .unwrap_or(self.target_latency(target_duration) + 3.0 * target_duration)
            .max(self.target_latency(target_duration) + 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_derived_latencies_follow_the_target_duration() {
        let c = PlayerConfig::default();
        c.validate().unwrap();
        assert_eq!(c.target_latency(2.0), 6.0);
        assert_eq!(c.max_latency(2.0), 12.0);
        let c = PlayerConfig { target_latency_seconds: Some(4.0), max_latency_seconds: Some(9.0), ..c };
        assert_eq!((c.target_latency(2.0), c.max_latency(2.0)), (4.0, 9.0));
    }

    #[test]
    fn validation_names_the_option() {
        let bad = PlayerConfig { max_buffer_seconds: 0.0, ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("maxBufferSeconds"));
        let bad = PlayerConfig { target_latency_seconds: Some(5.0), max_latency_seconds: Some(4.0), ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("maxLatencySeconds"));
        let bad = PlayerConfig { live_sync_segments: 0, ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("liveSyncSegments"));
    }

    #[test]
    fn retry_delays_follow_the_backoff_and_stop_after_max_retries() {
        let p = RetryPolicy { max_retries: 3, retry_delay_ms: 100.0, backoff: Backoff::Exponential, max_delay_ms: 300.0 };
        assert_eq!([p.delay_ms(1), p.delay_ms(2), p.delay_ms(3), p.delay_ms(4)], [Some(100.0), Some(200.0), Some(300.0), None]);
        let p = RetryPolicy { backoff: Backoff::Linear, max_delay_ms: 1e9, ..p };
        assert_eq!(p.delay_ms(3), Some(300.0));
        let p = RetryPolicy { backoff: Backoff::Constant, ..p };
        assert_eq!(p.delay_ms(3), Some(100.0));
        assert_eq!(p.delay_ms(0), None);
        assert_eq!(Backoff::parse("linear"), Some(Backoff::Linear));
        assert_eq!(Backoff::parse("fast"), None);
    }
}
