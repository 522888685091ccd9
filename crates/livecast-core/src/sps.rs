//! Just enough of an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1): picture size
//! (after cropping), profile, constraints and level (the HLS `CODECS` string), chroma
//! format, bit depth and reference frame count. The transcoder refuses absurd streams with
//! it before decoding; the relay checks renditions and writes master playlists with it.
//!
//! Input comes from the network, so every read is bounds-checked and an SPS that does not
//! parse is an error, never a panic. Hand-written: these few fields are all Livecast reads.

use crate::annexb::{nal_units, NalType};
use crate::Error;

/// What a sequence parameter set claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High).
    pub profile_idc: u8,
    /// The `constraint_set0..5` flags byte.
    pub constraints: u8,
    /// `level_idc` (31 = 3.1).
    pub level_idc: u8,
    /// Width in pixels after cropping.
    pub width: u32,
    /// Height in pixels after cropping.
    pub height: u32,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u32,
    /// Luma bit depth.
    pub bit_depth: u32,
    /// `max_num_ref_frames`.
    pub max_num_ref_frames: u32,
}

impl SpsInfo {
    /// The RFC 6381 codec string, e.g. `avc1.42C01F`.
    pub fn codecs(&self) -> String {
        format!("avc1.{:02X}{:02X}{:02X}", self.profile_idc, self.constraints, self.level_idc)
    }
}

/// The first SPS in an Annex-B access unit, parsed.
pub fn find_sps(access_unit: &[u8]) -> Result<SpsInfo, Error> {
    let nal = nal_units(access_unit)
        .find(|u| NalType::from_header(u[0]) == NalType::Sps)
        .ok_or_else(|| Error::InvalidSps("no SPS in the access unit".into()))?;
    parse_sps(nal)
}

/// The SPS of the first frame of an MPEG-TS segment.
pub fn segment_sps(ts: &[u8]) -> Result<SpsInfo, Error> {
    let units = crate::ts::demux(ts)?;
    let first = units.first().ok_or_else(|| Error::InvalidSps("no video frames".into()))?;
    find_sps(&first.data)
}

/// Reads bits MSB first out of an RBSP (emulation prevention bytes removed).
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn bit(&mut self) -> Result<u32, String> {
        let byte = *self.data.get(self.pos / 8).ok_or("SPS ends early")?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Result<u32, String> {
        (0..n).try_fold(0, |acc, _| Ok((acc << 1) | self.bit()?))
    }

    /// Unsigned Exp-Golomb; values past 2^32 - 2 are refused.
    fn ue(&mut self) -> Result<u32, String> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err("an Exp-Golomb code is longer than 32 bits".into());
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX - 1)) as u32)
    }

    /// Signed Exp-Golomb.
    fn se(&mut self) -> Result<i64, String> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// The NAL payload without emulation prevention bytes (`00 00 03` → `00 00`).
fn rbsp(nal_payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal_payload.len());
    let mut zeros = 0;
    for &b in nal_payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn skip_scaling_list(bits: &mut Bits, size: usize) -> Result<(), String> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = bits.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Parses an SPS NAL unit (header byte included, no start code).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, Error> {
    parse(nal).map_err(Error::InvalidSps)
}

fn parse(nal: &[u8]) -> Result<SpsInfo, String> {
    if nal.len() < 4 || nal[0] & 0x1f != 7 {
        return Err("not a sequence parameter set".into());
    }
    let mut b = Bits { data: rbsp(&nal[1..]), pos: 0 };
    let profile_idc = b.bits(8)? as u8;
    let constraints = b.bits(8)? as u8;
    let level_idc = b.bits(8)? as u8;
    b.ue()?; // seq_parameter_set_id
    let (mut chroma_format_idc, mut bit_depth) = (1, 8);
    if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma_format_idc = b.ue()?;
        if chroma_format_idc > 3 {
            return Err(format!("chroma_format_idc {chroma_format_idc} is not defined"));
        }
        if chroma_format_idc == 3 {
            b.bit()?; // separate_colour_plane_flag
        }
        bit_depth = b.ue()?.saturating_add(8);
        b.ue()?; // bit_depth_chroma_minus8
        b.bit()?; // qpprime_y_zero_transform_bypass_flag
        if b.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.bit()? == 1 {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            let cycle = b.ue()?;
            if cycle > 255 {
                return Err(format!("num_ref_frames_in_pic_order_cnt_cycle {cycle} is over 255"));
            }
            for _ in 0..cycle {
                b.se()?;
            }
        }
        2 => {}
        other => return Err(format!("pic_order_cnt_type {other} is not defined")),
    }
    let max_num_ref_frames = b.ue()?;
    b.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_map_units = u64::from(b.ue()?) + 1;
    let frame_mbs_only = u64::from(b.bit()?);
    if frame_mbs_only == 0 {
        b.bit()?; // mb_adaptive_frame_field_flag
    }
    b.bit()?; // direct_8x8_inference_flag
    let mut width = width_mbs * 16;
    let mut height = (2 - frame_mbs_only) * height_map_units * 16;
    if b.bit()? == 1 {
        let (left, right, top, bottom) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
        let (crop_x, crop_y) = match chroma_format_idc {
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        let cut_w = crop_x * (u64::from(left) + u64::from(right));
        let cut_h = crop_y * (u64::from(top) + u64::from(bottom));
        if cut_w >= width || cut_h >= height {
            return Err("the cropping window is larger than the picture".into());
        }
        width -= cut_w;
        height -= cut_h;
    }
    Ok(SpsInfo {
        profile_idc,
        constraints,
        level_idc,
        width: width.min(u64::from(u32::MAX)) as u32,
        height: height.min(u64::from(u32::MAX)) as u32,
        chroma_format_idc,
        bit_depth,
        max_num_ref_frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes bits MSB first, with Exp-Golomb helpers, for building test SPSs.
    pub(crate) struct BitWriter {
        pub bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        pub fn new() -> Self {
            Self { bytes: Vec::new(), bits: 0 }
        }
        pub fn put(&mut self, value: u64, n: u32) {
            for i in (0..n).rev() {
                if self.bits.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                if (value >> i) & 1 == 1 {
                    *self.bytes.last_mut().unwrap() |= 0x80 >> (self.bits % 8);
                }
                self.bits += 1;
            }
        }
        pub fn ue(&mut self, v: u64) {
            let code = v + 1;
            let len = 64 - code.leading_zeros();
            self.put(0, len - 1);
            self.put(code, len);
        }
        pub fn trailing(&mut self) {
            self.put(1, 1);
            while !self.bits.is_multiple_of(8) {
                self.put(0, 1);
            }
        }
    }

    /// A Baseline SPS for `w_mbs` × `h_mbs` macroblocks, optionally cropped at the bottom.
    fn baseline_sps(w_mbs: u64, h_mbs: u64, refs: u64, crop_bottom: u64) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.put(0x67, 8);
        w.put(66, 8);
        w.put(0xC0, 8);
        w.put(31, 8);
        w.ue(0); // sps id
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(2); // poc type 2
        w.ue(refs);
        w.put(0, 1);
        w.ue(w_mbs - 1);
        w.ue(h_mbs - 1);
        w.put(1, 1); // frame_mbs_only
        w.put(1, 1); // direct_8x8
        if crop_bottom > 0 {
            w.put(1, 1);
            w.ue(0);
            w.ue(0);
            w.ue(0);
            w.ue(crop_bottom);
        } else {
            w.put(0, 1);
        }
        w.put(0, 1); // no VUI
        w.trailing();
        w.bytes
    }

    #[test]
    fn reads_size_with_cropping() {
        // 1920x1080 is coded as 120x68 macroblocks with 8 rows cropped (4 crop units).
        let sps = parse_sps(&baseline_sps(120, 68, 1, 4)).unwrap();
        assert_eq!((sps.width, sps.height, sps.max_num_ref_frames), (1920, 1080, 1));
        assert_eq!((sps.chroma_format_idc, sps.bit_depth, sps.profile_idc), (1, 8, 66));
        assert_eq!(sps.codecs(), "avc1.42C01F");
        let sps = parse_sps(&baseline_sps(1024, 1024, 16, 0)).unwrap();
        assert_eq!((sps.width, sps.height, sps.max_num_ref_frames), (16384, 16384, 16));
    }

    #[test]
    fn reads_ffmpeg_high_profile_sps() {
        // x264 High 4:2:0 8-bit 1280x720 SPS (as ffmpeg writes it for testsrc2).
        let nal = [
            0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
            0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
        ];
        let sps = parse_sps(&nal).unwrap();
        assert_eq!((sps.width, sps.height, sps.profile_idc), (1280, 720, 100));
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_sps(&[0x68, 1, 2, 3]).is_err());
        assert!(parse_sps(&[0x67, 66, 0, 30]).is_err()); // ends early
        assert!(parse_sps(&[0x67, 66, 0, 30, 0, 0, 0, 0, 0, 0]).is_err()); // endless Exp-Golomb
        assert!(parse_sps(&baseline_sps(1, 1, 1, 9)).is_err()); // crop beyond the picture
    }

    #[test]
    fn cropped_1080p_from_real_bytes_and_its_codecs_string() {
        // Baseline 1920x1080: 120x68 macroblocks, cropped by 8 lines at the bottom.
        let sps = [0x67, 0x42, 0xC0, 0x28, 0xDA, 0x01, 0xE0, 0x08, 0x9F, 0x96, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10];
        let info = parse_sps(&sps).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.codecs(), "avc1.42C028");
        assert!(matches!(find_sps(&[0, 0, 1, 0x65, 1, 2]), Err(Error::InvalidSps(_))));
    }

    #[test]
    fn reads_the_sps_of_a_muxed_segment() {
        let mut mux = crate::ts::TsMuxer::new();
        let mut ts = Vec::new();
        mux.write_tables(&mut ts).unwrap();
        let mut au = vec![0, 0, 0, 1];
        au.extend(baseline_sps(20, 15, 1, 0));
        au.extend([0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, 0x65, 0x88]);
        mux.write_access_unit(&au, true, 0, &mut ts).unwrap();
        let sps = segment_sps(&ts).unwrap();
        assert_eq!((sps.width, sps.height), (320, 240));
    }

    #[test]
    fn removes_emulation_prevention() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }
}
