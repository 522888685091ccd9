//! ADTS: the framing of AAC in MPEG-TS (ISO/IEC 13818-7 §6.2, ISO/IEC 14496-3 §1.A.2).
//!
//! Each AAC frame travels behind a 7-byte header (9 with a CRC) of fixed fields: object
//! type, sampling frequency index, channel configuration, frame length. The muxer checks
//! what it is handed, the relay and transcoder read a segment's audio facts, the fMP4
//! transmuxer takes the raw frames out. The header is a few bit fields, read by hand.

/// MPEG-4 sampling frequency indices (ISO/IEC 14496-3 table 1.18).
pub const SAMPLE_RATES: [u32; 13] =
    [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350];
/// PCM samples in one AAC frame (per channel).
pub const SAMPLES_PER_FRAME: u32 = 1024;

/// An AAC stream's configuration, from its ADTS headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioConfig {
    /// MPEG-4 audio object type (2 = AAC-LC).
    pub object_type: u8,
    /// Sampling frequency index.
    pub freq_index: u8,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel configuration (1 = mono, 2 = stereo; 0 = defined in the stream).
    pub channels: u8,
}

impl AudioConfig {
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub fn codec(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Duration of one AAC frame in 90 kHz ticks (not a whole number at 44.1 kHz).
    pub fn frame_ticks(&self) -> f64 {
        f64::from(SAMPLES_PER_FRAME) * 90_000.0 / f64::from(self.sample_rate)
    }

    /// Duration of one AAC frame in µs.
    pub fn frame_us(&self) -> f64 {
        f64::from(SAMPLES_PER_FRAME) * 1e6 / f64::from(self.sample_rate)
    }
}

/// One ADTS frame's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// Header length: 7, or 9 with a CRC.
    pub header_len: usize,
    /// Whole frame length, header included.
    pub frame_len: usize,
    /// The stream configuration it declares.
    pub config: AudioConfig,
}

/// Parses the ADTS header at the start of `data`, or `None` if there is no whole, valid
/// ADTS frame there (wrong sync word, reserved frequency index, truncated frame, or more
/// than one raw data block, which no AAC-LC encoder writes).
pub fn parse_header(data: &[u8]) -> Option<AdtsHeader> {
    if data.len() < 7 || data[0] != 0xFF || data[1] & 0xF6 != 0xF0 {
        return None;
    }
    let header_len = if data[1] & 1 == 1 { 7 } else { 9 };
    let object_type = (data[2] >> 6) + 1;
    let freq_index = (data[2] >> 2) & 0x0F;
    let channels = ((data[2] & 1) << 2) | (data[3] >> 6);
    let frame_len = (usize::from(data[3] & 3) << 11) | (usize::from(data[4]) << 3) | usize::from(data[5] >> 5);
    let sample_rate = *SAMPLE_RATES.get(usize::from(freq_index))?;
    if frame_len <= header_len || frame_len > data.len() || data[6] & 3 != 0 {
        return None;
    }
    Some(AdtsHeader { header_len, frame_len, config: AudioConfig { object_type, freq_index, sample_rate, channels } })
}

/// Splits `data` into whole ADTS frames: `(header, frame bytes)` each. Stops at the first
/// byte that does not start a valid frame; the second value is how many bytes were left.
pub fn frames(data: &[u8]) -> (Vec<(AdtsHeader, &[u8])>, usize) {
    let mut rest = data;
    let mut out = Vec::new();
    while let Some(header) = parse_header(rest) {
        let (frame, tail) = rest.split_at(header.frame_len);
        out.push((header, frame));
        rest = tail;
    }
    (out, rest.len())
}

/// A 7-byte ADTS header (no CRC) for a raw AAC frame of `payload_len` bytes, or `None` when
/// the frame is too long for ADTS (13-bit length) or the configuration cannot be written.
pub fn header_for(config: &AudioConfig, payload_len: usize) -> Option<[u8; 7]> {
    let len = payload_len + 7;
    if len >= 1 << 13 || !(1..=4).contains(&config.object_type) || config.freq_index > 12 || config.channels > 7 {
        return None;
    }
    let profile = config.object_type - 1;
    Some([
        0xFF,
        0xF1, // MPEG-4, layer 0, no CRC
        (profile << 6) | (config.freq_index << 2) | (config.channels >> 2),
        ((config.channels & 3) << 6) | (len >> 11) as u8,
        (len >> 3) as u8,
        (((len & 7) as u8) << 5) | 0x1F, // buffer fullness 0x7FF: variable rate
        0xFC,                            // one raw data block
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_adts_headers_and_refuses_partial_frames() {
        // AAC-LC, 48 kHz (index 3), stereo, 10-byte frame, no CRC.
        let frame = [0xFF, 0xF1, 0x4C, 0x80, 0x01, 0x5F, 0xFC, 0xAA, 0xBB, 0xCC];
        let h = parse_header(&frame).unwrap();
        assert_eq!((h.header_len, h.frame_len), (7, 10));
        assert_eq!(h.config, AudioConfig { object_type: 2, freq_index: 3, sample_rate: 48_000, channels: 2 });
        assert_eq!(h.config.codec(), "mp4a.40.2");
        assert!(parse_header(&frame[..9]).is_none());
        assert!(parse_header(&[0xFF, 0xF1, 0x7C, 0x80, 0x01, 0x5F, 0xFC, 0, 0, 0]).is_none(), "frequency index 15");
        assert!(parse_header(&[0x47; 10]).is_none());
    }

    #[test]
    fn written_headers_read_back() {
        let config = AudioConfig { object_type: 2, freq_index: 4, sample_rate: 44_100, channels: 1 };
        let payload = [7u8; 300];
        let mut frame = header_for(&config, payload.len()).unwrap().to_vec();
        frame.extend_from_slice(&payload);
        frame.extend_from_slice(&frame.clone());
        let (found, left) = frames(&frame);
        assert_eq!(left, 0);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, AdtsHeader { header_len: 7, frame_len: 307, config });
        assert!(header_for(&config, 8190).is_none());
        assert!((config.frame_ticks() - 2089.795).abs() < 0.001);
    }
}
