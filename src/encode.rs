//! The encode stage: frames (RGBA from a canvas, or I420 from a `VideoFrame`) in,
//! Annex-B H.264 out, on openh264. Plain Rust: the JS class wraps it, tests run natively.

use crate::LivecastError;
use livecast_core::convert::rgba_to_i420;
use livecast_core::frame::check_planes;
use livecast_core::I420Frame;
use livecast_openh264::{Encoder, EncoderConfig, FrameKind, Picture};

/// Encoder options as a page passes them: every field optional, numbers as JS numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncoderOptions {
    /// Width in pixels: required, even, 16..=3840.
    pub width: Option<f64>,
    /// Height in pixels: required, even, 16..=2160.
    pub height: Option<f64>,
    /// Frame rate: default [`EncoderSettings::DEFAULT_FPS`].
    pub fps: Option<f64>,
    /// Target bitrate in kbit/s: default [`EncoderSettings::DEFAULT_BITRATE_KBPS`].
    pub bitrate_kbps: Option<f64>,
    /// Frames between IDRs: default two seconds' worth (`2 * fps`).
    pub keyframe_interval_frames: Option<f64>,
}

impl EncoderOptions {
    /// The option names as JavaScript spells them.
    pub const KEYS: &'static [&'static str] = &["width", "height", "fps", "bitrateKbps", "keyframeIntervalFrames"];
}

/// Checked encoder settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSettings {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate.
    pub fps: f64,
    /// Target bitrate, kbit/s.
    pub bitrate_kbps: u32,
    /// Frames between IDRs.
    pub keyframe_interval_frames: u32,
}

const OBJECT: &str = "H264Encoder";

fn config_error(message: String) -> LivecastError {
    LivecastError::InvalidConfig { object: OBJECT, message }
}

/// Reads an integer option: present (or defaulted), finite, whole, within `range`.
fn integer(name: &str, value: Option<f64>, default: Option<f64>, range: std::ops::RangeInclusive<u32>) -> Result<u32, LivecastError> {
    let Some(v) = value.or(default) else {
        return Err(LivecastError::ConfigType { object: OBJECT, message: format!("`{name}` is required") });
    };
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(config_error(format!("`{name}` must be a whole number, got {v}")));
    }
    if v < *range.start() as f64 || v > *range.end() as f64 {
        return Err(config_error(format!("`{name}` must be within {}..={}, got {v}", range.start(), range.end())));
    }
    Ok(v as u32)
}

impl EncoderSettings {
    /// Frame rate when none is given.
    pub const DEFAULT_FPS: f64 = 30.0;
    /// Bitrate when none is given (kbit/s): good 480p, acceptable 720p.
    pub const DEFAULT_BITRATE_KBPS: u32 = 2000;

    /// Checks options and fills in defaults; errors name the option and the rule.
    pub fn from_options(o: &EncoderOptions) -> Result<Self, LivecastError> {
        let width = integer("width", o.width, None, 16..=EncoderConfig::MAX_WIDTH)?;
        let height = integer("height", o.height, None, 16..=EncoderConfig::MAX_HEIGHT)?;
        for (name, v) in [("width", width), ("height", height)] {
            if v % 2 != 0 {
                return Err(config_error(format!("`{name}` must be even (I420 halves it for chroma), got {v}")));
            }
        }
        let fps = o.fps.unwrap_or(Self::DEFAULT_FPS);
        if !fps.is_finite() || !(1.0..=120.0).contains(&fps) {
            return Err(config_error(format!("`fps` must be within 1..=120, got {fps}")));
        }
        let bitrate_kbps = integer(
            "bitrateKbps",
            o.bitrate_kbps,
            Some(Self::DEFAULT_BITRATE_KBPS as f64),
            EncoderConfig::MIN_BITRATE_BPS / 1000..=EncoderConfig::MAX_BITRATE_BPS / 1000,
        )?;
        let keyframe_interval_frames =
            integer("keyframeIntervalFrames", o.keyframe_interval_frames, Some((2.0 * fps).round()), 1..=3600)?;
        Ok(Self { width, height, fps, bitrate_kbps, keyframe_interval_frames })
    }

    fn encoder_config(&self) -> EncoderConfig {
        EncoderConfig {
            width: self.width,
            height: self.height,
            fps: self.fps as f32,
            bitrate_bps: self.bitrate_kbps * 1000,
            keyframe_interval_frames: self.keyframe_interval_frames,
        }
    }
}

/// One encoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedOutput {
    /// Annex-B H.264; empty if the encoder skipped the frame (it does not with the
    /// settings Livecast uses, but callers must not assume a frame per input).
    pub data: Vec<u8>,
    /// True for an IDR picture, which carries SPS and PPS in front.
    pub keyframe: bool,
    /// The timestamp passed in, microseconds.
    pub timestamp_us: f64,
}

/// Frames in, Annex-B out. Keeps one scratch frame so RGBA input costs no allocation.
#[derive(Debug)]
pub struct EncodePipeline {
    settings: EncoderSettings,
    encoder: Encoder,
    scratch: I420Frame,
    frames: u64,
}

impl EncodePipeline {
    /// A pipeline for checked settings.
    pub fn new(settings: EncoderSettings) -> Result<Self, LivecastError> {
        let encoder = Encoder::new(settings.encoder_config())?;
        let scratch = I420Frame::black(settings.width, settings.height)?;
        Ok(Self { settings, encoder, scratch, frames: 0 })
    }

    /// The settings in force.
    pub fn settings(&self) -> &EncoderSettings {
        &self.settings
    }

    /// Frames encoded so far.
    pub fn frames_encoded(&self) -> u64 {
        self.frames
    }

    /// Makes the next frame an IDR.
    pub fn force_keyframe(&mut self) -> Result<(), LivecastError> {
        Ok(self.encoder.force_keyframe()?)
    }

    /// Encodes `width * height * 4` bytes of RGBA (alpha ignored).
    pub fn encode_rgba(&mut self, rgba: &[u8], timestamp_us: f64) -> Result<EncodedOutput, LivecastError> {
        check_timestamp(timestamp_us)?;
        let (w, h) = (self.settings.width, self.settings.height);
        rgba_to_i420(rgba, w, h, &mut self.scratch)?;
        let Self { encoder, scratch, .. } = self;
        let picture = Picture::packed(w, h, scratch.y(), scratch.u(), scratch.v());
        let frame = encoder.encode(&picture, (timestamp_us / 1000.0).floor() as i64)?;
        self.frames += 1;
        Ok(output(frame, timestamp_us))
    }

    /// Encodes tightly packed I420 planes.
    pub fn encode_i420(&mut self, y: &[u8], u: &[u8], v: &[u8], timestamp_us: f64) -> Result<EncodedOutput, LivecastError> {
        check_timestamp(timestamp_us)?;
        let (w, h) = (self.settings.width, self.settings.height);
        check_planes(w, h, y, u, v)?;
        let frame = self.encoder.encode(&Picture::packed(w, h, y, u, v), (timestamp_us / 1000.0).floor() as i64)?;
        self.frames += 1;
        Ok(output(frame, timestamp_us))
    }
}

fn output(frame: livecast_openh264::EncodedFrame, timestamp_us: f64) -> EncodedOutput {
    EncodedOutput { keyframe: frame.kind == FrameKind::Keyframe, data: frame.data, timestamp_us }
}

/// The WebCodecs codec string for H.264 Constrained Baseline at the lowest level that
/// fits `width` x `height` at `fps` (ITU-T H.264 table A-1: frame size and macroblock rate),
/// e.g. `avc1.42E01F` for 1280x720 at 30 fps. `None` beyond level 5.1.
pub fn avc_codec_string(width: u32, height: u32, fps: f64) -> Option<String> {
    // (level_idc, max macroblocks per second, max frame size in macroblocks)
    const LEVELS: [(u8, f64, u32); 9] = [
        (0x1E, 40_500.0, 1_620),
        (0x1F, 108_000.0, 3_600),
        (0x20, 216_000.0, 5_120),
        (0x28, 245_760.0, 8_192),
        (0x29, 245_760.0, 8_192),
        (0x2A, 522_240.0, 8_704),
        (0x32, 589_824.0, 22_080),
        (0x33, 983_040.0, 36_864),
        (0x34, 2_073_600.0, 36_864),
    ];
    let frame_mbs = width.div_ceil(16) * height.div_ceil(16);
    let rate = frame_mbs as f64 * fps;
    LEVELS
        .iter()
        .find(|(_, max_rate, max_fs)| frame_mbs <= *max_fs && rate <= *max_rate)
        // 42 = Baseline; E0 = constraint_set0/1/2 (Constrained Baseline).
        .map(|(level, _, _)| format!("avc1.42E0{level:02X}"))
}

/// Largest timestamp a JS number holds exactly (2^53 µs, about 285 years).
const MAX_TIMESTAMP_US: f64 = 9_007_199_254_740_992.0;

fn check_timestamp(us: f64) -> Result<(), LivecastError> {
    if us.is_finite() && (0.0..=MAX_TIMESTAMP_US).contains(&us) {
        Ok(())
    } else {
        Err(LivecastError::InvalidFrame(format!("`timestampUs` must be a finite number >= 0, got {us}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, JsErrorClass};
    use livecast_core::annexb::starts_decodable;
    use livecast_core::pattern::TestPattern;
    use livecast_core::quality::psnr;
    use livecast_openh264::Decoder;

    fn options(width: f64, height: f64) -> EncoderOptions {
        EncoderOptions { width: Some(width), height: Some(height), ..Default::default() }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn avc_codec_strings_pick_the_lowest_level_that_fits() {
        assert_eq!(avc_codec_string(640, 480, 30.0).as_deref(), Some("avc1.42E01E"));
        assert_eq!(avc_codec_string(1280, 720, 30.0).as_deref(), Some("avc1.42E01F"));
        assert_eq!(avc_codec_string(1280, 720, 60.0).as_deref(), Some("avc1.42E020"));
        assert_eq!(avc_codec_string(1920, 1080, 30.0).as_deref(), Some("avc1.42E028"));
        assert_eq!(avc_codec_string(3840, 2160, 30.0).as_deref(), Some("avc1.42E033"));
        assert_eq!(avc_codec_string(8192, 8192, 60.0), None);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn defaults_fill_in_what_the_page_leaves_out() {
        let s = EncoderSettings::from_options(&options(640.0, 480.0)).unwrap();
        assert_eq!(s, EncoderSettings { width: 640, height: 480, fps: 30.0, bitrate_kbps: 2000, keyframe_interval_frames: 60 });
        let s = EncoderSettings::from_options(&EncoderOptions { fps: Some(25.0), ..options(640.0, 480.0) }).unwrap();
        assert_eq!(s.keyframe_interval_frames, 50);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn bad_options_name_the_option_and_the_rule() {
        let cases = [
            (EncoderOptions { width: None, ..options(0.0, 480.0) }, "`width` is required", JsErrorClass::TypeError),
            (options(641.0, 480.0), "`width` must be even", JsErrorClass::RangeError),
            (options(640.5, 480.0), "`width` must be a whole number, got 640.5", JsErrorClass::RangeError),
            (options(640.0, 0.0), "`height` must be within 16..=2160, got 0", JsErrorClass::RangeError),
            (options(640.0, f64::NAN), "`height` must be a whole number", JsErrorClass::RangeError),
            (EncoderOptions { fps: Some(1000.0), ..options(640.0, 480.0) }, "`fps` must be within 1..=120", JsErrorClass::RangeError),
            (EncoderOptions { bitrate_kbps: Some(1e9), ..options(640.0, 480.0) }, "`bitrateKbps` must be within 32..=50000", JsErrorClass::RangeError),
            (EncoderOptions { keyframe_interval_frames: Some(0.0), ..options(640.0, 480.0) }, "`keyframeIntervalFrames`", JsErrorClass::RangeError),
        ];
        for (o, message, class) in cases {
            let err = EncoderSettings::from_options(&o).unwrap_err();
            assert!(err.to_string().contains(message), "{err} should contain {message}");
            assert_eq!(err.code(), ErrorCode::InvalidConfig);
            assert_eq!(err.js_class(), class, "{err}");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn rgba_and_i420_paths_encode_the_same_picture_decodably() {
        let (w, h) = (320, 240);
        let settings = EncoderSettings::from_options(&EncoderOptions { keyframe_interval_frames: Some(5.0), ..options(320.0, 240.0) }).unwrap();
        let mut rgba_pipe = EncodePipeline::new(settings.clone()).unwrap();
        let mut i420_pipe = EncodePipeline::new(settings).unwrap();
        let mut decoder = Decoder::new().unwrap();
        // An RGBA picture: horizontal and vertical ramps.
        let rgba: Vec<u8> = (0..w * h).flat_map(|i| [(i % w) as u8, (i / w) as u8, 128, 255]).collect();
        let reference = I420Frame::from_rgba(&rgba, w, h).unwrap();
        for n in 0..10 {
            let a = rgba_pipe.encode_rgba(&rgba, n as f64 * 33_333.0).unwrap();
            let b = i420_pipe.encode_i420(reference.y(), reference.u(), reference.v(), n as f64 * 33_333.0).unwrap();
            assert_eq!(a.data, b.data, "same picture, same settings, same bits");
            assert_eq!(a.keyframe, n % 5 == 0);
            assert_eq!(a.timestamp_us, n as f64 * 33_333.0);
            if a.keyframe {
                assert!(starts_decodable(&a.data));
            }
            let d = decoder.decode(&a.data).unwrap().unwrap();
            let db = psnr(&reference.to_packed_bytes(), &[d.y, d.u, d.v].concat());
            assert!(db >= 35.0, "frame {n}: {db:.1} dB");
        }
        assert_eq!(rgba_pipe.frames_encoded(), 10);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn bad_frames_are_refused_and_the_pipeline_keeps_working() {
        let settings = EncoderSettings::from_options(&options(64.0, 48.0)).unwrap();
        let mut pipe = EncodePipeline::new(settings).unwrap();
        let err = pipe.encode_rgba(&[0; 100], 0.0).unwrap_err();
        assert_eq!(err.to_string(), "invalid frame: RGBA data has 100 bytes, a 64x48 frame needs 12288");
        assert_eq!(err.code(), ErrorCode::InvalidFrame);
        let err = pipe.encode_i420(&[0; 64 * 48], &[0; 100], &[0; 768], 0.0).unwrap_err();
        assert!(err.to_string().contains("U plane has 100 bytes"), "{err}");
        for ts in [f64::NAN, -1.0, f64::INFINITY] {
            assert!(pipe.encode_rgba(&[0; 64 * 48 * 4], ts).unwrap_err().to_string().contains("timestampUs"));
        }
        let frame = TestPattern::new(64, 48).unwrap().frame(0);
        let out = pipe.encode_i420(frame.y(), frame.u(), frame.v(), 0.0).unwrap();
        assert!(out.keyframe && !out.data.is_empty());
        pipe.force_keyframe().unwrap();
        assert!(pipe.encode_i420(frame.y(), frame.u(), frame.v(), 1.0).unwrap().keyframe);
    }
}
