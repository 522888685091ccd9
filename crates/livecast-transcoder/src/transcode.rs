//! The transcoding pipeline for one segment: demux → checks → decode (openh264) → scale
//! each I420 plane (fast_image_resize, SIMD) → encode each profile (openh264) → mux TS
//! with the source's PTS. Renditions of a segment are encoded in parallel on the node's
//! worker pool; each starts with an IDR. Decoded pictures are streamed through the
//! encoders one at a time (never all held), and a segment whose width × height × frames is
//! over [`Limits::max_decode_pixels`] is refused before anything is decoded.
//!
//! Audio: a segment's AAC (ADTS, stream type 0x0F) is copied into every rendition untouched,
//! PES by PES with its own PTS, interleaved with the new video by time, as go-livepeer does:
//! A/V sync in a rendition is the source's. A segment whose program carries any other audio
//! (MP2/MP3, AC-3, E-AC-3, DTS, LPCM, LATM, Opus) is refused before decoding
//! ([`TranscodeError::Refused`], `unsupported audio: …`), like the relay refuses it at
//! ingest: no rendition would be playable by the HLS players Livecast targets, and the
//! master playlist could not name its codec.

use livecast_core::sps::{parse_sps, SpsInfo};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use livecast_core::annexb::{nal_units, NalType};
use livecast_core::ts::{demux, probe_audio, AudioPes, TsMuxer, CLOCK_HZ};
use livecast_openh264::{DecodedPicture, Decoder, Encoder, EncoderConfig, FrameKind, Picture};
use livecast_protocol::Profile;
use rayon::prelude::*;

/// What a segment may claim before the node refuses to decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest source width in pixels.
    pub max_width: u32,
    /// Largest source height in pixels.
    pub max_height: u32,
    /// Most video frames in one segment.
    pub max_frames: usize,
    /// Most reference frames an SPS may ask the decoder to keep (H.264 allows 16).
    pub max_ref_frames: u32,
    /// The decode budget of one segment: width × height × frames at most (the CPU a
    /// segment may cost; memory no longer grows with frames, they are streamed).
    pub max_decode_pixels: u64,
}

/// Default decode budget: 500 million pixels, e.g. 8 s of 1080p30, 2 s of 4K30.
pub const DEFAULT_MAX_DECODE_PIXELS: u64 = 500_000_000;

impl Default for Limits {
    fn default() -> Self {
        // 4K, and 20 s at 60 fps (go-livepeer's segments are 2 s), within the decode budget.
        Self { max_width: 3840, max_height: 2160, max_frames: 1200, max_ref_frames: 16, max_decode_pixels: DEFAULT_MAX_DECODE_PIXELS }
    }
}

/// Why a segment was not transcoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscodeError {
    /// The body is not an H.264 MPEG-TS segment that starts decodable.
    #[error("not an H.264 MPEG-TS segment: {0}")]
    NotTransportStream(String),
    /// The stream claims more than the node accepts; refused before decoding.
    #[error("segment refused before decoding: {0}")]
    Refused(String),
    /// Decoding or encoding failed.
    #[error("transcoding failed: {0}")]
    Codec(String),
}

/// A demuxed segment that passed the checks, ready to decode.
#[derive(Debug)]
pub struct Source {
    /// Access units in decode order.
    pub units: Vec<Vec<u8>>,
    /// Presentation times, ascending: the i-th decoded picture is shown at `pts[i]`.
    pub pts: Vec<u64>,
    /// What the (first) SPS says.
    pub sps: SpsInfo,
    /// Frame rate measured from the PTS (30 when there is one frame).
    pub fps: f64,
    /// The AAC audio PES packets, copied into every rendition as they are.
    pub audio: Vec<AudioPes>,
}

/// Demuxes `ts` and checks every SPS and the frame count against `limits`, without
/// decoding anything.
pub fn inspect(ts: &[u8], limits: &Limits) -> Result<Source, TranscodeError> {
    let units = demux(ts).map_err(|e| TranscodeError::NotTransportStream(e.to_string()))?;
    let audio = match probe_audio(ts) {
        Ok(Some(_)) => livecast_core::ts::demux_audio(ts).map_err(|e| TranscodeError::NotTransportStream(e.to_string()))?,
        Ok(None) => Vec::new(),
        Err(e @ livecast_core::Error::UnsupportedAudio(_)) => return Err(TranscodeError::Refused(e.to_string())),
        Err(e) => return Err(TranscodeError::NotTransportStream(e.to_string())),
    };
    if units.is_empty() {
        return Err(TranscodeError::NotTransportStream("no video frames".into()));
    }
    if units.len() > limits.max_frames {
        return Err(TranscodeError::Refused(format!("{} frames, at most {} accepted", units.len(), limits.max_frames)));
    }
    let mut first: Option<SpsInfo> = None;
    for unit in &units {
        for nal in nal_units(&unit.data).filter(|n| NalType::from_header(n[0]) == NalType::Sps) {
            let sps = parse_sps(nal).map_err(|e| TranscodeError::Refused(format!("unreadable SPS: {e}")))?;
            check_sps(&sps, limits)?;
            match first {
                None => first = Some(sps),
                Some(f) if (f.width, f.height) != (sps.width, sps.height) => {
                    return Err(TranscodeError::Refused(format!(
                        "the picture size changes inside the segment ({}x{} → {}x{})",
                        f.width, f.height, sps.width, sps.height
                    )))
                }
                Some(_) => {}
            }
        }
    }
    let sps = first.ok_or_else(|| TranscodeError::NotTransportStream("no SPS: the segment cannot decode alone".into()))?;
    let pixels = u64::from(sps.width) * u64::from(sps.height) * units.len() as u64;
    if pixels > limits.max_decode_pixels {
        return Err(TranscodeError::Refused(format!(
            "{} frames of {}x{} are {pixels} pixels to decode, over the node's budget of {} (--max-decode-pixels)",
            units.len(),
            sps.width,
            sps.height,
            limits.max_decode_pixels
        )));
    }
    if !units[0].keyframe {
        return Err(TranscodeError::NotTransportStream("the segment does not start with an IDR".into()));
    }
    // Presentation order relative to the first PTS, so a 33-bit wrap stays ordered.
    let base = units[0].pts;
    let mut rel: Vec<u64> = units.iter().map(|u| (u.pts + (1 << 33) - base) % (1 << 33)).collect();
    rel.sort_unstable();
    let pts = rel.iter().map(|r| (base + r) % (1 << 33)).collect();
    let fps = if rel.len() > 1 && rel[rel.len() - 1] > 0 {
        ((rel.len() - 1) as f64 * CLOCK_HZ as f64 / rel[rel.len() - 1] as f64).clamp(1.0, 120.0)
    } else {
        30.0
    };
    Ok(Source { units: units.into_iter().map(|u| u.data).collect(), pts, sps, fps, audio })
}

fn check_sps(sps: &SpsInfo, limits: &Limits) -> Result<(), TranscodeError> {
    let refuse = |m: String| Err(TranscodeError::Refused(m));
    if sps.width > limits.max_width || sps.height > limits.max_height {
        return refuse(format!(
            "the SPS claims {}x{}, at most {}x{} accepted",
            sps.width, sps.height, limits.max_width, limits.max_height
        ));
    }
    if sps.width < 16 || sps.height < 16 {
        return refuse(format!("the SPS claims {}x{}, smaller than 16x16", sps.width, sps.height));
    }
    if sps.max_num_ref_frames > limits.max_ref_frames {
        return refuse(format!("the SPS claims {} reference frames, at most {}", sps.max_num_ref_frames, limits.max_ref_frames));
    }
    if sps.chroma_format_idc != 1 || sps.bit_depth != 8 {
        return refuse(format!(
            "only 8-bit 4:2:0 is decoded (chroma_format_idc {}, {} bits)",
            sps.chroma_format_idc, sps.bit_depth
        ));
    }
    Ok(())
}

/// Decodes every access unit; pictures come out in presentation order.
pub fn decode(source: &Source) -> Result<Vec<DecodedPicture>, TranscodeError> {
    let codec = |e: livecast_openh264::Error| TranscodeError::Codec(format!("decode: {e}"));
    let mut decoder = Decoder::new().map_err(codec)?;
    let mut pictures = Vec::with_capacity(source.units.len());
    for unit in &source.units {
        if let Some(picture) = decoder.decode(unit).map_err(codec)? {
            if (picture.width, picture.height) != (source.sps.width, source.sps.height) {
                return Err(TranscodeError::Codec(format!(
                    "decoded a {}x{} picture from a {}x{} SPS",
                    picture.width, picture.height, source.sps.width, source.sps.height
                )));
            }
            pictures.push(picture);
        }
    }
    if pictures.is_empty() {
        return Err(TranscodeError::Codec("no picture decoded".into()));
    }
    Ok(pictures)
}

/// One encoded rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The MPEG-TS bytes.
    pub data: Vec<u8>,
    /// Frames in it.
    pub frames: u32,
    /// Output pixels: width × height × frames.
    pub pixels: u64,
}

/// True when a profile is larger than the source in either dimension (it is skipped).
pub fn larger_than_source(profile: &Profile, sps: &SpsInfo) -> bool {
    profile.width > sps.width || profile.height > sps.height
}

/// Decodes the source and encodes every profile, in parallel on `pool`. A profile larger
/// than the source gives `None`. Each decoded picture goes through every encoder on the pool
/// while the calling thread decodes the next one, so memory holds two pictures, not the
/// segment.
pub fn transcode(
    source: &Source,
    profiles: &[Profile],
    pool: &rayon::ThreadPool,
) -> Result<Vec<Option<Rendition>>, TranscodeError> {
    let frames = source.units.len();
    let mut encoders: Vec<Option<RenditionEncoder>> = profiles
        .iter()
        .map(|p| if larger_than_source(p, &source.sps) { Ok(None) } else { RenditionEncoder::new(p, source.fps, frames, &source.audio).map(Some) })
        .collect::<Result<_, _>>()?;
    let mut decoder = Decoder::new().map_err(decode_error)?;
    let mut units = source.units.iter();
    let mut shown = 0usize;
    let mut next = decode_next(&mut decoder, &mut units, source)?;
    // While the pool encodes picture i, this thread decodes picture i + 1.
    while let Some(picture) = next {
        let Some(&pts) = source.pts.get(shown) else { break };
        let mut encoded = Ok(());
        let mut decoded = Ok(None);
        pool.in_place_scope(|scope| {
            scope.spawn(|_| encoded = encoders.par_iter_mut().flatten().try_for_each(|e| e.push(&picture, pts)));
            decoded = decode_next(&mut decoder, &mut units, source);
        });
        encoded?;
        shown += 1;
        next = decoded?;
    }
    if shown == 0 {
        return Err(TranscodeError::Codec("no picture decoded".into()));
    }
    encoders.into_iter().map(|e| e.map(RenditionEncoder::finish).transpose()).collect()
}

fn decode_error(e: livecast_openh264::Error) -> TranscodeError {
    TranscodeError::Codec(format!("decode: {e}"))
}

/// Feeds access units to the decoder until it gives a picture (checked against the SPS
/// size) or the units run out.
fn decode_next<'a>(
    decoder: &mut Decoder,
    units: &mut impl Iterator<Item = &'a Vec<u8>>,
    source: &Source,
) -> Result<Option<DecodedPicture>, TranscodeError> {
    for unit in units {
        if let Some(picture) = decoder.decode(unit).map_err(decode_error)? {
            if (picture.width, picture.height) != (source.sps.width, source.sps.height) {
                return Err(TranscodeError::Codec(format!(
                    "decoded a {}x{} picture from a {}x{} SPS",
                    picture.width, picture.height, source.sps.width, source.sps.height
                )));
            }
            return Ok(Some(picture));
        }
    }
    Ok(None)
}

/// Reusable buffers for one scaled picture.
struct Scaled {
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

fn scale_plane(resizer: &mut Resizer, src: &[u8], sw: u32, sh: u32, dst: &mut [u8], dw: u32, dh: u32) -> Result<(), TranscodeError> {
    let err = |e: String| TranscodeError::Codec(format!("scale: {e}"));
    let src = ImageRef::new(sw, sh, src, PixelType::U8).map_err(|e| err(e.to_string()))?;
    let mut dst = Image::from_slice_u8(dw, dh, dst, PixelType::U8).map_err(|e| err(e.to_string()))?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    resizer.resize(&src, &mut dst, &options).map_err(|e| err(e.to_string()))
}

/// Scales (when needed) and encodes `pictures` for one profile; muxes with `pts` (video
/// only: [`transcode`] adds the source's audio).
pub fn encode_rendition(pictures: &[DecodedPicture], pts: &[u64], fps: f64, profile: &Profile) -> Result<Rendition, TranscodeError> {
    let mut encoder = RenditionEncoder::new(profile, fps, pictures.len(), &[])?;
    for (picture, &pts) in pictures.iter().zip(pts) {
        encoder.push(picture, pts)?;
    }
    encoder.finish()
}

/// One profile's encoder, fed one decoded picture at a time.
struct RenditionEncoder {
    profile: Profile,
    encoder: Encoder,
    scaled: Scaled,
    resizer: Resizer,
    muxer: TsMuxer,
    out: Vec<u8>,
    frames: u32,
    /// The source's audio PES still to write, in order.
    audio: std::collections::VecDeque<AudioPes>,
    /// 10 s before the first video PTS: audio and video are ordered relative to it, so a
    /// 33-bit wrap inside the segment (or audio a little ahead of the video) keeps its order.
    base: Option<u64>,
}

impl RenditionEncoder {
    /// An encoder for `frames` pictures (one GOP) at `fps`, the TS tables written.
    fn new(profile: &Profile, fps: f64, frames: usize, audio: &[AudioPes]) -> Result<Self, TranscodeError> {
        let codec = |e: livecast_openh264::Error| TranscodeError::Codec(format!("{}: {e}", profile.name));
        let (w, h) = (profile.width, profile.height);
        let encoder = Encoder::new(EncoderConfig {
            width: w,
            height: h,
            fps: fps as f32,
            bitrate_bps: profile.bitrate_bps,
            // One IDR, at the start: a rendition segment is one GOP, like its source.
            keyframe_interval_frames: (frames as u32).clamp(1, 3600),
        })
        .map_err(codec)?;
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let scaled = Scaled { y: vec![0; (w * h) as usize], u: vec![0; (cw * ch) as usize], v: vec![0; (cw * ch) as usize] };
        let mut muxer = if audio.is_empty() { TsMuxer::new() } else { TsMuxer::with_audio() };
        let mut out = Vec::new();
        muxer.write_tables(&mut out).map_err(|e| TranscodeError::Codec(format!("{}: mux: {e}", profile.name)))?;
        Ok(Self {
            profile: profile.clone(),
            encoder,
            scaled,
            resizer: Resizer::new(),
            muxer,
            out,
            frames: 0,
            audio: audio.iter().cloned().collect(),
            base: None,
        })
    }

    /// Scales (when needed), encodes and muxes one picture shown at `pts`.
    fn push(&mut self, picture: &DecodedPicture, pts: u64) -> Result<(), TranscodeError> {
        let profile = &self.profile;
        let codec = |e: livecast_openh264::Error| TranscodeError::Codec(format!("{}: {e}", profile.name));
        let mux = |e: livecast_core::Error| TranscodeError::Codec(format!("{}: mux: {e}", profile.name));
        let (w, h) = (profile.width, profile.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let scaled = &mut self.scaled;
        let picture_in = if (picture.width, picture.height) == (w, h) {
            Picture::packed(w, h, &picture.y, &picture.u, &picture.v)
        } else {
            let (sw, sh) = (picture.width, picture.height);
            let (scw, sch) = (sw.div_ceil(2), sh.div_ceil(2));
            scale_plane(&mut self.resizer, &picture.y, sw, sh, &mut scaled.y, w, h)?;
            scale_plane(&mut self.resizer, &picture.u, scw, sch, &mut scaled.u, cw, ch)?;
            scale_plane(&mut self.resizer, &picture.v, scw, sch, &mut scaled.v, cw, ch)?;
            Picture::packed(w, h, &scaled.y, &scaled.u, &scaled.v)
        };
        let i = self.frames;
        if i == 0 {
            self.encoder.force_keyframe().map_err(codec)?;
        }
        let frame = self.encoder.encode(&picture_in, (pts / 90) as i64).map_err(codec)?;
        if frame.kind == FrameKind::Skipped || frame.data.is_empty() {
            return Err(TranscodeError::Codec(format!("{}: the encoder skipped frame {i}", profile.name)));
        }
        if i == 0 && frame.kind != FrameKind::Keyframe {
            return Err(TranscodeError::Codec(format!("{}: the first frame is not an IDR", profile.name)));
        }
        // The source's audio up to this picture's time goes first, untouched.
        let base = *self.base.get_or_insert((pts + (1 << 33) - 10 * CLOCK_HZ) % (1 << 33));
        let rel = |p: u64| (p + (1 << 33) - base) % (1 << 33);
        while self.audio.front().is_some_and(|a| rel(a.pts) <= rel(pts)) {
            if let Some(pes) = self.audio.pop_front() {
                self.muxer.write_audio_at_pts(&pes.data, pes.pts, &mut self.out).map_err(mux)?;
            }
        }
        self.muxer.write_access_unit_at_pts(&frame.data, frame.kind == FrameKind::Keyframe, pts, &mut self.out).map_err(mux)?;
        self.frames += 1;
        Ok(())
    }

    /// The rendition, with the audio after its last picture.
    fn finish(mut self) -> Result<Rendition, TranscodeError> {
        let name = &self.profile.name;
        for pes in std::mem::take(&mut self.audio) {
            self.muxer.write_audio_at_pts(&pes.data, pes.pts, &mut self.out).map_err(|e| TranscodeError::Codec(format!("{name}: mux: {e}")))?;
        }
        Ok(Rendition { data: self.out, frames: self.frames, pixels: self.profile.pixels_per_frame() * u64::from(self.frames) })
    }
}
