// Streams benchmark, one run: how many concurrent live streams one relay holds on this
// machine. Each stream uploads a 2 s 720p segment every 2 s (PUT /live/{id}/{seq}.ts, a 201
// only once stored) while its viewers (2 per stream by default) each reload its media
// playlist every second and fetch every new segment once, as a player does. A stream count
// "holds" when every upload is answered within its 2 s and the viewers' playlist p99 stays
// under 50 ms (issue 16's bound). Per backend: `--storage file:` and, when a Garage binary
// is there (scripts/setup.sh installs one), `--storage s3://` on a local single-node Garage.
//
// The peer, same run, same viewer load: nginx serving the same playlists and segments
// (copied from the relay after its run) from disk. Everything shares this machine's cores:
// the relay, nginx, Garage and this load generator (one Node process). Where nginx's p99
// grows too, the load generator itself is saturated: the rows beyond say little about the
// relay.
//
// Usage: npm run bench:streams  [-- --streams 1,25,100,200,300 --seconds 20 --viewers 2]
//   BENCH_PROFILE=debug uses the debug relay (default: release).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../tests/support/server.mjs';
import { startRelay, createStream } from '../tests/support/relay.mjs';
import { startGarage, garageBin } from '../tests/support/garage.mjs';
import { get, sleep, closeAgents, parseMediaPlaylist, startFileServer } from '../tests/support/edge.mjs';

const run = promisify(execFile);
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const COUNTS = String(arg('streams', '1,25,100,200,300')).split(',').map(Number);
const SECONDS = Number(arg('seconds', 20));
const VIEWERS = Number(arg('viewers', 2));
const SEGMENT_S = 2;
const P99_BOUND_MS = 50;
const PROFILE = process.env.BENCH_PROFILE === 'debug' ? 'debug' : 'release';

console.log(`building: relay (${PROFILE})...`);
await run('cargo', ['build', '--quiet', ...(PROFILE === 'release' ? ['--release'] : []), '-p', 'livecast-relay'], { cwd: repoRoot });
const relayBin = join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), PROFILE, 'livecast-relay');

// Admission limits out of the way: the bench measures serving, not the per-address caps.
const RELAY_FLAGS = ['--open', '--open-creates-per-minute', '100000', '--max-uploads', '1024', '--max-uploads-per-address', '1024', '--max-connections', '8192', '--window-segments', '6'];

const percentile = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Times one GET; `{ ms, status, body }`. */
async function timed(base, path) {
  const t = performance.now();
  const r = await get(base, path, { timeoutMs: 10_000 });
  return { ms: performance.now() - t, status: r.status, body: r.body };
}

/**
 * The viewers of `playlists` (paths on `base`) for `seconds`: each reloads its playlist every
 * second (starting at a random moment in the first second) and fetches each segment it has
 * not fetched yet. Resolves to the latencies and failures seen.
 */
async function watch(base, playlists, seconds) {
  const playlistMs = [], segmentMs = [], failures = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(playlists.flatMap((path) => Array.from({ length: VIEWERS }, async () => {
    const seen = new Set();
    await sleep(Math.random() * 1000);
    while (performance.now() < end) {
      const next = performance.now() + 1000;
      try {
        const p = await timed(base, path);
        if (p.status !== 200) throw new Error(`${path}: ${p.status}`);
        playlistMs.push(p.ms);
        for (const uri of parseMediaPlaylist(p.body.toString()).uris) {
          if (seen.has(uri)) continue;
          seen.add(uri);
          const s = await timed(base, new URL(uri, `http://x${path}`).pathname);
          if (s.status !== 200) throw new Error(`${uri}: ${s.status}`);
          segmentMs.push(s.ms);
        }
      } catch (e) {
        failures.push(e.message);
      }
      await sleep(Math.max(0, next - performance.now()));
    }
  })));
  return { playlistMs, segmentMs, failures };
}

/** `count` streams on `relay` for SECONDS, uploading and watched; one result row. */
async function relayRun(relay, count, segments) {
  const streams = await Promise.all(Array.from({ length: count }, () => createStream(relay.url)));
  const uploadMs = [], uploadFailures = [];
  let late = 0;
  const t0 = performance.now() + 500;
  const uploads = Promise.all(streams.map(async (s, i) => {
    // Streams spread over one segment's time, as broadcasters who started at random moments.
    const offset = (i / count) * SEGMENT_S * 1000;
    for (let seq = 0; seq * SEGMENT_S < SECONDS + SEGMENT_S; seq++) {
      const due = t0 + offset + seq * SEGMENT_S * 1000;
      await sleep(Math.max(0, due - performance.now()));
      const t = performance.now();
      try {
        const res = await fetch(`${relay.url}/live/${s.id}/${seq}.ts`, {
          method: 'PUT', body: segments[seq % segments.length], headers: { authorization: `Bearer ${s.streamKey}`, 'content-type': 'video/mp2t' },
        });
        if (res.status !== 201) throw new Error(`upload ${seq}: ${res.status} ${await res.text()}`);
        const ms = performance.now() - t;
        uploadMs.push(ms);
        if (performance.now() > due + SEGMENT_S * 1000) late++;
      } catch (e) {
        uploadFailures.push(e.message);
      }
    }
  }));
  // Viewers start once each stream has its first segments listed.
  await sleep(SEGMENT_S * 1000 + 1500);
  const viewing = await watch(relay.url, streams.map((s) => `/hls/${s.id}/index.m3u8`), SECONDS - SEGMENT_S);
  await uploads;
  closeAgents();
  return { streams, uploadMs, uploadFailures, late, ...viewing };
}

/** nginx serving a copy of what `relay` serves for `streams`, watched the same way. */
async function nginxRun(dir, relay, streams) {
  const root = join(dir, 'www');
  await rm(root, { recursive: true, force: true });
  for (const s of streams) {
    const path = `/hls/${s.id}/index.m3u8`;
    const body = (await get(relay.url, path)).body;
    await mkdir(join(root, 'hls', s.id), { recursive: true });
    await writeFile(join(root, path), body);
    for (const uri of parseMediaPlaylist(body.toString()).uris) {
      await writeFile(join(root, 'hls', s.id, uri), (await get(relay.url, `/hls/${s.id}/${uri}`)).body);
    }
  }
  closeAgents();
  const nginx = await startFileServer({ prefix: join(dir, 'nginx'), root, probePath: `/hls/${streams[0].id}/index.m3u8` });
  try {
    const url = nginx.url;
    // The same load, without the uploads (nginx's files do not change).
    const result = await watch(url, streams.map((s) => `/hls/${s.id}/index.m3u8`), SECONDS - SEGMENT_S);
    closeAgents();
    return result;
  } finally {
    await nginx.stop();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'livecast-bench-streams-'));
let garage;
const rows = [];
try {
  console.log('making 2 s 720p segments (3 Mbit/s, one continuous encode) with ffmpeg...');
  const media = join(dir, 'media');
  await mkdir(media);
  const count = Math.ceil(SECONDS / SEGMENT_S) + 2;
  await run('ffmpeg', ['-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-t', String(count * SEGMENT_S),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-b:v', '3M', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-f', 'segment', '-segment_time', String(SEGMENT_S), '-segment_format', 'mpegts', join(media, 'seg%d.ts')]);
  const segments = await Promise.all(Array.from({ length: count }, (_, i) => readFile(join(media, `seg${i}.ts`))));
  const backends = [['file', () => []]];
  const haveGarage = await garageBin().then(() => true, (e) => { console.log(`note: ${e.message}; the s3 backend is not measured in this run`); return false; });
  if (haveGarage) {
    garage = await startGarage();
    backends.push(['s3', () => garage.relayArgs]);
  }
  for (const [backend, storageArgs] of backends) {
    // An s3 relay reads its credentials from the environment (after the file runs: a file
    // relay refuses S3 settings).
    if (backend === 's3') Object.assign(process.env, garage.relayEnv);
    for (const count of COUNTS) {
      const relay = await startRelay({ dataDir: join(dir, `relay-${backend}-${count}`), bin: relayBin, args: [...RELAY_FLAGS, ...storageArgs()] });
      try {
        const r = await relayRun(relay, count, segments);
        const peer = backend === 'file' ? await nginxRun(dir, relay, r.streams) : null;
        const p99 = percentile(r.playlistMs, 99);
        const holds = r.uploadFailures.length === 0 && r.failures.length === 0 && r.late === 0 && p99 < P99_BOUND_MS;
        rows.push({ backend, count, holds, r, peer, p99 });
        console.log(`${backend} ${count} streams: ${holds ? 'holds' : 'does not hold'}; playlist p99 ${p99.toFixed(1)} ms (nginx ${peer ? percentile(peer.playlistMs, 99).toFixed(1) : '-'} ms), upload p99 ${percentile(r.uploadMs, 99).toFixed(0)} ms, late ${r.late}, failures ${r.uploadFailures.length + r.failures.length}${r.failures.length + r.uploadFailures.length ? ` (first: ${[...r.uploadFailures, ...r.failures][0]})` : ''}`);
      } finally {
        await relay.stop();
      }
    }
  }
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  console.log(`\n${SECONDS} s per row, ${VIEWERS} viewers per stream (playlist every 1 s, each new segment once); ${PROFILE} relay`);
  console.log('| backend | streams | holds | playlist p50 | playlist p99 | nginx playlist p99 | segment p99 | nginx segment p99 | upload p50 | upload p99 | late uploads | failures |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { backend, count, holds, r, peer, p99 } of rows) {
    console.log(`| ${backend} | ${count} | ${holds ? 'yes' : 'no'} | ${fmt(percentile(r.playlistMs, 50))} ms | ${fmt(p99)} ms | ${peer ? `${fmt(percentile(peer.playlistMs, 99))} ms` : '-'} | ${fmt(percentile(r.segmentMs, 99))} ms | ${peer ? `${fmt(percentile(peer.segmentMs, 99))} ms` : '-'} | ${fmt(percentile(r.uploadMs, 50))} ms | ${fmt(percentile(r.uploadMs, 99))} ms | ${r.late} | ${r.uploadFailures.length + r.failures.length} |`);
  }
  for (const backend of new Set(rows.map((x) => x.backend))) {
    const held = rows.filter((x) => x.backend === backend && x.holds).map((x) => x.count);
    console.log(`${backend}: holds up to ${held.length ? Math.max(...held) : 0} of the stream counts tried (${COUNTS.join(', ')}), playlist p99 < ${P99_BOUND_MS} ms and every upload within ${SEGMENT_S} s`);
  }
} finally {
  await garage?.stop();
  await rm(dir, { recursive: true, force: true });
}
