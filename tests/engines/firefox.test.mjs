// Firefox ESR end to end (issue 17): headless Firefox through puppeteer-core (WebDriver
// BiDi), its fake camera and microphone. The Broadcaster goes live to a real relay and a
// real transcoder node (frames via requestVideoFrameCallback, sound via an AudioWorklet:
// Firefox has no MediaStreamTrackProcessor), the stored segments are checked by ffprobe and
// ffmpeg; the Player plays the relay's master playlist, a VOD ladder (pictures, a level
// switch, its startup time beside hls.js's in the same browser) and a live ladder (near the
// edge); H264Encoder and its typed errors; Wallet.discover() and the EIP-6963 dev wallet.
// Needs target/debug/livecast-relay, target/release/livecast-transcoder, pkg/ and anvil.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openFirefox, waitInPage } from './firefox-browser.mjs';
import { startRelay, startTranscoder, createStream } from '../support/relay.mjs';
import { startServer } from '../support/server.mjs';
import { makeFixtures, startHlsServer } from '../support/hls.mjs';
import { decodeErrors, probeH264, keyFrameFlags, psnrAgainstRaw } from '../support/media.mjs';
import { videoPicture } from '../support/picture.mjs';
import { startAnvil } from '../support/chain.mjs';
import { installDevWallet } from '../support/eip1193.mjs';

const run = promisify(execFile);
const PROFILES = ['P240p30fps16x9', 'P144p30fps16x9'];
const FPS = 30;
let dir, node, relay, firefox;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-firefox-test-'));
  node = await startTranscoder({ dataDir: join(dir, 'node') });
  relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--open', '--transcoder', node.url] });
  firefox = await openFirefox();
  console.log(`Firefox: ${firefox.version}`);
});

after(async () => {
  await firefox?.close();
  await relay?.stop();
  await node?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** ffprobe's streams of a local file: `[{ codec_type, codec_name, profile, sample_rate, channels }]`. */
async function streams(path) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,profile,sample_rate,channels', '-of', 'json', path]);
  return JSON.parse(stdout).streams;
}

test('Broadcaster → relay → transcoder: >= 5 clean segments with AAC, frames paced to the fps; the Player plays the master playlist live', async () => {
  const page = await firefox.newPage();
  // Its own window: Firefox stops painting a background tab, and so calls no
  // requestVideoFrameCallback there (the broadcast tab would get no frames).
  const watch = await firefox.newPage({ type: 'window' });
  try {
    await page.goto(`${relay.url}/www/broadcast.html`);
    await waitInPage(page, () => window.livecastReady, null, { timeout: 30_000, what: 'the broadcast page loads the package' });
    const stream = await createStream(relay.url);
    await page.evaluate(async ({ id, key, relayUrl, profiles, fps }) => {
      const { Broadcaster } = await import('../pkg/livecast.js');
      const b = new Broadcaster({
        relayUrl, streamId: id, streamKey: key,
        video: { width: 640, height: 360, fps, bitrateKbps: 1000 },
        segmentSeconds: 2, transcode: { profiles },
      });
      window.av = { b, segments: [], errors: [], stats: [] };
      b.on('segment', (s) => window.av.segments.push(s));
      b.on('error', (e) => window.av.errors.push({ code: e.code, message: e.message, fatal: e.fatal }));
      b.on('stats', (s) => window.av.stats.push(s));
      const started = b.start();
      const late = new Promise((_, fail) => setTimeout(() => fail(new Error(`start() did not settle in 30 s (state ${b.state})`)), 30_000));
      await Promise.race([started, late]);
    }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url, profiles: PROFILES, fps: FPS });
    const avState = () => ({ state: window.av.b.state, segments: window.av.segments.length, errors: window.av.errors, last: window.av.stats.at(-1) });

    // The ladder: the master playlist lists the source and both renditions.
    const deadline = Date.now() + 60_000;
    let master = '';
    for (;;) {
      const res = await fetch(`${relay.url}/hls/${stream.id}/master.m3u8`);
      master = res.ok ? await res.text() : '';
      if ((master.match(/EXT-X-STREAM-INF/g) ?? []).length === 3) break;
      assert.ok(Date.now() < deadline, `the relay lists three levels within 60 s: ${master}; broadcaster ${JSON.stringify(await page.evaluate(avState))}`);
      await new Promise((ok) => setTimeout(ok, 1000));
    }
    assert.equal((master.match(/CODECS="avc1\.[0-9A-Fa-f]{6},mp4a\.40\.2"/g) ?? []).length, 3, `sound in every level: ${master}`);

    // The Player, on another tab, plays the live master playlist.
    await watch.goto(`${relay.url}/www/broadcast.html`);
    await waitInPage(watch, () => window.livecastReady, null, { timeout: 30_000, what: 'the watch tab loads the package' });
    await watch.evaluate(async (src) => {
      const { Player } = await import('../pkg/livecast.js');
      const video = document.createElement('video');
      video.id = 'video';
      video.muted = true;
      video.autoplay = true;
      document.body.append(video);
      window.player = new Player(video);
      window.playerErrors = [];
      window.player.on('error', (e) => window.playerErrors.push(`${e.code}: ${e.message}`));
      window.player.load(src);
    }, `/hls/${stream.id}/master.m3u8`);
    const playState = () => ({ time: document.getElementById('video').currentTime, latency: window.player.latency, stats: window.player.stats, errors: window.playerErrors });
    await waitInPage(watch, () => document.getElementById('video').currentTime > 0.5, null, { timeout: 30_000, what: 'the Player starts the live stream', state: playState });
    const t0 = await watch.evaluate(() => document.getElementById('video').currentTime);
    await waitInPage(watch, (t) => document.getElementById('video').currentTime >= t + 5, t0, { timeout: 20_000, what: 'currentTime advances 5 s', state: playState });
    const played = await watch.evaluate(playState);
    assert.ok(played.latency > 0 && played.latency < 15, `near the live edge: ${played.latency} s behind`);
    assert.equal((await watch.evaluate(() => window.player.levels)).length, 3);
    assert.deepEqual(played.errors.filter((e) => /fatal/i.test(e)), []);

    const result = await page.evaluate(async () => {
      const { b } = window.av;
      const late = new Promise((_, fail) => setTimeout(() => fail(new Error(`stop() did not settle in 40 s (state ${b.state})`)), 40_000));
      const live = window.av.stats.length;
      const stopped = await Promise.race([b.stop(), late]);
      return { stopped, state: b.state, errors: window.av.errors, stats: window.av.stats, live };
    });
    assert.equal(result.state, 'ended');
    assert.deepEqual(result.errors, [], 'no error events');
    // The windows while live: the first two calibrate, the last may be partial.
    const stats = result.stats.slice(2, result.live - 1);
    const last = result.stats.at(-1);
    const encodedFps = median(stats.map((s) => s.encodedFps));
    const audioFps = median(stats.map((s) => s.audioFps));
    console.log(`Firefox broadcast: encoder ${last.encoder}; audio ${last.audioEncoder}; encodedFps median ${encodedFps.toFixed(1)} `
      + `(${stats.map((s) => s.encodedFps.toFixed(0)).join(' ')}), audioFps median ${audioFps.toFixed(1)}, audio dropped ${last.audioDroppedFrames}; `
      + `Player latency ${played.latency.toFixed(1)} s`);
    // `auto` picks WebCodecs in Firefox ESR (it encodes avc1 Constrained Baseline); frames
    // come by requestVideoFrameCallback, Firefox having no MediaStreamTrackProcessor.
    assert.match(last.encoder, /^webcodecs \(.*\), 640x360, frames via requestVideoFrameCallback$/);
    // Paced to the configured 30 fps (the unpaced callback path gave about 49).
    assert.ok(encodedFps >= FPS * 0.7 && encodedFps <= FPS * 1.1, `encodedFps ${encodedFps} for fps ${FPS}`);
    // FDK AAC (Firefox's AudioEncoder has no AAC), 1024-sample frames at the context's rate
    // (44.1 kHz: 43 a second of real time; about 40 on the mock audio device, see
    // firefox-browser.mjs).
    assert.match(last.audioEncoder, /^fdk-aac \(/);
    assert.ok(audioFps > 30 && audioFps < 55, `${audioFps} AAC frames/s`);
    assert.ok(last.audioDroppedFrames <= 5, `${last.audioDroppedFrames} audio frames dropped`);

    const status = await (await fetch(`${relay.url}/api/streams/${stream.id}`)).json();
    assert.ok(status.segments >= 5, `${status.segments} segments stored`);
    assert.equal(status.ended, true);
    const playlistUrl = `${relay.url}/hls/${stream.id}/index.m3u8`;
    const playlist = await (await fetch(playlistUrl)).text();
    const names = [...playlist.matchAll(/^([^#\s].*\.ts)$/gm)].map((m) => m[1]);
    assert.equal(names.length, status.segments);
    for (const name of names) {
      const url = new URL(name, playlistUrl).href;
      const local = join(dir, `source-${name}`);
      await writeFile(local, Buffer.from(await (await fetch(url)).arrayBuffer()));
      assert.equal(await decodeErrors(local, null), '', `segment ${name} decodes cleanly`);
      const found = await streams(local);
      assert.ok(found.some((s) => s.codec_type === 'video' && s.codec_name === 'h264'), `${name}: ${JSON.stringify(found)}`);
      const audio = found.find((s) => s.codec_type === 'audio');
      assert.equal(audio?.codec_name, 'aac', `${name}: an AAC stream: ${JSON.stringify(found)}`);
      assert.equal(audio.profile, 'LC');
    }
    assert.equal(await decodeErrors(playlistUrl, null), '', 'the whole HLS stream decodes');
  } catch (e) {
    e.message += `\nFirefox console:\n${firefox.console.slice(-30).join('\n')}`;
    throw e;
  } finally {
    await watch.close();
    await page.close();
  }
});

/** Page-side: starts `which` player on `src` and records load → first frame. */
function startPlayer({ which, src }) {
  const video = document.getElementById('video');
  const m = { loadAt: performance.now(), firstFrameAt: null, events: [] };
  window.m = m;
  video.requestVideoFrameCallback(() => { m.firstFrameAt = performance.now(); });
  if (which === 'livecast') {
    const player = new window.livecast.Player(video);
    window.player = player;
    for (const kind of ['levelSwitched', 'error']) player.on(kind, (d) => m.events.push({ kind, ...d }));
    player.load(src);
  } else {
    const hls = new window.Hls();
    window.hls = hls;
    hls.loadSource(src);
    hls.attachMedia(video);
  }
}

/** A tab of the HLS test server with `which` player loaded (and only it). */
async function playerPage(server, which) {
  const page = await firefox.newPage();
  await page.goto(`${server.url}/player-test.html${which === 'hls.js' ? '?bare' : ''}`);
  await waitInPage(page, () => window.ready, null, { timeout: 30_000, what: 'the player page loads' });
  if (which === 'hls.js') await page.evaluate(async () => { window.Hls = (await import('/node_modules/hls.js/dist/hls.mjs')).default; });
  await page.evaluate(`window.picture = ${videoPicture}`);
  return page;
}

const playerState = () => ({ time: document.getElementById('video').currentTime, events: window.m?.events, stats: window.player?.stats, latency: window.player?.latency });

test('Player: a VOD ladder plays with changing pictures; startup beside hls.js; a live ladder stays near the edge through a forced level switch', async () => {
  await makeFixtures(join(dir, 'fixtures'), { seconds: 12 });
  const server = await startHlsServer({ fixtures: join(dir, 'fixtures') });
  try {
    // Startup, load → first frame, 3 runs each, alternating, same Firefox.
    const startup = { livecast: [], 'hls.js': [] };
    for (let i = 0; i < 3; i++) {
      for (const which of ['livecast', 'hls.js']) {
        const page = await playerPage(server, which);
        try {
          await page.evaluate(startPlayer, { which, src: '/hls/ladder/master.m3u8' });
          await waitInPage(page, () => window.m.firstFrameAt !== null, null, { timeout: 30_000, what: `${which}: a first frame`, state: playerState });
          startup[which].push(await page.evaluate(() => window.m.firstFrameAt - window.m.loadAt));
        } finally {
          await page.close();
        }
      }
    }
    const ours = median(startup.livecast), theirs = median(startup['hls.js']);
    console.log(`Firefox startup (VOD ladder, load → first frame, median of 3): Livecast Player ${ours.toFixed(0)} ms `
      + `(${startup.livecast.map((t) => t.toFixed(0)).join(', ')}), hls.js ${theirs.toFixed(0)} ms (${startup['hls.js'].map((t) => t.toFixed(0)).join(', ')})`);
    assert.ok(ours < 10_000, `startup ${ours} ms`);

    // Plays 5 s, with real and changing pictures.
    const page = await playerPage(server, 'livecast');
    try {
      await page.evaluate(startPlayer, { which: 'livecast', src: '/hls/ladder/master.m3u8' });
      await waitInPage(page, () => document.getElementById('video').currentTime >= 1, null, { timeout: 30_000, what: 'playback starts', state: playerState });
      const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
      const a = await page.evaluate(() => window.picture());
      await waitInPage(page, (t) => document.getElementById('video').currentTime >= t + 1, t0, { timeout: 15_000, what: 'a second more', state: playerState });
      const b = await page.evaluate(() => window.picture());
      for (const p of [a, b]) {
        assert.ok(p.width > 0 && p.mean > 20 && p.std > 15, `a real picture: ${JSON.stringify({ ...p, thumb: undefined })}`);
      }
      const diff = a.thumb.reduce((s, y, i) => s + Math.abs(y - b.thumb[i]), 0) / a.thumb.length;
      assert.ok(diff > 1, `pictures change over a second (mean difference ${diff.toFixed(2)})`);
      await waitInPage(page, (t) => document.getElementById('video').currentTime >= t + 5, t0, { timeout: 20_000, what: 'currentTime advances 5 s', state: playerState });
      const levels = await page.evaluate(() => window.player.levels.length);
      assert.equal(levels, 3);
      const errors = await page.evaluate(() => window.m.events.filter((e) => e.kind === 'error'));
      assert.deepEqual(errors, [], JSON.stringify(errors));
    } finally {
      await page.close();
    }
  } finally {
    await server.close();
  }

  // A live ladder (1 s segments): playing, the player stays near the edge.
  const live = await startHlsServer({ fixtures: join(dir, 'fixtures'), live: { window: 8 } });
  try {
    const page = await playerPage(live, 'livecast');
    try {
      await page.evaluate(startPlayer, { which: 'livecast', src: '/live/master.m3u8' });
      await waitInPage(page, () => typeof window.player.latency === 'number' && document.getElementById('video').currentTime > 0, null, { timeout: 30_000, what: 'live playback starts', state: playerState });
      const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
      await waitInPage(page, (t) => document.getElementById('video').currentTime >= t + 6, t0, { timeout: 20_000, what: 'live currentTime advances 6 s', state: playerState });
      const latency = await page.evaluate(() => window.player.latency);
      assert.ok(latency > 0.5 && latency < 6, `${latency} s behind the live edge (1 s segments)`);
      assert.equal(await page.evaluate(() => window.player.levels.length), 3);
      // A forced level: a levelSwitched event to it after it was asked for, and currentLevel says so.
      const target = await page.evaluate(() => (window.player.currentLevel === 1 ? 0 : 1));
      const asked = await page.evaluate((l) => { window.player.currentLevel = l; return window.m.events.length; }, target);
      await waitInPage(page, ({ l, asked }) => window.m.events.slice(asked).some((e) => e.kind === 'levelSwitched' && e.level === l) && window.player.currentLevel === l,
        { l: target, asked }, { timeout: 15_000, what: `a switch to level ${target}`, state: playerState });
      const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
      await waitInPage(page, (t) => document.getElementById('video').currentTime >= t + 1, t1, { timeout: 15_000, what: 'playback goes on after the switch', state: playerState });
      const after = await page.evaluate(() => window.player.latency);
      assert.ok(after > 0.5 && after < 6, `${after} s behind the live edge after the switch`);
      const errors = await page.evaluate(() => window.m.events.filter((e) => e.kind === 'error'));
      assert.deepEqual(errors, [], JSON.stringify(errors));
    } finally {
      await page.close();
    }
  } finally {
    await live.close();
  }
});

test('H264Encoder: canvas frames through encodeRgba and encodeI420 make clean Constrained Baseline at >= 35 dB; typed errors as in Chromium', async () => {
  const W = 320, H = 240, N = 30;
  const server = await startServer({ uploadDir: join(dir, 'uploads') });
  const page = await firefox.newPage();
  try {
    await page.goto(`${server.url}/www/broadcast.html`);
    await waitInPage(page, () => window.livecastReady, null, { timeout: 30_000, what: 'the page loads the package' });
    const r = await page.evaluate(async ({ W, H, N }) => {
      const { default: init, H264Encoder } = await import('../pkg/livecast.js');
      await init();
      const canvas = new OffscreenCanvas(W, H);
      const g = canvas.getContext('2d', { willReadFrequently: true });
      const frame = (i) => {
        const grad = g.createLinearGradient(0, 0, W, H);
        grad.addColorStop(0, `hsl(${i * 12}, 80%, 50%)`);
        grad.addColorStop(1, `hsl(${i * 12 + 180}, 80%, 40%)`);
        g.fillStyle = grad;
        g.fillRect(0, 0, W, H);
        g.fillStyle = '#fff';
        g.fillRect(20 + i * 6, 60, 60, 60);
        g.fillStyle = '#000';
        g.font = '40px sans-serif';
        g.fillText(String(i), 200, 180);
        return g.getImageData(0, 0, W, H).data;
      };
      const upload = async (name, parts) => {
        const res = await fetch(`/upload/${name}`, { method: 'PUT', body: new Blob(parts) });
        if (!res.ok) throw new Error(`upload ${name}: ${res.status}`);
      };
      const enc = new H264Encoder({ width: W, height: H, fps: 30, bitrateKbps: 1500, keyframeIntervalFrames: 10 });
      const inputs = [], outputs = [];
      for (let i = 0; i < N; i++) {
        const rgba = frame(i);
        inputs.push(new Uint8Array(rgba));
        outputs.push(enc.encodeRgba(rgba, i * 33_333).data);
      }
      await upload('rgba-input.rgba', inputs);
      await upload('rgba-output.h264', outputs);
      // I420: the same kind of frames, converted to planes here (BT.601 limited range).
      const i420In = [], i420Out = [];
      for (let i = 0; i < N; i++) {
        const d = frame(i);
        const y = new Uint8Array(W * H), u = new Uint8Array(W * H / 4), v = new Uint8Array(W * H / 4);
        for (let p = 0; p < W * H; p++) y[p] = Math.round(16 + (65.481 * d[4 * p] + 128.553 * d[4 * p + 1] + 24.966 * d[4 * p + 2]) / 255);
        for (let row = 0; row < H / 2; row++) {
          for (let col = 0; col < W / 2; col++) {
            const p = 4 * (2 * row * W + 2 * col);
            const [R, G, B] = [d[p], d[p + 1], d[p + 2]];
            u[row * W / 2 + col] = Math.round(128 + (-37.797 * R - 74.203 * G + 112 * B) / 255);
            v[row * W / 2 + col] = Math.round(128 + (112 * R - 93.786 * G - 18.214 * B) / 255);
          }
        }
        i420In.push(y, u, v);
        i420Out.push(enc.encodeI420(y, u, v, (N + i) * 33_333).data);
      }
      await upload('i420-input.yuv', i420In);
      await upload('i420-output.h264', i420Out);
      const caught = (f) => { try { f(); return 'no error'; } catch (e) { return `${e.constructor.name} ${e.code}: ${e.message}`; } };
      const refusals = [
        ['null', null], ['no width', { height: 480 }], ['odd width', { width: 641, height: 480 }],
        ['bitrate string', { width: 640, height: 480, bitrateKbps: '2000' }], ['fps 0', { width: 640, height: 480, fps: 0 }],
        ['unknown option', { width: 640, height: 480, bitrate: 2000 }],
      ].map(([name, o]) => [name, caught(() => new H264Encoder(o))]);
      const small = new H264Encoder({ width: 64, height: 48 });
      const frames = [
        caught(() => small.encodeRgba(new Uint8Array(10), 0)),
        caught(() => small.encodeRgba([], 0)),
        caught(() => small.encodeRgba(new Uint8Array(64 * 48 * 4), 'soon')),
        caught(() => small.encodeRgba(new Uint8Array(64 * 48 * 4), -5)),
      ];
      small.free();
      const freed = caught(() => small.encodeRgba(new Uint8Array(64 * 48 * 4), 0));
      enc.free();
      return { refusals, frames, freed, version: H264Encoder.codecVersion() };
    }, { W, H, N });

    for (const [kind, input, refFormat] of [['rgba', 'rgba-input.rgba', 'rgba'], ['i420', 'i420-input.yuv', 'yuv420p']]) {
      const h264 = join(dir, 'uploads', `${kind}-output.h264`);
      const stream = await probeH264(h264);
      assert.equal(stream.profile, 'Constrained Baseline', kind);
      assert.deepEqual([stream.width, stream.height], [W, H]);
      assert.equal(Number(stream.nb_read_frames), N, kind);
      assert.equal(await decodeErrors(h264), '', `${kind}: ffmpeg decodes cleanly`);
      const flags = await keyFrameFlags(h264);
      assert.ok(flags.every((f) => f.type !== 'B'), 'no B-frames');
      assert.ok(flags[0].key, `${kind}: starts with an IDR`);
      const psnr = await psnrAgainstRaw(h264, join(dir, 'uploads', input), { width: W, height: H, refFormat });
      console.log(`Firefox H264Encoder ${kind}: PSNR ${psnr.average.toFixed(2)} dB, openh264 ${r.version}`);
      assert.ok(psnr.average >= 35, `${kind}: PSNR ${psnr.average} dB`);
    }
    const rgbaFlags = await keyFrameFlags(join(dir, 'uploads', 'rgba-output.h264'));
    assert.deepEqual(rgbaFlags.map((f, i) => [i, f.key]).filter(([, k]) => k).map(([i]) => i), [0, 10, 20], 'an IDR every 10 frames');
    const expected = {
      'null': /^TypeError INVALID_CONFIG: .*options must be an object/,
      'no width': /^TypeError INVALID_CONFIG: .*`width` is required/,
      'odd width': /^RangeError INVALID_CONFIG: .*`width` must be even/,
      'bitrate string': /^TypeError INVALID_CONFIG: .*`bitrateKbps` must be a number, got string/,
      'fps 0': /^RangeError INVALID_CONFIG: .*`fps` must be within 1..=120/,
      'unknown option': /^TypeError INVALID_CONFIG: .*unknown option `bitrate`/,
    };
    for (const [name, got] of r.refusals) assert.match(got, expected[name], name);
    assert.match(r.frames[0], /^RangeError INVALID_FRAME: .*RGBA data has 10 bytes, expected 12288/);
    assert.match(r.frames[1], /^TypeError INVALID_FRAME: .*got an Array/);
    assert.match(r.frames[2], /^TypeError INVALID_FRAME: .*timestampUs must be a number/);
    assert.match(r.frames[3], /^RangeError INVALID_FRAME: .*timestampUs/);
    assert.match(r.freed, /^Error FREED: .*this H264Encoder was freed/);
  } finally {
    await page.close();
    await server.close();
  }
});

test('Wallet.discover() finds the injected EIP-1193 / EIP-6963 wallet, and connects to its anvil chain', async () => {
  const anvil = await startAnvil();
  const server = await startServer();
  const page = await firefox.newPage();
  try {
    const account = anvil.accounts[0];
    await page.evaluateOnNewDocument(installDevWallet, { rpcUrl: anvil.url, account, chainId: 31337 });
    await page.goto(`${server.url}/www/broadcast.html`);
    await waitInPage(page, () => window.livecastReady && window.devWallet, null, { timeout: 30_000, what: 'the page loads with the dev wallet' });
    const r = await page.evaluate(async () => {
      const { Wallet } = await import('../pkg/livecast.js');
      const late = (what) => new Promise((_, fail) => setTimeout(() => fail(new Error(`${what} did not settle in 15 s`)), 15_000));
      const found = await Promise.race([Wallet.discover(), late('Wallet.discover()')]);
      window.devWallet.rejectNext('eth_requestAccounts');
      const rejected = await Wallet.connect(found[0].provider).then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
      const w = await Promise.race([Wallet.connect(found[0].provider), late('Wallet.connect()')]);
      return { found: found.map((f) => f.info), address: w.address, chainId: w.chainId, rejected };
    });
    assert.equal(r.found.length, 1, JSON.stringify(r.found));
    assert.equal(r.found[0].rdns, 'dev.livecast.testwallet');
    assert.equal(r.address.toLowerCase(), account.toLowerCase());
    assert.equal(r.chainId, 31337);
    assert.match(r.rejected, /^USER_REJECTED: eth_requestAccounts: the user rejected it/);
  } finally {
    await page.close();
    await server.close();
    await anvil.stop();
  }
});
