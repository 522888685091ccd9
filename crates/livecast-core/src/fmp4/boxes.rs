//! Writing the ISO BMFF boxes: the init segment (`ftyp` + `moov` with one H.264 track) and
//! media segments (`moof` + `mdat`), through `mp4-atom`'s typed boxes.

use super::timeline::Timing;
use super::TIMESCALE;
use crate::sps::SpsInfo;
use crate::Error;
use mp4_atom::{
    Avc1, Avcc, AvccExt, Dinf, Dref, Encode, Ftyp, Hdlr, Mdhd, Mdia, Mfhd, Minf, Moof, Moov, Mvex, Mvhd, Stbl, Stco,
    Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, Url, Visual, Vmhd,
};

/// The one track's id.
const TRACK_ID: u32 = 1;
/// `sample_flags` of a sync sample: depends on no other (`sample_depends_on` = 2).
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// `sample_flags` of any other sample: depends on others, `sample_is_non_sync_sample`.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

fn mp4_error(e: mp4_atom::Error) -> Error {
    Error::InvalidMp4(e.to_string())
}

/// `ftyp` + `moov` for one H.264 video track at 90 kHz, from the stream's SPS and PPS.
pub(super) fn init_segment(sps: &[u8], pps: &[u8], info: &SpsInfo) -> Result<Vec<u8>, Error> {
    let (Ok(width), Ok(height)) = (u16::try_from(info.width), u16::try_from(info.height)) else {
        return Err(Error::InvalidSps(format!("{}x{} does not fit an MP4 sample entry", info.width, info.height)));
    };
    let mut avcc = Avcc::new(sps, pps).map_err(mp4_error)?;
    // The avcC extension is required for the High profiles (ISO/IEC 14496-15 §5.3.3.1).
    if matches!(info.profile_idc, 100 | 110 | 122 | 144) {
        let depth = u8::try_from(info.bit_depth).unwrap_or(8);
        avcc.ext = Some(AvccExt {
            chroma_format: u8::try_from(info.chroma_format_idc).unwrap_or(1),
            bit_depth_luma: depth,
            bit_depth_chroma: depth,
            sequence_parameter_sets_ext: Vec::new(),
        });
    }
    let avc1 = Avc1 {
        visual: Visual { data_reference_index: 1, width, height, compressor: "".into(), ..Default::default() },
        avcc,
        btrt: None,
        colr: None,
        pasp: None,
        taic: None,
        fiel: None,
        spatial: None,
    };
    let moov = Moov {
        mvhd: Mvhd { timescale: TIMESCALE, rate: 1.into(), volume: 1.into(), next_track_id: TRACK_ID + 1, ..Default::default() },
        mvex: Some(Mvex {
            mehd: None,
            trex: vec![Trex { track_id: TRACK_ID, default_sample_description_index: 1, ..Default::default() }],
        }),
        trak: vec![Trak {
            tkhd: Tkhd {
                track_id: TRACK_ID,
                enabled: true,
                in_movie: true,
                width: width.into(),
                height: height.into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd { timescale: TIMESCALE, language: "und".into(), ..Default::default() },
                hdlr: Hdlr { handler: b"vide".into(), name: "VideoHandler".into() },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf: Dinf { dref: Dref { entries: vec![Url::default().into()] } },
                    stbl: Stbl {
                        stsd: Stsd { codecs: vec![avc1.into()] },
                        stco: Some(Stco::default()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        }],
        ..Default::default()
    };
    let ftyp = Ftyp {
        major_brand: b"isom".into(),
        minor_version: 1,
        compatible_brands: vec![b"isom".into(), b"iso6".into(), b"avc1".into(), b"mp41".into()],
    };
    let mut out = Vec::with_capacity(1024);
    ftyp.encode(&mut out).map_err(mp4_error)?;
    moov.encode(&mut out).map_err(mp4_error)?;
    Ok(out)
}

/// One sample of a fragment: its timing, size in the `mdat` and whether it is an IDR.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub timing: Timing,
    pub size: u32,
    pub keyframe: bool,
}

/// `moof` + `mdat` for `samples`, whose data (length-prefixed NAL units) is `payload`.
pub(super) fn media_segment(sequence: u32, samples: &[Sample], payload: &[u8]) -> Result<Vec<u8>, Error> {
    let base_media_decode_time = samples.first().map_or(0, |s| s.timing.dts);
    let entries: Vec<TrunEntry> = samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.timing.duration),
            size: Some(s.size),
            flags: Some(if s.keyframe { SYNC_SAMPLE } else { NON_SYNC_SAMPLE }),
            cts: Some(i64::from(s.timing.cts)),
        })
        .collect();
    let mut moof = Moof {
        mfhd: Mfhd { sequence_number: sequence },
        traf: vec![Traf {
            tfhd: Tfhd { track_id: TRACK_ID, default_base_is_moof: true, ..Default::default() },
            tfdt: Some(Tfdt { base_media_decode_time }),
            trun: vec![Trun { data_offset: Some(0), samples: entries.into() }],
            ..Default::default()
        }],
    };
    // The data offset counts from the moof's first byte to the first sample: the moof's
    // own size (which the offset's value does not change) plus the mdat header.
    let mut sized = Vec::new();
    moof.encode(&mut sized).map_err(mp4_error)?;
    let mdat_size = u32::try_from(payload.len() + 8).map_err(|_| Error::InvalidMp4("fragment over 4 GiB".into()))?;
    let data_offset = i32::try_from(sized.len() + 8).map_err(|_| Error::InvalidMp4("moof over 2 GiB".into()))?;
    moof.traf[0].trun[0].data_offset = Some(data_offset);

    let mut out = Vec::with_capacity(sized.len() + 8 + payload.len());
    moof.encode(&mut out).map_err(mp4_error)?;
    // The mdat header by hand: mp4-atom's Mdat would copy the payload once more.
    out.extend_from_slice(&mdat_size.to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(payload);
    Ok(out)
}
