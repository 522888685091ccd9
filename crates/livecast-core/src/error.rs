//! The crate's one error type.

/// What was wrong with the input to a core function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Width or height is zero, odd, or too large.
    #[error("invalid frame size {width}x{height}: {reason}")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A pixel buffer's length does not match the frame size.
    #[error("{what} has {actual} bytes, a {width}x{height} frame needs {expected}")]
    BufferSize {
        /// Which buffer ("RGBA data", "Y plane", ...).
        what: &'static str,
        /// Its length.
        actual: usize,
        /// The length the size requires.
        expected: usize,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
    /// Bytes that are not a parseable H.264 MPEG transport stream.
    #[error("not a valid H.264 MPEG-TS segment: {0}")]
    InvalidTransportStream(String),
    /// A segment whose audio is not AAC in ADTS, which Livecast does not carry.
    #[error("unsupported audio: {0}; only AAC in ADTS (stream type 0x0f) is carried")]
    UnsupportedAudio(String),
    /// A frame handed to the muxer cannot be placed in the stream.
    #[error("cannot mux frame: {0}")]
    Mux(String),
    /// An H.264 sequence parameter set that does not parse.
    #[error("invalid H.264 SPS: {0}")]
    InvalidSps(String),
    /// A transport stream segment that holds no H.264 video (no video PID, or no frames).
    #[error("the segment holds no H.264 video")]
    NoVideo,
    /// Video frames without a sequence and picture parameter set to decode them with: the
    /// stream's first segment must carry SPS and PPS in front of an IDR.
    #[error("no SPS/PPS before the first frame: {0}")]
    NoParameterSets(String),
    /// A video access unit whose PES payload is unusable (no NAL units, too large).
    #[error("corrupt video PES in frame {frame}: {reason}")]
    CorruptPes {
        /// Index of the frame in the segment.
        frame: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes that are not a usable fragmented-MP4 init segment, or boxes that could not be
    /// written.
    #[error("invalid MP4: {0}")]
    InvalidMp4(String),
    /// An MP4 init segment whose track uses a codec the player cannot name.
    #[error("unsupported codec in MP4 init segment: {0}")]
    UnsupportedCodec(String),
    /// A payment ticket, its params or a payment that is malformed or does not check out.
    #[error("{0}")]
    Ticket(String),
}
