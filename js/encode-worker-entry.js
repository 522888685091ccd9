// The encode Worker's main script (the package's entry starts it; see
// js/encode-worker-start.js). It imports the glue and the worker code statically, so a
// bundler bundles both into the worker, and starts the parallel backend's openh264
// sub-workers with the `new Worker(new URL(...))` form bundlers emit.
// scripts/pkg-workers.mjs copies it into the package's workers/ folder.
import init, * as glue from '../livecast_glue.js';
import { serveEncodeWorker } from './encode-worker.js';

serveEncodeWorker(
  async () => {
    await init();
    return glue;
  },
  (index) => new Worker(new URL('./openh264-worker-entry.js', import.meta.url), { type: 'module', name: `livecast-openh264-${index}` }),
);
