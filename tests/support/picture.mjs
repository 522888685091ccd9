// The picture on screen, read in the page: a page-side function for `page.evaluate`, shared
// by the Player's browser tests. Self-contained (Playwright sends its source to the page).

/**
 * Draws the page's `#video` on a 64×36 canvas; returns the luma's mean and spread, the 64×36
 * luma thumbnail (to compare frames) and the video's size.
 */
export function videoPicture() {
  const video = document.getElementById('video');
  const c = document.createElement('canvas');
  c.width = 64;
  c.height = 36;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(video, 0, 0, 64, 36);
  const d = g.getImageData(0, 0, 64, 36).data;
  let sum = 0, sq = 0;
  const thumb = [];
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    sum += y;
    sq += y * y;
    thumb.push(y);
  }
  const n = d.length / 4;
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)), thumb, width: video.videoWidth, height: video.videoHeight };
}
