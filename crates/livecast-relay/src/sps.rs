//! What the relay reads from a segment's H.264 sequence parameter set: the coded picture
//! size (after cropping) and the profile/level that make the HLS `CODECS` string.
//!
//! Input comes from transcoder nodes and broadcasters, so every read is bounds-checked and
//! an SPS that does not parse is an error, never a panic.

use livecast_core::annexb::{nal_units, NalType};

/// Largest picture side the relay accepts in an SPS (8K is 7680).
const MAX_SIDE: u64 = 16_384;

/// The parts of an SPS the relay uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High).
    pub profile_idc: u8,
    /// The `constraint_set0..5` flags byte.
    pub constraints: u8,
    /// `level_idc` (31 = 3.1).
    pub level_idc: u8,
    /// Displayed width in pixels (cropping applied).
    pub width: u32,
    /// Displayed height in pixels (cropping applied).
    pub height: u32,
}

impl SpsInfo {
    /// The RFC 6381 codec string, e.g. `avc1.42C01F`.
    pub fn codecs(&self) -> String {
        format!("avc1.{:02X}{:02X}{:02X}", self.profile_idc, self.constraints, self.level_idc)
    }
}

/// The first SPS in an Annex-B access unit, parsed.
pub fn find_sps(access_unit: &[u8]) -> Result<SpsInfo, String> {
    let nal = nal_units(access_unit)
        .find(|u| NalType::from_header(u[0]) == NalType::Sps)
        .ok_or("no SPS in the first access unit")?;
    parse_sps(nal)
}

/// The SPS of the first frame of an MPEG-TS segment.
pub fn segment_sps(ts: &[u8]) -> Result<SpsInfo, String> {
    let units = livecast_core::ts::demux(ts).map_err(|e| e.to_string())?;
    let first = units.first().ok_or("no video frames")?;
    find_sps(&first.data)
}

/// Parses one SPS NAL unit (header byte included, emulation prevention bytes present).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, String> {
    let rbsp = unescape(nal.get(1..).ok_or("empty NAL unit")?);
    let mut r = BitReader { data: &rbsp, pos: 0 };
    let profile_idc = r.bits(8)? as u8;
    let constraints = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(format!("chroma_format_idc {chroma_format_idc}"));
        }
        if chroma_format_idc == 3 {
            r.bits(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bits(1)? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bits(1)?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err(format!("{n} reference frames in the POC cycle"));
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bits(1)?;
    if frame_mbs_only == 0 {
        r.bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.bits(1)?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bits(1)? == 1 {
        (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
    }
    let (sub_w, sub_h) = match chroma_format_idc {
        0 => (1, 1),
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = sub_w;
    let crop_y = sub_h * (2 - frame_mbs_only);
    let coded_w = width_mbs * 16;
    let coded_h = height_map_units * 16 * (2 - frame_mbs_only);
    if coded_w > MAX_SIDE || coded_h > MAX_SIDE {
        return Err(format!("coded size {coded_w}x{coded_h} is absurd"));
    }
    let width = coded_w.checked_sub(crop_x * (left + right)).filter(|&w| w > 0).ok_or("cropping exceeds the width")?;
    let height = coded_h.checked_sub(crop_y * (top + bottom)).filter(|&h| h > 0).ok_or("cropping exceeds the height")?;
    Ok(SpsInfo { profile_idc, constraints, level_idc, width: width as u32, height: height as u32 })
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), String> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`).
fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Result<u64, String> {
        let byte = self.data.get(self.pos / 8).ok_or("SPS is truncated")?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u64::from(bit))
    }

    fn bits(&mut self, n: u32) -> Result<u64, String> {
        (0..n).try_fold(0, |acc, _| Ok(acc << 1 | self.bit()?))
    }

    /// Exp-Golomb unsigned, at most 32 leading zeros.
    fn ue(&mut self) -> Result<u64, String> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err("Exp-Golomb code too long".into());
            }
        }
        Ok((1 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Result<i64, String> {
        let v = self.ue()? as i64;
        Ok(if v % 2 == 1 { (v + 1) / 2 } else { -(v / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_size_and_codecs_from_real_segments() {
        let seg = &crate::test_media::segments()[0];
        let sps = segment_sps(seg).unwrap();
        assert_eq!((sps.width, sps.height), (160, 120));
        assert_eq!(sps.profile_idc, 66);
        assert!(sps.codecs().starts_with("avc1.42"), "{}", sps.codecs());
    }

    #[test]
    fn cropped_1080p() {
        // Baseline 1920x1080: 120x68 macroblocks, cropped by 8 lines at the bottom.
        let sps = [0x67, 0x42, 0xC0, 0x28, 0xDA, 0x01, 0xE0, 0x08, 0x9F, 0x96, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10];
        let info = parse_sps(&sps).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.codecs(), "avc1.42C028");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_sps(&[0x67]).is_err());
        assert!(parse_sps(&[0x67, 0x42, 0, 0x1f]).is_err());
        assert!(parse_sps(&[0x67, 100, 0, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(find_sps(&[0, 0, 1, 0x65, 1, 2]).is_err());
    }
}
