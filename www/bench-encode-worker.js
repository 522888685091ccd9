// Benchmark worker (www/bench.html): encodes whole segments of I420 frames with
// H264Encoder, the way the Broadcaster's parallel openh264 backend does.
import init, { H264Encoder } from '../pkg/livecast.js';

const ready = init();
self.onmessage = ({ data: job }) => encode(job).catch((e) => self.postMessage({ error: String(e?.message ?? e) }));

async function encode(job) {
  await ready;
  const { width, height, fps, kbps, frames, firstIndex } = job;
  const encoder = new H264Encoder({ width, height, fps, bitrateKbps: kbps, keyframeIntervalFrames: 3600 });
  const frameBytes = width * height * 3 / 2, luma = width * height;
  const outputs = [], times = [];
  for (let i = 0; i < frames.length / frameBytes; i++) {
    const f = frames.subarray(i * frameBytes, (i + 1) * frameBytes);
    const t = performance.now();
    const out = encoder.encodeI420(f.subarray(0, luma), f.subarray(luma, luma * 5 / 4), f.subarray(luma * 5 / 4), Math.round(((firstIndex + i) * 1e6) / fps));
    times.push(performance.now() - t);
    outputs.push(out.data);
  }
  encoder.free();
  self.postMessage({ outputs, times });
}
