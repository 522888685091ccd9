// scripts/cluster.sh as a person tries it: the scaled-out setup on one machine (three Garage
// nodes with replication 3, PostgreSQL, two relays behind HAProxy, an nginx edge, a
// transcoder), started on ports that are not the defaults, then faults.
//
// Asserted: it prints `cluster ready` and the URLs it was given; a stream created through
// HAProxy takes uploads and is served byte for byte through the edge; one Garage node killed
// with SIGKILL, uploads still succeed and every segment is still served (replication 3, the
// S3 balancer skips the dead node); one relay killed, uploads through HAProxy still succeed
// and the edge's playlist keeps advancing; SIGTERM stops every process the script started
// and removes its temporary directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSegments, get, sleep, parseMediaPlaylist, closeAgents, freePort } from '../support/edge.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let dir, cluster, output = '', segments, ports, dataDir;

/** A base port whose block (base..base+30: three Garage nodes and their balancer) is free. */
async function portBase() {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const busy = [0, 1, 3, 10, 11, 13, 20, 21, 23, 30].some((o) => {
      try { execFileSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${base + o}`], { stdio: 'ignore' }); return true; } catch { return false; }
    });
    if (!busy) return base;
  }
  throw new Error('no free block of ports for Garage');
}

async function upload(base, id, key, seq, body) {
  // As the broadcaster does: the same bytes again after a failure or a 5xx.
  for (let tries = 1; ; tries++) {
    try {
      const res = await fetch(`${base}/live/${id}/${seq}.ts`, { method: 'PUT', headers: { authorization: `Bearer ${key}` }, body });
      if (res.status < 500 || tries >= 30) return { status: res.status, tries };
    } catch (e) {
      if (tries >= 30) throw e;
    }
    await sleep(200);
  }
}

async function pidsByName() {
  const text = await readFile(join(dataDir, 'pids'), 'utf8');
  return Object.fromEntries(text.trim().split('\n').map((l) => l.split(' ')).map(([n, p]) => [n, Number(p)]));
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-cluster-test-'));
  segments = await makeSegments(join(dir, 'media'), { count: 9, seconds: 1 });
  ports = {
    PORT: await freePort(), EDGE_PORT: await freePort(), TRANSCODER_PORT: await freePort(), PG_PORT: await freePort(),
    GARAGE_PORT: await portBase(),
  };
  // Two consecutive ports for the relays.
  for (;;) {
    const p = await freePort();
    try { execFileSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${p + 1}`], { stdio: 'ignore' }); } catch { ports.RELAY_PORT = p; break; }
  }
  cluster = spawn('bash', ['scripts/cluster.sh'], {
    cwd: repoRoot,
    env: { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = Date.now();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster.sh not ready in 240 s:\n${output}`)), 240_000);
    const onData = (chunk) => {
      output += chunk;
      if (output.includes('cluster ready')) { clearTimeout(timer); resolve(); }
    };
    cluster.stdout.on('data', onData);
    cluster.stderr.on('data', onData);
    cluster.once('exit', (code) => { clearTimeout(timer); reject(new Error(`cluster.sh exited with ${code}:\n${output}`)); });
  });
  console.log(`cluster.sh ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  dataDir = output.match(/data and logs in (\S+)\):/)[1];
});

after(async () => {
  closeAgents();
  if (cluster && cluster.exitCode === null) cluster.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

test('cluster.sh: prints the URLs on the ports it was given', () => {
  assert.match(output, new RegExp(`broadcast: +http://127\\.0\\.0\\.1:${ports.PORT}/www/broadcast\\.html`));
  assert.match(output, new RegExp(`HLS edge: +http://127\\.0\\.0\\.1:${ports.EDGE_PORT}/hls/`));
  assert.match(output, new RegExp(`PostgreSQL: +postgres://livecast@127\\.0\\.0\\.1:${ports.PG_PORT}/livecast`));
});

test('cluster.sh: a stream through HAProxy and the edge survives a Garage node and a relay killed', async () => {
  const lb = `http://127.0.0.1:${ports.PORT}`;
  const edge = `http://127.0.0.1:${ports.EDGE_PORT}`;
  const res = await fetch(`${lb}/api/streams`, { method: 'POST' });
  assert.equal(res.status, 201);
  const { id, streamKey } = await res.json();
  // The pages come through HAProxy too.
  assert.equal((await fetch(`${lb}/www/broadcast.html`)).status, 200);
  const pids = await pidsByName();
  const served = async (seq) => {
    const r = await get(edge, `/hls/${id}/${seq}.ts`, { agent: false });
    assert.equal(r.status, 200, `segment ${seq} through the edge`);
    assert.ok(r.body.equals(segments[seq]), `segment ${seq} through the edge is what was uploaded`);
  };
  const edgePlaylist = async () => parseMediaPlaylist((await get(edge, `/hls/${id}/index.m3u8`, { agent: false })).body.toString());

  let retries = 0;
  const send = async (seq) => {
    const { status, tries } = await upload(lb, id, streamKey, seq, segments[seq]);
    assert.ok(status === 201 || status === 200, `segment ${seq}: ${status}`);
    retries += tries - 1;
  };
  for (const seq of [0, 1, 2]) await send(seq);
  for (const seq of [0, 1, 2]) await served(seq);

  // A Garage node dies: the bucket keeps reading and writing (2 of 3 copies are a quorum).
  process.kill(pids.garage3, 'SIGKILL');
  for (const seq of [3, 4, 5]) await send(seq);
  for (const seq of [3, 4, 5]) await served(seq);

  // A relay dies: HAProxy sends everything to the other one.
  process.kill(pids.relay1, 'SIGKILL');
  for (const seq of [6, 7, 8]) { await send(seq); await sleep(300); }
  for (const seq of [6, 7, 8]) await served(seq);
  // The edge's playlist (micro-cached) reaches the last segment.
  const deadline = Date.now() + 10_000;
  let listed;
  while (Date.now() < deadline) {
    listed = (await edgePlaylist()).uris;
    if (listed.includes('8.ts')) break;
    await sleep(200);
  }
  assert.ok(listed.includes('8.ts'), `the edge's playlist stopped at ${listed}`);
  console.log(`9 segments through a Garage node and a relay killed: ${retries} upload retries`);
  assert.match(output, /garage3 \(pid \d+\) is gone/);
});

test('cluster.sh: SIGTERM stops every process it started and removes its data', async () => {
  const pids = Object.values(await pidsByName());
  assert.ok(pids.length >= 9, `pids: ${pids}`);
  const exited = new Promise((resolve) => cluster.once('exit', resolve));
  cluster.kill('SIGTERM');
  const result = await Promise.race([exited, sleep(30_000).then(() => 'timeout')]);
  assert.notEqual(result, 'timeout', `cluster.sh did not exit within 30 s of SIGTERM:\n${output}`);
  const left = pids.filter(alive);
  assert.deepEqual(left, [], `still running after cluster.sh exited: ${left}`);
  // Their children too (PostgreSQL's backends run under runuser as root): nothing names the
  // data directory any more.
  let stray = '';
  try { stray = execFileSync('pgrep', ['-af', dataDir]).toString(); } catch { /* none: pgrep exits 1 */ }
  assert.equal(stray, '', `processes of the cluster still run:\n${stray}`);
  await assert.rejects(stat(dataDir), `${dataDir} was not removed`);
});
