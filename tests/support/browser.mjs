// Launches Debian's headless Chromium through playwright-core, with the flags that work as
// root on a closed network, and optionally a fake camera fed from a .y4m file.
import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const BASE_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Opens a browser context. `fakeCamera`: a .y4m path for the fake capture device;
 * `args`: more Chromium flags.
 * Resolves to `{ context, page, close() }`.
 */
export async function openBrowser({ fakeCamera, args: extraArgs = [] } = {}) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'livecast-chromium-'));
  const args = [...BASE_ARGS, ...extraArgs];
  if (fakeCamera) {
    args.push(
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${fakeCamera}`,
    );
  }
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const console = [];
  page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
  return {
    context,
    page,
    console,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
