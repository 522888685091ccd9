//! The TicketBroker calls a wallet makes for its session key: read what a sender holds
//! (`getSenderInfo`, an `eth_call`), fund it (`fundDepositAndReserveFor`), and get the rest
//! back (`unlockFor`, then `withdrawFor`). Transactions go through the wallet's
//! `eth_sendTransaction` and are waited for until mined.

use super::provider::{wallet_error, Provider};
use crate::{ErrorCode, LivecastError};
use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use js_sys::{BigInt, Promise, Reflect};
use livecast_protocol::Address;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The TicketBroker's ABI (Livepeer's functions plus the funder-side `unlockFor` and
/// `withdrawFor` of Livecast's broker), from the broker crate.
pub(crate) use livecast_broker::TicketBroker as ITicketBroker;

/// How long a transaction may take to be mined before the wallet call gives up.
const RECEIPT_TIMEOUT_MS: f64 = 180_000.0;
/// Pause between receipt polls.
const RECEIPT_POLL_MS: i32 = 400;

/// What a ticket sender holds on the broker, in wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Deposit (pays winning tickets first).
    pub deposit: U256,
    /// Round from which a withdrawal is allowed; 0 when no unlock is in progress.
    pub withdraw_round: U256,
    /// Reserve remaining.
    pub reserve: U256,
}

impl SenderInfo {
    /// As `{ deposit, withdrawRound, reserve }` with bigints.
    pub fn to_js(self) -> JsValue {
        super::object(&[("deposit", bigint(self.deposit)), ("withdrawRound", bigint(self.withdraw_round)), ("reserve", bigint(self.reserve))]).into()
    }
}

#[derive(Serialize)]
struct CallRequest {
    to: String,
    data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

/// `getSenderInfo(sender)` at the latest block.
pub async fn sender_info(provider: &Provider, broker: Address, sender: Address) -> Result<SenderInfo, LivecastError> {
    let data = ITicketBroker::getSenderInfoCall { _sender: sender }.abi_encode();
    let call = CallRequest { to: broker.to_checksum(None), data: format!("0x{}", super::hex(&data)), from: None, value: None };
    let answer: String = provider.request("eth_call", (call, "latest")).await?;
    let bytes = super::parse_hex(&answer).unwrap_or_default();
    if bytes.is_empty() {
        return Err(wallet_error(ErrorCode::WalletError, format!("getSenderInfo: no TicketBroker at {broker} on this chain (empty answer); check the broker address and the wallet's chain")));
    }
    let r = ITicketBroker::getSenderInfoCall::abi_decode_returns(&bytes)
        .map_err(|e| wallet_error(ErrorCode::WalletError, format!("getSenderInfo: cannot read the broker's answer: {e}")))?;
    Ok(SenderInfo { deposit: r.sender.deposit, withdraw_round: r.sender.withdrawRound, reserve: r.reserve.fundsRemaining })
}

/// `fundDepositAndReserveFor(sender, deposit, reserve)` with `deposit + reserve` wei, from `from`.
pub async fn fund(provider: &Provider, from: Address, broker: Address, sender: Address, deposit: U256, reserve: U256) -> Result<String, LivecastError> {
    let total = deposit.checked_add(reserve).ok_or_else(|| LivecastError::InvalidConfig { object: "Wallet", message: "deposit + reserve overflows".into() })?;
    if total.is_zero() {
        return Err(LivecastError::InvalidConfig { object: "Wallet", message: "fundSessionKey: deposit and reserve are both 0".into() });
    }
    let data = ITicketBroker::fundDepositAndReserveForCall { _addr: sender, _depositAmount: deposit, _reserveAmount: reserve }.abi_encode();
    send(provider, from, broker, data, total, "fundDepositAndReserveFor").await
}

/// `unlockFor(sender)` from `from` (the wallet that funded it).
pub async fn unlock(provider: &Provider, from: Address, broker: Address, sender: Address) -> Result<String, LivecastError> {
    send(provider, from, broker, ITicketBroker::unlockForCall { _sender: sender }.abi_encode(), U256::ZERO, "unlockFor").await
}

/// `withdrawFor(sender)` from `from`: the sender's deposit and reserve go to `from`.
pub async fn withdraw(provider: &Provider, from: Address, broker: Address, sender: Address) -> Result<String, LivecastError> {
    send(provider, from, broker, ITicketBroker::withdrawForCall { _sender: sender }.abi_encode(), U256::ZERO, "withdrawFor").await
}

/// `eth_sendTransaction` and the wait for its receipt; the hash once mined with success.
async fn send(provider: &Provider, from: Address, to: Address, data: Vec<u8>, value: U256, what: &str) -> Result<String, LivecastError> {
    let tx = CallRequest {
        to: to.to_checksum(None),
        data: format!("0x{}", super::hex(&data)),
        from: Some(from.to_checksum(None)),
        value: Some(format!("0x{value:x}")),
    };
    // A revert the wallet finds while estimating gas comes back as its error here.
    let hash: String = provider.request("eth_sendTransaction", [tx]).await.map_err(|e| rename(e, what))?;
    let started = js_sys::Date::now();
    loop {
        let receipt = provider
            .request_js("eth_getTransactionReceipt", &js_sys::Array::of1(&hash.clone().into()).into())
            .await
            .map_err(|e| e.into_error("eth_getTransactionReceipt"))?;
        if receipt.is_object() {
            let status = Reflect::get(&receipt, &"status".into()).ok().and_then(|s| s.as_string()).unwrap_or_default();
            if status == "0x1" {
                return Ok(hash);
            }
            return Err(wallet_error(ErrorCode::WalletError, format!("{what}: transaction {hash} reverted")));
        }
        if js_sys::Date::now() - started > RECEIPT_TIMEOUT_MS {
            return Err(wallet_error(ErrorCode::WalletError, format!("{what}: transaction {hash} not mined within {} s", RECEIPT_TIMEOUT_MS / 1000.0)));
        }
        let wait = Promise::new(&mut |resolve, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, RECEIPT_POLL_MS);
            }
        });
        let _ = JsFuture::from(wait).await;
    }
}

fn rename(e: LivecastError, what: &str) -> LivecastError {
    match e {
        LivecastError::Broadcast { code, message } => LivecastError::Broadcast { code, message: format!("{what}: {message}") },
        other => other,
    }
}

/// A `U256` as a JS bigint.
pub fn bigint(value: U256) -> JsValue {
    BigInt::new(&JsValue::from_str(&value.to_string())).map(JsValue::from).unwrap_or(JsValue::NULL)
}

/// Wei from a bigint, a decimal or `0x` string, or a non-negative safe integer.
pub fn wei(value: &JsValue, what: &str) -> Result<U256, LivecastError> {
    let bad = |m: String| LivecastError::InvalidConfig { object: "Wallet", message: format!("{what}: {m}") };
    if let Some(b) = value.dyn_ref::<BigInt>() {
        let text = b.to_string(10).map(String::from).unwrap_or_default();
        return text.parse::<U256>().map_err(|_| bad(format!("{text} is not a wei amount (>= 0)")));
    }
    if let Some(text) = value.as_string() {
        return text.trim().parse::<U256>().map_err(|_| bad(format!("{text:?} is not a wei amount (decimal or 0x)")));
    }
    if let Some(n) = value.as_f64() {
        if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 {
            return Ok(U256::from(n as u64));
        }
        return Err(bad(format!("{n} is not a whole, safe, non-negative number of wei: pass a bigint")));
    }
    Err(LivecastError::ConfigType { object: "Wallet", message: format!("{what}: expected wei as a bigint, string or number") })
}

/// `amounts[key]` as wei (required).
pub fn wei_option(amounts: &JsValue, key: &str) -> Result<U256, LivecastError> {
    let v = Reflect::get(amounts, &key.into()).unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() {
        return Err(LivecastError::ConfigType { object: "Wallet", message: format!("`{key}` (wei) is required") });
    }
    wei(&v, key)
}
