// The main script of one openh264 sub-worker of the encode Worker's parallel backend
// (started by encode-worker-entry.js). scripts/pkg-workers.mjs copies it into the
// package's workers/ folder.
import init, * as glue from '../livecast_glue.js';
import { serveSegmentEncoderWorker } from './encode-worker.js';

serveSegmentEncoderWorker(async () => {
  await init();
  return glue;
});
