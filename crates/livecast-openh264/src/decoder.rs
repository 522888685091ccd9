//! The H.264 decoder: Annex-B access units in, I420 pictures out.

use crate::encoder::{check, vcall};
use crate::{ffi, Error};
use openh264_sys2 as sys;
use std::os::raw::{c_int, c_void};

/// A decoded picture, copied out of the decoder into tightly packed planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPicture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Cb, `(width / 2) * (height / 2)` bytes.
    pub u: Vec<u8>,
    /// Cr, `(width / 2) * (height / 2)` bytes.
    pub v: Vec<u8>,
}

/// An openh264 decoder instance.
pub struct Decoder {
    raw: *mut sys::ISVCDecoder,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Decoder {
    /// Creates a decoder for plain AVC (no SVC layers), error concealment off.
    pub fn new() -> Result<Self, Error> {
        let mut raw: *mut sys::ISVCDecoder = std::ptr::null_mut();
        // SAFETY: openh264 writes a valid decoder pointer on success.
        let rc = unsafe { ffi::WelsCreateDecoder(&mut raw) };
        if rc != 0 || raw.is_null() {
            return Err(Error::Codec { call: "WelsCreateDecoder", code: rc as i64 });
        }
        let decoder = Self { raw };
        let mut params = sys::SDecodingParam { eEcActiveIdc: sys::ERROR_CON_DISABLE, ..Default::default() };
        params.sVideoProperty.eVideoBsType = sys::VIDEO_BITSTREAM_AVC;
        // SAFETY: `raw` is live; `params` and `quiet` outlive the calls.
        unsafe {
            let mut quiet: c_int = sys::WELS_LOG_QUIET as c_int;
            vcall!(raw, SetOption(sys::DECODER_OPTION_TRACE_LEVEL, (&mut quiet as *mut c_int).cast::<c_void>()))?;
            check("Initialize", vcall!(raw, Initialize(&params))?)?;
        }
        Ok(decoder)
    }

    /// Decodes one access unit (or any run of whole NAL units); returns the picture it
    /// completes, if any.
    pub fn decode(&mut self, annex_b: &[u8]) -> Result<Option<DecodedPicture>, Error> {
        let len = c_int::try_from(annex_b.len())
            .map_err(|_| Error::InvalidPicture(format!("access unit of {} bytes is too large", annex_b.len())))?;
        let mut planes: [*mut u8; 3] = [std::ptr::null_mut(); 3];
        let mut info = sys::SBufferInfo::default();
        // SAFETY: `annex_b` is readable for `len` bytes; openh264 fills `planes`/`info`.
        let state = unsafe { vcall!(self.raw, DecodeFrameNoDelay(annex_b.as_ptr(), len, planes.as_mut_ptr(), &mut info))? };
        check("DecodeFrameNoDelay", state as i64)?;
        if info.iBufferStatus != 1 {
            return Ok(None);
        }
        // SAFETY: iBufferStatus == 1 means sSystemBuffer describes the planes in `planes`,
        // valid until the next decode call.
        unsafe {
            let buffer = info.UsrData.sSystemBuffer;
            let (w, h) = (buffer.iWidth.max(0) as usize, buffer.iHeight.max(0) as usize);
            let (ys, cs) = (buffer.iStride[0].max(0) as usize, buffer.iStride[1].max(0) as usize);
            let copy = |plane: *const u8, stride: usize, width: usize, rows: usize| {
                let mut out = Vec::with_capacity(width * rows);
                for row in 0..rows {
                    out.extend_from_slice(std::slice::from_raw_parts(plane.add(row * stride), width));
                }
                out
            };
            Ok(Some(DecodedPicture {
                width: w as u32,
                height: h as u32,
                y: copy(planes[0], ys, w, h),
                u: copy(planes[1], cs, w.div_ceil(2), h.div_ceil(2)),
                v: copy(planes[2], cs, w.div_ceil(2), h.div_ceil(2)),
            }))
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from WelsCreateDecoder and is released once.
        unsafe {
            let _ = vcall!(self.raw, Uninitialize());
            ffi::WelsDestroyDecoder(self.raw);
        }
    }
}
