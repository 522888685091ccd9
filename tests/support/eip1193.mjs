// The test page's wallet: an EIP-1193 provider that forwards `request` to a real anvil node
// with one of its unlocked dev accounts, announced over EIP-6963 like a browser extension.
//
// anvil signs (`personal_sign`, `eth_sendTransaction`) for its dev accounts itself, so the
// page's Wallet talks to a real chain; the only wallet behaviour simulated here is the
// user's: `window.devWallet.rejectNext(method)` makes the next such request fail with
// EIP-1193 code 4001, as when the user clicks "Reject"; `window.devWallet.emit(event, ...)`
// fires a provider event.

/**
 * Runs in the page (pass it to `page.addInitScript(installDevWallet, options)`).
 * `rpcUrl`: anvil's JSON-RPC URL; `account`: the dev account; `chainId`: anvil's chain id.
 */
export function installDevWallet({ rpcUrl, account, chainId, name = 'Livecast test wallet (anvil)' }) {
  const listeners = new Map();
  const reject = new Set();
  let nextId = 0;
  let connected = false;
  const hexChain = `0x${Number(chainId).toString(16)}`;
  const fail = (code, message) => Object.assign(new Error(message), { code });
  async function rpc(method, params) {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, params: params ?? [] }),
    });
    const answer = await res.json();
    if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code, data: answer.error.data });
    return answer.result;
  }
  const provider = {
    isLivecastDevWallet: true,
    async request({ method, params } = {}) {
      if (typeof method !== 'string') throw fail(-32600, 'request: method must be a string');
      if (reject.delete(method)) throw fail(4001, 'User rejected the request.');
      window.devWallet.calls.push(method);
      switch (method) {
        case 'eth_requestAccounts':
          connected = true;
          return [account];
        case 'eth_accounts':
          return connected ? [account] : [];
        case 'eth_chainId':
          return hexChain;
        case 'wallet_switchEthereumChain': {
          const wanted = params?.[0]?.chainId;
          if (typeof wanted === 'string' && BigInt(wanted) === BigInt(chainId)) return null;
          throw fail(4902, `Unrecognized chain ID "${wanted}". Try adding the chain using wallet_addEthereumChain first.`);
        }
        case 'wallet_addEthereumChain':
          // This wallet is bound to one anvil node: adding another chain is refused.
          throw fail(4001, 'The test wallet only knows its anvil chain.');
        case 'personal_sign':
        case 'eth_sendTransaction':
        case 'eth_sign':
        case 'eth_signTypedData_v4':
          if (!connected) throw fail(4100, 'The requested account has not been authorized by the user.');
          return rpc(method, params);
        default:
          return rpc(method, params);
      }
    },
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(listener);
      return provider;
    },
    removeListener(event, listener) {
      listeners.get(event)?.delete(listener);
      return provider;
    },
  };
  const info = Object.freeze({ uuid: crypto.randomUUID(), name, icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg"/%3E', rdns: 'dev.livecast.testwallet' });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
  window.devWallet = {
    provider,
    account,
    calls: [],
    rejectNext(method) { reject.add(method); },
    emit(event, ...args) { for (const l of listeners.get(event) ?? []) l(...args); },
    listenerCount(event) { return listeners.get(event)?.size ?? 0; },
  };
}

/** Installs the dev wallet in every document `page` loads from now on. */
export async function addDevWallet(page, options) {
  await page.addInitScript(installDevWallet, options);
}
