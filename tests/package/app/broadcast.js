// A page of a dApp that broadcasts, as its author writes it against the npm package
// (`livecast`): the packaging tests build it with Vite, webpack and no bundler at all.
// ?relay=URL&id=ID&key=KEY say where to broadcast; the test reads window.app.
import init, { Broadcaster } from 'livecast';

const params = new URLSearchParams(location.search);
const app = { state: 'loading', segments: [], errors: [] };
window.app = app;

try {
  await init();
  const b = new Broadcaster({
    relayUrl: params.get('relay'),
    streamId: params.get('id'),
    streamKey: params.get('key'),
    video: { width: 320, height: 240, fps: 15, bitrateKbps: 400 },
    segmentSeconds: 1,
    // openh264 in two sub-workers: the encode Worker and the Workers it starts must all
    // have been emitted by the bundler.
    encoder: 'openh264',
    encoderWorkers: 2,
  });
  b.on('segment', (s) => app.segments.push(s.seq));
  b.on('error', (e) => app.errors.push({ code: e.code, message: e.message, fatal: e.fatal }));
  b.on('stats', (s) => { app.encoder = s.encoder; });
  await b.start();
  document.querySelector('video').srcObject = b.mediaStream;
  app.stop = () => b.stop();
  app.state = 'live';
} catch (e) {
  app.state = 'failed';
  app.failure = `${e.code ?? e.name}: ${e.message}`;
}
