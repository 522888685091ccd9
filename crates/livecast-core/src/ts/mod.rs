//! MPEG-TS for Livecast's H.264 (+ AAC) segments (ISO/IEC 13818-1).
//!
//! - [`TsMuxer`]: access units in, 188-byte packets out: PAT and PMT at the start of each
//!   segment, one PES per access unit with PTS at 90 kHz, PCR on the video PID, continuity
//!   counters, adaptation-field stuffing, random-access flags on IDRs; optionally an ADTS
//!   AAC stream (type 0x0F) on the same clock.
//! - [`Segmenter`]: cuts the muxed stream into segments that each start with an IDR
//!   (SPS/PPS in front), at the first keyframe after the target duration; with audio, it
//!   interleaves both streams by time and gives each AAC frame to exactly one segment.
//! - [`demux`], [`demux_audio`] and [`probe_segment`]: the way back, for the relay,
//!   transcoder and player. Audio other than ADTS AAC is refused by [`probe_segment`].
//!
//! The packet layer (headers, PSI tables with CRC, PES headers, stuffing) is the `mpeg2ts`
//! crate's; what is ours is the timing, the segment structure and the checks.

mod audio;
mod demux;
mod mux;
mod segmenter;

pub use audio::{demux_audio, probe_audio, AudioInfo, AudioPes};
pub use demux::{demux, probe_segment, probe_segment_units, AccessUnit, SegmentInfo};
pub use mux::TsMuxer;
pub use segmenter::{Segment, Segmenter};

#[cfg(test)]
mod tests;

/// The first line of an `mpeg2ts` error, without the source locations it appends.
fn packet_error(e: &mpeg2ts::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.split(" (at ").next().unwrap_or(line).trim().to_string()
}

/// An error for bytes that are not a transport stream Livecast reads.
fn invalid(message: impl Into<String>) -> crate::Error {
    crate::Error::InvalidTransportStream(message.into())
}

/// Hands every PES packet of `data` to `each`, in stream order, after checking that
/// `data` is whole 188-byte packets that each start with the sync byte. The one PES
/// reading loop of [`demux`] and [`demux_audio`].
fn for_each_pes(
    data: &[u8],
    mut each: impl FnMut(mpeg2ts::pes::PesPacket<Vec<u8>>) -> Result<(), crate::Error>,
) -> Result<(), crate::Error> {
    use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
    if data.is_empty() || !data.len().is_multiple_of(PACKET_SIZE) {
        return Err(invalid(format!("{} bytes is not a whole number of 188-byte packets", data.len())));
    }
    if let Some(at) = data.chunks(PACKET_SIZE).position(|p| p[0] != 0x47) {
        return Err(invalid(format!("packet {at} does not start with the 0x47 sync byte")));
    }
    let mut reader = PesPacketReader::new(mpeg2ts::ts::TsPacketReader::new(data));
    while let Some(packet) = reader.read_pes_packet().map_err(|e| invalid(packet_error(&e)))? {
        each(packet)?;
    }
    Ok(())
}

/// MPEG-TS packet size in bytes.
pub const PACKET_SIZE: usize = 188;
/// The PID of our program map table.
pub const PMT_PID: u16 = 0x1000;
/// The PID of our H.264 video stream (also carries the PCR).
pub const VIDEO_PID: u16 = 0x100;
/// The PID of our ADTS AAC audio stream, when there is one.
pub const AUDIO_PID: u16 = 0x101;
/// MPEG-TS clock: 90 kHz.
pub const CLOCK_HZ: u64 = 90_000;
