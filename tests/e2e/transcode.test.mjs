// End to end with transcoding: the fake camera → Broadcaster (session key, signed segments)
// → a real relay → two real livecast-transcoder nodes, one killed with SIGKILL mid-stream
// → an ABR ladder checked by ffprobe/ffmpeg and played by hls.js level by level.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openBrowser } from '../support/browser.mjs';
import { makeY4m, decodeErrors } from '../support/media.mjs';
import { startRelay, startTranscoder } from '../support/relay.mjs';

const run = promisify(execFile);
const PROFILES = { P360p30fps16x9: [640, 360, 1200], P240p30fps16x9: [426, 240, 600] };
let dir, relay, nodes, browser;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-transcode-'));
  await makeY4m(join(dir, 'camera.y4m'), { width: 640, height: 480, fps: 30, seconds: 3 });
  nodes = await Promise.all([0, 1].map((i) => startTranscoder({ dataDir: join(dir, `node${i}`) })));
  relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--open', ...nodes.flatMap((n) => ['--transcoder', n.url])] });
  browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  await Promise.all((nodes ?? []).map((n) => n.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('20 s broadcast transcoded by two nodes, one killed at ~8 s: every seq in every rendition, ladder plays', async () => {
  const { page } = browser;
  await page.goto(`${relay.url}/www/broadcast.html`);
  await page.waitForFunction(() => window.livecastReady);
  const stream = await (await fetch(`${relay.url}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json();
  await page.evaluate(async ({ id, key, relayUrl, profiles }) => {
    const { Broadcaster } = await import('../pkg/livecast.js');
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key,
      video: { width: 640, height: 480, fps: 30, bitrateKbps: 2000 },
      segmentSeconds: 2, encoder: 'webcodecs', transcode: { profiles },
    });
    window.tx = { b, segments: [], errors: [] };
    b.on('segment', (s) => window.tx.segments.push(s));
    b.on('error', (e) => window.tx.errors.push(e));
    await b.start();
  }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url, profiles: Object.keys(PROFILES) });
  await page.waitForTimeout(8000);
  const victim = nodes[0];
  await victim.kill();
  await page.waitForTimeout(12_000);
  await page.evaluate(() => window.tx.b.stop());
  const { segments, errors } = await page.evaluate(() => ({ segments: window.tx.segments, errors: window.tx.errors }));
  assert.deepEqual(errors.filter((e) => e.fatal), []);
  // 20 s at 2 s per segment is about 10 segments; the failover and the final drain may
  // cost one or two acknowledgements. Completeness is checked against the relay below.
  assert.ok(segments.length >= 7, `${segments.length} segments acknowledged`);
  const transcoded = segments.filter((s) => s.renditions.length === 2);
  assert.ok(transcoded.length >= segments.length - 1, `renditions for ${transcoded.length} of ${segments.length} segments`);
  assert.ok(segments.some((s) => s.transcoder === nodes[1].url), 'the surviving node took over');
  for (const s of transcoded) {
    for (const r of s.renditions) assert.deepEqual([r.width, r.height], PROFILES[r.profile].slice(0, 2), `seq ${s.seq} ${r.profile}`);
  }

  // The ladder: master playlist with the source and both renditions.
  const master = await (await fetch(`${relay.url}/hls/${stream.id}/master.m3u8`)).text();
  for (const [name, [w, h]] of Object.entries(PROFILES)) {
    assert.match(master, new RegExp(`RESOLUTION=${w}x${h}`), `${name} in the master playlist`);
  }
  assert.equal(await decodeErrors(`${relay.url}/hls/${stream.id}/master.m3u8`, null), '', 'ffmpeg decodes the ladder');
  const sourcePlaylist = await (await fetch(`${relay.url}/hls/${stream.id}/index.m3u8`)).text();
  const sourceSeqs = [...sourcePlaylist.matchAll(/^(\d+)\.ts$/gm)].map((m) => Number(m[1]));
  assert.ok(sourceSeqs.length >= segments.length, `${sourceSeqs.length} source segments`);
  for (const [name, [w, h, kbps]] of Object.entries(PROFILES)) {
    const playlist = await (await fetch(`${relay.url}/hls/${stream.id}/${name}/index.m3u8`)).text();
    const gaps = (playlist.match(/#EXT-X-GAP/g) ?? []).length;
    const listed = [...playlist.matchAll(/^(\d+)\.ts$/gm)].map((m) => Number(m[1]));
    assert.ok(gaps <= 1, `${name}: ${gaps} gaps`);
    assert.deepEqual(listed, sourceSeqs, `${name}: every seq listed (gaps included)`);
    // ffprobe: resolution, and the bitrate within ±35 % of the profile over the stream.
    let bytes = 0, seconds = 0;
    for (const seq of sourceSeqs.slice(0, -1)) { // the last segment is short: leave it out of the rate
      const res = await fetch(`${relay.url}/hls/${stream.id}/${name}/${seq}.ts`);
      if (!res.ok) continue; // the one allowed gap
      const local = join(dir, `${name}-${seq}.ts`);
      const body = Buffer.from(await res.arrayBuffer());
      await writeFile(local, body);
      const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height:format=duration', '-of', 'json', local]);
      const probe = JSON.parse(stdout);
      assert.deepEqual([probe.streams[0].width, probe.streams[0].height], [w, h], `${name} seq ${seq}`);
      bytes += body.length;
      seconds += Number(probe.format.duration);
    }
    const measured = (bytes * 8) / seconds / 1000;
    assert.ok(Math.abs(measured - kbps) <= kbps * 0.35, `${name}: ${measured.toFixed(0)} kbit/s for ${kbps}`);
  }

  // hls.js plays the master, and keeps playing when each level is forced in turn.
  const watch = await browser.context.newPage();
  await watch.goto(`${relay.url}/www/tests/play-levels.html?src=${encodeURIComponent(`/hls/${stream.id}/master.m3u8`)}`);
  await watch.waitForFunction(() => window.levelsResult, null, { timeout: 90_000 });
  const result = await watch.evaluate(() => window.levelsResult);
  await watch.close();
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.levels, 3);
  for (const level of result.played) assert.ok(level.advanced >= 1, `level ${level.index} (${level.height}p) advanced ${level.advanced} s`);
});
