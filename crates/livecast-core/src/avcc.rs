//! H.264 in the `avc` (ISO/IEC 14496-15) layout to Annex-B: what an encoder gives when it
//! emits length-prefixed NAL units with an `AVCDecoderConfigurationRecord` ("avcC") as its
//! description, turned into the start-code stream with in-band SPS/PPS that MPEG-TS
//! carries.
//!
//! WebKit's WebCodecs `VideoEncoder` (WebKitGTK 2.50) ignores `avc: { format: "annexb" }`
//! and always outputs this layout; the Broadcaster converts each chunk with [`to_annexb`].

use crate::annexb::NalType;

/// Why an avcC record or a length-prefixed sample could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvccError {
    /// The `AVCDecoderConfigurationRecord` is truncated or malformed.
    #[error("invalid avcC record: {0}")]
    Record(&'static str),
    /// A sample's NAL length prefix runs past its end.
    #[error("length-prefixed sample is truncated: a {needed}-byte NAL unit at offset {at} of {len} bytes")]
    Truncated {
        /// Where the prefix starts.
        at: usize,
        /// The NAL unit length it announces.
        needed: usize,
        /// The sample's length.
        len: usize,
    },
}

/// What the avcC record says: the NAL length size and the parameter sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// Bytes in each NAL unit's length prefix: 1, 2 or 4.
    pub length_size: usize,
    /// Sequence parameter sets, without start codes.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets, without start codes.
    pub pps: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// Parses an `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1).
    pub fn parse(record: &[u8]) -> Result<Self, AvccError> {
        if record.len() < 7 {
            return Err(AvccError::Record("shorter than 7 bytes"));
        }
        if record[0] != 1 {
            return Err(AvccError::Record("configurationVersion is not 1"));
        }
        let length_size = (record[4] & 0x03) as usize + 1;
        if length_size == 3 {
            return Err(AvccError::Record("lengthSizeMinusOne is 2 (3-byte lengths are not allowed)"));
        }
        let mut at = 5;
        let sets = |at: &mut usize, count: usize| -> Result<Vec<Vec<u8>>, AvccError> {
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                let len_bytes = record.get(*at..*at + 2).ok_or(AvccError::Record("a parameter set length is cut off"))?;
                let len = u16::from_be_bytes([len_bytes[0], len_bytes[1]]) as usize;
                let set = record.get(*at + 2..*at + 2 + len).ok_or(AvccError::Record("a parameter set is cut off"))?;
                if set.is_empty() {
                    return Err(AvccError::Record("an empty parameter set"));
                }
                out.push(set.to_vec());
                *at += 2 + len;
            }
            Ok(out)
        };
        let sps_count = (record[at] & 0x1f) as usize;
        at += 1;
        let sps = sets(&mut at, sps_count)?;
        let pps_count = *record.get(at).ok_or(AvccError::Record("numOfPictureParameterSets is missing"))? as usize;
        at += 1;
        let pps = sets(&mut at, pps_count)?;
        if sps.is_empty() || pps.is_empty() {
            return Err(AvccError::Record("no SPS or no PPS"));
        }
        Ok(Self { length_size, sps, pps })
    }
}

const START: [u8; 4] = [0, 0, 0, 1];

/// The NAL units of a length-prefixed sample, in order.
pub fn length_prefixed_units(sample: &[u8], length_size: usize) -> Result<Vec<&[u8]>, AvccError> {
    let mut units = Vec::new();
    let mut at = 0;
    while at < sample.len() {
        let prefix = sample.get(at..at + length_size).ok_or(AvccError::Truncated { at, needed: length_size, len: sample.len() })?;
        let len = prefix.iter().fold(0usize, |n, &b| (n << 8) | b as usize);
        let start = at + length_size;
        let unit = sample.get(start..start + len).ok_or(AvccError::Truncated { at, needed: len, len: sample.len() })?;
        if !unit.is_empty() {
            units.push(unit);
        }
        at = start + len;
    }
    Ok(units)
}

/// Converts one length-prefixed access unit to Annex-B (4-byte start codes). When it holds
/// an IDR slice and no SPS/PPS of its own, the record's SPS and PPS go in front of it (after
/// an access unit delimiter, if the sample starts with one), so every keyframe decodes on
/// its own as MPEG-TS requires.
pub fn to_annexb(sample: &[u8], config: &AvcConfig) -> Result<Vec<u8>, AvccError> {
    let units = length_prefixed_units(sample, config.length_size)?;
    let types: Vec<NalType> = units.iter().map(|u| NalType::from_header(u[0])).collect();
    let has_idr = types.contains(&NalType::IdrSlice);
    let has_sets = types.contains(&NalType::Sps) && types.contains(&NalType::Pps);
    let sets_bytes: usize = config.sps.iter().chain(&config.pps).map(|s| s.len() + 4).sum();
    let mut out = Vec::with_capacity(sample.len() + units.len() * 4 + sets_bytes);
    let mut sets_pending = has_idr && !has_sets;
    for (unit, kind) in units.iter().zip(&types) {
        if sets_pending && *kind != NalType::AccessUnitDelimiter {
            for set in config.sps.iter().chain(&config.pps) {
                out.extend_from_slice(&START);
                out.extend_from_slice(set);
            }
            sets_pending = false;
        }
        out.extend_from_slice(&START);
        out.extend_from_slice(unit);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annexb::{nal_types, nal_units, starts_decodable};

    const SPS: &[u8] = &[0x67, 0x42, 0xe0, 0x1e, 0x95, 0xa0, 0x50, 0x1e, 0xc8];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33, 0xff];
    const SLICE: &[u8] = &[0x41, 0x9a, 0x02, 0x04];
    const AUD: &[u8] = &[0x09, 0xf0];

    fn record(length_size: u8) -> Vec<u8> {
        let mut r = vec![1, 0x42, 0xe0, 0x1e, 0xfc | (length_size - 1), 0xe1];
        r.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
        r.extend_from_slice(SPS);
        r.push(1);
        r.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
        r.extend_from_slice(PPS);
        r
    }

    fn prefixed(units: &[&[u8]], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for u in units {
            out.extend_from_slice(&(u.len() as u32).to_be_bytes()[4 - size..]);
            out.extend_from_slice(u);
        }
        out
    }

    #[test]
    fn parses_the_record() {
        let c = AvcConfig::parse(&record(4)).unwrap();
        assert_eq!(c, AvcConfig { length_size: 4, sps: vec![SPS.to_vec()], pps: vec![PPS.to_vec()] });
        assert_eq!(AvcConfig::parse(&record(2)).unwrap().length_size, 2);
        assert_eq!(AvcConfig::parse(&record(1)).unwrap().length_size, 1);
    }

    #[test]
    fn refuses_bad_records() {
        assert!(matches!(AvcConfig::parse(&[1, 2, 3]), Err(AvccError::Record(_))));
        let mut v2 = record(4);
        v2[0] = 2;
        assert!(AvcConfig::parse(&v2).is_err());
        let full = record(4);
        for cut in 7..full.len() {
            assert!(AvcConfig::parse(&full[..cut]).is_err(), "cut at {cut} accepted");
        }
        let mut three = record(4);
        three[4] = 0xfe;
        assert!(AvcConfig::parse(&three).is_err());
    }

    #[test]
    fn a_keyframe_gets_sps_and_pps_before_its_idr_and_decodes_on_its_own() {
        for size in [1usize, 2, 4] {
            let config = AvcConfig::parse(&record(size as u8)).unwrap();
            let out = to_annexb(&prefixed(&[IDR], size), &config).unwrap();
            assert_eq!(nal_types(&out), vec![NalType::Sps, NalType::Pps, NalType::IdrSlice], "length size {size}");
            assert!(starts_decodable(&out));
            assert_eq!(nal_units(&out).collect::<Vec<_>>(), vec![SPS, PPS, IDR]);
            assert_eq!(&out[..4], &START);
        }
    }

    #[test]
    fn sets_go_after_an_access_unit_delimiter_and_are_not_doubled() {
        let config = AvcConfig::parse(&record(4)).unwrap();
        let out = to_annexb(&prefixed(&[AUD, IDR], 4), &config).unwrap();
        assert_eq!(nal_types(&out), vec![NalType::AccessUnitDelimiter, NalType::Sps, NalType::Pps, NalType::IdrSlice]);
        let own = to_annexb(&prefixed(&[SPS, PPS, IDR], 4), &config).unwrap();
        assert_eq!(nal_types(&own), vec![NalType::Sps, NalType::Pps, NalType::IdrSlice]);
    }

    #[test]
    fn a_delta_frame_is_only_reframed() {
        let config = AvcConfig::parse(&record(4)).unwrap();
        let out = to_annexb(&prefixed(&[SLICE, SLICE], 4), &config).unwrap();
        assert_eq!(out, [&START[..], SLICE, &START[..], SLICE].concat());
    }

    #[test]
    fn truncated_samples_are_errors_not_panics() {
        let config = AvcConfig::parse(&record(4)).unwrap();
        let good = prefixed(&[IDR], 4);
        for cut in 1..good.len() {
            assert!(matches!(to_annexb(&good[..cut], &config), Err(AvccError::Truncated { .. })), "cut at {cut}");
        }
        assert_eq!(to_annexb(&[], &config).unwrap(), Vec::<u8>::new());
    }
}
