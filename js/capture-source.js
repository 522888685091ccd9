// The Broadcaster's capture, main-thread side: the camera's frames and the microphone's
// samples as streams the page hands to the encode Worker (which encodes them, see
// js/encode-worker.js and js/audio-encode.js).
// Camera: MediaStreamTrackProcessor where the browser has it (Chromium); elsewhere a hidden
// <video> element with requestVideoFrameCallback, each frame wrapped in a VideoFrame.
// Microphone: MediaStreamTrackProcessor's AudioData where the browser has it; elsewhere an
// AudioWorklet posting the samples to the worker over a MessagePort.
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
  // The callback can come again for a frame already seen (Firefox calls back at every
  // paint, the same mediaTime repeated while the camera has nothing new): only new frames
  // are sent. The worker paces what it is sent to the configured fps.
  let lastMediaTime = -1;
  const send = (mediaTime) => {
    if (!(mediaTime > lastMediaTime)) return;
    lastMediaTime = mediaTime;
    const frame = new VideoFrame(video, { timestamp: Math.round(mediaTime * 1e6) });
    worker.postMessage({ type: 'frame', frame }, [frame]);
  };
  let called = false;
  // The next callback is asked for before this frame is sent, so a frame that cannot be
  // wrapped (VideoFrame throws) loses that frame, never the ones after it.
  const onFrame = (_now, meta) => {
    if (closed) return;
    called = true;
    video.requestVideoFrameCallback(onFrame);
    trySend(meta.mediaTime);
  };
  let failures = 0;
  const trySend = (mediaTime) => {
    try {
      send(mediaTime);
    } catch (error) {
      // The worker's watchdog reports a camera that gives no frames (CAMERA_ERROR).
      if (failures++ === 0) console.warn('livecast: a camera frame could not be captured:', error);
    }
  };
  // WebKitGTK (2.50) never calls requestVideoFrameCallback back for a camera track, though
  // the element presents frames: until a callback comes, a frame is taken each time the
  // element's presented-frame count moves (polled every 5 ms).
  let presented = -1;
  let polling = false;
  const poll = () => {
    if (closed || called) return;
    const count = video.getVideoPlaybackQuality?.().totalVideoFrames ?? -1;
    if (count !== presented && video.readyState >= 2) {
      presented = count;
      polling = true;
      trySend(video.currentTime);
    }
    setTimeout(poll, 5);
  };
  return {
    readable: null,
    /** How frames come now (the Broadcaster's `stats.encoder` says it). */
    get kind() {
      return polling && !called ? 'presented-frame polling (no requestVideoFrameCallback callbacks)' : 'requestVideoFrameCallback';
    },
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
 * The microphone's samples for the encode worker: `{ readable, kind }`. Where the browser
 * has MediaStreamTrackProcessor (Chromium), `readable` is its transferable ReadableStream of
 * AudioData. Elsewhere (Firefox, Safari) it is a MessagePort: an AudioWorklet on an
 * AudioContext at the track's rate posts the samples over it in 1024-frame blocks (see
 * `audioCaptureWorklet`), and the worker reads them like AudioData (js/audio-encode.js,
 * WorkletAudioReader). Either way no audio work runs on the page's main thread.
 */
export function openAudioStream(track) {
  if (typeof MediaStreamTrackProcessor === 'function') {
    // About 2 s of 10 ms blocks (768 KiB of stereo f32 at 48 kHz) may wait while the
    // worker is busy or starved of CPU; beyond that the browser discards the oldest, and
    // the worker counts the gap. (0.5 s lost sound in CI: 33 frames in 30 s on a loaded
    // 2-core machine.)
    const processor = new MediaStreamTrackProcessor({ track, maxBufferSize: 200 });
    return { readable: processor.readable, kind: 'MediaStreamTrackProcessor' };
  }
  if (typeof AudioContext !== 'function' || typeof AudioWorkletNode !== 'function') {
    return { readable: null, kind: 'none' };
  }
  const channel = new MessageChannel();
  startAudioWorklet(track, channel.port1);
  return { readable: channel.port2, kind: 'AudioWorklet' };
}

/** Blocks that may be on their way to the worker, unread, before the worklet drops (and
 *  the worker counts) new ones: 96 × 1024 frames, about 2 s at 48 kHz (768 KiB of stereo
 *  f32). A worker starved of CPU for half a second on a loaded 2-core machine is not rare;
 *  a stall of two seconds is, and beyond that sound is lost rather than queued without
 *  bound. */
const WORKLET_MAX_IN_FLIGHT = 96;
/** The AudioContexts of running captures, kept from the garbage collector. */
const liveCaptures = new Set();

/** Sets up the AudioWorklet capture of `track`; hands `port` (the worker's peer) to it.
 *  A failure is posted on `port`, so the worker reports it and the picture goes on. */
async function startAudioWorklet(track, port) {
  let context = null;
  const fail = (message) => {
    port.postMessage({ type: 'error', message });
    port.close();
    if (context) {
      liveCaptures.delete(context);
      context.close().catch(() => {});
    }
  };
  try {
    const settings = track.getSettings?.() ?? {};
    const channels = Math.min(2, Math.max(1, settings.channelCount || 2));
    // The context runs at the track's rate where the browser says it (Firefox refuses to
    // connect a track to a context at another rate); else at its default, the track's.
    context = settings.sampleRate ? new AudioContext({ sampleRate: settings.sampleRate }) : new AudioContext();
    liveCaptures.add(context);
    const url = URL.createObjectURL(new Blob([`(${audioCaptureWorklet.toString()})();\n`], { type: 'text/javascript' }));
    try {
      await context.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
    const source = new MediaStreamAudioSourceNode(context, { mediaStream: new MediaStream([track]) });
    const node = new AudioWorkletNode(context, 'livecast-audio-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCount: channels,
      channelCountMode: 'explicit',
      channelInterpretation: 'speakers',
      processorOptions: { channels, maxInFlight: WORKLET_MAX_IN_FLIGHT },
    });
    node.port.onmessage = (event) => {
      if (event.data?.type !== 'ended') return;
      source.disconnect();
      node.disconnect();
      liveCaptures.delete(context);
      context.close().catch(() => {});
    };
    source.connect(node);
    // The node outputs silence; connected so that every browser runs it.
    node.connect(context.destination);
    if (context.state !== 'running') {
      const resumed = context.resume().then(() => true, () => false);
      const timeout = new Promise((resolve) => setTimeout(() => resolve(false), 3000));
      if (!(await Promise.race([resumed, timeout])) && context.state !== 'running') {
        return fail(`the AudioContext stays "${context.state}" (the browser's autoplay policy, or no audio device): start the broadcast from a click or a key press`);
      }
    }
    node.port.postMessage({ type: 'port', port }, [port]);
  } catch (error) {
    fail(`the AudioWorklet capture could not start: ${error?.message ?? error}`);
  }
}

/**
 * The AudioWorklet module (its source is loaded as a Blob URL, so that no bundler has to
 * emit a file for it: keep it self-contained). Its processor copies the input into blocks of
 * 1024 frames and posts each, planar f32 and transferred, with the context's frame index of
 * its first sample, over the port the page handed it. The worker acknowledges the blocks it
 * has read; while `maxInFlight` are unacknowledged new blocks are dropped (their frames show
 * as a gap in the frame indices, which the worker counts), so nothing queues without bound.
 * `{ type: 'stop' }` from the worker, or no acknowledgement for 10 s, ends it.
 */
function audioCaptureWorklet() {
  const BLOCK = 1024;
  class LivecastAudioCapture extends AudioWorkletProcessor {
    constructor(options) {
      super();
      const { channels, maxInFlight } = options.processorOptions;
      this.channels = channels;
      this.maxInFlight = maxInFlight;
      this.out = null;
      this.block = null;
      this.filled = 0;
      this.first = 0;
      this.sent = 0;
      this.acked = 0;
      this.lastAck = currentTime;
      this.done = false;
      this.port.onmessage = (event) => {
        if (event.data?.type !== 'port') return;
        this.out = event.data.port;
        this.out.onmessage = (e) => this.fromWorker(e.data);
        this.lastAck = currentTime;
      };
    }

    fromWorker(message) {
      if (message?.type === 'ack') {
        this.acked = message.blocks;
        this.lastAck = currentTime;
      } else if (message?.type === 'stop') {
        this.end();
      }
    }

    end() {
      if (this.done) return;
      this.done = true;
      this.out?.postMessage({ type: 'end' });
      this.out?.close();
      this.port.postMessage({ type: 'ended' });
    }

    process(inputs) {
      if (this.done) return false;
      if (!this.out) return true;
      if (currentTime - this.lastAck > 10) {
        this.end();
        return false;
      }
      const input = inputs[0] ?? [];
      const n = input[0]?.length ?? 128;
      let offset = 0;
      while (offset < n) {
        if (!this.block) {
          this.block = new Float32Array(BLOCK * this.channels);
          this.filled = 0;
          this.first = currentFrame + offset;
        }
        const take = Math.min(n - offset, BLOCK - this.filled);
        for (let c = 0; c < this.channels; c++) {
          // No channel (an inactive input) is silence: the block is zeros already.
          const plane = input[Math.min(c, input.length - 1)];
          if (plane) this.block.set(plane.subarray(offset, offset + take), c * BLOCK + this.filled);
        }
        this.filled += take;
        offset += take;
        if (this.filled === BLOCK) this.flush();
      }
      return true;
    }

    flush() {
      const block = this.block;
      this.block = null;
      if (this.sent - this.acked >= this.maxInFlight) return; // dropped: a gap in `frame`
      this.sent++;
      this.out.postMessage({ type: 'block', frame: this.first, frames: BLOCK, channels: this.channels, sampleRate, data: block }, [block.buffer]);
    }
  }
  registerProcessor('livecast-audio-capture', LivecastAudioCapture);
}
