// HLS edge caches (deploy/nginx/livecast-edge.conf) in front of a real relay: a live
// stream of ffmpeg-made MPEG-TS segments uploaded in real time, hundreds of lightweight
// viewers (node:http, no player) through two real nginx edges, and what the origin saw.
//
// Asserted: every viewer fetched every segment from its first one to the last, in order,
// byte for byte; each segment cost the origin at most about one request per edge (nginx's
// log, background updates included, and the relay's own request log); playlists at most
// about one per micro-cache period per edge; an expired, unchanged playlist is revalidated
// with a 304;
// a segment not uploaded yet is a 404 cached a second at most; a playlist of 4 s segments
// is kept 2 s (the relay's s-maxage over its max-age=1); uploads are refused by the edge;
// CORS and the validators pass through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, createStream } from '../support/relay.mjs';
import { startEdge, makeSegments, runViewer, get, sleep, closeAgents } from '../support/edge.mjs';

const SEGMENT_SECONDS = 2;
const SEGMENTS = 14;
const VIEWERS = Number(process.env.LIVECAST_EDGE_VIEWERS ?? 500);
const EDGES = 2;

let dir, relay, edges = [], segments;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-edge-'));
  segments = await makeSegments(join(dir, 'media'), { count: SEGMENTS, seconds: SEGMENT_SECONDS });
  // info: the relay logs one line per request (its route span names the path, the line the
  // status): the origin's own count.
  const saved = process.env.RUST_LOG;
  process.env.RUST_LOG = 'warn,tower_http::trace=info,livecast_relay::routes=info';
  try {
    relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--open', '--window-segments', '6'] });
  } finally {
    if (saved === undefined) delete process.env.RUST_LOG; else process.env.RUST_LOG = saved;
  }
  const origin = new URL(relay.url).host;
  for (let i = 0; i < EDGES; i++) {
    edges.push(await startEdge({ prefix: join(dir, `edge${i}`), origin }));
  }
});

after(async () => {
  closeAgents();
  await Promise.all(edges.map((e) => e.stop()));
  await relay?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The relay's request log: `[{ path, status }]` (tower-http's "finished processing request" lines). */
function originRequests() {
  return relay.output.join('').split('\n')
    .map((l) => l.match(/path=(\S+?)\}.*finished processing request.*status=(\d+)/))
    .filter(Boolean)
    .map(([, path, status]) => ({ path, status: Number(status) }));
}

const countBy = (items, key) => items.reduce((m, x) => m.set(key(x), (m.get(key(x)) ?? 0) + 1), new Map());
const pct = (values, p) => { const s = [...values].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

test('edge: misses are not pinned, uploads are refused, CORS and validators pass through', async () => {
  const [edge] = edges;
  const stream = await createStream(relay.url);
  const miss = await get(edge.url, `/hls/${stream.id}/0.ts`, { headers: { origin: 'https://viewer.example' } });
  assert.equal(miss.status, 404);
  assert.equal(miss.headers['cache-control'], 'max-age=1');
  assert.equal(miss.headers['access-control-allow-origin'], '*');
  const put = await fetch(`${edge.url}/live/${stream.id}/0.ts`, { method: 'PUT', body: segments[0], headers: { authorization: `Bearer ${stream.streamKey}` } });
  assert.equal(put.status, 405, 'an edge takes no uploads');
  assert.equal((await fetch(`${edge.url}/api/streams`, { method: 'POST', body: '{}' })).status, 405);
  const status = await get(edge.url, `/api/streams/${stream.id}`);
  assert.equal(status.status, 200, 'a stream status passes through');
  assert.equal(status.headers['x-cache-status'], undefined, 'and is not cached');

  const up = await fetch(`${relay.url}/live/${stream.id}/0.ts`, { method: 'PUT', body: segments[0], headers: { authorization: `Bearer ${stream.streamKey}` } });
  assert.equal(up.status, 201, await up.text());
  // The 404 was cached a second at most: within ~2.5 s the edge serves the segment.
  const deadline = Date.now() + 5000;
  let seg;
  do {
    seg = await get(edge.url, `/hls/${stream.id}/0.ts`, { headers: { origin: 'https://viewer.example' } });
    if (seg.status === 200) break;
    await sleep(200);
  } while (Date.now() < deadline);
  assert.equal(seg.status, 200, `segment 0 still ${seg.status} (${seg.headers['x-cache-status']}) through the edge 5 s after its upload`);
  assert.ok(seg.body.equals(segments[0]), 'the uploaded bytes');
  assert.equal(seg.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(seg.headers['access-control-allow-origin'], '*');
  const hit = await get(edge.url, `/hls/${stream.id}/0.ts`);
  assert.equal(hit.headers['x-cache-status'], 'HIT');
  const list = await get(edge.url, `/hls/${stream.id}/index.m3u8`);
  assert.equal(list.status, 200);
  assert.match(list.headers.etag, /^"[0-9a-f]{32}"$/);
  assert.ok(list.headers['last-modified'], 'Last-Modified passes through');
  const again = await get(edge.url, `/hls/${stream.id}/index.m3u8`, { headers: { 'if-none-match': list.headers.etag } });
  assert.equal(again.status, 304, `a viewer's own revalidation: ${again.status} ${again.headers['x-cache-status']}`);

  // Expired but unchanged (no upload meanwhile): the edge revalidates with the cached
  // validators and the origin answers 304 (in the background: the viewer gets the copy it
  // had, marked STALE or UPDATING, and the next one a refreshed HIT).
  await sleep(2500);
  const expired = await get(edge.url, `/hls/${stream.id}/index.m3u8`);
  assert.ok(['STALE', 'UPDATING', 'REVALIDATED'].includes(expired.headers['x-cache-status']), `after expiry: ${expired.headers['x-cache-status']}`);
  assert.ok(expired.body.equals(list.body));
  await sleep(150);
  const fresh = await get(edge.url, `/hls/${stream.id}/index.m3u8`);
  assert.equal(fresh.headers['x-cache-status'], 'HIT', 'the background revalidation refreshed the cached copy');
  const until = Date.now() + 5000;
  let revalidations = [];
  while (Date.now() < until) {
    await sleep(1100); // the access log is flushed every second
    revalidations = (await edge.log()).filter((l) => l.uri === `/hls/${stream.id}/index.m3u8` && l.origin !== '-' && l.originStatus === '304');
    if (revalidations.length) break;
  }
  const lines = (await edge.log()).filter((l) => l.uri === `/hls/${stream.id}/index.m3u8`).map((l) => `${l.cache}/${l.originStatus}`);
  assert.equal(revalidations.length, 1, `one revalidation answered 304 by the origin; the playlist's log: ${lines.join(' ')}`);
});

test('edge: a playlist of 4 s segments is kept 2 s at the edge (the relay\'s s-maxage), 1 s by players', async () => {
  const [edge] = edges;
  const [long] = await makeSegments(join(dir, 'media4'), { count: 1, seconds: 4 });
  const stream = await createStream(relay.url);
  const up = await fetch(`${relay.url}/live/${stream.id}/0.ts`, { method: 'PUT', body: long, headers: { authorization: `Bearer ${stream.streamKey}` } });
  assert.equal(up.status, 201, await up.text());
  // nginx counts whole seconds from the second it stored the entry: store early in a second.
  await sleep(1000 - (Date.now() % 1000) + 100);
  const path = `/hls/${stream.id}/index.m3u8`;
  const first = await get(edge.url, path);
  assert.equal(first.status, 200);
  assert.equal(first.headers['x-cache-status'], 'MISS');
  assert.equal(first.headers['cache-control'], 'max-age=1, s-maxage=2');
  await sleep(2000);
  // max-age=1 would have expired by now (stored at T.1, valid through second T+1).
  const later = await get(edge.url, path);
  assert.equal(later.headers['x-cache-status'], 'HIT', `2 s after it was stored, ${Date.now() % 1000} ms into a second`);
});

test(`edge: ${VIEWERS} viewers of one live stream through ${EDGES} edges cost the origin ~one request per segment per edge`, async () => {
  const stream = await createStream(relay.url);
  const id = stream.id;
  const uploadedAt = new Map();
  const upload = async (seq) => {
    const res = await fetch(`${relay.url}/live/${id}/${seq}.ts`, { method: 'PUT', body: segments[seq], headers: { authorization: `Bearer ${stream.streamKey}` } });
    assert.equal(res.status, 201, `upload of ${seq}: ${res.status} ${await res.text()}`);
    uploadedAt.set(seq, Date.now());
  };
  await upload(0);
  const t0 = Date.now();
  // The broadcaster: one segment every SEGMENT_SECONDS, on the clock, then the end.
  const broadcaster = (async () => {
    for (let seq = 1; seq < SEGMENTS; seq++) {
      await sleep(Math.max(0, t0 + seq * SEGMENT_SECONDS * 1000 - Date.now()));
      await upload(seq);
    }
    await sleep(SEGMENT_SECONDS * 1000);
    const res = await fetch(`${relay.url}/api/streams/${id}/end`, { method: 'POST', headers: { authorization: `Bearer ${stream.streamKey}` } });
    assert.equal(res.status, 200);
    return Date.now();
  })();
  const duration = SEGMENTS * SEGMENT_SECONDS * 1000;
  const deadline = t0 + duration + 30_000;
  // Viewers join over the first second, half on each edge, polling every half target duration.
  const viewers = [...Array(VIEWERS).keys()].map(async (i) => {
    await sleep(Math.random() * 1000);
    const edge = edges[i % EDGES];
    return { edge: i % EDGES, ...(await runViewer({ base: edge.url, playlistPath: `/hls/${id}/index.m3u8`, pollMs: SEGMENT_SECONDS * 500, deadline, expected: (seq) => segments[seq] })) };
  });
  const results = await Promise.all(viewers);
  const endedAt = await broadcaster;
  await sleep(1500); // nginx flushes its log every second

  // Every viewer: every segment from its first to the last one, in order, no error.
  const last = SEGMENTS - 1;
  for (const [i, r] of results.entries()) {
    assert.deepEqual(r.errors, [], `viewer ${i} (edge ${r.edge}): ${r.errors.slice(0, 5).join('; ')}`);
    assert.ok(r.seqs.length > 0 && r.seqs[0] <= 1, `viewer ${i} started at ${r.seqs[0]}`);
    assert.deepEqual(r.seqs, [...Array(last - r.seqs[0] + 1).keys()].map((k) => k + r.seqs[0]), `viewer ${i}: segments out of order or missing`);
  }

  const segPath = new RegExp(`^/hls/${id}/(\\d+)\\.ts$`);
  const listPath = `/hls/${id}/index.m3u8`;
  const seconds = (endedAt - t0) / 1000 + 2;
  const micro = Math.max(1, Math.floor(SEGMENT_SECONDS / 2));
  // Per edge, from its own log: lines that went to the origin (background updates included).
  const perEdge = [];
  for (const [e, edge] of edges.entries()) {
    const log = (await edge.log()).filter((l) => l.uri.startsWith(`/hls/${id}/`));
    const toOrigin = log.filter((l) => l.origin !== '-');
    const segCounts = countBy(toOrigin.filter((l) => segPath.test(l.uri)), (l) => l.uri);
    const listToOrigin = toOrigin.filter((l) => l.uri === listPath);
    const list304 = listToOrigin.filter((l) => l.originStatus.split(/[ ,:]+/).includes('304')).length;
    const cacheStates = Object.fromEntries(countBy(log, (l) => l.cache));
    perEdge.push({ edge: e, requests: log.length, segmentFetches: Object.fromEntries(segCounts), playlistFetches: listToOrigin.length, playlist304: list304, cacheStates });
    for (let seq = 0; seq <= last; seq++) {
      const n = segCounts.get(`/hls/${id}/${seq}.ts`) ?? 0;
      assert.ok(n >= 1 && n <= 2, `edge ${e}: segment ${seq} fetched from the origin ${n} times (cache states ${JSON.stringify(cacheStates)})`);
    }
    // One fetch per micro-cache period (an entry lives micro to micro + 1 s), plus a few.
    const bound = Math.ceil(seconds / micro) + 5;
    assert.ok(listToOrigin.length <= bound, `edge ${e}: ${listToOrigin.length} playlist requests to the origin in ${seconds.toFixed(0)} s (bound ${bound})`);
  }
  // The origin's own view: its request log, both edges together.
  const seen = originRequests().filter((r) => r.path.startsWith(`/hls/${id}/`));
  const originSegs = countBy(seen.filter((r) => segPath.test(r.path)), (r) => r.path);
  for (let seq = 0; seq <= last; seq++) {
    const n = originSegs.get(`/hls/${id}/${seq}.ts`) ?? 0;
    assert.ok(n >= 1 && n <= 2 * EDGES, `the relay served segment ${seq} ${n} times to ${EDGES} edges`);
  }
  const originLists = seen.filter((r) => r.path === listPath);
  // (Revalidations answered 304 are counted, not required: with a 2 s target the playlist
  // changes about as often as an edge's copy expires. The first test requires one.)
  const origin304 = originLists.filter((r) => r.status === 304).length;

  const viewerRequests = results.reduce((n, r) => n + r.seqs.length + Object.values(r.playlistStatuses).reduce((a, b) => a + b, 0), 0);
  const delays = results.flatMap((r) => [...r.firstSeenMs].filter(([s]) => uploadedAt.has(s) && s > 0).map(([s, t]) => t - uploadedAt.get(s)));
  console.log(JSON.stringify({
    viewers: VIEWERS, edges: EDGES, segments: SEGMENTS, segmentSeconds: SEGMENT_SECONDS, seconds: Math.round(seconds),
    viewerRequests, originRequests: seen.length, originPlaylistRequests: originLists.length, originPlaylist304: origin304,
    uploadToListedMs: { p50: pct(delays, 0.5), p95: pct(delays, 0.95), max: pct(delays, 1) },
    perEdge,
  }, null, 1));
});
