// Player benchmark: Livecast's Player beside hls.js (the npm devDependency), same streams,
// same server, same browser, one run. Prints both players' figures:
//  - startup: load() → first decoded frame (requestVideoFrameCallback), VOD ladder and live
//    ladder, median of --runs;
//  - live latency at default settings: seconds behind the EXT-X-PROGRAM-DATE-TIME clock of
//    the frame on screen (ours: `player.latency`; hls.js: `Date.now() - hls.playingDate`),
//    mean over 10 s after 20 s of play;
//  - the fault test (1 in 5 segment requests 503, a missing segment, two failed playlist
//    reloads, --fault-seconds long): rebuffer count and time, from the video element's
//    `waiting`/`playing` events for both;
//  - heap after the long live run (--long-seconds, 1 s segments): JS heap after a forced GC
//    (DevTools protocol) plus wasm linear memory;
//  - VOD seek time: `currentTime` set → `seeked` (the picture at the target is decodable),
//    and → playing 0.5 s past the target, median over 8 seeks far outside a small buffer
//    (4 s ahead, 3 s behind, for both players) on the 720p level of the VOD ladder;
//  - bundle size gzipped vs hls.js's hls.min.js: the whole SDK (pkg/livecast.js, its glue
//    livecast_glue.js, livecast_bg.wasm + snippets: the Player with the encoder, Broadcaster
//    and Wallet; not the encode Workers' own scripts), and
//    the watch-only module a page that only plays loads (`livecast/player`:
//    pkg/player/livecast_player.js + livecast_player_bg.wasm + snippets).
//
// Usage: npm run bench:player [-- --runs 3 --long-seconds 180 --fault-seconds 30]
//        [--only startup,latency,faults,seek,long] (the bundle sizes are always printed)
// (after bash scripts/setup.sh; set BENCH_SKIP_BUILD=1 to use pkg/ as it is)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../tests/support/server.mjs';
import { openBrowser } from '../tests/support/browser.mjs';
import { makeFixtures, startHlsServer } from '../tests/support/hls.mjs';

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'long-seconds': { type: 'string', default: '180' },
    'fault-seconds': { type: 'string', default: '30' },
    only: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const LONG_S = Number(args['long-seconds']);
const FAULT_S = Number(args['fault-seconds']);

if (!process.env.BENCH_SKIP_BUILD) {
  console.log('building the wasm package...');
  await run('bash', [join(repoRoot, 'scripts/build-wasm.sh')], { cwd: repoRoot, maxBuffer: 1 << 26 });
}

/** Page-side: start `which` player on `src`; records first frame, stalls, latency. */
function startPlayer({ which, src, config }) {
  const video = document.getElementById('video');
  const m = { loadAt: performance.now(), firstFrameAt: null, waiting: 0, waitingMs: 0, waitingSince: null, playing: false, latencies: [] };
  window.m = m;
  video.requestVideoFrameCallback(() => { m.firstFrameAt = performance.now(); });
  video.addEventListener('playing', () => {
    m.playing = true;
    if (m.waitingSince !== null) { m.waitingMs += performance.now() - m.waitingSince; m.waitingSince = null; }
  });
  video.addEventListener('waiting', () => {
    if (m.playing && m.waitingSince === null) { m.waiting++; m.waitingSince = performance.now(); }
  });
  if (which === 'livecast') {
    const player = new window.livecast.Player(video, config?.livecast);
    window.player = player;
    m.latency = () => player.latency ?? null;
    player.load(src);
  } else {
    const hls = new window.Hls(config?.hlsjs);
    window.hls = hls;
    m.latency = () => (hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : null);
    hls.loadSource(src);
    hls.attachMedia(video);
  }
}

/** Opens a page with `which` player loaded (and only it). */
async function openPage(browser, server, which) {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/player-test.html${which === 'hls.js' ? '?bare' : ''}`);
  await page.waitForFunction(() => window.ready);
  if (which === 'hls.js') await page.evaluate(async () => { window.Hls = (await import('/node_modules/hls.js/dist/hls.mjs')).default; });
  return page;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function startup(browser, fixtures, which, src) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const server = await startHlsServer({ fixtures });
    const page = await openPage(browser, server, which);
    await page.evaluate(startPlayer, { which, src });
    await page.waitForFunction(() => window.m.firstFrameAt !== null, null, { timeout: 30_000 });
    times.push(await page.evaluate(() => window.m.firstFrameAt - window.m.loadAt));
    await page.close();
    await server.close();
  }
  return median(times);
}

async function latency(browser, fixtures, which) {
  const server = await startHlsServer({ fixtures });
  const page = await openPage(browser, server, which);
  await page.evaluate(startPlayer, { which, src: '/live/master.m3u8' });
  await page.waitForTimeout(20_000);
  const samples = [];
  for (let i = 0; i < 10; i++) {
    await page.waitForTimeout(1000);
    samples.push(await page.evaluate(() => window.m.latency()));
  }
  await page.close();
  await server.close();
  const valid = samples.filter((x) => x !== null);
  return valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN;
}

async function faults(browser, fixtures, which) {
  const server = await startHlsServer({ fixtures });
  server.faults.segment503Every = 5;
  const missingSeq = Math.floor((Date.now() - server.liveEpochMs) / 1000) + 6;
  server.faults.missing = new Set([`s${missingSeq}.ts`]);
  const page = await openPage(browser, server, which);
  await page.evaluate(startPlayer, { which, src: '/live/master.m3u8' });
  await page.waitForFunction(() => window.m.playing, null, { timeout: 30_000 });
  server.faults.playlistFailures = 2;
  const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
  await page.waitForTimeout(FAULT_S * 1000);
  const r = await page.evaluate(() => {
    const m = window.m;
    const open = m.waitingSince !== null ? performance.now() - m.waitingSince : 0;
    return { stalls: m.waiting, stalledMs: m.waitingMs + open, time: document.getElementById('video').currentTime };
  });
  await page.close();
  await server.close();
  return { ...r, played: r.time - t0 };
}

/** Seeks far outside a small buffer on the 720p VOD level: median ms to `seeked` and to playing on. */
async function seeks(browser, fixtures, which) {
  const server = await startHlsServer({ fixtures });
  const page = await openPage(browser, server, which);
  const config = { livecast: { maxBufferSeconds: 4, backBufferSeconds: 3 }, hlsjs: { maxBufferLength: 4, maxMaxBufferLength: 4, backBufferLength: 3 } };
  await page.evaluate(startPlayer, { which, src: '/hls/ladder/720p/index.m3u8', config });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 1, null, { timeout: 30_000 });
  const seeked = [];
  const played = [];
  for (const to of [21.3, 2.5, 15.2, 27.1, 8.4, 24.6, 4.2, 18.8]) {
    const r = await page.evaluate(async (to) => {
      const video = document.getElementById('video');
      const t0 = performance.now();
      const done = new Promise((ok) => video.addEventListener('seeked', ok, { once: true }));
      video.currentTime = to;
      await done;
      const seekedMs = performance.now() - t0;
      while (video.currentTime < to + 0.5) await new Promise((ok) => setTimeout(ok, 10));
      return { seekedMs, playedMs: performance.now() - t0 };
    }, to);
    seeked.push(r.seekedMs);
    played.push(r.playedMs);
    await page.waitForTimeout(500);
  }
  await page.close();
  await server.close();
  return { seekedMs: median(seeked), playedMs: median(played) };
}

async function longRun(browser, fixtures, which) {
  const server = await startHlsServer({ fixtures, live: { window: 8 } });
  const page = await openPage(browser, server, which);
  await page.evaluate(startPlayer, { which, src: '/live/master.m3u8' });
  await page.waitForTimeout(LONG_S * 1000);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  const wasm = await page.evaluate(() => window.wasmMemory?.buffer.byteLength ?? 0);
  const buffered = await page.evaluate(() => {
    const b = document.getElementById('video').buffered;
    return b.length ? b.end(b.length - 1) - b.start(0) : 0;
  });
  await page.close();
  await server.close();
  return { jsHeap: usedSize, wasm, buffered };
}

async function gzipped(files) {
  let total = 0;
  for (const f of files) total += gzipSync(await readFile(f), { level: 9 }).length;
  return total;
}

async function snippetFiles(root) {
  const out = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.js')) out.push(join(entry.parentPath ?? entry.path, entry.name));
  }
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'livecast-bench-player-'));
const browser = await openBrowser();
try {
  const fixtures = join(dir, 'fixtures');
  console.log('making fixtures with ffmpeg...');
  await makeFixtures(fixtures, { seconds: 30 });
  const results = {};
  for (const which of ['livecast', 'hls.js']) {
    console.log(`measuring ${which}...`);
    const r = {};
    const want = (name) => !args.only || args.only.split(',').includes(name);
    if (want('startup')) r.startupVod = await startup(browser, fixtures, which, '/hls/ladder/master.m3u8');
    if (want('startup')) r.startupLive = await startup(browser, fixtures, which, '/live/master.m3u8');
    if (want('latency')) r.latency = await latency(browser, fixtures, which);
    if (want('faults')) r.faults = await faults(browser, fixtures, which);
    if (want('seek')) r.seek = await seeks(browser, fixtures, which);
    if (want('long')) r.long = await longRun(browser, fixtures, which);
    results[which] = r;
  }
  results.livecast.bundle = await gzipped([join(repoRoot, 'pkg/livecast.js'), join(repoRoot, 'pkg/livecast_glue.js'), join(repoRoot, 'pkg/livecast_bg.wasm'), ...(await snippetFiles(join(repoRoot, 'pkg/snippets')))]);
  results.livecast.playerBundle = await gzipped([join(repoRoot, 'pkg/player/livecast_player.js'), join(repoRoot, 'pkg/player/livecast_player_bg.wasm'), ...(await snippetFiles(join(repoRoot, 'pkg/player/snippets')))]);
  results['hls.js'].bundle = await gzipped([join(repoRoot, 'node_modules/hls.js/dist/hls.min.js')]);
  // hls.js is one file whichever page loads it.
  results['hls.js'].playerBundle = results['hls.js'].bundle;

  const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
  const rows = [
    ['Startup, VOD (load → first frame, median)', (r) => `${r.startupVod.toFixed(0)} ms`],
    ['Startup, live', (r) => `${r.startupLive.toFixed(0)} ms`],
    ['Live latency, default settings', (r) => `${r.latency.toFixed(2)} s`],
    [`Fault test (${FAULT_S} s): rebuffers`, (r) => `${r.faults.stalls} (${(r.faults.stalledMs / 1000).toFixed(1)} s), played ${r.faults.played.toFixed(1)} s`],
    ['VOD seek outside the buffer, 720p (median of 8): to `seeked` / to playing +0.5 s', (r) => `${r.seek.seekedMs.toFixed(0)} ms / ${r.seek.playedMs.toFixed(0)} ms`],
    [`Heap after ${LONG_S} s live (JS + wasm)`, (r) => `${mib(r.long.jsHeap + r.long.wasm)} (JS ${mib(r.long.jsHeap)}, wasm ${mib(r.long.wasm)}), buffered ${r.long.buffered.toFixed(0)} s`],
    ['Bundle, gzipped: whole SDK (`livecast`)', (r) => `${(r.bundle / 1024).toFixed(0)} KiB`],
    ['Bundle, gzipped: watch-only (`livecast/player`)', (r) => `${(r.playerBundle / 1024).toFixed(0)} KiB`],
  ];
  console.log(`\n| | Livecast Player | hls.js 1.7.4 |\n|---|---|---|`);
  for (const [label, f] of rows) {
    try {
      console.log(`| ${label} | ${f(results.livecast)} | ${f(results['hls.js'])} |`);
    } catch {
      // Not measured in this run (--only).
    }
  }
  console.log('\n' + JSON.stringify(results));
} finally {
  await browser.close();
  await rm(dir, { recursive: true, force: true });
}
