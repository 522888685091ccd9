//! The muxer: H.264 access units (and ADTS AAC frames) → MPEG-TS packets.

use super::{AUDIO_PID, CLOCK_HZ, PMT_PID, VIDEO_PID};
use crate::Error;
use mpeg2ts::es::{StreamId, StreamType};
use mpeg2ts::pes::PesHeader;
use mpeg2ts::time::{ClockReference, Timestamp};
use mpeg2ts::ts::payload::{Bytes, Pat, Pes, Pmt};
use mpeg2ts::ts::{
    AdaptationField, ContinuityCounter, EsInfo, Pid, ProgramAssociation, TransportScramblingControl, TsHeader,
    TsPacket, TsPacketWriter, TsPayload, VersionNumber, WriteTsPacket,
};

/// Timestamps start here (1 s), so the PCR can run ahead of the first PTS without going negative.
const PTS_OFFSET: u64 = CLOCK_HZ;
/// The PCR leads each frame's decode time by this much (100 ms), the decoder's buffer delay.
const PCR_LEAD: u64 = CLOCK_HZ / 10;
/// PTS and DTS are 33-bit counters.
const PTS_MODULO: u64 = 1 << 33;
/// H.264 access unit delimiter (primary_pic_type = any), put in front of every frame:
/// some players need it to find frame boundaries.
const ACCESS_UNIT_DELIMITER: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];

/// Writes H.264 access units (and, made with [`TsMuxer::with_audio`], ADTS AAC frames) as
/// MPEG-TS. One muxer per stream: continuity counters and the timeline run on across
/// segments. Video and audio share one timeline: a capture time gives the same PTS on both.
#[derive(Debug)]
pub struct TsMuxer {
    pat_cc: ContinuityCounter,
    pmt_cc: ContinuityCounter,
    video_cc: ContinuityCounter,
    audio_cc: ContinuityCounter,
    /// The PMT lists an ADTS AAC stream on [`AUDIO_PID`].
    audio: bool,
    /// Last audio PES PTS written (either audio method).
    last_audio_pts: Option<u64>,
    /// Capture time (µs) of the stream's first frame: the timeline's zero.
    origin_us: Option<i64>,
    last_us: Option<i64>,
    /// Last PTS written by [`TsMuxer::write_access_unit_at_pts`].
    last_pts: Option<u64>,
}

impl Default for TsMuxer {
    fn default() -> Self {
        Self::new()
    }
}

fn packet_err(e: mpeg2ts::Error) -> Error {
    Error::Mux(super::packet_error(&e))
}

impl TsMuxer {
    /// A muxer for one H.264 stream.
    pub fn new() -> Self {
        Self {
            pat_cc: ContinuityCounter::new(),
            pmt_cc: ContinuityCounter::new(),
            video_cc: ContinuityCounter::new(),
            audio_cc: ContinuityCounter::new(),
            audio: false,
            last_audio_pts: None,
            origin_us: None,
            last_us: None,
            last_pts: None,
        }
    }

    /// A muxer for one H.264 stream and one ADTS AAC stream (stream type 0x0F on
    /// [`AUDIO_PID`]); the PCR stays on the video PID.
    pub fn with_audio() -> Self {
        Self { audio: true, ..Self::new() }
    }

    /// True when the PMT lists an audio stream.
    pub fn has_audio(&self) -> bool {
        self.audio
    }

    /// The 90 kHz timestamp (already offset and wrapped to 33 bits) of a capture time.
    pub fn pts_of(&self, timestamp_us: i64) -> u64 {
        let origin = self.origin_us.unwrap_or(timestamp_us);
        let elapsed_us = (timestamp_us - origin).max(0) as u64;
        (PTS_OFFSET + (elapsed_us * CLOCK_HZ + 500_000) / 1_000_000) % PTS_MODULO
    }

    /// Writes the PAT and PMT: call at the start of every segment so it decodes alone.
    pub fn write_tables(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let pmt_pid = Pid::new(PMT_PID).map_err(packet_err)?;
        let video_pid = Pid::new(VIDEO_PID).map_err(packet_err)?;
        let mut es_info = vec![EsInfo { stream_type: StreamType::H264, elementary_pid: video_pid, descriptors: vec![] }];
        if self.audio {
            let audio_pid = Pid::new(AUDIO_PID).map_err(packet_err)?;
            es_info.push(EsInfo { stream_type: StreamType::AdtsAac, elementary_pid: audio_pid, descriptors: vec![] });
        }
        let pat = TsPacket {
            header: header(Pid::new(0).map_err(packet_err)?, &mut self.pat_cc),
            adaptation_field: None,
            payload: Some(TsPayload::Pat(Pat {
                transport_stream_id: 1,
                version_number: VersionNumber::new(),
                table: vec![ProgramAssociation { program_num: 1, program_map_pid: pmt_pid }],
            })),
        };
        let pmt = TsPacket {
            header: header(pmt_pid, &mut self.pmt_cc),
            adaptation_field: None,
            payload: Some(TsPayload::Pmt(Pmt {
                program_num: 1,
                pcr_pid: Some(video_pid),
                version_number: VersionNumber::new(),
                program_info: vec![],
                es_info,
            })),
        };
        let mut writer = TsPacketWriter::new(out);
        writer.write_ts_packet(&pat).map_err(packet_err)?;
        writer.write_ts_packet(&pmt).map_err(packet_err)?;
        Ok(())
    }

    /// Writes one access unit (Annex-B, one frame) captured at `timestamp_us`.
    /// Timestamps must not go backwards; equal timestamps are refused too, since two
    /// frames cannot share a presentation time.
    pub fn write_access_unit(&mut self, annex_b: &[u8], keyframe: bool, timestamp_us: i64, out: &mut Vec<u8>) -> Result<(), Error> {
        if annex_b.is_empty() {
            return Err(Error::Mux("empty access unit".into()));
        }
        if let Some(last) = self.last_us {
            if timestamp_us <= last {
                return Err(Error::Mux(format!("timestamp {timestamp_us} µs does not follow {last} µs")));
            }
        }
        self.origin_us.get_or_insert(timestamp_us);
        self.last_us = Some(timestamp_us);
        let pts = self.pts_of(timestamp_us);
        self.write_pes(annex_b, keyframe, pts, out)
    }

    /// Writes one access unit at an explicit 90 kHz presentation time, for remuxing a
    /// stream whose timeline must be kept (a transcoder's renditions carry their source's
    /// PTS so players can switch between them). `pts` is taken modulo 2^33 and must move
    /// forward from the previous call's (a step of less than 2^32 ticks forward counts as
    /// forward, so the 33-bit wrap is fine). The PCR leads the PTS as with
    /// [`TsMuxer::write_access_unit`]. Use one of the two methods per muxer, not both.
    pub fn write_access_unit_at_pts(&mut self, annex_b: &[u8], keyframe: bool, pts: u64, out: &mut Vec<u8>) -> Result<(), Error> {
        if annex_b.is_empty() {
            return Err(Error::Mux("empty access unit".into()));
        }
        if self.origin_us.is_some() {
            return Err(Error::Mux("this muxer already runs on capture times (write_access_unit)".into()));
        }
        let pts = pts % PTS_MODULO;
        if let Some(last) = self.last_pts {
            let step = (pts + PTS_MODULO - last) % PTS_MODULO;
            if step == 0 || step >= PTS_MODULO / 2 {
                return Err(Error::Mux(format!("PTS {pts} does not follow {last}")));
            }
        }
        self.last_pts = Some(pts);
        self.write_pes(annex_b, keyframe, pts, out)
    }

    /// Writes one or more whole ADTS AAC frames as one audio PES whose PTS is the first
    /// frame's capture time `timestamp_us`, on the video's timeline: call
    /// [`TsMuxer::write_access_unit`] first (audio before the first video frame has no
    /// place on it). Timestamps must move forward.
    pub fn write_audio(&mut self, adts: &[u8], timestamp_us: i64, out: &mut Vec<u8>) -> Result<(), Error> {
        let Some(origin) = self.origin_us else {
            return Err(Error::Mux("audio before the first video frame".into()));
        };
        if timestamp_us < origin {
            return Err(Error::Mux(format!("audio at {timestamp_us} µs is before the first video frame ({origin} µs)")));
        }
        let pts = self.pts_of(timestamp_us);
        self.write_audio_at_pts(adts, pts, out)
    }

    /// Writes whole ADTS frames as one audio PES at an explicit 90 kHz PTS (a transcoder
    /// copying its source's audio). `pts` must move forward from the previous audio PES's,
    /// as with [`TsMuxer::write_access_unit_at_pts`]. The payload is checked to be whole
    /// ADTS frames and written untouched.
    pub fn write_audio_at_pts(&mut self, adts: &[u8], pts: u64, out: &mut Vec<u8>) -> Result<(), Error> {
        if !self.audio {
            return Err(Error::Mux("this muxer has no audio stream (TsMuxer::with_audio)".into()));
        }
        let (frames, left) = crate::adts::frames(adts);
        if frames.is_empty() || left != 0 {
            return Err(Error::Mux(format!("audio payload of {} bytes is not whole ADTS frames", adts.len())));
        }
        // PES_packet_length is 16 bits and counts the 8 header bytes after it.
        if adts.len() > usize::from(u16::MAX) - 8 {
            return Err(Error::Mux(format!("audio PES of {} bytes is too long", adts.len())));
        }
        let pts = pts % PTS_MODULO;
        if let Some(last) = self.last_audio_pts {
            let step = (pts + PTS_MODULO - last) % PTS_MODULO;
            if step == 0 || step >= PTS_MODULO / 2 {
                return Err(Error::Mux(format!("audio PTS {pts} does not follow {last}")));
            }
        }
        self.last_audio_pts = Some(pts);
        let audio_pid = Pid::new(AUDIO_PID).map_err(packet_err)?;
        let pes_header = PesHeader {
            stream_id: StreamId::new(StreamId::AUDIO_MIN),
            priority: false,
            data_alignment_indicator: true,
            copyright: false,
            original_or_copy: false,
            pts: Some(Timestamp::new(pts).map_err(packet_err)?),
            dts: None,
            escr: None,
        };
        // First packet: 4-byte header and the 14-byte PES header (PTS), no adaptation field.
        const FIRST_PAYLOAD: usize = 188 - 4 - 14;
        let (first, rest) = adts.split_at(FIRST_PAYLOAD.min(adts.len()));
        let mut writer = TsPacketWriter::new(out);
        writer
            .write_ts_packet(&TsPacket {
                header: header(audio_pid, &mut self.audio_cc),
                adaptation_field: None,
                payload: Some(TsPayload::PesStart(Pes {
                    header: pes_header,
                    pes_packet_len: (adts.len() + 8) as u16,
                    data: Bytes::new(first).map_err(packet_err)?,
                })),
            })
            .map_err(packet_err)?;
        write_continuation(&mut writer, audio_pid, &mut self.audio_cc, rest)
    }

    /// One PES packet for an access unit at `pts` (already wrapped), PCR on its first packet.
    fn write_pes(&mut self, annex_b: &[u8], keyframe: bool, pts: u64, out: &mut Vec<u8>) -> Result<(), Error> {
        let pcr_base = (pts + PTS_MODULO - PCR_LEAD) % PTS_MODULO;

        let mut es = Vec::with_capacity(annex_b.len() + ACCESS_UNIT_DELIMITER.len());
        es.extend_from_slice(&ACCESS_UNIT_DELIMITER);
        es.extend_from_slice(annex_b);

        let video_pid = Pid::new(VIDEO_PID).map_err(packet_err)?;
        let pes_header = PesHeader {
            stream_id: StreamId::new(StreamId::VIDEO_MIN),
            priority: false,
            data_alignment_indicator: true,
            copyright: false,
            original_or_copy: false,
            pts: Some(Timestamp::new(pts).map_err(packet_err)?),
            dts: None, // no B-frames: DTS equals PTS and is left out
            escr: None,
        };
        let adaptation = AdaptationField {
            discontinuity_indicator: false,
            random_access_indicator: keyframe,
            es_priority_indicator: false,
            pcr: Some(ClockReference::new(pcr_base * 300).map_err(packet_err)?),
            opcr: None,
            splice_countdown: None,
            transport_private_data: vec![],
            extension: None,
        };
        // First packet: 4-byte header, adaptation field with PCR (8 bytes), PES header
        // (9 + 5 bytes for the PTS); the rest of the 188 bytes is payload.
        const FIRST_PAYLOAD: usize = 188 - 4 - 8 - 14;
        let (first, rest) = es.split_at(FIRST_PAYLOAD.min(es.len()));
        let mut writer = TsPacketWriter::new(out);
        writer
            .write_ts_packet(&TsPacket {
                header: header(video_pid, &mut self.video_cc),
                adaptation_field: Some(adaptation),
                payload: Some(TsPayload::PesStart(Pes {
                    header: pes_header,
                    pes_packet_len: 0, // unbounded, as usual for video
                    data: Bytes::new(first).map_err(packet_err)?,
                })),
            })
            .map_err(packet_err)?;
        write_continuation(&mut writer, video_pid, &mut self.video_cc, rest)
    }
}

/// The rest of a PES after its first packet, as continuation packets on `pid` (the
/// writer stuffs a short last packet).
fn write_continuation(
    writer: &mut TsPacketWriter<&mut Vec<u8>>,
    pid: Pid,
    cc: &mut ContinuityCounter,
    mut rest: &[u8],
) -> Result<(), Error> {
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(Bytes::MAX_SIZE.min(rest.len()));
        rest = tail;
        writer
            .write_ts_packet(&TsPacket {
                header: header(pid, cc),
                adaptation_field: None,
                payload: Some(TsPayload::PesContinuation(Bytes::new(chunk).map_err(packet_err)?)),
            })
            .map_err(packet_err)?;
    }
    Ok(())
}

/// A packet header for `pid`, taking the PID's next continuity counter.
fn header(pid: Pid, cc: &mut ContinuityCounter) -> TsHeader {
    let header = TsHeader {
        transport_error_indicator: false,
        transport_priority: false,
        pid,
        transport_scrambling_control: TransportScramblingControl::NotScrambled,
        continuity_counter: *cc,
    };
    cc.increment();
    header
}
