//! The numbers a broadcaster reports once a second.

/// Per-second counters plus running totals; [`StatsWindow::snapshot`] turns them into a
/// [`StatsSnapshot`] and starts a new window.
#[derive(Debug, Default)]
pub struct StatsWindow {
    captured: u32,
    encoded: u32,
    bytes: u64,
    encode_ms: Vec<f64>,
    dropped_total: u64,
    segments_acked: u64,
    segments_dropped: u64,
    last_upload_ms: Option<f64>,
}

/// One stats report.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSnapshot {
    /// Frames the camera delivered per second.
    pub captured_fps: f64,
    /// Frames encoded per second.
    pub encoded_fps: f64,
    /// Median encode time, ms.
    pub encode_ms_p50: f64,
    /// 95th percentile encode time, ms.
    pub encode_ms_p95: f64,
    /// Encoder output, kbit/s.
    pub output_kbps: f64,
    /// Frames the camera delivered that the encoder did not take (it was busy), since the start.
    pub dropped_frames: u64,
    /// Segments waiting for upload.
    pub upload_queue: usize,
    /// Duration of the last successful upload, ms.
    pub last_upload_ms: Option<f64>,
    /// Segments the relay acknowledged.
    pub segments_acknowledged: u64,
    /// Segments dropped without upload (queue full or rejected).
    pub segments_dropped: u64,
}

/// The `p`-quantile (0..=1) of unsorted samples, nearest rank; 0 for none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl StatsWindow {
    /// A frame arrived from the camera.
    pub fn frame_captured(&mut self) {
        self.captured += 1;
    }
    /// Frames were dropped before encoding.
    pub fn frames_dropped(&mut self, n: u64) {
        self.dropped_total += n;
    }
    /// A frame was encoded into `bytes` bytes in `ms`.
    pub fn frame_encoded(&mut self, bytes: usize, ms: f64) {
        self.encoded += 1;
        self.bytes += bytes as u64;
        self.encode_ms.push(ms);
    }
    /// The relay acknowledged a segment after an upload of `ms`.
    pub fn segment_acknowledged(&mut self, ms: f64) {
        self.segments_acked += 1;
        self.last_upload_ms = Some(ms);
    }
    /// A segment was given up on.
    pub fn segment_dropped(&mut self) {
        self.segments_dropped += 1;
    }
    /// Segments the relay acknowledged since the start.
    pub fn segments_acknowledged(&self) -> u64 {
        self.segments_acked
    }

    /// The report for a window of `seconds`, and a fresh window (totals carry on).
    pub fn snapshot(&mut self, seconds: f64, upload_queue: usize) -> StatsSnapshot {
        let s = seconds.max(1e-3);
        let snap = StatsSnapshot {
            captured_fps: self.captured as f64 / s,
            encoded_fps: self.encoded as f64 / s,
            encode_ms_p50: percentile(&self.encode_ms, 0.5),
            encode_ms_p95: percentile(&self.encode_ms, 0.95),
            output_kbps: self.bytes as f64 * 8.0 / s / 1000.0,
            dropped_frames: self.dropped_total,
            upload_queue,
            last_upload_ms: self.last_upload_ms,
            segments_acknowledged: self.segments_acked,
            segments_dropped: self.segments_dropped,
        };
        self.captured = 0;
        self.encoded = 0;
        self.bytes = 0;
        self.encode_ms.clear();
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn a_window_reports_rates_and_resets_but_totals_carry_on() {
        let mut w = StatsWindow::default();
        for i in 0..30 {
            w.frame_captured();
            w.frame_encoded(1000, i as f64);
        }
        w.frames_dropped(2);
        w.segment_acknowledged(120.0);
        let s = w.snapshot(1.0, 1);
        assert_eq!((s.captured_fps, s.encoded_fps, s.output_kbps), (30.0, 30.0, 240.0));
        assert_eq!((s.encode_ms_p50, s.encode_ms_p95), (14.0, 28.0));
        assert_eq!((s.dropped_frames, s.segments_acknowledged, s.upload_queue, s.last_upload_ms), (2, 1, 1, Some(120.0)));
        let s = w.snapshot(1.0, 0);
        assert_eq!((s.encoded_fps, s.dropped_frames, s.segments_acknowledged), (0.0, 2, 1));
    }
}
