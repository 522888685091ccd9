//! `Wallet`: an Ethereum wallet in the page (EIP-1193 provider, found over EIP-6963) that
//! funds the broadcaster's session key on the TicketBroker and gets its remainder back.
//!
//! Everything goes through the provider's `request` method; answers are read with
//! serde-wasm-bindgen. The session key is derived from the wallet's `personal_sign` over a
//! fixed message (see `broadcast::payment::session_key_message`), so it comes back after a
//! reload without being stored anywhere.

mod broker;
pub(crate) mod payer;
pub(crate) mod provider;

use super::events::Events;
use super::interop::object;
use crate::broadcast::payment::{session_key_from_signature, session_key_message};
use crate::{ErrorCode, LivecastError};
use js_sys::{Array, Function, Promise, Reflect};
use livecast_protocol::{Address, NodeKey};
use provider::{wallet_error, Provider, UNRECOGNIZED_CHAIN};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** An EIP-1193 provider (MetaMask's `window.ethereum`, an EIP-6963 announced provider...). */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
  on?(event: string, listener: (...args: any[]) => void): unknown;
  removeListener?(event: string, listener: (...args: any[]) => void): unknown;
}

/** A wallet found in the page: EIP-6963's `EIP6963ProviderDetail`. */
export interface WalletProviderDetail {
  info: { uuid: string; name: string; icon: string; rdns: string };
  provider: Eip1193Provider;
}

/** EIP-3085 `wallet_addEthereumChain` parameters (`chainId` is filled in). */
export interface AddEthereumChainParameter {
  chainName: string;
  nativeCurrency: { name: string; symbol: string; decimals: number };
  rpcUrls: string[];
  blockExplorerUrls?: string[];
  iconUrls?: string[];
}

/** A ticket sender's funds on the TicketBroker, in wei. */
export interface SenderInfo {
  deposit: bigint;
  /** The round from which `withdraw` is allowed; 0 when no unlock is in progress. */
  withdrawRound: bigint;
  reserve: bigint;
}

/** Wei as a `bigint`, a decimal string or a safe integer number. */
export type Wei = bigint | string | number;

/** Events and their details. */
export interface WalletEventMap {
  /** The wallet's accounts changed (the first is the one in use; empty: locked or disconnected). */
  accountsChanged: string[];
  /** The wallet switched chains. */
  chainChanged: number;
  /** The provider lost its connection to every chain. */
  disconnect: { code: number | null; message: string };
}
"#;

thread_local! {
    /// Live wallets by id, so that a `Broadcaster`'s `payment.wallet` option (a JS object)
    /// finds the Rust state behind it without taking it away from the page.
    static WALLETS: RefCell<HashMap<u32, Weak<RefCell<Inner>>>> = RefCell::new(HashMap::new());
    static NEXT_ID: RefCell<u32> = const { RefCell::new(1) };
}

/// The state behind a `Wallet`.
pub(crate) struct Inner {
    id: u32,
    pub(crate) provider: Provider,
    pub(crate) address: Address,
    pub(crate) chain_id: u64,
    events: Events,
    unsubscribe: Vec<Function>,
    // Closures the provider calls back into; kept alive while subscribed.
    listeners: Vec<Closure<dyn FnMut(JsValue)>>,
    /// The derived session key, and the (wallet, chain, broker) it was derived for.
    session_key: Option<((Address, u64, Address), NodeKey)>,
}

/// Shared handle to a wallet's state.
pub(crate) type SharedWallet = Rc<RefCell<Inner>>;

/// The wallet behind a JS `Wallet` object (the `payment.wallet` option), if it is one.
pub(crate) fn wallet_from_js(value: &JsValue) -> Option<SharedWallet> {
    let id = Reflect::get(value, &"__livecastWalletId".into()).ok()?.as_f64()? as u32;
    WALLETS.with(|w| w.borrow().get(&id).and_then(Weak::upgrade))
}

/// A connected Ethereum wallet.
///
/// ```js
/// const [found] = await Wallet.discover();            // EIP-6963, else window.ethereum
/// const wallet = await Wallet.connect(found.provider); // eth_requestAccounts
/// await wallet.ensureChain(31337);                     // switch (or add) the chain
/// const key = await wallet.sessionKey(broker);         // one personal_sign, no transaction
/// const topUp = await wallet.fundingNeeded(broker, { deposit, reserve });
/// if (confirm(`Send ${Wallet.formatEther(topUp.total)} ETH?`)) await wallet.fundSessionKey(broker, topUp);
/// ```
#[wasm_bindgen]
pub struct Wallet {
    inner: SharedWallet,
}

impl Drop for Wallet {
    fn drop(&mut self) {
        let id = self.inner.borrow().id;
        WALLETS.with(|w| w.borrow_mut().remove(&id));
        unsubscribe_all(&self.inner);
    }
}

#[wasm_bindgen]
impl Wallet {
    /// The wallets in the page: every EIP-6963 announcement within `waitMs` (default 300),
    /// or `window.ethereum` when nothing announces itself. Empty when there is none.
    #[wasm_bindgen(unchecked_return_type = "Promise<WalletProviderDetail[]>")]
    pub fn discover(#[wasm_bindgen(js_name = waitMs)] wait_ms: Option<f64>) -> Promise {
        future_to_promise(async move { Ok(provider::discover(wait_ms.unwrap_or(300.0)).await?.into()) })
    }

    /// Connects to `provider` (`eth_requestAccounts`: the wallet asks the user) and reads its
    /// chain. Rejects with `USER_REJECTED` when the user says no, `WALLET_MISSING` when the
    /// wallet has no account.
    #[wasm_bindgen(unchecked_return_type = "Promise<Wallet>")]
    pub fn connect(#[wasm_bindgen(unchecked_param_type = "Eip1193Provider")] provider: JsValue) -> Promise {
        future_to_promise(async move {
            let provider = Provider::new(provider)?;
            let accounts: Vec<String> = provider.request("eth_requestAccounts", ()).await?;
            let address = accounts
                .first()
                .ok_or_else(|| wallet_error(ErrorCode::WalletMissing, "the wallet has no account to connect"))
                .and_then(|a| parse_address(a, "eth_requestAccounts"))?;
            let chain_id = read_chain_id(&provider).await?;
            let id = NEXT_ID.with(|n| {
                let mut n = n.borrow_mut();
                *n += 1;
                *n - 1
            });
            let inner = Rc::new(RefCell::new(Inner {
                id,
                provider,
                address,
                chain_id,
                events: Events::new("Wallet", &["accountsChanged", "chainChanged", "disconnect"])?,
                unsubscribe: Vec::new(),
                listeners: Vec::new(),
                session_key: None,
            }));
            WALLETS.with(|w| w.borrow_mut().insert(id, Rc::downgrade(&inner)));
            subscribe(&inner);
            Ok(Wallet { inner }.into())
        })
    }

    /// Internal: lets a `Broadcaster` find this wallet's state.
    #[wasm_bindgen(getter, js_name = __livecastWalletId, skip_typescript)]
    pub fn wallet_id(&self) -> u32 {
        self.inner.borrow().id
    }

    /// The account in use, `0x…` checksummed (follows `accountsChanged`).
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.inner.borrow().address.to_checksum(None)
    }

    /// The wallet's chain id (follows `chainChanged`).
    #[wasm_bindgen(getter, js_name = chainId)]
    pub fn chain_id(&self) -> f64 {
        self.inner.borrow().chain_id as f64
    }

    /// The EIP-1193 provider.
    #[wasm_bindgen(getter, unchecked_return_type = "Eip1193Provider")]
    pub fn provider(&self) -> JsValue {
        self.inner.borrow().provider.object().clone()
    }

    /// Makes sure the wallet is on chain `chainId`: `wallet_switchEthereumChain`, and when
    /// the wallet does not know the chain (4902) `wallet_addEthereumChain` with `addParams`.
    /// Rejects with `WRONG_CHAIN` when it stays on another chain, `USER_REJECTED` when the
    /// user refuses.
    #[wasm_bindgen(js_name = ensureChain, unchecked_return_type = "Promise<void>")]
    pub fn ensure_chain(
        &self,
        #[wasm_bindgen(js_name = chainId)] chain_id: f64,
        #[wasm_bindgen(js_name = addParams, unchecked_param_type = "AddEthereumChainParameter | undefined")] add_params: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            if !(chain_id >= 1.0 && chain_id.fract() == 0.0 && chain_id < 2f64.powi(53)) {
                return Err(LivecastError::InvalidConfig { object: "Wallet", message: format!("ensureChain: chain id must be a positive integer, got {chain_id}") }.into());
            }
            let wanted = chain_id as u64;
            let provider = inner.borrow().provider.clone();
            let current = read_chain_id(&provider).await?;
            if current != wanted {
                let hex_id = format!("0x{wanted:x}");
                let switch = object(&[("chainId", hex_id.clone().into())]);
                match provider.request_js("wallet_switchEthereumChain", &Array::of1(&switch).into()).await {
                    Ok(_) => {}
                    Err(e) if e.code == Some(UNRECOGNIZED_CHAIN) => {
                        if add_params.is_undefined() || add_params.is_null() {
                            return Err(wallet_error(ErrorCode::WrongChain, format!("the wallet is on chain {current} and does not know chain {wanted}: pass addParams to add it")).into());
                        }
                        let params = js_sys::Object::assign(&js_sys::Object::new(), add_params.unchecked_ref());
                        let _ = Reflect::set(&params, &"chainId".into(), &hex_id.into());
                        provider.request_js("wallet_addEthereumChain", &Array::of1(&params).into()).await.map_err(|e| e.into_error("wallet_addEthereumChain"))?;
                        provider.request_js("wallet_switchEthereumChain", &Array::of1(&switch).into()).await.map_err(|e| e.into_error("wallet_switchEthereumChain"))?;
                    }
                    Err(e) => {
                        let error = e.into_error("wallet_switchEthereumChain");
                        return Err(if error.code() == ErrorCode::WalletError {
                            wallet_error(ErrorCode::WrongChain, format!("the wallet is on chain {current} and could not switch to {wanted}: {error}"))
                        } else {
                            error
                        }
                        .into());
                    }
                }
            }
            let now = read_chain_id(&provider).await?;
            if now != wanted {
                return Err(wallet_error(ErrorCode::WrongChain, format!("the wallet is on chain {now}, not {wanted}")).into());
            }
            inner.borrow_mut().chain_id = now;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Passes an EIP-1193 request to the provider as is.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn request(&self, #[wasm_bindgen(unchecked_param_type = "{ method: string; params?: unknown[] | object }")] args: JsValue) -> Promise {
        let provider = self.inner.borrow().provider.clone();
        future_to_promise(async move {
            let method = Reflect::get(&args, &"method".into()).ok().and_then(|m| m.as_string()).ok_or_else(|| LivecastError::ConfigType { object: "Wallet", message: "request: `method` must be a string".into() })?;
            let params = Reflect::get(&args, &"params".into()).unwrap_or(JsValue::UNDEFINED);
            provider.request_js(&method, &params).await.map_err(|e| e.into_error(&method).into())
        })
    }

    /// The session key for `broker` (the TicketBroker's address): asks the wallet for one
    /// `personal_sign` over a fixed message the first time (no transaction), then keeps it.
    /// The same wallet always derives the same key. Resolves to the key's address.
    #[wasm_bindgen(js_name = sessionKey, unchecked_return_type = "Promise<string>")]
    pub fn session_key(&self, broker: String) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let broker = parse_address(&broker, "broker")?;
            Ok(derive_session_key(&inner, broker).await?.address().to_checksum(None).into())
        })
    }

    /// The funds `sender` (default: this wallet's session key for `broker`) holds on the
    /// TicketBroker at `broker`.
    #[wasm_bindgen(js_name = senderInfo, unchecked_return_type = "Promise<SenderInfo>")]
    pub fn sender_info(&self, broker: String, sender: Option<String>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let broker = parse_address(&broker, "broker")?;
            let sender = match sender {
                Some(s) => parse_address(&s, "sender")?,
                None => derive_session_key(&inner, broker).await?.address(),
            };
            let provider = inner.borrow().provider.clone();
            Ok(broker::sender_info(&provider, broker, sender).await?.to_js())
        })
    }

    /// What `fundSessionKey` must still send for the session key to hold `deposit` and
    /// `reserve` (wei), given what it already holds: `{ deposit, reserve, total }` as
    /// bigints, `total` 0n when nothing is missing. Show `total` to the user before funding.
    #[wasm_bindgen(js_name = fundingNeeded, unchecked_return_type = "Promise<{ deposit: bigint; reserve: bigint; total: bigint }>")]
    pub fn funding_needed(&self, broker: String, #[wasm_bindgen(unchecked_param_type = "{ deposit: Wei; reserve: Wei }")] amounts: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let broker = parse_address(&broker, "broker")?;
            let (deposit, reserve) = (broker::wei_option(&amounts, "deposit")?, broker::wei_option(&amounts, "reserve")?);
            let key = derive_session_key(&inner, broker).await?;
            let provider = inner.borrow().provider.clone();
            let have = broker::sender_info(&provider, broker, key.address()).await?;
            let need_deposit = deposit.saturating_sub(have.deposit);
            let need_reserve = reserve.saturating_sub(have.reserve);
            Ok(object(&[
                ("deposit", broker::bigint(need_deposit)),
                ("reserve", broker::bigint(need_reserve)),
                ("total", broker::bigint(need_deposit + need_reserve)),
            ])
            .into())
        })
    }

    /// Funds the session key with one `fundDepositAndReserveFor(sessionKey, deposit, reserve)`
    /// transaction from the wallet (value = deposit + reserve), and waits until it is
    /// mined. Resolves to the transaction hash.
    #[wasm_bindgen(js_name = fundSessionKey, unchecked_return_type = "Promise<string>")]
    pub fn fund_session_key(&self, broker: String, #[wasm_bindgen(unchecked_param_type = "{ deposit: Wei; reserve: Wei }")] amounts: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let broker = parse_address(&broker, "broker")?;
            let (deposit, reserve) = (broker::wei_option(&amounts, "deposit")?, broker::wei_option(&amounts, "reserve")?);
            let tx = SessionKeyTx::prepare(&inner, broker).await?;
            Ok(broker::fund(&tx.provider, tx.from, tx.broker, tx.session_key, deposit, reserve).await?.into())
        })
    }

    /// Starts the unlock of what the session key holds (`unlockFor`): after the broker's
    /// unlock period, `withdrawSessionKey` sends it back to this wallet. Resolves to the
    /// transaction hash once mined.
    #[wasm_bindgen(js_name = unlockSessionKey, unchecked_return_type = "Promise<string>")]
    pub fn unlock_session_key(&self, broker: String) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let tx = SessionKeyTx::prepare(&inner, parse_address(&broker, "broker")?).await?;
            Ok(broker::unlock(&tx.provider, tx.from, tx.broker, tx.session_key).await?.into())
        })
    }

    /// Withdraws what the session key holds back to this wallet (`withdrawFor`), once the
    /// unlock period is over. Resolves to the transaction hash once mined.
    #[wasm_bindgen(js_name = withdrawSessionKey, unchecked_return_type = "Promise<string>")]
    pub fn withdraw_session_key(&self, broker: String) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let tx = SessionKeyTx::prepare(&inner, parse_address(&broker, "broker")?).await?;
            Ok(broker::withdraw(&tx.provider, tx.from, tx.broker, tx.session_key).await?.into())
        })
    }

    /// Wei as ETH, exactly (`1500000000000000000n` → `"1.5"`).
    #[wasm_bindgen(js_name = formatEther)]
    pub fn format_ether(#[wasm_bindgen(unchecked_param_type = "Wei")] wei: JsValue) -> Result<String, JsValue> {
        Ok(crate::broadcast::payment::format_ether(broker::wei(&wei, "wei")?))
    }

    /// Stops following the provider's events (the wallet itself stays connected).
    pub fn disconnect(&self) {
        unsubscribe_all(&self.inner);
    }

    /// Adds a listener for `"accountsChanged" | "chainChanged" | "disconnect"`; it receives
    /// a `CustomEvent` whose `detail` is the payload (see `WalletEventMap`).
    /// Throws `INVALID_CONFIG` (a `TypeError`) for a name this object never fires.
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(&self, kind: &str, listener: &Function) -> Result<(), JsValue> {
        self.inner.borrow().events.add(kind, listener)
    }

    /// Removes a listener added with `addEventListener`.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(&self, kind: &str, listener: &Function) -> Result<(), JsValue> {
        self.inner.borrow().events.remove(kind, listener)
    }

    /// `callback` receives each event's payload; returns a function that unsubscribes.
    /// Throws like `addEventListener` for an unknown name.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof WalletEventMap")] kind: &str,
        #[wasm_bindgen(unchecked_param_type = "(detail: any) => void")] callback: &Function,
    ) -> Result<Function, JsValue> {
        self.inner.borrow().events.on(kind, callback)
    }
}

/// The session key of `inner`'s wallet for `broker` on its current chain: derived once per
/// (account, chain, broker) from a `personal_sign`, then kept.
pub(crate) async fn derive_session_key(inner: &SharedWallet, broker: Address) -> Result<NodeKey, LivecastError> {
    let (provider, address, chain_id) = {
        let i = inner.borrow();
        (i.provider.clone(), i.address, i.chain_id)
    };
    let binding = (address, chain_id, broker);
    if let Some((for_, key)) = &inner.borrow().session_key {
        if *for_ == binding {
            return Ok(key.clone());
        }
    }
    let message = session_key_message(address, chain_id, broker);
    let sig = personal_sign(&provider, address, message.as_bytes()).await?;
    let key = session_key_from_signature(address, &message, &sig).map_err(|e| wallet_error(ErrorCode::WalletError, e.to_string()))?;
    inner.borrow_mut().session_key = Some((binding, key.clone()));
    Ok(key)
}

/// `personal_sign` of `message` by `address`: the 65 signature bytes.
pub(crate) async fn personal_sign(provider: &Provider, address: Address, message: &[u8]) -> Result<Vec<u8>, LivecastError> {
    let hex_message = format!("0x{}", hex(message));
    let sig: String = provider.request("personal_sign", (hex_message, address.to_checksum(None))).await?;
    parse_hex(&sig).ok_or_else(|| wallet_error(ErrorCode::WalletError, format!("personal_sign: the wallet answered {sig:?}, not a hex signature")))
}

async fn read_chain_id(provider: &Provider) -> Result<u64, LivecastError> {
    let hex_id: String = provider.request("eth_chainId", ()).await?;
    parse_quantity(&hex_id).ok_or_else(|| wallet_error(ErrorCode::WalletError, format!("eth_chainId: {hex_id:?} is not a chain id")))
}

/// Follows the provider's `accountsChanged`, `chainChanged` and `disconnect` events.
fn subscribe(inner: &SharedWallet) {
    let provider = inner.borrow().provider.clone();
    for kind in ["accountsChanged", "chainChanged", "disconnect"] {
        let weak = Rc::downgrade(inner);
        let listener = Closure::<dyn FnMut(JsValue)>::new(move |payload: JsValue| {
            let Some(inner) = weak.upgrade() else { return };
            let detail = match kind {
                "accountsChanged" => {
                    let accounts: Vec<String> = Array::from(&payload).iter().filter_map(|a| a.as_string()).collect();
                    if let Some(address) = accounts.first().and_then(|a| parse_address(a, "accountsChanged").ok()) {
                        let mut i = inner.borrow_mut();
                        i.address = address;
                    }
                    accounts.iter().map(JsValue::from).collect::<Array>().into()
                }
                "chainChanged" => {
                    let id = payload.as_string().and_then(|s| parse_quantity(&s)).or_else(|| payload.as_f64().map(|n| n as u64));
                    match id {
                        Some(id) => {
                            inner.borrow_mut().chain_id = id;
                            JsValue::from(id as f64)
                        }
                        None => return,
                    }
                }
                _ => {
                    let e = provider::RpcError::from_js(&payload);
                    object(&[("code", e.code.map_or(JsValue::NULL, |c| JsValue::from(c as f64))), ("message", e.message.into())]).into()
                }
            };
            let events = inner.borrow().events.clone();
            events.dispatch(kind, &detail);
        });
        if let Some(unsubscribe) = provider.subscribe(kind, listener.as_ref().unchecked_ref()) {
            inner.borrow_mut().unsubscribe.push(unsubscribe);
        }
        inner.borrow_mut().listeners.push(listener);
    }
}

fn unsubscribe_all(inner: &SharedWallet) {
    let unsubscribe = std::mem::take(&mut inner.borrow_mut().unsubscribe);
    for f in unsubscribe {
        let _ = f.call0(&JsValue::NULL);
    }
}

/// An address argument, or an `INVALID_CONFIG` error naming `what`.
/// What the wallet's transactions about its session key need: the wallet's provider and
/// account, the broker, and the session key's address (derived, or asked for once).
struct SessionKeyTx {
    provider: Provider,
    from: Address,
    broker: Address,
    session_key: Address,
}

impl SessionKeyTx {
    async fn prepare(inner: &SharedWallet, broker: Address) -> Result<Self, LivecastError> {
        let session_key = derive_session_key(inner, broker).await?.address();
        let (provider, from) = (inner.borrow().provider.clone(), inner.borrow().address);
        Ok(Self { provider, from, broker, session_key })
    }
}

pub(crate) fn parse_address(text: &str, what: &str) -> Result<Address, LivecastError> {
    text.trim()
        .parse::<Address>()
        .map_err(|_| LivecastError::InvalidConfig { object: "Wallet", message: format!("{what}: {text:?} is not an address (0x and 40 hex digits)") })
}

/// A `0x` hex quantity (`"0x7a69"`).
pub(crate) fn parse_quantity(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// `0x` hex data.
pub(crate) fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok()).collect()
}

/// Lowercase hex, no prefix.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
