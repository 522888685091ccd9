// The SDK in WebKitGTK (MiniBrowser over WebDriver, under its own Xvfb): WebKit's mock
// camera → Broadcaster (encoder "auto") → a real relay → a real transcoder node; the Player
// on the relay's live master playlist (startup time beside hls.js's in the same browser);
// H264Encoder and its typed errors; Wallet.discover() with an injected EIP-6963 provider.
//
// Run: node --test --test-concurrency=1 tests/engines/   (needs webkit2gtk-driver, xvfb,
// the GStreamer codecs, ffprobe, and the relay and transcoder built by cargo).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openWebKit } from './webkit-browser.mjs';
import { startRelay, startTranscoder, createStream } from '../support/relay.mjs';
import { repoRoot, startServer } from '../support/server.mjs';
import { decodeErrors } from '../support/media.mjs';
import { makeFixtures, startHlsServer } from '../support/hls.mjs';
import { videoPicture } from '../support/picture.mjs';
import { installDevWallet } from '../support/eip1193.mjs';

const run = promisify(execFile);
const FPS = 30;
const PROFILES = ['P360p30fps16x9', 'P240p30fps16x9'];
let dir, node, relay, wk, stream;
/** The segments of the broadcast with sound, as the relay stored them. */
let soundSegments = [];
const measured = {};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-webkit-'));
  node = await startTranscoder({ dataDir: join(dir, 'node') });
  relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--open', '--transcoder', node.url] });
  wk = await openWebKit();
  console.log(`WebKitGTK ${wk.version} on display ${wk.display}; WebDriver session in ${wk.sessionMs} ms`);
});

after(async () => {
  if (Object.keys(measured).length) console.log(`measured: ${JSON.stringify(measured)}`);
  await wk?.close();
  await relay?.stop();
  await node?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Streams of a local media file, per ffprobe: `[{ codec_type, codec_name, profile, ... }]`. */
async function probeStreams(path) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,profile,sample_rate,channels,width,height', '-of', 'json', path]);
  return JSON.parse(stdout).streams;
}

/** Video packet PTS (90 kHz) of a local TS file, in order. */
async function packetPts(path) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts', '-of', 'csv=p=0', path]);
  return stdout.split('\n').map((l) => l.replace(/,$/, '')).filter(Boolean).map(Number);
}

const pageState = () => ({
  state: window.wb?.b.state,
  errors: window.wb?.errors,
  segments: window.wb?.segments.length,
  stats: window.wb?.stats.at(-1),
});

test('Broadcaster ("auto") goes live from the mock camera to a real relay and transcoder node', async () => {
  await wk.goto(`${relay.url}/www/broadcast.html`);
  await wk.waitFor(() => window.livecastReady, null, { what: 'the broadcast page to load the SDK' });
  const res = await fetch(`${relay.url}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  stream = await res.json();
  await wk.evaluate(async ({ id, key, relayUrl, profiles, fps }) => {
    const { Broadcaster } = await import('/pkg/livecast.js');
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key,
      video: { width: 640, height: 480, fps, bitrateKbps: 1500 },
      // Video only: the Player tests below play this stream (see the known gap before them);
      // sound is tested by its own broadcast further down.
      segmentSeconds: 2, encoder: 'auto', transcode: { profiles }, audio: false,
    });
    window.wb = { b, errors: [], segments: [], stats: [] };
    b.on('error', (e) => window.wb.errors.push({ code: e.code, fatal: e.fatal, message: e.message }));
    b.on('segment', (s) => window.wb.segments.push({ seq: s.seq, renditions: s.renditions.length }));
    b.on('stats', (s) => window.wb.stats.push(s));
    await b.start();
  }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url, profiles: PROFILES, fps: FPS }, { timeout: 30_000 });
  await wk.waitFor(() => window.wb.b.state === 'live', null, { what: 'state live', show: pageState });
  // Frames are encoded and uploaded (the first WebKit runs went live and encoded nothing).
  await wk.waitFor(() => window.wb.segments.length >= 3, null, { timeout: 30_000, what: '3 segments acknowledged', show: pageState });
  const s = await wk.evaluate(pageState);
  assert.deepEqual(s.errors.filter((e) => e.fatal), [], 'no fatal error');
  assert.match(s.stats.encoder, /^webcodecs \(WebCodecs supports avc1\.42E01E at 640x480\)/, 'auto picks WebCodecs in WebKit');
  // WebKitGTK never calls requestVideoFrameCallback back for a camera: the stats say the
  // frames come by polling the presented-frame count.
  assert.match(s.stats.encoder, /frames via presented-frame polling/, s.stats.encoder);
  // The ladder: the master playlist lists the source and both renditions.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const master = await fetch(`${relay.url}/hls/${stream.id}/master.m3u8`);
    if (master.ok && ((await master.text()).match(/EXT-X-STREAM-INF/g) ?? []).length === 3) break;
    assert.ok(Date.now() < deadline, 'the relay lists three levels within 60 s');
    await new Promise((ok) => setTimeout(ok, 500));
  }
});

/**
 * Page side: plays `src` on a fresh `#video` with `kind` ("livecast" | "hlsjs"); records
 * startup. `pinTop`: the Player stays on the highest level (the source) from the start.
 */
async function startPlayback({ src, kind, pinTop = false }) {
  document.getElementById('video')?.remove();
  const video = document.createElement('video');
  video.id = 'video';
  video.muted = true;
  video.playsInline = true;
  video.width = 640;
  video.height = 360;
  document.body.prepend(video);
  const p = { kind, events: [], startedAt: performance.now(), firstFrameMs: null, play: null };
  window.playback = p;
  const mark = () => {
    if (p.firstFrameMs === null && video.currentTime > 0 && video.readyState >= 2) p.firstFrameMs = performance.now() - p.startedAt;
    if (p.firstFrameMs === null) requestAnimationFrame(mark);
  };
  requestAnimationFrame(mark);
  video.addEventListener('timeupdate', mark);
  if (kind === 'livecast') {
    const { Player } = await import('/pkg/livecast.js');
    const player = new Player(video);
    p.player = player;
    for (const k of ['manifestLoaded', 'levelSwitched', 'fragmentBuffered', 'error']) player.on(k, (d) => p.events.push({ kind: k, at: performance.now(), level: d.level, fatal: d.fatal, details: d.details, message: d.message }));
    if (pinTop) {
      player.on('manifestLoaded', ({ levels }) => {
        player.currentLevel = levels.reduce((top, l, i) => (l.height > levels[top].height ? i : top), 0);
      });
    }
    player.load(src);
    // The documented usage: play() right after load().
    p.play = 'pending';
    video.play().then(() => { p.play = 'resolved'; }, (e) => { p.play = `${e.name}: ${e.message}`; });
  } else {
    const { default: Hls } = await import('/www/vendor/hls.mjs');
    const hls = new Hls({ lowLatencyMode: false });
    p.hls = hls;
    video.autoplay = true;
    hls.on(Hls.Events.ERROR, (_e, d) => p.events.push({ kind: 'error', fatal: d.fatal, details: d.details }));
    hls.loadSource(src);
    hls.attachMedia(video);
  }
}

const playbackState = () => {
  const v = document.getElementById('video');
  const p = window.playback;
  return {
    time: v?.currentTime, readyState: v?.readyState, paused: v?.paused, error: v?.error?.message, play: p?.play,
    firstFrameMs: p?.firstFrameMs, events: p?.events.slice(-6), latency: p?.player?.latency, height: v?.videoHeight,
  };
};

// Known gap (README, browser support): while this page broadcasts with sound, WebKitGTK
// 2.50 playing a stream with sound in the same page can freeze the picture while
// currentTime advances, end an append in "the SourceBuffer buffered nothing", and stop
// answering WebDriver. So the Player tests on the live broadcast play the video-only one
// above; a live stream with sound made by WebKit's encoders is played further down once
// its broadcast has stopped, and pictures and a level switch on a video-only live ladder.
test('Player plays the relay\'s live master (pinned to the source): play() after load() works, time moves, near the edge', async () => {
  const src = `${relay.url}/hls/${stream.id}/master.m3u8`;
  await wk.evaluate((source) => { window.picture = (0, eval)(`(${source})`); }, String(videoPicture));
  await wk.evaluate(startPlayback, { src, kind: 'livecast', pinTop: true });
  await wk.waitFor(() => window.playback.firstFrameMs !== null, null, { timeout: 30_000, what: 'the first frame', show: playbackState });
  const first = await wk.evaluate(playbackState);
  assert.equal(first.play, 'resolved', 'video.play() right after load() resolves (no AbortError)');
  const t0 = first.time;
  await wk.waitFor((t) => document.getElementById('video').currentTime >= t + 5, t0, { timeout: 20_000, what: 'currentTime to advance 5 s', show: playbackState });
  // Near the live edge: latency from PROGRAM-DATE-TIME, a few segments at most.
  const live = await wk.evaluate(() => ({ latency: window.playback.player.latency, levels: window.playback.player.levels.map((l) => l.height) }));
  assert.deepEqual([...live.levels].sort((x, y) => x - y), [240, 360, 480]);
  assert.ok(live.latency > 0 && live.latency < 12, `latency ${live.latency} s (2 s segments)`);
  const errors = await wk.evaluate(() => window.playback.events.filter((e) => e.kind === 'error'));
  assert.deepEqual(errors.filter((e) => e.fatal), []);
  await wk.evaluate(() => window.playback.player.destroy());
});

test('startup (load → first frame) of the Player beside hls.js on the same live master, in WebKit', async () => {
  const src = `${relay.url}/hls/${stream.id}/master.m3u8`;
  const runs = { livecast: [], hlsjs: [] };
  for (let i = 0; i < 3; i++) {
    for (const kind of ['livecast', 'hlsjs']) {
      await wk.evaluate(startPlayback, { src, kind });
      const ms = await wk.waitFor(() => window.playback.firstFrameMs, null, { timeout: 30_000, what: `${kind}: the first frame`, show: playbackState });
      runs[kind].push(Math.round(ms));
      const fatal = await wk.evaluate(() => window.playback.events.filter((e) => e.fatal));
      assert.deepEqual(fatal, [], `${kind}: no fatal error`);
      await wk.evaluate(() => { window.playback.player?.destroy(); window.playback.hls?.destroy(); });
    }
  }
  measured.startupMs = runs;
  console.log(`startup load → first frame (ms): Livecast Player ${runs.livecast.join(', ')}; hls.js ${runs.hlsjs.join(', ')}`);
  assert.ok(Math.min(...runs.livecast) < 10_000, 'the Player starts within 10 s');
});

test('Player: MediaSource is used when present, ManagedMediaSource where it is absent', async () => {
  const src = `${relay.url}/hls/${stream.id}/master.m3u8`;
  await wk.evaluate(startPlayback, { src, kind: 'livecast' });
  await wk.waitFor(() => window.playback.firstFrameMs !== null, null, { timeout: 30_000, what: 'the first frame (MediaSource)', show: playbackState });
  // (WebKitGTK has no Remote Playback API: the property is the Player's own when set.)
  assert.notEqual(await wk.evaluate(() => document.getElementById('video').disableRemotePlayback), true, 'a plain MediaSource: remote playback left alone');
  await wk.evaluate(() => window.playback.player.destroy());
  const managed = await wk.evaluate(() => typeof window.ManagedMediaSource);
  assert.equal(managed, 'function', 'WebKitGTK has ManagedMediaSource');
  await wk.evaluate(() => { window.savedMediaSource = window.MediaSource; delete window.MediaSource; return typeof window.MediaSource; });
  try {
    assert.equal(await wk.evaluate(() => typeof window.MediaSource), 'undefined');
    await wk.evaluate(startPlayback, { src, kind: 'livecast' });
    await wk.waitFor(() => window.playback.firstFrameMs !== null, null, { timeout: 30_000, what: 'the first frame (ManagedMediaSource)', show: playbackState });
    const t0 = await wk.evaluate(() => document.getElementById('video').currentTime);
    await wk.waitFor((t) => document.getElementById('video').currentTime >= t + 3, t0, { timeout: 20_000, what: 'ManagedMediaSource playback to advance 3 s', show: playbackState });
    const s = await wk.evaluate(() => ({ remote: document.getElementById('video').disableRemotePlayback, src: document.getElementById('video').src, play: window.playback.play }));
    assert.equal(s.remote, true, 'ManagedMediaSource: disableRemotePlayback set');
    assert.match(s.src, /^blob:/);
    assert.equal(s.play, 'resolved');
  } finally {
    await wk.evaluate(() => { window.playback?.player?.destroy(); window.MediaSource = window.savedMediaSource; });
  }
});

test('broadcast stopped: >= 5 ffprobe-clean segments, frames paced to the configured fps, renditions', async () => {
  const t = Date.now();
  const result = await wk.evaluate(() => window.wb.b.stop(), null, { timeout: 40_000 });
  const stopMs = Date.now() - t;
  const s = await wk.evaluate(pageState);
  assert.equal(s.state, 'ended');
  assert.deepEqual(s.errors.filter((e) => e.fatal), []);
  assert.ok(stopMs < 30_000, `stop() settled in ${stopMs} ms`);
  const status = await (await fetch(`${relay.url}/api/streams/${stream.id}`)).json();
  assert.ok(status.segments >= 5, `${status.segments} segments stored`);
  assert.deepEqual(result, { segmentsAcknowledged: status.segments, segmentsNotConfirmed: [] }, 'stop() drained everything');
  const playlistUrl = `${relay.url}/hls/${stream.id}/index.m3u8`;
  const playlist = await (await fetch(playlistUrl)).text();
  const names = [...playlist.matchAll(/^([^#\s].*\.ts)$/gm)].map((m) => m[1]);
  assert.equal(names.length, status.segments);
  // Paced: the encoder's rate near the configured one over the stats windows after warm-up.
  const rates = (await wk.evaluate(() => window.wb.stats.map((x) => x.encodedFps))).slice(2);
  const meanFps = rates.reduce((x, y) => x + y, 0) / rates.length;
  assert.ok(meanFps > FPS * 0.7 && meanFps < FPS * 1.1, `encoded ${meanFps.toFixed(1)} fps for ${FPS} configured (windows ${rates.map((r) => r.toFixed(0)).join(' ')})`);
  let audio = 0;
  const intervals = [];
  for (const name of names) {
    const url = new URL(name, playlistUrl).href;
    assert.equal(await decodeErrors(url, null), '', `segment ${name} decodes cleanly`);
    const local = join(dir, `src-${name}`);
    await writeFile(local, Buffer.from(await (await fetch(url)).arrayBuffer()));
    const streams = await probeStreams(local);
    const video = streams.find((x) => x.codec_type === 'video');
    assert.deepEqual([video.codec_name, video.width, video.height], ['h264', 640, 480], `segment ${name}`);
    if (streams.some((x) => x.codec_type === 'audio' && x.codec_name === 'aac')) audio++;
    const pts = await packetPts(local);
    assert.ok(pts.every((p, i) => i === 0 || p > pts[i - 1]), `segment ${name}: PTS increase`);
    for (let i = 1; i < pts.length; i++) intervals.push(pts[i] - pts[i - 1]);
  }
  intervals.sort((x, y) => x - y);
  const median = intervals[Math.floor(intervals.length / 2)];
  assert.ok(Math.abs(median - 90_000 / FPS) <= 600, `median frame interval ${median} ticks (${(90_000 / median).toFixed(1)} fps) for ${FPS} fps`);
  // The renditions of the ladder decode too.
  assert.equal(await decodeErrors(`${relay.url}/hls/${stream.id}/master.m3u8`, null), '', 'ffmpeg decodes the ladder');
  assert.equal(audio, 0, 'audio: false gives video-only segments');
  measured.broadcast = { segments: status.segments, meanFps: Number(meanFps.toFixed(1)), medianFrameTicks: median, encoder: s.stats.encoder, stopMs };
});

test('sound: a broadcast with the microphone has AAC in every segment (AudioWorklet capture, WebCodecs AAC)', async () => {
  await wk.goto(`${relay.url}/www/broadcast.html`);
  await wk.waitFor(() => window.livecastReady, null, { what: 'the broadcast page to load the SDK' });
  const sound = await createStream(relay.url);
  await wk.evaluate(async ({ id, key, relayUrl }) => {
    const { Broadcaster } = await import('/pkg/livecast.js');
    const b = new Broadcaster({ relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 480, fps: 30, bitrateKbps: 1500 }, segmentSeconds: 2 });
    window.wb = { b, errors: [], segments: [], stats: [] };
    b.on('error', (e) => window.wb.errors.push({ code: e.code, fatal: e.fatal, message: e.message }));
    b.on('segment', (x) => window.wb.segments.push({ seq: x.seq }));
    b.on('stats', (x) => window.wb.stats.push(x));
    await b.start();
  }, { id: sound.id, key: sound.streamKey, relayUrl: relay.url }, { timeout: 30_000 });
  await wk.waitFor(() => window.wb.segments.length >= 9, null, { timeout: 50_000, what: '9 segments acknowledged', show: pageState });
  await wk.evaluate(() => window.wb.b.stop(), null, { timeout: 40_000 });
  const s = await wk.evaluate(pageState);
  assert.deepEqual(s.errors, [], 'no error, NO_MICROPHONE included');
  assert.match(s.stats.audioEncoder ?? '', /^webcodecs/, `stats.audioEncoder: ${s.stats.audioEncoder}`);
  const playlistUrl = `${relay.url}/hls/${sound.id}/index.m3u8`;
  const names = [...(await (await fetch(playlistUrl)).text()).matchAll(/^([^#\s].*\.ts)$/gm)].map((m) => m[1]);
  assert.ok(names.length >= 9, `${names.length} segments stored`);
  let withAac = 0;
  soundSegments = [];
  for (const name of names) {
    const local = join(dir, `sound-${name}`);
    const bytes = Buffer.from(await (await fetch(new URL(name, playlistUrl))).arrayBuffer());
    soundSegments.push(bytes);
    await writeFile(local, bytes);
    const streams = await probeStreams(local);
    if (streams.some((x) => x.codec_type === 'audio' && x.codec_name === 'aac' && x.profile === 'LC')) withAac++;
  }
  measured.sound = { segmentsWithAac: withAac, of: names.length, audioEncoder: s.stats.audioEncoder };
  assert.equal(withAac, names.length, `AAC-LC in every segment: ${withAac} of ${names.length}`);
});

/** Page side: decoded frames so far, and a 64×36 luma thumbnail of the picture. */
const frameAndPicture = () => ({ frames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames, picture: window.picture() });

test('Player plays a live stream with sound made by WebKit\'s encoders: time moves, frames keep coming, the picture changes', async () => {
  assert.ok(soundSegments.length >= 9, 'the sound broadcast above stored its segments');
  // The segments of the broadcast with sound, published again as a live stream at their
  // real pace (no broadcast runs in the page now; see the known gap above).
  const live = await createStream(relay.url);
  const publish = async (seq) => {
    const res = await fetch(`${relay.url}/live/${live.id}/${seq}.ts`, { method: 'PUT', body: soundSegments[seq], headers: { authorization: `Bearer ${live.streamKey}` } });
    assert.equal(res.status, 201, `publish ${seq}: ${res.status} ${await res.text()}`);
  };
  await publish(0);
  await publish(1);
  let next = 2;
  const publishing = setInterval(() => { if (next < soundSegments.length) publish(next++).catch(() => {}); }, 2000);
  try {
    await wk.goto(`${relay.url}/www/broadcast.html`);
    await wk.waitFor(() => window.livecastReady, null, { what: 'the page to load the SDK' });
    await wk.evaluate((source) => { window.picture = (0, eval)(`(${source})`); }, String(videoPicture));
    await wk.evaluate(startPlayback, { src: `${relay.url}/hls/${live.id}/index.m3u8`, kind: 'livecast' });
    await wk.waitFor(() => window.playback.firstFrameMs !== null, null, { timeout: 30_000, what: 'the first frame', show: playbackState });
    const t0 = await wk.evaluate(() => document.getElementById('video').currentTime);
    const samples = [await wk.evaluate(frameAndPicture)];
    for (let k = 0; k < 10; k++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(await wk.evaluate(frameAndPicture));
    }
    const end = await wk.evaluate(playbackState);
    const stats = await wk.evaluate(() => window.playback.player.stats);
    const frames = samples.map((x) => x.frames);
    // A frozen picture with a running clock (what this engine did) shows as a frame count
    // that stands still, and as pictures that stop changing. (The count starts again from
    // 0 when WebKit flushes its pipeline, at a playback rate change: counted from there.)
    // A rate change can still freeze the picture here for a moment: the Player then turns
    // its catch-up off (stats.catchUpOff) and the picture comes back. So: no freeze longer
    // than 3 s, the last 3 s playing, and most of the 10 s.
    const perSecond = frames.slice(1).map((n, k) => (n >= frames[k] ? n - frames[k] : n));
    const shown = `frames decoded in each second: ${perSecond.join(', ')} (counts ${frames.join(', ')})`;
    assert.ok(!perSecond.some((n, k) => k >= 2 && n + perSecond[k - 1] + perSecond[k - 2] === 0), `a freeze of 3 s or more; ${shown}`);
    assert.ok(perSecond.slice(-3).every((n) => n >= 10), `the last 3 s play; ${shown}`);
    const total = perSecond.reduce((a, b) => a + b, 0);
    assert.ok(total >= 150, `${total} frames decoded in 10 s of a 30 fps stream; ${shown}`);
    const changedPixels = samples.slice(1).map((x, k) => x.picture.thumb.filter((y, i) => Math.abs(y - samples[k].picture.thumb[i]) > 8).length);
    assert.ok(changedPixels.filter((n) => n >= 3).length >= 6, `the picture changed in at least 6 of 10 seconds (pixels changed: ${changedPixels.join(', ')})`);
    assert.ok(end.time >= t0 + 8, `currentTime went from ${t0} to ${end.time} in 10 s`);
    assert.equal(stats.audioCodec, 'mp4a.40.2', 'the Player plays the sound too');
    const fatal = await wk.evaluate(() => window.playback.events.filter((e) => e.kind === 'error' && e.fatal));
    assert.deepEqual(fatal, []);
    measured.playerWithSound = { framesPerSecond: perSecond, changedPixels, rate: stats.catchUpOff ? 'catch-up off' : 'catch-up on' };
    await wk.evaluate(() => window.playback.player.destroy());
  } finally {
    clearInterval(publishing);
  }
});

test('Player on a video-only live ladder: pictures change, a forced level switch shows on screen, near the edge', async () => {
  await makeFixtures(join(dir, 'fixtures'), { seconds: 12 });
  const server = await startHlsServer({ fixtures: join(dir, 'fixtures'), live: { window: 8 } });
  try {
    await wk.goto(`${server.url}/player-test.html`);
    await wk.waitFor(() => window.ready, null, { timeout: 30_000, what: 'the test page to load the SDK' });
    await wk.evaluate((source) => { window.picture = (0, eval)(`(${source})`); }, String(videoPicture));
    await wk.evaluate(startPlayback, { src: `${server.url}/live/master.m3u8`, kind: 'livecast' });
    await wk.waitFor(() => window.playback.firstFrameMs !== null, null, { timeout: 30_000, what: 'the first frame', show: playbackState });
    const t0 = await wk.evaluate(() => document.getElementById('video').currentTime);
    await wk.waitFor((t) => document.getElementById('video').currentTime >= t + 3, t0, { timeout: 20_000, what: 'currentTime to advance 3 s', show: playbackState });
    const a = await wk.evaluate(() => window.picture());
    await new Promise((r) => setTimeout(r, 1000));
    const b = await wk.evaluate(() => window.picture());
    for (const pic of [a, b]) {
      assert.ok(pic.width > 0 && pic.height > 0, 'the video has a size');
      assert.ok(pic.std > 10, `picture not flat (luma spread ${pic.std.toFixed(1)})`);
    }
    const diff = a.thumb.reduce((sum, y, i) => sum + Math.abs(y - b.thumb[i]), 0) / a.thumb.length;
    assert.ok(diff > 0.5, `pictures change over a second (mean difference ${diff.toFixed(2)})`);
    await wk.evaluate(() => { window.playback.player.currentLevel = 0; });
    await wk.waitFor(() => window.playback.events.some((e) => e.kind === 'levelSwitched' && e.level === 0) && document.getElementById('video').videoHeight === window.playback.player.levels[0].height,
      null, { timeout: 30_000, what: 'a switch to level 0 on screen', show: playbackState });
    const t1 = await wk.evaluate(() => document.getElementById('video').currentTime);
    await wk.waitFor((t) => document.getElementById('video').currentTime >= t + 2, t1, { timeout: 15_000, what: 'playback to go on after the switch', show: playbackState });
    const end = await wk.evaluate(playbackState);
    assert.ok(end.latency > 0 && end.latency < 12, `near the edge after the switch: ${end.latency} s`);
    const fatal = await wk.evaluate(() => window.playback.events.filter((e) => e.kind === 'error' && e.fatal));
    assert.deepEqual(fatal, []);
    await wk.evaluate(() => window.playback.player.destroy());
  } finally {
    await server.close();
  }
});

test('H264Encoder in WebKit: a decodable Constrained Baseline stream, and the typed errors', async () => {
  await wk.goto(`${relay.url}/www/broadcast.html`);
  await wk.waitFor(() => window.livecastReady, null, { what: 'the page to load the SDK' });
  const r = await wk.evaluate(async () => {
    const { H264Encoder } = await import('/pkg/livecast.js');
    const refused = (f) => { try { f(); return 'accepted'; } catch (e) { return `${e.name} ${e.code}: ${e.message}`; } };
    const W = 320, H = 240;
    const enc = new H264Encoder({ width: W, height: H, fps: 30, bitrateKbps: 800, keyframeIntervalFrames: 30 });
    const chunks = [];
    const keyframes = [];
    const rgba = new Uint8ClampedArray(W * H * 4);
    for (let i = 0; i < 45; i++) {
      for (let p = 0; p < W * H; p++) {
        const x = p % W, y = (p / W) | 0;
        rgba[4 * p] = (x + i * 4) & 255; rgba[4 * p + 1] = (y + i * 2) & 255; rgba[4 * p + 2] = (x ^ y) & 255; rgba[4 * p + 3] = 255;
      }
      const out = enc.encodeRgba(rgba, i * 33_333);
      if (out.keyframe) keyframes.push(i);
      chunks.push(Array.from(out.data));
    }
    const errors = {
      oddWidth: refused(() => new H264Encoder({ width: 321, height: 240 })),
      unknown: refused(() => new H264Encoder({ width: 320, height: 240, colour: 'red' })),
      shortFrame: refused(() => enc.encodeRgba(new Uint8Array(10), 0)),
      notBytes: refused(() => enc.encodeRgba([], 0)),
      badTimestamp: refused(() => enc.encodeRgba(rgba, 'soon')),
    };
    const after = enc.encodeRgba(rgba, 46 * 33_333).data.length;
    enc.free();
    errors.freed = refused(() => enc.encodeRgba(rgba, 0));
    return { bytes: chunks.flat(), keyframes, errors, after };
  }, null, { timeout: 60_000 });
  const file = join(dir, 'webkit.h264');
  await writeFile(file, Buffer.from(r.bytes));
  const [video] = await probeStreams(file);
  assert.deepEqual([video.codec_name, video.profile, video.width, video.height], ['h264', 'Constrained Baseline', 320, 240]);
  assert.equal(await decodeErrors(file), '', 'ffmpeg decodes it cleanly');
  assert.deepEqual(r.keyframes, [0, 30]);
  assert.ok(r.after > 0, 'the encoder survives refused frames');
  assert.match(r.errors.oddWidth, /^RangeError INVALID_CONFIG: .*width/);
  assert.match(r.errors.unknown, /^TypeError INVALID_CONFIG: .*colour/);
  assert.match(r.errors.shortFrame, /^RangeError INVALID_FRAME: .*RGBA data has 10 bytes, expected 307200/);
  assert.match(r.errors.notBytes, /^TypeError INVALID_FRAME: .*Array/);
  assert.match(r.errors.badTimestamp, /^TypeError INVALID_FRAME: .*timestampUs must be a number/);
  assert.match(r.errors.freed, /FREED|null pointer|freed/i);
});

test('Wallet.discover() finds the injected EIP-6963 provider; connect and a user refusal are typed', async () => {
  const r = await wk.evaluate(async (install) => {
    // The test provider (EIP-1193 announced over EIP-6963); its chain is not reached here.
    (0, eval)(`(${install})`)({ rpcUrl: 'http://127.0.0.1:9', account: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', chainId: 31337 });
    const { Wallet } = await import('/pkg/livecast.js');
    const found = await Wallet.discover();
    const info = found.map((f) => ({ name: f.info?.name ?? f.name, rdns: f.info?.rdns ?? f.rdns, isDev: f.provider?.isLivecastDevWallet === true }));
    window.devWallet.rejectNext('eth_requestAccounts');
    const rejected = await Wallet.connect(found[0].provider).then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
    const w = await Wallet.connect(found[0].provider);
    return { info, rejected, address: w.address, chainId: w.chainId };
  }, String(installDevWallet), { timeout: 30_000 });
  assert.equal(r.info.length, 1, JSON.stringify(r.info));
  assert.deepEqual(r.info[0], { name: 'Livecast test wallet (anvil)', rdns: 'dev.livecast.testwallet', isDev: true });
  assert.match(r.rejected, /^[A-Z_]+: /, `a refusal has a code: ${r.rejected}`);
  assert.equal(r.address.toLowerCase(), '0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
  assert.equal(Number(r.chainId), 31337);
});

test('a broken or stalled encode Worker fails start() with ENCODER_FAILED in bounded time in WebKit', async () => {
  // Copies of pkg/ with the worker entry broken, served beside an empty page.
  const ENTRY = 'workers/encode-worker-entry.js';
  const cases = { missing: null, throws: "document.title = 'a worker has no document';\n", silent: 'await new Promise(() => {});\n' };
  const mounts = {};
  for (const [name, body] of Object.entries(cases)) {
    const copy = join(dir, `pkg-${name}`);
    await cp(join(repoRoot, 'pkg'), copy, { recursive: true });
    if (body === null) await rm(join(copy, ENTRY));
    else await writeFile(join(copy, ENTRY), body);
    mounts[`/${name}/`] = copy;
  }
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>worker failures</title><body></body>\n');
  mounts['/page/'] = dir;
  const server = await startServer({ mounts });
  try {
    const streams = await Promise.all(Object.keys(cases).map(() => createStream(relay.url)));
    await wk.goto(`${server.url}/page/index.html`);
    const results = await wk.evaluate(async ({ names, relayUrl, streams }) => {
      const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 240 });
      document.body.append(canvas);
      const g = canvas.getContext('2d');
      setInterval(() => { g.fillStyle = `hsl(${Date.now() % 360}, 60%, 50%)`; g.fillRect(0, 0, 320, 240); }, 40);
      return Object.fromEntries(await Promise.all(names.map(async (name, i) => {
        const { default: init, Broadcaster } = await import(`/${name}/livecast.js`);
        await init();
        const b = new Broadcaster({ relayUrl, streamId: streams[i].id, streamKey: streams[i].streamKey, video: { width: 320, height: 240, fps: 15, bitrateKbps: 300 }, segmentSeconds: 1, audio: false });
        const errors = [];
        b.on('error', (e) => errors.push({ code: e.code, fatal: e.fatal }));
        const t0 = performance.now();
        const outcome = await b.start(canvas.captureStream(15)).then(() => ({ started: true }), (e) => ({ started: false, code: e.code, message: e.message }));
        return [name, { ...outcome, errors, state: b.state, ms: Math.round(performance.now() - t0) }];
      })));
    }, { names: Object.keys(cases), relayUrl: relay.url, streams }, { timeout: 45_000 });
    measured.workerFailures = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.ms]));
    for (const [name, r] of Object.entries(results)) {
      assert.equal(r.started, false, `${name}: ${JSON.stringify(r)}`);
      assert.equal(r.code, 'ENCODER_FAILED', `${name}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.errors, [{ code: 'ENCODER_FAILED', fatal: true }], name);
      assert.equal(r.state, 'ended', name);
    }
    assert.match(results.missing.message, /encode worker's script could not be loaded/);
    assert.match(results.throws.message, /document/);
    assert.match(results.silent.message, /did not start within 20 s/);
    assert.ok(results.missing.ms < 15_000 && results.throws.ms < 15_000, `failed fast: ${JSON.stringify(measured.workerFailures)}`);
    assert.ok(results.silent.ms >= 19_000 && results.silent.ms < 40_000, `the silent worker is given up after its bound (${results.silent.ms} ms)`);
  } finally {
    await server.close();
  }
});

// Last: before the fix this took the page's web process down.
test('WebCodecsEncoder made on the main thread before any other media use does not crash WebKitGTK', async () => {
  await wk.goto(`${relay.url}/www/index.html?fresh`);
  const r = await wk.evaluate(async () => {
    const { default: init, WebCodecsEncoder } = await import('/pkg/livecast.js');
    await init();
    const enc = new WebCodecsEncoder({ width: 640, height: 480, fps: 30, bitrateKbps: 1000 });
    const canvas = Object.assign(document.createElement('canvas'), { width: 640, height: 480 });
    canvas.getContext('2d').fillRect(0, 0, 100, 100);
    const frame = new VideoFrame(canvas, { timestamp: 0 });
    enc.encode(frame, 0, true);
    frame.close();
    await enc.flush();
    const out = enc.takeOutput();
    enc.close();
    return { frames: out.length, keyframe: out[0]?.keyframe, head: Array.from(out[0]?.data.slice(0, 5) ?? []) };
  }, null, { timeout: 20_000 });
  assert.equal(r.frames, 1);
  assert.equal(r.keyframe, true);
  // Annex-B (a start code, then the SPS), whatever layout WebKit's encoder gave.
  assert.deepEqual(r.head, [0, 0, 0, 1, 0x67]);
  assert.equal(await wk.evaluate(() => 1 + 1, null, { timeout: 5000 }), 2, 'the page still answers');
});
