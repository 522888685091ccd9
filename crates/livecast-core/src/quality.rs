//! Picture quality: PSNR, computed as ffmpeg's `psnr` filter reports its "average".

/// PSNR in dB between two equally long 8-bit sample runs; `f64::INFINITY` when identical.
///
/// For whole I420 frames pass the `Y U V` bytes: the mean squared error over all samples
/// is then ffmpeg's "average" figure.
pub fn psnr(reference: &[u8], test: &[u8]) -> f64 {
    assert_eq!(reference.len(), test.len(), "PSNR needs equally long inputs");
    if reference.is_empty() {
        return f64::INFINITY;
    }
    let sse: u64 = reference.iter().zip(test).map(|(&a, &b)| (a as i32 - b as i32).pow(2) as u64).sum();
    if sse == 0 {
        return f64::INFINITY;
    }
    let mse = sse as f64 / reference.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_is_infinite_and_known_error_gives_known_db() {
        assert_eq!(psnr(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
        // Every sample off by one: MSE 1, PSNR = 20 log10(255) = 48.13 dB.
        let db = psnr(&[10; 100], &[11; 100]);
        assert!((db - 48.1308).abs() < 1e-3, "{db}");
    }
}
