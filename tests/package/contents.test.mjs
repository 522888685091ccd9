// What `npm pack` puts in the tarball of pkg/ (`npm pack --dry-run --json`): every file
// each entry of package.json's `exports` reaches — its imports, the Workers and the .wasm
// it names with `new URL(..., import.meta.url)`, its .d.ts — must be in it (wasm-pack's
// pkg/player/.gitignore once made npm leave player/snippets/ out); `sideEffects` must
// match the files that have them, nested snippets included, as webpack matches them; and
// the gzipped size of each entry's download is printed and must be what README.md states.
// Needs pkg/ built by scripts/build-wasm.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import { repoRoot } from '../support/server.mjs';
import { PKG, listTarball } from './tarball.mjs';

const require = createRequire(import.meta.url);
const pkg = JSON.parse(await readFile(join(PKG, 'package.json'), 'utf8'));
const listing = await listTarball();
const packed = new Set(listing.files.map((f) => f.path));

/** Relative references of a JS file: static and dynamic imports, `new URL('…', import.meta.url)`. */
function references(text) {
  const found = new Set();
  for (const re of [/\bfrom\s*'(\.[^']+)'/g, /\bfrom\s*"(\.[^"]+)"/g, /\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g,
    /new URL\(\s*['"]((?:\.{1,2}\/)?[\w./-]+\.(?:js|mjs|wasm))['"]\s*,\s*import\.meta\.url\s*\)/g]) {
    for (const m of text.matchAll(re)) found.add(m[1]);
  }
  return [...found];
}

/** Every package file an entry file reaches (paths relative to pkg/), itself included. */
async function closure(entry) {
  const seen = new Set();
  const todo = [normalize(entry)];
  while (todo.length) {
    const file = todo.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith('.js')) continue;
    const text = await readFile(join(PKG, file), 'utf8');
    for (const ref of references(text)) todo.push(normalize(join(dirname(file), ref)));
  }
  return [...seen].sort();
}

const entries = Object.entries(pkg.exports).filter(([name]) => !name.includes('*'));

test('the tarball holds every file each entry reaches: scripts, Workers, wasm, types', async () => {
  assert.deepEqual(entries.map(([name]) => name).sort(), ['.', './player']);
  for (const [name, { default: main, types }] of entries) {
    const files = await closure(main);
    // The full entry reaches its Workers and their sub-workers; the player has none.
    if (name === '.') {
      for (const f of ['livecast_glue.js', 'livecast_bg.wasm', 'workers/encode-worker-entry.js', 'workers/openh264-worker-entry.js', 'workers/encode-worker.js']) {
        assert.ok(files.includes(f), `${name} reaches ${f}: ${files.join(', ')}`);
      }
    } else {
      assert.ok(files.includes('player/livecast_player_bg.wasm') && !files.some((f) => f.startsWith('workers/')), files.join(', '));
    }
    for (const f of [...files, normalize(types), 'package.json']) assert.ok(packed.has(f), `${f} (reached from "${name}") is in the tarball`);
  }
  // Every snippet wasm-bindgen copied is packed, the player's included.
  for (const folder of ['snippets', 'player/snippets']) {
    const onDisk = (await readdir(join(PKG, folder), { recursive: true })).filter((f) => f.endsWith('.js'));
    assert.ok(onDisk.length > 0, `${folder} has snippets`);
    for (const f of onDisk) assert.ok(packed.has(`${folder}/${f}`), `${folder}/${f} is in the tarball`);
  }
});

test('sideEffects matches the entry that registers the encode Worker and every nested snippet', async () => {
  const { moduleHasSideEffects } = require('webpack/lib/optimize/SideEffectsFlagPlugin.js');
  const has = (file) => moduleHasSideEffects(`./${file}`, pkg.sideEffects, new Map());
  // Without it a bundler could skip livecast.js and bind `import { Broadcaster } from
  // 'livecast'` straight to the glue: no encode Worker.
  assert.ok(has('livecast.js'), JSON.stringify(pkg.sideEffects));
  const snippets = [...packed].filter((f) => /^(player\/)?snippets\/.+\.js$/.test(f));
  assert.ok(snippets.some((f) => f.split('/').length >= 4), `nested snippets: ${snippets.join(', ')}`);
  for (const f of [...snippets, ...[...packed].filter((p) => p.startsWith('workers/'))]) assert.ok(has(f), `sideEffects matches ${f}`);
  // The pattern wasm-pack writes matches none of them.
  assert.ok(!snippets.some((f) => moduleHasSideEffects(`./${f}`, ['./snippets/*'], new Map())));
});

/** The gzipped (level 9) bytes of files of pkg/, each compressed on its own as a server sends them. */
async function gzipped(files) {
  let total = 0;
  for (const f of files) total += gzipSync(await readFile(join(PKG, f)), { level: 9 }).length;
  return total;
}

test('gzipped downloads of each entry, as README.md states them', async (t) => {
  const full = await closure(pkg.exports['.'].default);
  const workers = full.filter((f) => f.startsWith('workers/'));
  const sizes = {
    'livecast (page)': await gzipped(full.filter((f) => !workers.includes(f))),
    'livecast (encode Workers)': await gzipped(workers),
    'livecast/player': await gzipped(await closure(pkg.exports['./player'].default)),
  };
  const kib = (b) => Math.round(b / 1024);
  for (const [name, bytes] of Object.entries(sizes)) t.diagnostic(`${name}: ${kib(bytes)} KiB gzipped`);
  // README.md's "Use it in your app" table: | `livecast` | N KiB | M KiB | and | `livecast/player` | N KiB |.
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const row = (label) => readme.match(new RegExp(`^\\| \`${label}\` .*$`, 'm'))?.[0] ?? '';
  const stated = (line) => [...line.matchAll(/(\d+) KiB/g)].map((m) => Number(m[1]));
  const [page, worker] = stated(row('livecast'));
  const [player] = stated(row('livecast/player'));
  const near = (statedKib, bytes, what) => assert.ok(statedKib && Math.abs(statedKib - kib(bytes)) <= Math.max(2, kib(bytes) * 0.1),
    `README.md states ${statedKib} KiB for ${what}, the build gives ${kib(bytes)} KiB: update the table`);
  near(page, sizes['livecast (page)'], 'livecast (page)');
  near(worker, sizes['livecast (encode Workers)'], 'livecast (encode Workers)');
  near(player, sizes['livecast/player'], 'livecast/player');
});
