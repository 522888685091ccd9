//! Writing the ISO BMFF boxes: the init segment (`ftyp` + `moov` with one H.264 track) and
//! media segments (`moof` + `mdat`), through `mp4-atom`'s typed boxes.

use super::audio::AudioConfig;
use super::timeline::Timing;
use super::TIMESCALE;
use crate::sps::SpsInfo;
use crate::Error;
use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig};
use mp4_atom::{
    Audio, Avc1, Avcc, AvccExt, Dinf, Dref, Encode, Esds, Ftyp, Hdlr, Mdhd, Mdia, Mfhd, Minf, Moof, Moov, Mp4a, Mvex,
    Mvhd, Smhd, Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, Url, Visual, Vmhd,
};

/// The video track's id.
pub(super) const TRACK_ID: u32 = 1;
/// The audio track's id, when there is one.
pub(super) const AUDIO_TRACK_ID: u32 = 2;
/// `sample_flags` of a sync sample: depends on no other (`sample_depends_on` = 2).
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// `sample_flags` of any other sample: depends on others, `sample_is_non_sync_sample`.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

fn mp4_error(e: mp4_atom::Error) -> Error {
    Error::InvalidMp4(e.to_string())
}

/// `ftyp` + `moov` for one H.264 video track at 90 kHz, from the stream's SPS and PPS, and
/// an AAC track at its sample rate when `audio` is given.
pub(super) fn init_segment(sps: &[u8], pps: &[u8], info: &SpsInfo, audio: Option<&AudioConfig>) -> Result<Vec<u8>, Error> {
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
    let mut moov = Moov {
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
    if let Some(audio) = audio {
        moov.mvhd.next_track_id = AUDIO_TRACK_ID + 1;
        if let Some(mvex) = &mut moov.mvex {
            mvex.trex.push(Trex { track_id: AUDIO_TRACK_ID, default_sample_description_index: 1, ..Default::default() });
        }
        moov.trak.push(audio_trak(audio));
    }
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

/// The AAC track: `mp4a` with the AudioSpecificConfig in its `esds`, timescale = sample rate.
fn audio_trak(audio: &AudioConfig) -> Trak {
    let mp4a = Mp4a {
        audio: Audio {
            data_reference_index: 1,
            channel_count: u16::from(audio.channels.max(1)),
            sample_size: 16,
            // 16.16 fixed point: rates over 65535 do not fit and are written as 0 (the
            // decoder reads the rate from the AudioSpecificConfig).
            sample_rate: u16::try_from(audio.sample_rate).unwrap_or(0).into(),
        },
        esds: Esds {
            es_desc: EsDescriptor {
                es_id: AUDIO_TRACK_ID as u16,
                depends_on_es_id: None,
                url: None,
                ocr_es_id: None,
                stream_priority: 0,
                dec_config: DecoderConfig {
                    object_type_indication: 0x40, // MPEG-4 audio
                    stream_type: 5,               // audio stream
                    up_stream: 0,
                    buffer_size_db: Default::default(),
                    max_bitrate: 0,
                    avg_bitrate: 0,
                    dec_specific: Some(DecoderSpecific {
                        profile: audio.object_type,
                        freq_index: audio.freq_index,
                        chan_conf: audio.channels,
                        raw: Vec::new(),
                    }),
                },
                sl_config: SLConfig::default(),
            },
        },
        btrt: None,
        taic: None,
    };
    Trak {
        tkhd: Tkhd { track_id: AUDIO_TRACK_ID, enabled: true, in_movie: true, volume: 1.into(), ..Default::default() },
        mdia: Mdia {
            mdhd: Mdhd { timescale: audio.sample_rate, language: "und".into(), ..Default::default() },
            hdlr: Hdlr { handler: b"soun".into(), name: "SoundHandler".into() },
            minf: Minf {
                smhd: Some(Smhd::default()),
                dinf: Dinf { dref: Dref { entries: vec![Url::default().into()] } },
                stbl: Stbl { stsd: Stsd { codecs: vec![mp4a.into()] }, stco: Some(Stco::default()), ..Default::default() },
                ..Default::default()
            },
        },
        ..Default::default()
    }
}

/// One sample of a fragment: its timing, size in the `mdat` and whether it is an IDR.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub timing: Timing,
    pub size: u32,
    pub keyframe: bool,
}

/// The video samples of a fragment as a `trun`'s entries.
pub(super) fn video_entries(samples: &[Sample]) -> Vec<TrunEntry> {
    samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.timing.duration),
            size: Some(s.size),
            flags: Some(if s.keyframe { SYNC_SAMPLE } else { NON_SYNC_SAMPLE }),
            cts: Some(i64::from(s.timing.cts)),
        })
        .collect()
}

/// One track's part of a fragment.
pub(super) struct Run<'a> {
    pub track_id: u32,
    pub base_decode_time: u64,
    pub entries: Vec<TrunEntry>,
    /// The samples' bytes, back to back.
    pub payload: &'a [u8],
}

/// `moof` (one `traf` per run) + one `mdat` holding the runs' payloads in order.
pub(super) fn media_segment(sequence: u32, runs: Vec<Run<'_>>) -> Result<Vec<u8>, Error> {
    let payload_len: usize = runs.iter().map(|r| r.payload.len()).sum();
    let mut moof = Moof { mfhd: Mfhd { sequence_number: sequence }, traf: Vec::with_capacity(runs.len()) };
    for run in &runs {
        moof.traf.push(Traf {
            tfhd: Tfhd { track_id: run.track_id, default_base_is_moof: true, ..Default::default() },
            tfdt: Some(Tfdt { base_media_decode_time: run.base_decode_time }),
            trun: vec![Trun { data_offset: Some(0), samples: run.entries.clone().into() }],
            ..Default::default()
        });
    }
    // Each data offset counts from the moof's first byte to the run's first sample: the
    // moof's own size (which the offsets' values do not change), the mdat header, and the
    // runs before it.
    let mut sized = Vec::new();
    moof.encode(&mut sized).map_err(mp4_error)?;
    let mdat_size = u32::try_from(payload_len + 8).map_err(|_| Error::InvalidMp4("fragment over 4 GiB".into()))?;
    let mut offset = sized.len() + 8;
    for (traf, run) in moof.traf.iter_mut().zip(&runs) {
        let data_offset = i32::try_from(offset).map_err(|_| Error::InvalidMp4("fragment over 2 GiB".into()))?;
        traf.trun[0].data_offset = Some(data_offset);
        offset += run.payload.len();
    }

    let mut out = Vec::with_capacity(sized.len() + 8 + payload_len);
    moof.encode(&mut out).map_err(mp4_error)?;
    // The mdat header by hand: mp4-atom's Mdat would copy the payload once more.
    out.extend_from_slice(&mdat_size.to_be_bytes());
    out.extend_from_slice(b"mdat");
    for run in &runs {
        out.extend_from_slice(run.payload);
    }
    Ok(out)
}
