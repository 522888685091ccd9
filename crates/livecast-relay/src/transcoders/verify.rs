//! The checks on what a node returns for a segment, before anything is stored:
//!
//! - one `TranscodedSegmentData` per requested profile, in order;
//! - a skipped profile (empty URL, 0 pixels) only when it is larger than the source;
//! - every URL on the node's own origin ([`NodeUri::same_origin`]);
//! - every rendition an H.264 MPEG-TS segment ([`livecast_core::ts::probe_segment`]) that
//!   starts with an IDR, whose SPS gives exactly the profile's width and height, with the
//!   source's frame count ± 1, and whose reported pixels are width × height × frames;
//! - a source with AAC audio: every rendition carries it copied untouched (the same number
//!   of AAC frames from the same first PTS, the same rate and channels); a source without
//!   audio: no rendition has any.
//!
//! The node's signature over the renditions is checked by the caller, against the address
//! from the node's `OrchestratorInfo`.

use livecast_protocol::net::TranscodedSegmentData;
use livecast_protocol::Profile;

use super::{NodeError, NodeUri};
use livecast_api::RelayErrorCode as Code;
use livecast_core::sps;

/// What the relay read from the source segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceFacts {
    /// Video frames in the source.
    pub video_frames: u32,
    /// Its duration, seconds.
    pub duration_secs: f64,
    /// Its width and height from the SPS, when it could be read.
    pub size: Option<(u32, u32)>,
    /// Its AAC audio, if any.
    pub audio: Option<AudioFacts>,
}

/// The facts of a segment's AAC audio that a rendition must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFacts {
    /// AAC frames.
    pub frames: u32,
    /// PTS of the first, 90 kHz.
    pub first_pts: u64,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel configuration.
    pub channels: u8,
}

impl AudioFacts {
    /// The facts of a probed segment's audio.
    pub fn of(info: &livecast_core::ts::AudioInfo) -> Self {
        Self { frames: info.frames, first_pts: info.first_pts, sample_rate: info.sample_rate, channels: info.channels }
    }
}

/// What the relay read from a rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionFacts {
    /// Width from the SPS.
    pub width: u32,
    /// Height from the SPS.
    pub height: u32,
    /// Video frames.
    pub video_frames: u32,
    /// Duration, seconds.
    pub duration_secs: f64,
    /// First PTS, 90 kHz.
    pub first_pts: u64,
    /// RFC 6381 codec string.
    pub codecs: String,
    /// Pixels the node reported (equal to width × height × frames).
    pub pixels: u64,
}

fn bad(code: Code, uri: &NodeUri, message: String) -> NodeError {
    NodeError::new(code, format!("{uri}: {message}"))
}

/// The URL of each rendition (`None` for a skipped profile), checked against the node's
/// origin and the requested profiles.
pub fn rendition_urls(
    uri: &NodeUri,
    profiles: &[Profile],
    segments: &[TranscodedSegmentData],
) -> Result<Vec<Option<reqwest::Url>>, NodeError> {
    if segments.len() != profiles.len() {
        return Err(bad(
            Code::TranscoderBadResponse,
            uri,
            format!("{} renditions for {} profiles", segments.len(), profiles.len()),
        ));
    }
    profiles
        .iter()
        .zip(segments)
        .map(|(profile, seg)| {
            if seg.url.is_empty() {
                if seg.pixels != 0 {
                    return Err(bad(Code::TranscoderBadResponse, uri, format!("{}: no URL but {} pixels", profile.name, seg.pixels)));
                }
                return Ok(None);
            }
            let url = reqwest::Url::parse(&seg.url).map_err(|e| {
                bad(Code::RenditionUrlRejected, uri, format!("{}: {:?} is not a URL: {e}", profile.name, seg.url))
            })?;
            if !uri.same_origin(&url) {
                return Err(bad(
                    Code::RenditionUrlRejected,
                    uri,
                    format!("{}: {url} is not on the node's origin; the relay fetches only from {uri}", profile.name),
                ));
            }
            Ok(Some(url))
        })
        .collect()
}

/// Checks each fetched rendition (`fetched[i]` is empty for a skipped profile) and reads
/// its facts (`None` for a skipped profile).
pub fn check_renditions(
    uri_text: &NodeUri,
    profiles: &[Profile],
    segments: &[TranscodedSegmentData],
    fetched: &[Vec<u8>],
    source: &SourceFacts,
) -> Result<Vec<Option<RenditionFacts>>, NodeError> {
    let uri = uri_text;
    profiles
        .iter()
        .zip(segments)
        .zip(fetched)
        .map(|((profile, seg), bytes)| {
            let name = &profile.name;
            if seg.url.is_empty() {
                if let Some((w, h)) = source.size {
                    if profile.width <= w && profile.height <= h {
                        return Err(bad(
                            Code::TranscoderBadResponse,
                            uri,
                            format!("{name} skipped, but it is no larger than the {w}x{h} source"),
                        ));
                    }
                }
                return Ok(None);
            }
            let invalid = |m: String| bad(Code::RenditionInvalid, uri, format!("{name}: {m}"));
            let info = livecast_core::ts::probe_segment(bytes).map_err(|e| invalid(e.to_string()))?;
            if !info.starts_with_keyframe {
                return Err(invalid("does not start with an IDR".into()));
            }
            let sps = sps::segment_sps(bytes).map_err(|e| invalid(format!("SPS: {e}")))?;
            if (sps.width, sps.height) != (profile.width, profile.height) {
                return Err(invalid(format!(
                    "{}x{} in its SPS, the profile is {}x{}",
                    sps.width, sps.height, profile.width, profile.height
                )));
            }
            if info.video_frames.abs_diff(source.video_frames) > 1 {
                return Err(invalid(format!("{} frames, the source has {}", info.video_frames, source.video_frames)));
            }
            let audio = info.audio.as_ref().map(AudioFacts::of);
            if audio != source.audio {
                let describe = |a: Option<AudioFacts>| match a {
                    Some(a) => format!("{} AAC frames from PTS {} at {} Hz, {} channels", a.frames, a.first_pts, a.sample_rate, a.channels),
                    None => "no audio".to_owned(),
                };
                return Err(invalid(format!(
                    "audio not copied from the source: {}, the source has {}",
                    describe(audio),
                    describe(source.audio)
                )));
            }
            let pixels = u64::from(sps.width) * u64::from(sps.height) * u64::from(info.video_frames);
            if u64::try_from(seg.pixels).ok() != Some(pixels) {
                return Err(invalid(format!(
                    "reported {} pixels, {}x{} × {} frames is {pixels}",
                    seg.pixels, sps.width, sps.height, info.video_frames
                )));
            }
            Ok(Some(RenditionFacts {
                width: sps.width,
                height: sps.height,
                video_frames: info.video_frames,
                duration_secs: info.duration_secs,
                first_pts: info.first_pts,
                codecs: livecast_core::fmp4::codecs(&sps.codecs(), info.audio.as_ref().map(|a| a.codec.as_str())),
                pixels,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use livecast_protocol::profile::{P240P30FPS16X9, P720P30FPS16X9};

    fn node() -> NodeUri {
        NodeUri::parse("http://127.0.0.1:9000").unwrap()
    }

    fn seg(url: &str, pixels: i64) -> TranscodedSegmentData {
        TranscodedSegmentData { url: url.into(), pixels, ..Default::default() }
    }

    #[test]
    fn urls_must_stay_on_the_node() {
        let profiles = [P720P30FPS16X9, P240P30FPS16X9];
        let ok = rendition_urls(&node(), &profiles, &[seg("", 0), seg("http://127.0.0.1:9000/stream/a/P240p30fps16x9/1.ts", 5)]).unwrap();
        assert!(ok[0].is_none() && ok[1].is_some());
        for evil in ["http://127.0.0.1:9001/x.ts", "http://169.254.169.254/latest", "file:///etc/passwd", "https://127.0.0.1:9000/x", "::"] {
            let e = rendition_urls(&node(), &profiles[1..], &[seg(evil, 5)]).unwrap_err();
            assert_eq!(e.code, Code::RenditionUrlRejected, "{evil}");
        }
        assert_eq!(rendition_urls(&node(), &profiles, &[seg("", 0)]).unwrap_err().code, Code::TranscoderBadResponse);
        assert_eq!(rendition_urls(&node(), &profiles[..1], &[seg("", 7)]).unwrap_err().code, Code::TranscoderBadResponse);
    }

    #[test]
    fn renditions_are_checked_against_the_profile_and_source() {
        // 160x120 test segments stand in for a rendition of a "custom_160x120_1" profile.
        let data = crate::test_media::segments()[0].clone();
        let info = livecast_core::ts::probe_segment(&data).unwrap();
        let profile = Profile::custom(160, 120, 1);
        let pixels = 160 * 120 * i64::from(info.video_frames);
        let source = SourceFacts { video_frames: info.video_frames, duration_secs: 1.0, size: Some((320, 240)), audio: None };
        let check = |p: &Profile, s: TranscodedSegmentData, bytes: &[u8], src: &SourceFacts| {
            check_renditions(&node(), std::slice::from_ref(p), &[s], &[bytes.to_vec()], src)
        };
        let url = "http://127.0.0.1:9000/r.ts";
        let facts = check(&profile, seg(url, pixels), &data, &source).unwrap()[0].clone().unwrap();
        assert_eq!((facts.width, facts.height, facts.pixels as i64), (160, 120, pixels));
        let code = |r: Result<Vec<Option<RenditionFacts>>, NodeError>| r.unwrap_err().code.as_str();
        assert_eq!(code(check(&profile, seg(url, pixels + 1), &data, &source)), "rendition_invalid");
        assert_eq!(code(check(&Profile::custom(320, 240, 1), seg(url, pixels), &data, &source)), "rendition_invalid");
        let more = SourceFacts { video_frames: info.video_frames + 2, ..source };
        assert_eq!(code(check(&profile, seg(url, pixels), &data, &more)), "rendition_invalid");
        assert_eq!(code(check(&profile, seg(url, pixels), b"garbage", &source)), "rendition_invalid");
        // Skipping a profile that fits in the source is not allowed.
        assert_eq!(code(check(&profile, seg("", 0), b"", &source)), "transcoder_bad_response");
        assert!(check(&Profile::custom(640, 480, 1), seg("", 0), b"", &source).unwrap()[0].is_none());
    }
}
