//! Reading H.264 Annex-B bitstreams: NAL units split at start codes, their types, and
//! the few SPS fields Livecast checks (profile, constraints, level).
//!
//! Hand-written because it is a few lines of byte scanning; the crates that parse H.264
//! fully (h264-reader) are far larger than what splitting and typing NAL units needs.

/// H.264 NAL unit types Livecast cares about (ITU-T H.264 table 7-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalType {
    /// Coded slice of a non-IDR picture (1).
    Slice,
    /// Coded slice of an IDR picture (5).
    IdrSlice,
    /// Supplemental enhancement information (6).
    Sei,
    /// Sequence parameter set (7).
    Sps,
    /// Picture parameter set (8).
    Pps,
    /// Access unit delimiter (9).
    AccessUnitDelimiter,
    /// Any other type, with its number.
    Other(u8),
}

impl NalType {
    /// The type of a NAL unit from its first (header) byte.
    pub fn from_header(byte: u8) -> Self {
        match byte & 0x1f {
            1 => Self::Slice,
            5 => Self::IdrSlice,
            6 => Self::Sei,
            7 => Self::Sps,
            8 => Self::Pps,
            9 => Self::AccessUnitDelimiter,
            other => Self::Other(other),
        }
    }
}

/// Iterates over the NAL units of an Annex-B stream, without their start codes.
/// Bytes before the first start code are skipped.
pub fn nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = match find_start_code(stream) {
        Some((_, after)) => &stream[after..],
        None => &stream[stream.len()..],
    };
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (unit, next) = match find_start_code(rest) {
            Some((at, after)) => (&rest[..at], &rest[after..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        // A 4-byte start code leaves its leading zero on the previous unit: trim it.
        let end = unit.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        Some(&unit[..end])
    })
    .filter(|unit| !unit.is_empty())
}

/// Position of the first `00 00 01` and the index just after it.
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    data.windows(3).position(|w| w == [0, 0, 1]).map(|i| (i, i + 3))
}

/// The types of the NAL units in a stream, in order.
pub fn nal_types(stream: &[u8]) -> Vec<NalType> {
    nal_units(stream).map(|u| NalType::from_header(u[0])).collect()
}

/// True when the access unit holds an IDR slice.
pub fn is_keyframe(access_unit: &[u8]) -> bool {
    nal_types(access_unit).contains(&NalType::IdrSlice)
}

/// True when the access unit holds an IDR slice with an SPS and a PPS before it, so a
/// decoder can start from it alone.
pub fn starts_decodable(access_unit: &[u8]) -> bool {
    let types = nal_types(access_unit);
    let Some(idr) = types.iter().position(|&t| t == NalType::IdrSlice) else { return false };
    types[..idr].contains(&NalType::Sps) && types[..idr].contains(&NalType::Pps)
}

/// Profile, constraint flags and level from a sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsProfile {
    /// `profile_idc` (66 = Baseline, 77 = Main, 100 = High).
    pub profile_idc: u8,
    /// The `constraint_set0..5` flags byte.
    pub constraints: u8,
    /// `level_idc` (30 = 3.0, 31 = 3.1, ...).
    pub level_idc: u8,
}

impl SpsProfile {
    /// Reads the first SPS in a stream.
    pub fn find(stream: &[u8]) -> Option<Self> {
        let sps = nal_units(stream).find(|u| NalType::from_header(u[0]) == NalType::Sps)?;
        match sps {
            [_, profile_idc, constraints, level_idc, ..] => {
                Some(Self { profile_idc: *profile_idc, constraints: *constraints, level_idc: *level_idc })
            }
            _ => None,
        }
    }

    /// Constrained Baseline: Baseline with `constraint_set1_flag` (decodable by Main).
    pub fn is_constrained_baseline(&self) -> bool {
        self.profile_idc == 66 && self.constraints & 0x40 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = &[
        0xAA, // junk before the first start code
        0, 0, 0, 1, 0x67, 66, 0xC0, 30, 0x11, // SPS, 4-byte start code
        0, 0, 0, 1, 0x68, 0xCE, // PPS
        0, 0, 1, 0x65, 0x88, 0x80, // IDR, 3-byte start code
        0, 0, 0, 1, 0x41, 0x9A, 0x00, // slice ending in a zero byte
    ];

    #[test]
    fn splits_at_three_and_four_byte_start_codes() {
        let units: Vec<&[u8]> = nal_units(STREAM).collect();
        assert_eq!(units, vec![&[0x67, 66, 0xC0, 30, 0x11][..], &[0x68, 0xCE], &[0x65, 0x88, 0x80], &[0x41, 0x9A]]);
        assert_eq!(nal_types(STREAM), vec![NalType::Sps, NalType::Pps, NalType::IdrSlice, NalType::Slice]);
    }

    #[test]
    fn keyframes_and_parameter_sets() {
        assert!(is_keyframe(STREAM));
        assert!(starts_decodable(STREAM));
        let idr_only = &STREAM[15..];
        assert!(is_keyframe(idr_only) && !starts_decodable(idr_only));
        assert!(!is_keyframe(&[0, 0, 1, 0x41, 1]));
        assert!(nal_units(&[]).next().is_none());
        assert!(nal_units(&[1, 2, 3]).next().is_none());
    }

    #[test]
    fn reads_sps_profile() {
        let p = SpsProfile::find(STREAM).unwrap();
        assert_eq!(p, SpsProfile { profile_idc: 66, constraints: 0xC0, level_idc: 30 });
        assert!(p.is_constrained_baseline());
        assert!(SpsProfile::find(&[0, 0, 1, 0x67, 66]).is_none());
    }
}
