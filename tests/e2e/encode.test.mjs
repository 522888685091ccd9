// End to end: the fake camera (fed a clip ffmpeg made) → a page under www/ → H264Encoder in
// wasm → Annex-B back to the test, judged by ffprobe and ffmpeg's psnr filter.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../support/server.mjs';
import { openBrowser } from '../support/browser.mjs';
import { makeY4m, probeH264, keyFrameFlags, decodeErrors, psnrAgainstRaw, bestMatchPsnr } from '../support/media.mjs';

const W = 640, H = 480;
let dir, server, browser;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-e2e-'));
  await makeY4m(join(dir, 'camera.y4m'), { width: W, height: H, fps: 30, seconds: 4 });
  server = await startServer({ uploadDir: join(dir, 'uploads') });
  browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function capture(query) {
  const { page } = browser;
  await page.goto(`${server.url}/www/tests/capture-encode.html?${query}`);
  await page.waitForFunction(() => window.testResult, null, { timeout: 120_000 });
  const result = await page.evaluate(() => window.testResult);
  assert.equal(result.error, undefined, `page failed: ${result.error}\n${browser.console.join('\n')}`);
  return result;
}

test('90 camera frames through encodeI420 make a clean Constrained Baseline stream at >= 35 dB', async () => {
  const result = await capture('frames=90&mode=i420&kbps=2000');
  const h264 = join(dir, 'uploads', 'output.h264');
  const input = join(dir, 'uploads', 'input.yuv');
  assert.equal(result.frames, 90);
  assert.deepEqual([result.width, result.height], [W, H]);

  const stream = await probeH264(h264);
  assert.equal(stream.codec_name, 'h264');
  assert.equal(stream.profile, 'Constrained Baseline');
  assert.deepEqual([stream.width, stream.height], [W, H]);
  assert.equal(Number(stream.nb_read_frames), 90);
  assert.equal(stream.has_b_frames, 0);
  assert.equal(await decodeErrors(h264), '', 'ffmpeg reports decode errors');

  const flags = await keyFrameFlags(h264);
  assert.deepEqual(flags.map((f, i) => [i, f.key]).filter(([, k]) => k).map(([i]) => i), [0, 60], 'IDR every 60 frames');
  assert.ok(flags.every((f) => f.type !== 'B'), 'no B-frames');

  // The frames the page encoded really are the clip ffmpeg made (not Chromium's own
  // fake pattern): the first one matches some frame of the .y4m closely.
  const first = join(dir, 'first.yuv');
  await writeFile(first, (await readFile(input)).subarray(0, W * H * 1.5));
  const match = await bestMatchPsnr(first, join(dir, 'camera.y4m'), { width: W, height: H });
  assert.ok(match >= 30, `first captured frame matches the camera clip at only ${match} dB`);

  const psnr = await psnrAgainstRaw(h264, input, { width: W, height: H });
  console.log(`i420 path: PSNR ${psnr.average.toFixed(2)} dB (y ${psnr.y}), ${(result.bytes * 8 / 3 / 1000).toFixed(0)} kbit/s, ` +
    `encode ${result.encodeMsAvg.toFixed(1)} ms/frame, camera formats ${result.formats}`);
  assert.ok(psnr.average >= 35, `PSNR ${psnr.average} dB < 35 dB`);
  // Bitrate sanity: 90 frames at 30 fps is 3 s; openh264 should land near 2000 kbit/s.
  const kbps = (result.bytes * 8) / 3 / 1000;
  assert.ok(kbps > 1000 && kbps < 3000, `${kbps} kbit/s is far from the 2000 kbit/s target`);
});

test('the RGBA path (canvas ImageData) encodes the same camera at >= 35 dB', async () => {
  const result = await capture('frames=30&mode=rgba&kbps=2000');
  const h264 = join(dir, 'uploads', 'output.h264');
  const stream = await probeH264(h264);
  assert.equal(Number(stream.nb_read_frames), 30);
  assert.equal(stream.profile, 'Constrained Baseline');
  assert.equal(await decodeErrors(h264), '');
  const psnr = await psnrAgainstRaw(h264, join(dir, 'uploads', 'input.rgba'), { width: W, height: H, refFormat: 'rgba' });
  console.log(`rgba path: PSNR ${psnr.average.toFixed(2)} dB, encode ${result.encodeMsAvg.toFixed(1)} ms/frame`);
  assert.ok(psnr.average >= 35, `PSNR ${psnr.average} dB < 35 dB`);
});

test("the package works inside a page author's own Worker, which keeps its message handler", async () => {
  const { page } = browser;
  await page.goto(`${server.url}/www/tests/capture-encode.html?frames=0`);
  const replies = await page.evaluate(async (origin) => {
    const source = `
      import init, { H264Encoder } from '${origin}/pkg/livecast.js';
      const ready = init();
      self.onmessage = async ({ data }) => {
        await ready;
        const enc = new H264Encoder({ width: 64, height: 48 });
        const y = new Uint8Array(64 * 48), uv = new Uint8Array(64 * 12);
        let bytes = 0;
        for (let i = 0; i < data.frames; i++) bytes += enc.encodeI420(y, uv, uv, i * 33333).data.length;
        enc.free();
        self.postMessage({ job: data.job, bytes });
      };`;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const worker = new Worker(url, { type: 'module' });
    const job = (n) => new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => resolve(data);
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage({ job: n, frames: n + 1 });
      setTimeout(() => reject(new Error(`job ${n} got no answer`)), 10_000);
    });
    const out = [await job(1), await job(2), await job(3)];
    worker.terminate();
    return out;
  }, server.url);
  assert.deepEqual(replies.map((r) => r.job), [1, 2, 3]);
  assert.ok(replies.every((r) => r.bytes > 0));
});
