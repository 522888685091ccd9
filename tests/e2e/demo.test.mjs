// The demo page as a person uses it: Start, watch the stats, Stop, Download — and the
// downloaded file is a real H.264 stream. Also: a camera failure shows an actionable message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../support/server.mjs';
import { openBrowser } from '../support/browser.mjs';
import { makeY4m, probeH264, decodeErrors } from '../support/media.mjs';

let dir, server;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-demo-'));
  await makeY4m(join(dir, 'camera.y4m'), { width: 640, height: 480, fps: 30, seconds: 2 });
  server = await startServer();
});

after(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('demo: start, live stats, stop, download a decodable .h264', async () => {
  const browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
  try {
    const { page } = browser;
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => window.livecastReady);
    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('stat-frames').textContent.split('/')[0]) >= 45, null, { timeout: 30_000 });
    const stats = await page.$$eval('dd', (dds) => Object.fromEntries(dds.map((d) => [d.id, d.textContent])));
    assert.match(stats['stat-fps'], /^\d+(\.\d)?$/);
    assert.ok(Number(stats['stat-fps']) > 5, `encoded fps ${stats['stat-fps']}`);
    assert.match(stats['stat-kbps'], /kbit\/s/);
    assert.match(stats['stat-encoder'], /openh264 2\.\d+\.\d+ \(wasm\), 640×480/);
    if (process.env.LIVECAST_SCREENSHOT) await page.screenshot({ path: process.env.LIVECAST_SCREENSHOT });
    await page.click('#stop');
    assert.match(await page.textContent('#status'), /Stopped: \d+ frames encoded/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.match(download.suggestedFilename(), /^livecast-.*\.h264$/);
    const file = join(dir, 'download.h264');
    await download.saveAs(file);
    const stream = await probeH264(file);
    assert.equal(stream.profile, 'Constrained Baseline');
    assert.deepEqual([stream.width, stream.height], [640, 480]);
    assert.ok(Number(stream.nb_read_frames) >= 45, `${stream.nb_read_frames} frames`);
    assert.equal(await decodeErrors(file), '');
  } finally {
    await browser.close();
  }
});

test('demo: no camera gives a message a person can act on', async () => {
  const browser = await openBrowser(); // no fake device: getUserMedia finds no camera
  try {
    const { page } = browser;
    await page.goto(`${server.url}/www/index.html`);
    await page.waitForFunction(() => window.livecastReady);
    await page.click('#start');
    await page.waitForSelector('#status.error');
    const message = await page.textContent('#status');
    assert.match(message, /camera/i);
    assert.equal(await page.isEnabled('#start'), true, 'Start works again after the failure');
  } finally {
    await browser.close();
  }
});
