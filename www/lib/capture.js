// Camera capture helpers shared by the demo and the test pages: frames from a
// MediaStreamTrack as tightly packed I420 (the encoder's native input) or, where the
// browser lacks MediaStreamTrackProcessor, as RGBA from a canvas.

/** True when this browser can hand out camera frames as `VideoFrame`s. */
export const hasTrackProcessor = typeof globalThis.MediaStreamTrackProcessor === 'function';

/**
 * Tightly packed I420 bytes (Y, then U, then V) of a `VideoFrame` in I420 or NV12 format,
 * which is what cameras give; null for other formats (the caller falls back to RGBA).
 * It is the package's own helper (call the package's `init()` first).
 */
export { videoFrameToI420 } from '../../pkg/livecast.js';

/** The three planes of a packed I420 buffer of a `w` x `h` picture, as views. */
export function i420Planes(buffer, w, h) {
  const luma = w * h, chroma = luma / 4;
  return [buffer.subarray(0, luma), buffer.subarray(luma, luma + chroma), buffer.subarray(luma + chroma)];
}

/** A message a person can act on, for a getUserMedia failure. */
export function cameraErrorMessage(error) {
  switch (error?.name) {
    case 'NotAllowedError': return 'Camera permission was denied. Allow camera access for this page and try again.';
    case 'NotFoundError': return 'No camera was found. Connect a camera and try again.';
    case 'NotReadableError': return 'The camera is in use by another application, or failed to start.';
    case 'OverconstrainedError': return 'The camera cannot deliver the requested resolution. Pick another size.';
    case 'SecurityError': return 'Camera access needs a secure page (https:// or http://localhost).';
    default: return `Could not open the camera: ${error?.message ?? error}`;
  }
}
