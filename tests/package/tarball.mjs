// The package as npm ships it: `npm pack` of pkg/ into a .tgz, installed into a test app
// from that file, offline (the package has no dependencies; the bundlers come from the
// workspace's own node_modules).
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/server.mjs';

const run = promisify(execFile);
export const PKG = join(repoRoot, 'pkg');

/** `npm pack` of pkg/ into `outDir`; resolves to the tarball's path. */
export async function packTarball(outDir) {
  await mkdir(outDir, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', outDir], { cwd: PKG });
  const [{ filename }] = JSON.parse(stdout);
  return join(outDir, filename);
}

/** `npm pack --dry-run --json` of pkg/: `{ files: [{ path, size }], size, unpackedSize, ... }`. */
export async function listTarball() {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: PKG });
  return JSON.parse(stdout)[0];
}

/** Installs `tarball` into the app at `appDir` (which has a package.json), offline. */
export async function installTarball(appDir, tarball) {
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-save', tarball], { cwd: appDir });
}
