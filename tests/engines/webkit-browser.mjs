// WebKitGTK for the engine tests: its own Xvfb (WebKitGTK has no headless mode), Debian's
// WebKitWebDriver on a free port, and MiniBrowser driven over W3C WebDriver by
// selenium-webdriver, with MediaSource, media capture and the mock camera and microphone on.
//
// Every wait here is bounded and fails with what it saw: `evaluate` runs an async function in
// the page under a script timeout, `waitFor` polls a page predicate until a deadline.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { Builder } from 'selenium-webdriver';

export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = process.env.WEBKIT_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts Xvfb on a display it picks itself (-displayfd); resolves to `{ display, stop() }`. */
export function startXvfb() {
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  const output = [];
  child.stderr.on('data', (c) => output.push(c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`Xvfb gave no display in 10 s:\n${output.join('')}`)); }, 10_000);
    let text = '';
    child.stdio[3].on('data', (c) => {
      text += c.toString();
      const m = text.match(/^(\d+)\n/);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        display: `:${m[1]}`,
        stop: () => new Promise((ok) => { if (child.exitCode !== null) return ok(); child.once('exit', ok); child.kill('SIGTERM'); }),
      });
    });
    child.once('error', (e) => { clearTimeout(timer); reject(new Error(`Xvfb could not start (${e.message}); install the xvfb package`)); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`Xvfb exited with ${code}:\n${output.join('')}`)); });
  });
}

/** Starts WebKitWebDriver on a free port with `env`; resolves to `{ url, stop() }`. */
async function startDriver(env) {
  if (!existsSync(WEBKIT_DRIVER)) throw new Error(`${WEBKIT_DRIVER} is missing: install webkit2gtk-driver`);
  const port = await freePort();
  const child = spawn(WEBKIT_DRIVER, [`--port=${port}`, '--host=127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const output = [];
  child.stdout.on('data', (c) => output.push(c.toString()));
  child.stderr.on('data', (c) => output.push(c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${child.exitCode}:\n${output.join('')}`);
    const ok = await fetch(`${url}/status`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`WebKitWebDriver did not answer on ${url} in 15 s:\n${output.join('')}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    output,
    stop: () => new Promise((ok) => { if (child.exitCode !== null) return ok(); child.once('exit', ok); child.kill('SIGTERM'); setTimeout(() => child.kill('SIGKILL'), 3000).unref(); }),
  };
}

/**
 * Opens MiniBrowser under its own Xvfb and WebKitWebDriver. Resolves to
 * `{ driver, display, evaluate, waitFor, goto, close() }`.
 */
export async function openWebKit() {
  if (!existsSync(MINIBROWSER)) throw new Error(`${MINIBROWSER} is missing: install webkit2gtk-driver (MiniBrowser comes with libwebkit2gtk-4.1)`);
  const xvfb = await startXvfb();
  let service;
  try {
    const env = { ...process.env, DISPLAY: xvfb.display };
    // No accessibility bus and no GPU compositing on a headless X server.
    env.NO_AT_BRIDGE = '1';
    env.WEBKIT_DISABLE_COMPOSITING_MODE = '1';
    service = await startDriver(env);
    const caps = {
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': {
        binary: MINIBROWSER,
        args: ['--automation', '--enable-mediasource=true', '--enable-media-stream=true', '--enable-mock-capture-devices=true'],
      },
    };
    const started = Date.now();
    const driver = await new Builder().usingServer(service.url).withCapabilities(caps).build();
    const sessionMs = Date.now() - started;
    await driver.manage().setTimeouts({ script: 60_000, pageLoad: 30_000 });
    const browser = {
      driver,
      display: xvfb.display,
      sessionMs,
      version: (await driver.getCapabilities()).get('browserVersion'),
      goto: (url) => driver.get(url),
      /**
       * Runs `fn(arg)` (may be async) in the page; resolves to its JSON result. A throw in
       * the page rejects with its message; the script timeout bounds it at `timeout` ms.
       */
      async evaluate(fn, arg, { timeout = 60_000 } = {}) {
        await driver.manage().setTimeouts({ script: timeout });
        // The script timeout is the driver's; a web process that stops answering (seen in
        // WebKitGTK) would leave the call pending, so it is bounded here as well.
        let timer;
        const hung = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the page did not answer within ${timeout + 15_000} ms`)), timeout + 15_000);
        });
        const out = await Promise.race([hung, driver.executeAsyncScript(
          `const done = arguments[arguments.length - 1];
           Promise.resolve().then(() => (${fn})(arguments[0]))
             .then((value) => done({ ok: true, value: value === undefined ? null : value }),
                   (e) => done({ ok: false, error: String(e && e.stack || e), code: e && e.code, name: e && e.name }));`,
          arg ?? null,
        )]).finally(() => clearTimeout(timer));
        if (!out.ok) throw Object.assign(new Error(`in the page: ${out.error}`), { code: out.code, name: out.name });
        return out.value;
      },
      /**
       * Polls `fn(arg)` in the page every 100 ms until it returns truthy; then resolves to
       * that value. After `timeout` ms rejects with `what` and the last value of `show`.
       */
      async waitFor(fn, arg, { timeout = 30_000, what = String(fn), show } = {}) {
        const deadline = Date.now() + timeout;
        for (;;) {
          const value = await browser.evaluate(fn, arg, { timeout: 10_000 });
          if (value) return value;
          if (Date.now() > deadline) {
            const seen = show ? await browser.evaluate(show, arg, { timeout: 10_000 }).catch((e) => `(unreadable: ${e.message})`) : value;
            throw new Error(`timed out after ${timeout} ms waiting for ${what}; saw ${JSON.stringify(seen)}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      async close() {
        await driver.quit().catch(() => {});
        await service.stop();
        await xvfb.stop();
      },
    };
    return browser;
  } catch (e) {
    await service?.stop();
    await xvfb.stop();
    throw e;
  }
}
