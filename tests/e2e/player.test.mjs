// The Player in headless Chromium: ffmpeg-made VOD in TS and fMP4, a discontinuity, a
// generated live ladder with faults (503s, a missing segment, failing playlist reloads),
// ABR under slowed responses and forced levels, a long accelerated live run with bounded
// buffer and wasm memory, the typed API, and the real relay + transcoder live ladder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openBrowser } from '../support/browser.mjs';
import { makeFixtures, startHlsServer } from '../support/hls.mjs';
import { makeY4m } from '../support/media.mjs';
import { videoPicture } from '../support/picture.mjs';
import { declarations, assertShape } from '../support/dts.mjs';
import { repoRoot } from '../support/server.mjs';
import { startRelay, startTranscoder } from '../support/relay.mjs';

const run = promisify(execFile);
let dir, browser;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-player-'));
  await makeFixtures(join(dir, 'fixtures'), { seconds: 30 });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * A fresh server and page with the package loaded; `fn` gets `{ page, server }`. `options`:
 * the server's, and `inBrowser` for another browser than the shared one.
 */
async function withPlayerPage({ inBrowser = browser, ...options }, fn) {
  const server = await startHlsServer({ fixtures: join(dir, 'fixtures'), ...options });
  const page = await inBrowser.context.newPage();
  try {
    await page.goto(`${server.url}/player-test.html`);
    await page.waitForFunction(() => window.ready, null, { timeout: 30_000 });
    await installPageHelpers(page);
    return await fn({ page, server });
  } catch (e) {
    // What the player did, to read a failure from the CI log alone.
    const trace = await page.evaluate(() => ({
      events: window.t?.events.map(({ kind, sequence, level, start, end, details, message }) => ({ kind, sequence, level, start, end, details, message })),
      state: window.t && window.state(),
    })).catch(() => null);
    e.message += `\nplayer trace: ${JSON.stringify(trace)}`;
    throw e;
  } finally {
    await page.close();
    await server.close();
  }
}

/** Installs the page-side helpers below and the picture reader (`window.picture`). */
async function installPageHelpers(page) {
  await page.evaluate(installHelpers);
  await page.evaluate(`window.picture = ${videoPicture}`);
}

/** Page-side helpers: start a player that records its events, and read its state. */
function installHelpers() {
  const video = document.getElementById('video');
  window.start = (src, config) => {
    const player = new window.livecast.Player(video, config);
    const t = { player, events: [], longTasks: [] };
    for (const kind of ['manifestLoaded', 'levelSwitched', 'fragmentBuffered', 'stalled', 'latency', 'error']) {
      player.on(kind, (detail) => t.events.push({ kind, at: performance.now(), ...detail }));
    }
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) t.longTasks.push({ at: e.startTime, ms: e.duration });
    }).observe({ type: 'longtask' });
    window.t = t;
    player.load(src);
  };
  window.state = () => ({
    time: video.currentTime,
    ended: video.ended,
    paused: video.paused,
    stats: window.t.player.stats,
    latency: window.t.player.latency ?? null,
    levels: window.t.player.levels,
    buffered: Array.from({ length: video.buffered.length }, (_, i) => [video.buffered.start(i), video.buffered.end(i)]),
  });
}

const events = (page, kind) => page.evaluate((kind) => window.t.events.filter((e) => e.kind === kind), kind);

/**
 * Asserts the Player's stats and every event it fired so far have exactly the members the
 * package's `.d.ts` declares (PlayerStats, PlayerEventMap); returns the event kinds seen.
 */
async function assertShapesAsDeclared(page) {
  const dts = declarations(join(repoRoot, 'pkg', 'livecast.d.ts'));
  const { stats, recorded } = await page.evaluate(() => ({ stats: window.t.player.stats, recorded: window.t.events }));
  assertShape(stats, dts.fields('PlayerStats'), 'player.stats');
  const kinds = new Set();
  for (const { kind, at, ...detail } of recorded) {
    kinds.add(kind);
    assertShape(detail, dts.eventFields('PlayerEventMap', kind), `the ${kind} event`);
  }
  return kinds;
}

/** Asserts real, moving pictures: not black, not flat, and changing over a second. */
async function assertRealPictures(page) {
  const a = await page.evaluate(() => window.picture());
  await page.waitForTimeout(1000);
  const b = await page.evaluate(() => window.picture());
  for (const p of [a, b]) {
    assert.ok(p.width > 0 && p.height > 0, 'the video has a size');
    assert.ok(p.mean > 20, `picture not black (mean luma ${p.mean.toFixed(1)})`);
    assert.ok(p.std > 15, `picture not flat (luma spread ${p.std.toFixed(1)})`);
  }
  const diff = a.thumb.reduce((s, y, i) => s + Math.abs(y - b.thumb[i]), 0) / a.thumb.length;
  assert.ok(diff > 1, `pictures change over a second (mean difference ${diff.toFixed(2)})`);
}

async function waitForTime(page, seconds, timeout = 30_000) {
  await page.waitForFunction((s) => document.getElementById('video').currentTime >= s, seconds, { timeout });
}

test('VOD MPEG-TS ladder: manifest, levels, ABR up from the start level, real pictures', async () => {
  await withPlayerPage({}, async ({ page }) => {
    await page.evaluate(() => window.start('/hls/ladder/master.m3u8'));
    await waitForTime(page, 4);
    await assertRealPictures(page);
    const s = await page.evaluate(() => window.state());
    assert.deepEqual(s.levels.map((l) => [l.name, l.width, l.height]), [['240p', 426, 240], ['360p', 640, 360], ['720p', 1280, 720]]);
    const [manifest] = await events(page, 'manifestLoaded');
    assert.equal(manifest.live, false);
    assert.equal(manifest.levels.length, 3);
    const switches = await events(page, 'levelSwitched');
    assert.equal(switches[0].level, 0, 'starts at the level the default bandwidth affords');
    assert.equal(switches.at(-1).level, 2, 'a fast local network takes it to the top');
    assert.equal(s.latency, null, 'no latency for VOD');
    assert.deepEqual(await events(page, 'error'), []);
    const kinds = await assertShapesAsDeclared(page);
    assert.deepEqual([...kinds].sort(), ['fragmentBuffered', 'levelSwitched', 'manifestLoaded']);
  });
});

test('VOD fMP4 HLS passes through and plays to the end', async () => {
  await withPlayerPage({}, async ({ page }) => {
    await page.evaluate(() => window.start('/hls/fmp4/index.m3u8'));
    await waitForTime(page, 2);
    await assertRealPictures(page);
    await page.waitForFunction(() => document.getElementById('video').ended, null, { timeout: 30_000 });
    const s = await page.evaluate(() => window.state());
    assert.ok(s.time >= 7.5, `played ${s.time} s of 8`);
    assert.equal(s.stats.fragments, 8);
    assert.deepEqual(await events(page, 'error'), []);
  });
});

test('MPEG-TS with AAC audio: both tracks are transmuxed and the audio is decoded', async () => {
  await withPlayerPage({}, async ({ page }) => {
    await page.evaluate(() => window.start('/hls/av/index.m3u8'));
    await waitForTime(page, 3);
    await assertRealPictures(page);
    const audioBytes = await page.evaluate(() => document.getElementById('video').webkitAudioDecodedByteCount);
    assert.ok(audioBytes > 0, `audio decoded: ${audioBytes} bytes`);
    assert.deepEqual(await events(page, 'error'), []);
  });
});

test('a discontinuity (new size, timestamps 1000 s later) plays through', async () => {
  await withPlayerPage({}, async ({ page }) => {
    await page.evaluate(() => window.start('/hls/disc/index.m3u8'));
    await waitForTime(page, 1);
    const first = await page.evaluate(() => window.picture());
    assert.deepEqual([first.width, first.height], [640, 360]);
    await waitForTime(page, 5.5);
    await assertRealPictures(page);
    const second = await page.evaluate(() => window.picture());
    assert.deepEqual([second.width, second.height], [426, 240], 'the second clip is showing');
    await page.waitForFunction(() => document.getElementById('video').ended, null, { timeout: 30_000 });
    const s = await page.evaluate(() => window.state());
    assert.ok(s.time >= 7.5, `played ${s.time} s of 8`);
    assert.equal(s.buffered.length, 1, `one contiguous buffered range: ${JSON.stringify(s.buffered)}`);
    assert.deepEqual(await events(page, 'error'), []);
  });
});

test('live faults: 1 in 5 segment requests 503, a missing segment, two failed playlist reloads — playback goes on', async () => {
  await withPlayerPage({}, async ({ page, server }) => {
    server.faults.segment503Every = 5;
    // A segment that will appear ~6 s from now, on every level.
    const missingSeq = Math.floor((Date.now() - server.liveEpochMs) / 1000) + 6;
    server.faults.missing = new Set([`s${missingSeq}.ts`]);
    await page.evaluate(() => window.start('/live/master.m3u8'));
    await waitForTime(page, 2);
    server.faults.playlistFailures = 2;
    const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
    await page.waitForTimeout(20_000);
    const s = await page.evaluate(() => window.state());
    // Near the edge after a skip, playback may slow to 0.9× to win its margin back.
    assert.ok(s.time - t0 > 16, `played ${(s.time - t0).toFixed(1)} s in 20 s`);
    await assertRealPictures(page);
    const errors = await events(page, 'error');
    assert.deepEqual(errors.filter((e) => e.fatal), []);
    const frag503 = errors.filter((e) => e.details === 'fragLoadError' && /503/.test(e.message));
    assert.ok(frag503.length >= 3, `${frag503.length} segment 503s reported`);
    assert.ok(server.requests.filter((r) => r.status === 503 && r.path.endsWith('.ts')).length >= 3, 'the server answered 503s');
    // The missing segment is skipped (after its retries, or earlier when retrying would
    // outlast the buffer); a 503 is retried and loads, unless the buffer is about to run out.
    const skipped = errors.filter((e) => e.details === 'fragLoadError' && /skipped/.test(e.message));
    const missing = skipped.filter((e) => e.sequence === missingSeq);
    assert.equal(missing.length, 1, `the missing segment skipped: ${JSON.stringify(skipped)}`);
    assert.match(missing[0].message, /404/);
    assert.ok(skipped.length <= 2, `at most one 503 skipped too: ${JSON.stringify(skipped)}`);
    const reloads = errors.filter((e) => e.details === 'levelLoadError');
    assert.equal(reloads.length, 2, `two failed reloads reported: ${JSON.stringify(reloads)}`);
    assert.equal(server.faults.playlistFailures, 0, 'both playlist faults were hit');
    assert.equal(s.stats.skipped, skipped.length);
    assert.equal(s.stats.stalls, 0, 'no stall');
    const buffered = (await events(page, 'fragmentBuffered')).map((f) => f.sequence);
    assert.ok(buffered.includes(missingSeq + 1), 'the segment after the missing one played');
    assert.ok(s.latency > 0 && s.latency < 8, `latency ${s.latency}`);
    assert.ok(errors.every((e) => e.code === 'PLAYBACK_NETWORK_ERROR'), `network errors: ${JSON.stringify(errors.map((e) => e.code))}`);
    const kinds = await assertShapesAsDeclared(page);
    for (const kind of ['error', 'latency', 'fragmentBuffered']) assert.ok(kinds.has(kind), `${kind} events checked against the .d.ts`);
  });
});

test('ABR: slowed responses switch down, then back up; a forced level takes effect at the next segment', async () => {
  await withPlayerPage({}, async ({ page, server }) => {
    await page.evaluate(() => window.start('/live/master.m3u8', { maxBufferSeconds: 4 }));
    await page.waitForFunction(() => window.t.events.some((e) => e.kind === 'fragmentBuffered' && e.level === 2), null, { timeout: 30_000 });
    server.faults.throttleKbps = 700;
    await page.waitForFunction(() => window.t.events.filter((e) => e.kind === 'levelSwitched').at(-1).level === 0, null, { timeout: 30_000 });
    const estimate = await page.evaluate(() => window.t.player.bandwidthEstimate);
    assert.ok(estimate < 1.5e6, `estimate follows the throttle: ${estimate}`);
    server.faults.throttleKbps = 0;
    await page.waitForFunction(() => window.t.events.filter((e) => e.kind === 'levelSwitched').at(-1).level === 2, null, { timeout: 40_000 });
    const switches = (await events(page, 'levelSwitched')).map((e) => e.level);
    assert.ok(switches.indexOf(0, 1) > 0 && switches.lastIndexOf(2) > switches.indexOf(0, 1), `down then up: ${switches}`);

    // Forced level: the next segment buffered is from it.
    const before = await page.evaluate(() => { window.t.player.currentLevel = 1; return window.t.events.length; });
    await page.waitForFunction((n) => window.t.events.slice(n).some((e) => e.kind === 'fragmentBuffered'), before, { timeout: 20_000 });
    const after = await page.evaluate((n) => window.t.events.slice(n).filter((e) => e.kind === 'fragmentBuffered'), before);
    assert.ok(after.length >= 1);
    // The segment in flight when the level was set may still come from the old level.
    assert.ok(after.slice(0, 2).some((f) => f.level === 1), `forced level in ${after.slice(0, 2).map((f) => f.level)}`);
    await page.waitForTimeout(3000);
    const forced = await page.evaluate((n) => window.t.events.slice(n).filter((e) => e.kind === 'fragmentBuffered'), before);
    assert.ok(forced.slice(1).every((f) => f.level === 1), `stays forced: ${forced.map((f) => f.level)}`);
    assert.equal(await page.evaluate(() => window.t.player.autoLevelEnabled), false);
    await page.waitForFunction(() => window.t.player.currentLevel === 1, null, { timeout: 15_000 });
    await page.evaluate(() => { window.t.player.currentLevel = -1; });
    assert.equal(await page.evaluate(() => window.t.player.autoLevelEnabled), true);
    assert.deepEqual((await events(page, 'error')).filter((e) => e.fatal), []);
  });
});

/**
 * The fixture level `name` decoded by ffmpeg at 10 frames/s into 64×36 luma frames: frame
 * `i` is media time i / 10 s (the Player's clock starts at the first frame).
 */
async function referenceStrip(name) {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', join(dir, 'fixtures', 'ladder', name, 'index.m3u8'),
    '-vf', 'fps=10,scale=64:36,format=gray', '-f', 'rawvideo', '-'], { encoding: 'buffer', maxBuffer: 64 << 20 });
  const size = 64 * 36;
  return Array.from({ length: Math.floor(stdout.length / size) }, (_, i) => Array.from(stdout.subarray(i * size, (i + 1) * size)));
}

function correlation(a, b) {
  const mean = (x) => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(a), mb = mean(b);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * Pauses, and asserts that the picture on screen is the source's picture at `currentTime`:
 * the best-matching reference frame within ±3.5 s (testsrc2 repeats every 12 s) is within
 * 0.3 s of it. Resumes playback.
 */
async function assertPictureAtCurrentTime(page, strip) {
  const shot = await page.evaluate(async () => {
    const video = document.getElementById('video');
    video.pause();
    await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
    return { time: video.currentTime, ...window.picture() };
  });
  const lo = Math.max(0, Math.round((shot.time - 3.5) * 10));
  const hi = Math.min(strip.length - 1, Math.round((shot.time + 3.5) * 10));
  let best = { i: -1, c: -1 };
  for (let i = lo; i <= hi; i++) {
    const c = correlation(shot.thumb, strip[i]);
    if (c > best.c) best = { i, c };
  }
  assert.ok(best.c > 0.9, `the picture looks like the source (best correlation ${best.c.toFixed(3)})`);
  assert.ok(Math.abs(best.i / 10 - shot.time) <= 0.3, `the picture at ${shot.time.toFixed(2)} s is the source's at ${(best.i / 10).toFixed(1)} s`);
  await page.evaluate(() => document.getElementById('video').play());
  return shot.time;
}

/** Seeks to `to` and resolves once the video has played on from there; returns the ms it took. */
async function seekAndPlay(page, to) {
  const ms = await page.evaluate(async (to) => {
    const video = document.getElementById('video');
    const t0 = performance.now();
    const seeked = new Promise((ok) => video.addEventListener('seeked', ok, { once: true }));
    video.currentTime = to;
    // (Bounded: a seek that never completes fails the test with the player's trace.)
    const late = new Promise((_, fail) => setTimeout(() => fail(new Error(`no seeked event 20 s after seeking to ${to}`)), 20_000));
    await Promise.race([seeked, late]);
    return performance.now() - t0;
  }, to);
  await waitForTime(page, to + 0.5, 15_000);
  return ms;
}

test('VOD seeking: forward past the buffer and back into evicted media land on the right pictures; the end still ends', async () => {
  const strip = await referenceStrip('360p');
  assert.ok(strip.length >= 295, `reference frames: ${strip.length}`);
  await withPlayerPage({}, async ({ page }) => {
    // A small buffer both ways, so seeks leave what is buffered.
    await page.evaluate(() => window.start('/hls/ladder/360p/index.m3u8', { maxBufferSeconds: 4, backBufferSeconds: 3 }));
    await waitForTime(page, 1);
    const duration = await page.evaluate(() => document.getElementById('video').duration);
    assert.ok(duration > 29.5 && duration < 30.5, `the element knows the VOD's length before it is loaded: ${duration}`);
    await assertPictureAtCurrentTime(page, strip);

    // Forward, far past the buffer: the segments in between are not downloaded.
    const forwardMs = await seekAndPlay(page, 21.3);
    await assertPictureAtCurrentTime(page, strip);
    let loaded = (await events(page, 'fragmentBuffered')).map((f) => f.sequence);
    assert.ok(loaded.includes(21), `segment 21 loaded: ${loaded}`);
    assert.ok(!loaded.some((s) => s >= 8 && s <= 18), `nothing between the old buffer and the seek target: ${loaded}`);

    // Back, into media the back buffer evicted.
    await waitForTime(page, 23);
    const buffered = (await page.evaluate(() => window.state())).buffered;
    assert.ok(!buffered.some(([s, e]) => s <= 2.5 && e > 2.5), `2.5 s was evicted: ${JSON.stringify(buffered)}`);
    const backMs = await seekAndPlay(page, 2.5);
    await assertPictureAtCurrentTime(page, strip);
    loaded = (await events(page, 'fragmentBuffered')).map((f) => f.sequence);
    assert.equal(loaded.filter((s) => s === 2).length, 2, `segment 2 loaded again: ${loaded}`);

    // Near the end: playback reaches it and the element ends.
    await seekAndPlay(page, 27.5);
    await assertPictureAtCurrentTime(page, strip);
    await page.waitForFunction(() => document.getElementById('video').ended, null, { timeout: 15_000 });
    const s = await page.evaluate(() => window.state());
    assert.equal(s.stats.stalls, 0, 'waiting after a seek is not a stall');
    assert.deepEqual(await events(page, 'error'), []);
    console.log(`# seek: forward ${forwardMs.toFixed(0)} ms, back ${backMs.toFixed(0)} ms (load + transmux + append of one 1 s segment)`);
  });
});

test('VOD: a missing segment is given up, playback jumps its hole, and a seek into it lands after it', async () => {
  const strip = await referenceStrip('360p');
  await withPlayerPage({}, async ({ page, server }) => {
    server.faults.missing = new Set(['10.ts']);
    await page.evaluate(() => window.start('/hls/ladder/360p/index.m3u8', { maxBufferSeconds: 4, backBufferSeconds: 3 }));
    await waitForTime(page, 1);
    await seekAndPlay(page, 7.5);
    // Through the hole where segment 10 would be (10-11 s), on the source's clock.
    await waitForTime(page, 11.5, 15_000);
    await assertPictureAtCurrentTime(page, strip);
    const buffered = (await page.evaluate(() => window.state())).buffered;
    assert.ok(!buffered.some(([s, e]) => s < 10.5 && e > 10.5), `nothing buffered for 10-11 s: ${JSON.stringify(buffered)}`);
    // A seek into the hole: playback goes on from the segment after it.
    await page.evaluate(() => { document.getElementById('video').currentTime = 10.4; });
    await waitForTime(page, 11.5, 15_000);
    await assertPictureAtCurrentTime(page, strip);
    const errors = await events(page, 'error');
    assert.ok(errors.length >= 1 && errors.every((e) => !e.fatal && e.details === 'fragLoadError' && e.sequence === 10), `only segment 10's load errors: ${JSON.stringify(errors)}`);
    assert.ok(errors.some((e) => /404/.test(e.message) && /skipped/.test(e.message)), 'segment 10 given up after its retries');
    const s = await page.evaluate(() => window.state());
    assert.equal(s.stats.skipped, 1, 'given up once: the seek into its hole does not request it again');
    const loaded = (await events(page, 'fragmentBuffered')).map((f) => f.sequence);
    assert.ok(Math.max(...loaded) <= 17, `the buffer ahead counts across the hole (maxBufferSeconds 4): loaded ${loaded}`);
    assert.equal(s.stats.stalls, 0);
  });
});

/** Resolves once the test server has seen a request whose path ends with `suffix`. */
async function requestFor(server, suffix, timeout = 20_000) {
  const t0 = Date.now();
  for (;;) {
    const r = server.requests.find((r) => r.path.endsWith(suffix));
    if (r) return r;
    if (Date.now() - t0 > timeout) throw new Error(`no request for ${suffix} within ${timeout} ms`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

test('VOD: a seek aborts the segment download it made unneeded, and keeps one it still needs', async () => {
  const strip = await referenceStrip('360p');
  await withPlayerPage({}, async ({ page, server }) => {
    // Segment 5 answers only after 8 s: the loader is stuck on it when the page seeks away.
    server.faults.held = new Set(['5.ts', '24.ts']);
    await page.evaluate(() => window.start('/hls/ladder/360p/index.m3u8', { maxBufferSeconds: 4, backBufferSeconds: 3 }));
    const held = await requestFor(server, '/360p/5.ts');
    const ms = await seekAndPlay(page, 20.3);
    assert.ok(ms < 4000, `seeked after ${ms.toFixed(0)} ms: the held download was not waited for`);
    await assertPictureAtCurrentTime(page, strip);
    assert.ok(held.aborted, 'the request for segment 5 was aborted by the player');
    assert.equal(await page.evaluate(() => window.t.player.stats.abortedBySeek), 1);

    // Segment 24 is held for 3 s; a seek into it (just past the buffer's end) still needs it.
    server.faults.heldMs = 3000;
    const needed = await requestFor(server, '/360p/24.ts');
    await seekAndPlay(page, 24.2);
    await assertPictureAtCurrentTime(page, strip);
    assert.equal(needed.aborted, false, 'the download the seek still needed went on');
    assert.equal(server.requests.filter((r) => r.path.endsWith('/360p/24.ts')).length, 1, 'and was not made twice');
    assert.equal(await page.evaluate(() => window.t.player.stats.abortedBySeek), 1);
    assert.deepEqual(await events(page, 'error'), [], 'an aborted download is not an error');
  });
});

test('a media error (a corrupt fMP4 segment) gets one pipeline reset, and playback goes on', async () => {
  await withPlayerPage({}, async ({ page, server }) => {
    server.faults.corrupt = new Set(['3.m4s']);
    await page.evaluate(() => window.start('/hls/fmp4/index.m3u8'));
    await page.waitForFunction(() => window.t.player.stats.mediaResets === 1, null, { timeout: 30_000 });
    await page.waitForFunction(() => window.t.events.some((e) => e.kind === 'fragmentBuffered' && e.sequence === 7), null, { timeout: 30_000 });
    await waitForTime(page, 1);
    await assertRealPictures(page);
    const errors = await events(page, 'error');
    assert.deepEqual(errors.map((e) => [e.code, e.fatal, e.type, e.details]), [['PLAYBACK_MEDIA_ERROR', false, 'media', 'bufferAppendError']]);
    const after = (await events(page, 'fragmentBuffered')).map((f) => f.sequence);
    assert.ok(!after.includes(3), `the corrupt segment is not buffered: ${after}`);
    assert.ok(after.includes(4), 'loading went on after it');
  });
});

test('a SourceBuffer quota far below the buffer goal: the player evicts, then pauses loading, and plays on', async () => {
  // Chromium holding at most 1 MB of video per SourceBuffer (about 3 s of the 720p level)
  // while the player is asked to buffer 30 s ahead and keep 60 s behind.
  const small = await openBrowser({ args: ['--mse-video-buffer-size-limit-mb=1'] });
  try {
    await withPlayerPage({ inBrowser: small }, async ({ page }) => {
      await page.evaluate(() => window.start('/hls/ladder/720p/index.m3u8', { maxBufferSeconds: 30, backBufferSeconds: 60 }));
      await waitForTime(page, 14, 45_000);
      await assertRealPictures(page);
      const s = await page.evaluate(() => window.state());
      const errors = await events(page, 'error');
      assert.deepEqual(errors.filter((e) => e.fatal), [], 'no fatal error');
      const full = errors.filter((e) => e.details === 'bufferFullError');
      assert.ok(full.length >= 1, `the quota was reached and reported: ${JSON.stringify(errors)}`);
      const requests = (await events(page, 'fragmentBuffered')).length;
      assert.ok(full.length <= requests, `one report per refused segment at most, not a loop: ${full.length} reports, ${requests} segments`);
      const span = s.buffered.reduce((sum, [a, b]) => sum + (b - a), 0);
      assert.ok(span < 8, `what is buffered fits the quota: ${span.toFixed(1)} s in ${JSON.stringify(s.buffered)}`);
      assert.ok(s.stats.stalls <= 1, `at most one stall: ${s.stats.stalls}`);
      console.log(`# quota: ${full.length} bufferFullError for ${requests} segments, ${span.toFixed(1)} s buffered, ${s.stats.stalls} stalls`);
    });
  } finally {
    await small.close();
  }
});

test('live: after a long pause the player jumps back near the edge', async () => {
  await withPlayerPage({}, async ({ page }) => {
    // 1 s segments: target latency 3 s, jump beyond 6 s.
    await page.evaluate(() => window.start('/live/master.m3u8'));
    await waitForTime(page, 2);
    await page.evaluate(() => document.getElementById('video').pause());
    await page.waitForTimeout(10_000);
    const paused = await page.evaluate(() => window.t.player.latency);
    assert.ok(paused > 9, `latency grew while paused: ${paused}`);
    await page.evaluate(() => document.getElementById('video').play());
    await page.waitForFunction(() => window.t.player.latency < 6, null, { timeout: 10_000 });
    const s = await page.evaluate(() => window.state());
    assert.ok(!s.paused && s.latency > 1, `playing ${s.latency.toFixed(1)} s behind live`);
    assert.deepEqual((await events(page, 'error')).filter((e) => e.fatal), []);
  });
});

test('live DVR: a seek back into the window plays from there without being pulled to the edge; a seek to the edge resumes live', async () => {
  // A 24-segment window of 1 s segments: target latency 3 s, jump beyond 6 s.
  await withPlayerPage({ live: { window: 24, startSegments: 30 } }, async ({ page }) => {
    await page.evaluate(() => window.start('/live/360p/index.m3u8', { backBufferSeconds: 2 }));
    // Joined behind a window of media: the first segment is placed at its time in the window.
    await page.waitForFunction(() => window.t.events.some((e) => e.kind === 'fragmentBuffered'), null, { timeout: 20_000 });
    const join = (await events(page, 'fragmentBuffered'))[0].start;
    assert.ok(join > 15, `the join point leaves room for the window behind it: ${join}`);
    await waitForTime(page, join + 3);
    await page.waitForFunction(() => typeof window.t.player.latency === 'number', null, { timeout: 10_000 });
    const before = await page.evaluate(() => {
      const v = document.getElementById('video');
      return { time: v.currentTime, latency: window.t.player.latency, seekable: [v.seekable.start(0), v.seekable.end(v.seekable.length - 1)] };
    });
    const [from, to] = before.seekable;
    assert.ok(to - from > 20, `video.seekable spans the playlist's window: ${from.toFixed(1)}..${to.toFixed(1)}`);

    // 12 s back: outside the 2 s back buffer, inside the window.
    const target = before.time - 12;
    const loadedBefore = (await events(page, 'fragmentBuffered')).length;
    await seekAndPlay(page, target);
    const reloaded = (await events(page, 'fragmentBuffered')).slice(loadedBefore);
    assert.ok(reloaded.length >= 1, 'the segments there were loaded again');
    await page.waitForTimeout(6000);
    const dvr = await page.evaluate(() => ({ time: document.getElementById('video').currentTime, latency: window.t.player.latency, rate: document.getElementById('video').playbackRate }));
    assert.ok(dvr.time > target + 4 && dvr.time < target + 8, `played on from the seek target at normal speed: ${target.toFixed(1)} → ${dvr.time.toFixed(1)}`);
    assert.ok(Math.abs(dvr.latency - (before.latency + 12)) < 2.5, `latency (from the segments' dates) is the old one plus 12 s: ${before.latency.toFixed(1)} → ${dvr.latency.toFixed(1)}`);
    assert.equal(dvr.rate, 1, 'no catch-up while behind on purpose');
    await assertRealPictures(page);

    // Back to the edge: live rules again.
    const sync = await page.evaluate(() => window.t.player.liveSyncPosition);
    assert.ok(sync > dvr.time + 8, `liveSyncPosition is near the edge: ${sync}`);
    await page.evaluate((to) => { document.getElementById('video').currentTime = to; }, sync);
    await page.waitForFunction(() => window.t.player.latency < 5, null, { timeout: 15_000 });
    const s = await page.evaluate(() => window.state());
    assert.ok(!s.paused && s.latency > 1, `playing ${s.latency.toFixed(1)} s behind live again`);
    assert.deepEqual((await events(page, 'error')).filter((e) => e.fatal), []);
  });
});

test('typed API: bad arguments throw typed errors with codes; destroy detaches', async () => {
  await withPlayerPage({}, async ({ page }) => {
    const r = await page.evaluate(() => {
      const { Player } = window.livecast;
      const video = document.getElementById('video');
      const caught = (f) => { try { f(); return null; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
      const p = new Player(video);
      return {
        supported: Player.isSupported(),
        notVideo: caught(() => new Player(document.body)),
        unknownKey: caught(() => new Player(video, { maxBuferSeconds: 3 })),
        badValue: caught(() => new Player(video, { maxBufferSeconds: -1 })),
        badBackoff: caught(() => new Player(video, { segmentRetry: { backoff: 'sometimes' } })),
        badLevel: caught(() => { p.currentLevel = 3; }),
        badEvent: caught(() => p.on('fragLoaded', () => {})),
        levelsBefore: p.levels.length,
        currentBefore: p.currentLevel,
        destroyed: (p.destroy(), caught(() => p.load('/hls/fmp4/index.m3u8'))),
      };
    });
    assert.equal(r.supported, true);
    assert.deepEqual([r.notVideo.name, r.notVideo.code], ['TypeError', 'INVALID_CONFIG']);
    assert.deepEqual([r.unknownKey.name, r.unknownKey.code], ['TypeError', 'INVALID_CONFIG']);
    assert.match(r.unknownKey.message, /maxBuferSeconds/);
    assert.deepEqual([r.badValue.name, r.badValue.code], ['RangeError', 'INVALID_CONFIG']);
    assert.match(r.badValue.message, /maxBufferSeconds/);
    assert.match(r.badBackoff.message, /segmentRetry.backoff/);
    assert.deepEqual([r.badLevel.name, r.badLevel.code], ['RangeError', 'INVALID_CONFIG']);
    assert.equal(r.badEvent.name, 'TypeError');
    assert.equal(r.levelsBefore, 0);
    assert.equal(r.currentBefore, -1);
    assert.equal(r.destroyed.code, 'FREED');

    // Without MSE (as on iOS Safari), load() falls back to native HLS or says it cannot play.
    const fallback = await page.evaluate(() => {
      const video = document.getElementById('video');
      const saved = [window.MediaSource, window.ManagedMediaSource];
      delete window.MediaSource;
      delete window.ManagedMediaSource;
      try {
        const p = new window.livecast.Player(video);
        try {
          p.load('/hls/ladder/master.m3u8');
          return { mode: p.stats.mode, src: video.src, native: video.canPlayType('application/vnd.apple.mpegurl') };
        } catch (e) {
          return { code: e.code, native: video.canPlayType('application/vnd.apple.mpegurl') };
        }
      } finally {
        window.MediaSource = saved[0];
        if (saved[1]) window.ManagedMediaSource = saved[1];
      }
    });
    if (fallback.native) {
      assert.equal(fallback.mode, 'native');
      assert.match(fallback.src, /master\.m3u8$/);
    } else {
      assert.equal(fallback.code, 'PLAYBACK_UNSUPPORTED');
    }
  });
});

test('long live run (1 s segments, 3 min): buffered range and wasm memory stay bounded, no long tasks from transmuxing', async (t) => {
  const maxBuffer = 6, backBuffer = 6;
  await withPlayerPage({ live: { window: 8 } }, async ({ page }) => {
    await page.evaluate(({ maxBuffer, backBuffer }) => window.start('/live/master.m3u8', { maxBufferSeconds: maxBuffer, backBufferSeconds: backBuffer }), { maxBuffer, backBuffer });
    await waitForTime(page, 3);
    const samples = [];
    for (let i = 0; i < 18; i++) {
      await page.waitForTimeout(10_000);
      samples.push(await page.evaluate(() => {
        const s = window.state();
        return { ...s, wasmBytes: window.wasmMemory.buffer.byteLength, span: s.buffered.length ? s.buffered.at(-1)[1] - s.buffered[0][0] : 0 };
      }));
    }
    const last = samples.at(-1);
    assert.ok(last.time > 150, `played ${last.time.toFixed(0)} s`);
    assert.ok(last.stats.fragments > 150, `${last.stats.fragments} segments`);
    for (const s of samples) {
      assert.ok(s.span <= maxBuffer + backBuffer + 4, `buffered span ${s.span.toFixed(1)} s at ${s.time.toFixed(0)} s`);
    }
    const wasm = samples.map((s) => s.wasmBytes);
    assert.ok(wasm.every((b) => b > 0), `wasm memory read: ${wasm}`);
    assert.ok(wasm.at(-1) <= wasm[2] + 4 * 1024 * 1024, `wasm memory stable: ${wasm.map((b) => (b / 1048576).toFixed(1)).join(' ')} MiB`);
    assert.equal(last.stats.stalls, 0, 'no stall');
    const longTasks = await page.evaluate(() => window.t.longTasks.filter((t) => t.at > 5000));
    t.diagnostic(`wasm memory ${wasm.map((b) => (b / 1048576).toFixed(1)).join(' ')} MiB; max buffered span ${Math.max(...samples.map((s) => s.span)).toFixed(1)} s; long tasks after start-up: ${JSON.stringify(longTasks)}`);
    assert.ok(longTasks.length <= 2, `long tasks after start-up: ${JSON.stringify(longTasks)}`);
    assert.deepEqual((await events(page, 'error')).filter((e) => e.fatal), []);
  });
});

test('watch page: plays with the Player, rendition picker, live stats, plain fatal errors', async () => {
  await withPlayerPage({}, async ({ page, server }) => {
    await page.goto(`${server.url}/www/watch.html?src=${encodeURIComponent('/live/master.m3u8')}`);
    await page.waitForFunction(() => document.getElementById('video').currentTime > 1, null, { timeout: 30_000 });
    const options = await page.$$eval('#rendition option', (o) => o.map((x) => x.textContent));
    assert.deepEqual(options.map((o) => o.split(' ')[0]), ['Auto', '240p', '360p', '720p']);
    await page.selectOption('#rendition', '0');
    await page.waitForFunction(() => document.getElementById('level').textContent === '240p', null, { timeout: 20_000 });
    await page.waitForFunction(() => /s$/.test(document.getElementById('latency').textContent), null, { timeout: 10_000 });
    const stats = await page.evaluate(() => ['bandwidth', 'buffer', 'latency', 'stalls'].map((id) => document.getElementById(id).textContent));
    assert.match(stats[0], /Mbit\/s$/);
    assert.match(stats[1], /^\d+\.\d s$/);
    assert.match(stats[2], /^\d+\.\d s$/);
    assert.equal(stats[3], 'none');
    const playback = await page.evaluate(() => window.playback);
    assert.ok(playback.fragments >= 2);
    assert.deepEqual(playback.errors, []);

    await page.goto(`${server.url}/www/watch.html?src=${encodeURIComponent('/hls/none/index.m3u8')}`);
    await page.waitForFunction(() => document.getElementById('status').classList.contains('error'), null, { timeout: 30_000 });
    const text = await page.textContent('#status');
    assert.match(text, /could not be loaded.*Playback stopped.*404/);
  });
});

test("the relay's live ladder (fake camera → Broadcaster → relay → transcoder) plays on the watch page", async () => {
  const work = join(dir, 'relay-run');
  await makeY4m(join(dir, 'camera.y4m'), { width: 640, height: 480, fps: 30, seconds: 3 });
  const node = await startTranscoder({ dataDir: join(work, 'node') });
  const relay = await startRelay({ dataDir: join(work, 'relay'), args: ['--open', '--transcoder', node.url] });
  const camera = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
  try {
    const { page } = camera;
    await page.goto(`${relay.url}/www/broadcast.html`);
    await page.waitForFunction(() => window.livecastReady);
    const stream = await (await fetch(`${relay.url}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json();
    await page.evaluate(async ({ id, key, relayUrl }) => {
      const { Broadcaster } = await import('../pkg/livecast.js');
      const b = new Broadcaster({
        relayUrl, streamId: id, streamKey: key,
        video: { width: 640, height: 480, fps: 30, bitrateKbps: 1500 },
        segmentSeconds: 2, encoder: 'webcodecs', transcode: { profiles: ['P360p30fps16x9', 'P240p30fps16x9'] },
      });
      window.b = b;
      await b.start();
    }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url });
    // Wait for the ladder: the master playlist lists the source and both renditions.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await fetch(`${relay.url}/hls/${stream.id}/master.m3u8`);
      if (res.ok && ((await res.text()).match(/EXT-X-STREAM-INF/g) ?? []).length === 3) break;
      assert.ok(Date.now() < deadline, 'the relay lists three levels within 60 s');
      await new Promise((ok) => setTimeout(ok, 1000));
    }
    const watch = await camera.context.newPage();
    await watch.goto(`${relay.url}/www/watch.html?id=${stream.id}`);
    await watch.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 60_000 });
    const t0 = await watch.evaluate(() => document.getElementById('video').currentTime);
    await watch.waitForFunction((t) => document.getElementById('video').currentTime >= t + 6, t0, { timeout: 30_000 });
    await installPageHelpers(watch);
    await assertRealPictures(watch);
    const r = await watch.evaluate(() => ({ playback: window.playback, levels: window.player.levels, stats: window.player.stats, latency: window.player.latency }));
    assert.equal(r.levels.length, 3);
    assert.deepEqual(r.levels.map((l) => l.height).sort((a, b) => a - b), [240, 360, 480]);
    assert.deepEqual(r.playback.errors.filter((e) => e.includes('fatal')), []);
    assert.ok(r.playback.fragments >= 3, `${r.playback.fragments} segments`);
    assert.ok(r.latency > 0 && r.latency < 30, `latency from PROGRAM-DATE-TIME: ${r.latency}`);
    await watch.close();
    await page.evaluate(() => window.b.stop());
  } finally {
    await camera.close();
    await relay.stop();
    await node.stop();
  }
});
