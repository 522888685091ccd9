//! AAC audio from a transport stream: ADTS frames (what ffmpeg's MPEG-TS muxer writes by
//! default) out of the audio PES packets, with the configuration an `mp4a` sample entry needs.
//! The ADTS header is seven or nine bytes of fixed fields (ISO/IEC 13818-7 §6.2), read by hand.

use crate::Error;
use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::TsPacketReader;

/// MPEG-4 sampling frequency indices (ISO/IEC 14496-3 table 1.18).
const SAMPLE_RATES: [u32; 13] = [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350];
/// PCM samples in one AAC frame.
pub(super) const SAMPLES_PER_FRAME: u32 = 1024;

/// An AAC stream's configuration, from its ADTS headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AudioConfig {
    /// MPEG-4 audio object type (2 = AAC-LC).
    pub object_type: u8,
    /// Sampling frequency index.
    pub freq_index: u8,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel configuration.
    pub channels: u8,
}

impl AudioConfig {
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub fn codec(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

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

/// Parses the ADTS header at the start of `data`: (header length, frame length, config),
/// or `None` if there is no whole, valid ADTS frame there.
fn adts_header(data: &[u8]) -> Option<(usize, usize, AudioConfig)> {
    if data.len() < 7 || data[0] != 0xFF || data[1] & 0xF6 != 0xF0 {
        return None;
    }
    let header = if data[1] & 1 == 1 { 7 } else { 9 };
    let object_type = (data[2] >> 6) + 1;
    let freq_index = (data[2] >> 2) & 0x0F;
    let channels = ((data[2] & 1) << 2) | (data[3] >> 6);
    let frame_len = (usize::from(data[3] & 3) << 11) | (usize::from(data[4]) << 3) | usize::from(data[5] >> 5);
    let sample_rate = *SAMPLE_RATES.get(usize::from(freq_index))?;
    if frame_len <= header || frame_len > data.len() || data[6] & 3 != 0 {
        return None;
    }
    Some((header, frame_len, AudioConfig { object_type, freq_index, sample_rate, channels }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_adts_headers_and_refuses_partial_frames() {
        // AAC-LC, 48 kHz (index 3), stereo, 10-byte frame, no CRC.
        let frame = [0xFF, 0xF1, 0x4C, 0x80, 0x01, 0x5F, 0xFC, 0xAA, 0xBB, 0xCC];
        let (header, len, config) = adts_header(&frame).unwrap();
        assert_eq!((header, len), (7, 10));
        assert_eq!(config, AudioConfig { object_type: 2, freq_index: 3, sample_rate: 48_000, channels: 2 });
        assert_eq!(config.codec(), "mp4a.40.2");
        assert!(adts_header(&frame[..9]).is_none());
        assert!(adts_header(&[0xFF, 0xF1, 0x7C, 0x80, 0x01, 0x5F, 0xFC, 0, 0, 0]).is_none(), "frequency index 15");
        assert!(adts_header(&[0x47; 10]).is_none());
    }
}
