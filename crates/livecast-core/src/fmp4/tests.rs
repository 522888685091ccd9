//! The transmuxer on segments made by our own muxer, read back with `mp4-atom` (no external
//! tools; the ffprobe/ffmpeg checks are in tests/fmp4_ffprobe.rs).

use super::*;
use crate::ts::TsMuxer;
use crate::Error;
use mp4_atom::{Any, DecodeMaybe, Moof};

/// Baseline 1920x1080 SPS (cropped from 1088) and a PPS.
const SPS_1080: [u8; 16] = [0x67, 0x42, 0xC0, 0x28, 0xDA, 0x01, 0xE0, 0x08, 0x9F, 0x96, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10];
/// x264 High 1280x720 SPS.
const SPS_720: [u8; 26] = [
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
];
const PPS: [u8; 2] = [0x68, 0xCE];

fn frame(sps: &[u8], keyframe: bool, len: usize) -> Vec<u8> {
    let mut au = Vec::new();
    if keyframe {
        for nal in [sps, &PPS[..]] {
            au.extend_from_slice(&[0, 0, 0, 1]);
            au.extend_from_slice(nal);
        }
        au.extend_from_slice(&[0, 0, 0, 1, 0x65]);
    } else {
        au.extend_from_slice(&[0, 0, 0, 1, 0x41]);
    }
    au.extend((0..len).map(|i| (i as u8) | 0x80));
    au
}

/// A segment of `n` frames (IDR first) at 30 fps from PTS `start`, by our muxer.
fn segment(sps: &[u8], start: u64, n: u64) -> Vec<u8> {
    let mut mux = TsMuxer::new();
    let mut ts = Vec::new();
    mux.write_tables(&mut ts).unwrap();
    for i in 0..n {
        mux.write_access_unit_at_pts(&frame(sps, i == 0, 100 + i as usize), i == 0, start + i * 3000, &mut ts).unwrap();
    }
    ts
}

fn moof_of(fragment: &[u8]) -> Moof {
    let mut rest = fragment;
    match Any::decode_maybe(&mut rest).unwrap() {
        Some(Any::Moof(moof)) => moof,
        other => panic!("expected a moof, got {other:?}"),
    }
}

#[test]
fn init_segment_reads_back_with_codec_size_and_timescale() {
    let mut t = Transmuxer::new();
    let f = t.push_segment(&segment(&SPS_1080, 900_000, 30), SegmentOptions::default()).unwrap();
    let init = f.init.expect("first segment brings an init segment");
    assert_eq!((init.codec.as_str(), init.width, init.height), ("avc1.42C028", 1920, 1080));
    assert_eq!(init.mime_type(), "video/mp4; codecs=\"avc1.42C028\"");
    let info = probe_init(&init.bytes).unwrap();
    assert_eq!(info, InitInfo { codec: "avc1.42C028".into(), audio_codec: None, width: 1920, height: 1080, timescale: 90_000 });
    assert_eq!(t.current_init().unwrap(), Some(init));
}

#[test]
fn fragment_samples_sizes_flags_and_offsets() {
    let mut t = Transmuxer::new();
    let f = t.push_segment(&segment(&SPS_1080, 900_000, 30), SegmentOptions::default()).unwrap();
    assert_eq!((f.frames, f.base_decode_time, f.duration, f.timescale), (30, 0, 90_000, 90_000));
    assert!(f.starts_with_keyframe && f.start_seconds == 0.0 && (f.duration_seconds - 1.0).abs() < 1e-9);
    let moof = moof_of(&f.data);
    let traf = &moof.traf[0];
    assert_eq!(traf.tfdt.as_ref().unwrap().base_media_decode_time, 0);
    let trun = &traf.trun[0];
    let samples: Vec<_> = trun.samples.iter().collect();
    assert_eq!(samples.len(), 30);
    // IDR: 4+1+100 (SPS/PPS/AUD left out); P frames: 4+1+100+i.
    assert_eq!(samples[0].size, Some(105));
    assert_eq!(samples[7].size, Some(112));
    assert_eq!(samples[0].flags, Some(0x0200_0000));
    assert!(samples[1..].iter().all(|s| s.flags == Some(0x0101_0000) && s.duration == Some(3000) && s.cts == Some(0)));
    // data_offset points at the first sample: its 4-byte length, then the IDR NAL header.
    let offset = trun.data_offset.unwrap() as usize;
    assert_eq!(&f.data[offset..offset + 5], &[0, 0, 0, 101, 0x65]);
    let total: u32 = samples.iter().map(|s| s.size.unwrap()).sum();
    assert_eq!(f.data.len(), offset + total as usize);
    assert_eq!(&f.data[offset - 4..offset], b"mdat");

    let g = t.push_segment(&segment(&SPS_1080, 990_000, 30), SegmentOptions::default()).unwrap();
    assert!(g.init.is_none());
    assert_eq!(g.base_decode_time, 90_000);
    assert_eq!(moof_of(&g.data).mfhd.sequence_number, 2);

    let mut t = Transmuxer::starting_at(10.0);
    let f = t.push_segment(&segment(&SPS_1080, 900_000, 30), SegmentOptions::default()).unwrap();
    assert_eq!((f.base_decode_time, f.start_seconds), (900_000, 10.0));
    assert_eq!(moof_of(&f.data).traf[0].tfdt.as_ref().unwrap().base_media_decode_time, 900_000);
    assert_eq!(Transmuxer::starting_at(f64::NAN).push_segment(&segment(&SPS_1080, 5, 3), SegmentOptions::default()).unwrap().base_decode_time, 0);
}

#[test]
fn a_new_sps_brings_a_new_init_and_the_timeline_runs_on() {
    let mut t = Transmuxer::new();
    t.push_segment(&segment(&SPS_1080, 900_000, 30), SegmentOptions::default()).unwrap();
    let f = t.push_segment(&segment(&SPS_720, 990_000, 30), SegmentOptions::default()).unwrap();
    let init = f.init.expect("level switch");
    assert_eq!((init.codec.as_str(), init.width, init.height), ("avc1.64001F", 1280, 720));
    assert_eq!(f.base_decode_time, 90_000);
    let f = t.push_segment(&segment(&SPS_720, 5, 30), SegmentOptions { discontinuity: true }).unwrap();
    assert!(f.init.is_none());
    assert_eq!(f.base_decode_time, 180_000);
}

#[test]
fn leading_frames_before_the_first_idr_are_dropped_and_frames_without_sps_refused() {
    let mut mux = TsMuxer::new();
    let mut ts = Vec::new();
    mux.write_tables(&mut ts).unwrap();
    for i in 0..10u64 {
        let key = i == 3;
        mux.write_access_unit_at_pts(&frame(&SPS_1080, key, 50), key, 9000 + i * 3000, &mut ts).unwrap();
    }
    let f = Transmuxer::new().push_segment(&ts, SegmentOptions::default()).unwrap();
    assert_eq!((f.frames, f.starts_with_keyframe), (7, true));

    let mut mux = TsMuxer::new();
    let mut p_only = Vec::new();
    mux.write_tables(&mut p_only).unwrap();
    mux.write_access_unit_at_pts(&frame(&SPS_1080, false, 50), false, 9000, &mut p_only).unwrap();
    let mut t = Transmuxer::new();
    assert!(matches!(t.push_segment(&p_only, SegmentOptions::default()), Err(Error::NoParameterSets(_))));
    // After a good segment, one without parameter sets continues the configuration.
    t.push_segment(&segment(&SPS_1080, 0, 3), SegmentOptions::default()).unwrap();
    let f = t.push_segment(&p_only, SegmentOptions::default()).unwrap();
    assert!(f.init.is_none() && !f.starts_with_keyframe);
}

#[test]
fn bad_segments_are_errors_and_leave_the_transmuxer_usable() {
    let good = segment(&SPS_1080, 900_000, 30);
    let mut t = Transmuxer::new().with_audio();
    let no_video = {
        let mut ts = Vec::new();
        TsMuxer::new().write_tables(&mut ts).unwrap();
        ts
    };
    assert_eq!(t.push_segment(&no_video, SegmentOptions::default()), Err(Error::NoVideo));
    assert!(matches!(t.push_segment(&[], SegmentOptions::default()), Err(Error::InvalidTransportStream(_))));
    assert!(matches!(t.push_segment(&good[..good.len() - 100], SegmentOptions::default()), Err(Error::InvalidTransportStream(_))));
    // A frame of nothing but parameter sets.
    let mut mux = TsMuxer::new();
    let mut empty = Vec::new();
    mux.write_tables(&mut empty).unwrap();
    let au = [&[0, 0, 0, 1][..], &SPS_1080, &[0, 0, 0, 1], &PPS].concat();
    mux.write_access_unit_at_pts(&au, true, 0, &mut empty).unwrap();
    assert!(matches!(t.push_segment(&empty, SegmentOptions::default()), Err(Error::NoParameterSets(_))));

    // Truncated to every packet boundary, and garbage behind valid sync bytes: never a panic.
    for packets in 0..good.len() / 188 {
        let _ = t.push_segment(&good[..packets * 188], SegmentOptions::default());
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        let mut junk = good.clone();
        for _ in 0..20 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % junk.len() as u64) as usize;
            if !at.is_multiple_of(188) {
                junk[at] = (seed >> 32) as u8;
            }
        }
        let _ = t.push_segment(&junk, SegmentOptions { discontinuity: true });
    }
    // The transmuxer still works after all that.
    let f = t.push_segment(&good, SegmentOptions::default()).unwrap();
    assert_eq!(f.frames, 30);
    assert!(moof_of(&f.data).traf[0].trun[0].samples.iter().all(|s| s.duration == Some(3000)));
}

#[test]
fn probe_init_refuses_what_is_not_an_init_segment() {
    let mut t = Transmuxer::new();
    let f = t.push_segment(&segment(&SPS_1080, 0, 3), SegmentOptions::default()).unwrap();
    let init = f.init.unwrap().bytes;
    assert!(matches!(probe_init(&[]), Err(Error::InvalidMp4(_))));
    assert!(matches!(probe_init(&f.data), Err(Error::InvalidMp4(_))), "a media segment is no init segment");
    for cut in 0..init.len() {
        assert!(probe_init(&init[..cut]).is_err(), "cut at {cut}");
    }
    let mut seed = 88_172_645_463_325_252u64;
    for _ in 0..2000 {
        let mut junk = init.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % junk.len() as u64) as usize;
            junk[at] = (seed >> 24) as u8;
        }
        let _ = probe_init(&junk);
    }
}

/// `probe_init` on mp4-atom's full `moov` decoder, as it was written before the hand-walked
/// one (which keeps that decoder out of the wasm Player): the oracle it must agree with.
fn probe_with_mp4_atom(bytes: &[u8]) -> Option<InitInfo> {
    use mp4_atom::Codec;
    let mut rest = bytes;
    let moov = loop {
        if let Any::Moov(moov) = Any::decode_maybe(&mut rest).ok()?? {
            break moov;
        }
    };
    let (mut video, mut audio_codec) = (None, None);
    for trak in &moov.trak {
        let entry = trak.mdia.minf.stbl.stsd.codecs.first();
        match &trak.mdia.hdlr.handler.to_string()[..] {
            "vide" if video.is_none() => {
                let (kind, visual, avcc) = match entry? {
                    Codec::Avc1(e) => ("avc1", &e.visual, &e.avcc),
                    Codec::Avc3(e) => ("avc3", &e.visual, &e.avcc),
                    _ => return None,
                };
                let codec = format!("{kind}.{:02X}{:02X}{:02X}", avcc.avc_profile_indication, avcc.profile_compatibility, avcc.avc_level_indication);
                video = Some((codec, u32::from(visual.width), u32::from(visual.height), trak.mdia.mdhd.timescale));
            }
            "soun" if audio_codec.is_none() => {
                audio_codec = match entry {
                    Some(Codec::Mp4a(mp4a)) => {
                        let dec = &mp4a.esds.es_desc.dec_config;
                        let aot = dec.dec_specific.as_ref().map_or(0, |d| d.profile);
                        Some(format!("mp4a.{:02x}.{}", dec.object_type_indication, if aot == 0 { 2 } else { aot }))
                    }
                    _ => None,
                }
            }
            _ => {}
        }
    }
    let (codec, width, height, timescale) = video.filter(|v| v.3 != 0)?;
    Some(InitInfo { codec, audio_codec, width, height, timescale })
}

#[test]
fn probe_init_reads_what_mp4_atom_reads() {
    let sps = &SPS_720[..];
    let info = crate::sps::parse_sps(sps).unwrap();
    let he_aac = audio::AudioConfig { object_type: 5, freq_index: 6, sample_rate: 24_000, channels: 2 };
    let lc = audio::AudioConfig { object_type: 2, freq_index: 3, sample_rate: 48_000, channels: 1 };
    let inits = [None, Some(&lc), Some(&he_aac)].map(|audio| boxes::init_segment(sps, &PPS, &info, audio).unwrap());
    let codecs: Vec<String> = inits.iter().map(|init| probe_init(init).unwrap().codecs()).collect();
    assert_eq!(codecs, ["avc1.64001F", "avc1.64001F,mp4a.40.2", "avc1.64001F,mp4a.40.5"]);

    // Every init, and thousands of corruptions of them: wherever mp4-atom reads an init
    // segment, probe_init reads the same (it may refuse fewer: it reads fewer fields).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (mut agreed, mut refused) = (0, 0);
    for init in &inits {
        assert_eq!(probe_init(init).ok(), probe_with_mp4_atom(init));
        for _ in 0..3000 {
            let mut junk = init.clone();
            for _ in 0..2 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % junk.len() as u64) as usize;
                junk[at] = (seed >> 24) as u8;
            }
            match probe_with_mp4_atom(&junk) {
                Some(expected) => {
                    assert_eq!(probe_init(&junk).as_ref(), Ok(&expected), "{junk:02x?}");
                    agreed += 1;
                }
                None => refused += 1,
            }
        }
    }
    assert!(agreed > 1000 && refused > 100, "{agreed} read alike, {refused} refused by mp4-atom");
}

/// Every box mp4-atom reads in `bytes`, written again by mp4-atom.
fn reencoded_with_mp4_atom(bytes: &[u8]) -> Vec<u8> {
    use mp4_atom::Encode;
    let mut rest = bytes;
    let mut out = Vec::new();
    while let Some(atom) = Any::decode_maybe(&mut rest).unwrap() {
        atom.encode(&mut out).unwrap();
    }
    assert!(rest.is_empty());
    out
}

/// The boxes are written by hand (`boxes.rs`) as mp4-atom wrote them: mp4-atom reads them
/// back to the values given and writes the very same bytes again.
#[test]
fn boxes_are_what_mp4_atom_reads_and_writes() {
    use mp4_atom::Codec;
    let info = crate::sps::parse_sps(&SPS_720).unwrap();
    let aac = audio::AudioConfig { object_type: 2, freq_index: 3, sample_rate: 48_000, channels: 2 };
    for audio in [None, Some(&aac)] {
        let init = boxes::init_segment(&SPS_720, &PPS, &info, audio).unwrap();
        assert_eq!(reencoded_with_mp4_atom(&init), init);
        let mut rest = &init[..];
        let moov = loop {
            if let Some(Any::Moov(moov)) = Any::decode_maybe(&mut rest).unwrap() {
                break moov;
            }
        };
        assert_eq!(moov.trak.len(), 1 + usize::from(audio.is_some()));
        assert_eq!(moov.mvhd.next_track_id, moov.trak.len() as u32 + 1);
        let Codec::Avc1(avc1) = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] else { panic!("not avc1") };
        assert_eq!((avc1.visual.width, avc1.visual.height, moov.trak[0].mdia.mdhd.timescale), (1280, 720, 90_000));
        assert_eq!((avc1.avcc.sequence_parameter_sets[0].as_slice(), avc1.avcc.picture_parameter_sets[0].as_slice()), (&SPS_720[..], &PPS[..]));
        assert!(avc1.avcc.ext.is_some(), "High profile: chroma format and bit depth");
        if audio.is_some() {
            let Codec::Mp4a(mp4a) = &moov.trak[1].mdia.minf.stbl.stsd.codecs[0] else { panic!("not mp4a") };
            let asc = mp4a.esds.es_desc.dec_config.dec_specific.as_ref().unwrap();
            assert_eq!((asc.profile, asc.freq_index, asc.chan_conf), (2, 3, 2));
            assert_eq!((mp4a.audio.channel_count, moov.trak[1].mdia.mdhd.timescale, moov.trak[1].tkhd.track_id), (2, 48_000, 2));
        }
    }

    // A fragment with a video run (a B-frame's negative composition offset) and an audio run.
    let timing = |dts, cts| timeline::Timing { dts, duration: 3000, cts };
    let samples = [(timing(0, 6000), true), (timing(3000, -3000), false), (timing(6000, 0), false)]
        .map(|(timing, keyframe)| boxes::Sample { timing, size: 4, keyframe });
    let (video, sound) = ([7u8; 12], [9u8; 5]);
    let runs = |video_samples: &[boxes::Sample]| {
        vec![
            boxes::Run { track_id: 1, base_decode_time: 90_000, entries: boxes::video_entries(video_samples), payload: &video[..4 * video_samples.len()] },
            boxes::Run {
                track_id: 2,
                base_decode_time: 48_000,
                entries: vec![boxes::TrunEntry { duration: 1024, size: 2, video: None }, boxes::TrunEntry { duration: 1024, size: 3, video: None }],
                payload: &sound,
            },
        ]
    };
    let fragment = boxes::media_segment(7, runs(&samples)).unwrap();
    assert_eq!(reencoded_with_mp4_atom(&fragment), fragment);
    let moof = moof_of(&fragment);
    let offsets: Vec<usize> = moof.traf.iter().map(|t| t.trun[0].data_offset.unwrap() as usize).collect();
    assert_eq!((&fragment[offsets[0]..offsets[0] + 12], &fragment[offsets[1]..]), (&video[..], &sound[..]));
    assert_eq!(moof.traf[1].tfdt.as_ref().unwrap().base_media_decode_time, 48_000);
    let video_trun = &moof.traf[0].trun[0].samples;
    assert_eq!(video_trun.iter().map(|s| (s.cts, s.flags)).collect::<Vec<_>>(), [(Some(6000), Some(0x0200_0000)), (Some(-3000), Some(0x0101_0000)), (Some(0), Some(0x0101_0000))]);

    // One video sample: mp4-atom would write its flags as first-sample flags; the values
    // read back are the same.
    let single = boxes::media_segment(8, runs(&samples[..1])).unwrap();
    let moof = moof_of(&single);
    let first = moof.traf[0].trun[0].samples.iter().next().unwrap();
    assert_eq!((first.flags, first.cts, first.size), (Some(0x0200_0000), Some(6000), Some(4)));
}
