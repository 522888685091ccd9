//! The safe encoder: interleaved i16 PCM in, ADTS AAC-LC frames out.

use crate::ffi::*;
use crate::Error;
use std::os::raw::{c_int, c_void};
use std::ptr::null_mut;

/// PCM samples (per channel) in one AAC-LC frame.
pub const SAMPLES_PER_FRAME: usize = 1024;

/// What to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Input and output sampling rate, Hz: one of AAC's rates from 8 000 to 96 000.
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo, interleaved L R).
    pub channels: u8,
    /// Target bit rate, bit/s (constant bit rate mode).
    pub bitrate_bps: u32,
}

impl Default for EncoderConfig {
    /// 48 kHz stereo at 128 kbit/s.
    fn default() -> Self {
        Self { sample_rate: 48_000, channels: 2, bitrate_bps: 128_000 }
    }
}

/// An FDK AAC encoder: AAC-LC, ADTS framing, constant bit rate, afterburner on.
///
/// Output lags input by [`Encoder::delay_samples`]: decoded, frame `n` holds the input's
/// samples from `n × 1024 − delay` on (the first frames hold the priming silence), so a
/// muxer gives frame `n` the capture time of input sample `n × 1024 − delay`.
pub struct Encoder {
    handle: HANDLE_AACENCODER,
    config: EncoderConfig,
    delay: u32,
    out: Vec<u8>,
    frames_out: u64,
}

// SAFETY: the handle is owned, used through &mut self only, and the library keeps no
// thread-local or global mutable state.
unsafe impl Send for Encoder {}

fn check(call: &'static str, code: AACENC_ERROR) -> Result<(), Error> {
    if code == AACENC_OK {
        Ok(())
    } else {
        Err(Error::Codec { call, code })
    }
}

impl Encoder {
    /// Opens and configures an encoder.
    pub fn new(config: EncoderConfig) -> Result<Self, Error> {
        const RATES: [u32; 12] = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 64_000, 88_200, 96_000];
        if !RATES.contains(&config.sample_rate) {
            return Err(Error::InvalidConfig(format!("sample rate {} Hz is not one of AAC's {RATES:?}", config.sample_rate)));
        }
        if !(1..=2).contains(&config.channels) {
            return Err(Error::InvalidConfig(format!("{} channels: 1 or 2 are supported", config.channels)));
        }
        // FDK's own bounds for AAC-LC are about 8 kbit/s to 576 kbit/s per channel at 48 kHz.
        if !(8_000..=512_000).contains(&config.bitrate_bps) {
            return Err(Error::InvalidConfig(format!("bit rate {} bit/s is outside 8000..=512000", config.bitrate_bps)));
        }
        let mut handle: HANDLE_AACENCODER = null_mut();
        // SAFETY: out-pointer to a handle; 0 modules = all available, up to `channels`.
        check("aacEncOpen", unsafe { aacEncOpen(&mut handle, 0, u32::from(config.channels)) })?;
        let mut encoder = Self { handle, config, delay: 0, out: Vec::new(), frames_out: 0 };
        let params = [
            (AACENC_AOT, AOT_AAC_LC),
            (AACENC_SAMPLERATE, config.sample_rate),
            (AACENC_CHANNELMODE, u32::from(config.channels)), // MODE_1 / MODE_2
            (AACENC_CHANNELORDER, 1),                         // WAV order: L, R
            (AACENC_BITRATEMODE, 0),                          // constant bit rate
            (AACENC_BITRATE, config.bitrate_bps),
            (AACENC_TRANSMUX, TT_MP4_ADTS),
            (AACENC_AFTERBURNER, 1),
        ];
        for (param, value) in params {
            // SAFETY: a live handle.
            let code = unsafe { aacEncoder_SetParam(encoder.handle, param, value) };
            if code != AACENC_OK {
                return Err(Error::InvalidConfig(format!("FDK AAC refused parameter {param:#06x} = {value} (code {code:#06x})")));
            }
        }
        // SAFETY: null buffers = apply the parameters (documented initialisation call).
        check("aacEncEncode (init)", unsafe {
            aacEncEncode(encoder.handle, std::ptr::null(), std::ptr::null(), std::ptr::null(), null_mut())
        })?;
        // SAFETY: a zeroed plain-C struct, filled by the library.
        let mut info: AACENC_InfoStruct = unsafe { std::mem::zeroed() };
        check("aacEncInfo", unsafe { aacEncInfo(encoder.handle, &mut info) })?;
        if info.frameLength as usize != SAMPLES_PER_FRAME {
            return Err(Error::InvalidConfig(format!("frame length {} instead of 1024", info.frameLength)));
        }
        encoder.delay = info.nDelay;
        encoder.out = vec![0; (info.maxOutBufBytes as usize).max(8192)];
        Ok(encoder)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// The codec delay in samples per channel (FDK's `nDelay`).
    pub fn delay_samples(&self) -> u32 {
        self.delay
    }

    /// ADTS frames written so far.
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Encodes interleaved PCM (any number of whole sample frames; the encoder keeps what
    /// does not fill a frame) and returns the ADTS frames it completed, in order.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<Vec<u8>>, Error> {
        let channels = usize::from(self.config.channels);
        if pcm.len() % channels != 0 {
            return Err(Error::InvalidInput(format!("{} samples is not a whole number of {channels}-channel frames", pcm.len())));
        }
        let mut frames = Vec::new();
        let mut rest = pcm;
        while !rest.is_empty() {
            let consumed = self.call(rest, false, &mut frames)?;
            if consumed == 0 {
                return Err(Error::InvalidInput("the encoder took no input".into()));
            }
            rest = &rest[consumed.min(rest.len())..];
        }
        Ok(frames)
    }

    /// Ends the stream: encodes what is buffered (padded with silence) and returns the last
    /// frames. The encoder is spent afterwards.
    pub fn flush(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        let mut frames = Vec::new();
        // Each EOF call gives at most one frame; the delay line empties in a few.
        for _ in 0..64 {
            let before = frames.len();
            match self.call(&[], true, &mut frames) {
                Ok(_) if frames.len() > before => continue,
                Ok(_) => break,
                Err(Error::Codec { code: AACENC_ENCODE_EOF, .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(frames)
    }

    /// One `aacEncEncode` call: returns how many samples it consumed, pushes its frame.
    fn call(&mut self, pcm: &[i16], eof: bool, frames: &mut Vec<Vec<u8>>) -> Result<usize, Error> {
        let mut in_ptr = pcm.as_ptr() as *mut c_void;
        let mut in_id = IN_AUDIO_DATA;
        let mut in_size = (pcm.len() * 2) as c_int;
        let mut in_el = 2 as c_int;
        let in_desc = AACENC_BufDesc {
            numBufs: 1,
            bufs: &mut in_ptr,
            bufferIdentifiers: &mut in_id,
            bufSizes: &mut in_size,
            bufElSizes: &mut in_el,
        };
        let mut out_ptr = self.out.as_mut_ptr() as *mut c_void;
        let mut out_id = OUT_BITSTREAM_DATA;
        let mut out_size = self.out.len() as c_int;
        let mut out_el = 1 as c_int;
        let out_desc = AACENC_BufDesc {
            numBufs: 1,
            bufs: &mut out_ptr,
            bufferIdentifiers: &mut out_id,
            bufSizes: &mut out_size,
            bufElSizes: &mut out_el,
        };
        let in_args = AACENC_InArgs { numInSamples: if eof { -1 } else { pcm.len() as c_int }, numAncBytes: 0 };
        let mut out_args = AACENC_OutArgs::default();
        // SAFETY: the descriptors point at live buffers of the sizes given; the library
        // reads at most `in_size` bytes of PCM and writes at most `out_size` bytes.
        check("aacEncEncode", unsafe { aacEncEncode(self.handle, &in_desc, &out_desc, &in_args, &mut out_args) })?;
        let written = usize::try_from(out_args.numOutBytes).unwrap_or(0).min(self.out.len());
        if written > 0 {
            frames.push(self.out[..written].to_vec());
            self.frames_out += 1;
        }
        Ok(usize::try_from(out_args.numInSamples).unwrap_or(0))
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: the handle came from aacEncOpen and is closed once.
        unsafe {
            aacEncClose(&mut self.handle);
        }
    }
}
