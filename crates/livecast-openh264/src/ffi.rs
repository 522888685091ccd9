//! The openh264 C entry points we link against (types come from `openh264-sys2`).

use openh264_sys2::{ISVCDecoder, ISVCEncoder, OpenH264Version};
use std::os::raw::{c_int, c_long};

unsafe extern "C" {
    pub fn WelsCreateSVCEncoder(encoder: *mut *mut ISVCEncoder) -> c_int;
    pub fn WelsDestroySVCEncoder(encoder: *mut ISVCEncoder);
    pub fn WelsCreateDecoder(decoder: *mut *mut ISVCDecoder) -> c_long;
    pub fn WelsDestroyDecoder(decoder: *mut ISVCDecoder);
    pub fn WelsGetCodecVersion() -> OpenH264Version;
}
