//! The audio side of a transport stream: ADTS AAC PES packets out, and the checks that
//! decide what audio a segment may carry.
//!
//! Livecast carries AAC as ADTS in PES (stream type 0x0F), the form every HLS player takes.
//! A segment whose program lists any other audio (MPEG-1/2 audio, AC-3, E-AC-3, DTS, LPCM,
//! AAC in LATM, Opus) is refused with [`Error::UnsupportedAudio`] rather than passed on: a
//! rendition could not copy it into a form the players read, and the master playlist could
//! not name it.

use super::invalid;
use crate::adts::{self, AudioConfig};
use crate::Error;
use mpeg2ts::es::{StreamId, StreamType};
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};

/// One audio PES packet: its PTS and its payload (whole ADTS frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPes {
    /// Presentation time of the first frame, 90 kHz.
    pub pts: u64,
    /// The PES payload, untouched.
    pub data: Vec<u8>,
}

/// What a segment's AAC audio holds.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// RFC 6381 codec string from the ADTS headers, e.g. `mp4a.40.2`.
    pub codec: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// ADTS channel configuration.
    pub channels: u8,
    /// Number of AAC frames.
    pub frames: u32,
    /// PTS of the first frame, 90 kHz.
    pub first_pts: u64,
    /// The frames' total duration in seconds (1024 samples each).
    pub duration_secs: f64,
    /// Total bytes of the audio PES payloads (for bit-rate accounting).
    pub bytes: u64,
}

/// The audio PES packets of the segment's first audio stream (PES stream ids 0xC0–0xDF;
/// a second audio stream, which Livecast never writes, is left out), in stream order.
pub fn demux_audio(data: &[u8]) -> Result<Vec<AudioPes>, Error> {
    let mut audio = FirstAudio::default();
    super::for_each_pes(data, |packet| {
        audio.take(packet);
        Ok(())
    })?;
    audio.finish()
}

/// Collects the PES packets of the first audio stream as they come; an audio packet that
/// is wrong is reported by [`FirstAudio::finish`], so a caller that finds the segment
/// carries no AAC (or other audio, or bad video) can report that first, as it would have
/// before reading any audio.
#[derive(Default)]
pub(super) struct FirstAudio {
    stream: Option<u8>,
    packets: Vec<AudioPes>,
    error: Option<Error>,
}

impl FirstAudio {
    /// Keeps `packet` if it belongs to the first audio stream; hands back what is not audio.
    pub(super) fn take(&mut self, packet: mpeg2ts::pes::PesPacket<Vec<u8>>) -> Option<mpeg2ts::pes::PesPacket<Vec<u8>>> {
        let id = packet.header.stream_id.as_u8();
        if !(StreamId::AUDIO_MIN..=StreamId::AUDIO_MAX).contains(&id) {
            return Some(packet);
        }
        if *self.stream.get_or_insert(id) != id || self.error.is_some() {
            return None;
        }
        match packet.header.pts {
            Some(pts) => self.packets.push(AudioPes { pts: pts.as_u64(), data: packet.data }),
            None => self.error = Some(invalid("an audio PES has no PTS")),
        }
        None
    }

    /// The packets, or the first error among them.
    pub(super) fn finish(self) -> Result<Vec<AudioPes>, Error> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.packets),
        }
    }
}

/// A PMT entry: its stream type and descriptors (tag, bytes).
type ProgramStream = (StreamType, Vec<(u8, Vec<u8>)>);

/// The stream types the segment's PMT lists, with each stream's descriptors.
fn program_streams(data: &[u8]) -> Result<Vec<ProgramStream>, Error> {
    let mut reader = TsPacketReader::new(data);
    loop {
        match reader.read_ts_packet() {
            Ok(Some(packet)) => {
                if let Some(TsPayload::Pmt(pmt)) = packet.payload {
                    return Ok(pmt
                        .es_info
                        .into_iter()
                        .map(|es| (es.stream_type, es.descriptors.into_iter().map(|d| (d.tag, d.data)).collect()))
                        .collect());
                }
            }
            Ok(None) => return Ok(Vec::new()),
            Err(e) => return Err(invalid(super::packet_error(&e))),
        }
    }
}

/// The name of a non-AAC audio stream type, `None` for AAC in ADTS and for what is not audio.
fn other_audio(stream_type: StreamType, descriptors: &[(u8, Vec<u8>)]) -> Option<String> {
    use StreamType::*;
    let name = match stream_type {
        Mpeg1Audio | Mpeg2HalvedSampleRateAudio => "MPEG-1/2 audio (MP2/MP3)",
        Mpeg4LoasMultiFormatFramedAudio => "AAC in LATM/LOAS",
        PcmAudio => "LPCM",
        DolbyDigitalUpToSixChannelAudio => "AC-3",
        DolbyDigitalPlusUpTo16ChannelAudio | DolbyDigitalPlusUpTo16ChannelAudioForAtsc => "E-AC-3",
        DolbyTrueHdLosslessAudio => "Dolby TrueHD",
        Dts6ChannelAudio | Dts8ChannelAudio | Dts8ChannelLosslessAudio => "DTS",
        // Private data (0x06): DVB carries AC-3, E-AC-3 and Opus so, named by a descriptor.
        Mpeg2PacketizedData => {
            return descriptors.iter().find_map(|(tag, data)| match (tag, data.as_slice()) {
                (0x6A, _) | (0x05, b"AC-3") => Some("AC-3".to_owned()),
                (0x7A, _) | (0x05, b"EAC3") => Some("E-AC-3".to_owned()),
                (0x7B, _) | (0x05, b"DTS1" | b"DTS2" | b"DTS3") => Some("DTS".to_owned()),
                (0x05, b"Opus") => Some("Opus".to_owned()),
                _ => None,
            })
        }
        _ => return None,
    };
    Some(format!("{name} (stream type {:#04x})", stream_type as u8))
}

/// Checks the segment's audio and reads its facts: `Ok(None)` when it carries no audio
/// frames, [`Error::UnsupportedAudio`] when its program lists audio other than ADTS AAC,
/// [`Error::InvalidTransportStream`] when an AAC PES is not whole ADTS frames of one
/// configuration.
pub fn probe_audio(data: &[u8]) -> Result<Option<AudioInfo>, Error> {
    if !carries_aac(data)? {
        return Ok(None);
    }
    audio_info(&demux_audio(data)?)
}

/// Whether the segment's program lists ADTS AAC; [`Error::UnsupportedAudio`] when it lists
/// any other audio. Reads only up to the PMT.
pub(super) fn carries_aac(data: &[u8]) -> Result<bool, Error> {
    let streams = program_streams(data)?;
    if let Some(name) = streams.iter().find_map(|(t, d)| other_audio(*t, d)) {
        return Err(Error::UnsupportedAudio(name));
    }
    Ok(streams.iter().any(|(t, _)| *t == StreamType::AdtsAac))
}

/// [`probe_audio`]'s checks and facts over audio PES packets already demuxed.
pub(super) fn audio_info(packets: &[AudioPes]) -> Result<Option<AudioInfo>, Error> {
    let mut config: Option<AudioConfig> = None;
    let (mut frames, mut bytes) = (0u32, 0u64);
    for (i, pes) in packets.iter().enumerate() {
        let (found, left) = adts::frames(&pes.data);
        if found.is_empty() || left != 0 {
            return Err(invalid(format!("audio PES {i} is not whole ADTS frames ({left} bytes left over)")));
        }
        for (header, _) in &found {
            if *config.get_or_insert(header.config) != header.config {
                return Err(invalid(format!("audio PES {i} changes the AAC configuration inside the segment")));
            }
        }
        frames += found.len() as u32;
        bytes += pes.data.len() as u64;
    }
    let (Some(config), Some(first)) = (config, packets.first()) else { return Ok(None) };
    Ok(Some(AudioInfo {
        codec: config.codec(),
        sample_rate: config.sample_rate,
        channels: config.channels,
        frames,
        first_pts: first.pts,
        duration_secs: f64::from(frames) * f64::from(adts::SAMPLES_PER_FRAME) / f64::from(config.sample_rate),
        bytes,
    }))
}
