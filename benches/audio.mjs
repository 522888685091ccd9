// Audio benchmark, one run: 60 s of 48 kHz stereo encoded by FDK AAC in wasm (headless
// Chromium, the Broadcaster's AacEncoder, one thread), by FDK AAC built natively from the
// same C++ (the wasm/native ratio), and by WebCodecs Opus as the browser-native peer (the
// browser has no AAC encoder here). Prints ms per second of audio and × realtime; then the
// Broadcaster's main-thread time (Chromium's TaskDuration metric) over a broadcast with sound
// and one without, and the long tasks (> 50 ms) each had.
//
// Usage: npm run bench:audio  [-- --seconds 60 --live 10]   (BENCH_SKIP_BUILD=1: use pkg/ as is)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, repoRoot } from '../tests/support/server.mjs';
import { openBrowser } from '../tests/support/browser.mjs';
import { startRelay, createStream } from '../tests/support/relay.mjs';
import { makeSyncClip } from '../tests/support/sync.mjs';

const run = promisify(execFile);
const argValue = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = argValue('seconds', 60);
const LIVE = argValue('live', 10);

console.log('building: wasm package (release) and the native example (release)...');
if (!process.env.BENCH_SKIP_BUILD) await run('bash', [join(repoRoot, 'scripts/build-wasm.sh')], { cwd: repoRoot, maxBuffer: 1 << 26 });
await run('cargo', ['build', '--quiet', '--release', '-p', 'livecast-fdkaac', '--example', 'aac_bench'], { cwd: repoRoot });
await run('cargo', ['build', '--quiet', '-p', 'livecast-relay'], { cwd: repoRoot });

const native = JSON.parse((await run(join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'release/examples/aac_bench'), [String(SECONDS)])).stdout);

const dir = await mkdtemp(join(tmpdir(), 'livecast-audio-bench-'));
const server = await startServer({});
await makeSyncClip(join(dir, 'clip.y4m'), join(dir, 'clip.wav'), { width: 640, height: 360 });
const relay = await startRelay({ dataDir: join(dir, 'relay') });
const browser = await openBrowser({ fakeCamera: join(dir, 'clip.y4m'), args: [`--use-file-for-fake-audio-capture=${join(dir, 'clip.wav')}`] });
try {
  const { page } = browser;
  await page.goto(`${server.url}/www/index.html`);
  const codecs = await page.evaluate(async (seconds) => {
    const { default: init, AacEncoder } = await import('/pkg/livecast.js');
    await init();
    // The same kind of signal for both: a tone and a little noise, 10 ms blocks, planar.
    const rate = 48000, block = 480, blocks = (seconds * rate) / block;
    const planes = Array.from({ length: blocks }, (_, b) => {
      const p = new Float32Array(block * 2);
      for (let i = 0; i < block; i++) {
        const t = (b * block + i) / rate;
        p[i] = 0.3 * Math.sin(2 * Math.PI * 440 * t) + 0.01 * (Math.random() - 0.5);
        p[block + i] = 0.3 * Math.sin(2 * Math.PI * 660 * t) + 0.01 * (Math.random() - 0.5);
      }
      return p;
    });
    const aac = new AacEncoder({ sampleRate: rate, channels: 2, bitrateKbps: 128 });
    let bytes = 0;
    let t0 = performance.now();
    for (let b = 0; b < blocks; b++) for (const f of aac.encodePlanar(planes[b], 2, b * 10_000)) bytes += f.data.length;
    for (const f of aac.flush()) bytes += f.data.length;
    const fdkMs = performance.now() - t0;
    aac.free();
    let opusBytes = 0, opusMs = null, opusError = null;
    try {
      const enc = new AudioEncoder({ output: (c) => { opusBytes += c.byteLength; }, error: (e) => { opusError = String(e); } });
      enc.configure({ codec: 'opus', sampleRate: rate, numberOfChannels: 2, bitrate: 128_000 });
      t0 = performance.now();
      for (let b = 0; b < blocks; b++) {
        const data = new AudioData({ format: 'f32-planar', sampleRate: rate, numberOfFrames: block, numberOfChannels: 2, timestamp: b * 10_000, data: planes[b] });
        enc.encode(data);
        data.close();
      }
      await enc.flush();
      opusMs = performance.now() - t0;
      enc.close();
    } catch (e) {
      opusError = String(e);
    }
    return { fdkMs, bytes, opusMs, opusBytes, opusError };
  }, SECONDS);

  // Main-thread time of a live broadcast, with sound and without.
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const taskSeconds = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
  const live = {};
  for (const audio of [true, false]) {
    await page.goto(`${relay.url}/www/index.html`);
    const stream = await createStream(relay.url);
    await page.evaluate(async ({ id, key, relayUrl, audio }) => {
      const { default: init, Broadcaster } = await import('/pkg/livecast.js');
      await init();
      window.longTasks = [];
      new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
      window.b = new Broadcaster({ relayUrl, streamId: id, streamKey: key, audio, video: { width: 640, height: 360, fps: 30, bitrateKbps: 1000 }, encoder: 'webcodecs' });
      await window.b.start();
    }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url, audio });
    const before = await taskSeconds();
    await page.waitForTimeout(LIVE * 1000);
    const after = await taskSeconds();
    const { longTasks, stats } = await page.evaluate(async () => {
      const s = await new Promise((resolve) => window.b.on('stats', resolve));
      await window.b.stop();
      return { longTasks: window.longTasks, stats: s };
    });
    live[audio ? 'on' : 'off'] = { mainMsPerS: ((after - before) * 1000) / LIVE, longTasks: longTasks.length, longestMs: Math.max(0, ...longTasks), audioEncoder: stats.audioEncoder };
  }

  const row = (name, ms, kbps) => `| ${name} | ${(ms / SECONDS).toFixed(2)} | ${((SECONDS * 1000) / ms).toFixed(0)}× | ${kbps.toFixed(0)} |`;
  console.log(`\n${SECONDS} s of 48 kHz stereo, 10 ms blocks, 128 kbit/s\n`);
  console.log('| encoder | ms per s of audio | × realtime | kbit/s |');
  console.log('|---|---|---|---|');
  console.log(row('FDK AAC, wasm (Chromium, one thread)', codecs.fdkMs, (codecs.bytes * 8) / SECONDS / 1000));
  console.log(row('FDK AAC, native (same C++)', native.ms, (native.bytes * 8) / SECONDS / 1000));
  if (codecs.opusMs !== null) console.log(row('WebCodecs Opus (browser)', codecs.opusMs, (codecs.opusBytes * 8) / SECONDS / 1000));
  else console.log(`| WebCodecs Opus | ${codecs.opusError} | | |`);
  console.log(`\nwasm / native speed: ${(native.ms / codecs.fdkMs).toFixed(2)}× (native output digest ${native.digest})`);
  console.log(`\nBroadcaster main thread over ${LIVE} s live (640x360, WebCodecs video):`);
  for (const [k, v] of Object.entries(live)) {
    console.log(`  sound ${k}: ${v.mainMsPerS.toFixed(1)} ms of main-thread tasks per second, ${v.longTasks} long tasks (longest ${v.longestMs.toFixed(0)} ms)${v.audioEncoder ? `, ${v.audioEncoder}` : ''}`);
  }
  console.log(`  added by sound: ${(live.on.mainMsPerS - live.off.mainMsPerS).toFixed(1)} ms/s, ${live.on.longTasks - live.off.longTasks} long tasks`);
} finally {
  await browser.close();
  await relay.stop();
  await server.close?.();
  await rm(dir, { recursive: true, force: true });
}
