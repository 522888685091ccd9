// Encoder benchmark: openh264 in wasm (headless Chromium, one thread) against openh264
// built natively from the same C++ (no assembly), on the same frames, in one run.
// Prints fps, frame-time percentiles, bitrate, PSNR (ffmpeg) and the wasm/native ratio.
//
// Usage: npm run bench  [-- --frames 150 --sizes 640x480:2000,1280x720:3000]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { startServer, repoRoot } from '../tests/support/server.mjs';
import { openBrowser } from '../tests/support/browser.mjs';
import { psnrAgainstRaw } from '../tests/support/media.mjs';

const run = promisify(execFile);
const argValue = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const FRAMES = Number(argValue('frames', 150));
const FPS = 30;
const SIZES = argValue('sizes', '640x480:2000,1280x720:3000').split(',').map((s) => {
  const [dims, kbps] = s.split(':');
  const [width, height] = dims.split('x').map(Number);
  return { key: `${width}x${height}`, width, height, kbps: Number(kbps) };
});
const native = join(repoRoot, 'target/release/examples/encode_bench');

console.log('building: wasm package (release) and the native encoder example (release)...');
if (!process.env.BENCH_SKIP_BUILD) await run("bash", [join(repoRoot, "scripts/build-wasm.sh")], { cwd: repoRoot, maxBuffer: 1 << 26 });
await run('cargo', ['build', '--quiet', '--release', '-p', 'livecast-openh264', '--example', 'encode_bench'], { cwd: repoRoot });

const dir = await mkdtemp(join(tmpdir(), 'livecast-bench-'));
const server = await startServer({ uploadDir: dir });
try {
  for (const s of SIZES) {
    await run(native, ['frames', s.width, s.height, FRAMES, join(dir, `frames-${s.key}.yuv`)].map(String));
  }

  console.log(`wasm: ${FRAMES} frames per size in headless Chromium...`);
  const browser = await openBrowser();
  let wasm;
  try {
    const query = `sizes=${SIZES.map((s) => `${s.key}:${s.kbps}`).join(',')}&fps=${FPS}`;
    await browser.page.goto(`${server.url}/www/bench.html?${query}`);
    await browser.page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
    wasm = await browser.page.evaluate(() => window.benchResult);
  } finally {
    await browser.close();
  }
  if (wasm.error) throw new Error(`bench page: ${wasm.error}`);

  console.log('native: the same frames...');
  const rows = [];
  for (const s of SIZES) {
    const { stdout } = await run(native, ['encode', s.width, s.height, FPS, s.kbps,
      join(dir, `frames-${s.key}.yuv`), join(dir, `native-${s.key}.h264`)].map(String));
    const n = JSON.parse(stdout);
    const w = wasm.results.find((r) => r.width === s.width && r.height === s.height);
    const raw = join(dir, `frames-${s.key}.yuv`);
    const [wq, nq] = await Promise.all([`wasm-${s.key}.h264`, `native-${s.key}.h264`].map((f) =>
      psnrAgainstRaw(join(dir, f), raw, { width: s.width, height: s.height })));
    const [wb, nb] = await Promise.all([`wasm-${s.key}.h264`, `native-${s.key}.h264`].map((f) => readFile(join(dir, f))));
    rows.push({ s, w, n, wq, nq, identical: wb.equals(nb) });
  }

  const kbps = (bytes) => ((bytes * 8 * FPS) / FRAMES / 1000).toFixed(0);
  console.log(`\n${FRAMES} frames of the livecast-core test pattern, ${FPS} fps, CBR target; ` +
    `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}); ${wasm.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? ''}\n`);
  console.log('| size | target | wasm fps | wasm p50 / p95 ms | native fps | native p50 / p95 ms | wasm/native | kbit/s (wasm) | PSNR wasm / native | same bytes |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const { s, w, n, wq, nq, identical } of rows) {
    console.log(`| ${s.key} | ${s.kbps} kbit/s | ${w.fps.toFixed(1)} | ${w.p50Ms.toFixed(1)} / ${w.p95Ms.toFixed(1)} | ` +
      `${n.fps.toFixed(1)} | ${n.p50Ms.toFixed(1)} / ${n.p95Ms.toFixed(1)} | ${(w.fps / n.fps).toFixed(2)}× | ` +
      `${kbps(w.bytes)} | ${wq.average.toFixed(2)} / ${nq.average.toFixed(2)} dB | ${identical ? 'yes' : 'no'} |`);
  }
  const hd = rows.find((r) => r.s.key === '1280x720');
  if (hd) {
    console.log(`\ntargets (reported, not asserted): 1280x720 >= 30 fps in wasm: ${hd.w.fps >= 30 ? 'met' : 'NOT met'} ` +
      `(${hd.w.fps.toFixed(1)}); wasm >= 0.5x native: ${hd.w.fps / hd.n.fps >= 0.5 ? 'met' : 'NOT met'} (${(hd.w.fps / hd.n.fps).toFixed(2)}x)`);
  }
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
