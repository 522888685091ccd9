// Adds the watch-only player module to the package.json wasm-pack wrote for the full one
// (scripts/build-wasm.sh): `exports` maps `livecast` to the whole SDK and
// `livecast/player` to pkg/player (the Player alone, a fraction of the download), and
// `files` / `sideEffects` list the player's files, the glue and the Workers
// (scripts/pkg-workers.mjs). Also fixes what would break a consumer of the tarball:
// wasm-pack's pkg/player/.gitignore (`*`, which makes npm leave player/snippets/ out
// despite `files`), and the `[Symbol.dispose]` methods of the .d.ts files (TS2550 for a
// consumer whose `lib` predates ES2026's disposables; the methods stay in the JS).
// Idempotent: it writes the same entries whether wasm-pack's files are fresh or were
// already changed by an earlier run.
// Usage: node scripts/pkg-exports.mjs <pkg dir>
import { readFile, writeFile, access, rm } from 'node:fs/promises';
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
pkg.files = union(pkg.files, [...PLAYER_FILES, 'livecast_glue.js', 'workers', 'snippets']);
// livecast.js registers the encode Worker when it runs: a bundler that took it for free of
// side effects could skip it and import the glue directly. The snippets are nested
// (snippets/<crate>-<hash>/js/*.js), which wasm-pack's `./snippets/*` does not match.
pkg.sideEffects = ['./livecast.js', './snippets/**/*.js', './player/snippets/**/*.js', './workers/*.js'];

await rm(join(dir, 'player', '.gitignore'), { force: true });
for (const types of [pkg.types, 'player/livecast_player.d.ts']) {
  const path = join(dir, types);
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace(/^ *\[Symbol\.dispose\]\(\): void;\n/gm, ''));
}

await writeFile(file, JSON.stringify(pkg, null, 2) + '\n');
