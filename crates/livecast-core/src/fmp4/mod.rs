//! MPEG-TS → fragmented MP4, for playing HLS through Media Source Extensions.
//!
//! A browser's `SourceBuffer` takes ISO BMFF: an init segment (`ftyp` + `moov`, the codec
//! configuration) and then media segments (`moof` + `mdat`). HLS live streams, ours
//! included, are MPEG-TS. [`Transmuxer`] turns one whole TS segment at a time into a
//! [`Fragment`], with an [`InitSegment`] whenever the H.264 parameter sets change (the first
//! segment, an ABR level switch).
//!
//! - Timeline: decode times run on one 90 kHz timeline across segments. Renditions of one
//!   stream share the source's PTS, so every segment's PTS/DTS is mapped onto the timeline
//!   with one fixed offset taken at the first segment (33-bit wraps are unwrapped); after an
//!   `EXT-X-DISCONTINUITY` the new segment continues where the previous fragment ended.
//! - Samples: DTS deltas give durations, PTS − DTS the composition offsets (signed, in a
//!   version-1 `trun`, so B-frames need no shifting), IDRs are the sync samples.
//! - Audio: [`Transmuxer::new`] is video only (audio PIDs are ignored, one video track out);
//!   [`Transmuxer::with_audio`] also carries ADTS AAC as a second track in the same
//!   fragments, on the video's timeline.
//!
//! [`probe_init`] reads an fMP4 init segment (HLS `EXT-X-MAP`), so fMP4/CMAF input can be
//! passed through with the right `SourceBuffer` type.
//!
//! The few boxes needed are written and read by hand (`boxes.rs`, `probe.rs`): the
//! `mp4-atom` crate, which wrote and read them before, links every box type it knows into
//! the wasm Player. The tests check both against `mp4-atom`.

mod audio;
mod boxes;
mod probe;
mod timeline;
mod transmuxer;

#[cfg(test)]
mod tests;

pub use probe::{probe_init, InitInfo};
pub use transmuxer::Transmuxer;

/// The timescale of everything the transmuxer writes: MPEG-TS's 90 kHz clock.
pub const TIMESCALE: u32 = 90_000;

/// How a segment relates to the one pushed before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentOptions {
    /// The playlist marks this segment `EXT-X-DISCONTINUITY`: its timestamps do not follow
    /// the previous segment's, so it is placed right after the previous fragment's end.
    pub discontinuity: bool,
}

/// An fMP4 init segment for one H.264 configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    /// `ftyp` + `moov`: append to the `SourceBuffer` before the fragments that follow it.
    pub bytes: Vec<u8>,
    /// RFC 6381 codec string from the SPS, e.g. `avc1.42C01F` (for `addSourceBuffer` and
    /// `changeType`: `video/mp4; codecs="…"`).
    pub codec: String,
    /// The AAC track's codec string (`mp4a.40.2`), when the transmuxer carries audio and the
    /// stream has it.
    pub audio_codec: Option<String>,
    /// Picture width in pixels (after cropping).
    pub width: u32,
    /// Picture height in pixels (after cropping).
    pub height: u32,
}

impl InitSegment {
    /// The `codecs` parameter for every track, e.g. `avc1.42C01F,mp4a.40.2`.
    pub fn codecs(&self) -> String {
        codecs(&self.codec, self.audio_codec.as_deref())
    }

    /// The MIME type for `MediaSource.addSourceBuffer`, e.g. `video/mp4; codecs="avc1.42C01F"`.
    pub fn mime_type(&self) -> String {
        mime_type(&self.codec, self.audio_codec.as_deref())
    }
}

/// The `codecs` parameter of a video track and an optional audio track, e.g.
/// `avc1.42C01F,mp4a.40.2` (also an HLS `CODECS` attribute).
pub fn codecs(video: &str, audio: Option<&str>) -> String {
    match audio {
        Some(audio) => format!("{video},{audio}"),
        None => video.to_owned(),
    }
}

/// `video/mp4; codecs="…"` for those tracks.
pub(crate) fn mime_type(video: &str, audio: Option<&str>) -> String {
    format!("video/mp4; codecs=\"{}\"", codecs(video, audio))
}

/// One transmuxed TS segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    /// A new init segment, to append before `data`: on the first segment and whenever the
    /// SPS/PPS change (an ABR level switch to another size or profile).
    pub init: Option<InitSegment>,
    /// `moof` + `mdat`.
    pub data: Vec<u8>,
    /// Decode time of the first sample on the output timeline, in [`Fragment::timescale`] units.
    pub base_decode_time: u64,
    /// Sum of the sample durations, in [`Fragment::timescale`] units.
    pub duration: u64,
    /// Always [`TIMESCALE`] (90 kHz).
    pub timescale: u32,
    /// Earliest presentation time of the fragment on the output timeline, in seconds
    /// (where its buffered range starts in the `SourceBuffer`).
    pub start_seconds: f64,
    /// [`Fragment::duration`] in seconds.
    pub duration_seconds: f64,
    /// Number of video frames (samples).
    pub frames: u32,
    /// Number of AAC frames in the audio track (0 when there is none).
    pub audio_frames: u32,
    /// True when the first sample is an IDR, so the fragment decodes on its own.
    pub starts_with_keyframe: bool,
}
