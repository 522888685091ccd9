// The Broadcaster's sound in the encode worker: the microphone's AudioData (or an AudioWorklet's
// blocks where the browser has no MediaStreamTrackProcessor) encoded by
// WebCodecs AudioEncoder (AAC-LC, ADTS) where the browser has one for the configuration,
// else by FDK AAC compiled to WebAssembly (the package's AacEncoder). Both give ADTS frames
// stamped on the timeline the camera's frames are put on (CaptureClock), which the
// worker's TsSegmenter interleaves with the video. Not a wasm-bindgen snippet:
// scripts/pkg-workers.mjs copies it into the package's workers/ folder beside
// encode-worker.js, which imports it. The main-thread side is js/capture-source.js.

/**
 * Puts capture timestamps from different clocks on one timeline, this worker's
 * `performance.now()`. Chromium stamps microphone `AudioData` on the page's
 * `performance.now()` timeline, which maps exactly (`preset`: the two time origins'
 * difference), but camera `VideoFrame`s on its monotonic capture clock (time since boot),
 * which no API relates to it. For such a stream the offset comes from arrivals: the
 * smallest (arrival − stamp) over its first `fresh` items that arrived while the worker was
 * waiting (read() had to wait, so the item was not sitting in a backlog, whose arrival time
 * says nothing). Then the offset is frozen, so the intervals the devices measured are kept.
 * Until then `map` answers null and the item is not used (a few frames at the start). If no
 * item arrives fresh (a worker too busy ever to wait), the smallest lag of the first
 * `fallback` items is used. What this cannot see is the camera pipeline's own delivery
 * latency. Measured on Chromium 156's fake camera, it is under 1 ms: the offset this finds
 * was within 0.8 ms of the exact one (from requestVideoFrameCallback's `captureTime`
 * against the same frames' `VideoFrame.timestamp`, which differ by a constant). So the
 * 25 to 65 ms by which our A/V offset sits below the browser's MediaRecorder recording of
 * the same devices (tests/e2e/audio.test.mjs) does not come from this mapping.
 */
export class CaptureClock {
  constructor({ fresh = 10, fallback = 60 } = {}) {
    this.offset = null;
    this.freshLeft = fresh;
    this.seen = 0;
    this.fallback = fallback;
    this.minAny = Infinity;
    this.minFresh = Infinity;
    this.frozen = false;
  }

  /** A known offset (µs): no calibration. */
  preset(offset) {
    this.offset = offset;
    this.frozen = true;
  }

  /** `timestamp` (µs, the device's clock) on the shared timeline (µs), or null while calibrating. */
  map(timestamp, fresh) {
    if (!this.frozen) {
      const lag = performance.now() * 1000 - timestamp;
      this.seen++;
      this.minAny = Math.min(this.minAny, lag);
      if (fresh) {
        this.minFresh = Math.min(this.minFresh, lag);
        this.freshLeft--;
      }
      if (this.freshLeft > 0 && this.seen < this.fallback) return null;
      this.offset = Number.isFinite(this.minFresh) ? this.minFresh : this.minAny;
      this.frozen = true;
    }
    return timestamp + this.offset;
  }
}

/** `reader.read()`, and whether it had to wait (the item arrived just now). */
export async function readTimed(reader) {
  const t0 = performance.now();
  const result = await reader.read();
  return { ...result, fresh: performance.now() - t0 > 1 };
}

/**
 * The AudioWorklet's blocks (js/capture-source.js, `audioCaptureWorklet`) as a reader of
 * AudioData-like blocks, for browsers without MediaStreamTrackProcessor. The worklet stamps
 * each block with the AudioContext's frame index; here that clock is put on this worker's
 * `performance.now()` timeline, the one the camera's frames are put on, by a CaptureClock
 * calibrated on arrivals (the block's last sample against the moment it arrived; the first
 * 20 blocks, about 0.4 s, calibrate and are not used). Every block read is acknowledged, so
 * the worklet knows how many are still on their way and drops (never queues) beyond its
 * bound; a dropped block is a gap in the timestamps, which AudioPipeline counts.
 */
export class WorkletAudioReader {
  constructor(port, clock = new CaptureClock({ fresh: 20, fallback: 20 })) {
    this.port = port;
    this.clock = clock;
    this.queue = [];
    this.waiting = null;
    this.done = false;
    this.error = null;
    this.blocks = 0; // blocks received (read or used for calibration)
    /** Resolves true at the first block, false when the capture fails or ends first. */
    this.started = new Promise((resolve) => { this.onStarted = resolve; });
    port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (this.done) return;
    this.onStarted(message?.type === 'block');
    if (message?.type === 'error') {
      this.error = new Error(message.message);
      return this.finish();
    }
    if (message?.type === 'end') return this.finish();
    if (message?.type !== 'block') return;
    const { frame, frames, channels, sampleRate, data } = message;
    const toUs = 1e6 / sampleRate;
    // Calibrated on the block's end: it cannot have been posted before its last sample.
    const end = this.clock.map((frame + frames) * toUs, true);
    if (end === null) return this.ack();
    const block = new AudioBlock(data, channels, frames, sampleRate, end - frames * toUs);
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = null;
      this.ack();
      resolve({ value: block, done: false });
    } else {
      this.queue.push(block);
    }
  }

  ack() {
    this.blocks++;
    this.port.postMessage({ type: 'ack', blocks: this.blocks });
  }

  finish() {
    this.done = true;
    const waiting = this.waiting;
    this.waiting = null;
    if (!waiting) return;
    if (this.error && !this.queue.length) waiting.reject(this.error);
    else waiting.resolve({ value: undefined, done: true });
  }

  read() {
    if (this.queue.length) {
      this.ack();
      return Promise.resolve({ value: this.queue.shift(), done: false });
    }
    if (this.done) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => { this.waiting = { resolve, reject }; });
  }

  cancel() {
    if (!this.done) this.port.postMessage({ type: 'stop' });
    this.queue = [];
    this.finish();
    return Promise.resolve();
  }
}

/** One block of the worklet's samples, with the parts of AudioData the pipeline uses. */
class AudioBlock {
  constructor(data, channels, frames, sampleRate, timestamp) {
    this.data = data;
    this.numberOfChannels = channels;
    this.numberOfFrames = frames;
    this.sampleRate = sampleRate;
    this.timestamp = timestamp;
  }

  copyTo(destination, { planeIndex }) {
    const n = this.numberOfFrames;
    destination.set(this.data.subarray(planeIndex * n, (planeIndex + 1) * n));
  }

  close() {}
}

/** ADTS AAC-LC from WebCodecs, when `AudioEncoder.isConfigSupported` accepts it. */
function webcodecsConfig({ sampleRate, channels, bitrateKbps }) {
  return { codec: 'mp4a.40.2', sampleRate, numberOfChannels: channels, bitrate: bitrateKbps * 1000, aac: { format: 'adts' } };
}

/** Why WebCodecs cannot encode this configuration (or null when it can). */
async function webcodecsRefusal(config) {
  if (typeof AudioEncoder !== 'function') return 'this browser has no WebCodecs AudioEncoder';
  try {
    const { supported } = await AudioEncoder.isConfigSupported(webcodecsConfig(config));
    return supported ? null : `WebCodecs AudioEncoder cannot encode AAC-LC (mp4a.40.2) at ${config.sampleRate} Hz, ${config.channels} ch here`;
  } catch (e) {
    return `WebCodecs AudioEncoder refused the configuration: ${e?.message ?? e}`;
  }
}

/**
 * The worker's audio pipeline: reads AudioData from `readable`, encodes, and calls
 * `onFrame(adtsBytes, timestampUs)` for every AAC frame in order. `config`: `{ sampleRate,
 * channels, bitrateKbps, encoder: "auto" | "webcodecs" | "fdk-aac" }`; the sample rate
 * actually used is the microphone's (no resampling), reported in `name`/`reason`.
 */
export class AudioPipeline {
  constructor(glue, config, readable, onFrame, clock = new CaptureClock()) {
    this.glue = glue;
    this.clock = clock;
    this.config = config;
    this.reader = readable instanceof WorkletAudioReader ? readable
      : readable instanceof MessagePort ? new WorkletAudioReader(readable) : readable.getReader();
    this.onFrame = onFrame;
    this.name = null;
    this.reason = '';
    this.stats = { frames: 0, dropped: 0, encodeMs: 0, blocks: 0, peak: 0 };
    this.lastEnd = null; // expected timestamp of the next block, µs
    this.stopping = false;
    this.onReady = () => {};
  }

  /** Reads and encodes until the track ends or `stop()`. */
  async run() {
    for (;;) {
      const { value: data, done, fresh } = await readTimed(this.reader);
      if (done || this.stopping) {
        data?.close();
        break;
      }
      try {
        const timestamp = this.clock.map(data.timestamp, fresh);
        if (timestamp === null) continue; // the clock is still calibrating
        if (!this.name) await this.open(data);
        this.countGap(data, timestamp);
        const t0 = performance.now();
        if (this.webcodecs) {
          // A few blocks may wait inside the encoder; beyond that a block is dropped and counted.
          if (this.webcodecs.encodeQueueSize > 8) this.stats.dropped += data.numberOfFrames / 1024;
          else {
            const restamped = this.restamp(data, timestamp);
            this.webcodecs.encode(restamped);
            restamped.close();
          }
        } else {
          this.encodeFdk(data, timestamp);
        }
        this.stats.encodeMs += performance.now() - t0;
        this.stats.blocks++;
      } finally {
        data.close();
      }
    }
    await this.finish();
  }

  /** Chooses the encoder at the first block, when the microphone's rate is known. */
  async open(first) {
    const sampleRate = first.sampleRate;
    const config = { ...this.config, sampleRate };
    const choice = config.encoder ?? 'auto';
    const rateNote = sampleRate === this.config.sampleRate ? '' : ` (the microphone runs at ${sampleRate} Hz, not the ${this.config.sampleRate} asked for)`;
    if (choice !== 'fdk-aac') {
      const refusal = await webcodecsRefusal(config);
      if (!refusal) {
        this.webcodecs = new AudioEncoder({
          output: (chunk) => {
            const bytes = new Uint8Array(chunk.byteLength);
            chunk.copyTo(bytes);
            this.emit(bytes, chunk.timestamp);
          },
          error: (e) => { this.error = e; },
        });
        this.webcodecs.configure(webcodecsConfig(config));
        this.name = 'webcodecs';
        this.reason = `WebCodecs AudioEncoder, AAC-LC ${sampleRate} Hz ${config.channels} ch ${config.bitrateKbps} kbit/s${rateNote}`;
        this.onReady(this);
        return;
      }
      if (choice === 'webcodecs') {
        throw Object.assign(new Error(`audioEncoder "webcodecs" was asked for, but ${refusal}; use audioEncoder: "auto"`), { code: 'ENCODER_FAILED' });
      }
      this.reason = `${refusal}; FDK AAC (WebAssembly), AAC-LC ${sampleRate} Hz ${config.channels} ch ${config.bitrateKbps} kbit/s${rateNote}`;
    } else {
      this.reason = `fdk-aac was asked for; FDK AAC (WebAssembly), AAC-LC ${sampleRate} Hz ${config.channels} ch ${config.bitrateKbps} kbit/s${rateNote}`;
    }
    this.fdk = new this.glue.AacEncoder({ sampleRate, channels: config.channels, bitrateKbps: config.bitrateKbps });
    this.planes = new Float32Array(0);
    this.name = 'fdk-aac';
    this.onReady(this);
  }

  /** Blocks the browser discarded while the worker was busy show as timestamp gaps. */
  countGap(data, timestamp) {
    if (this.lastEnd !== null) {
      const gapUs = timestamp - this.lastEnd;
      const frameUs = 1024 * 1e6 / data.sampleRate;
      if (gapUs > frameUs / 2) this.stats.dropped += gapUs / frameUs;
    }
    this.lastEnd = timestamp + data.numberOfFrames * 1e6 / data.sampleRate;
  }

  /** The block with its timestamp on the shared timeline, for WebCodecs (closed by the caller). */
  restamp(data, timestamp) {
    const planes = new Float32Array(data.numberOfFrames * data.numberOfChannels);
    for (let c = 0; c < data.numberOfChannels; c++) {
      data.copyTo(planes.subarray(c * data.numberOfFrames, (c + 1) * data.numberOfFrames), { planeIndex: c, format: 'f32-planar' });
    }
    this.measure(planes);
    return new AudioData({ format: 'f32-planar', sampleRate: data.sampleRate, numberOfFrames: data.numberOfFrames,
      numberOfChannels: data.numberOfChannels, timestamp, data: planes });
  }

  encodeFdk(data, timestamp) {
    const n = data.numberOfFrames;
    const channels = Math.min(data.numberOfChannels, 2);
    if (this.planes.length !== n * channels) this.planes = new Float32Array(n * channels);
    for (let c = 0; c < channels; c++) {
      data.copyTo(this.planes.subarray(c * n, (c + 1) * n), { planeIndex: c, format: 'f32-planar' });
    }
    this.measure(this.planes);
    for (const frame of this.fdk.encodePlanar(this.planes, channels, timestamp)) this.emit(frame.data, frame.timestampUs);
  }

  /** The peak level since the last stats (for a page's level meter, no audio work on its thread). */
  measure(planes) {
    let peak = this.stats.peak;
    for (let i = 0; i < planes.length; i += 4) peak = Math.max(peak, Math.abs(planes[i]));
    this.stats.peak = Math.min(1, peak);
  }

  emit(bytes, timestampUs) {
    this.stats.frames++;
    this.onFrame(bytes, timestampUs);
  }

  /** Stats since the last call. */
  takeStats() {
    const s = this.stats;
    this.stats = { frames: 0, dropped: 0, encodeMs: 0, blocks: 0, peak: 0 };
    return s;
  }

  stop() {
    this.stopping = true;
    this.reader.cancel().catch(() => {});
  }

  /** The encoder's last frames. */
  async finish() {
    if (this.webcodecs) {
      await this.webcodecs.flush().catch(() => {});
      this.webcodecs.close();
    } else if (this.fdk) {
      for (const frame of this.fdk.flush()) this.emit(frame.data, frame.timestampUs);
      this.fdk.free();
    }
    this.fdk = null;
    this.webcodecs = null;
  }
}
