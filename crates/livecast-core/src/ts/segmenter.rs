//! IDR-aligned segmentation: frames in, self-contained MPEG-TS segments out.
//!
//! With audio ([`Segmenter::with_audio`]) the two streams arrive on their own schedules (the
//! audio encoder and the video encoders run in different workers, the video ones possibly a
//! whole segment behind), so both are queued and released in capture-time order: a frame
//! leaves its queue once the other stream has been seen past its timestamp. Video waits for
//! audio at most [`MAX_VIDEO_WAIT_US`] (a microphone that stalls does not stop the picture);
//! audio waits for video as long as the video encoders need, up to [`MAX_AUDIO_QUEUE`]
//! frames. Released in time order, every AAC frame lands in the segment whose time span holds
//! its timestamp: a cut at an IDR at time `t` takes the frames before `t`, the next segment
//! those from `t` on, so no frame is in two segments and none falls between them.

use super::TsMuxer;
use crate::adts::{self, AudioConfig};
use crate::Error;
use std::collections::VecDeque;

/// Longest time (µs of capture time) video frames are held waiting for the audio to catch up.
pub const MAX_VIDEO_WAIT_US: i64 = 1_000_000;
/// Most AAC frames held waiting for the video (about 21 s at 48 kHz): past it the oldest is
/// dropped and counted.
pub const MAX_AUDIO_QUEUE: usize = 1000;
/// Most AAC frames put in one PES (about 64 ms at 48 kHz): few enough that the audio stays
/// within the PCR's 100 ms lead, enough that the PES headers cost little.
const FRAMES_PER_PES: usize = 3;

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
    /// Number of AAC frames (0 without audio).
    pub audio_frames: u32,
}

/// Audio frames the segmenter did not write, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioDrops {
    /// Captured before the first video keyframe: no segment to hold them yet.
    pub before_video: u64,
    /// Arrived after the segment their timestamp belongs to had been closed.
    pub late: u64,
    /// Dropped because [`MAX_AUDIO_QUEUE`] frames were already waiting for the video.
    pub queue_full: u64,
}

#[derive(Debug)]
struct OpenSegment {
    data: Vec<u8>,
    first_us: i64,
    last_us: i64,
    frames: u32,
    audio_frames: u32,
    /// ADTS frames not yet written, and the timestamp of the first.
    pending_audio: Vec<u8>,
    pending_audio_us: i64,
    pending_count: usize,
}

/// The two queues of an audio segmenter.
#[derive(Debug, Default)]
struct Interleaver {
    config: Option<AudioConfig>,
    video: VecDeque<(Vec<u8>, bool, i64)>,
    audio: VecDeque<(Vec<u8>, i64)>,
    /// Latest timestamps pushed, per stream.
    video_seen: Option<i64>,
    audio_seen: Option<i64>,
    drops: AudioDrops,
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
    /// The latest keyframe pushed (it may still wait in the queue).
    last_keyframe_us: Option<i64>,
    /// The latest keyframe decided by [`Segmenter::schedule_keyframe`] (maybe not encoded yet).
    scheduled_keyframe_us: Option<i64>,
    audio: Option<Interleaver>,
}

impl Segmenter {
    /// A segmenter for segments of about `target_duration_us`, numbered from `first_seq`.
    pub fn new(target_duration_us: i64, first_seq: u64) -> Result<Self, Error> {
        if !(100_000..=60_000_000).contains(&target_duration_us) {
            return Err(Error::Mux(format!("segment duration {target_duration_us} µs is outside 0.1..=60 s")));
        }
        Ok(Self {
            target_us: target_duration_us,
            muxer: TsMuxer::new(),
            next_seq: first_seq,
            open: None,
            skipped_before_keyframe: 0,
            last_keyframe_us: None,
            scheduled_keyframe_us: None,
            audio: None,
        })
    }

    /// A segmenter for video and ADTS AAC audio on one capture clock: feed it with
    /// [`Segmenter::push_video`] and [`Segmenter::push_audio`], end with
    /// [`Segmenter::finish_all`].
    pub fn with_audio(target_duration_us: i64, first_seq: u64) -> Result<Self, Error> {
        let mut s = Self::new(target_duration_us, first_seq)?;
        s.muxer = TsMuxer::with_audio();
        s.audio = Some(Interleaver::default());
        Ok(s)
    }

    /// True when a frame captured at `timestamp_us` should be a keyframe: the open segment
    /// has reached its target duration (or none is open yet).
    pub fn keyframe_due(&self, timestamp_us: i64) -> bool {
        let start = self.last_keyframe_us.or(self.open.as_ref().map(|s| s.first_us));
        start.is_none_or(|first| timestamp_us - first >= self.target_us)
    }

    /// Decides, before the frame captured at `timestamp_us` is encoded, whether it is to be
    /// a keyframe, and remembers the decision: the rule of [`Segmenter::keyframe_due`] for
    /// encoders whose output comes later (several encoders each a segment behind), where
    /// `keyframe_due`, which counts the keyframes pushed, would answer true for every frame
    /// until the first keyframe came out of an encoder.
    pub fn schedule_keyframe(&mut self, timestamp_us: i64) -> bool {
        let start = self.scheduled_keyframe_us.max(self.last_keyframe_us).or(self.open.as_ref().map(|s| s.first_us));
        let due = start.is_none_or(|first| timestamp_us - first >= self.target_us);
        if due {
            self.scheduled_keyframe_us = Some(timestamp_us);
        }
        due
    }

    /// Frames dropped because the stream did not start with a keyframe.
    pub fn skipped_before_keyframe(&self) -> u64 {
        self.skipped_before_keyframe
    }

    /// Audio frames not written, by reason (all zero without audio).
    pub fn audio_drops(&self) -> AudioDrops {
        self.audio.as_ref().map(|a| a.drops).unwrap_or_default()
    }

    /// Adds one encoded frame; returns the segment it closed, if any. For a segmenter
    /// without audio; one made by [`Segmenter::with_audio`] takes [`Segmenter::push_video`].
    pub fn push(&mut self, annex_b: &[u8], keyframe: bool, timestamp_us: i64) -> Result<Option<Segment>, Error> {
        if self.audio.is_some() {
            return Err(Error::Mux("a segmenter with audio takes push_video, not push".into()));
        }
        self.note_keyframe(keyframe, timestamp_us);
        self.write_video(annex_b, keyframe, timestamp_us)
    }

    /// Adds one encoded video frame; returns the segments this closed (with audio, frames
    /// wait for the audio up to their timestamp, so one call may close none or several).
    /// Timestamps must increase.
    pub fn push_video(&mut self, annex_b: &[u8], keyframe: bool, timestamp_us: i64) -> Result<Vec<Segment>, Error> {
        let Some(queues) = self.audio.as_mut() else {
            return Ok(self.push(annex_b, keyframe, timestamp_us)?.into_iter().collect());
        };
        if annex_b.is_empty() {
            return Err(Error::Mux("empty access unit".into()));
        }
        if let Some(last) = queues.video_seen {
            if timestamp_us <= last {
                return Err(Error::Mux(format!("timestamp {timestamp_us} µs does not follow {last} µs")));
            }
        }
        queues.video_seen = Some(timestamp_us);
        queues.video.push_back((annex_b.to_vec(), keyframe, timestamp_us));
        self.note_keyframe(keyframe, timestamp_us);
        self.release(false)
    }

    /// Adds one or more whole ADTS AAC frames, the first captured at `timestamp_us` (the
    /// others follow at 1024 samples each); returns the segments this closed. A frame
    /// stamped before the previous frame's end is placed right at that end (no overlap);
    /// every frame must have the stream's first configuration.
    pub fn push_audio(&mut self, adts_frames: &[u8], timestamp_us: i64) -> Result<Vec<Segment>, Error> {
        let Some(queues) = self.audio.as_mut() else {
            return Err(Error::Mux("this segmenter has no audio (Segmenter::with_audio)".into()));
        };
        let (frames, left) = adts::frames(adts_frames);
        if frames.is_empty() || left != 0 {
            return Err(Error::Mux(format!("{} bytes of audio are not whole ADTS frames", adts_frames.len())));
        }
        let config = *queues.config.get_or_insert(frames[0].0.config);
        if let Some((h, _)) = frames.iter().find(|(h, _)| h.config != config) {
            return Err(Error::Mux(format!("the AAC configuration changed ({:?} after {config:?})", h.config)));
        }
        for (i, (_, frame)) in frames.iter().enumerate() {
            let mut ts = timestamp_us + (i as f64 * config.frame_us()).round() as i64;
            // A frame stamped before the previous one has ended (clock jitter) starts where
            // it ends: AAC frames never overlap. A later stamp is a real gap and is kept.
            if let Some(last) = queues.audio_seen {
                ts = ts.max(last + config.frame_us().round() as i64);
            }
            if queues.audio.len() >= MAX_AUDIO_QUEUE {
                queues.audio.pop_front();
                queues.drops.queue_full += 1;
            }
            queues.audio.push_back((frame.to_vec(), ts));
            queues.audio_seen = Some(ts);
        }
        self.release(false)
    }

    /// Closes the open segment at the end of the stream (for a segmenter without audio).
    pub fn finish(&mut self) -> Option<Segment> {
        if self.audio.is_some() {
            return self.finish_all().ok().and_then(|s| s.into_iter().last());
        }
        let open = self.open.as_ref()?;
        let span = open.last_us - open.first_us;
        let interval = if open.frames > 1 { span / (open.frames as i64 - 1) } else { 33_333 };
        self.close(span + interval).ok().flatten()
    }

    /// Writes everything still queued and closes the open segment: the end of the stream.
    pub fn finish_all(&mut self) -> Result<Vec<Segment>, Error> {
        let mut closed = if self.audio.is_some() { self.release(true)? } else { Vec::new() };
        if let Some(open) = self.open.as_ref() {
            let span = open.last_us - open.first_us;
            let interval = if open.frames > 1 { span / (open.frames as i64 - 1) } else { 33_333 };
            closed.extend(self.close(span + interval)?);
        }
        Ok(closed)
    }

    fn note_keyframe(&mut self, keyframe: bool, timestamp_us: i64) {
        if keyframe && self.keyframe_due(timestamp_us) {
            self.last_keyframe_us = Some(timestamp_us);
        }
    }

    /// Takes frames off the two queues in timestamp order while the other stream has been
    /// seen past them (or waited too long); `all` empties both.
    fn release(&mut self, all: bool) -> Result<Vec<Segment>, Error> {
        let mut closed = Vec::new();
        while let Some(q) = self.audio.as_mut() {
            let next_video = q.video.front().map(|f| f.2);
            let next_audio = q.audio.front().map(|f| f.1);
            let take_video = match (next_video, next_audio) {
                (Some(v), Some(a)) => v <= a,
                (Some(v), None) => {
                    all || q.audio_seen.is_some_and(|seen| seen >= v)
                        || q.video_seen.is_some_and(|seen| seen - v >= MAX_VIDEO_WAIT_US)
                }
                (None, Some(a)) => {
                    if !(all || q.video_seen.is_some_and(|seen| seen >= a)) {
                        break;
                    }
                    false
                }
                (None, None) => break,
            };
            if take_video {
                let Some((data, keyframe, ts)) = q.video.pop_front() else { break };
                closed.extend(self.write_video(&data, keyframe, ts)?);
            } else {
                let Some((data, ts)) = q.audio.pop_front() else { break };
                self.write_audio(data, ts)?;
            }
        }
        Ok(closed)
    }

    /// Puts one AAC frame in the open segment (grouped into PES of a few frames).
    fn write_audio(&mut self, frame: Vec<u8>, timestamp_us: i64) -> Result<(), Error> {
        let Some(open) = self.open.as_mut() else {
            if let Some(q) = self.audio.as_mut() {
                q.drops.before_video += 1;
            }
            return Ok(());
        };
        if timestamp_us < open.first_us {
            if let Some(q) = self.audio.as_mut() {
                q.drops.late += 1;
            }
            return Ok(());
        }
        if open.pending_count == 0 {
            open.pending_audio_us = timestamp_us;
        }
        open.pending_audio.extend_from_slice(&frame);
        open.pending_count += 1;
        open.audio_frames += 1;
        if open.pending_count >= FRAMES_PER_PES {
            Self::flush_audio(&mut self.muxer, open)?;
        }
        Ok(())
    }

    fn flush_audio(muxer: &mut TsMuxer, open: &mut OpenSegment) -> Result<(), Error> {
        if open.pending_count > 0 {
            muxer.write_audio(&open.pending_audio, open.pending_audio_us, &mut open.data)?;
            open.pending_audio.clear();
            open.pending_count = 0;
        }
        Ok(())
    }

    /// Puts one video frame in the stream, closing the open segment at a due keyframe.
    fn write_video(&mut self, annex_b: &[u8], keyframe: bool, timestamp_us: i64) -> Result<Option<Segment>, Error> {
        if self.open.is_none() && !keyframe {
            self.skipped_before_keyframe += 1;
            return Ok(None);
        }
        let closed = match &self.open {
            Some(open) if keyframe && timestamp_us - open.first_us >= self.target_us => {
                let duration = timestamp_us - open.first_us;
                self.close(duration)?
            }
            _ => None,
        };
        if self.open.is_none() {
            let mut data = Vec::with_capacity(1 << 20);
            self.muxer.write_tables(&mut data)?;
            self.open = Some(OpenSegment {
                data,
                first_us: timestamp_us,
                last_us: timestamp_us,
                frames: 0,
                audio_frames: 0,
                pending_audio: Vec::new(),
                pending_audio_us: 0,
                pending_count: 0,
            });
        }
        let open = self.open.as_mut().expect("opened above");
        self.muxer.write_access_unit(annex_b, keyframe, timestamp_us, &mut open.data)?;
        open.last_us = timestamp_us;
        open.frames += 1;
        Ok(closed)
    }

    fn close(&mut self, duration_us: i64) -> Result<Option<Segment>, Error> {
        let Some(mut open) = self.open.take() else { return Ok(None) };
        Self::flush_audio(&mut self.muxer, &mut open)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Some(Segment {
            seq,
            data: open.data,
            first_timestamp_us: open.first_us,
            duration_us,
            frames: open.frames,
            audio_frames: open.audio_frames,
        }))
    }
}
