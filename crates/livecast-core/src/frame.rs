//! Raw I420 video frames: three 8-bit planes, chroma subsampled 2x2.

use crate::Error;

/// Largest frame side accepted anywhere in Livecast (8K).
pub const MAX_DIMENSION: u32 = 8192;

/// An owned, tightly packed I420 frame (`Y` is `width*height`, `U` and `V` are
/// `width/2 * height/2`). Width and height are even and non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

/// Checks that a frame size is non-zero, even and at most [`MAX_DIMENSION`].
pub fn check_size(width: u32, height: u32) -> Result<(), Error> {
    let reason = if width == 0 || height == 0 {
        "width and height must be non-zero"
    } else if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        "I420 needs even width and height"
    } else if width > MAX_DIMENSION || height > MAX_DIMENSION {
        "width and height must be at most 8192"
    } else {
        return Ok(());
    };
    Err(Error::InvalidSize { width, height, reason })
}

/// Bytes in the luma and in each chroma plane of a `width` x `height` I420 frame.
pub fn plane_sizes(width: u32, height: u32) -> (usize, usize) {
    let luma = width as usize * height as usize;
    (luma, luma / 4)
}

impl I420Frame {
    /// A black frame (Y = 16, U = V = 128: video-range black).
    pub fn black(width: u32, height: u32) -> Result<Self, Error> {
        check_size(width, height)?;
        let (luma, chroma) = plane_sizes(width, height);
        Ok(Self { width, height, y: vec![16; luma], u: vec![128; chroma], v: vec![128; chroma] })
    }

    /// Takes ownership of three planes, checking each length against the size.
    pub fn from_planes(width: u32, height: u32, y: Vec<u8>, u: Vec<u8>, v: Vec<u8>) -> Result<Self, Error> {
        check_size(width, height)?;
        check_planes(width, height, &y, &u, &v)?;
        Ok(Self { width, height, y, u, v })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// The luma plane.
    pub fn y(&self) -> &[u8] {
        &self.y
    }
    /// The Cb plane.
    pub fn u(&self) -> &[u8] {
        &self.u
    }
    /// The Cr plane.
    pub fn v(&self) -> &[u8] {
        &self.v
    }
    /// All three planes, mutably (for converters writing in place).
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        (&mut self.y, &mut self.u, &mut self.v)
    }
    /// The frame as one `Y U V` byte run, the layout of a raw `.yuv` file.
    pub fn to_packed_bytes(&self) -> Vec<u8> {
        [self.y.as_slice(), &self.u, &self.v].concat()
    }
}

/// Checks the lengths of three tightly packed planes against a frame size.
pub fn check_planes(width: u32, height: u32, y: &[u8], u: &[u8], v: &[u8]) -> Result<(), Error> {
    let (luma, chroma) = plane_sizes(width, height);
    for (what, actual, expected) in [("Y plane", y.len(), luma), ("U plane", u.len(), chroma), ("V plane", v.len(), chroma)] {
        if actual != expected {
            return Err(Error::BufferSize { what, actual, expected, width, height });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_frame_has_video_range_black_and_right_plane_sizes() {
        let f = I420Frame::black(64, 32).unwrap();
        assert_eq!((f.y().len(), f.u().len(), f.v().len()), (2048, 512, 512));
        assert!(f.y().iter().all(|&p| p == 16));
        assert!(f.u().iter().chain(f.v()).all(|&p| p == 128));
        assert_eq!(f.to_packed_bytes().len(), 3072);
    }

    #[test]
    fn sizes_are_checked() {
        for (w, h) in [(0, 2), (2, 0), (3, 2), (2, 5), (8194, 2)] {
            assert!(matches!(I420Frame::black(w, h), Err(Error::InvalidSize { .. })), "{w}x{h}");
        }
    }

    #[test]
    fn plane_lengths_are_checked() {
        let err = I420Frame::from_planes(4, 4, vec![0; 16], vec![0; 4], vec![0; 3]).unwrap_err();
        assert_eq!(err.to_string(), "V plane has 3 bytes, a 4x4 frame needs 4");
        assert!(I420Frame::from_planes(4, 4, vec![0; 16], vec![0; 4], vec![0; 4]).is_ok());
    }
}
