// The broadcast demo: checks the wallet (when paying), creates a stream on the relay this
// page came from, then runs a Broadcaster and shows its state, stats (numbers and small live
// charts), spend and events; the funds are read from the chain after funding and while live.
// ?autostart=1 starts at once (tests).
import init, { Broadcaster, Wallet } from '../pkg/livecast.js';
import { Sparkline } from './lib/sparkline.js';
import { showMicLevel } from './audio-ui.js';

const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent = `${new Date().toLocaleTimeString()} ${line}\n` + $('log').textContent.slice(0, 20_000); };
let broadcaster = null;
let fundsTimer = null;

const STAT_LABELS = {
  capturedFps: ['Captured', (v) => `${v.toFixed(1)} fps`],
  encodedFps: ['Encoded', (v) => `${v.toFixed(1)} fps`],
  encodeMsP50: ['Encode p50', (v) => `${v.toFixed(1)} ms`],
  encodeMsP95: ['Encode p95', (v) => `${v.toFixed(1)} ms`],
  outputKbps: ['Output', (v) => `${v.toFixed(0)} kbit/s`],
  droppedFrames: ['Dropped frames (encoder busy)', String],
  uploadQueue: ['Upload queue', String],
  lastUploadMs: ['Last upload', (v) => (v == null ? '–' : `${v.toFixed(0)} ms`)],
  segmentsAcknowledged: ['Segments acknowledged', String],
  segmentsDropped: ['Segments dropped', String],
  ticketSender: ['Ticket sender', (v) => v ?? '–'],
  ticketsSent: ['Tickets sent', String],
  evPaid: ['Ticket EV sent (credit)', (v) => ethOrGwei(v)],
  feesDebited: ['Fees charged', (v) => ethOrGwei(v)],
  winningTickets: ['Winning tickets redeemed', String],
};
const ETH = 10n ** 18n;
// Shown as charts (with their current value) rather than as rows of numbers.
const CHARTED_STATS = ['encodedFps', 'encodeMsP95', 'outputKbps', 'lastUploadMs'];
const PAYMENT_STATS = ['ticketSender', 'ticketsSent', 'evPaid', 'feesDebited', 'winningTickets'];

// The live charts, and how each shows its scale.
const kbps = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} Mbit/s` : `${v.toFixed(0)} kbit/s`);
const ms = (v) => `${v.toFixed(0)} ms`;
const charts = {
  kbps: new Sparkline($('chart-kbps'), { format: kbps }),
  fps: new Sparkline($('chart-fps'), { format: (v) => `${v.toFixed(0)} fps` }),
  upload: new Sparkline($('chart-upload'), { format: ms, points: 60, color: '#1565c0' }),
  encode: new Sparkline($('chart-encode'), { format: (v) => `${v.toFixed(1)} ms`, color: '#6a1b9a' }),
  fees: new Sparkline($('chart-fees'), { format: (v) => `${v.toPrecision(2)} gwei`, color: '#ef6c00' }),
};
window.charts = charts;

/** Wei (decimal string or bigint) in ETH, or in gwei below a thousandth of an ETH. */
function ethOrGwei(wei) {
  const n = BigInt(wei);
  if (n === 0n) return '0 ETH';
  return n >= ETH / 1000n ? `${Number(Wallet.formatEther(n)).toPrecision(4)} ETH` : `${(Number(n) / 1e9).toPrecision(3)} gwei`;
}

/** What the header says about the encoder, from `stats.encoder` ("webcodecs (why), …"). */
function encoderName(label) {
  const backend = String(label).split(/[\s(,]/)[0];
  return { webcodecs: "WebCodecs (the browser's VideoEncoder)", openh264: 'openh264 in WebAssembly' }[backend] ?? label;
}

// ------------------------------------------------------------------ payments

let wallet = null;
let found = [];

/** ETH typed in a form field as wei (exact: no floating point). */
function parseEther(text) {
  const [whole, frac = ''] = String(text).trim().split('.');
  if (!/^\d*$/.test(whole) || !/^\d*$/.test(frac) || frac.length > 18) throw new RangeError(`${text} is not an ETH amount`);
  return BigInt(whole || '0') * ETH + BigInt((frac + '0'.repeat(18)).slice(0, 18));
}

/**
 * The local dev wallet: an EIP-1193 provider that forwards requests to a local anvil node,
 * which signs with its first unlocked test account. Development only.
 */
function localDevWallet(rpcUrl) {
  let id = 0;
  const rpc = async (method, params = []) => {
    // Say where it looked: a closed port would otherwise read as a bare "Failed to fetch".
    const unreachable = (why) => Object.assign(new Error(`the local dev wallet cannot reach the chain at ${rpcUrl} (${why}): `
      + 'is anvil running there? The demo command prints the URL to open, with its chain as rpc='), { code: -32603 });
    const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) })
      .catch((e) => { throw unreachable(e.message); });
    if (!res.ok) throw unreachable(`HTTP ${res.status}`);
    const body = await res.json().catch(() => { throw unreachable('not a JSON-RPC answer'); });
    if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code });
    return body.result;
  };
  return {
    async request({ method, params }) {
      if (method === 'eth_requestAccounts') return (await rpc('eth_accounts')).slice(0, 1);
      if (method === 'wallet_switchEthereumChain') {
        if (BigInt(params[0].chainId) === BigInt(await rpc('eth_chainId'))) return null;
        throw Object.assign(new Error('the local dev wallet only knows its own chain'), { code: 4902 });
      }
      return rpc(method, params);
    },
  };
}

async function findWallets() {
  found = await Wallet.discover();
  const choice = $('wallet-choice');
  choice.replaceChildren(...found.map((f, i) => new Option(f.info.name, String(i))), new Option('Local dev wallet (anvil; development only, not a real wallet)', 'dev'));
  log(`wallets found: ${found.map((f) => f.info.name).join(', ') || 'none (the local dev wallet is listed for development)'}`);
}

/** Connects the chosen wallet; throws (with the wallet's own reason) when it cannot. */
async function connectWallet() {
  if (!$('wallet-choice').options.length || !$('wallet-choice').value) await findWallets();
  const value = $('wallet-choice').value;
  const provider = value === 'dev' ? localDevWallet($('dev-rpc').value) : found[Number(value)]?.provider;
  if (!provider) throw Object.assign(new Error('no wallet chosen: pick one under Wallet (Find wallets lists them)'), { code: 'WALLET_MISSING' });
  wallet = await Wallet.connect(provider);
  wallet.on('accountsChanged', (a) => { log(`wallet account: ${a[0] ?? 'none'}`); showWallet(); });
  wallet.on('chainChanged', (c) => { log(`wallet chain: ${c}`); showWallet(); });
  wallet.on('disconnect', (e) => log(`wallet disconnected: ${e.message}`));
  await showWallet();
  $('unlock').disabled = $('withdraw').disabled = !$('broker').value;
}

/** The connected wallet, and the ticket sender's funds as the chain has them now. */
async function showWallet() {
  $('wallet-status').textContent = `Connected: ${wallet.address} on chain ${wallet.chainId}.`;
  await showFunds();
}

/**
 * Reads the ticket sender's deposit and reserve from the TicketBroker (through the wallet's
 * node) and shows them: after connecting, after funding and every few seconds while live.
 */
async function showFunds() {
  const broker = $('broker').value.trim();
  if (!wallet || !broker) return;
  $('spend').hidden = false;
  // The broadcaster's sender once it runs (session key, or the wallet itself), else the session key.
  const sender = window.lastStats?.ticketSender ?? undefined;
  try {
    const info = await wallet.senderInfo(broker, sender);
    const unlocking = info.withdrawRound ? ` (unlocking: withdraw from round ${info.withdrawRound})` : '';
    $('funds').textContent = `Funds on the TicketBroker, read from the chain at ${new Date().toLocaleTimeString()}: `
      + `deposit ${Wallet.formatEther(info.deposit)} ETH, reserve ${Wallet.formatEther(info.reserve)} ETH${unlocking}.`;
    window.fundsShown = { deposit: String(info.deposit), reserve: String(info.reserve), sender: sender ?? null, reads: (window.fundsShown?.reads ?? 0) + 1 };
  } catch (e) {
    $('funds').textContent = `Funds on the TicketBroker: could not be read (${e.code ?? ''} ${e.message}).`;
  }
}

/** Shows what funding the session key still needs, in ETH; resolves once the user confirms. */
async function confirmFunding(broker, deposit, reserve) {
  const need = await wallet.fundingNeeded(broker, { deposit, reserve });
  if (need.total === 0n) return true;
  const key = await wallet.sessionKey(broker);
  $('funding-text').textContent = `Your wallet will send ${Wallet.formatEther(need.total)} ETH to the TicketBroker for session key ${key}: `
    + `deposit ${Wallet.formatEther(need.deposit)} ETH + reserve ${Wallet.formatEther(need.reserve)} ETH. You can get what is left back with Unlock, then Withdraw.`;
  $('confirm-funding').hidden = false;
  $('status').textContent = 'Confirm the funding below: nothing is sent before you do.';
  try {
    return await new Promise((resolve) => {
      $('funding-ok').onclick = () => resolve(true);
      $('funding-cancel').onclick = () => resolve(false);
    });
  } finally {
    $('confirm-funding').hidden = true;
  }
}

/** The Broadcaster's `payment` option (undefined when not paying): connects the wallet
 *  first, so that a wallet problem stops Go live before a stream is created. */
async function paymentOption() {
  if (!$('pay').checked) return undefined;
  const broker = $('broker').value.trim();
  if (!broker) throw Object.assign(new Error('enter the TicketBroker address to pay the transcoders (the demo command puts it in the URL)'), { code: 'INVALID_CONFIG' });
  if (!wallet) await connectWallet();
  const deposit = parseEther($('deposit').value);
  const reserve = parseEther($('reserve').value);
  if (!(await confirmFunding(broker, deposit, reserve))) throw Object.assign(new Error('funding cancelled'), { code: 'USER_REJECTED' });
  return { wallet, broker, maxPricePerPixel: Number($('max-price').value), deposit, reserve };
}

async function recover(kind) {
  try {
    const broker = $('broker').value.trim();
    const hash = kind === 'unlock' ? await wallet.unlockSessionKey(broker) : await wallet.withdrawSessionKey(broker);
    log(`${kind}: transaction ${hash}`);
    await showWallet();
  } catch (error) {
    setError(error);
  }
}

/** `<dt>/<dd>` pairs for `keys` of `stats`; each `<dd>` has the id `stat-KEY`. */
function statRows(stats, keys) {
  return keys.flatMap((key) => {
    const [label, fmt] = STAT_LABELS[key];
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.id = `stat-${key}`;
    dd.textContent = fmt(stats[key]);
    return [dt, dd];
  });
}

function showStats(stats) {
  window.lastStats = stats;
  showMicLevel(stats, $('mic-level'), $('mic'));
  const keys = Object.keys(STAT_LABELS);
  $('stats').replaceChildren(...statRows(stats, keys.filter((k) => !PAYMENT_STATS.includes(k) && !CHARTED_STATS.includes(k))));
  if (stats.ticketSender != null) {
    $('spend').hidden = false;
    $('pay-stats').replaceChildren(...statRows(stats, PAYMENT_STATS));
    charts.fees.push(Number(BigInt(stats.feesDebited)) / 1e9);
    $('now-fees').textContent = ethOrGwei(stats.feesDebited);
  }
  $('encoder-name').textContent = encoderName(stats.encoder);
  $('encoder-detail').textContent = `(${stats.encoder})`;
  charts.kbps.push(stats.outputKbps);
  $('now-kbps').textContent = kbps(stats.outputKbps);
  charts.fps.push(stats.encodedFps);
  $('now-fps').textContent = `${stats.encodedFps.toFixed(1)} fps`;
  charts.encode.push(stats.encodeMsP95);
  $('now-encode').textContent = `${stats.encodeMsP95.toFixed(1)} ms`;
}

/** True when the relay has transcoder nodes configured (else the source alone goes out). */
async function relayHasTranscoders() {
  return (await relayTranscoders()).length > 0;
}

/** The relay's transcoder nodes (`GET /api/transcoders`), empty when it has none or fails. */
async function relayTranscoders() {
  const res = await fetch('/api/transcoders').catch(() => null);
  const body = res?.ok ? await res.json().catch(() => null) : null;
  return Array.isArray(body?.transcoders) ? body.transcoders : [];
}

async function createStream() {
  const res = await fetch('/api/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (!res.ok) throw new Error(`the relay refused to create a stream (HTTP ${res.status}); is it running with --open?`);
  return res.json();
}

async function start() {
  $('start').disabled = true;
  clearInterval(fundsTimer);
  $('status').classList.remove('error');
  try {
    // The wallet first: a wallet that cannot pay must not leave an unused stream behind.
    if ($('pay').checked) $('status').textContent = 'Checking the wallet…';
    const payment = await paymentOption();
    const stream = await createStream();
    const [width, height] = $('size').value.split('x').map(Number);
    const query = new URLSearchParams(location.search);
    broadcaster = new Broadcaster({
      payment,
      relayUrl: location.origin,
      streamId: stream.id,
      streamKey: stream.streamKey,
      video: { width, height, fps: 30, bitrateKbps: Number($('bitrate').value) },
      segmentSeconds: Number($('segment').value),
      encoder: $('encoder').value,
      encoderWorkers: query.has('workers') ? Number(query.get('workers')) : undefined,
      transcode: (payment !== undefined) || ($('transcode').checked && (await relayHasTranscoders())),
    });
    window.broadcaster = broadcaster;
    window.streamInfo = stream;
    broadcaster.on('state', (state) => { $('state').textContent = state; log(`state: ${state}`); });
    broadcaster.on('stats', showStats);
    broadcaster.on('segment', (s) => {
      charts.upload.push(s.uploadMs);
      $('now-upload').textContent = `${s.uploadMs.toFixed(0)} ms`;
      const ladder = s.renditions.length ? `, renditions ${s.renditions.map((r) => `${r.height}p`).join(' ')} by ${s.transcoder}` : '';
      const paid = s.payment ? `, paid ${s.payment.tickets} ticket(s) worth ${Wallet.formatEther(s.payment.ev)} ETH for a fee of ${Wallet.formatEther(s.payment.fee)} ETH` : '';
      log(`segment ${s.seq}: ${(s.bytes / 1024).toFixed(0)} KiB, ${s.durationMs} ms, uploaded in ${s.uploadMs.toFixed(0)} ms${ladder}${paid}`);
      window.acked = (window.acked ?? 0) + 1;
    });
    broadcaster.on('error', (e) => { log(`${e.fatal ? 'FATAL ' : ''}${e.code}: ${e.message}`); if (e.fatal) setError(e); });
    const watch = `/www/watch.html?id=${encodeURIComponent(stream.id)}`;
    $('watch-link').href = watch;
    $('watch-link').textContent = location.origin + watch;
    $('watch').hidden = false;
    $('status').textContent = payment ? 'Funding the session key (if needed) and opening the camera…' : 'Opening the camera…';
    await broadcaster.start();
    $('preview').srcObject = broadcaster.mediaStream;
    $('status').textContent = `Live as stream ${stream.id}.`;
    $('stop').disabled = false;
    if (payment) {
      // Funding happened in start(): show what the chain holds now, and keep it current.
      await showFunds();
      fundsTimer = setInterval(showFunds, 3000);
    }
  } catch (error) {
    setError(error);
    $('start').disabled = false;
  }
}

function setError(error) {
  console.error(error);
  $('status').textContent = `${error.message}${error.code ? ` (${error.code})` : ''}`;
  $('status').classList.add('error');
  window.broadcastError = { code: error.code, message: error.message };
}

async function stop() {
  $('stop').disabled = true;
  $('status').textContent = 'Stopping: uploading the last segment…';
  const result = await broadcaster?.stop();
  clearInterval(fundsTimer);
  window.stopResult = result;
  await showFunds();
  $('preview').srcObject = null;
  $('mic').hidden = true;
  const missing = result?.segmentsNotConfirmed ?? [];
  $('status').textContent = missing.length
    ? `Ended, but the relay had not confirmed segment(s) ${missing.join(', ')}: the recording may lack them.`
    : 'Ended. The recording stays available on the watch page.';
  $('start').disabled = false;
  window.broadcastEnded = true;
}

// ?size=1280x720&kbps=2500&encoder=openh264&workers=2&transcode=0 preset the form (tests use them).
for (const [param, id] of [['size', 'size'], ['kbps', 'bitrate'], ['encoder', 'encoder'], ['segment', 'segment']]) {
  const value = new URLSearchParams(location.search).get(param);
  if (value) $(id).value = value;
}
if (new URLSearchParams(location.search).get('transcode') === '0') $('transcode').checked = false;
// ?broker=0x…&pay=1&wallet=dev preset the payment form (the demo command passes the broker;
// wallet=dev picks the local dev wallet).
{
  const query = new URLSearchParams(location.search);
  if (query.get('broker')) $('broker').value = query.get('broker');
  if (query.get('rpc')) $('dev-rpc').value = query.get('rpc');
  if (query.get('pay') === '1') $('pay').checked = true;
}
$('find-wallets').addEventListener('click', () => findWallets().catch(setError));
$('connect').addEventListener('click', () => connectWallet().catch(setError));
$('unlock').addEventListener('click', () => recover('unlock'));
$('withdraw').addEventListener('click', () => recover('withdraw'));
$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
await init();
relayTranscoders().then((nodes) => {
  $('transcoders').textContent = nodes.length ? `The relay's transcoders: ${nodes.map((n) => n.uri).join(', ')}` : 'The relay has no transcoders: the source alone goes out.';
});
if (new URLSearchParams(location.search).get('pay') === '1') {
  // List the wallets at once; wallet=dev picks the local dev wallet.
  await findWallets().catch(setError);
  if (new URLSearchParams(location.search).get('wallet') === 'dev') $('wallet-choice').value = 'dev';
}
window.livecastReady = true;
if (new URLSearchParams(location.search).has('autostart')) start();
