// Gives the package the Broadcaster's Workers in a form bundlers can follow
// (scripts/build-wasm.sh runs it after wasm-pack):
//   - the wasm-bindgen glue wasm-pack wrote as livecast.js becomes livecast_glue.js;
//   - livecast.js becomes the package's entry: the glue's exports, plus the one line that
//     starts the encode Worker, `new Worker(new URL('./workers/encode-worker-entry.js',
//     import.meta.url), { type: 'module' })`, the form Vite, webpack and others rewrite and
//     emit. It cannot be in the glue: the Worker imports the glue, and a bundler would see
//     a Worker that starts itself (Vite refuses that);
//   - workers/ gets the Workers' scripts from js/ (wasm-bindgen copies only the snippets a
//     `#[wasm_bindgen(module)]` names, and no such snippet may name them).
// Idempotent: a second run finds the entry in place and leaves the glue alone.
// Usage: node scripts/pkg-workers.mjs <pkg dir>
import { copyFile, mkdir, readFile, rename, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.argv[2] ?? 'pkg';
const js = fileURLToPath(new URL('../js/', import.meta.url));
const MARKER = '// The `livecast` package\'s entry';
const WORKER_FILES = ['encode-worker-entry.js', 'openh264-worker-entry.js', 'encode-worker.js', 'audio-encode.js'];

const entry = join(dir, 'livecast.js');
const glue = join(dir, 'livecast_glue.js');
const current = await readFile(entry, 'utf8');
if (!current.includes(MARKER)) await rename(entry, glue);
else await access(glue);

const glueText = await readFile(glue, 'utf8');
const start = glueText.match(/from '(\.\/snippets\/[^']+\/encode-worker-start\.js)'/);
if (!start) throw new Error(`${glue} does not import encode-worker-start.js: was the Broadcaster built?`);

await mkdir(join(dir, 'workers'), { recursive: true });
for (const file of WORKER_FILES) await copyFile(join(js, file), join(dir, 'workers', file));

await writeFile(entry, `/* @ts-self-types="./livecast.d.ts" */
${MARKER}: the wasm-bindgen glue (livecast_glue.js) and the
// Broadcaster's encode Worker, started here with the form bundlers rewrite and emit.
// Written by scripts/pkg-workers.mjs.
import { setEncodeWorkerFactory } from '${start[1]}';

setEncodeWorkerFactory(() => new Worker(new URL('./workers/encode-worker-entry.js', import.meta.url), { type: 'module', name: 'livecast-encoder' }));

export * from './livecast_glue.js';
export { default } from './livecast_glue.js';
`);
