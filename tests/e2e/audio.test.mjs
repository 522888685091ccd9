// Sound end to end: fake camera and microphone fed a clip made here (a white flash and a
// short tone at the same instants, every 2 s) → Broadcaster (AAC from FDK AAC in wasm, on
// the camera's clock) → a real relay → a real transcoder node (audio copied into every
// rendition) → ffprobe, an A/V offset measured on the HLS output against the browser's own
// MediaRecorder recording of the same devices in the same run, and the Player playing the
// master playlist with its audio decoded. And a stream without a microphone: NO_MICROPHONE,
// the broadcast goes on with the picture.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openBrowser } from '../support/browser.mjs';
import { startRelay, startTranscoder, createStream } from '../support/relay.mjs';
import { makeSyncClip, avOffsets, installReferenceRecorders, referenceOffsets } from '../support/sync.mjs';

const run = promisify(execFile);
const PROFILES = ['P240p30fps16x9', 'P144p30fps16x9'];
const SECONDS = 30;
let dir, relay, node, browser;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-audio-'));
  await makeSyncClip(join(dir, 'clip.y4m'), join(dir, 'clip.wav'));
  node = await startTranscoder({ dataDir: join(dir, 'node') });
  relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--open', '--transcoder', node.url] });
  browser = await openBrowser({ fakeCamera: join(dir, 'clip.y4m'), args: [`--use-file-for-fake-audio-capture=${join(dir, 'clip.wav')}`] });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  await node?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** ffprobe's audio stream line (`codec,profile,rate,channels`) of a local file. */
async function audioStream(path) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name,profile,sample_rate,channels', '-of', 'csv=p=0', path]);
  return stdout.split('\n').filter(Boolean)[0];
}

async function download(url, name) {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  const path = join(dir, name);
  await writeFile(path, Buffer.from(await res.arrayBuffer()));
  return path;
}

test(`${SECONDS} s with sound through relay and transcoder: AAC everywhere, in sync like the browser's own recording, played by the Player`, async () => {
  const { page } = browser;
  await page.goto(`${relay.url}/www/broadcast.html`);
  await page.waitForFunction(() => window.livecastReady);
  await page.evaluate(installReferenceRecorders);
  const stream = await createStream(relay.url);
  await page.evaluate(async ({ id, key, relayUrl, profiles }) => {
    const { Broadcaster } = await import('../pkg/livecast.js');
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 }, audio: true });
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key,
      video: { width: 640, height: 360, fps: 30, bitrateKbps: 1000 },
      segmentSeconds: 2, encoder: 'webcodecs', transcode: { profiles },
    });
    window.av = { b, media, segments: [], errors: [], stats: [] };
    b.on('segment', (s) => window.av.segments.push(s));
    b.on('error', (e) => window.av.errors.push(e));
    b.on('stats', (s) => window.av.stats.push(s));
    // The browser's own recordings of the same devices, the sync reference.
    window.syncReferences.start(media);
    await b.start(media);
  }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url, profiles: PROFILES });
  await page.waitForTimeout(SECONDS * 1000);
  const recordings = await page.evaluate(async () => {
    const files = await window.syncReferences.stop();
    await window.av.b.stop();
    return files;
  });
  const { segments, errors, stats } = await page.evaluate(() => ({ segments: window.av.segments, errors: window.av.errors, stats: window.av.stats }));
  assert.deepEqual(errors, []);
  const last = stats.at(-1);
  assert.match(last.audioEncoder, /^fdk-aac \(/, last.audioEncoder);
  // 48 kHz: 46.9 AAC frames a second (the median report; the first and last windows are partial).
  const fps = stats.map((s) => s.audioFps).sort((a, b) => a - b)[Math.floor(stats.length / 2)];
  assert.ok(fps > 40 && fps < 55, `${fps} AAC frames/s: ${stats.map((s) => s.audioFps.toFixed(1)).join(' ')}`);
  assert.equal(last.audioDroppedFrames, 0);
  assert.ok(segments.length >= SECONDS / 2 - 3, `${segments.length} segments`);

  // ffprobe: AAC-LC 48 kHz stereo in the source and in every rendition of every segment.
  const playlist = await (await fetch(`${relay.url}/hls/${stream.id}/index.m3u8`)).text();
  const seqs = [...playlist.matchAll(/^(\d+)\.ts$/gm)].map((m) => m[1]);
  for (const seq of seqs) {
    for (const variant of ['', ...PROFILES.map((p) => `${p}/`)]) {
      const path = await download(`${relay.url}/hls/${stream.id}/${variant}${seq}.ts`, `${variant.replace('/', '-')}${seq}.ts`);
      assert.equal(await audioStream(path), 'aac,LC,48000,2', `${variant}${seq}.ts`);
    }
  }
  const master = await (await fetch(`${relay.url}/hls/${stream.id}/master.m3u8`)).text();
  assert.equal((master.match(/CODECS="avc1\.[0-9A-Fa-f]{6},mp4a\.40\.2"/g) ?? []).length, 3, master);

  // A/V offset on the HLS output against the browser's MediaRecorder, same devices, same run.
  const { pcm: reference, opus } = await referenceOffsets(dir, recordings);
  const hls = await avOffsets(`${relay.url}/hls/${stream.id}/index.m3u8`);
  const rendition = await avOffsets(`${relay.url}/hls/${stream.id}/${PROFILES[0]}/index.m3u8`);
  console.log(`A/V offset (audio − video): MediaRecorder PCM ${reference.meanMs.toFixed(0)} ms (drift ${reference.driftMs.toFixed(0)} ms, ${reference.offsets.length} flashes), `
    + `MediaRecorder Opus ${opus.meanMs.toFixed(0)} ms, `
    + `HLS source ${hls.meanMs.toFixed(0)} ms (drift ${hls.driftMs.toFixed(0)} ms, ${hls.offsets.length}), ${PROFILES[0]} ${rendition.meanMs.toFixed(0)} ms`);
  assert.ok(reference.offsets.length >= SECONDS / 2 - 4, `MediaRecorder: ${JSON.stringify(reference)}`);
  assert.ok(hls.offsets.length >= SECONDS / 2 - 4, `HLS: ${JSON.stringify(hls)}`);
  // Within 40 ms of the browser's own PCM recording of the same devices (see
  // installReferenceRecorders for why PCM, not Opus, is the reference), and drifting no
  // more than it does: the fake devices' clocks differ, so the recording drifts too.
  assert.ok(Math.abs(hls.meanMs - reference.meanMs) <= 40, `HLS ${hls.meanMs} ms vs MediaRecorder ${reference.meanMs} ms`);
  assert.ok(Math.abs(hls.driftMs) <= Math.abs(reference.driftMs) + 40, `HLS drift ${hls.driftMs} ms vs MediaRecorder ${reference.driftMs} ms`);
  assert.ok(Math.abs(rendition.meanMs - hls.meanMs) <= 20, `rendition ${rendition.meanMs} ms vs source ${hls.meanMs} ms`);

  // The Player plays the master playlist with its audio decoded, and names the codec.
  const watch = await browser.context.newPage();
  try {
    await watch.goto(`${relay.url}/www/broadcast.html`);
    const played = await watch.evaluate(async (src) => {
      const { default: init, Player } = await import('../pkg/livecast.js');
      await init();
      const video = document.createElement('video');
      video.muted = true;
      document.body.append(video);
      const player = new Player(video);
      await player.load(src);
      await video.play();
      const deadline = Date.now() + 30_000;
      while (video.currentTime < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      return { time: video.currentTime, audioBytes: video.webkitAudioDecodedByteCount, stats: player.stats };
    }, `/hls/${stream.id}/master.m3u8`);
    assert.ok(played.time >= 4, `played ${played.time} s`);
    assert.ok(played.audioBytes > 0, `audio decoded: ${played.audioBytes} bytes`);
    assert.equal(played.stats.audioCodec, 'mp4a.40.2');
  } finally {
    await watch.close();
  }
});

test('a stream without an audio track: NO_MICROPHONE, and the picture goes on', async () => {
  const page = await browser.context.newPage();
  try {
    await page.goto(`${relay.url}/www/broadcast.html`);
    await page.waitForFunction(() => window.livecastReady);
    const stream = await createStream(relay.url);
    const result = await page.evaluate(async ({ id, key, relayUrl }) => {
      const { Broadcaster } = await import('../pkg/livecast.js');
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
      const b = new Broadcaster({ relayUrl, streamId: id, streamKey: key, video: { width: 320, height: 240, fps: 30, bitrateKbps: 500 }, segmentSeconds: 1 });
      const errors = [];
      const segments = [];
      b.on('error', (e) => errors.push(e));
      b.on('segment', (s) => segments.push(s));
      await b.start(media);
      await new Promise((r) => setTimeout(r, 4000));
      await b.stop();
      return { errors, segments: segments.length, state: b.state };
    }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url });
    assert.equal(result.errors.length, 1, JSON.stringify(result.errors));
    assert.equal(result.errors[0].code, 'NO_MICROPHONE');
    assert.equal(result.errors[0].fatal, false);
    assert.ok(result.segments >= 2, `${result.segments} segments`);
    assert.equal(result.state, 'ended');
    const path = await download(`${relay.url}/hls/${stream.id}/0.ts`, 'nomic-0.ts');
    assert.equal(await audioStream(path), undefined, 'no audio stream');
  } finally {
    await page.close();
  }
});
