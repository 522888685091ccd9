//! The H.264 encoder: configuration, validation and the frame loop.

use crate::{ffi, Error, Picture};
use openh264_sys2 as sys;
use std::os::raw::{c_int, c_void};

/// Encoder settings. Every field is checked by [`Encoder::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Picture width in pixels: even, 16..=3840.
    pub width: u32,
    /// Picture height in pixels: even, 16..=2160.
    pub height: u32,
    /// Frame rate the rate control plans for: 1..=120.
    pub fps: f32,
    /// Target bitrate in bits per second: 32 kbit/s ..= 50 Mbit/s.
    pub bitrate_bps: u32,
    /// An IDR every this many frames (1..=3600); [`Encoder::force_keyframe`] adds more.
    pub keyframe_interval_frames: u32,
}

impl EncoderConfig {
    /// Largest accepted width (openh264's level 5.2 limit at 16:9).
    pub const MAX_WIDTH: u32 = 3840;
    /// Largest accepted height.
    pub const MAX_HEIGHT: u32 = 2160;
    /// Smallest accepted bitrate, bits per second.
    pub const MIN_BITRATE_BPS: u32 = 32_000;
    /// Largest accepted bitrate, bits per second.
    pub const MAX_BITRATE_BPS: u32 = 50_000_000;

    /// Checks every field and says which one is wrong and why.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        for (name, value, max) in [("width", self.width, Self::MAX_WIDTH), ("height", self.height, Self::MAX_HEIGHT)] {
            if !(16..=max).contains(&value) {
                return bad(format!("{name} {value} is outside 16..={max}"));
            }
            if value % 2 != 0 {
                return bad(format!("{name} {value} is odd; I420 needs even dimensions"));
            }
        }
        if !self.fps.is_finite() || !(1.0..=120.0).contains(&self.fps) {
            return bad(format!("fps {} is outside 1..=120", self.fps));
        }
        if !(Self::MIN_BITRATE_BPS..=Self::MAX_BITRATE_BPS).contains(&self.bitrate_bps) {
            return bad(format!(
                "bitrate {} kbit/s is outside {}..={} kbit/s",
                self.bitrate_bps / 1000,
                Self::MIN_BITRATE_BPS / 1000,
                Self::MAX_BITRATE_BPS / 1000
            ));
        }
        if !(1..=3600).contains(&self.keyframe_interval_frames) {
            return bad(format!("keyframe interval {} frames is outside 1..=3600", self.keyframe_interval_frames));
        }
        Ok(())
    }

    /// openh264's parameter block for this configuration, starting from its defaults.
    fn to_params(&self, defaults: sys::SEncParamExt) -> sys::SEncParamExt {
        let mut p = defaults;
        p.iUsageType = sys::CAMERA_VIDEO_REAL_TIME;
        p.iPicWidth = self.width as c_int;
        p.iPicHeight = self.height as c_int;
        p.iTargetBitrate = self.bitrate_bps as c_int;
        p.iMaxBitrate = self.bitrate_bps as c_int * 3 / 2;
        // Bitrate mode without frame skipping: every input frame yields an output frame,
        // so frame counts and timestamps stay aligned with the capture.
        p.iRCMode = sys::RC_BITRATE_MODE;
        p.bEnableFrameSkip = false;
        p.fMaxFrameRate = self.fps;
        p.iTemporalLayerNum = 1;
        p.iSpatialLayerNum = 1;
        p.uiIntraPeriod = self.keyframe_interval_frames;
        p.iNumRefFrame = 1;
        // Same SPS/PPS ids everywhere: segments cut at any IDR splice cleanly.
        p.eSpsPpsIdStrategy = sys::CONSTANT_ID;
        p.iEntropyCodingModeFlag = 0; // CAVLC: Baseline has no CABAC
        p.iMultipleThreadIdc = 1; // one thread: wasm has one, and callers parallelise above us
        p.iComplexityMode = sys::LOW_COMPLEXITY;
        p.bEnableDenoise = false;
        // Adaptive quantisation and background detection cost ~9 % of the encode time at
        // 720p and moved PSNR by 0.005 dB on the benchmark's content: off (measured with
        // the native encode_bench example; wasm output is byte-identical to native).
        p.bEnableBackgroundDetection = false;
        p.bEnableAdaptiveQuant = false;
        // Scene-change IDRs would break the keyframe cadence the segmenter relies on.
        p.bEnableSceneChangeDetect = false;
        p.bEnableLongTermReference = false;
        p.bPrefixNalAddingCtrl = false;
        let layer = &mut p.sSpatialLayers[0];
        layer.iVideoWidth = self.width as c_int;
        layer.iVideoHeight = self.height as c_int;
        layer.fFrameRate = self.fps;
        layer.iSpatialBitrate = p.iTargetBitrate;
        layer.iMaxSpatialBitrate = p.iMaxBitrate;
        layer.uiProfileIdc = sys::PRO_BASELINE;
        layer.uiLevelIdc = sys::LEVEL_UNKNOWN; // openh264 picks the level from size and rate
        layer.sSliceArgument.uiSliceMode = sys::SM_SINGLE_SLICE;
        layer.sSliceArgument.uiSliceNum = 1;
        p
    }
}

/// The kind of picture an encode call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An IDR picture, with SPS and PPS in front: a decoder can start here.
    Keyframe,
    /// A predicted picture.
    Delta,
    /// The encoder produced no bits for this input.
    Skipped,
}

/// One encoded frame in Annex-B (start-code prefixed NAL units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Annex-B bytes: SPS, PPS and IDR slice for keyframes, one slice otherwise.
    pub data: Vec<u8>,
    /// What kind of picture this is.
    pub kind: FrameKind,
}

/// An openh264 encoder instance. Not thread-safe; move it to the thread that uses it.
pub struct Encoder {
    raw: *mut sys::ISVCEncoder,
    config: EncoderConfig,
    info: Box<sys::SFrameBSInfo>,
}

// SAFETY: an openh264 encoder instance keeps no thread-affine state (no thread-locals, no
// callbacks into the creating thread); what it must not have is concurrent calls, and
// `Encoder` is not `Sync` and every call takes `&mut self`. So it may move to another
// thread, which is what the doc above asks of users (the node feeds each rendition's
// encoder from its worker pool, one frame at a time).
unsafe impl Send for Encoder {}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Fetches a function from an openh264 vtable; openh264 fills every slot, so an empty
/// one means a broken build and is reported as an error rather than a panic.
macro_rules! vcall {
    ($raw:expr, $name:ident ( $($arg:expr),* )) => {{
        let raw = $raw;
        match (**raw).$name {
            Some(f) => Ok(f(raw, $($arg),*)),
            None => Err(Error::Codec { call: stringify!($name), code: -1 }),
        }
    }};
}
pub(crate) use vcall;

impl Encoder {
    /// Creates and initialises an encoder; fails with a message naming any bad field.
    pub fn new(config: EncoderConfig) -> Result<Self, Error> {
        config.validate()?;
        let mut raw: *mut sys::ISVCEncoder = std::ptr::null_mut();
        // SAFETY: openh264 writes a valid encoder pointer on success.
        let rc = unsafe { ffi::WelsCreateSVCEncoder(&mut raw) };
        if rc != 0 || raw.is_null() {
            return Err(Error::Codec { call: "WelsCreateSVCEncoder", code: rc.into() });
        }
        let encoder = Self { raw, config, info: Box::default() };
        // SAFETY: `raw` is a live encoder; the parameter blocks outlive the calls.
        unsafe {
            let mut quiet: c_int = sys::WELS_LOG_QUIET as c_int;
            vcall!(raw, SetOption(sys::ENCODER_OPTION_TRACE_LEVEL, (&mut quiet as *mut c_int).cast::<c_void>()))?;
            let mut defaults = sys::SEncParamExt::default();
            check("GetDefaultParams", vcall!(raw, GetDefaultParams(&mut defaults))?)?;
            let params = encoder.config.to_params(defaults);
            check("InitializeExt", vcall!(raw, InitializeExt(&params))?)?;
        }
        Ok(encoder)
    }

    /// The configuration this encoder runs with.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Makes the next encoded frame an IDR (with SPS and PPS in front).
    pub fn force_keyframe(&mut self) -> Result<(), Error> {
        // The C++ method is `ForceIntraFrame(bool bIDR, int iLayerId = -1)`, but the C
        // vtable in codec_api.h (and so the generated binding) still omits `iLayerId`.
        // Native ABIs tolerate the missing argument; wasm traps on the signature
        // mismatch ("function signature mismatch"), so call it with its real signature.
        type ForceIntraFrame = unsafe extern "C" fn(*mut sys::ISVCEncoder, bool, c_int) -> c_int;
        // SAFETY: `self.raw` is a live, initialised encoder; the slot holds the C++
        // method whose real signature is `ForceIntraFrame` above.
        unsafe {
            let slot = (**self.raw).ForceIntraFrame.ok_or(Error::Codec { call: "ForceIntraFrame", code: -1 })?;
            let real: ForceIntraFrame = std::mem::transmute(slot);
            check("ForceIntraFrame", real(self.raw, true, -1))
        }
    }

    /// Encodes one picture of the configured size; `timestamp_ms` is its presentation time.
    pub fn encode(&mut self, picture: &Picture<'_>, timestamp_ms: i64) -> Result<EncodedFrame, Error> {
        if picture.width != self.config.width || picture.height != self.config.height {
            return Err(Error::InvalidPicture(format!(
                "picture is {}x{}, the encoder was configured for {}x{}",
                picture.width, picture.height, self.config.width, self.config.height
            )));
        }
        picture.check()?;
        let source = sys::SSourcePicture {
            iColorFormat: sys::videoFormatI420 as c_int,
            iStride: [picture.y_stride as c_int, picture.uv_stride as c_int, picture.uv_stride as c_int, 0],
            // openh264 takes `*mut` but only reads the source planes.
            pData: [
                picture.y.as_ptr().cast_mut(),
                picture.u.as_ptr().cast_mut(),
                picture.v.as_ptr().cast_mut(),
                std::ptr::null_mut(),
            ],
            iPicWidth: picture.width as c_int,
            iPicHeight: picture.height as c_int,
            uiTimeStamp: timestamp_ms,
            ..Default::default()
        };
        let info: &mut sys::SFrameBSInfo = &mut self.info;
        // SAFETY: the planes were checked to cover the picture; `info` is ours.
        unsafe { check("EncodeFrame", vcall!(self.raw, EncodeFrame(&source, info))?)? };
        let kind = match info.eFrameType {
            sys::videoFrameTypeIDR => FrameKind::Keyframe,
            sys::videoFrameTypeSkip | sys::videoFrameTypeInvalid => FrameKind::Skipped,
            _ => FrameKind::Delta,
        };
        let mut data = Vec::with_capacity(info.iFrameSizeInBytes.max(0) as usize);
        if kind != FrameKind::Skipped {
            for layer in &info.sLayerInfo[..info.iLayerNum.clamp(0, 128) as usize] {
                // SAFETY: openh264 reports iNalCount lengths for the bytes at pBsBuf,
                // valid until the next EncodeFrame call.
                unsafe {
                    let lengths = std::slice::from_raw_parts(layer.pNalLengthInByte, layer.iNalCount.max(0) as usize);
                    let size: usize = lengths.iter().map(|&l| l.max(0) as usize).sum();
                    data.extend_from_slice(std::slice::from_raw_parts(layer.pBsBuf, size));
                }
            }
        }
        Ok(EncodedFrame { data, kind })
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from WelsCreateSVCEncoder and is released once.
        unsafe {
            let _ = vcall!(self.raw, Uninitialize());
            ffi::WelsDestroySVCEncoder(self.raw);
        }
    }
}

/// Maps an openh264 return code to a result.
pub(crate) fn check(call: &'static str, code: impl Into<i64>) -> Result<(), Error> {
    match code.into() {
        0 => Ok(()),
        code => Err(Error::Codec { call, code }),
    }
}
