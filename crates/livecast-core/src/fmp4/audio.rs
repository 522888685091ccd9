//! AAC audio from a transport stream: ADTS frames (what ffmpeg's MPEG-TS muxer writes by
//! default) out of the audio PES packets, with the configuration an `mp4a` sample entry needs.
//! The ADTS header itself is read by [`crate::adts`].

use crate::Error;
use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::TsPacketReader;

pub(super) use crate::adts::{AudioConfig, SAMPLES_PER_FRAME};

/// One raw AAC frame (ADTS header removed) and its 90 kHz PTS (33-bit, as in the stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AudioFrame {
    pub pts: u64,
    pub data: Vec<u8>,
}

/// The AAC frames of a segment's first audio stream, with its configuration (`None` when
/// the segment has no ADTS audio). Partial frames at the end of a PES are dropped.
pub(super) fn demux_audio(ts: &[u8]) -> Result<(Option<AudioConfig>, Vec<AudioFrame>), Error> {
    let mut reader = PesPacketReader::new(TsPacketReader::new(ts));
    let mut config = None;
    let mut frames = Vec::new();
    loop {
        let packet = match reader.read_pes_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(Error::InvalidTransportStream(e.to_string().lines().next().unwrap_or_default().to_string())),
        };
        let id = packet.header.stream_id.as_u8();
        if !(0xC0..=0xDF).contains(&id) {
            continue;
        }
        let Some(pts) = packet.header.pts.map(|p| p.as_u64()) else { continue };
        let mut rest = &packet.data[..];
        let mut index = 0u64;
        while let Some((header, frame_len, found)) = adts_header(rest) {
            if *config.get_or_insert(found) != found {
                break; // a second audio configuration in one segment: keep the first
            }
            let offset = index * u64::from(SAMPLES_PER_FRAME) * 90_000 / u64::from(found.sample_rate);
            frames.push(AudioFrame { pts: (pts + offset) % (1 << 33), data: rest[header..frame_len].to_vec() });
            rest = &rest[frame_len..];
            index += 1;
        }
    }
    Ok((config, frames))
}

/// (header length, frame length, config) of the ADTS frame at the start of `data`.
fn adts_header(data: &[u8]) -> Option<(usize, usize, AudioConfig)> {
    crate::adts::parse_header(data).map(|h| (h.header_len, h.frame_len, h.config))
}
