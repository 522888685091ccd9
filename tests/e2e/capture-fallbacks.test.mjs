// The Broadcaster's capture where the browser has no MediaStreamTrackProcessor (Firefox,
// Safari), run in headless Chromium with `window.MediaStreamTrackProcessor` deleted before
// start: camera frames by requestVideoFrameCallback, paced to the configured fps, and the
// microphone through an AudioWorklet posting to the encode worker (AAC in the stored
// segments, audio stats advancing); and the worklet's bounded backlog: while the worker
// reads nothing, blocks stop coming and the ones dropped show as a counted gap; and sound and
// picture in sync like the browser's own MediaRecorder recording of the same devices.
// Needs pkg/ (scripts/build-wasm.sh) and target/debug/livecast-relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openBrowser } from '../support/browser.mjs';
import { makeY4m, decodeErrors } from '../support/media.mjs';
import { startRelay, createStream } from '../support/relay.mjs';
import { repoRoot } from '../support/server.mjs';
import { makeSyncClip, avOffsets, installReferenceRecorders, referenceOffsets } from '../support/sync.mjs';

const run = promisify(execFile);
let dir, relay, browser;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-fallbacks-'));
  // A 60 fps camera for a 30 fps broadcast: pacing has something to do.
  await makeY4m(join(dir, 'camera.y4m'), { width: 640, height: 360, fps: 60, seconds: 3 });
  relay = await startRelay({ dataDir: join(dir, 'relay') });
  browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m'), args: ['--autoplay-policy=no-user-gesture-required'] });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test('no MediaStreamTrackProcessor: a 60 fps camera is paced to fps 30, and the AudioWorklet sound is AAC in every segment', async () => {
  const page = await browser.context.newPage();
  try {
    await page.goto(`${relay.url}/www/broadcast.html`);
    await page.waitForFunction(() => window.livecastReady, null, { timeout: 30_000 });
    const stream = await createStream(relay.url);
    const result = await page.evaluate(async ({ id, key, relayUrl }) => {
      delete window.MediaStreamTrackProcessor;
      const { Broadcaster } = await import('../pkg/livecast.js');
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 60 }, audio: true });
      const b = new Broadcaster({ relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 360, fps: 30, bitrateKbps: 800 }, segmentSeconds: 2, encoder: 'webcodecs' });
      const errors = [], stats = [];
      b.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
      b.on('stats', (s) => stats.push(s));
      const late = (what, ms) => new Promise((_, fail) => setTimeout(() => fail(new Error(`${what} did not settle in ${ms / 1000} s (state ${b.state}, errors ${errors})`)), ms));
      const settings = media.getVideoTracks()[0].getSettings();
      await Promise.race([b.start(media), late('start()', 30_000)]);
      await new Promise((r) => setTimeout(r, 12_000));
      await Promise.race([b.stop(), late('stop()', 30_000)]);
      media.getTracks().forEach((t) => t.stop());
      return { errors, stats, state: b.state, settings };
    }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url });
    assert.deepEqual(result.errors, []);
    assert.equal(result.state, 'ended');
    const stats = result.stats.slice(2, -1);
    const last = result.stats.at(-1);
    const encodedFps = median(stats.map((s) => s.encodedFps));
    const audioFps = median(stats.map((s) => s.audioFps));
    console.log(`no MSTP: ${last.encoder}; camera ${result.settings.frameRate} fps; encodedFps median ${encodedFps.toFixed(1)}; `
      + `audio ${last.audioEncoder}, ${audioFps.toFixed(1)} frames/s, dropped ${last.audioDroppedFrames}`);
    assert.match(last.encoder, /frames via requestVideoFrameCallback$/);
    assert.ok(encodedFps >= 21 && encodedFps <= 33, `encodedFps ${encodedFps} for fps 30 from a ${result.settings.frameRate} fps camera; `
      + `captured/encoded/dropped: ${result.stats.map((s) => `${s.capturedFps.toFixed(0)}/${s.encodedFps.toFixed(0)}/${s.droppedFrames}`).join(' ')}`);
    assert.match(last.audioEncoder, /^(webcodecs|fdk-aac) \(/);
    assert.ok(audioFps > 40 && audioFps < 55, `${audioFps} AAC frames/s (48 kHz: 46.9)`);
    assert.ok(stats.every((s) => s.audioFps > 0), `audio advances in every window: ${stats.map((s) => s.audioFps.toFixed(0)).join(' ')}`);

    const playlistUrl = `${relay.url}/hls/${stream.id}/index.m3u8`;
    const playlist = await (await fetch(playlistUrl)).text();
    const names = [...playlist.matchAll(/^([^#\s].*\.ts)$/gm)].map((m) => m[1]);
    assert.ok(names.length >= 5, `${names.length} segments`);
    for (const name of names) {
      const local = join(dir, `${stream.id}-${name}`);
      await writeFile(local, Buffer.from(await (await fetch(new URL(name, playlistUrl))).arrayBuffer()));
      assert.equal(await decodeErrors(local, null), '', `${name} decodes cleanly`);
      const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name,profile,sample_rate', '-of', 'csv=p=0', local]);
      assert.equal(stdout.split('\n').filter(Boolean)[0], 'aac,LC,48000', `${name}: the AAC stream`);
    }
  } finally {
    await page.close();
  }
});

test("the AudioWorklet's backlog is bounded while the worker reads nothing, and what it dropped is a gap the pipeline counts", async () => {
  const snippets = await readdir(join(repoRoot, 'pkg', 'snippets'));
  const snippet = snippets.find((s) => s.startsWith('livecast-'));
  assert.ok(snippet, `pkg/snippets has the package's snippets: ${snippets}`);
  const page = await browser.context.newPage();
  try {
    await page.goto(`${relay.url}/www/broadcast.html`);
    await page.waitForFunction(() => window.livecastReady, null, { timeout: 30_000 });
    const r = await page.evaluate(async (captureUrl) => {
      delete window.MediaStreamTrackProcessor;
      const { openAudioStream } = await import(captureUrl);
      const { AudioPipeline } = await import('../pkg/workers/audio-encode.js');
      const media = await navigator.mediaDevices.getUserMedia({ audio: true });
      const source = openAudioStream(media.getAudioTracks()[0]);
      const pipeline = new AudioPipeline(null, { sampleRate: 48000, channels: 2, bitrateKbps: 128 }, source.readable, () => {});
      const reader = pipeline.reader;
      // 6 s unread: about 280 blocks at 48 kHz were captured.
      await new Promise((resolve) => setTimeout(resolve, 6000));
      const queued = reader.queue.length;
      const blocks = [];
      const deadline = Date.now() + 5000;
      while (blocks.length < queued + 5 && Date.now() < deadline) {
        const { value, done } = await Promise.race([reader.read(), new Promise((ok) => setTimeout(() => ok({ done: true, timeout: true }), 2000))]);
        if (done) break;
        blocks.push({ timestamp: value.timestamp, frames: value.numberOfFrames, rate: value.sampleRate, channels: value.numberOfChannels });
        pipeline.countGap(value, value.timestamp);
      }
      const dropped = pipeline.stats.dropped;
      await reader.cancel();
      media.getTracks().forEach((t) => t.stop());
      return { kind: source.kind, queued, blocks, dropped };
    }, `/pkg/snippets/${snippet}/js/capture-source.js`);
    assert.equal(r.kind, 'AudioWorklet');
    assert.ok(r.queued > 24 && r.queued <= 96, `${r.queued} blocks waited (the bound is 96, about 2 s)`);
    assert.ok(r.blocks.length >= r.queued + 5, `reading again gets new blocks: ${r.blocks.length}`);
    const { frames, rate } = r.blocks[0];
    assert.equal(frames, 1024);
    const step = (frames * 1e6) / rate;
    const gaps = r.blocks.slice(1).map((b, i) => b.timestamp - r.blocks[i].timestamp);
    // Back to back while queued, then one jump over the blocks the worklet dropped.
    assert.ok(gaps.slice(0, r.queued - 1).every((g) => Math.abs(g - step) < 1), `queued blocks are contiguous: ${gaps.slice(0, r.queued - 1)}`);
    const jump = Math.max(...gaps);
    assert.ok(jump > 2.5e6, `a gap of ${jump} µs where the worklet dropped blocks`);
    assert.ok(Math.abs(r.dropped - (jump - step) / step) < 2, `the pipeline counted ${r.dropped} frames dropped for a ${jump} µs gap`);
  } finally {
    await page.close();
  }
});

test('no MediaStreamTrackProcessor: the AudioWorklet sound and the requestVideoFrameCallback picture are in sync like MediaRecorder', async () => {
  const clip = join(dir, 'clip.y4m'), wav = join(dir, 'clip.wav');
  await makeSyncClip(clip, wav);
  const av = await openBrowser({ fakeCamera: clip, args: [`--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required'] });
  try {
    const { page } = av;
    await page.goto(`${relay.url}/www/broadcast.html`);
    await page.waitForFunction(() => window.livecastReady, null, { timeout: 30_000 });
    await page.evaluate(installReferenceRecorders);
    const stream = await createStream(relay.url);
    const recording = await page.evaluate(async ({ id, key, relayUrl }) => {
      delete window.MediaStreamTrackProcessor;
      const { Broadcaster } = await import('../pkg/livecast.js');
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 }, audio: true });
      const b = new Broadcaster({ relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 360, fps: 30, bitrateKbps: 800 }, segmentSeconds: 2, encoder: 'webcodecs' });
      const errors = [];
      let stats = null;
      b.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
      b.on('stats', (s) => { stats = s; });
      const late = (what, ms) => new Promise((_, fail) => setTimeout(() => fail(new Error(`${what} did not settle in ${ms / 1000} s (state ${b.state}, errors ${errors})`)), ms));
      window.syncReferences.start(media);
      await Promise.race([b.start(media), late('start()', 30_000)]);
      await new Promise((r) => setTimeout(r, 20_000));
      const files = await Promise.race([window.syncReferences.stop(), late('the recorders', 10_000)]);
      const summary = await Promise.race([b.stop(), late('stop()', 30_000)]);
      if (errors.length) throw new Error(errors.join('; '));
      return { files, summary, stats: JSON.stringify(stats) };
    }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url });
    // 20 s of 2 s segments: a broadcast that cut (or uploaded) almost none fails here, with
    // its stats, rather than as an empty playlist in ffmpeg.
    assert.ok(recording.summary.segmentsAcknowledged >= 8, `stop(): ${JSON.stringify(recording.summary)}; last stats ${recording.stats}`);
    const { pcm: reference, opus } = await referenceOffsets(dir, recording.files);
    const hls = await avOffsets(`${relay.url}/hls/${stream.id}/index.m3u8`);
    console.log(`no MSTP, A/V offset (audio − video): MediaRecorder PCM ${reference.meanMs.toFixed(0)} ms (drift ${reference.driftMs.toFixed(0)} ms, ${reference.offsets.length} flashes), Opus ${opus.meanMs.toFixed(0)} ms, `
      + `HLS ${hls.meanMs.toFixed(0)} ms (drift ${hls.driftMs.toFixed(0)} ms, ${hls.offsets.length})`);
    assert.ok(reference.offsets.length >= 6, `MediaRecorder: ${JSON.stringify(reference)}`);
    assert.ok(hls.offsets.length >= 6, `HLS: ${JSON.stringify(hls)}`);
    // The bound audio.test.mjs checks for the MediaStreamTrackProcessor path.
    assert.ok(Math.abs(hls.meanMs - reference.meanMs) <= 40, `HLS ${hls.meanMs} ms vs MediaRecorder ${reference.meanMs} ms`);
    assert.ok(Math.abs(hls.driftMs) <= Math.abs(reference.driftMs) + 40, `HLS drift ${hls.driftMs} ms vs MediaRecorder ${reference.driftMs} ms`);
  } finally {
    await av.close();
  }
});
