// Starts the Broadcaster's encode Worker and turns every way it can fail into an error
// message to the Broadcaster, so that `start()` rejects (and an `error` event says why)
// instead of waiting forever.
//
// This file is a wasm-bindgen snippet: the package's glue imports it, in pages and in the
// Workers alike. It must not create the Worker itself with `new Worker(new URL(...))`: the
// encode Worker imports the glue too, so a bundler would see a Worker that starts itself
// (Vite refuses that). The package's entry (`livecast`, livecast.js, written by
// scripts/pkg-workers.mjs) does it, with the `new Worker(new URL('…', import.meta.url),
// { type: 'module' })` form bundlers rewrite and emit, and hands the factory over here.

/** How long the worker has to load the wasm module and report `ready`, ms. */
export const READY_TIMEOUT_MS = 20_000;

let factory = null;

/** Called by the package's entry: `create()` returns a new encode Worker. */
export function setEncodeWorkerFactory(create) {
  factory = create;
}

/**
 * A new encode Worker whose messages go to `onMessage`. Its failures come to `onMessage`
 * too, as `{ type: 'error', code: 'ENCODER_FAILED', fatal: true, message }`: a script that
 * did not load or threw (`error`), a message that could not be read (`messageerror`), and
 * a worker that did not report `ready` (or an error) within READY_TIMEOUT_MS. Throws when
 * the package was not loaded through its entry.
 */
export function startEncodeWorker(onMessage) {
  if (!factory) {
    throw new Error('the encode worker is started by the package\'s entry: import the Broadcaster from "livecast" (livecast.js), not from livecast_glue.js');
  }
  const worker = factory();
  let answered = false;
  let failed = false;
  const fail = (message) => {
    if (failed) return;
    failed = true;
    clearTimeout(timer);
    const data = { type: 'error', code: 'ENCODER_FAILED', fatal: true, message };
    try {
      onMessage(new MessageEvent('message', { data }));
    } catch {
      // The Broadcaster has already been torn down: nobody is left to tell.
    }
  };
  const timer = setTimeout(() => {
    if (answered) return;
    worker.terminate();
    fail(`the encode worker did not start within ${READY_TIMEOUT_MS / 1000} s (it neither reported ready nor failed); check the browser console for the worker's own errors`);
  }, READY_TIMEOUT_MS);
  worker.addEventListener('message', (event) => {
    const type = event.data?.type;
    if (type === 'ready' || type === 'error') {
      answered = true;
      clearTimeout(timer);
    }
    onMessage(event);
  });
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    fail(describeError(event));
  });
  worker.addEventListener('messageerror', () => fail('a message from the encode worker could not be deserialised (messageerror)'));
  return worker;
}

/** The message of a Worker's `error` event: an ErrorEvent thrown in the worker, or a
 *  plain Event when its script (or a module it imports) could not be loaded. */
function describeError(event) {
  if (event.message) {
    const where = event.filename ? ` (${event.filename}:${event.lineno})` : '';
    return `the encode worker failed: ${event.message}${where}`;
  }
  return 'the encode worker\'s script could not be loaded or evaluated (a missing file, a network error, or a bundler that did not emit the worker); the browser console names the file';
}
