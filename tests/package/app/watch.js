// A watch page of the same dApp, with the watch-only entry (`livecast/player`).
// ?src=URL is the stream's playbackUrl; the test reads window.app.
import init, { Player } from 'livecast/player';

const app = { state: 'loading', errors: [] };
window.app = app;

try {
  await init();
  const player = new Player(document.querySelector('video'));
  player.on('error', (e) => app.errors.push({ type: e.type, details: e.details, message: e.message, fatal: e.fatal }));
  player.load(new URLSearchParams(location.search).get('src'));
  app.state = 'playing';
} catch (e) {
  app.state = 'failed';
  app.failure = `${e.code ?? e.name}: ${e.message}`;
}
