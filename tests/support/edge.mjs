// The pieces of the edge-cache tests: real nginx edges (deploy/nginx/livecast-edge.conf,
// its placeholders filled in) in their own temporary prefixes, ffmpeg-made live segments,
// and lightweight HLS viewers (node:http, no player) that poll a media playlist and fetch
// each new segment in order.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { repoRoot } from './server.mjs';

const run = promisify(execFile);
const BIG = { maxBuffer: 64 * 1024 * 1024 };

export const EDGE_TEMPLATE = join(repoRoot, 'deploy', 'nginx', 'livecast-edge.conf');

/** The template with its placeholders replaced by `values` (`{ LIVECAST_ORIGIN: ... }`); every one must be given. */
export async function renderEdgeConf(values) {
  const text = await readFile(EDGE_TEMPLATE, 'utf8');
  return text.replace(/\$\{(LIVECAST_[A-Z_]+)\}/g, (_, name) => {
    if (!(name in values)) throw new Error(`no value for ${name} in the edge template`);
    return values[name];
  });
}

/** A port of 127.0.0.1 free a moment ago (the kernel's pick for port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts nginx (`-p prefix -c conf`, `daemon off`; as root its workers run as root, since
 * the test's temporary directories are root's) as an edge of `origin` (`host:port`) on
 * `listen` (`host:port`, default a free port of 127.0.0.1). Resolves to
 * `{ url, prefix, log(), stop() }` once the port answers.
 */
export async function startEdge({ prefix, origin, listen }) {
  listen ??= `127.0.0.1:${await freePort()}`;
  await mkdir(join(prefix, 'logs'), { recursive: true });
  await mkdir(join(prefix, 'temp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  await writeFile(conf, await renderEdgeConf({
    LIVECAST_ORIGIN: origin,
    LIVECAST_EDGE_LISTEN: listen,
    LIVECAST_CACHE_DIR: join(prefix, 'cache'),
    LIVECAST_CACHE_MAX_SIZE: '1g',
  }));
  const argv = ['nginx', '-p', prefix, '-c', conf, '-g', `daemon off; user ${process.getuid?.() === 0 ? 'root' : 'nobody'};`];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  child.stdout.on('data', (c) => output.push(c.toString()));
  child.stderr.on('data', (c) => output.push(c.toString()));
  const url = `http://${listen}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${output.join('')}`);
    const res = await get(url, '/', { agent: false }).catch(() => null);
    if (res) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url} in 15 s:\n${output.join('')}`);
    await sleep(100);
  }
  return {
    url,
    prefix,
    process: child,
    output,
    /** The access log, one object per line (flushed: nginx writes it at most 1 s late). */
    async log() {
      const text = await readFile(join(prefix, 'logs', 'access.log'), 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean).map(parseLogLine);
    },
    /** SIGQUIT (graceful: flushes the log), SIGKILL after 5 s. */
    stop: () => new Promise((ok) => {
      if (child.exitCode !== null) return ok();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => { clearTimeout(t); ok(); });
      child.kill('SIGQUIT');
    }),
  };
}

/**
 * nginx serving the files under `root` (HLS content types; `locations`: extra nginx
 * `location` blocks), config and logs under `prefix`, on a free port of 127.0.0.1: the
 * benchmarks' peer. Resolves to `{ url, stop() }` once `probePath` answers 200.
 */
export async function startFileServer({ prefix, root, probePath, locations = '' }) {
  await mkdir(join(prefix, 'logs'), { recursive: true });
  const port = await freePort();
  await writeFile(join(prefix, 'nginx.conf'), `worker_processes auto;
worker_rlimit_nofile 65536;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path ${prefix}/tmp; proxy_temp_path ${prefix}/tmp; fastcgi_temp_path ${prefix}/tmp; uwsgi_temp_path ${prefix}/tmp; scgi_temp_path ${prefix}/tmp;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${root};
    ${locations}
  }
}
`);
  const child = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', `daemon off; user ${process.getuid?.() === 0 ? 'root' : 'nobody'};`], { stdio: 'inherit' });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => new Promise((ok) => {
    if (child.exitCode !== null) return ok();
    child.once('exit', ok);
    child.kill('SIGQUIT');
  });
  for (let i = 0; (await get(url, probePath, { agent: false }).catch(() => null))?.status !== 200; i++) {
    if (child.exitCode !== null || i > 100) {
      await stop();
      throw new Error(`nginx did not serve ${probePath} in 10 s`);
    }
    await sleep(100);
  }
  return { url, stop };
}

/** One line of the `livecast_edge` log format. */
export function parseLogLine(line) {
  const m = line.match(/^(\S+) (\S+) "(\S+) (\S+)" (\d+) (\d+) cache=(\S+) origin=(\S+) origin_status=(\S+) rt=(\S+) urt=(\S+)/);
  if (!m) throw new Error(`not a livecast_edge log line: ${line}`);
  const [, time, client, method, uri, status, bytes, cache, origin, originStatus, rt, urt] = m;
  return { time, client, method, uri, status: Number(status), bytes: Number(bytes), cache, origin, originStatus, rt: Number(rt), urt };
}

/**
 * `count` consecutive MPEG-TS segments of `seconds` each (H.264, a keyframe at each start,
 * small picture) made by ffmpeg under `dir`; resolves to their bytes in order.
 */
export async function makeSegments(dir, { count, seconds = 2, size = '320x180' }) {
  await mkdir(dir, { recursive: true });
  await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`,
    '-t', String(count * seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
    '-b:v', '300k', '-g', String(30 * seconds), '-keyint_min', String(30 * seconds), '-sc_threshold', '0',
    '-f', 'segment', '-segment_time', String(seconds), '-segment_format', 'mpegts', join(dir, 'seg%d.ts')], BIG);
  const names = (await readdir(dir)).filter((f) => /^seg\d+\.ts$/.test(f));
  if (names.length < count) throw new Error(`ffmpeg made ${names.length} segments, wanted ${count}`);
  return Promise.all([...Array(count).keys()].map((i) => readFile(join(dir, `seg${i}.ts`))));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const agents = new Map();
/** A keep-alive agent per base URL (one connection per viewer, reused). */
function agentFor(base) {
  if (!agents.has(base)) agents.set(base, new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4096 }));
  return agents.get(base);
}

/** Closes the viewers' keep-alive connections. */
export function closeAgents() {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

/**
 * GET `base + path` (on the keep-alive agent of `base` unless `agent` is given; `false`: a
 * connection of its own); resolves to
 * `{ status, headers, body: Buffer }`, rejects after `timeoutMs`.
 */
export function get(base, path, { agent, headers = {}, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, { agent: agent ?? agentFor(base), headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${base}${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** A media playlist's media sequence, segment URIs and whether it has ended. */
export function parseMediaPlaylist(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines[0] !== '#EXTM3U') throw new Error(`not a playlist: ${text.slice(0, 200)}`);
  const seqLine = lines.find((l) => l.startsWith('#EXT-X-MEDIA-SEQUENCE:'));
  const target = Number(lines.find((l) => l.startsWith('#EXT-X-TARGETDURATION:'))?.split(':')[1]);
  const first = seqLine ? Number(seqLine.split(':')[1]) : 0;
  const uris = lines.filter((l) => !l.startsWith('#'));
  return { first, uris, target, ended: lines.includes('#EXT-X-ENDLIST') };
}

/**
 * One viewer of `base + playlistPath`: polls the playlist every `pollMs` (± 20 %), fetches
 * every segment it lists that it has not fetched, in order, and stops when the playlist has
 * ended and every segment is fetched, or at `deadline` (ms since the epoch). Resolves to
 * `{ seqs, firstSeenMs: Map(seq → ms), errors, playlistStatuses }`; segment bytes are
 * checked against `expected(seq)` when given.
 */
export async function runViewer({ base, playlistPath, pollMs, deadline, expected }) {
  const dirPath = playlistPath.slice(0, playlistPath.lastIndexOf('/') + 1);
  const seqs = [];
  const firstSeenMs = new Map();
  const errors = [];
  const playlistStatuses = {};
  let next = null;
  let ended = false;
  while (Date.now() < deadline) {
    let list;
    try {
      const res = await get(base, playlistPath);
      playlistStatuses[res.status] = (playlistStatuses[res.status] ?? 0) + 1;
      if (res.status === 200) list = parseMediaPlaylist(res.body.toString());
    } catch (e) {
      errors.push(`playlist: ${e.message}`);
    }
    if (list) {
      ended = list.ended;
      const now = Date.now();
      for (const [i, uri] of list.uris.entries()) {
        const seq = list.first + i;
        if (next === null) next = seq;
        if (seq < next) continue;
        if (seq > next) { errors.push(`segment ${next} left the window before it was fetched (window starts ${list.first})`); next = seq; }
        if (!firstSeenMs.has(seq)) firstSeenMs.set(seq, now);
        try {
          const res = await get(base, dirPath + uri);
          if (res.status !== 200) { errors.push(`${uri}: ${res.status}`); break; }
          if (expected && !res.body.equals(expected(seq))) { errors.push(`${uri}: bytes differ from the upload`); }
          seqs.push(seq);
          next = seq + 1;
        } catch (e) {
          errors.push(`${uri}: ${e.message}`);
          break;
        }
      }
      if (ended && next === list.first + list.uris.length) break;
    }
    await sleep(pollMs * (0.8 + 0.4 * Math.random()));
  }
  if (!ended) errors.push(`the playlist had not ended by the deadline; last segment fetched: ${seqs.at(-1)}`);
  return { seqs, firstSeenMs, errors, playlistStatuses };
}

/**
 * A TCP delay line on 127.0.0.1: every byte is delivered `rttMs / 2` late in each direction,
 * and a connection's first bytes wait one more round trip (the TCP handshake a real path of
 * that length would cost). The stand-in for `tc netem delay` where the kernel has no netem.
 * Resolves to `{ url, host, close() }`.
 */
export function startDelayLine({ target, rttMs }) {
  const oneWay = rttMs / 2;
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    const opened = Date.now() + rttMs;
    // One queue per direction, delivered in order: a chunk leaves `oneWay` after it came, and
    // client → upstream not before the handshake's round trip.
    const forward = (from, to, notBefore) => {
      const queue = [];
      let timer = null;
      const pump = () => {
        timer = null;
        while (queue.length && queue[0].at <= Date.now()) {
          const { chunk } = queue.shift();
          if (to.destroyed) return;
          if (chunk === null) to.end(); else to.write(chunk);
        }
        if (queue.length) timer = setTimeout(pump, queue[0].at - Date.now());
      };
      const push = (chunk) => {
        queue.push({ at: Math.max(Date.now() + oneWay, notBefore + oneWay), chunk });
        if (!timer) timer = setTimeout(pump, queue[0].at - Date.now());
      };
      from.on('data', push);
      from.on('end', () => push(null));
    };
    forward(client, upstream, opened);
    forward(upstream, client, 0);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const host = `127.0.0.1:${server.address().port}`;
      resolve({
        url: `http://${host}`,
        host,
        close: () => new Promise((ok) => { for (const s of sockets) s.destroy(); server.close(() => ok()); }),
      });
    });
  });
}
