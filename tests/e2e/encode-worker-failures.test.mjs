// Every way the Broadcaster's encode Worker can fail reaches the page as ENCODER_FAILED —
// `start()` rejects (or, once live, a fatal `error` event comes) with the worker's message,
// within a bounded time — never a hang (a bundled app once waited forever in
// "connecting" while its worker died of `document is not defined`). Each case serves a copy
// of pkg/ with one Worker file broken, to headless Chromium, against a real relay; the
// frames come from a canvas. Needs pkg/ (scripts/build-wasm.sh) and target/debug/livecast-relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBrowser } from '../support/browser.mjs';
import { startRelay, createStream } from '../support/relay.mjs';
import { repoRoot, startServer } from '../support/server.mjs';

/** Cases: how the copy of pkg/ is broken. */
const ENTRY = 'workers/encode-worker-entry.js';
const CASES = {
  missing: { remove: ENTRY },
  throws: { write: [ENTRY, "document.title = 'a worker has no document';\n"] },
  'no-wasm': { edit: [ENTRY, (t) => t.replace('await init();', "await init({ module_or_path: new URL('./missing.wasm', import.meta.url) });")] },
  silent: { write: [ENTRY, 'await new Promise(() => {});\n'] },
  'sub-worker-missing': { remove: 'workers/openh264-worker-entry.js' },
};

let dir, relay, server, browser;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-worker-failures-'));
  const mounts = {};
  for (const [name, change] of Object.entries(CASES)) {
    const copy = join(dir, name);
    await cp(join(repoRoot, 'pkg'), copy, { recursive: true });
    if (change.remove) await rm(join(copy, change.remove));
    if (change.write) await writeFile(join(copy, change.write[0]), change.write[1]);
    if (change.edit) {
      const [file, edit] = change.edit;
      const before = await readFile(join(copy, file), 'utf8');
      const after = edit(before);
      assert.notEqual(after, before, `${name}: the edit applies`);
      await writeFile(join(copy, file), after);
    }
    mounts[`/${name}/`] = copy;
  }
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>worker failures</title>\n');
  mounts['/page/'] = dir;
  relay = await startRelay({ dataDir: join(dir, 'relay') });
  server = await startServer({ mounts });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await relay?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Imports `module` in a fresh page, starts a Broadcaster on a canvas stream (no sound: a canvas has no audio track) and reports
 * how start() settled, the error events, the state and the time taken; with `waitForError`,
 * also waits (up to 30 s) for a fatal error event after a successful start.
 */
async function attempt(module, options = {}, { waitForError = false } = {}) {
  const stream = await createStream(relay.url);
  const page = await browser.context.newPage();
  try {
    await page.goto(`${server.url}/page/index.html`);
    return await page.evaluate(async ({ module, relayUrl, id, key, options, waitForError }) => {
      const { default: init, Broadcaster } = await import(module);
      await init();
      const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 240 });
      const g = canvas.getContext('2d');
      setInterval(() => { g.fillStyle = `hsl(${Date.now() % 360}, 60%, 50%)`; g.fillRect(0, 0, 320, 240); }, 40);
      const b = new Broadcaster({ relayUrl, streamId: id, streamKey: key, video: { width: 320, height: 240, fps: 15, bitrateKbps: 300 }, segmentSeconds: 1, audio: false, ...options });
      const errors = [];
      b.on('error', (e) => errors.push({ code: e.code, message: e.message, fatal: e.fatal }));
      const t0 = performance.now();
      const outcome = await b.start(canvas.captureStream(15)).then(() => ({ started: true }), (e) => ({ started: false, code: e.code, message: e.message }));
      if (waitForError) {
        const deadline = Date.now() + 30_000;
        while (!errors.some((e) => e.fatal) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      }
      return { ...outcome, errors, state: b.state, ms: performance.now() - t0 };
    }, { module, relayUrl: relay.url, id: stream.id, key: stream.streamKey, options, waitForError });
  } finally {
    await page.close();
  }
}

/** start() rejected with ENCODER_FAILED matching `message`, said once by a fatal event, state ended. */
function assertEncoderFailed(result, message) {
  assert.equal(result.started, false, JSON.stringify(result));
  assert.equal(result.code, 'ENCODER_FAILED', JSON.stringify(result));
  assert.match(result.message, message);
  assert.deepEqual(result.errors, [{ code: 'ENCODER_FAILED', message: result.message, fatal: true }]);
  assert.equal(result.state, 'ended');
}

test('each broken Worker fails start() with ENCODER_FAILED and its message, never a hang', async () => {
  // Side by side: the silent worker's 20 s bound dominates.
  const [missing, throws, noWasm, silent, glue] = await Promise.all([
    attempt(`/missing/livecast.js`),
    attempt(`/throws/livecast.js`),
    attempt(`/no-wasm/livecast.js`),
    attempt(`/silent/livecast.js`),
    // The glue behind the entry cannot start the Worker: it says where to import from.
    attempt(`/missing/livecast_glue.js`),
  ]);
  assertEncoderFailed(missing, /encode worker's script could not be loaded/);
  assertEncoderFailed(throws, /document is not defined/);
  assertEncoderFailed(noWasm, /could not load the wasm module/);
  assertEncoderFailed(silent, /did not start within 20 s/);
  assert.ok(silent.ms >= 19_000 && silent.ms < 40_000, `the silent worker is given up after its bound (${silent.ms.toFixed(0)} ms)`);
  assertEncoderFailed(glue, /import the Broadcaster from "livecast"/);
  for (const r of [missing, throws, noWasm]) assert.ok(r.ms < 15_000, `failed fast (${r.ms.toFixed(0)} ms)`);
});

test('a missing openh264 sub-worker ends the broadcast with a fatal ENCODER_FAILED event', async () => {
  const result = await attempt('/sub-worker-missing/livecast.js', { encoder: 'openh264', encoderWorkers: 2 }, { waitForError: true });
  assert.equal(result.started, true, JSON.stringify(result));
  const fatal = result.errors.filter((e) => e.fatal);
  assert.equal(fatal.length, 1, JSON.stringify(result.errors));
  assert.equal(fatal[0].code, 'ENCODER_FAILED');
  assert.match(fatal[0].message, /openh264 worker \d failed: its script could not be loaded/);
  assert.equal(result.state, 'ended');
});
