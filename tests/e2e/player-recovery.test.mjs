// The Player on segments that never parse (garbage bytes behind every segment name), in
// headless Chromium: it reports each as a non-fatal fragParsingError, backs off between
// them so the page's main thread stays free, and ends with one fatal error in bounded time
// instead of looping over them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBrowser } from '../support/browser.mjs';
import { makeFixtures, startHlsServer } from '../support/hls.mjs';

let dir, browser;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-player-recovery-'));
  await makeFixtures(join(dir, 'fixtures'), { seconds: 30 });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `page.evaluate` that fails after `ms` instead of hanging when the page stops answering. */
async function evaluateWithin(page, ms, fn, arg) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`the page did not answer within ${ms} ms (main thread busy?)`)), ms); });
  try {
    return await Promise.race([page.evaluate(fn, arg), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Plays `src` with every segment garbage; returns what the page saw, sampled each second. */
async function playGarbage(src) {
  const server = await startHlsServer({ fixtures: join(dir, 'fixtures') });
  // Every segment file of the fixtures (the live ladder loops over the same names).
  server.faults.corrupt = new Set(Array.from({ length: 40 }, (_, i) => `${i}.ts`));
  const page = await browser.context.newPage();
  try {
    await page.goto(`${server.url}/player-test.html`);
    await page.waitForFunction(() => window.ready, null, { timeout: 30_000 });
    await page.evaluate((src) => {
      window.ticks = 0;
      setInterval(() => window.ticks++, 100);
      const player = new window.livecast.Player(document.getElementById('video'));
      window.errors = [];
      player.on('error', (e) => window.errors.push({ at: performance.now(), code: e.code, fatal: e.fatal, details: e.details, message: e.message }));
      window.started = performance.now();
      player.load(src);
    }, src);
    const samples = [];
    const deadline = Date.now() + 40_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const s = await evaluateWithin(page, 5000, () => ({ ticks: window.ticks, errors: window.errors, started: window.started }));
      samples.push(s);
      if (s.errors.some((e) => e.fatal) || Date.now() > deadline) break;
    }
    const segmentRequests = server.requests.filter((r) => r.path.endsWith('.ts')).length;
    return { samples, segmentRequests };
  } finally {
    await page.close();
    await server.close();
  }
}

function assertBackedOffAndFatal({ samples, segmentRequests }, label) {
  const last = samples.at(-1);
  const fatal = last.errors.filter((e) => e.fatal);
  assert.equal(fatal.length, 1, `${label}: one fatal error within 40 s; saw ${JSON.stringify(last.errors.slice(-3))} (${last.errors.length} errors)`);
  assert.equal(fatal[0].details, 'fragParsingError');
  assert.equal(fatal[0].code, 'PLAYBACK_PARSE_ERROR');
  assert.match(fatal[0].message, /segments in a row/);
  const parsing = last.errors.filter((e) => !e.fatal && e.details === 'fragParsingError');
  assert.ok(parsing.length >= 2, `${label}: the bad segments before the fatal one are reported: ${parsing.length}`);
  // Backed off: not hundreds of segments fetched and thrown away.
  assert.ok(segmentRequests <= 20, `${label}: ${segmentRequests} segment requests before giving up`);
  const gaps = parsing.slice(1).map((e, i) => e.at - parsing[i].at);
  assert.ok(gaps.at(-1) >= 400, `${label}: the retries back off (gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms)`);
  // The main thread stayed free: the 100 ms interval kept ticking between every sample.
  for (let i = 1; i < samples.length; i++) {
    const d = samples[i].ticks - samples[i - 1].ticks;
    assert.ok(d >= 4, `${label}: the page's 100 ms timer ticked only ${d} times in about a second (sample ${i})`);
  }
}

test('VOD of garbage segments: non-fatal parsing errors with back-off, then one fatal error; the page stays responsive', async () => {
  assertBackedOffAndFatal(await playGarbage('/hls/ladder/master.m3u8'), 'VOD');
});

test('live stream of garbage segments: the same back-off and a fatal error, not a spin', async () => {
  assertBackedOffAndFatal(await playGarbage('/live/master.m3u8'), 'live');
});
