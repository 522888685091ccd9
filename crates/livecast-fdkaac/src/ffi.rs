//! The five FDK AAC encoder entry points and the types they take
//! (`libAACenc/include/aacenc_lib.h`).
//!
//! Declared by hand: the `fdk-aac-sys` crate's bindings cannot be used without building
//! that crate, whose build script has no wasm32 arm. The structures are plain C: `INT` and
//! `UINT` are 32-bit on every target we build for.
#![allow(non_camel_case_types, non_snake_case, dead_code)]

use std::os::raw::{c_int, c_uint, c_void};

pub type HANDLE_AACENCODER = *mut c_void;
pub type AACENC_ERROR = c_uint;

pub const AACENC_OK: AACENC_ERROR = 0x0000;
pub const AACENC_ENCODE_EOF: AACENC_ERROR = 0x0080;

// AACENC_PARAM
pub const AACENC_AOT: c_uint = 0x0100;
pub const AACENC_BITRATE: c_uint = 0x0101;
pub const AACENC_BITRATEMODE: c_uint = 0x0102;
pub const AACENC_SAMPLERATE: c_uint = 0x0103;
pub const AACENC_CHANNELMODE: c_uint = 0x0106;
pub const AACENC_CHANNELORDER: c_uint = 0x0107;
pub const AACENC_AFTERBURNER: c_uint = 0x0200;
pub const AACENC_TRANSMUX: c_uint = 0x0300;

/// AUDIO_OBJECT_TYPE: AAC Low Complexity.
pub const AOT_AAC_LC: c_uint = 2;
/// TRANSPORT_TYPE: ADTS.
pub const TT_MP4_ADTS: c_uint = 2;

// AACENC_BufferIdentifier
pub const IN_AUDIO_DATA: c_int = 0;
pub const OUT_BITSTREAM_DATA: c_int = 3;

#[repr(C)]
pub struct AACENC_BufDesc {
    pub numBufs: c_int,
    pub bufs: *mut *mut c_void,
    pub bufferIdentifiers: *mut c_int,
    pub bufSizes: *mut c_int,
    pub bufElSizes: *mut c_int,
}

#[repr(C)]
pub struct AACENC_InArgs {
    pub numInSamples: c_int,
    pub numAncBytes: c_int,
}

#[repr(C)]
#[derive(Default)]
pub struct AACENC_OutArgs {
    pub numOutBytes: c_int,
    pub numInSamples: c_int,
    pub numAncBytes: c_int,
    pub bitResState: c_int,
}

#[repr(C)]
pub struct AACENC_InfoStruct {
    pub maxOutBufBytes: c_uint,
    pub maxAncBytes: c_uint,
    pub inBufFillLevel: c_uint,
    pub inputChannels: c_uint,
    pub frameLength: c_uint,
    pub nDelay: c_uint,
    pub nDelayCore: c_uint,
    pub confBuf: [u8; 64],
    pub confSize: c_uint,
}

unsafe extern "C" {
    pub fn aacEncOpen(phAacEncoder: *mut HANDLE_AACENCODER, encModules: c_uint, maxChannels: c_uint) -> AACENC_ERROR;
    pub fn aacEncClose(phAacEncoder: *mut HANDLE_AACENCODER) -> AACENC_ERROR;
    pub fn aacEncEncode(
        hAacEncoder: HANDLE_AACENCODER,
        inBufDesc: *const AACENC_BufDesc,
        outBufDesc: *const AACENC_BufDesc,
        inargs: *const AACENC_InArgs,
        outargs: *mut AACENC_OutArgs,
    ) -> AACENC_ERROR;
    pub fn aacEncInfo(hAacEncoder: HANDLE_AACENCODER, pInfo: *mut AACENC_InfoStruct) -> AACENC_ERROR;
    pub fn aacEncoder_SetParam(hAacEncoder: HANDLE_AACENCODER, param: c_uint, value: c_uint) -> AACENC_ERROR;
}
