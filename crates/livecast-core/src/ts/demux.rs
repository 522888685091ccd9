//! The demuxer: MPEG-TS bytes → H.264 access units with their timestamps.

use super::{invalid, CLOCK_HZ};
use crate::annexb::{is_keyframe, nal_units};
use crate::Error;
use mpeg2ts::es::StreamId;

/// One video access unit from a transport stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Presentation time, 90 kHz.
    pub pts: u64,
    /// Decode time, 90 kHz (equal to `pts` when the stream carries none).
    pub dts: u64,
    /// The PES payload: Annex-B NAL units.
    pub data: Vec<u8>,
    /// True when it holds an IDR slice.
    pub keyframe: bool,
}

/// What a segment holds, read from the stream itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    /// Earliest presentation time, 90 kHz.
    pub first_pts: u64,
    /// Latest presentation time, 90 kHz.
    pub last_pts: u64,
    /// Duration in seconds: last - first plus one average frame interval.
    pub duration_secs: f64,
    /// Number of video frames.
    pub video_frames: u32,
    /// True when the first frame is an IDR, so the segment decodes alone.
    pub starts_with_keyframe: bool,
    /// The AAC audio, when the segment carries some.
    pub audio: Option<super::AudioInfo>,
}

/// Splits a transport stream into its video access units, in stream order.
/// Anything that is not whole 188-byte packets with PAT, PMT and video PES is an error.
pub fn demux(data: &[u8]) -> Result<Vec<AccessUnit>, Error> {
    let mut units = Vec::new();
    super::for_each_pes(data, |packet| {
        if let Some(unit) = video_unit(packet)? {
            units.push(unit);
        }
        Ok(())
    })?;
    Ok(units)
}

/// The access unit a video PES packet holds (`None`: not video).
fn video_unit(packet: mpeg2ts::pes::PesPacket<Vec<u8>>) -> Result<Option<AccessUnit>, Error> {
    let id = packet.header.stream_id.as_u8();
    if !(StreamId::VIDEO_MIN..=StreamId::VIDEO_MAX).contains(&id) {
        return Ok(None);
    }
    let pts = packet.header.pts.ok_or_else(|| invalid("a video PES has no PTS"))?.as_u64();
    let dts = packet.header.dts.map_or(pts, |d| d.as_u64());
    let keyframe = is_keyframe(&packet.data);
    Ok(Some(AccessUnit { pts, dts, data: packet.data, keyframe }))
}

/// Checks that `data` is an H.264 MPEG-TS segment, with no audio or ADTS AAC audio
/// ([`super::probe_audio`]), and reads its timing.
pub fn probe_segment(data: &[u8]) -> Result<SegmentInfo, Error> {
    probe_segment_units(data).map(|(info, _)| info)
}

/// [`probe_segment`], also answering the video access units ([`demux`]'s): one pass over
/// the transport stream for both, for a caller that checks the frames too (the relay's
/// ingest, which would otherwise demux the segment a second and a third time).
pub fn probe_segment_units(data: &[u8]) -> Result<(SegmentInfo, Vec<AccessUnit>), Error> {
    let mut units = Vec::new();
    let mut audio = super::audio::FirstAudio::default();
    super::for_each_pes(data, |packet| {
        if let Some(packet) = audio.take(packet) {
            if let Some(unit) = video_unit(packet)? {
                units.push(unit);
            }
        }
        Ok(())
    })?;
    // The checks in the order `demux` then `probe_audio` made them.
    let audio = if super::audio::carries_aac(data)? { super::audio::audio_info(&audio.finish()?)? } else { None };
    if units.is_empty() {
        return Err(invalid("no video frames"));
    }
    if let Some(i) = units.iter().position(|u| nal_units(&u.data).next().is_none()) {
        return Err(invalid(format!("frame {i} holds no H.264 NAL units")));
    }
    // Work relative to the first PTS so a 33-bit wrap inside the segment stays ordered.
    let base = units[0].pts;
    let rel = |pts: u64| (pts + (1 << 33) - base) % (1 << 33);
    let (min, max) = units.iter().map(|u| rel(u.pts)).fold((u64::MAX, 0), |(lo, hi), p| (lo.min(p), hi.max(p)));
    let frames = units.len() as u64;
    let span = max - min;
    let interval = if frames > 1 { span as f64 / (frames - 1) as f64 } else { 0.0 };
    let info = SegmentInfo {
        first_pts: (base + min) % (1 << 33),
        last_pts: (base + max) % (1 << 33),
        duration_secs: (span as f64 + interval) / CLOCK_HZ as f64,
        video_frames: frames as u32,
        starts_with_keyframe: units[0].keyframe,
        audio,
    };
    Ok((info, units))
}
