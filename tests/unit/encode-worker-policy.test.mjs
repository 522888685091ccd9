// The encode worker's policies, run natively in Node (no browser): the frame pacer, the
// reorder of parallel encoders' output, the capture-clock mapping. The worker's modules
// import nothing of the browser at load time, so Node imports them as they ship.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FramePacer, SegmentOrder } from '../../js/encode-worker.js';
import { CaptureClock } from '../../js/audio-encode.js';

test('FramePacer: a 60 fps camera gives 30 fps for fps 30, a 50 fps one 30 too (not 25)', () => {
  for (const [cameraFps, expected] of [[60, 30], [50, 30], [30, 30], [20, 20]]) {
    const pacer = new FramePacer(30);
    let taken = 0;
    for (let n = 0; n < cameraFps * 10; n++) if (pacer.take(Math.round((n * 1e6) / cameraFps))) taken++;
    assert.ok(Math.abs(taken / 10 - expected) <= 0.2, `${cameraFps} fps camera: ${taken / 10} fps taken, expected ${expected}`);
  }
});

test('FramePacer: a camera a little faster than fps loses no frame; a clock jump restarts the grid', () => {
  const pacer = new FramePacer(30);
  let taken = 0;
  for (let n = 0; n < 301; n++) if (pacer.take(Math.round((n * 1e6) / 30.1))) taken++;
  assert.equal(taken, 301, 'every frame of a 30.1 fps camera');
  // The source's clock goes back 10 s (a looping file, a new track): frames are taken at once.
  const jumpy = new FramePacer(30);
  for (let n = 0; n < 30; n++) jumpy.take(10e6 + n * 33_333);
  assert.equal(jumpy.take(0), true);
  assert.equal(jumpy.take(33_333), true);
});

test('SegmentOrder: frames of two encoders come out in capture order, each once', () => {
  const out = [];
  const order = new SegmentOrder((f) => out.push(f));
  // Segment 0 on encoder A, 1 on encoder B (faster), 2 on A again.
  order.frame(1, 't10');
  order.frame(1, 't11');
  order.frame(0, 't00');
  assert.deepEqual(out, ['t00'], 'segment 1 waits for 0');
  assert.equal(order.held, 2);
  order.done(1);
  order.frame(0, 't01');
  assert.deepEqual(out, ['t00', 't01']);
  order.frame(2, 't20');
  order.done(0);
  assert.deepEqual(out, ['t00', 't01', 't10', 't11', 't20'], 'segment 1 released once 0 is done, then 2 (now current)');
  assert.equal(order.next, 2);
  order.frame(2, 't21');
  order.done(2);
  assert.deepEqual(out, ['t00', 't01', 't10', 't11', 't20', 't21']);
  assert.equal(order.held, 0);
  assert.throws(() => order.frame(1, 'late'), /after that segment was done/);
});

test('CaptureClock: the offset is the least lag of fresh arrivals, then frozen; backlogged items do not count', () => {
  const realNow = performance.now;
  let nowMs = 1000;
  performance.now = () => nowMs;
  try {
    const clock = new CaptureClock({ fresh: 3, fallback: 60 });
    // Device stamps (µs) with a true offset of 500 ms; arrivals lag 2..8 ms behind.
    const mapped = [];
    for (const [stamp, lagMs, fresh] of [[0, 8, true], [33_333, 30, false], [66_666, 2, true], [100_000, 5, true], [133_333, 9, true]]) {
      nowMs = 500 + stamp / 1000 + lagMs;
      mapped.push(clock.map(stamp, fresh));
    }
    assert.deepEqual(mapped.slice(0, 3), [null, null, null], 'calibrating on 3 fresh items');
    assert.ok(Math.abs(mapped[3] - (100_000 + 502_000)) < 1, `offset from the least fresh lag (2 ms), the backlogged 30 ms ignored: ${mapped[3]}`);
    assert.ok(Math.abs(mapped[4] - (133_333 + 502_000)) < 1, `frozen afterwards: ${mapped[4]}`);
  } finally {
    performance.now = realNow;
  }
});
