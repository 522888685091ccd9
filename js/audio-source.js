// The Broadcaster's microphone, main-thread side: the audio track read as AudioData through
// MediaStreamTrackProcessor, a stream the page hands to the encode worker (which encodes it,
// js/audio-encode.js). This file is a wasm-bindgen snippet used by the Broadcaster.

/**
 * The microphone's samples for the encode worker: `{ readable, kind }`, `readable` a
 * transferable ReadableStream of AudioData (MediaStreamTrackProcessor), or `null` when this
 * browser has no way to hand audio to a worker.
 */
export function openAudioStream(track) {
  if (typeof MediaStreamTrackProcessor === 'function') {
    // About 0.5 s of 10 ms blocks may wait while the worker is busy with a video frame;
    // beyond that the browser discards the oldest, and the worker counts the gap.
    const processor = new MediaStreamTrackProcessor({ track, maxBufferSize: 50 });
    return { readable: processor.readable, kind: 'MediaStreamTrackProcessor' };
  }
  return { readable: null, kind: 'none' };
}
