//! The transmuxer: one whole MPEG-TS segment in, one fMP4 fragment (and an init segment when
//! the H.264 configuration changes) out.

use super::audio::{demux_audio, AudioConfig, AudioFrame, SAMPLES_PER_FRAME};
use super::boxes::{init_segment, media_segment, video_entries, Run, Sample, TrunEntry, AUDIO_TRACK_ID, TRACK_ID};
use super::timeline::Timeline;
use super::{Fragment, InitSegment, SegmentOptions, TIMESCALE};
use crate::annexb::{nal_units, NalType};
use crate::sps::{parse_sps, SpsInfo};
use crate::ts::{demux, AccessUnit};
use crate::Error;

/// The H.264 configuration (and AAC configuration, if carried) the current init segment
/// was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParameterSets {
    sps: Vec<u8>,
    pps: Vec<u8>,
    audio: Option<AudioConfig>,
}

/// Turns consecutive MPEG-TS segments of one HLS stream (any of its levels) into fMP4
/// fragments on one continuous timeline. One per playback session; feed it segments in
/// playback order.
///
/// Made with [`Transmuxer::new`], only the H.264 video stream is transmuxed and audio PIDs
/// are ignored; [`Transmuxer::with_audio`] also carries ADTS AAC audio.
#[derive(Debug, Default)]
pub struct Transmuxer {
    timeline: Timeline,
    params: Option<ParameterSets>,
    /// The last `moof` sequence number written.
    sequence: u32,
    /// Carry AAC audio as a second track.
    audio: bool,
    /// Where the audio track's last fragment ended, in its sample-rate units.
    audio_end: Option<i64>,
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

    /// The same transmuxer, also carrying the segments' ADTS AAC audio (their first audio
    /// PID) as a second track on the video's timeline. Init segments then name both codecs
    /// ([`InitSegment::codecs`]); a segment without audio gives a fragment without audio.
    pub fn with_audio(mut self) -> Self {
        self.audio = true;
        self
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
        let (audio_config, audio_frames) = if self.audio { demux_audio(ts)? } else { (None, Vec::new()) };
        let mut found = find_parameter_sets(&units)?;
        // A segment without audio (or without parameter sets) keeps the current configuration's.
        let current_audio = self.params.as_ref().and_then(|p| p.audio);
        if let Some(found) = &mut found {
            found.audio = audio_config.or(current_audio);
        } else if audio_config.is_some() && audio_config != current_audio {
            found = self.params.clone().map(|p| ParameterSets { audio: audio_config, ..p });
        }
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
        let base_decode_time = timings[0].dts;
        let mut runs = vec![Run { track_id: TRACK_ID, base_decode_time, entries: video_entries(&samples), payload: &payload }];
        let effective_audio = new_params.as_ref().or(self.params.as_ref()).and_then(|p| p.audio);
        let (audio_payload, audio_run) = match effective_audio {
            Some(config) if audio_config == Some(config) => self.audio_run(&config, &audio_frames),
            _ => (Vec::new(), None),
        };
        let audio_frame_count = audio_run.as_ref().map_or(0, |(_, sizes)| sizes.len() as u32);
        if let Some((base, sizes)) = audio_run {
            let entries = sizes
                .into_iter()
                .map(|size| TrunEntry { duration: SAMPLES_PER_FRAME, size, video: None })
                .collect();
            runs.push(Run { track_id: AUDIO_TRACK_ID, base_decode_time: base, entries, payload: &audio_payload });
        }
        self.sequence = self.sequence.wrapping_add(1);
        let data = media_segment(self.sequence, runs)?;
        if let Some(p) = new_params {
            self.params = Some(p);
        }

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
            audio_frames: audio_frame_count,
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

impl Transmuxer {
    /// Places the segment's AAC frames (after its video, whose offset they share) and
    /// returns their payload, base decode time and frame sizes: frames that would land
    /// before 0 are left out. A start within half a frame of the previous fragment's end
    /// snaps to it, so rounding leaves no gap.
    fn audio_run(&mut self, config: &AudioConfig, frames: &[AudioFrame]) -> (Vec<u8>, Option<(u64, Vec<u32>)>) {
        let rate = i64::from(config.sample_rate);
        let to_rate = |t90: i64| (t90 * rate).div_euclid(90_000);
        let placed: Vec<(i64, &AudioFrame)> =
            frames.iter().filter_map(|f| self.timeline.map(f.pts).map(|t| (to_rate(t), f))).filter(|(t, _)| *t >= 0).collect();
        let Some(&(mut base, _)) = placed.first() else { return (Vec::new(), None) };
        if let Some(end) = self.audio_end {
            if (base - end).abs() <= i64::from(SAMPLES_PER_FRAME) / 2 {
                base = end;
            }
        }
        self.audio_end = Some(base + placed.len() as i64 * i64::from(SAMPLES_PER_FRAME));
        let payload = placed.iter().flat_map(|(_, f)| f.data.iter().copied()).collect();
        // ADTS frames are at most 8191 bytes.
        let sizes = placed.iter().map(|(_, f)| f.data.len() as u32).collect();
        (payload, Some((base as u64, sizes)))
    }
}

fn make_init(p: &ParameterSets, info: &SpsInfo) -> Result<InitSegment, Error> {
    Ok(InitSegment {
        bytes: init_segment(&p.sps, &p.pps, info, p.audio.as_ref())?,
        codec: info.codecs(),
        audio_codec: p.audio.map(|a| a.codec()),
        width: info.width,
        height: info.height,
    })
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
        (Some(sps), Some(pps)) => Ok(Some(ParameterSets { sps: sps.to_vec(), pps: pps.to_vec(), audio: None })),
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
