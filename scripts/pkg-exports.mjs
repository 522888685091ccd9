// Adds the watch-only player module to the package.json wasm-pack wrote for the full one
// (scripts/build-wasm.sh): `exports` maps `livecast` to the whole SDK and
// `livecast/player` to pkg/player (the Player alone, a fraction of the download), and
// `files` / `sideEffects` list the player's files. Idempotent: it writes the same entries
// whether wasm-pack's file is fresh or was already changed by an earlier run.
// Usage: node scripts/pkg-exports.mjs <pkg dir>
import { readFile, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'pkg';
const file = join(dir, 'package.json');
const pkg = JSON.parse(await readFile(file, 'utf8'));

const PLAYER_FILES = ['player/livecast_player_bg.wasm', 'player/livecast_player.js', 'player/livecast_player.d.ts', 'player/snippets'];
// Fail here rather than publish a package whose `livecast/player` points at nothing.
for (const f of PLAYER_FILES) {
  await access(join(dir, f)).catch(() => {
    throw new Error(`${join(dir, f)} is missing: build the player module first (scripts/build-wasm.sh)`);
  });
}

pkg.exports = {
  '.': { types: `./${pkg.types}`, default: `./${pkg.module ?? pkg.main}` },
  './player': { types: './player/livecast_player.d.ts', default: './player/livecast_player.js' },
  // Every file stays importable by its path, as before there was an exports map: the .wasm
  // files for bundlers and for pages that pass their URL to init(), `livecast/livecast.js`.
  './*': './*',
};
const union = (list, more) => [...new Set([...(Array.isArray(list) ? list : []), ...more])];
pkg.files = union(pkg.files, PLAYER_FILES);
pkg.sideEffects = union(pkg.sideEffects, ['./player/snippets/*']);

await writeFile(file, JSON.stringify(pkg, null, 2) + '\n');
