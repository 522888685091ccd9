//! A borrowed I420 picture: the encoder's input.

use crate::Error;

/// Three borrowed planes of an I420 (YUV 4:2:0 planar, 8-bit) picture.
#[derive(Debug, Clone, Copy)]
pub struct Picture<'a> {
    /// Luma plane, `y_stride * height` bytes at least.
    pub y: &'a [u8],
    /// Cb plane, `uv_stride * height / 2` bytes at least.
    pub u: &'a [u8],
    /// Cr plane, `uv_stride * height / 2` bytes at least.
    pub v: &'a [u8],
    /// Bytes per luma row.
    pub y_stride: usize,
    /// Bytes per chroma row.
    pub uv_stride: usize,
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
}

impl<'a> Picture<'a> {
    /// A tightly packed picture (`y_stride = width`, `uv_stride = width / 2`).
    pub fn packed(width: u32, height: u32, y: &'a [u8], u: &'a [u8], v: &'a [u8]) -> Self {
        Self { y, u, v, y_stride: width as usize, uv_stride: width.div_ceil(2) as usize, width, height }
    }

    /// Checks that the strides and plane lengths cover a `width` x `height` picture.
    pub fn check(&self) -> Result<(), Error> {
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || h == 0 {
            return Err(Error::InvalidPicture(format!("size {w}x{h} is empty")));
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        if self.y_stride < w || self.uv_stride < cw {
            return Err(Error::InvalidPicture(format!(
                "strides {}/{} are smaller than the width {w}",
                self.y_stride, self.uv_stride
            )));
        }
        let need_y = self.y_stride * (h - 1) + w;
        let need_c = self.uv_stride * (ch - 1) + cw;
        for (name, len, need) in [("Y", self.y.len(), need_y), ("U", self.u.len(), need_c), ("V", self.v.len(), need_c)] {
            if len < need {
                return Err(Error::InvalidPicture(format!(
                    "{name} plane has {len} bytes, a {w}x{h} picture needs {need}"
                )));
            }
        }
        Ok(())
    }
}
