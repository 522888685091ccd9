//! Transcoding profiles: Livepeer's named renditions with typed settings, their 4-byte
//! ids, and the conversion to and from the wire's `VideoProfile`.
//!
//! The names and settings are lpms's (`ffmpeg/videoprofile.go`) plus the 480p rung of
//! go-livepeer's benchmark ladder (`480p0`, 854×480, 1.6 Mbit/s, source frame rate):
//! lpms itself defines no 480p profile.

use crate::net;
use crate::Error;
use alloy_primitives::keccak256;
use std::borrow::Cow;

/// H.264 profile a rendition asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecProfile {
    /// The encoder's choice.
    EncoderDefault,
    /// Baseline.
    Baseline,
    /// Main.
    Main,
    /// High.
    High,
    /// Constrained High.
    ConstrainedHigh,
}

impl CodecProfile {
    fn to_net(self) -> net::video_profile::Profile {
        use net::video_profile::Profile as P;
        match self {
            Self::EncoderDefault => P::EncoderDefault,
            Self::Baseline => P::H264Baseline,
            Self::Main => P::H264Main,
            Self::High => P::H264High,
            Self::ConstrainedHigh => P::H264ConstrainedHigh,
        }
    }

    fn from_net(p: net::video_profile::Profile) -> Self {
        use net::video_profile::Profile as P;
        match p {
            P::EncoderDefault => Self::EncoderDefault,
            P::H264Baseline => Self::Baseline,
            P::H264Main => Self::Main,
            P::H264High => Self::High,
            P::H264ConstrainedHigh => Self::ConstrainedHigh,
        }
    }
}

/// One rendition's settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Profile {
    /// The Livepeer name, which is what signatures cover (see [`Profile::id`]).
    pub name: Cow<'static, str>,
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Target bitrate, bits per second.
    pub bitrate_bps: u32,
    /// Frame rate numerator; 0 keeps the source's rate.
    pub fps: u32,
    /// Frame rate denominator; 0 means 1.
    pub fps_den: u32,
    /// The H.264 profile asked for.
    pub codec_profile: CodecProfile,
}

const fn named(name: &'static str, width: u32, height: u32, kbps: u32, fps: u32) -> Profile {
    Profile {
        name: Cow::Borrowed(name),
        width,
        height,
        bitrate_bps: kbps * 1000,
        fps,
        fps_den: 0,
        codec_profile: CodecProfile::EncoderDefault,
    }
}

/// 1280×720, 60 fps, 6000 kbit/s.
pub const P720P60FPS16X9: Profile = named("P720p60fps16x9", 1280, 720, 6000, 60);
/// 1280×720, 30 fps, 4000 kbit/s.
pub const P720P30FPS16X9: Profile = named("P720p30fps16x9", 1280, 720, 4000, 30);
/// 1280×720, 25 fps, 3500 kbit/s.
pub const P720P25FPS16X9: Profile = named("P720p25fps16x9", 1280, 720, 3500, 25);
/// 960×720, 30 fps, 3500 kbit/s.
pub const P720P30FPS4X3: Profile = named("P720p30fps4x3", 960, 720, 3500, 30);
/// 1024×576, 30 fps, 1500 kbit/s.
pub const P576P30FPS16X9: Profile = named("P576p30fps16x9", 1024, 576, 1500, 30);
/// 1024×576, 25 fps, 1500 kbit/s.
pub const P576P25FPS16X9: Profile = named("P576p25fps16x9", 1024, 576, 1500, 25);
/// 854×480 at the source frame rate, 1600 kbit/s: go-livepeer's benchmark 480p rung.
pub const P480P0: Profile = named("480p0", 854, 480, 1600, 0);
/// 640×360, 30 fps, 1200 kbit/s.
pub const P360P30FPS16X9: Profile = named("P360p30fps16x9", 640, 360, 1200, 30);
/// 640×360, 25 fps, 1000 kbit/s.
pub const P360P25FPS16X9: Profile = named("P360p25fps16x9", 640, 360, 1000, 25);
/// 480×360, 30 fps, 1000 kbit/s.
pub const P360P30FPS4X3: Profile = named("P360p30fps4x3", 480, 360, 1000, 30);
/// 426×240, 30 fps, 600 kbit/s.
pub const P240P30FPS16X9: Profile = named("P240p30fps16x9", 426, 240, 600, 30);
/// 426×240, 25 fps, 600 kbit/s.
pub const P240P25FPS16X9: Profile = named("P240p25fps16x9", 426, 240, 600, 25);
/// 320×240, 30 fps, 600 kbit/s.
pub const P240P30FPS4X3: Profile = named("P240p30fps4x3", 320, 240, 600, 30);
/// 256×144, 30 fps, 400 kbit/s.
pub const P144P30FPS16X9: Profile = named("P144p30fps16x9", 256, 144, 400, 30);
/// 256×144, 25 fps, 400 kbit/s.
pub const P144P25FPS16X9: Profile = named("P144p25fps16x9", 256, 144, 400, 25);

/// Every named profile, largest first.
pub const KNOWN_PROFILES: &[Profile] = &[
    P720P60FPS16X9,
    P720P30FPS16X9,
    P720P25FPS16X9,
    P720P30FPS4X3,
    P576P30FPS16X9,
    P576P25FPS16X9,
    P480P0,
    P360P30FPS16X9,
    P360P25FPS16X9,
    P360P30FPS4X3,
    P240P30FPS16X9,
    P240P25FPS16X9,
    P240P30FPS4X3,
    P144P30FPS16X9,
    P144P25FPS16X9,
];

/// Livecast's default 16:9 ladder: 720p, 480p, 360p, 240p.
pub const DEFAULT_LADDER: &[Profile] = &[P720P30FPS16X9, P480P0, P360P30FPS16X9, P240P30FPS16X9];

/// The 4-byte id go-livepeer derives from a profile name: the first four bytes of
/// keccak256(name).
pub fn profile_id(name: &str) -> [u8; 4] {
    let hash = keccak256(name.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

impl Profile {
    /// The named profile, if `name` is one.
    pub fn lookup(name: &str) -> Option<&'static Profile> {
        KNOWN_PROFILES.iter().find(|p| p.name == name)
    }

    /// A custom profile, named as go-livepeer names unnamed ones: `custom_{W}x{H}_{bps}`.
    /// The name carries the settings, so a signature over the name covers them.
    pub fn custom(width: u32, height: u32, bitrate_bps: u32) -> Self {
        Profile {
            name: Cow::Owned(format!("custom_{width}x{height}_{bitrate_bps}")),
            width,
            height,
            bitrate_bps,
            fps: 0,
            fps_den: 0,
            codec_profile: CodecProfile::EncoderDefault,
        }
    }

    /// This profile's 4-byte id (see [`profile_id`]).
    pub fn id(&self) -> [u8; 4] {
        profile_id(&self.name)
    }

    /// Output pixels per frame.
    pub fn pixels_per_frame(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The wire form (MPEG-TS, H.264).
    pub fn to_net(&self) -> net::VideoProfile {
        net::VideoProfile {
            name: self.name.to_string(),
            width: self.width as i32,
            height: self.height as i32,
            bitrate: self.bitrate_bps as i32,
            fps: self.fps,
            fps_den: self.fps_den,
            profile: self.codec_profile.to_net() as i32,
            ..Default::default()
        }
    }

    /// Reads a wire profile, trusting only what the (signed) name says: a named profile
    /// must carry the table's size and bitrate (or leave them zero), a custom one must be
    /// named `custom_{W}x{H}_{bps}` after its own settings. Only H.264 in MPEG-TS is made.
    pub fn from_net(p: &net::VideoProfile) -> Result<Self, Error> {
        use net::video_profile::{Format, VideoCodec};
        let unsupported = |reason: String| Error::UnsupportedProfile { name: p.name.clone(), reason };
        if p.format != Format::Mpegts as i32 {
            return Err(unsupported(format!("container {} (only MPEG-TS is made)", p.format)));
        }
        if p.encoder != VideoCodec::H264 as i32 {
            return Err(unsupported(format!("codec {} (only H.264 is made)", p.encoder)));
        }
        let codec_profile = net::video_profile::Profile::try_from(p.profile)
            .map(CodecProfile::from_net)
            .map_err(|_| unsupported(format!("H.264 profile {}", p.profile)))?;
        let got = format!("{}x{}@{}", p.width, p.height, p.bitrate);
        if let Some(known) = Self::lookup(&p.name) {
            let zero = p.width == 0 && p.height == 0 && p.bitrate == 0;
            let same = i64::from(p.width) == i64::from(known.width)
                && i64::from(p.height) == i64::from(known.height)
                && i64::from(p.bitrate) == i64::from(known.bitrate_bps);
            if !zero && !same {
                return Err(Error::ProfileMismatch {
                    name: p.name.clone(),
                    expected: format!("{}x{}@{}", known.width, known.height, known.bitrate_bps),
                    got,
                });
            }
            return Ok(Profile { codec_profile, ..known.clone() });
        }
        let (Ok(width), Ok(height), Ok(bitrate)) =
            (u32::try_from(p.width), u32::try_from(p.height), u32::try_from(p.bitrate))
        else {
            return Err(Error::UnknownProfile(p.name.clone()));
        };
        let custom = Self::custom(width, height, bitrate);
        if custom.name != p.name || width == 0 || height == 0 || bitrate == 0 {
            return Err(Error::UnknownProfile(p.name.clone()));
        }
        Ok(Profile { fps: p.fps, fps_den: p.fps_den, codec_profile, ..custom })
    }
}
