//! IDR-aligned segmentation: frames in, self-contained MPEG-TS segments out.

use super::TsMuxer;
use crate::Error;

/// One finished segment: starts with PAT, PMT and an IDR with SPS/PPS, so it decodes alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Sequence number, counting from the segmenter's first.
    pub seq: u64,
    /// The MPEG-TS bytes (a whole number of 188-byte packets).
    pub data: Vec<u8>,
    /// Capture time of the first frame, µs.
    pub first_timestamp_us: i64,
    /// Duration, µs: up to the next segment's first frame, or for the last segment up to
    /// its last frame plus one average frame interval.
    pub duration_us: i64,
    /// Number of frames.
    pub frames: u32,
}

#[derive(Debug)]
struct OpenSegment {
    data: Vec<u8>,
    first_us: i64,
    last_us: i64,
    frames: u32,
}

/// Cuts a stream of encoded frames into segments at the first keyframe after
/// `target_duration_us`. Ask [`Segmenter::keyframe_due`] before encoding each frame and
/// force a keyframe when it says so, and segments come out at the target length.
#[derive(Debug)]
pub struct Segmenter {
    target_us: i64,
    muxer: TsMuxer,
    next_seq: u64,
    open: Option<OpenSegment>,
    skipped_before_keyframe: u64,
}

impl Segmenter {
    /// A segmenter for segments of about `target_duration_us`, numbered from `first_seq`.
    pub fn new(target_duration_us: i64, first_seq: u64) -> Result<Self, Error> {
        if !(100_000..=60_000_000).contains(&target_duration_us) {
            return Err(Error::Mux(format!("segment duration {target_duration_us} µs is outside 0.1..=60 s")));
        }
        Ok(Self { target_us: target_duration_us, muxer: TsMuxer::new(), next_seq: first_seq, open: None, skipped_before_keyframe: 0 })
    }

    /// True when a frame captured at `timestamp_us` should be a keyframe: the open segment
    /// has reached its target duration (or none is open yet).
    pub fn keyframe_due(&self, timestamp_us: i64) -> bool {
        self.open.as_ref().is_none_or(|s| timestamp_us - s.first_us >= self.target_us)
    }

    /// Frames dropped because the stream did not start with a keyframe.
    pub fn skipped_before_keyframe(&self) -> u64 {
        self.skipped_before_keyframe
    }

    /// Adds one encoded frame; returns the segment it closed, if any.
    pub fn push(&mut self, annex_b: &[u8], keyframe: bool, timestamp_us: i64) -> Result<Option<Segment>, Error> {
        if self.open.is_none() && !keyframe {
            self.skipped_before_keyframe += 1;
            return Ok(None);
        }
        let closed = match &self.open {
            Some(open) if keyframe && timestamp_us - open.first_us >= self.target_us => {
                self.close(timestamp_us - self.open.as_ref().map_or(0, |o| o.first_us))
            }
            _ => None,
        };
        if self.open.is_none() {
            let mut data = Vec::with_capacity(1 << 20);
            self.muxer.write_tables(&mut data)?;
            self.open = Some(OpenSegment { data, first_us: timestamp_us, last_us: timestamp_us, frames: 0 });
        }
        let open = self.open.as_mut().expect("opened above");
        self.muxer.write_access_unit(annex_b, keyframe, timestamp_us, &mut open.data)?;
        open.last_us = timestamp_us;
        open.frames += 1;
        Ok(closed)
    }

    /// Closes the open segment at the end of the stream.
    pub fn finish(&mut self) -> Option<Segment> {
        let open = self.open.as_ref()?;
        let span = open.last_us - open.first_us;
        let interval = if open.frames > 1 { span / (open.frames as i64 - 1) } else { 33_333 };
        self.close(span + interval)
    }

    fn close(&mut self, duration_us: i64) -> Option<Segment> {
        let open = self.open.take()?;
        let seq = self.next_seq;
        self.next_seq += 1;
        Some(Segment { seq, data: open.data, first_timestamp_us: open.first_us, duration_us, frames: open.frames })
    }
}
