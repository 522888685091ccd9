// The demo as a stranger runs it: `bash scripts/demo.sh` with ports that are not the
// defaults, the URL it prints opened in headless Chromium (a fake camera at 20 fps for the
// page's 30 fps setting, and the page's local dev wallet, as the script's hint says), Go
// live, the funding confirmed — then what the page shows at 1280×800: the encoder named
// from the stats, drops that are not the camera's slower rate, live charts drawn, funds
// read from the chain, spend explained, segments stored; Stop; and SIGTERM to the script
// stops every process it started. A wallet that cannot reach its chain says so before any
// stream is created.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, readFile, readdir } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/server.mjs';
import { openBrowser } from '../support/browser.mjs';
import { makeY4m } from '../support/media.mjs';
import { senderInfo } from '../support/chain.mjs';

const ETH = 10n ** 18n;
let dir, demo, output = '', pageUrl, started, browser;

const taken = new Set([8080, 8935, 8545]); // the demo's defaults, and every port handed out

/** A port of 127.0.0.1 that is free now (the OS picks it; the demo binds it a moment later),
 *  never one handed out before nor a default of the demo. */
async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = createServer().once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: p } = server.address();
        server.close(() => resolve(p));
      });
    });
    if (!taken.has(port)) { taken.add(port); return port; }
  }
}

/** True while something accepts connections on 127.0.0.1:`port`. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Every process below `root`: `[{ pid, comm }]`, from /proc. */
async function descendants(root) {
  const parents = new Map();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    parents.set(Number(name), { ppid, comm });
  }
  const found = [];
  const walk = (pid) => {
    for (const [child, { ppid, comm }] of parents) {
      if (ppid === pid) { found.push({ pid: child, comm }); walk(child); }
    }
  };
  walk(root);
  return found;
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

let ports, services;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-demo-live-'));
  await makeY4m(join(dir, 'camera.y4m'), { width: 640, height: 480, fps: 20, seconds: 2 });
  ports = { PORT: await freePort(), TRANSCODER_PORT: await freePort(), ANVIL_PORT: await freePort() };
  started = Date.now();
  demo = spawn('bash', ['scripts/demo.sh'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), LIVECAST_DEMO_DATA: join(dir, 'data'), RUST_LOG: 'warn' },
  });
  demo.stdout.on('data', (c) => { output += c; });
  demo.stderr.on('data', (c) => { output += c; });
  // Nothing to build in the test run (scripts/test.sh built it all): the demo is up in
  // seconds; the bound leaves room for a loaded machine, or a build after a change.
  pageUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 240 s:\n${output}`)), 240_000);
    const onData = () => {
      const m = output.match(/open (http:\/\/\S+) in /);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    demo.stdout.on('data', onData);
    demo.once('exit', (code) => { clearTimeout(timer); reject(new Error(`demo.sh exited with ${code}:\n${output}`)); });
  });
  const built = output.split('\n').filter((l) => /Finished|up to date|Compiling|Done in/.test(l)).map((l) => l.trim());
  console.log(`demo.sh printed its URL after ${((Date.now() - started) / 1000).toFixed(1)} s (${built.join('; ')})`);
  services = await descendants(demo.pid);
  browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
  await browser.page.setViewportSize({ width: 1280, height: 800 });
});

after(async () => {
  await browser?.close();
  // Only if a test failed before the SIGTERM test: stop the script and what it started.
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    demo.kill('SIGTERM');
    await new Promise((ok) => { const t = setTimeout(ok, 15_000); demo.once('exit', () => { clearTimeout(t); ok(); }); });
  }
  for (const { pid } of services ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('demo.sh: the printed URL carries the ports it was given, and the page uses them', async () => {
  const url = new URL(pageUrl);
  assert.equal(url.port, String(ports.PORT));
  assert.equal(url.searchParams.get('rpc'), `http://127.0.0.1:${ports.ANVIL_PORT}`);
  assert.match(url.searchParams.get('broker'), /^0x[0-9a-fA-F]{40}$/);
  const comms = services.map((s) => s.comm);
  for (const name of ['anvil', 'livecast-relay', 'livecast-transc']) {
    assert.ok(comms.some((c) => c.startsWith(name)), `${name} runs under demo.sh: ${comms.join(', ')}`);
  }
  for (const port of Object.values(ports)) assert.ok(await listening(port), `port ${port} is served`);
  const { page } = browser;
  await page.goto(`${pageUrl}&wallet=dev`);
  await page.waitForFunction(() => window.livecastReady && document.getElementById('wallet-choice').value === 'dev');
  assert.equal(await page.inputValue('#dev-rpc'), `http://127.0.0.1:${ports.ANVIL_PORT}`);
  await page.waitForFunction(() => document.getElementById('transcoders').textContent !== '');
  const transcoders = await page.textContent('#transcoders');
  assert.ok(transcoders.includes(`127.0.0.1:${ports.TRANSCODER_PORT}`), transcoders);
});

test('demo page: a wallet that cannot reach its chain says why, before any stream is created', async () => {
  const { page } = browser;
  const closed = await freePort();
  const url = new URL(`${pageUrl}&wallet=dev`);
  url.searchParams.set('rpc', `http://127.0.0.1:${closed}`);
  const creates = [];
  const onRequest = (r) => { if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/streams') creates.push(r.url()); };
  page.on('request', onRequest);
  try {
    await page.goto(url.href);
    await page.waitForFunction(() => window.livecastReady && document.getElementById('wallet-choice').value === 'dev');
    await page.click('#start');
    await page.waitForSelector('#status.error', { timeout: 20_000 });
    const status = await page.textContent('#status');
    assert.ok(status.includes(`cannot reach the chain at http://127.0.0.1:${closed}`), status);
    assert.match(status, /\(WALLET_ERROR\)$/);
    assert.deepEqual(creates, [], 'no stream is created when the wallet check fails');
    assert.equal(await page.isEnabled('#start'), true);
  } finally {
    page.off('request', onRequest);
  }
});

test('demo page: Go live with the dev wallet; encoder, stats, charts, funds from the chain, spend, segments', async () => {
  const { page } = browser;
  const broker = new URL(pageUrl).searchParams.get('broker');
  const rpcUrl = `http://127.0.0.1:${ports.ANVIL_PORT}`;
  await page.goto(`${pageUrl}&wallet=dev`);
  await page.waitForFunction(() => window.livecastReady && document.getElementById('wallet-choice').value === 'dev');
  const goLive = Date.now();
  await page.click('#start');
  await page.waitForSelector('#confirm-funding:not([hidden])', { timeout: 30_000 });
  assert.match(await page.textContent('#funding-text'), /will send 0\.6 ETH to the TicketBroker .*deposit 0\.5 ETH \+ reserve 0\.1 ETH/);
  await page.click('#funding-ok');
  await page.waitForFunction(() => window.broadcaster?.state === 'live', null, { timeout: 60_000 });
  // Live for a while: segments acknowledged, tickets sent, every chart with a few points.
  await page.waitForFunction(() => (window.acked ?? 0) >= 3 && window.lastStats?.ticketsSent >= 1
    && Object.values(window.charts).every((c) => c.values.length >= 2), null, { timeout: 60_000 });
  const liveSeconds = (Date.now() - goLive) / 1000;

  const shown = await page.evaluate(() => {
    const painted = (canvas) => {
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    };
    const box = (id) => document.getElementById(id).getBoundingClientRect().toJSON();
    return {
      stats: window.lastStats,
      encoderName: document.getElementById('encoder-name').textContent,
      header: document.querySelector('header').textContent,
      charts: Object.fromEntries([...document.querySelectorAll('figure canvas')].map((c) => [c.id, { points: Number(c.dataset.points), painted: painted(c), of: c.width * c.height }])),
      funds: document.getElementById('funds').textContent,
      fundsShown: window.fundsShown,
      hint: document.querySelector('#spend .hint').textContent,
      evPaid: document.getElementById('stat-evPaid').textContent,
      fees: document.getElementById('stat-feesDebited').textContent,
      boxes: { stats: box('stats'), spend: box('spend'), start: box('start'), video: box('preview') },
      scrollWidth: document.documentElement.scrollWidth,
      stream: window.streamInfo,
    };
  });
  if (process.env.LIVECAST_SCREENSHOT) await page.screenshot({ path: process.env.LIVECAST_SCREENSHOT });

  // The encoder, named from stats.encoder ("webcodecs (why), …" or "openh264 (why), …").
  const backend = shown.stats.encoder.split(/[\s(,]/)[0];
  assert.ok(['webcodecs', 'openh264'].includes(backend), shown.stats.encoder);
  assert.match(shown.encoderName, backend === 'webcodecs' ? /^WebCodecs/ : /^openh264 in WebAssembly/);
  assert.ok(shown.header.includes(shown.encoderName), shown.header);
  // The camera gives 20 fps for the page's 30: a lower captured rate, not ~10 drops a second.
  assert.ok(shown.stats.capturedFps > 10 && shown.stats.capturedFps < 26, `captured ${shown.stats.capturedFps} fps`);
  assert.ok(shown.stats.droppedFrames < liveSeconds * 20 * 0.25,
    `${shown.stats.droppedFrames} frames dropped in ${liveSeconds.toFixed(0)} s at 20 fps`);
  // Charts: points and pixels on every canvas.
  for (const id of ['chart-kbps', 'chart-fps', 'chart-upload', 'chart-encode', 'chart-fees']) {
    const c = shown.charts[id];
    assert.ok(c && c.points >= 2, `${id}: ${JSON.stringify(c)}`);
    assert.ok(c.painted > c.of * 0.02, `${id} is drawn: ${JSON.stringify(c)}`);
  }
  // Funds as the chain has them for the ticket sender (the session key): the page's reading
  // matches a reading of the test's own, taken right after (retried: a ticket may win between).
  assert.equal(shown.fundsShown.sender, shown.stats.ticketSender);
  let chain;
  for (let i = 0; i < 5; i++) {
    const { fundsShown } = await page.evaluate(() => ({ fundsShown: window.fundsShown }));
    chain = await senderInfo(rpcUrl, broker, shown.stats.ticketSender);
    if (BigInt(fundsShown.deposit) === chain.deposit) break;
    await page.waitForTimeout(1000);
  }
  const latest = await page.evaluate(() => window.fundsShown);
  assert.equal(BigInt(latest.deposit), chain.deposit, 'the deposit shown is the chain\'s');
  assert.equal(BigInt(latest.reserve), chain.reserve);
  // ... and read again while live (every few seconds), not once at connect.
  await page.waitForFunction((n) => window.fundsShown.reads > n, latest.reads, { timeout: 15_000 });
  assert.ok(chain.deposit > 0n && chain.deposit <= 5n * ETH / 10n, `deposit ${chain.deposit}`);
  assert.match(shown.funds, /read from the chain at .*deposit 0\.\d+ ETH, reserve 0\.1 ETH/);
  assert.notEqual(shown.funds.includes('deposit 0 ETH'), true, shown.funds);
  // EV vs fees in one line, beside the numbers.
  assert.match(shown.hint, /EV.*credit.*only when a ticket wins/);
  assert.match(shown.evPaid, /ETH$/);
  assert.match(shown.fees, /\d (ETH|gwei)$/);
  // The first screen at 1280×800 holds the stats, the spend and Go live; nothing overflows.
  assert.ok(shown.boxes.stats.bottom <= 800 && shown.boxes.spend.bottom <= 800, JSON.stringify(shown.boxes));
  assert.ok(shown.boxes.start.bottom <= 800, JSON.stringify(shown.boxes.start));
  assert.ok(shown.scrollWidth <= 1280, `page is ${shown.scrollWidth} px wide`);

  // The watch link, as a person follows it: the stream plays, with its live charts.
  const [watch] = await Promise.all([browser.context.waitForEvent('page'), page.click('#watch-link')]);
  try {
    await watch.setViewportSize({ width: 1280, height: 800 });
    await watch.waitForFunction(() => window.charts && ['latency', 'buffer', 'bandwidth'].every((k) => window.charts[k].values.length >= 2)
      && document.getElementById('video').currentTime > 1, null, { timeout: 45_000 });
    const seen = await watch.evaluate(() => ({
      latency: document.getElementById('latency').textContent,
      scrollWidth: document.documentElement.scrollWidth,
      chartsBottom: document.querySelector('.charts').getBoundingClientRect().bottom,
    }));
    assert.match(seen.latency, /^\d+\.\d s$/);
    assert.ok(seen.scrollWidth <= 1280 && seen.chartsBottom <= 800, JSON.stringify(seen));
  } finally {
    await watch.close();
  }

  await page.click('#stop');
  await page.waitForFunction(() => window.broadcastEnded, null, { timeout: 30_000 });
  const status = await (await fetch(`http://127.0.0.1:${ports.PORT}/api/streams/${shown.stream.id}`)).json();
  assert.ok(status.segments >= 3, `${status.segments} segments stored`);
});

test('demo.sh: SIGTERM stops every process it started', async () => {
  assert.equal(demo.exitCode, null, `demo.sh still runs:\n${output}`);
  const stopAt = Date.now();
  const exited = new Promise((ok) => demo.once('exit', (code, signal) => ok({ code, signal })));
  demo.kill('SIGTERM');
  const result = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok(null), 20_000))]);
  assert.ok(result, `demo.sh did not exit within 20 s of SIGTERM:\n${output}`);
  assert.equal(result.code, 143, `exit ${JSON.stringify(result)}`);
  console.log(`demo.sh stopped ${((Date.now() - stopAt) / 1000).toFixed(1)} s after SIGTERM`);
  const left = services.filter(({ pid }) => alive(pid));
  assert.deepEqual(left, [], 'no process of the demo is left');
  for (const port of Object.values(ports)) assert.equal(await listening(port), false, `port ${port} is closed`);
});
