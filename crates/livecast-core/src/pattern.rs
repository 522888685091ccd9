//! A deterministic moving test picture: the same frames on every machine and target, so
//! native and wasm encoders can be measured on identical input.

use crate::frame::{check_size, plane_sizes, I420Frame};
use crate::Error;

/// Generates frame `n` of a scrolling pattern: diagonal luma bars with fine texture, a
/// moving bright box, slowly rotating chroma, and light deterministic noise. It is
/// harder to encode than a flat test card (motion everywhere, detail, noise) without
/// being random noise that no encoder could compress.
#[derive(Debug, Clone, Copy)]
pub struct TestPattern {
    width: u32,
    height: u32,
}

impl TestPattern {
    /// A pattern of the given (even, non-zero) size.
    pub fn new(width: u32, height: u32) -> Result<Self, Error> {
        check_size(width, height)?;
        Ok(Self { width, height })
    }

    /// Frame number `n`.
    pub fn frame(&self, n: u32) -> I420Frame {
        let (w, h) = (self.width as usize, self.height as usize);
        let (luma, chroma) = plane_sizes(self.width, self.height);
        let mut y = vec![0u8; luma];
        let mut u = vec![0u8; chroma];
        let mut v = vec![0u8; chroma];
        let shift = n as usize * 3;
        let (box_x, box_y) = ((n as usize * 7) % w.max(1), (n as usize * 5) % h.max(1));
        let mut seed = 0x9E37_79B9u32 ^ n.wrapping_mul(0x85EB_CA6B);
        for row in 0..h {
            for col in 0..w {
                let bars = (((col + row + shift) / 24) % 8) as u32 * 24;
                let texture = (((col ^ row) + shift) & 15) as u32;
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = seed & 7;
                let in_box = col.wrapping_sub(box_x) < w / 8 && row.wrapping_sub(box_y) < h / 8;
                let value = if in_box { 220 } else { 24 + bars + texture + noise };
                y[row * w + col] = value.min(235) as u8;
            }
        }
        let (cw, ch) = (w / 2, h / 2);
        for row in 0..ch {
            for col in 0..cw {
                let t = (col + row + n as usize) as f32 / 40.0;
                u[row * cw + col] = (128.0 + 60.0 * t.sin()) as u8;
                v[row * cw + col] = (128.0 + 60.0 * (t * 0.7).cos()) as u8;
            }
        }
        I420Frame::from_planes(self.width, self.height, y, u, v).expect("planes sized from the frame size")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::psnr;

    #[test]
    fn frames_are_deterministic_and_move() {
        let p = TestPattern::new(64, 48).unwrap();
        assert_eq!(p.frame(3), p.frame(3));
        let (a, b) = (p.frame(0).to_packed_bytes(), p.frame(1).to_packed_bytes());
        assert!(psnr(&a, &b) < 30.0, "consecutive frames should differ visibly");
        assert!(p.frame(5).y().iter().all(|&s| (16..=235).contains(&s)));
    }
}
