// The Broadcaster's encode Worker: VideoFrames in (transferred as a ReadableStream),
// MPEG-TS segments out (posted back with their buffers transferred). It loads the same
// wasm package as the page: H264Encoder (openh264) and TsSegmenter run here, so the
// page's main thread only uploads.
//
// This file is a wasm-bindgen snippet: it lands in pkg/snippets/<crate>-<hash>/js/, three
// folders below the package's livecast.js. On the main thread it only exports its URL.

/** The URL to start this file as a module Worker. */
export function encodeWorkerUrl() {
  return import.meta.url;
}

const inWorker = typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope;
if (inWorker) {
  // Queue messages until the wasm module is ready, so none is lost.
  const early = [];
  globalThis.onmessage = (event) => early.push(event.data);
  import(new URL('../../../livecast.js', import.meta.url))
    .then(async (glue) => {
      await glue.default();
      const worker = new EncodeWorker(glue);
      globalThis.onmessage = (event) => worker.handle(event.data);
      for (const message of early) worker.handle(message);
    })
    .catch((error) => post({ type: 'error', code: 'WORKER_FAILED', fatal: true, message: `the encode worker could not load: ${error?.message ?? error}` }));
}

function post(message, transfer = []) {
  globalThis.postMessage(message, transfer);
}

class EncodeWorker {
  constructor(glue) {
    this.glue = glue;
    this.stopping = false;
    this.slot = new FrameSlot();
  }

  handle(message) {
    if (message?.type === 'start') this.start(message).catch((e) => this.fail(e));
    else if (message?.type === 'frame') this.slot.put(message.frame);
    else if (message?.type === 'stop') this.stop();
  }

  fail(error) {
    post({ type: 'error', code: error?.code ?? 'ENCODER_FAILED', fatal: true, message: String(error?.message ?? error) });
  }

  async start({ readable, config }) {
    const { width, height, fps, bitrateKbps, segmentSeconds } = config;
    const { H264Encoder, TsSegmenter } = this.glue;
    this.config = config;
    this.encoder = new H264Encoder({ width, height, fps, bitrateKbps, keyframeIntervalFrames: Math.max(1, Math.round(segmentSeconds * fps)) });
    this.segmenter = new TsSegmenter({ segmentSeconds, firstSeq: config.firstSeq ?? 0 });
    // Frames come as a transferred ReadableStream, or one by one as 'frame' messages.
    this.reader = readable ? readable.getReader() : this.slot;
    this.i420 = new Uint8Array(width * height * 3 / 2);
    this.canvas = null;
    this.segmentStartWallMs = new Map();
    this.lastTimestamp = -Infinity;
    this.stats = { captured: 0, encoded: 0, bytes: 0, dropped: 0, encodeMs: [] };
    this.statsTimer = setInterval(() => this.flushStats(), 250);
    post({ type: 'ready', backend: 'openh264-wasm' });
    const frameUs = 1e6 / fps;
    let openSegmentWallMs = null;
    while (!this.stopping) {
      const { value: frame, done } = await this.reader.read();
      if (done) break;
      const wallMs = Date.now();
      try {
        this.stats.captured++;
        // Frames the camera skipped, or that queued up and were discarded while the
        // encoder was busy, show up as gaps in the timestamps.
        let ts = frame.timestamp;
        if (this.lastTimestamp > -Infinity) {
          const gap = Math.round((ts - this.lastTimestamp) / frameUs) - 1;
          if (gap > 0) this.stats.dropped += gap;
        }
        if (ts <= this.lastTimestamp) ts = this.lastTimestamp + 1; // timestamps must increase
        this.lastTimestamp = ts;
        const keyframeDue = this.segmenter.keyframeDue(ts);
        if (keyframeDue) this.encoder.forceKeyframe();
        const t0 = performance.now();
        const out = await this.encodeFrame(frame, ts);
        this.stats.encodeMs.push(performance.now() - t0);
        this.stats.encoded++;
        this.stats.bytes += out.data.length;
        const segment = this.segmenter.push(out.data, out.keyframe, ts);
        if (segment) this.emit(segment, openSegmentWallMs);
        if (segment || openSegmentWallMs === null) openSegmentWallMs = wallMs;
      } finally {
        frame.close();
      }
    }
    const last = this.segmenter.finish();
    if (last) this.emit(last, openSegmentWallMs);
    this.flushStats();
    clearInterval(this.statsTimer);
    this.encoder.free();
    post({ type: 'finished' });
  }

  /** Encodes one frame: the I420 path when the camera gives I420/NV12 at the configured
   *  size, otherwise via a canvas (scaling to the configured size) as RGBA. */
  async encodeFrame(frame, ts) {
    const { width, height } = this.config;
    const rect = frame.visibleRect;
    if (rect.width === width && rect.height === height) {
      const planes = await this.glue.videoFrameToI420(frame, this.i420);
      if (planes) {
        const luma = width * height;
        return this.encoder.encodeI420(planes.subarray(0, luma), planes.subarray(luma, luma * 5 / 4), planes.subarray(luma * 5 / 4), ts);
      }
    }
    this.canvas ??= new OffscreenCanvas(width, height);
    const ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(frame, 0, 0, width, height);
    return this.encoder.encodeRgba(ctx.getImageData(0, 0, width, height).data, ts);
  }

  emit(segment, captureStartMs) {
    const data = segment.data;
    post({
      type: 'segment',
      seq: segment.seq,
      data,
      durationUs: segment.durationUs,
      frames: segment.frames,
      captureStartMs: captureStartMs ?? Date.now(),
    }, [data.buffer]);
  }

  flushStats() {
    if (!this.stats) return;
    post({ type: 'stats', ...this.stats });
    this.stats = { captured: 0, encoded: 0, bytes: 0, dropped: 0, encodeMs: [] };
  }

  stop() {
    this.stopping = true;
    this.reader?.cancel().catch(() => {});
  }
}

/** Holds the newest posted frame; a frame replaced before it was read is closed (dropped). */
class FrameSlot {
  constructor() {
    this.frame = null;
    this.waiting = null;
    this.done = false;
  }

  put(frame) {
    if (this.done) return frame.close();
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      return resolve({ value: frame, done: false });
    }
    this.frame?.close();
    this.frame = frame;
  }

  read() {
    if (this.frame) {
      const value = this.frame;
      this.frame = null;
      return Promise.resolve({ value, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => { this.waiting = resolve; });
  }

  cancel() {
    this.done = true;
    this.frame?.close();
    this.frame = null;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = null;
    return Promise.resolve();
  }
}
