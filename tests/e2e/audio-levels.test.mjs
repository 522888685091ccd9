// The Player's sound across level switches and discontinuities, in headless Chromium:
// ffmpeg-made HLS whose every level carries the same AAC track (as the relay's renditions
// do: the transcoder copies the source's audio into each), and a playlist whose second
// part, after an EXT-X-DISCONTINUITY, has new timestamps for both tracks. Audio that went
// missing or was placed wrongly at a switch or a discontinuity shows as a hole in the
// buffered range (the media element buffers what both tracks have), a stall, or audio
// that stops being decoded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openBrowser } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';

const run = promisify(execFile);
const LEVELS = [
  { name: '360p', width: 640, height: 360, kbps: 800 },
  { name: '240p', width: 426, height: 240, kbps: 300 },
];
let dir, server, browser;

/** ffmpeg arguments: `seconds` of testsrc2 + a 440 Hz tone, H.264 with a keyframe every second and AAC-LC, as HLS with 1 s segments under `out`. */
function avHls({ width, height, kbps }, seconds, out, offset = 0) {
  return ['-v', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-ac', '2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', `${kbps}k`,
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-force_key_frames', 'expr:gte(t,n_forced*1)',
    '-c:a', 'aac', '-b:a', '96k',
    ...(offset ? ['-output_ts_offset', String(offset)] : []),
    '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod',
    '-hls_segment_filename', join(out, '%d.ts'), join(out, 'index.m3u8')];
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-audio-levels-'));
  const root = join(dir, 'hls');
  // A two-level ladder with sound, 12 s.
  const master = ['#EXTM3U', '#EXT-X-VERSION:3'];
  for (const level of LEVELS) {
    await mkdir(join(root, 'ladder', level.name), { recursive: true });
    await run('ffmpeg', avHls(level, 12, join(root, 'ladder', level.name)));
    master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${(level.kbps + 110) * 1000},RESOLUTION=${level.width}x${level.height},CODECS="avc1.42c01f,mp4a.40.2"`, `${level.name}/index.m3u8`);
  }
  await writeFile(join(root, 'ladder', 'master.m3u8'), master.join('\n') + '\n');
  // Two clips with sound, the second at another size with timestamps 1000 s later.
  const parts = [];
  for (const [name, level, offset] of [['a', LEVELS[0], 0], ['b', LEVELS[1], 1000]]) {
    await mkdir(join(root, 'disc', name), { recursive: true });
    await run('ffmpeg', avHls(level, 4, join(root, 'disc', name), offset));
    parts.push((await readFile(join(root, 'disc', name, 'index.m3u8'), 'utf8'))
      .split('\n').filter((l) => l && !l.startsWith('#EXT-X-') && l !== '#EXTM3U')
      .map((l) => (l.startsWith('#') ? l : `${name}/${l}`)));
  }
  await writeFile(join(root, 'disc', 'index.m3u8'), ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:1',
    '#EXT-X-PLAYLIST-TYPE:VOD', ...parts[0], '#EXT-X-DISCONTINUITY', ...parts[1], '#EXT-X-ENDLIST'].join('\n') + '\n');
  await writeFile(join(dir, 'page.html'), `<!doctype html><meta charset="utf-8">
<video id="video" muted autoplay playsinline width="640" height="360"></video>
<script type="module">
  const { default: init, Player } = await import('/pkg/livecast.js');
  await init();
  const video = document.getElementById('video');
  window.start = (src) => {
    const player = new Player(video);
    const t = { player, events: [] };
    for (const kind of ['levelSwitched', 'fragmentBuffered', 'stalled', 'error']) {
      player.on(kind, (detail) => t.events.push({ kind, at: video.currentTime, ...detail }));
    }
    window.t = t;
    player.load(src);
  };
  window.state = () => ({
    time: video.currentTime,
    ended: video.ended,
    audioBytes: video.webkitAudioDecodedByteCount,
    size: [video.videoWidth, video.videoHeight],
    stats: window.t.player.stats,
    buffered: Array.from({ length: video.buffered.length }, (_, i) => [video.buffered.start(i), video.buffered.end(i)]),
  });
  window.ready = true;
</script>`);
  server = await startServer({ mounts: { '/fixtures/': dir } });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A page with the package loaded; `fn(page)`; on failure the player's events are added to the error. */
async function withPage(fn) {
  const page = await browser.context.newPage();
  try {
    await page.goto(`${server.url}/fixtures/page.html`);
    await page.waitForFunction(() => window.ready, null, { timeout: 30_000 });
    return await fn(page);
  } catch (e) {
    const trace = await page.evaluate(() => ({ events: window.t?.events, state: window.t && window.state() })).catch(() => null);
    e.message += `\nplayer trace: ${JSON.stringify(trace)}`;
    throw e;
  } finally {
    await page.close();
  }
}

const state = (page) => page.evaluate(() => window.state());
const untilTime = (page, seconds, timeout = 30_000) =>
  page.waitForFunction((s) => document.getElementById('video').currentTime >= s, seconds, { timeout });

/** Audio keeps being decoded while the picture plays: bytes grow over the next second of playback. */
async function assertAudioMoving(page, label) {
  const a = await state(page);
  await page.waitForFunction((t) => document.getElementById('video').currentTime >= t + 1 || document.getElementById('video').ended, a.time, { timeout: 15_000 });
  const b = await state(page);
  assert.ok(b.audioBytes > a.audioBytes, `${label}: audio decoded on (${a.audioBytes} → ${b.audioBytes} bytes over ${(b.time - a.time).toFixed(2)} s)`);
}

test('a forced level switch mid-stream: sound goes on, no hole in the buffered range, plays to the end', async () => {
  await withPage(async (page) => {
    await page.evaluate(() => window.start('/fixtures/hls/ladder/master.m3u8'));
    await untilTime(page, 2);
    const first = await state(page);
    assert.equal(first.stats.audioCodec, 'mp4a.40.2', `the Player names the audio codec: ${JSON.stringify(first.stats)}`);
    await assertAudioMoving(page, 'before the switch');
    // Switch to the other level (whichever ABR started on), then wait for its segments.
    const from = await page.evaluate(() => window.t.events.filter((e) => e.kind === 'fragmentBuffered').at(-1).level);
    const to = 1 - from;
    await page.evaluate((level) => { window.t.player.currentLevel = level; }, to);
    await page.waitForFunction((level) => window.t.events.some((e) => e.kind === 'fragmentBuffered' && e.level === level), to, { timeout: 20_000 });
    const switchedAt = await page.evaluate((level) => window.t.events.find((e) => e.kind === 'fragmentBuffered' && e.level === level).start, to);
    assert.ok(Number.isFinite(switchedAt), 'the buffered event says where the new level starts');
    // Play past the point where the new level's media starts.
    await untilTime(page, switchedAt + 1.5);
    await assertAudioMoving(page, 'after the switch');
    const size = (await state(page)).size;
    assert.deepEqual(size, [LEVELS[to].width, LEVELS[to].height], `the new level is showing: ${size}`);
    await page.waitForFunction(() => document.getElementById('video').ended, null, { timeout: 30_000 });
    const end = await state(page);
    assert.ok(end.time >= 11.5, `played ${end.time} s of 12`);
    assert.equal(end.buffered.length, 1, `audio and video buffered without a hole across the switch: ${JSON.stringify(end.buffered)}`);
    const events = await page.evaluate(() => window.t.events);
    assert.deepEqual(events.filter((e) => e.kind === 'error' || e.kind === 'stalled'), [], 'no error or stall');
  });
});

test('a discontinuity (new size, both tracks 1000 s later): sound on both sides, one buffered range', async () => {
  await withPage(async (page) => {
    await page.evaluate(() => window.start('/fixtures/hls/disc/index.m3u8'));
    await untilTime(page, 1);
    await assertAudioMoving(page, 'first clip');
    // The second clip starts at 4 s on the page's timeline.
    await untilTime(page, 5);
    assert.deepEqual((await state(page)).size, [LEVELS[1].width, LEVELS[1].height], 'the second clip is showing');
    await assertAudioMoving(page, 'second clip');
    await page.waitForFunction(() => document.getElementById('video').ended, null, { timeout: 30_000 });
    const end = await state(page);
    assert.ok(end.time >= 7.5, `played ${end.time} s of 8`);
    assert.equal(end.buffered.length, 1, `audio and video buffered without a hole across the discontinuity: ${JSON.stringify(end.buffered)}`);
    const events = await page.evaluate(() => window.t.events);
    assert.deepEqual(events.filter((e) => e.kind === 'error' || e.kind === 'stalled'), [], 'no error or stall');
  });
});
