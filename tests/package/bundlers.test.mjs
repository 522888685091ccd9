// The npm package as dApp developers ship it: the tarball `npm pack` makes of pkg/ (never
// the folder) is installed into an app (tests/package/app: a broadcast page importing
// `livecast`, a watch page importing `livecast/player`), which is then built and served
// four ways: `vite build` + `vite preview`, the Vite dev server, webpack 5, and plain
// <script type="module"> with an import map and no bundler. Each broadcasts from headless
// Chromium's fake camera to one real relay (openh264 in the encode Worker's two
// sub-workers, so every Worker must have been emitted), the relay stores the segments, and
// the watch page plays the ended stream from the relay's absolute playbackUrl
// (`--public-url`): currentTime advances. Needs pkg/ (scripts/build-wasm.sh) and
// target/debug/livecast-relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBrowser } from '../support/browser.mjs';
import { makeY4m } from '../support/media.mjs';
import { startRelay, createStream } from '../support/relay.mjs';
import { repoRoot, startServer } from '../support/server.mjs';
import { packTarball, installTarball } from './tarball.mjs';

let dir, app, relay, browser;
const closers = [];

/** A free port of 127.0.0.1 (the relay must know its own URL for --public-url). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createNetServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The app's two pages; `head` goes before the script (the plain page's import map). */
function page(script, head = '') {
  return `<!doctype html><meta charset="utf-8"><title>${script}</title>${head}
<video muted autoplay playsinline width="320" height="240"></video>
<script type="module" src="./${script}"></script>\n`;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-package-'));
  const tarball = await packTarball(join(dir, 'pack'));
  app = join(dir, 'app');
  await cp(join(repoRoot, 'tests/package/app'), app, { recursive: true });
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'livecast-test-app', private: true, type: 'module' }));
  await installTarball(app, tarball);
  await writeFile(join(app, 'broadcast.html'), page('broadcast.js'));
  await writeFile(join(app, 'watch.html'), page('watch.js'));

  await makeY4m(join(dir, 'camera.y4m'), { width: 320, height: 240, fps: 15, seconds: 2 });
  const port = await freePort();
  relay = await startRelay({ dataDir: join(dir, 'relay'), port, args: ['--open', '--public-url', `http://127.0.0.1:${port}`] });
  browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await browser?.close();
  await relay?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Broadcasts about 4 s from `${base}/broadcast.html`, stops, then plays the stored stream
 * on `${base}/watch.html`; fails with what the pages saw.
 */
async function broadcastAndWatch(base, { broadcastPage = 'broadcast.html', watchPage = 'watch.html' } = {}) {
  const stream = await createStream(relay.url);
  assert.match(stream.playbackUrl, /^http:\/\/127\.0\.0\.1:\d+\/hls\/[\w-]+\/index\.m3u8$/, 'an absolute playbackUrl (--public-url)');
  // One page for every broadcast: a second page of the context gets no frames from the
  // fake camera once another page has used it.
  const { page } = browser;
  const query = new URLSearchParams({ relay: relay.url, id: stream.id, key: stream.streamKey });
  await page.goto(`${base}/${broadcastPage}?${query}`);
  await page.waitForFunction(() => window.app && window.app.state !== 'loading', null, { timeout: 60_000 });
  const started = await page.evaluate(() => ({ state: window.app.state, failure: window.app.failure, errors: window.app.errors }));
  assert.equal(started.state, 'live', JSON.stringify(started));
  await page.waitForFunction(() => window.app.segments.length >= 3 || window.app.errors.some((e) => e.fatal), null, { timeout: 60_000 });
  const live = await page.evaluate(() => ({ segments: window.app.segments, errors: window.app.errors, encoder: window.app.encoder }));
  assert.deepEqual(live.errors, []);
  assert.match(live.encoder ?? '', /^openh264 x2/, 'the encode Worker runs two openh264 sub-workers');
  await page.evaluate(() => window.app.stop());
  const status = await (await fetch(`${relay.url}/api/streams/${stream.id}`)).json();
  assert.ok(status.segments >= 3 && status.ended, `segments stored on the relay: ${JSON.stringify(status)}`);

  const watch = await browser.context.newPage();
  try {
    await watch.goto(`${base}/${watchPage}?${new URLSearchParams({ src: stream.playbackUrl })}`);
    await watch.waitForFunction(() => document.querySelector('video').currentTime >= 1 || window.app?.state === 'failed' || window.app?.errors.some((e) => e.fatal), null, { timeout: 30_000 });
    const t1 = await watch.evaluate(() => document.querySelector('video').currentTime);
    await watch.waitForTimeout(700);
    const seen = await watch.evaluate(() => ({ t: document.querySelector('video').currentTime, app: window.app }));
    assert.equal(seen.app.state, 'playing', JSON.stringify(seen.app));
    assert.deepEqual(seen.app.errors, []);
    assert.ok(t1 >= 1 && seen.t > t1, `currentTime advances (${t1.toFixed(2)} → ${seen.t.toFixed(2)} s)`);
  } finally {
    await watch.close();
  }
}

test('vite build + vite preview', async () => {
  const { build, preview } = await import('vite');
  const outDir = join(dir, 'dist-vite');
  await build({
    root: app,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, rollupOptions: { input: { broadcast: join(app, 'broadcast.html'), watch: join(app, 'watch.html') } } },
  });
  // The Workers were bundled and emitted as chunks of their own, and no raw copy of the
  // package's glue was (one whose ./snippets/ imports would 404).
  const assets = await readdir(join(outDir, 'assets'));
  for (const worker of ['encode-worker-entry', 'openh264-worker-entry']) {
    assert.ok(assets.some((f) => f.startsWith(worker) && f.endsWith('.js')), `${worker} emitted: ${assets.join(' ')}`);
  }
  for (const f of assets.filter((a) => a.endsWith('.js'))) {
    assert.doesNotMatch(await readFile(join(outDir, 'assets', f), 'utf8'), /from\s*["']\.\/snippets\//, `${f} is bundled, not a raw copy`);
  }
  const server = await preview({ root: app, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port: 0 } });
  closers.push(() => new Promise((ok) => server.httpServer.close(ok)));
  await broadcastAndWatch(server.resolvedUrls.local[0].replace(/\/$/, ''));
});

test('vite dev server', async () => {
  const { createServer } = await import('vite');
  const server = await createServer({ root: app, logLevel: 'warn', server: { host: '127.0.0.1', port: 0 } });
  await server.listen();
  closers.push(() => server.close());
  await broadcastAndWatch(server.resolvedUrls.local[0].replace(/\/$/, ''));
});

test('webpack 5', async () => {
  const { default: webpack } = await import('webpack');
  const outDir = join(dir, 'dist-webpack');
  const stats = await new Promise((resolve, reject) => {
    webpack({
      mode: 'production',
      context: app,
      entry: { broadcast: './broadcast.js', watch: './watch.js' },
      output: { path: outDir, clean: true },
      performance: { hints: false },
    }, (error, result) => (error ? reject(error) : resolve(result)));
  });
  assert.ok(!stats.hasErrors(), stats.toString({ all: false, errors: true }));
  // No HTML plugin: the pages load the entry chunks webpack wrote.
  for (const name of ['broadcast', 'watch']) {
    await writeFile(join(outDir, `${name}.html`), page(`${name}.js`).replace(' type="module"', ''));
  }
  const server = await startServer({ mounts: { '/app/': outDir } });
  closers.push(() => server.close());
  await broadcastAndWatch(`${server.url}/app`);
});

test('no bundler: <script type="module"> with an import map', async () => {
  const map = `<script type="importmap">${JSON.stringify({
    imports: { livecast: './node_modules/livecast/livecast.js', 'livecast/player': './node_modules/livecast/player/livecast_player.js' },
  })}</script>`;
  await writeFile(join(app, 'plain-broadcast.html'), page('broadcast.js', map));
  await writeFile(join(app, 'plain-watch.html'), page('watch.js', map));
  const server = await startServer({ mounts: { '/app/': app } });
  closers.push(() => server.close());
  await broadcastAndWatch(`${server.url}/app`, { broadcastPage: 'plain-broadcast.html', watchPage: 'plain-watch.html' });
});
