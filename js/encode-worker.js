// The Broadcaster's encode Worker: VideoFrames in (a transferred ReadableStream, or frames
// posted one by one), MPEG-TS segments out (posted back with their buffers transferred).
// It loads the same wasm package as the page and runs one of three encoder backends behind
// one interface, all feeding the same TsSegmenter:
//   - WebCodecs (the browser's VideoEncoder, via the package's WebCodecsEncoder);
//   - openh264 in this worker (H264Encoder);
//   - openh264 in N sub-workers, each encoding whole segments, re-ordered here.
// The page's main thread only uploads.
//
// This file is not a wasm-bindgen snippet: scripts/pkg-workers.mjs copies it into the
// package's workers/ folder, beside the two Workers' main scripts that import it
// (encode-worker-entry.js, openh264-worker-entry.js). The page's glue never imports it.

import { AudioPipeline, CaptureClock, WorkletAudioReader, readTimed } from './audio-encode.js';

/** How long the camera may give no frame before a CAMERA_ERROR event says so. */
const CAMERA_STALL_MS = 5000;
/** How long an AudioWorklet capture has to deliver its first block before the broadcast
 *  goes on without sound, ms. */
const WORKLET_START_TIMEOUT_MS = 5000;

/** Starts a new openh264 sub-worker (set by serveEncodeWorker). */
let startSubWorker = null;

/**
 * Runs this Worker as the encode worker. `load()` resolves to the initialised glue;
 * `subWorker(index)` starts one openh264 sub-worker (the parallel backend's).
 */
export function serveEncodeWorker(load, subWorker) {
  startSubWorker = subWorker;
  serve(load, (glue) => new EncodeWorker(glue));
}

/** Runs this Worker as an openh264 sub-worker of the parallel backend. */
export function serveSegmentEncoderWorker(load) {
  serve(load, (glue) => new SegmentEncoderWorker(glue));
}

/** Queues messages until the wasm module is ready, so none is lost; a module that does not
 *  load is reported as a fatal error. */
function serve(load, make) {
  const early = [];
  globalThis.onmessage = (event) => early.push(event.data);
  load()
    .then((glue) => {
      const worker = make(glue);
      globalThis.onmessage = (event) => worker.handle(event.data);
      for (const message of early) worker.handle(message);
    })
    .catch((error) => post({ type: 'error', code: 'ENCODER_FAILED', fatal: true, message: `the encode worker could not load the wasm module: ${error?.message ?? error}` }));
}

function post(message, transfer = []) {
  globalThis.postMessage(message, transfer);
}

/** Workers the parallel openh264 backend uses by default: enough for the pixel rate
 *  (one openh264 thread does about 720p30 on a 2-core laptop-class machine, with no
 *  margin), at most the machine's hardware threads. */
export function defaultEncoderWorkers({ width, height, fps }) {
  const needed = Math.ceil(((width * height * fps) / (1280 * 720 * 30)) * 1.5);
  return Math.max(1, Math.min(needed, navigator.hardwareConcurrency || 1, 8));
}

/** The coordinator: frames → backend → segmenter → segments to the page. */
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

  async start({ readable, audioReadable, config }) {
    const { segmentSeconds } = config;
    this.config = config;
    this.backend = await chooseBackend(this.glue, config);
    this.backend.onOutput = (out) => this.mux(out);
    let audioSource = audioReadable;
    if (config.audio && audioReadable instanceof MessagePort) {
      // An AudioWorklet capture can fail after the page handed it over (an AudioContext the
      // browser keeps suspended, a worklet that does not load): know before the segmenter is
      // made with audio, whose video waits for the sound.
      audioSource = new WorkletAudioReader(audioReadable);
      let timer;
      const late = new Promise((resolve) => { timer = setTimeout(() => resolve(false), WORKLET_START_TIMEOUT_MS); });
      const started = await Promise.race([audioSource.started, late]);
      clearTimeout(timer);
      if (!started) {
        const why = audioSource.error?.message ?? `the AudioWorklet gave no samples within ${WORKLET_START_TIMEOUT_MS / 1000} s`;
        audioSource.cancel();
        audioSource = null;
        post({ type: 'error', code: 'ENCODER_FAILED', fatal: false, message: `no sound: ${why}; broadcasting the picture only` });
      }
    }
    const audio = Boolean(config.audio && audioSource);
    this.pageTimeOrigin = config.pageTimeOrigin;
    this.segmenter = new this.glue.TsSegmenter({ segmentSeconds, firstSeq: config.firstSeq ?? 0, audio });
    if (audio) {
      this.videoClock = new CaptureClock();
      this.startAudio(config.audio, audioSource);
    }
    // Frames come as a transferred ReadableStream, or one by one as 'frame' messages.
    this.reader = readable ? readable.getReader() : this.slot;
    this.pacer = new FramePacer(config.fps);
    this.captureWallMs = new Map(); // frame timestamp → wall clock at capture
    this.openSegmentWallMs = null;
    this.stats = { captured: 0, encoded: 0, bytes: 0, dropped: 0, encodeMs: [] };
    this.lastFrameMs = performance.now();
    this.cameraStalled = false;
    this.statsTimer = setInterval(() => {
      this.flushStats();
      this.watchCamera();
    }, 250);
    post({ type: 'ready', backend: this.backend.name, reason: this.backend.reason });
    let lastTs = -Infinity;
    while (!this.stopping) {
      const { value: frame, done, fresh } = await readTimed(this.reader);
      if (done) break;
      this.lastFrameMs = performance.now();
      this.cameraStalled = false;
      // A camera faster than the configured fps (or a source that repeats frames) is paced
      // down to it here; frames skipped so are neither captured nor dropped.
      if (!this.pacer.take(frame.timestamp)) {
        frame.close();
        continue;
      }
      this.stats.captured++;
      // `dropped` counts frames the camera delivered that the encoder did not take: those
      // skipped below while the backend is busy, and those the frame slot replaced before
      // they were read. Gaps in the timestamps are not drops: a camera that gives 20 fps
      // for a 30 fps setting shows as a lower captured rate, not as dropped frames.
      // With sound, camera stamps go on the shared capture timeline (see CaptureClock); the
      // first few frames calibrate it.
      let ts = this.videoClock ? this.videoClock.map(frame.timestamp, fresh) : frame.timestamp;
      if (ts === null) {
        frame.close();
        continue;
      }
      if (ts <= lastTs) ts = lastTs + 1000; // timestamps must increase, by at least a 90 kHz tick
      lastTs = ts;
      // Segment boundaries are decided before encoding, so that parallel encoders can each
      // start a segment with an IDR; the segmenter decides (its rule, in Rust) and cuts
      // at those IDRs.
      const keyframe = this.segmenter.scheduleKeyframe(ts);
      if (!keyframe && this.backend.busy) {
        this.stats.dropped++;
        frame.close();
        continue;
      }
      this.captureWallMs.set(ts, Date.now());
      try {
        await this.backend.encode(frame, ts, keyframe);
      } catch (error) {
        frame.close();
        throw error;
      }
    }
    await this.backend.flush();
    if (this.audio) {
      this.audio.stop();
      await this.audioDone;
      for (const segment of this.segmenter.finishAll()) this.emit(segment, this.openSegmentWallMs);
    } else {
      const last = this.segmenter.finish();
      if (last) this.emit(last, this.openSegmentWallMs);
    }
    this.flushStats();
    clearInterval(this.statsTimer);
    this.backend.close();
    post({ type: 'finished' });
  }

  /** One encoded frame, in capture order, from the backend. */
  mux(out) {
    this.stats.encoded++;
    this.stats.bytes += out.data.length;
    if (out.encodeMs !== undefined) this.stats.encodeMs.push(out.encodeMs);
    const wallMs = this.captureWallMs.get(out.timestampUs) ?? Date.now();
    this.captureWallMs.delete(out.timestampUs);
    if (this.audio) {
      const segments = this.segmenter.pushVideo(out.data, out.keyframe, out.timestampUs);
      for (const segment of segments) this.emit(segment, this.openSegmentWallMs);
      if (segments.length || this.openSegmentWallMs === null) this.openSegmentWallMs = wallMs;
      return;
    }
    const segment = this.segmenter.push(out.data, out.keyframe, out.timestampUs);
    if (segment) this.emit(segment, this.openSegmentWallMs);
    if (segment || this.openSegmentWallMs === null) this.openSegmentWallMs = wallMs;
  }

  /** The microphone: AudioData → AAC → the segmenter, beside the video. An audio failure
   *  is reported (non-fatal) and the broadcast goes on with the picture. */
  startAudio(audioConfig, readable) {
    const audioClock = new CaptureClock();
    // An AudioWorklet's blocks (a MessagePort) come already on this worker's timeline (see
    // WorkletAudioReader); MediaStreamTrackProcessor's AudioData on the page's.
    if (readable instanceof WorkletAudioReader) audioClock.preset(0);
    else if (Number.isFinite(this.pageTimeOrigin)) audioClock.preset((this.pageTimeOrigin - performance.timeOrigin) * 1000);
    this.audio = new AudioPipeline(this.glue, audioConfig, readable, (bytes, ts) => {
      try {
        for (const segment of this.segmenter.pushAudio(bytes, ts)) this.emit(segment, this.openSegmentWallMs);
      } catch (error) {
        this.audioFailed(error);
      }
    }, audioClock);
    this.audio.onReady = (a) => post({ type: 'audio-ready', encoder: a.name, reason: a.reason });
    this.audioDone = this.audio.run().catch((error) => this.audioFailed(error));
  }

  audioFailed(error) {
    if (this.audioError) return;
    this.audioError = error;
    this.audio?.stop();
    post({ type: 'error', code: error?.code ?? 'ENCODER_FAILED', fatal: false, message: `the audio stopped: ${error?.message ?? error}` });
  }

  /** A camera that gives no frame for CAMERA_STALL_MS is reported once (non-fatal), and
   *  again after frames came back and stopped again: a page would otherwise see a live
   *  broadcast that uploads nothing (with sound, the segments wait for the picture). */
  watchCamera() {
    if (this.stopping || this.cameraStalled) return;
    const quietMs = performance.now() - this.lastFrameMs;
    if (quietMs < CAMERA_STALL_MS) return;
    this.cameraStalled = true;
    post({
      type: 'error',
      code: 'CAMERA_ERROR',
      fatal: false,
      message: `the camera gave no frame for ${Math.round(quietMs / 1000)} s (is its track muted or ended, or the page hidden?); the broadcast goes on when frames come again`,
    });
  }

  emit(segment, captureStartMs) {
    const data = segment.data;
    post({
      type: 'segment',
      seq: segment.seq,
      data,
      durationUs: segment.durationUs,
      frames: segment.frames,
      audioFrames: segment.audioFrames ?? 0,
      captureStartMs: captureStartMs ?? Date.now(),
    }, [data.buffer]);
  }

  flushStats() {
    if (!this.stats) return;
    // Frames the slot replaced unread were delivered (captured) but not taken (dropped).
    const unread = this.slot.takeDropped();
    this.stats.captured += unread;
    this.stats.dropped += unread;
    const audio = this.audio?.takeStats();
    post({ type: 'stats', ...this.stats, audioFrames: audio?.frames ?? 0, audioDropped: audio?.dropped ?? 0, audioEncodeMs: audio?.encodeMs ?? 0, audioLevel: audio?.peak ?? 0 });
    this.stats = { captured: 0, encoded: 0, bytes: 0, dropped: 0, encodeMs: [] };
  }

  stop() {
    this.stopping = true;
    this.reader?.cancel().catch(() => {});
  }
}

/** Picks the backend for `config.encoder` ("auto" | "webcodecs" | "openh264"). */
async function chooseBackend(glue, config) {
  const { width, height, fps, bitrateKbps } = config;
  const choice = config.encoder ?? 'auto';
  let webcodecs = null;
  if (choice !== 'openh264') {
    webcodecs = await glue.WebCodecsEncoder.probe({ width, height, fps, bitrateKbps });
    if (webcodecs.supported) return new WebCodecsBackend(glue, config, webcodecs.reason);
    if (choice === 'webcodecs') {
      throw Object.assign(new Error(`encoder "webcodecs" was asked for, but ${webcodecs.reason}; use encoder: "auto"`), { code: 'ENCODER_FAILED' });
    }
  }
  const workers = config.encoderWorkers ?? defaultEncoderWorkers(config);
  const why = choice === 'openh264' ? 'openh264 was asked for' : webcodecs.reason;
  if (workers <= 1) return new OpenH264Backend(glue, config, `${why}; one openh264 encoder in the worker`);
  return new ParallelOpenH264Backend(glue, config, workers, `${why}; ${workers} openh264 workers encode segments in parallel`);
}

/** openh264 in this worker. Encoding blocks the worker, so frames that arrive meanwhile
 *  are discarded upstream (and counted from the timestamp gaps). */
class OpenH264Backend {
  constructor(glue, config, reason) {
    const { width, height, fps, bitrateKbps } = config;
    this.glue = glue;
    this.name = 'openh264';
    this.reason = reason;
    this.busy = false;
    this.encoder = new glue.H264Encoder({ width, height, fps, bitrateKbps, keyframeIntervalFrames: 3600 });
    this.width = width;
    this.height = height;
    this.i420 = new Uint8Array(width * height * 3 / 2);
    this.canvas = null;
    this.onOutput = () => {};
  }

  async encode(frame, ts, keyframe) {
    try {
      if (keyframe) this.encoder.forceKeyframe();
      const t0 = performance.now();
      const out = await encodeWithOpenH264(this, frame, ts);
      this.onOutput({ ...out, encodeMs: performance.now() - t0 });
    } finally {
      frame.close();
    }
  }

  async flush() {}

  close() {
    this.encoder.free();
  }
}

/** I420 straight from the frame when it is I420/NV12 at the configured size; otherwise
 *  through a canvas (scaling to the configured size) as RGBA. */
async function encodeWithOpenH264(ctx, frame, ts) {
  const { width, height } = ctx;
  const rect = frame.visibleRect;
  if (rect.width === width && rect.height === height) {
    const planes = await ctx.glue.videoFrameToI420(frame, ctx.i420);
    if (planes) {
      const luma = width * height;
      return ctx.encoder.encodeI420(planes.subarray(0, luma), planes.subarray(luma, luma * 5 / 4), planes.subarray(luma * 5 / 4), ts);
    }
  }
  ctx.canvas ??= new OffscreenCanvas(width, height);
  const g = ctx.canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(frame, 0, 0, width, height);
  return ctx.encoder.encodeRgba(g.getImageData(0, 0, width, height).data, ts);
}

/** The browser's WebCodecs VideoEncoder. Encoding is asynchronous: at most a few frames
 *  wait inside the encoder; beyond that new frames are dropped (and counted). */
class WebCodecsBackend {
  constructor(glue, config, reason) {
    const { width, height, fps, bitrateKbps } = config;
    this.name = 'webcodecs';
    this.reason = reason;
    this.encoder = new glue.WebCodecsEncoder({ width, height, fps, bitrateKbps });
    this.started = new Map();
    this.onOutput = () => {};
  }

  get busy() {
    return this.encoder.queueSize > 2;
  }

  async encode(frame, ts, keyframe) {
    try {
      this.started.set(ts, performance.now());
      this.encoder.encode(frame, ts, keyframe);
    } finally {
      frame.close();
    }
    // Let the encoder's output callbacks run, then pass their frames on in order.
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.drain();
  }

  drain() {
    for (const out of this.encoder.takeOutput()) {
      const t0 = this.started.get(out.timestampUs);
      this.started.delete(out.timestampUs);
      this.onOutput({ ...out, encodeMs: t0 === undefined ? undefined : performance.now() - t0 });
    }
  }

  async flush() {
    await this.encoder.flush();
    this.drain();
  }

  close() {
    this.encoder.close();
  }
}

/** openh264 in N sub-workers: segment k goes to worker k mod N, which starts it with an
 *  IDR and encodes it whole; outputs are re-ordered here into capture order. A segment's
 *  frames leave the backend only once every earlier segment is done: up to one segment
 *  of added latency. */
class ParallelOpenH264Backend {
  constructor(glue, config, count, reason) {
    this.glue = glue;
    this.name = `openh264 x${count}`;
    this.reason = reason;
    this.config = config;
    this.onOutput = () => {};
    this.segment = -1;
    this.order = new SegmentOrder((out) => this.onOutput(out));
    this.inFlight = 0;
    this.maxInFlight = Math.ceil(config.fps * config.segmentSeconds * 1.5) * count;
    this.waiters = [];
    this.workers = Array.from({ length: count }, (_, i) => {
      const w = startSubWorker(i);
      w.onmessage = (event) => this.onMessage(event.data);
      w.onerror = (event) => {
        event.preventDefault();
        this.fail(new Error(`openh264 worker ${i} failed: ${event.message || 'its script could not be loaded'}`));
      };
      w.onmessageerror = () => this.fail(new Error(`openh264 worker ${i}: a message could not be deserialised`));
      w.postMessage({ type: 'configure', config });
      return w;
    });
    this.error = null;
  }

  get busy() {
    return this.inFlight >= this.maxInFlight;
  }

  async encode(frame, ts, keyframe) {
    if (this.error) throw this.error;
    let data;
    try {
      data = await this.glue.videoFrameToI420(frame);
      if (!data) data = rgbaOf(frame, this.config);
    } finally {
      frame.close();
    }
    if (keyframe) {
      if (this.segment >= 0) this.workerFor(this.segment).postMessage({ type: 'end', segment: this.segment });
      this.segment++;
    }
    if (this.segment < 0) return; // frames before the first keyframe
    this.inFlight++;
    const kind = data.kind ?? 'i420';
    const bytes = data.bytes ?? data;
    this.workerFor(this.segment).postMessage({ type: 'frame', segment: this.segment, ts, keyframe, kind, data: bytes }, [bytes.buffer]);
  }

  workerFor(segment) {
    return this.workers[segment % this.workers.length];
  }

  onMessage(message) {
    if (message.type === 'encoded') {
      this.inFlight--;
      try {
        this.order.frame(message.segment, { data: message.data, keyframe: message.keyframe, timestampUs: message.ts, encodeMs: message.encodeMs });
      } catch (error) {
        this.fail(error);
      }
    } else if (message.type === 'segment-done') {
      this.order.done(message.segment);
      this.wake();
    } else if (message.type === 'error') {
      this.fail(new Error(message.message));
    }
  }

  fail(error) {
    this.error ??= error;
    this.wake();
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  async flush() {
    if (this.segment >= 0) this.workerFor(this.segment).postMessage({ type: 'end', segment: this.segment });
    while (this.order.next <= this.segment && !this.error) await new Promise((resolve) => this.waiters.push(resolve));
    if (this.error) throw this.error;
  }

  close() {
    for (const w of this.workers) w.terminate();
  }
}

/** RGBA of a frame at the configured size (for cameras that give neither I420 nor NV12). */
function rgbaOf(frame, { width, height }) {
  const canvas = new OffscreenCanvas(width, height);
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(frame, 0, 0, width, height);
  return { kind: 'rgba', bytes: new Uint8Array(g.getImageData(0, 0, width, height).data.buffer) };
}

/** A sub-worker of the parallel backend: encodes the frames of its segments, in order. */
class SegmentEncoderWorker {
  constructor(glue) {
    this.glue = glue;
    this.encoder = null;
  }

  handle(message) {
    try {
      if (message.type === 'configure') {
        const { width, height, fps, bitrateKbps } = message.config;
        this.width = width;
        this.height = height;
        this.encoder = new this.glue.H264Encoder({ width, height, fps, bitrateKbps, keyframeIntervalFrames: 3600 });
      } else if (message.type === 'frame') {
        const { width, height } = this;
        if (message.keyframe) this.encoder.forceKeyframe();
        const t0 = performance.now();
        const luma = width * height;
        const d = message.data;
        const out = message.kind === 'rgba'
          ? this.encoder.encodeRgba(d, message.ts)
          : this.encoder.encodeI420(d.subarray(0, luma), d.subarray(luma, luma * 5 / 4), d.subarray(luma * 5 / 4), message.ts);
        post({ type: 'encoded', segment: message.segment, ts: message.ts, keyframe: out.keyframe, data: out.data, encodeMs: performance.now() - t0 }, [out.data.buffer]);
      } else if (message.type === 'end') {
        post({ type: 'segment-done', segment: message.segment });
      }
    } catch (error) {
      post({ type: 'error', message: String(error?.message ?? error) });
    }
  }
}

/**
 * Puts the output of encoders that each encode whole segments (segment k on encoder
 * k mod N) back in capture order: frames of the segment being emitted go out at once, those
 * of later segments wait until every earlier segment is done. Within a segment an encoder
 * keeps its frames' order. `emit` gets each frame once.
 */
export class SegmentOrder {
  constructor(emit) {
    this.emit = emit;
    this.next = 0; // the segment whose frames are emitted now
    this.waiting = new Map(); // segment → frames waiting for their turn
    this.finished = new Set(); // segments done that are not yet `next`
  }

  /** Frames held for later segments. */
  get held() {
    let n = 0;
    for (const frames of this.waiting.values()) n += frames.length;
    return n;
  }

  /** One encoded frame of `segment`. */
  frame(segment, out) {
    if (segment === this.next) return this.emit(out);
    if (segment < this.next) throw new Error(`a frame of segment ${segment} after that segment was done`);
    if (!this.waiting.has(segment)) this.waiting.set(segment, []);
    this.waiting.get(segment).push(out);
  }

  /** Every frame of `segment` was given. */
  done(segment) {
    this.finished.add(segment);
    while (this.finished.has(this.next)) {
      this.finished.delete(this.next);
      this.next++;
      for (const out of this.waiting.get(this.next) ?? []) this.emit(out);
      this.waiting.delete(this.next);
    }
  }
}

/**
 * Paces frames to `fps` by their timestamps (µs): a frame is taken when it is due, the due
 * time then moving one interval on, so a 50 fps camera gives 30 fps for a 30 fps setting
 * (not 25, as "at least one interval since the last" would). A quarter interval of early
 * jitter is taken; a source late by more than an interval, or stamped before the last frame
 * taken (its clock went back), restarts the grid at its frame, so no jump of the source's
 * timestamps can hold frames back. The grid never runs more than 1.1 intervals ahead of the
 * last frame taken: a camera at the configured rate, a little fast (30.1 fps for 30), would
 * otherwise fall a little further behind the grid each frame and lose one every few seconds.
 */
export class FramePacer {
  constructor(fps) {
    this.intervalUs = 1e6 / fps;
    this.due = -Infinity;
  }

  /** Whether the frame stamped `ts` is taken. */
  take(ts) {
    const interval = this.intervalUs;
    const restart = ts > this.due + interval || ts < this.due - interval;
    if (!restart && ts < this.due - interval / 4) return false;
    this.due = restart ? ts + interval : Math.min(this.due + interval, ts + 1.1 * interval);
    return true;
  }
}

/** Holds the newest posted frame; a frame replaced before it was read is closed and
 *  counted as dropped. */
class FrameSlot {
  constructor() {
    this.frame = null;
    this.waiting = null;
    this.done = false;
    this.dropped = 0;
  }

  put(frame) {
    if (this.done) return frame.close();
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      return resolve({ value: frame, done: false });
    }
    if (this.frame) {
      this.frame.close();
      this.dropped++;
    }
    this.frame = frame;
  }

  /** Frames replaced unread since the last call. */
  takeDropped() {
    const n = this.dropped;
    this.dropped = 0;
    return n;
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
