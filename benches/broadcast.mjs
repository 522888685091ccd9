// Broadcast benchmark, one run:
//  1. the browser pipeline per frame at 1280x720 (capture → I420 → encode → mux), p50/p95,
//     in headless Chromium with a fake camera fed an ffmpeg-made 720p clip;
//  2. relay ingest: segments/s with 1 and 50 concurrent uploaders (PUT /live/...), beside
//     plain file writes of the same bytes done the way the relay stores them (write,
//     fsync, rename) by this script — the peer, measured on the same disk in the same run.
//
// Usage: npm run bench:broadcast   (after bash scripts/setup.sh; loopback only, bounded)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, open, rename, mkdir } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../tests/support/server.mjs';
import { openBrowser } from '../tests/support/browser.mjs';
import { makeY4m } from '../tests/support/media.mjs';
import { startRelay } from '../tests/support/relay.mjs';

const run = promisify(execFile);
const SEGMENTS_PER_UPLOADER = { 1: 200, 50: 8 };

console.log('building: wasm package and relay (release)...');
if (!process.env.BENCH_SKIP_BUILD) {
  await run('bash', [join(repoRoot, 'scripts/build-wasm.sh')], { cwd: repoRoot, maxBuffer: 1 << 26 });
}
await run('cargo', ['build', '--quiet', '--release', '-p', 'livecast-relay'], { cwd: repoRoot });
const relayBin = join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'release', 'livecast-relay');

const dir = await mkdtemp(join(tmpdir(), 'livecast-bench-broadcast-'));
try {
  // 1. Browser pipeline.
  await makeY4m(join(dir, 'cam720.y4m'), { width: 1280, height: 720, fps: 30, seconds: 3 });
  const relay = await startRelay({ dataDir: join(dir, 'relay'), bin: relayBin });
  let pipeline;
  const browser = await openBrowser({ fakeCamera: join(dir, 'cam720.y4m') });
  try {
    await browser.page.goto(`${relay.url}/www/bench-pipeline.html?frames=150&width=1280&height=720&kbps=3000`);
    await browser.page.waitForFunction(() => window.benchResult, null, { timeout: 300_000 });
    pipeline = await browser.page.evaluate(() => window.benchResult);
  } finally {
    await browser.close();
  }
  if (pipeline.error) throw new Error(pipeline.error);

  // 2. Relay ingest vs plain file writes, with a real 2 s 720p segment.
  const segPath = join(dir, 'segment.ts');
  await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-t', '2', '-c:v', 'libx264',
    '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-b:v', '3M', '-f', 'mpegts', segPath]);
  const segment = await readFile(segPath);
  const ingest = [];
  for (const uploaders of [1, 50]) {
    const perUploader = SEGMENTS_PER_UPLOADER[uploaders];
    const streams = await Promise.all(Array.from({ length: uploaders }, async () =>
      (await fetch(`${relay.url}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()));
    let t0 = performance.now();
    await Promise.all(streams.map(async (s) => {
      for (let seq = 0; seq < perUploader; seq++) {
        const res = await fetch(`${relay.url}/live/${s.id}/${seq}.ts`, { method: 'PUT', body: segment,
          headers: { authorization: `Bearer ${s.streamKey}`, 'content-type': 'video/mp2t' } });
        if (res.status !== 201) throw new Error(`upload answered ${res.status}`);
      }
    }));
    const relaySeconds = (performance.now() - t0) / 1000;
    // Peer: the same bytes written as the relay does (temp file, fsync, rename), same concurrency.
    const plainDir = join(dir, `plain-${uploaders}`);
    await mkdir(plainDir, { recursive: true });
    t0 = performance.now();
    await Promise.all(Array.from({ length: uploaders }, async (_, u) => {
      for (let seq = 0; seq < perUploader; seq++) {
        const tmp = join(plainDir, `.${u}-${seq}.tmp`);
        const file = await open(tmp, 'w');
        await file.writeFile(segment);
        await file.sync();
        await file.close();
        await rename(tmp, join(plainDir, `${u}-${seq}.ts`));
      }
    }));
    const plainSeconds = (performance.now() - t0) / 1000;
    const total = uploaders * perUploader;
    ingest.push({ uploaders, total, relay: total / relaySeconds, plain: total / plainSeconds });
  }
  await relay.stop();

  console.log(`\n${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}); segment ${(segment.length / 1024).toFixed(0)} KiB (2 s of 1280x720)\n`);
  console.log('Browser pipeline per frame, 1280x720, 150 frames (headless Chromium, one thread):\n');
  console.log('| stage | p50 ms | p95 ms |\n|---|---|---|');
  const names = { capture: 'capture → I420 (VideoFrame.copyTo)', encode: 'encode (openh264 wasm)', mux: 'mux (TsSegmenter)', total: 'total' };
  for (const [k, v] of Object.entries(pipeline.stages)) console.log(`| ${names[k]} | ${v.p50.toFixed(2)} | ${v.p95.toFixed(2)} |`);
  console.log('\nRelay ingest (PUT, probe, fsync, rename, SQLite) vs plain file writes (write, fsync, rename) of the same bytes:\n');
  console.log('| uploaders | segments | relay segments/s | plain writes segments/s | relay/plain |\n|---|---|---|---|---|');
  for (const r of ingest) {
    console.log(`| ${r.uploaders} | ${r.total} | ${r.relay.toFixed(1)} | ${r.plain.toFixed(1)} | ${(r.relay / r.plain).toFixed(2)}× |`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
