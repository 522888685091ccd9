// Camera frames as a ReadableStream of VideoFrames, for the Broadcaster's encode Worker.
// MediaStreamTrackProcessor where the browser has it (Chromium); elsewhere a hidden
// <video> element with requestVideoFrameCallback, each frame wrapped in a VideoFrame.
// This file is a wasm-bindgen snippet used by the Broadcaster.

/** `{ readable, kind, close() }` for a video track. */
export function openFrameStream(track) {
  if (typeof MediaStreamTrackProcessor === 'function') {
    // maxBufferSize 2: frames that arrive while the encoder is busy are discarded by the
    // browser rather than queued without bound (the worker counts them from timestamps).
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
  let closed = false;
  let pending = 0;
  const readable = new ReadableStream({
    start(controller) {
      const onFrame = (_now, meta) => {
        if (closed) return;
        // At most two frames in flight: drop the rest (the worker counts the gaps).
        if (pending < 2) {
          pending++;
          controller.enqueue(new VideoFrame(video, { timestamp: Math.round(meta.mediaTime * 1e6) }));
        }
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
      video.play().catch((e) => controller.error(e));
    },
    pull() {
      pending = Math.max(0, pending - 1);
    },
    cancel() {
      closed = true;
    },
  }, { highWaterMark: 0 });
  return {
    readable,
    kind: 'requestVideoFrameCallback',
    close() {
      closed = true;
      video.pause();
      video.srcObject = null;
    },
  };
}

/** Adds a listener that receives `event.detail`; returns a function that removes it. */
export function onDetail(target, type, callback) {
  const listener = (event) => callback(event.detail);
  target.addEventListener(type, listener);
  return () => target.removeEventListener(type, listener);
}
