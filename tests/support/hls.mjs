// HLS fixtures made by ffmpeg, and a small HLS test server that injects faults, for the
// Player's browser tests and benchmark.
//
// Fixtures (`makeFixtures`): a three-level VOD ladder in MPEG-TS (1 s segments, keyframes
// aligned across levels), the same picture as fMP4 HLS (EXT-X-MAP), and a playlist with an
// EXT-X-DISCONTINUITY between two clips of different size and timestamps.
//
// Server (`startHlsServer`): serves the fixtures under /hls/, a live ladder generated on
// the clock from the VOD segments under /live/ (sliding window, PROGRAM-DATE-TIME, a
// discontinuity where the source loops), the pages and the wasm package, and a page for
// tests at /player-test.html. Faults are set on `server.faults` while it runs:
// `segment503Every` (every Nth segment request answers 503), `missing` (segment names that
// answer 404), `playlistFailures` (the next N media-playlist requests answer 503),
// `throttleKbps` (segments are delivered at that rate), `corrupt` (file names whose bytes
// after the first 8 are overwritten: a media error in the browser), `held` (segment names
// answered only after `heldMs`, 8 s by default). A request the client gave up before its
// answer was sent has `aborted: true` in `requests`.
import { createServer } from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile, stat, readdir } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { repoRoot } from './server.mjs';

const run = promisify(execFile);
const BIG = { maxBuffer: 64 * 1024 * 1024 };

/** The VOD ladder: name, size, video bit rate (kbit/s). Lowest first. */
export const LADDER = [
  { name: '240p', width: 426, height: 240, kbps: 300 },
  { name: '360p', width: 640, height: 360, kbps: 800 },
  { name: '720p', width: 1280, height: 720, kbps: 2500 },
];

/** ffmpeg arguments for `seconds` of testsrc2 in H.264 at `kbps`, a keyframe every second. */
function encodeArgs({ width, height, kbps }, seconds, offset = 0) {
  return [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-t', String(seconds),
    '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-force_key_frames', 'expr:gte(t,n_forced*1)',
    ...(offset ? ['-output_ts_offset', String(offset)] : []),
  ];
}

/**
 * Writes the fixtures under `dir` (skipped when already there):
 * `ladder/{240p,360p,720p}/index.m3u8` + `ladder/master.m3u8` (TS, `seconds` long),
 * `fmp4/index.m3u8` (+ init.mp4, .m4s), `av/index.m3u8` (TS with AAC audio),
 * `disc/index.m3u8` (two clips, a discontinuity).
 */
export async function makeFixtures(dir, { seconds = 30 } = {}) {
  const done = join(dir, '.done');
  if (await stat(done).catch(() => null)) return;
  await mkdir(dir, { recursive: true });
  // Levels one after the other: the machine may have two cores only.
  for (const level of LADDER) {
    const out = join(dir, 'ladder', level.name);
    await mkdir(out, { recursive: true });
    await run('ffmpeg', [...encodeArgs(level, seconds), '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod',
      '-hls_segment_filename', join(out, '%d.ts'), join(out, 'index.m3u8')], BIG);
  }
  const master = ['#EXTM3U', '#EXT-X-VERSION:3'];
  for (const l of LADDER) {
    master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${Math.round(l.kbps * 1100)},RESOLUTION=${l.width}x${l.height},CODECS="avc1.42c01f"`, `${l.name}/index.m3u8`);
  }
  await writeFile(join(dir, 'ladder', 'master.m3u8'), master.join('\n') + '\n');

  const fmp4 = join(dir, 'fmp4');
  await mkdir(fmp4, { recursive: true });
  await run('ffmpeg', [...encodeArgs(LADDER[1], 8), '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod',
    '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4',
    '-hls_segment_filename', join(fmp4, '%d.m4s'), join(fmp4, 'index.m3u8')], BIG);

  // TS with AAC audio beside the video (a 440 Hz tone), as ffmpeg's HLS muxer writes it.
  const av = join(dir, 'av');
  await mkdir(av, { recursive: true });
  const avArgs = encodeArgs(LADDER[1], 6).filter((a) => a !== '-an');
  avArgs.splice(avArgs.indexOf('-t'), 0, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  await run('ffmpeg', [...avArgs, '-c:a', 'aac', '-b:a', '96k', '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod',
    '-hls_segment_filename', join(av, '%d.ts'), join(av, 'index.m3u8')], BIG);

  // Two clips: 640x360 from t=0, then 426x240 with timestamps from t=1000 s.
  const disc = join(dir, 'disc');
  for (const [name, level, offset] of [['a', LADDER[1], 0], ['b', LADDER[0], 1000]]) {
    await mkdir(join(disc, name), { recursive: true });
    await run('ffmpeg', [...encodeArgs(level, 4, offset), '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod',
      '-hls_segment_filename', join(disc, name, '%d.ts'), join(disc, name, 'index.m3u8')], BIG);
  }
  const part = async (name) => (await readFile(join(disc, name, 'index.m3u8'), 'utf8'))
    .split('\n').filter((l) => l && !l.startsWith('#EXT-X-') && l !== '#EXTM3U')
    .map((l) => (l.startsWith('#') ? l : `${name}/${l}`));
  await writeFile(join(disc, 'index.m3u8'), ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:1',
    '#EXT-X-PLAYLIST-TYPE:VOD', ...(await part('a')), '#EXT-X-DISCONTINUITY', ...(await part('b')), '#EXT-X-ENDLIST'].join('\n') + '\n');
  await writeFile(done, 'ok\n');
}

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json',
  '.m3u8': 'application/vnd.apple.mpegurl', '.ts': 'video/mp2t', '.m4s': 'video/iso.segment', '.mp4': 'video/mp4',
};
const STATIC = ['www', 'pkg', 'node_modules/hls.js/dist'];

/** A page for tests: a muted autoplaying video, with the package loaded (not with `?bare`). */
const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>player test</title>
<video id="video" muted autoplay playsinline width="640" height="360"></video>
<script type="module">
  // ?bare: nothing loaded (a peer player is imported by the benchmark instead).
  if (!new URLSearchParams(location.search).has('bare')) {
    const { default: init, ...livecast } = await import('/pkg/livecast.js');
    const wasm = await init();
    window.livecast = livecast;
    window.wasmMemory = wasm.memory;
  }
  window.ready = true;
</script>`;

/** Segment count of each ladder level (the live generator loops over them). */
async function segmentCount(dir) {
  return (await readdir(join(dir, 'ladder', LADDER[0].name))).filter((f) => f.endsWith('.ts')).length;
}

/**
 * Starts the test server on 127.0.0.1. `fixtures`: the folder `makeFixtures` wrote.
 * `live`: `{ window = 6, segmentSeconds = 1, startSegments = 8 }` for the generated live
 * ladder (the clock starts `startSegments` segments in the past).
 * Resolves to `{ url, faults, requests, liveEpochMs, close() }`.
 */
export async function startHlsServer({ fixtures, live = {} }) {
  const { window = 6, segmentSeconds = 1, startSegments = 8 } = live;
  const count = await segmentCount(fixtures);
  const liveEpochMs = Date.now() - startSegments * segmentSeconds * 1000;
  const faults = { segment503Every: 0, missing: new Set(), playlistFailures: 0, throttleKbps: 0, corrupt: new Set(), held: new Set(), heldMs: 8000 };
  const requests = [];
  let segmentRequests = 0;

  const livePlaylist = (level) => {
    const now = Math.floor((Date.now() - liveEpochMs) / 1000 / segmentSeconds); // segments complete
    const first = Math.max(0, now - window);
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${Math.ceil(segmentSeconds)}`,
      `#EXT-X-MEDIA-SEQUENCE:${first}`, `#EXT-X-DISCONTINUITY-SEQUENCE:${Math.floor(first / count)}`];
    for (let seq = first; seq < now; seq++) {
      if (seq > 0 && seq % count === 0) lines.push('#EXT-X-DISCONTINUITY');
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(liveEpochMs + seq * segmentSeconds * 1000).toISOString()}`);
      lines.push(`#EXTINF:${segmentSeconds.toFixed(3)},`, `s${seq}.ts`);
    }
    return lines.join('\n') + '\n';
  };
  const liveMaster = () => ['#EXTM3U', '#EXT-X-VERSION:3', ...LADDER.flatMap((l) => [
    `#EXT-X-STREAM-INF:BANDWIDTH=${Math.round(l.kbps * 1100)},RESOLUTION=${l.width}x${l.height},CODECS="avc1.42c01f"`, `${l.name}/index.m3u8`,
  ])].join('\n') + '\n';

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    const entry = { path, t: Date.now(), status: 200, aborted: false };
    requests.push(entry);
    res.on('close', () => { entry.aborted = !res.writableFinished; });
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      entry.status = status;
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    try {
      if (path === '/player-test.html') return send(200, TEST_PAGE, MIME['.html']);
      const isMedia = path.startsWith('/hls/') || path.startsWith('/live/');
      const name = path.split('/').pop();
      const isPlaylist = name.endsWith('.m3u8');
      const isMasterPlaylist = name === 'master.m3u8';
      if (isMedia && isPlaylist && !isMasterPlaylist && faults.playlistFailures > 0 && requests.some((r) => r !== entry && r.path === path)) {
        faults.playlistFailures--;
        return send(503, 'playlist reload failure (test fault)');
      }
      if (isMedia && !isPlaylist) {
        segmentRequests++;
        if (faults.missing.has(name)) return send(404, 'missing segment (test fault)');
        if (faults.segment503Every > 0 && segmentRequests % faults.segment503Every === 0) return send(503, 'segment failure (test fault)');
      }
      if (path.startsWith('/live/')) {
        const [, , level, file] = path.split('/');
        if (level === 'master.m3u8') return send(200, liveMaster(), MIME['.m3u8']);
        if (!LADDER.some((l) => l.name === level)) return send(404, 'no such level');
        if (file === 'index.m3u8') return send(200, livePlaylist(level), MIME['.m3u8']);
        const m = /^s(\d+)\.ts$/.exec(file ?? '');
        if (!m) return send(404, 'not found');
        return sendFile(join(fixtures, 'ladder', level, `${Number(m[1]) % count}.ts`));
      }
      if (path.startsWith('/hls/')) return sendFile(safeJoin(fixtures, path.slice('/hls/'.length)));
      const top = STATIC.find((s) => path.startsWith(`/${s}/`));
      if (top) return sendFile(safeJoin(repoRoot, path.slice(1)));
      if (path === '/') {
        res.writeHead(302, { location: '/player-test.html' });
        return res.end();
      }
      return send(404, 'not found');
    } catch (e) {
      if (!res.headersSent) send(500, String(e));
    }

    async function sendFile(file) {
      const body = file && (await readFile(file).catch(() => null));
      if (!body) return send(404, 'not found');
      if (faults.corrupt.has(file.split(sep).pop())) body.fill(0x5a, 8); // box sizes kept, contents garbage
      if (isThrottled(file)) await new Promise((ok) => setTimeout(ok, (body.length * 8) / faults.throttleKbps));
      if (faults.held.has(file.split(sep).pop())) await new Promise((ok) => setTimeout(ok, faults.heldMs));
      if (res.destroyed) return;
      entry.status = 200;
      entry.bytes = body.length;
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', 'content-length': body.length });
      res.end(body);
    }
  });
  const isThrottled = (file) => faults.throttleKbps > 0 && /\.(ts|m4s)$/.test(file);
  await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    requests,
    liveEpochMs,
    segmentSeconds,
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }),
  };
}

/** `rel` under `root`, or null when it would escape it. */
function safeJoin(root, rel) {
  const path = resolve(root, '.' + sep + rel);
  return path.startsWith(resolve(root) + sep) && !rel.includes('\0') ? path : null;
}
