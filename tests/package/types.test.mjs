// The package's types as a strict TypeScript consumer of the tarball sees them (`strict`,
// `skipLibCheck: false`, `lib: ["es2022", "dom"]`), with module resolution `bundler` and
// `nodenext`: every ```js block of README.md, verbatim (so the docs cannot drift from the
// .d.ts), and tests/types' consumers, with their imports pointed at `livecast` and
// `livecast/player`. The README's server-side example also runs, against a real relay
// with --admin-token. Needs pkg/ (scripts/build-wasm.sh) and target/debug/livecast-relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { startRelay } from '../support/relay.mjs';
import { repoRoot } from '../support/server.mjs';
import { packTarball, installTarball } from './tarball.mjs';

const run = promisify(execFile);
const TSC = join(repoRoot, 'node_modules/typescript/bin/tsc');
let dir, consumer;

/** The ```js blocks of README.md, in order, with the line each starts on. */
async function readmeBlocks() {
  const text = await readFile(join(repoRoot, 'README.md'), 'utf8');
  return [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => ({
    code: m[1],
    line: text.slice(0, m.index).split('\n').length + 1,
  }));
}

// What the README's snippets take from the page around them: declared, not invented. A
// snippet that declares one of these itself shadows it.
const CONTEXT = `// Names the README's snippets use from their surroundings.
declare const stream: { id: string; streamKey: string; playbackUrl: string };
declare const video: HTMLVideoElement;
declare const relayUrl: string;
declare const streamId: string;
declare const streamKey: string;
declare const chainId: number;
declare const addParams: { chainName: string; rpcUrls: string[]; nativeCurrency: { name: string; symbol: string; decimals: number } };
declare const broker: string;
declare const deposit: bigint;
declare const reserve: bigint;
declare function show(...values: unknown[]): void;
declare const imageData: ImageData;
declare const y: Uint8Array;
declare const u: Uint8Array;
declare const v: Uint8Array;
declare const videoFrame: VideoFrame;
declare const process: { env: Record<string, string | undefined> };
`;

const COMPILER = {
  target: 'ES2022',
  lib: ['ES2022', 'DOM'],
  strict: true,
  skipLibCheck: false,
  noEmit: true,
  types: [],
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-types-'));
  const tarball = await packTarball(join(dir, 'pack'));
  consumer = join(dir, 'consumer');
  await mkdir(join(consumer, 'src'), { recursive: true });
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'livecast-types-consumer', private: true, type: 'module' }));
  await installTarball(consumer, tarball);
  await writeFile(join(consumer, 'src/context.d.ts'), CONTEXT);
  const blocks = await readmeBlocks();
  assert.ok(blocks.length >= 6, `README.md has ${blocks.length} js blocks`);
  for (const [i, { code, line }] of blocks.entries()) {
    // `export {}` keeps each snippet a module of its own (some have no import).
    await writeFile(join(consumer, `src/readme-${String(i).padStart(2, '0')}-line-${line}.ts`), `${code}export {};\n`);
  }
  for (const name of ['consumer.ts', 'player.ts']) {
    const text = await readFile(join(repoRoot, 'tests/types', name), 'utf8');
    await writeFile(join(consumer, `src/${name}`), text.replaceAll("'../../pkg/player/livecast_player.js'", "'livecast/player'").replaceAll("'../../pkg/livecast.js'", "'livecast'"));
  }
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function typecheck(name, module, moduleResolution) {
  const config = join(consumer, `tsconfig.${name}.json`);
  await writeFile(config, JSON.stringify({ compilerOptions: { ...COMPILER, module, moduleResolution }, include: ['src'] }, null, 2));
  const result = await run(process.execPath, [TSC, '-p', config, '--pretty', 'false'], { cwd: consumer }).catch((e) => e);
  assert.equal(result.code ?? 0, 0, `tsc (${name}) found errors:\n${result.stdout}${result.stderr}`);
}

test('README examples and the consumers type-check: moduleResolution bundler', () => typecheck('bundler', 'ESNext', 'Bundler'));

test('README examples and the consumers type-check: moduleResolution nodenext', () => typecheck('nodenext', 'NodeNext', 'NodeNext'));

test("the README's server-side example creates a stream on a relay that wants the admin token", async () => {
  const blocks = await readmeBlocks();
  const server = blocks.filter(({ code }) => code.startsWith('// On your server'));
  assert.equal(server.length, 1, 'one server-side example');
  const token = 'an-admin-token-for-the-test-0123';
  const relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--admin-token', token, '--public-url', 'https://relay.example.com'] });
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { RELAY_URL: relay.url, RELAY_ADMIN_TOKEN: token });
    const file = join(dir, 'server-example.mjs');
    await writeFile(file, server[0].code);
    const { createStream } = await import(pathToFileURL(file).href);
    const stream = await createStream('from the backend');
    assert.equal(stream.name, 'from the backend');
    assert.match(stream.streamKey, /^[0-9a-f]{64}$/);
    assert.equal(stream.playbackUrl, `https://relay.example.com/hls/${stream.id}/index.m3u8`);
    // With another token the relay refuses (the example reads its environment once, when
    // the server starts: a fresh import).
    process.env.RELAY_ADMIN_TOKEN = 'wrong-token-wrong-token';
    const again = await import(`${pathToFileURL(file).href}?wrong-token`);
    await assert.rejects(again.createStream('x'), /401/);
  } finally {
    process.env = saved;
    await relay.stop();
  }
});
