// Viewers benchmark, one run: wrk at 1,000 connections on a live stream's media playlist and
// on one of its segments, served by the relay and by nginx serving the same bytes from disk
// (the playlist as the relay rendered it, the segment file), one after the other in the same
// run; requests/s and p99 printed side by side. Targets (issue 16): the relay at least half
// of nginx's requests/s, its playlist p99 under 50 ms.
//
// The relay is the release build when there is one (cargo build --release -p livecast-relay),
// else the debug build (and says so: a debug relay is several times slower). Both servers
// and wrk share this machine's cores; nginx runs `worker_processes auto`.
//
// Usage: npm run bench:viewers  [-- --connections 1000 --seconds 10 --threads 2]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../tests/support/server.mjs';
import { startRelay, createStream, RELAY_BIN } from '../tests/support/relay.mjs';
import { makeSegments, get, closeAgents, startFileServer } from '../tests/support/edge.mjs';

const run = promisify(execFile);
const argValue = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CONNECTIONS = argValue('connections', 1000);
const SECONDS = argValue('seconds', 10);
const THREADS = argValue('threads', 2);

const release = join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'release', 'livecast-relay');
const bin = (await stat(release).catch(() => null)) ? release : RELAY_BIN;
if (bin !== release) console.log(`note: no release relay (cargo build --release -p livecast-relay); benchmarking the debug build ${bin}`);

const dir = await mkdtemp(join(tmpdir(), 'livecast-bench-viewers-'));
let relay, nginx;
try {
  const segments = await makeSegments(join(dir, 'media'), { count: 6, seconds: 2 });
  relay = await startRelay({ dataDir: join(dir, 'relay'), bin, args: ['--open', '--max-connections', String(CONNECTIONS * 2), '--window-segments', '6'] });
  const stream = await createStream(relay.url);
  for (const [seq, bytes] of segments.entries()) {
    const res = await fetch(`${relay.url}/live/${stream.id}/${seq}.ts`, { method: 'PUT', body: bytes, headers: { authorization: `Bearer ${stream.streamKey}` } });
    if (res.status !== 201) throw new Error(`upload ${seq}: ${res.status} ${await res.text()}`);
  }
  const playlistPath = `/hls/${stream.id}/index.m3u8`;
  const segmentPath = `/hls/${stream.id}/3.ts`;

  // nginx: the same bytes from disk, with the same content types.
  const root = join(dir, 'www');
  await mkdir(join(root, 'hls', stream.id), { recursive: true });
  for (const path of [playlistPath, segmentPath]) await writeFile(join(root, path), (await get(relay.url, path)).body);
  closeAgents();
  nginx = await startFileServer({
    prefix: join(dir, 'nginx'), root, probePath: playlistPath,
    locations: 'location ~ \\.m3u8$ { add_header Cache-Control "max-age=1"; }\n    location ~ \\.ts$ { add_header Cache-Control "public, max-age=31536000, immutable"; }',
  });
  const nginxUrl = nginx.url;
  closeAgents();

  const wrk = async (url) => {
    const { stdout } = await run('wrk', ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${SECONDS}s`, '--latency', '--timeout', '5s', url], { maxBuffer: 1 << 20 });
    const rps = Number(stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
    const p99 = stdout.match(/\s99%\s+([\d.]+)(us|ms|s)\b/);
    const p99ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2]] : NaN;
    const errors = stdout.match(/Socket errors:.*|Non-2xx or 3xx responses: \d+/g) ?? [];
    return { rps, p99ms, errors };
  };
  console.log(`wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s, one after the other (${bin === release ? 'release' : 'debug'} relay, nginx ${(await run('nginx', ['-v'])).stderr.trim().split('/')[1]})`);
  const rows = [];
  for (const [what, path] of [['playlist', playlistPath], ['segment', segmentPath]]) {
    const r = await wrk(relay.url + path);
    const n = await wrk(nginxUrl + path);
    rows.push({ what, relay: r, nginx: n });
  }
  const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  console.log('\n| request | relay req/s | nginx req/s | relay/nginx | relay p99 | nginx p99 |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const { what, relay: r, nginx: n } of rows) {
    console.log(`| ${what} | ${fmt(r.rps)} | ${fmt(n.rps)} | ${fmt(r.rps / n.rps, 2)}× | ${fmt(r.p99ms, 1)} ms | ${fmt(n.p99ms, 1)} ms |`);
  }
  for (const { what, relay: r, nginx: n } of rows) {
    if (r.errors.length || n.errors.length) console.log(`${what}: relay ${r.errors.join('; ') || 'no errors'}; nginx ${n.errors.join('; ') || 'no errors'}`);
  }
  const [pl, sg] = rows;
  console.log(`\ntargets: relay ≥ 0.5× nginx: playlist ${pl.relay.rps >= 0.5 * pl.nginx.rps ? 'met' : 'NOT met'}, segment ${sg.relay.rps >= 0.5 * sg.nginx.rps ? 'met' : 'NOT met'}; playlist p99 < 50 ms: ${pl.relay.p99ms < 50 ? 'met' : 'NOT met'}`);
} finally {
  closeAgents();
  await nginx?.stop();
  await relay?.stop();
  await rm(dir, { recursive: true, force: true });
}
