//! Writing the ISO BMFF boxes: the init segment (`ftyp` + `moov` with one H.264 track, and
//! an AAC track when asked) and media segments (`moof` + `mdat`).
//!
//! The boxes are written by hand, field by field, rather than through mp4-atom's typed
//! boxes: encoding its `Moov`/`Moof` links an encoder (and a destructor) for every box and
//! codec that crate knows, about 30 KB of the watch-only wasm Player's gzipped size, for the
//! dozen fixed boxes written here. The bytes are the ones mp4-atom wrote: the unit tests
//! read them back with mp4-atom, which writes the very same bytes again.

use super::audio::AudioConfig;
use super::timeline::Timing;
use super::TIMESCALE;
use crate::sps::SpsInfo;
use crate::Error;

/// The video track's id.
pub(super) const TRACK_ID: u32 = 1;
/// The audio track's id, when there is one.
pub(super) const AUDIO_TRACK_ID: u32 = 2;
/// `sample_flags` of a sync sample: depends on no other (`sample_depends_on` = 2).
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// `sample_flags` of any other sample: depends on others, `sample_is_non_sync_sample`.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;
/// The unity transformation matrix of `mvhd` and `tkhd` (16.16 and 2.30 fixed point).
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// ISO 639-2 "und" packed into 15 bits, as `mdhd` stores its language.
const LANGUAGE_UND: u16 = 0x55c4;

/// An output buffer that writes boxes: each one's size is filled in when its body is done.
struct Writer {
    out: Vec<u8>,
    /// A box came out over 4 GiB (its 32-bit size would be wrong): the result is an error.
    too_big: bool,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Self {
        Self { out: Vec::with_capacity(capacity), too_big: false }
    }

    /// A box of type `kind` whose body `body` writes.
    fn boxed(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut Self)) {
        let start = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(kind);
        body(self);
        match u32::try_from(self.out.len() - start) {
            Ok(size) => self.out[start..start + 4].copy_from_slice(&size.to_be_bytes()),
            Err(_) => self.too_big = true,
        }
    }

    /// A full box: `boxed` with the version byte and 24-bit flags first.
    fn full(&mut self, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Self)) {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            body(w);
        });
    }

    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
    }

    fn zeros(&mut self, n: usize) {
        self.out.resize(self.out.len() + n, 0);
    }

    fn matrix(&mut self) {
        UNITY_MATRIX.iter().for_each(|&v| self.u32(v));
    }

    fn finish(self) -> Result<Vec<u8>, Error> {
        if self.too_big {
            return Err(Error::InvalidMp4("a box over 4 GiB".into()));
        }
        Ok(self.out)
    }
}

/// `ftyp` + `moov` for one H.264 video track at 90 kHz, from the stream's SPS and PPS, and
/// an AAC track at its sample rate when `audio` is given.
pub(super) fn init_segment(sps: &[u8], pps: &[u8], info: &SpsInfo, audio: Option<&AudioConfig>) -> Result<Vec<u8>, Error> {
    let (Ok(width), Ok(height)) = (u16::try_from(info.width), u16::try_from(info.height)) else {
        return Err(Error::InvalidSps(format!("{}x{} does not fit an MP4 sample entry", info.width, info.height)));
    };
    let avcc = avcc(sps, pps, info)?;
    let mut w = Writer::with_capacity(1024 + avcc.len());
    w.boxed(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(1); // minor version
        w.bytes(b"isomiso6avc1mp41"); // compatible brands
    });
    w.boxed(b"moov", |w| {
        let next_track_id = if audio.is_some() { AUDIO_TRACK_ID + 1 } else { TRACK_ID + 1 };
        w.full(b"mvhd", 1, 0, |w| {
            w.zeros(16); // creation and modification times
            w.u32(TIMESCALE);
            w.u64(0); // duration: unknown, fragments follow
            w.u32(0x0001_0000); // rate 1.0
            w.u16(0x0100); // volume 1.0
            w.zeros(10); // reserved
            w.matrix();
            w.zeros(24); // pre_defined
            w.u32(next_track_id);
        });
        w.boxed(b"mvex", |w| {
            for id in std::iter::once(TRACK_ID).chain(audio.map(|_| AUDIO_TRACK_ID)) {
                w.full(b"trex", 0, 0, |w| {
                    w.u32(id);
                    w.u32(1); // default sample description index
                    w.zeros(12); // default duration, size, flags: every trun says its own
                });
            }
        });
        let visual = |w: &mut Writer| {
            w.zeros(6); // SampleEntry reserved
            w.u16(1); // data reference index
            w.zeros(16); // pre_defined, reserved
            w.u16(width);
            w.u16(height);
            w.u32(0x0048_0000); // 72 dpi horizontally
            w.u32(0x0048_0000); // and vertically
            w.u32(0); // reserved
            w.u16(1); // frame count
            w.zeros(32); // compressor name
            w.u16(0x0018); // depth: colour, no alpha
            w.u16(0xffff); // pre_defined = -1
            w.boxed(b"avcC", |w| w.bytes(&avcc));
        };
        trak(w, TRACK_ID, (u32::from(width) << 16, u32::from(height) << 16), TIMESCALE, b"vide", b"avc1", visual);
        if let Some(audio) = audio {
            trak(w, AUDIO_TRACK_ID, (0, 0), audio.sample_rate, b"soun", b"mp4a", |w| mp4a(w, audio));
        }
    });
    w.finish()
}

/// The `avcC` body: one SPS, one PPS, 4-byte NAL lengths, and for the High profiles the
/// chroma format and bit depth extension (ISO/IEC 14496-15 §5.3.3.1 requires it there).
fn avcc(sps: &[u8], pps: &[u8], info: &SpsInfo) -> Result<Vec<u8>, Error> {
    let (Some(&[profile, compatibility, level]), Ok(sps_len), Ok(pps_len)) = (sps.get(1..4), u16::try_from(sps.len()), u16::try_from(pps.len())) else {
        return Err(Error::InvalidMp4(format!("an SPS of {} bytes and a PPS of {} do not fit an avcC", sps.len(), pps.len())));
    };
    // Configuration version 1, the SPS's profile, constraint flags and level, NAL lengths
    // of 4 bytes (3 + 1, reserved bits set), one SPS.
    let mut out = vec![1, profile, compatibility, level, 0xfc | 3, 0xe0 | 1];
    out.extend_from_slice(&sps_len.to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&pps_len.to_be_bytes());
    out.extend_from_slice(pps);
    if matches!(info.profile_idc, 100 | 110 | 122 | 144) {
        let chroma = u8::try_from(info.chroma_format_idc).ok().filter(|&c| c < 4);
        let depth = info.bit_depth.checked_sub(8).and_then(|d| u8::try_from(d).ok()).filter(|&d| d < 8);
        let (Some(chroma), Some(depth)) = (chroma, depth) else {
            return Err(Error::InvalidMp4(format!("chroma format {} at {} bits does not fit an avcC", info.chroma_format_idc, info.bit_depth)));
        };
        // Luma and chroma depth alike, and no SPS extensions.
        out.extend_from_slice(&[0xfc | chroma, 0xf8 | depth, 0xf8 | depth, 0]);
    }
    Ok(out)
}

/// One `trak`: header, media header at `timescale`, handler, and a sample table with one
/// sample entry of type `entry` (whose body `sample_entry` writes) and no samples.
fn trak(w: &mut Writer, id: u32, (width, height): (u32, u32), timescale: u32, handler: &[u8; 4], entry: &[u8; 4], sample_entry: impl FnOnce(&mut Writer)) {
    let video = handler == b"vide";
    w.boxed(b"trak", |w| {
        // Flags: enabled, in movie, in preview.
        w.full(b"tkhd", 1, 7, |w| {
            w.zeros(16); // creation and modification times
            w.u32(id);
            w.u32(0); // reserved
            w.u64(0); // duration
            w.zeros(12); // reserved, layer, alternate group
            w.u16(if video { 0 } else { 0x0100 }); // volume: 1.0 for sound
            w.u16(0); // reserved
            w.matrix();
            w.u32(width); // 16.16
            w.u32(height);
        });
        w.boxed(b"mdia", |w| {
            w.full(b"mdhd", 1, 0, |w| {
                w.zeros(16); // creation and modification times
                w.u32(timescale);
                w.u64(0); // duration
                w.u16(LANGUAGE_UND);
                w.u16(0); // pre_defined
            });
            w.full(b"hdlr", 0, 0, |w| {
                w.u32(0); // pre_defined
                w.bytes(handler);
                w.zeros(12); // reserved
                w.bytes(if video { b"VideoHandler\0" } else { b"SoundHandler\0" });
            });
            w.boxed(b"minf", |w| {
                w.boxed(b"dinf", |w| {
                    w.full(b"dref", 0, 0, |w| {
                        w.u32(1); // entry count
                        w.full(b"url ", 0, 1, |_| {}); // flag 1: the media is in this file
                    });
                });
                w.boxed(b"stbl", |w| {
                    w.full(b"stsd", 0, 0, |w| {
                        w.u32(1); // entry count
                        w.boxed(entry, sample_entry);
                    });
                    // No samples here: they come in the fragments.
                    w.full(b"stts", 0, 0, |w| w.u32(0));
                    w.full(b"stsc", 0, 0, |w| w.u32(0));
                    w.full(b"stsz", 0, 0, |w| w.zeros(8)); // sample size, sample count
                    w.full(b"stco", 0, 0, |w| w.u32(0));
                });
                // mp4-atom wrote the media header after the sample table; kept so the bytes
                // stay the same (parsers find boxes by type).
                if video {
                    w.full(b"vmhd", 0, 1, |w| w.zeros(8)); // graphics mode, opcolor
                } else {
                    w.full(b"smhd", 0, 0, |w| w.zeros(4)); // balance, reserved
                }
            });
        });
    });
}

/// The `mp4a` sample entry's body: the AAC track, with the AudioSpecificConfig in its `esds`.
fn mp4a(w: &mut Writer, audio: &AudioConfig) {
    w.zeros(6); // SampleEntry reserved
    w.u16(1); // data reference index
    w.zeros(8); // version, revision, vendor
    w.u16(u16::from(audio.channels.max(1)));
    w.u16(16); // sample size
    w.u32(0); // pre_defined, reserved
    // 16.16 fixed point: rates over 65535 do not fit and are written as 0 (the decoder
    // reads the rate from the AudioSpecificConfig).
    w.u32(u32::from(u16::try_from(audio.sample_rate).unwrap_or(0)) << 16);
    w.full(b"esds", 0, 0, |w| {
        // ES descriptor: ES id, no flags; a decoder config (MPEG-4 audio, audio stream) with
        // the 2-byte AudioSpecificConfig; an SL config (predefined 2). Every size fits one
        // byte.
        let asc = [
            (audio.object_type << 3) | (audio.freq_index >> 1),
            ((audio.freq_index & 1) << 7) | (audio.channels << 3),
        ];
        w.bytes(&[0x03, 25]);
        w.u16(AUDIO_TRACK_ID as u16);
        w.u8(0);
        w.bytes(&[0x04, 17, 0x40, (5 << 2) | 1]); // object type 0x40, stream type 5, reserved bit
        w.zeros(11); // buffer size, max and average bit rates
        w.bytes(&[0x05, 2, asc[0], asc[1]]);
        w.bytes(&[0x06, 1, 2]);
    });
}

/// One sample of a fragment: its timing, size in the `mdat` and whether it is an IDR.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub timing: Timing,
    pub size: u32,
    pub keyframe: bool,
}

/// One sample's entry in a `trun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TrunEntry {
    pub duration: u32,
    pub size: u32,
    /// Video samples' `sample_flags` and composition offset; audio samples have neither.
    pub video: Option<(u32, i32)>,
}

/// The video samples of a fragment as a `trun`'s entries.
pub(super) fn video_entries(samples: &[Sample]) -> Vec<TrunEntry> {
    samples
        .iter()
        .map(|s| TrunEntry {
            duration: s.timing.duration,
            size: s.size,
            video: Some((if s.keyframe { SYNC_SAMPLE } else { NON_SYNC_SAMPLE }, s.timing.cts)),
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
    let mdat_size = u32::try_from(payload_len + 8).map_err(|_| Error::InvalidMp4("fragment over 4 GiB".into()))?;
    let entries: usize = runs.iter().map(|r| r.entries.len()).sum();
    let mut w = Writer::with_capacity(64 + runs.len() * 80 + entries * 16 + payload_len);
    // Where each trun's data offset goes: it is filled in once the moof's size is known.
    let mut offset_fields = Vec::with_capacity(runs.len());
    w.boxed(b"moof", |w| {
        w.full(b"mfhd", 0, 0, |w| w.u32(sequence));
        for run in &runs {
            w.boxed(b"traf", |w| {
                w.full(b"tfhd", 0, 0x02_0000, |w| w.u32(run.track_id)); // default-base-is-moof
                w.full(b"tfdt", 1, 0, |w| w.u64(run.base_decode_time));
                // Flags: data offset, sample durations and sizes, and for video sample flags
                // and composition offsets (version 1: signed).
                let video = run.entries.iter().any(|e| e.video.is_some());
                w.full(b"trun", 1, if video { 0x0f01 } else { 0x0301 }, |w| {
                    w.u32(run.entries.len() as u32);
                    offset_fields.push(w.out.len());
                    w.u32(0);
                    for e in &run.entries {
                        w.u32(e.duration);
                        w.u32(e.size);
                        if video {
                            let (flags, cts) = e.video.unwrap_or_default();
                            w.u32(flags);
                            w.u32(cts as u32); // two's complement, as version 1 reads it
                        }
                    }
                });
            });
        }
    });
    // Each data offset counts from the moof's first byte to the run's first sample: the
    // moof, the mdat header, and the runs before it.
    let mut offset = w.out.len() + 8;
    for (at, run) in offset_fields.into_iter().zip(&runs) {
        let data_offset = i32::try_from(offset).map_err(|_| Error::InvalidMp4("fragment over 2 GiB".into()))?;
        w.out[at..at + 4].copy_from_slice(&data_offset.to_be_bytes());
        offset += run.payload.len();
    }
    // The mdat header, then the payloads without another copy.
    w.u32(mdat_size);
    w.bytes(b"mdat");
    for run in &runs {
        w.bytes(run.payload);
    }
    w.finish()
}
