//! Capture times for encoded audio frames.
//!
//! The microphone delivers PCM in blocks (`AudioData`, or an `AudioWorklet`'s 128-sample
//! quanta), each stamped with its capture time on the same clock as the camera's frames. An
//! AAC encoder eats samples and, [`delay`](AudioClock::new) samples later, gives a frame of
//! 1024. Frame `n` holds the input from sample `n × 1024 − delay` on, so its capture time is
//! that sample's: found from the block that holds it (its timestamp plus the offset inside
//! it). Anchoring every frame to a block's own timestamp, rather than counting samples from
//! the first block, keeps the audio on the capture clock when the device's sample clock
//! drifts from it or when blocks are lost.

use std::collections::VecDeque;

/// Maps encoder output frames to capture times.
#[derive(Debug, Clone)]
pub struct AudioClock {
    rate: f64,
    delay: i64,
    frame_samples: i64,
    /// (index of the block's first sample, its capture time µs), oldest first.
    blocks: VecDeque<(i64, f64)>,
    samples_in: i64,
    frames_out: i64,
    last_us: Option<i64>,
    /// Samples lost between blocks (a timestamp jump), as counted from the timestamps.
    lost_samples: u64,
}

impl AudioClock {
    /// A clock for an encoder at `sample_rate` with `delay` samples of codec delay and
    /// frames of `frame_samples`.
    pub fn new(sample_rate: u32, delay: u32, frame_samples: u32) -> Self {
        Self {
            rate: f64::from(sample_rate),
            delay: i64::from(delay),
            frame_samples: i64::from(frame_samples),
            blocks: VecDeque::new(),
            samples_in: 0,
            frames_out: 0,
            last_us: None,
            lost_samples: 0,
        }
    }

    /// Records a block of `samples` (per channel) captured at `timestamp_us`, about to be
    /// fed to the encoder.
    pub fn input(&mut self, samples: usize, timestamp_us: f64) {
        if let Some(&(start, ts)) = self.blocks.back() {
            let expected = ts + (self.samples_in - start) as f64 * 1e6 / self.rate;
            let gap = ((timestamp_us - expected) * self.rate / 1e6).round();
            if gap > 0.0 {
                self.lost_samples += gap as u64;
            }
        }
        self.blocks.push_back((self.samples_in, timestamp_us));
        self.samples_in += samples as i64;
    }

    /// The capture time (µs) of the next encoded frame. Strictly increasing.
    pub fn next_frame_us(&mut self) -> i64 {
        let sample = self.frames_out * self.frame_samples - self.delay;
        self.frames_out += 1;
        // The last block starting at or before the sample (the first block for the priming
        // frames, which hold samples "before" the first).
        while self.blocks.len() > 1 && self.blocks[1].0 <= sample {
            self.blocks.pop_front();
        }
        let ts = match self.blocks.front() {
            Some(&(start, ts)) => ts + (sample - start) as f64 * 1e6 / self.rate,
            None => sample as f64 * 1e6 / self.rate,
        };
        let mut us = ts.round() as i64;
        if let Some(last) = self.last_us {
            us = us.max(last + 1);
        }
        self.last_us = Some(us);
        us
    }

    /// Samples lost between blocks so far.
    pub fn lost_samples(&self) -> u64 {
        self.lost_samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_take_the_capture_time_of_their_first_sample() {
        // 48 kHz, 10 ms blocks starting at t = 5 s, a delay of 2048 samples.
        let mut clock = AudioClock::new(48_000, 2048, 1024);
        for b in 0..100 {
            clock.input(480, 5e6 + f64::from(b) * 10_000.0);
        }
        let frames: Vec<i64> = (0..40).map(|_| clock.next_frame_us()).collect();
        // Frame 0 holds samples from -2048: 42.667 ms before the first block.
        assert_eq!(frames[0], 5_000_000 - 42_667);
        assert_eq!(frames[2], 5_000_000);
        assert_eq!(frames[3], 5_021_333);
        assert!(frames.windows(2).all(|w| (w[1] - w[0] - 21_333).abs() <= 1));
        assert_eq!(clock.lost_samples(), 0);
    }

    #[test]
    fn follows_the_block_timestamps_through_drift_and_loss() {
        // The device's clock runs 0.1 % slow against the capture clock, and 50 ms are lost.
        let mut clock = AudioClock::new(48_000, 0, 1024);
        let mut t = 0.0;
        for b in 0..300 {
            if b == 150 {
                t += 50_000.0;
            }
            clock.input(480, t);
            t += 10_010.0;
        }
        assert_eq!(clock.lost_samples(), 2400);
        let frames: Vec<i64> = (0..130).map(|_| clock.next_frame_us()).collect();
        // Frame 100 starts at sample 102 400: block 213 (from 102 240), 160 samples in.
        let expected = 213.0 * 10_010.0 + 50_000.0 + 160.0 / 48_000.0 * 1e6;
        assert!((frames[100] as f64 - expected).abs() <= 1.0, "{} vs {expected}", frames[100]);
        assert!(frames.windows(2).all(|w| w[1] > w[0]));
    }
}
