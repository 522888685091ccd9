// The watch-only module (pkg/player, the package's `livecast/player` entry) in headless
// Chromium: loaded alone on a page, it plays the ffmpeg-made VOD ladder with real pictures,
// exports the Player and nothing of the broadcast side, and is much smaller than the full
// module. Needs pkg/ built by scripts/build-wasm.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/server.mjs';
import { openBrowser } from '../support/browser.mjs';
import { makeFixtures, startHlsServer } from '../support/hls.mjs';
import { videoPicture } from '../support/picture.mjs';

const PLAYER_JS = '/pkg/player/livecast_player.js';
let dir, browser, server;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-player-module-'));
  await makeFixtures(join(dir, 'fixtures'), { seconds: 30 });
  server = await startHlsServer({ fixtures: join(dir, 'fixtures') });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A page with nothing loaded (`?bare`), then the player module alone. */
async function playerModulePage() {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/player-test.html?bare`);
  await page.waitForFunction(() => window.ready, null, { timeout: 30_000 });
  const loaded = await page.evaluate(async (url) => {
    const mod = await import(url);
    const wasm = await mod.default();
    window.livecast = mod;
    return {
      exports: Object.keys(mod).sort(),
      wasmExports: Object.keys(wasm),
      scripts: performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname),
    };
  }, PLAYER_JS);
  return { page, loaded };
}

test('the player module alone plays the VOD ladder with real pictures', async () => {
  const { page, loaded } = await playerModulePage();
  try {
    // Only the player module and its own files came down: not the full package.
    assert.ok(loaded.scripts.some((p) => p === '/pkg/player/livecast_player_bg.wasm'), loaded.scripts.join(' '));
    assert.ok(!loaded.scripts.some((p) => p.startsWith('/pkg/') && !p.startsWith('/pkg/player/')), loaded.scripts.join(' '));

    await page.evaluate(() => {
      const video = document.getElementById('video');
      const player = new window.livecast.Player(video);
      window.errors = [];
      player.on('error', (e) => window.errors.push(e));
      window.player = player;
      player.load('/hls/ladder/master.m3u8');
    });
    await page.waitForFunction(() => document.getElementById('video').currentTime >= 2, null, { timeout: 30_000 });
    const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
    await page.waitForTimeout(1000);
    const t2 = await page.evaluate(() => document.getElementById('video').currentTime);
    assert.ok(t2 > t1 + 0.5, `currentTime advances (${t1.toFixed(2)} → ${t2.toFixed(2)} s)`);

    const p = await page.evaluate(videoPicture);
    assert.ok(p.width > 0 && p.height > 0, 'the video has a size');
    assert.ok(p.mean > 20, `picture not black (mean luma ${p.mean.toFixed(1)})`);
    assert.ok(p.std > 15, `picture not flat (luma spread ${p.std.toFixed(1)})`);
    const levels = await page.evaluate(() => window.player.levels.map((l) => l.name));
    assert.deepEqual(levels, ['240p', '360p', '720p']);
    assert.deepEqual(await page.evaluate(() => window.errors), []);
    await page.evaluate(() => window.player.destroy());
  } finally {
    await page.close();
  }
});

test('the player module exports the Player and nothing of the broadcast side', async () => {
  const { page, loaded } = await playerModulePage();
  try {
    assert.ok(loaded.exports.includes('Player'));
    for (const name of ['Broadcaster', 'H264Encoder', 'Wallet', 'TsSegmenter']) {
      assert.ok(!loaded.exports.includes(name), `${name} is not exported: ${loaded.exports.join(', ')}`);
    }
    // Nor are their methods in the wasm (openh264 itself: see the next test).
    const broadcast = loaded.wasmExports.filter((e) => /^(broadcaster|h264encoder|wallet|tssegmenter)_/.test(e));
    assert.deepEqual(broadcast, []);
    assert.ok(loaded.wasmExports.some((e) => e.startsWith('player_')), loaded.wasmExports.join(', '));
  } finally {
    await page.close();
  }
});

test('the package exports the player module as livecast/player, much smaller than the full one', async (t) => {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'pkg/package.json'), 'utf8'));
  assert.equal(pkg.exports['./player'].default, `.${PLAYER_JS.slice('/pkg'.length)}`);
  assert.equal(pkg.exports['./player'].types, './player/livecast_player.d.ts');
  assert.equal(pkg.exports['.'].default, './livecast.js');
  assert.ok(pkg.files.includes('player/livecast_player_bg.wasm') && pkg.files.includes('player/snippets'));
  // Its snippets are the Player's and the shared event helpers: no encode worker, no camera
  // frame source.
  const snippets = await readdir(join(repoRoot, 'pkg/player/snippets'), { recursive: true });
  assert.deepEqual(snippets.filter((f) => f.endsWith('.js')).map((f) => f.split('/').pop()).sort(), ['events.js', 'player-mse.js']);

  const fullWasm = await readFile(join(repoRoot, 'pkg/livecast_bg.wasm'));
  const playerWasm = await readFile(join(repoRoot, 'pkg/player/livecast_player_bg.wasm'));
  // openh264's encoder class names its log messages: in the full module, not in the player's.
  const OPENH264 = 'CWelsH264SVCEncoder';
  assert.ok(fullWasm.includes(OPENH264) && !playerWasm.includes(OPENH264), 'openh264 is linked into the full module only');

  const full = gzipSync(fullWasm, { level: 9 }).length;
  const player = gzipSync(playerWasm, { level: 9 }).length;
  t.diagnostic(`gzipped wasm: full ${(full / 1024).toFixed(0)} KiB, player ${(player / 1024).toFixed(0)} KiB`);
  assert.ok(player < full, `player module ${player} B < full module ${full} B (gzipped)`);
  // openh264, the Broadcaster, the Wallet and signing are most of the full module: a player
  // module over half its size has pulled some of them back in.
  assert.ok(player < full / 2, `player module ${player} B under half the full module's ${full} B (gzipped)`);
});
