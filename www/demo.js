// The demo page: camera → H264Encoder (openh264 in wasm) → live stats and a .h264 download.
// Encoding runs on the page's thread here; the Broadcaster moves it into a Worker.
import init, { H264Encoder } from '../pkg/livecast.js';
import { hasTrackProcessor, videoFrameToI420, i420Planes, cameraErrorMessage } from './lib/capture.js';

const $ = (id) => document.getElementById(id);
const MAX_RECORDED_BYTES = 256 * 1024 * 1024; // keep at most this much for the download

let session = null;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

/** One capture+encode run: owns the camera, the encoder, the recorded chunks and the stats. */
class Session {
  constructor(stream, encoder) {
    this.stream = stream;
    this.encoder = encoder;
    this.track = stream.getVideoTracks()[0];
    this.chunks = [];
    this.recordedBytes = 0;
    this.truncated = false;
    this.running = true;
    this.window = { captured: 0, encoded: 0, bytes: 0, ms: [], since: performance.now() };
    this.totals = { frames: 0, keyframes: 0, dropped: 0 };
    this.busy = false;
    this.canvas = null;
    this.statsTimer = setInterval(() => this.reportStats(), 1000);
  }

  /** Encodes one frame given as I420 planes or RGBA, and records the output. */
  encode(kind, data, timestampUs) {
    const t0 = performance.now();
    const out = kind === 'i420' ? this.encoder.encodeI420(...data, timestampUs) : this.encoder.encodeRgba(data, timestampUs);
    this.window.ms.push(performance.now() - t0);
    this.window.encoded++;
    this.window.bytes += out.data.length;
    this.totals.frames++;
    if (out.keyframe) this.totals.keyframes++;
    if (this.recordedBytes + out.data.length <= MAX_RECORDED_BYTES) {
      this.chunks.push(out.data);
      this.recordedBytes += out.data.length;
    } else {
      this.truncated = true;
    }
  }

  /** Preferred path: VideoFrames straight from the track, copied out as I420. */
  async runTrackProcessor() {
    const reader = new MediaStreamTrackProcessor({ track: this.track }).readable.getReader();
    let buffer = null;
    while (this.running) {
      const { value: frame, done } = await reader.read();
      if (done) break;
      this.window.captured++;
      try {
        const rect = frame.visibleRect;
        if (rect.width !== this.encoder.width || rect.height !== this.encoder.height) {
          this.totals.dropped++; // the camera changed size mid-run; skip rather than fail
          continue;
        }
        buffer = await videoFrameToI420(frame, buffer);
        if (buffer) {
          this.encode('i420', i420Planes(buffer, rect.width, rect.height), frame.timestamp);
        } else {
          this.encode('rgba', this.frameToRgba(frame), frame.timestamp);
        }
      } finally {
        frame.close();
      }
    }
    reader.releaseLock();
  }

  /** Fallback path (no MediaStreamTrackProcessor): draw the <video> to a canvas each frame. */
  runVideoCallback(video) {
    const onFrame = (_now, meta) => {
      if (!this.running) return;
      this.window.captured++;
      if (this.busy) {
        this.totals.dropped++;
      } else {
        this.busy = true;
        try {
          this.encode('rgba', this.frameToRgba(video), Math.round(meta.mediaTime * 1e6));
        } finally {
          this.busy = false;
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  frameToRgba(source) {
    const { width, height } = this.encoder;
    this.canvas ??= new OffscreenCanvas(width, height);
    const ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(source, 0, 0, width, height);
    return ctx.getImageData(0, 0, width, height).data;
  }

  reportStats() {
    const w = this.window;
    const seconds = (performance.now() - w.since) / 1000;
    const sorted = [...w.ms].sort((a, b) => a - b);
    const pct = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);
    $('stat-capture').textContent = `${(w.captured / seconds).toFixed(1)} fps, ${this.totals.dropped} dropped`;
    $('stat-fps').textContent = (w.encoded / seconds).toFixed(1);
    $('stat-kbps').textContent = `${((w.bytes * 8) / seconds / 1000).toFixed(0)} kbit/s`;
    $('stat-ms').textContent = `p50 ${pct(0.5).toFixed(1)} ms, p95 ${pct(0.95).toFixed(1)} ms`;
    $('stat-frames').textContent = `${this.totals.frames} / ${this.totals.keyframes}`;
    $('stat-bytes').textContent = `${(this.recordedBytes / 1e6).toFixed(2)} MB${this.truncated ? ' (limit reached: recording stopped, encoding goes on)' : ''}`;
    this.window = { captured: 0, encoded: 0, bytes: 0, ms: [], since: performance.now() };
  }

  stop() {
    this.running = false;
    clearInterval(this.statsTimer);
    this.reportStats();
    this.track.stop();
    this.encoder.free();
  }

  blob() {
    return new Blob(this.chunks, { type: 'video/h264' });
  }
}

async function start() {
  $('start').disabled = true;
  const [width, height] = $('size').value.split('x').map(Number);
  const fps = Number($('fps').value);
  try {
    setStatus('Opening the camera…');
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { exact: width }, height: { exact: height }, frameRate: { ideal: fps } },
    }).catch((error) => { throw new Error(cameraErrorMessage(error)); });
    const encoder = new H264Encoder({ width, height, fps, bitrateKbps: Number($('bitrate').value) });
    $('preview').srcObject = stream;
    session = new Session(stream, encoder);
    $('stat-encoder').textContent = `openh264 ${H264Encoder.codecVersion()} (wasm), ${width}×${height}, ` +
      `IDR every ${encoder.keyframeIntervalFrames} frames, ${hasTrackProcessor ? 'VideoFrame/I420' : 'canvas/RGBA'} input`;
    $('stop').disabled = false;
    $('download').disabled = true;
    setStatus('Live: encoding in WebAssembly.');
    if (hasTrackProcessor) {
      session.runTrackProcessor().catch((e) => fail(e));
    } else {
      await $('preview').play();
      session.runVideoCallback($('preview'));
    }
  } catch (error) {
    fail(error);
  }
}

function stop() {
  session?.stop();
  $('preview').srcObject = null;
  $('stop').disabled = true;
  $('start').disabled = false;
  $('download').disabled = !session?.chunks.length;
  setStatus(`Stopped: ${session?.totals.frames ?? 0} frames encoded. Download the stream or start again.`);
}

function fail(error) {
  console.error(error);
  if (session?.running) session.stop();
  $('start').disabled = false;
  $('stop').disabled = true;
  setStatus(error?.code ? `${error.message} (${error.code})` : String(error?.message ?? error), true);
}

function download() {
  if (!session) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(session.blob());
  a.download = `livecast-${new Date().toISOString().replace(/[:.]/g, '-')}.h264`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
$('download').addEventListener('click', download);

init().then(
  () => { window.livecastReady = true; },
  (error) => fail(new Error(`The WebAssembly module failed to load: ${error.message}`)),
);
