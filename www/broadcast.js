// The broadcast demo: creates a stream on the relay this page came from, then runs a
// Broadcaster and shows its state, stats and events. ?autostart=1 starts at once (tests).
import init, { Broadcaster, Wallet } from '../pkg/livecast.js';

const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent = `${new Date().toLocaleTimeString()} ${line}\n` + $('log').textContent.slice(0, 20_000); };
let broadcaster = null;

const STAT_LABELS = {
  capturedFps: ['Captured', (v) => `${v.toFixed(1)} fps`],
  encodedFps: ['Encoded', (v) => `${v.toFixed(1)} fps`],
  encodeMsP50: ['Encode p50', (v) => `${v.toFixed(1)} ms`],
  encodeMsP95: ['Encode p95', (v) => `${v.toFixed(1)} ms`],
  outputKbps: ['Output', (v) => `${v.toFixed(0)} kbit/s`],
  droppedFrames: ['Dropped frames', String],
  uploadQueue: ['Upload queue', String],
  lastUploadMs: ['Last upload', (v) => (v == null ? '–' : `${v.toFixed(0)} ms`)],
  segmentsAcknowledged: ['Segments acknowledged', String],
  segmentsDropped: ['Segments dropped', String],
  encoder: ['Encoder', String],
  ticketSender: ['Ticket sender', (v) => v ?? '–'],
  ticketsSent: ['Tickets sent', String],
  evPaid: ['Paid (ticket EV)', (v) => `${Wallet.formatEther(v)} ETH`],
  feesDebited: ['Fees charged', (v) => `${Wallet.formatEther(v)} ETH`],
  winningTickets: ['Winning tickets redeemed', String],
};
const ETH = 10n ** 18n;
const PAYMENT_STATS = ['ticketSender', 'ticketsSent', 'evPaid', 'feesDebited', 'winningTickets'];

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
    const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) });
    const body = await res.json();
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

async function connectWallet() {
  try {
    if (!$('wallet-choice').options.length || !$('wallet-choice').value) await findWallets();
    const value = $('wallet-choice').value;
    const provider = value === 'dev' ? localDevWallet($('dev-rpc').value) : found[Number(value)]?.provider;
    if (!provider) throw Object.assign(new Error('no wallet chosen'), { code: 'WALLET_MISSING' });
    wallet = await Wallet.connect(provider);
    wallet.on('accountsChanged', (a) => { log(`wallet account: ${a[0] ?? 'none'}`); showWallet(); });
    wallet.on('chainChanged', (c) => { log(`wallet chain: ${c}`); showWallet(); });
    wallet.on('disconnect', (e) => log(`wallet disconnected: ${e.message}`));
    await showWallet();
    $('unlock').disabled = $('withdraw').disabled = !$('broker').value;
  } catch (error) {
    setError(error);
  }
}

async function showWallet() {
  let text = `Connected: ${wallet.address} on chain ${wallet.chainId}.`;
  const broker = $('broker').value.trim();
  if (broker) {
    try {
      const info = await wallet.senderInfo(broker);
      text += ` Session key funds: deposit ${Wallet.formatEther(info.deposit)} ETH, reserve ${Wallet.formatEther(info.reserve)} ETH${info.withdrawRound ? ` (unlocking: withdraw from round ${info.withdrawRound})` : ''}.`;
    } catch (e) {
      text += ` (${e.message})`;
    }
  }
  $('wallet-status').textContent = text;
}

/** Shows what funding the session key still needs, in ETH; resolves once the user confirms. */
async function confirmFunding(broker, deposit, reserve) {
  const need = await wallet.fundingNeeded(broker, { deposit, reserve });
  if (need.total === 0n) return true;
  const key = await wallet.sessionKey(broker);
  $('funding-text').textContent = `Your wallet will send ${Wallet.formatEther(need.total)} ETH to the TicketBroker for session key ${key}: `
    + `deposit ${Wallet.formatEther(need.deposit)} ETH + reserve ${Wallet.formatEther(need.reserve)} ETH. You can get what is left back with Unlock, then Withdraw.`;
  $('confirm-funding').hidden = false;
  try {
    return await new Promise((resolve) => {
      $('funding-ok').onclick = () => resolve(true);
      $('funding-cancel').onclick = () => resolve(false);
    });
  } finally {
    $('confirm-funding').hidden = true;
  }
}

async function paymentOption() {
  if (!$('pay').checked) return undefined;
  if (!wallet) await connectWallet();
  if (!wallet) throw Object.assign(new Error('connect a wallet to pay the transcoders'), { code: 'WALLET_MISSING' });
  const broker = $('broker').value.trim();
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

function showStats(stats) {
  const paying = stats.ticketSender != null;
  const shown = Object.entries(STAT_LABELS).filter(([key]) => paying || !PAYMENT_STATS.includes(key));
  $('stats').replaceChildren(...shown.flatMap(([key, [label, fmt]]) => {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.id = `stat-${key}`;
    dd.textContent = fmt(stats[key]);
    return [dt, dd];
  }));
  window.lastStats = stats;
}

/** True when the relay has transcoder nodes configured (else the source alone goes out). */
async function relayHasTranscoders() {
  const res = await fetch('/api/transcoders').catch(() => null);
  const list = res?.ok ? (await res.json()).transcoders : [];
  return list.length > 0;
}

async function createStream() {
  const res = await fetch('/api/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (!res.ok) throw new Error(`the relay refused to create a stream (HTTP ${res.status}); is it running with --open?`);
  return res.json();
}

async function start() {
  $('start').disabled = true;
  try {
    const stream = await createStream();
    const [width, height] = $('size').value.split('x').map(Number);
    const query = new URLSearchParams(location.search);
    const payment = await paymentOption();
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
    $('status').textContent = 'Opening the camera…';
    await broadcaster.start();
    $('preview').srcObject = broadcaster.mediaStream;
    $('status').textContent = `Live as stream ${stream.id}.`;
    $('stop').disabled = false;
  } catch (error) {
    setError(error);
    $('start').disabled = false;
  }
}

function setError(error) {
  $('status').textContent = `${error.message}${error.code ? ` (${error.code})` : ''}`;
  $('status').classList.add('error');
  window.broadcastError = { code: error.code, message: error.message };
}

async function stop() {
  $('stop').disabled = true;
  $('status').textContent = 'Stopping: uploading the last segment…';
  const result = await broadcaster?.stop();
  window.stopResult = result;
  $('preview').srcObject = null;
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
$('connect').addEventListener('click', connectWallet);
$('unlock').addEventListener('click', () => recover('unlock'));
$('withdraw').addEventListener('click', () => recover('withdraw'));
$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
await init();
if (new URLSearchParams(location.search).get('pay') === '1') {
  // List the wallets at once; wallet=dev picks the local dev wallet.
  await findWallets().catch(setError);
  if (new URLSearchParams(location.search).get('wallet') === 'dev') $('wallet-choice').value = 'dev';
}
window.livecastReady = true;
if (new URLSearchParams(location.search).has('autostart')) start();
