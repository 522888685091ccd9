//! RGBA to I420, with the `yuv` crate (yuvutils-rs: SIMD on x86 and on wasm32 simd128).
//!
//! Matrix and range are BT.601, limited ("TV") range: what browsers assume for SD camera
//! video and what H.264 decoders assume when the stream carries no colour description.

use crate::frame::{check_size, I420Frame};
use crate::Error;
use yuv::{rgba_to_yuv420, BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};

/// Converts `width` x `height` RGBA pixels (4 bytes each, rows packed, alpha ignored)
/// into `out`, which must already have that size.
pub fn rgba_to_i420(rgba: &[u8], width: u32, height: u32, out: &mut I420Frame) -> Result<(), Error> {
    check_size(width, height)?;
    let expected = width as usize * height as usize * 4;
    if rgba.len() != expected {
        return Err(Error::BufferSize { what: "RGBA data", actual: rgba.len(), expected, width, height });
    }
    if (out.width(), out.height()) != (width, height) {
        return Err(Error::InvalidSize { width, height, reason: "the output frame has another size" });
    }
    let (y, u, v) = out.planes_mut();
    let mut image = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: width / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: width / 2,
        width,
        height,
    };
    rgba_to_yuv420(&mut image, rgba, width * 4, YuvRange::Limited, YuvStandardMatrix::Bt601, YuvConversionMode::Balanced)
        // Sizes were checked above, so the crate has nothing left to refuse.
        .map_err(|_| Error::InvalidSize { width, height, reason: "rejected by the colour converter" })
}

impl I420Frame {
    /// A new frame converted from RGBA pixels (see [`rgba_to_i420`]).
    pub fn from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<Self, Error> {
        let mut frame = I420Frame::black(width, height)?;
        rgba_to_i420(rgba, width, height, &mut frame)?;
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(r: u8, g: u8, b: u8) -> I420Frame {
        let rgba: Vec<u8> = std::iter::repeat_n([r, g, b, 255], 16 * 16).flatten().collect();
        I420Frame::from_rgba(&rgba, 16, 16).unwrap()
    }

    fn assert_near(actual: u8, expected: u8, what: &str) {
        assert!(actual.abs_diff(expected) <= 2, "{what}: got {actual}, want {expected}±2");
    }

    #[test]
    fn primaries_land_on_bt601_limited_range_values() {
        // (R, G, B) -> (Y, Cb, Cr) from the BT.601 equations at 8-bit video range.
        for ((r, g, b), (y, cb, cr)) in [
            ((0, 0, 0), (16, 128, 128)),
            ((255, 255, 255), (235, 128, 128)),
            ((255, 0, 0), (81, 90, 240)),
            ((0, 255, 0), (145, 54, 34)),
            ((0, 0, 255), (41, 240, 110)),
        ] {
            let f = solid(r, g, b);
            assert_near(f.y()[100], y, "Y");
            assert_near(f.u()[10], cb, "Cb");
            assert_near(f.v()[10], cr, "Cr");
        }
    }

    #[test]
    fn wrong_lengths_and_sizes_are_refused() {
        let mut out = I420Frame::black(16, 16).unwrap();
        let err = rgba_to_i420(&[0; 10], 16, 16, &mut out).unwrap_err();
        assert_eq!(err.to_string(), "RGBA data has 10 bytes, a 16x16 frame needs 1024");
        assert!(rgba_to_i420(&[0; 8 * 8 * 4], 8, 8, &mut out).is_err());
        assert!(rgba_to_i420(&[0; 15 * 16 * 4], 15, 16, &mut out).is_err());
    }
}
