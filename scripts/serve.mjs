// Serves the demo pages and the wasm package on 127.0.0.1 (default port 8080).
// Usage: node scripts/serve.mjs [--port N]
import { startServer } from '../tests/support/server.mjs';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8080);
const { url, close } = await startServer({ port, log: (l) => console.log(l) });
console.log(`Livecast demo: ${url}/www/index.html  (Ctrl+C to stop)`);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => close().then(() => process.exit(0)));
