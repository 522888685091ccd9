// Relay ingest benchmark, one run, per segment storage backend: segments/s of 2 s 720p
// segments uploaded with 1 and 50 concurrent uploaders (PUT /live/{id}/{seq}.ts, each a 201
// only once stored) to a relay with `--storage file:` and one with `--storage s3://` on a
// local single-node Garage (data and metadata fsync on); beside the peers measured in the same
// run, on the same disk and the same Garage, at the same concurrency: plain fsync'd writes of
// the same bytes (write, fsync, rename, as the file backend stores them) and raw signed
// PutObjects to the Garage bucket. The S3 runs again with the metadata in PostgreSQL
// (`--database postgres://…`, a local server with fsync on), one relay and then two relays
// sharing it and the bucket (the uploaders split between them), beside the same raw PutObjects.
//
// Usage: node benches/ingest.mjs  [--single 60 --each 4]   (loopback only, bounded)
//   --single N: segments for the 1-uploader runs; --each N: segments per uploader with 50.
//   BENCH_PROFILE=debug uses the debug relay (default: release).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, open, rename, mkdir } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../tests/support/server.mjs';
import { startRelay, createStream } from '../tests/support/relay.mjs';
import { startGarage } from '../tests/support/garage.mjs';
import { startPostgres } from '../tests/support/postgres.mjs';

const run = promisify(execFile);
const argValue = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const PER_UPLOADER = { 1: argValue('single', 60), 50: argValue('each', 4) };
const PROFILE = process.env.BENCH_PROFILE === 'debug' ? 'debug' : 'release';

console.log(`building: relay (${PROFILE})...`);
await run('cargo', ['build', '--quiet', ...(PROFILE === 'release' ? ['--release'] : []), '-p', 'livecast-relay'], { cwd: repoRoot });
const relayBin = join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), PROFILE, 'livecast-relay');

/** Runs `job(uploader, i)` for `uploaders` × `perUploader` items, uploaders in parallel; items/s. */
async function rate(uploaders, perUploader, job) {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: uploaders }, async (_, u) => {
    for (let i = 0; i < perUploader; i++) await job(u, i);
  }));
  return (uploaders * perUploader) / ((performance.now() - t0) / 1000);
}

/** Relay ingest with `uploaders` streams, each uploading `perUploader` segments (uploader u to
 * `relays[u % relays.length]`). */
async function relayRate(relays, segment, uploaders, perUploader) {
  relays = [relays].flat();
  const streams = await Promise.all(Array.from({ length: uploaders }, () => createStream(relays[0].url)));
  return rate(uploaders, perUploader, async (u, seq) => {
    const s = streams[u];
    const res = await fetch(`${relays[u % relays.length].url}/live/${s.id}/${seq}.ts`, {
      method: 'PUT', body: segment, headers: { authorization: `Bearer ${s.streamKey}`, 'content-type': 'video/mp2t' },
    });
    if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  });
}

// Every upload gets a slot at once: the bench measures storage, not the admission limits.
const RELAY_FLAGS = ['--open', '--open-creates-per-minute', '1000', '--max-uploads', '64', '--max-uploads-per-address', '64'];

const dir = await mkdtemp(join(tmpdir(), 'livecast-bench-ingest-'));
let garage, fileRelay, s3Relay, postgres, pgRelays = [];
const rows = [];
try {
  const segPath = join(dir, 'segment.ts');
  await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-t', '2', '-c:v', 'libx264',
    '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-b:v', '3M', '-f', 'mpegts', segPath]);
  const segment = await readFile(segPath);
  garage = await startGarage();

  fileRelay = await startRelay({ dataDir: join(dir, 'relay-file'), args: RELAY_FLAGS, bin: relayBin });
  for (const uploaders of [1, 50]) {
    const n = PER_UPLOADER[uploaders];
    const relay = await relayRate(fileRelay, segment, uploaders, n);
    const plainDir = join(dir, `plain-${uploaders}`);
    await mkdir(plainDir, { recursive: true });
    const dirHandle = await open(plainDir, 'r');
    const plain = await rate(uploaders, n, async (u, i) => {
      const tmp = join(plainDir, `.${u}-${i}.tmp`);
      const file = await open(tmp, 'w');
      await file.writeFile(segment);
      await file.sync();
      await file.close();
      await rename(tmp, join(plainDir, `${u}-${i}.ts`));
      await dirHandle.sync();
    });
    await dirHandle.close();
    rows.push({ backend: 'file', uploaders, total: uploaders * n, relay, peer: plain, peerName: 'plain fsync\'d writes' });
  }
  await fileRelay.stop();

  Object.assign(process.env, garage.relayEnv);
  s3Relay = await startRelay({ dataDir: join(dir, 'relay-s3'), args: [...RELAY_FLAGS, ...garage.relayArgs], bin: relayBin });
  for (const uploaders of [1, 50]) {
    const n = PER_UPLOADER[uploaders];
    const relay = await relayRate(s3Relay, segment, uploaders, n);
    const raw = await rate(uploaders, n, async (u, i) => {
      const status = await garage.put(`raw/${uploaders}/${u}/${i}.ts`, segment);
      if (status !== 200) throw new Error(`PutObject answered ${status}`);
    });
    rows.push({ backend: 's3 (Garage)', uploaders, total: uploaders * n, relay, peer: raw, peerName: 'raw PutObject' });
  }
  await s3Relay.stop();

  postgres = await startPostgres();
  for (const count of [1, 2]) {
    pgRelays = [];
    for (let i = 0; i < count; i++) {
      pgRelays.push(await startRelay({ dataDir: join(dir, `relay-pg-${count}-${i}`), bin: relayBin,
        args: [...RELAY_FLAGS, ...garage.relayArgs, '--database', postgres.url] }));
    }
    for (const uploaders of [1, 50]) {
      if (count === 2 && uploaders === 1) continue;
      const n = PER_UPLOADER[uploaders];
      const relay = await relayRate(pgRelays, segment, uploaders, n);
      const raw = await rate(uploaders, n, async (u, i) => {
        const status = await garage.put(`raw-pg/${count}/${uploaders}/${u}/${i}.ts`, segment);
        if (status !== 200) throw new Error(`PutObject answered ${status}`);
      });
      rows.push({ backend: `s3 + PostgreSQL, ${count} relay${count > 1 ? 's' : ''}`, uploaders, total: uploaders * n, relay, peer: raw, peerName: 'raw PutObject' });
    }
    for (const r of pgRelays) await r.stop();
  }

  console.log(`\n${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}); segment ${(segment.length / 1024).toFixed(0)} KiB (2 s of 1280x720 at 3 Mbit/s); relay ${PROFILE} build\n`);
  console.log('| backend | uploaders | segments | relay segments/s | peer | peer segments/s | relay/peer |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.backend} | ${r.uploaders} | ${r.total} | ${r.relay.toFixed(1)} | ${r.peerName} | ${r.peer.toFixed(1)} | ${(r.relay / r.peer).toFixed(2)}× |`);
  }
} finally {
  // Also when a run fails half-way: no relay or Garage outlives the script.
  await fileRelay?.kill();
  await s3Relay?.kill();
  for (const r of pgRelays) await r.kill();
  await postgres?.stop();
  await garage?.stop();
  await rm(dir, { recursive: true, force: true });
}
