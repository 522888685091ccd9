// The Broadcaster's capture, main-thread side: the camera's frames and the microphone's
// samples as streams the page hands to the encode Worker (which encodes them, see
// js/encode-worker.js and js/audio-encode.js).
// Camera: MediaStreamTrackProcessor where the browser has it (Chromium); elsewhere a hidden
// <video> element with requestVideoFrameCallback, each frame wrapped in a VideoFrame.
// Microphone: MediaStreamTrackProcessor's AudioData.
// This file is a wasm-bindgen snippet used by the Broadcaster. Both sources live in one
// snippet on purpose: every snippet is one more request when the glue loads, and the
// browser unit tests' server (wasm-bindgen-test-runner) can stall a page that opens five
// connections at once (scripts/wasm-test.sh).

/**
 * Frames of a video track for the encode worker: `{ readable, kind, close() }` where
 * `readable` is a transferable ReadableStream of VideoFrames, or `{ readable: null, kind,
 * attach(worker), close() }` when frames are posted to the worker one by one.
 */
export function openFrameStream(track) {
  if (typeof MediaStreamTrackProcessor === 'function') {
    // maxBufferSize 2: frames are not queued without bound. The worker reads each frame as
    // it arrives and counts those its encoder cannot take as dropped; only while a
    // synchronous openh264 encode runs in the worker itself can the browser discard frames
    // from this queue unseen (they show as a lower captured rate, not as drops).
    const processor = new MediaStreamTrackProcessor({ track, maxBufferSize: 2 });
    return { readable: processor.readable, kind: 'MediaStreamTrackProcessor', close() {} };
  }
  if (typeof VideoFrame !== 'function' || !('requestVideoFrameCallback' in HTMLVideoElement.prototype)) {
    throw new Error('this browser has neither MediaStreamTrackProcessor nor VideoFrame with requestVideoFrameCallback');
  }
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  // Browsers stop painting (and so calling back for) videos outside the document: keep
  // it in, invisible and out of the way.
  video.style.cssText = 'position:fixed;left:0;top:0;width:2px;height:2px;opacity:0;pointer-events:none';
  document.body.append(video);
  let closed = false;
  let worker = null;
  // Each frame is transferred to the worker, so the <video> gets its frame buffer back
  // (a frame cloned through a transferred ReadableStream would pin it, and the element
  // stalls after a few frames). The worker keeps only the newest and counts the rest.
  const send = (mediaTime) => {
    const frame = new VideoFrame(video, { timestamp: Math.round(mediaTime * 1e6) });
    worker.postMessage({ type: 'frame', frame }, [frame]);
  };
  let called = false;
  const onFrame = (_now, meta) => {
    if (closed) return;
    called = true;
    send(meta.mediaTime);
    video.requestVideoFrameCallback(onFrame);
  };
  // WebKitGTK (2.50) never calls requestVideoFrameCallback back for a camera track, though
  // the element presents frames: until a callback comes, a frame is taken each time the
  // element's presented-frame count moves (polled every 5 ms).
  let presented = -1;
  const poll = () => {
    if (closed || called) return;
    const count = video.getVideoPlaybackQuality?.().totalVideoFrames ?? -1;
    if (count !== presented && video.readyState >= 2) {
      presented = count;
      send(video.currentTime);
    }
    setTimeout(poll, 5);
  };
  return {
    readable: null,
    kind: 'requestVideoFrameCallback',
    /** Starts sending frames to `target` (a Worker). */
    attach(target) {
      worker = target;
      video.requestVideoFrameCallback(onFrame);
      return video.play().then(() => { if (typeof video.getVideoPlaybackQuality === 'function') setTimeout(poll, 250); });
    },
    close() {
      closed = true;
      video.pause();
      video.srcObject = null;
      video.remove();
    },
  };
}

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
