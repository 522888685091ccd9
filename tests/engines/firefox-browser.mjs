// Launches Firefox ESR headless through puppeteer-core (WebDriver BiDi) with a fresh profile,
// Firefox's fake camera and microphone (no permission prompt) and autoplay allowed, for the
// cross-engine tests in tests/engines/.
import puppeteer from 'puppeteer-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

const PREFS = {
  // getUserMedia gives Firefox's generated picture and tone, without asking.
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Media and AudioContexts may start without a click.
  'media.autoplay.default': 0,
  'media.autoplay.block-webaudio': false,
  'media.autoplay.blocking_policy': 0,
  // The test machine has no sound card (and no sound server): without a device Firefox never
  // starts an AudioContext (it stays "suspended"). Firefox's mock audio backend gives the
  // media graph a device to run on; it runs at about 0.92× real time here, and so do the
  // fake camera's frames and microphone's samples, both on that graph's clock.
  'media.cubeb.force_mock_context': true,
  // A headless test machine on a closed network.
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
};

/**
 * Starts Firefox. Resolves to `{ browser, version, console, newPage(), close() }`;
 * `console` collects every page's console lines and errors (for failure messages).
 */
export async function openFirefox({ prefs = {} } = {}) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'livecast-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    userDataDir,
    protocolTimeout: 120_000,
    extraPrefsFirefox: { ...PREFS, ...prefs },
  });
  const console = [];
  return {
    browser,
    version: await browser.version(),
    console,
    /** A new tab (or, with `{ type: 'window' }`, window) whose console goes to `console`. */
    async newPage(options) {
      const page = await browser.newPage(options);
      page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits (at most `timeout` ms) until `fn(arg)` is truthy in `page`; on timeout throws with
 * `what` and what `state()` (a page-side function) says then.
 */
export async function waitInPage(page, fn, arg, { timeout, what, state = null }) {
  try {
    await page.waitForFunction(fn, { timeout, polling: 200 }, arg);
  } catch (e) {
    const seen = state ? await page.evaluate(state).catch((err) => `(could not read the page: ${err.message})`) : null;
    throw new Error(`${what}: not within ${timeout / 1000} s (${e.message}); the page saw ${JSON.stringify(seen)}`);
  }
}
