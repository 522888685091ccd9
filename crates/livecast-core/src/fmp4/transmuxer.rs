//! The transmuxer: one whole MPEG-TS segment in, one fMP4 fragment (and an init segment when
//! the H.264 configuration changes) out.

use super::boxes::{init_segment, media_segment, Sample};
use super::timeline::Timeline;
use super::{Fragment, InitSegment, SegmentOptions, TIMESCALE};
use crate::annexb::{nal_units, NalType};
use crate::sps::{parse_sps, SpsInfo};
use crate::ts::{demux, AccessUnit};
use crate::Error;

/// The H.264 configuration the current init segment was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParameterSets {
    sps: Vec<u8>,
    pps: Vec<u8>,
}

/// Turns consecutive MPEG-TS segments of one HLS stream (any of its levels) into fMP4
/// fragments on one continuous timeline. One per playback session; feed it segments in
/// playback order.
///
/// Only the H.264 video stream is transmuxed: audio PIDs are ignored.
#[derive(Debug, Default)]
pub struct Transmuxer {
    timeline: Timeline,
    params: Option<ParameterSets>,
    /// The next `moof` sequence number.
    sequence: u32,
}

impl Transmuxer {
    /// A transmuxer with no timeline yet: the first segment's first decode time becomes 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A transmuxer whose first segment's first decode time is `seconds` (rounded to
    /// 90 kHz; negative or non-finite values count as 0). Pass the first segment's position
    /// in the playlist (the `EXTINF` durations before it), so that segments before it, where
    /// the viewer may seek back to, still have room on the timeline: a segment that would
    /// start before 0 is placed after the previous fragment instead.
    pub fn starting_at(seconds: f64) -> Self {
        let ticks = if seconds.is_finite() && seconds > 0.0 { (seconds * f64::from(TIMESCALE)).round() as u64 } else { 0 };
        Self { timeline: Timeline::starting_at(ticks), ..Self::default() }
    }

    /// Transmuxes one whole TS segment.
    ///
    /// The result carries an [`InitSegment`] on the first call and whenever the segment's
    /// SPS/PPS differ from the current ones; frames before the first IDR of such a segment
    /// are dropped (they cannot be decoded with the new configuration). Errors leave the
    /// transmuxer as it was, so the next segment can still be pushed.
    pub fn push_segment(&mut self, ts: &[u8], opts: SegmentOptions) -> Result<Fragment, Error> {
        let units = demux(ts)?;
        if units.is_empty() {
            return Err(Error::NoVideo);
        }
        let found = find_parameter_sets(&units)?;
        let new_params = match (&found, &self.params) {
            (Some(found), Some(current)) if found == current => None,
            (Some(found), _) => Some(found.clone()),
            (None, Some(_)) => None,
            (None, None) => {
                return Err(Error::NoParameterSets("neither this segment nor an earlier one has an SPS and a PPS".into()))
            }
        };
        let init = match &new_params {
            Some(p) => {
                let info = parse_sps(&p.sps)?;
                Some(make_init(p, &info)?)
            }
            None => None,
        };
        // A new configuration starts at an IDR: the decoder is reset by the init segment.
        let first = if init.is_some() {
            units.iter().position(|u| u.keyframe).ok_or_else(|| {
                Error::NoParameterSets("the segment that brings new parameter sets has no IDR frame".into())
            })?
        } else {
            0
        };
        let units = &units[first..];

        let mut payload = Vec::with_capacity(ts.len());
        let mut sizes = Vec::with_capacity(units.len());
        for (i, unit) in units.iter().enumerate() {
            sizes.push(append_sample(&unit.data, &mut payload).map_err(|reason| Error::CorruptPes { frame: first + i, reason })?);
        }

        // Everything that can fail on the input has been checked: now commit to the state.
        let stamps: Vec<(u64, u64)> = units.iter().map(|u| (u.pts, u.dts)).collect();
        let timings = self.timeline.place(&stamps, opts.discontinuity);
        let samples: Vec<Sample> = timings
            .iter()
            .zip(&sizes)
            .zip(units)
            .map(|((&timing, &size), unit)| Sample { timing, size, keyframe: unit.keyframe })
            .collect();
        self.sequence = self.sequence.wrapping_add(1);
        let data = media_segment(self.sequence, &samples, &payload)?;
        if let Some(p) = new_params {
            self.params = Some(p);
        }

        let base_decode_time = timings[0].dts;
        let duration: u64 = timings.iter().map(|t| u64::from(t.duration)).sum();
        let start = timings.iter().map(|t| t.dts as i64 + i64::from(t.cts)).min().unwrap_or(base_decode_time as i64);
        Ok(Fragment {
            init,
            data,
            base_decode_time,
            duration,
            timescale: TIMESCALE,
            start_seconds: start as f64 / f64::from(TIMESCALE),
            duration_seconds: duration as f64 / f64::from(TIMESCALE),
            frames: samples.len() as u32,
            starts_with_keyframe: samples[0].keyframe,
        })
    }

    /// The init segment for the current configuration, if a segment has been transmuxed:
    /// for rebuilding a `SourceBuffer` after a media error.
    pub fn current_init(&self) -> Result<Option<InitSegment>, Error> {
        match &self.params {
            Some(p) => Ok(Some(make_init(p, &parse_sps(&p.sps)?)?)),
            None => Ok(None),
        }
    }
}

fn make_init(p: &ParameterSets, info: &SpsInfo) -> Result<InitSegment, Error> {
    Ok(InitSegment { bytes: init_segment(&p.sps, &p.pps, info)?, codec: info.codecs(), width: info.width, height: info.height })
}

/// The first SPS and the first PPS in the segment, if it has an SPS.
fn find_parameter_sets(units: &[AccessUnit]) -> Result<Option<ParameterSets>, Error> {
    let (mut sps, mut pps) = (None, None);
    for nal in units.iter().flat_map(|u| nal_units(&u.data)) {
        match NalType::from_header(nal[0]) {
            NalType::Sps if sps.is_none() => sps = Some(nal),
            NalType::Pps if pps.is_none() => pps = Some(nal),
            _ => {}
        }
        if sps.is_some() && pps.is_some() {
            break;
        }
    }
    match (sps, pps) {
        (Some(sps), Some(pps)) => Ok(Some(ParameterSets { sps: sps.to_vec(), pps: pps.to_vec() })),
        (Some(_), None) => Err(Error::NoParameterSets("the segment has an SPS but no PPS".into())),
        (None, _) => Ok(None),
    }
}

/// Appends an access unit's NAL units as an MP4 sample (4-byte big-endian lengths), leaving
/// out what belongs in the init segment or nowhere (SPS, PPS, access unit delimiters,
/// filler). Returns the sample's size.
fn append_sample(annex_b: &[u8], out: &mut Vec<u8>) -> Result<u32, String> {
    let start = out.len();
    for nal in nal_units(annex_b) {
        if matches!(NalType::from_header(nal[0]), NalType::Sps | NalType::Pps | NalType::AccessUnitDelimiter | NalType::Other(12)) {
            continue;
        }
        let len = u32::try_from(nal.len()).map_err(|_| "a NAL unit over 4 GiB".to_string())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    if out.len() == start {
        return Err("no picture data (no NAL units other than parameter sets and delimiters)".into());
    }
    u32::try_from(out.len() - start).map_err(|_| "a frame over 4 GiB".to_string())
}
