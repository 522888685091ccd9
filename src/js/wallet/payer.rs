//! The `Broadcaster`'s `payment` option in the browser: reading it, getting the ticket
//! sender ready (session key derived and funded from the wallet), admitting nodes, signing
//! each segment's tickets, and counting this sender's winning tickets on the broker.
//! The books themselves are `broadcast::payment` (pure Rust).

use super::broker::{self, SenderInfo};
use super::provider::{wallet_error, Provider};
use super::{derive_session_key, hex, personal_sign, wallet_from_js, SharedWallet};
use crate::broadcast::payment::{segment_pixels, PaymentError, TicketSender, Prepared};
use crate::js::interop::OptionsReader;
use crate::{ErrorCode, LivecastError};
use alloy_primitives::U256;
use alloy_sol_types::SolEvent;
use js_sys::Reflect;
use livecast_core::ticket::PaymentBatch;
use livecast_protocol::net::OrchestratorInfo;
use livecast_protocol::{Address, NodeKey, Profile};
use wasm_bindgen::prelude::*;

const OBJECT: &str = "Broadcaster";

/// Who signs the tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The session key the wallet derived and funded (silent signing).
    Session,
    /// The wallet itself (`personal_sign` per ticket, per segment and for discovery).
    Wallet,
}

/// The `payment` option.
#[derive(Clone)]
pub(crate) struct PaymentOptions {
    wallet: SharedWallet,
    broker: Address,
    pub(crate) mode: Mode,
    max_price_per_pixel: f64,
    deposit: U256,
    reserve: U256,
}

impl std::fmt::Debug for PaymentOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentOptions")
            .field("broker", &self.broker)
            .field("mode", &self.mode)
            .field("max_price_per_pixel", &self.max_price_per_pixel)
            .field("deposit", &self.deposit)
            .field("reserve", &self.reserve)
            .finish_non_exhaustive()
    }
}

/// Reads `payment`: `undefined` (no payments) or
/// `{ wallet, broker, mode?, maxPricePerPixel, deposit, reserve }`.
pub(crate) fn parse(value: &JsValue) -> Result<Option<PaymentOptions>, LivecastError> {
    if value.is_undefined() {
        return Ok(None);
    }
    let reader = OptionsReader::new(value, OBJECT, &["wallet", "broker", "mode", "maxPricePerPixel", "deposit", "reserve"])?;
    let type_error = |message: &str| LivecastError::ConfigType { object: OBJECT, message: message.into() };
    let bad = |message: String| LivecastError::InvalidConfig { object: OBJECT, message };
    let wallet_js = Reflect::get(value, &"wallet".into()).unwrap_or(JsValue::UNDEFINED);
    let wallet = wallet_from_js(&wallet_js).ok_or_else(|| type_error("`payment.wallet` must be a connected Wallet (from `Wallet.connect`)"))?;
    let broker = reader.string("broker")?.ok_or_else(|| type_error("`payment.broker` (the TicketBroker's address) is required"))?;
    let broker = broker.trim().parse::<Address>().map_err(|_| bad(format!("`payment.broker`: {broker:?} is not an address")))?;
    let mode = match reader.string("mode")?.as_deref() {
        None | Some("session") => Mode::Session,
        Some("wallet") => Mode::Wallet,
        Some(other) => return Err(bad(format!("`payment.mode` must be \"session\" or \"wallet\", got {other:?}"))),
    };
    let max_price_per_pixel = reader.number("maxPricePerPixel")?.ok_or_else(|| type_error("`payment.maxPricePerPixel` (wei per output pixel) is required"))?;
    if !max_price_per_pixel.is_finite() || max_price_per_pixel < 0.0 {
        return Err(bad(format!("`payment.maxPricePerPixel` must be a finite number >= 0, got {max_price_per_pixel}")));
    }
    let amount = |key: &str| -> Result<U256, LivecastError> {
        let v = Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() {
            return Err(type_error(&format!("`payment.{key}` (wei) is required")));
        }
        broker::wei(&v, &format!("payment.{key}")).map_err(|e| match e {
            LivecastError::InvalidConfig { message, .. } => bad(message),
            LivecastError::ConfigType { message, .. } => type_error(&message),
            other => other,
        })
    };
    let (deposit, reserve) = (amount("deposit")?, amount("reserve")?);
    if deposit.is_zero() {
        return Err(bad("`payment.deposit` must be above 0: winning tickets are paid from it".into()));
    }
    Ok(Some(PaymentOptions { wallet, broker, mode, max_price_per_pixel, deposit, reserve }))
}

/// A broadcast's payer: the ticket sender, its books, and its funds as last read.
pub(crate) struct Payer {
    options: PaymentOptions,
    provider: Provider,
    /// The session key (session mode).
    key: Option<NodeKey>,
    sender: Address,
    funds: SenderInfo,
    pub(crate) payments: TicketSender,
    /// A winning-ticket count is being read.
    pub(crate) polling: bool,
    /// The last refusal reported per node, so a rediscovery does not repeat it.
    refused: std::collections::HashMap<String, String>,
}

impl Payer {
    /// Gets the sender ready: in session mode derives the session key (one `personal_sign`
    /// the first time), then tops its deposit and reserve up to the asked amounts with one
    /// `fundDepositAndReserveFor` when they fall short (funds already there after a reload
    /// are reused). In wallet mode the wallet's own deposit must already be there.
    pub(crate) async fn start(options: PaymentOptions) -> Result<Payer, LivecastError> {
        let (provider, wallet_address) = {
            let w = options.wallet.borrow();
            (w.provider.clone(), w.address)
        };
        let (key, sender) = match options.mode {
            Mode::Session => {
                let key = derive_session_key(&options.wallet, options.broker).await?;
                let address = key.address();
                (Some(key), address)
            }
            Mode::Wallet => (None, wallet_address),
        };
        let mut funds = broker::sender_info(&provider, options.broker, sender).await?;
        let missing_deposit = options.deposit.saturating_sub(funds.deposit);
        let missing_reserve = options.reserve.saturating_sub(funds.reserve);
        if options.mode == Mode::Session && !(missing_deposit.is_zero() && missing_reserve.is_zero()) {
            broker::fund(&provider, wallet_address, options.broker, sender, missing_deposit, missing_reserve).await?;
            funds = broker::sender_info(&provider, options.broker, sender).await?;
        }
        if funds.deposit.is_zero() {
            return Err(wallet_error(ErrorCode::DepositTooLow, format!("the ticket sender {sender} has no deposit on the TicketBroker {}: fund it first", options.broker)));
        }
        if !funds.withdraw_round.is_zero() {
            return Err(wallet_error(ErrorCode::DepositTooLow, format!("the ticket sender {sender} is unlocking its funds (withdraw round {}): nodes do not accept its tickets; withdraw, then fund again", funds.withdraw_round)));
        }
        let payments = TicketSender::new(sender, options.max_price_per_pixel);
        Ok(Payer { options, provider, key, sender, funds, payments, polling: false, refused: Default::default() })
    }

    /// The key that signs segments and tickets in session mode.
    pub(crate) fn session_key(&self) -> Option<&NodeKey> {
        self.key.as_ref()
    }

    /// Takes a node's `OrchestratorInfo`: a typed error when the broadcast cannot pay it
    /// (`PRICE_TOO_HIGH`, `DEPOSIT_TOO_LOW` when its face value is above the deposit, as
    /// go-livepeer's sender refuses, `PAYMENT_REJECTED` for unusable params).
    pub(crate) fn admit(&mut self, uri: &str, info: &OrchestratorInfo) -> Result<(), LivecastError> {
        self.payments.update_node(uri, info).map_err(payment_error)?;
        if let Some(params) = self.payments.params(uri) {
            if params.face_value > self.funds.deposit {
                let (face, deposit) = (params.face_value, self.funds.deposit);
                return Err(wallet_error(
                    ErrorCode::DepositTooLow,
                    format!("transcoder {uri}'s tickets are worth {face} wei when they win, more than the sender's deposit of {deposit} wei: fund a larger deposit"),
                ));
            }
        }
        self.refused.remove(uri);
        Ok(())
    }

    /// Whether the refusal `message` of `uri` is new (not the one reported last time).
    pub(crate) fn first_report(&mut self, uri: &str, message: &str) -> bool {
        self.refused.insert(uri.to_string(), message.to_string()).as_deref() != Some(message)
    }

    /// The tickets for a segment of `duration_ms` asking for `profiles` from `uri`.
    pub(crate) fn prepare(&mut self, uri: &str, profiles: &[Profile], duration_ms: u64) -> Result<Option<Prepared>, PaymentError> {
        self.payments.prepare(uri, segment_pixels(profiles, duration_ms))
    }

    /// The `Livepeer-Payment` value for `prepared`, signed by the session key.
    pub(crate) fn sign(&self, prepared: &Prepared) -> Result<PaymentBatch, LivecastError> {
        let key = self.key.as_ref().ok_or_else(|| wallet_error(ErrorCode::InvalidState, "no session key: wallet mode signs with the wallet"))?;
        prepared.sign(key).map_err(payment_error)
    }

    /// The wallet, the broker and the sender, to sign or read with outside a borrow.
    pub(crate) fn handles(&self) -> (Provider, Address, Address, Address) {
        let wallet = self.options.wallet.borrow().address;
        (self.provider.clone(), wallet, self.options.broker, self.sender)
    }
}

/// Signs `prepared`'s tickets with the wallet: one `personal_sign` over each ticket hash.
pub(crate) async fn sign_with_wallet(provider: &Provider, wallet: Address, prepared: &Prepared) -> Result<PaymentBatch, LivecastError> {
    let mut sigs = Vec::with_capacity(prepared.tickets.len());
    for hash in prepared.hashes() {
        sigs.push(personal_sign(provider, wallet, hash.as_slice()).await?);
    }
    prepared.with_signatures(sigs).map_err(payment_error)
}

/// A 32-byte digest signed by the wallet with `personal_sign` (wallet mode's segment and
/// discovery signatures: go-livepeer signs those digests the same way).
pub(crate) async fn wallet_sign_digest(provider: &Provider, wallet: Address, digest: &[u8]) -> Result<Vec<u8>, LivecastError> {
    let mut sig = personal_sign(provider, wallet, digest).await?;
    if sig.len() == 65 && sig[64] < 27 {
        sig[64] += 27;
    }
    Ok(sig)
}

/// How many winning tickets of `sender` the broker has paid (its `WinningTicketRedeemed`
/// events with `sender` as the first indexed topic).
pub(crate) async fn winning_tickets(provider: &Provider, broker: Address, sender: Address) -> Result<u64, LivecastError> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Filter {
        address: String,
        from_block: &'static str,
        to_block: &'static str,
        topics: [String; 2],
    }
    let topic0 = format!("0x{}", hex(broker::ITicketBroker::WinningTicketRedeemed::SIGNATURE_HASH.as_slice()));
    let topic1 = format!("0x{}{}", "0".repeat(24), hex(sender.as_slice()));
    let filter = Filter { address: broker.to_checksum(None), from_block: "0x0", to_block: "latest", topics: [topic0, topic1] };
    let logs: Vec<serde_json_any::Any> = provider.request("eth_getLogs", [filter]).await?;
    Ok(logs.len() as u64)
}

/// Any JSON value, only counted.
mod serde_json_any {
    /// A value whose content is ignored.
    #[derive(serde::Deserialize)]
    pub struct Any(#[allow(dead_code)] serde::de::IgnoredAny);
}

/// A `PaymentError` as the error a page sees.
pub(crate) fn payment_error(e: PaymentError) -> LivecastError {
    let code = match &e {
        PaymentError::PriceTooHigh { .. } => ErrorCode::PriceTooHigh,
        PaymentError::SessionKey(_) | PaymentError::Signing(_) => ErrorCode::WalletError,
        PaymentError::BadParams { .. } | PaymentError::UnknownNode(_) | PaymentError::ParamsExhausted(_) => ErrorCode::PaymentRejected,
    };
    wallet_error(code, e.to_string())
}

/// The spend totals as `stats` fields: counts as numbers, wei as decimal strings.
pub(crate) fn stats_entries(payer: Option<&Payer>) -> Vec<(&'static str, JsValue)> {
    let s = payer.map(|p| p.payments.stats().clone()).unwrap_or_default();
    vec![
        ("ticketsSent", (s.tickets_sent as f64).into()),
        ("evPaid", s.ev_paid.to_string().into()),
        ("feesDebited", s.fees_debited.to_string().into()),
        ("winningTickets", (s.winning_tickets as f64).into()),
        ("ticketSender", payer.map_or(JsValue::NULL, |p| p.sender.to_checksum(None).into())),
    ]
}

/// Benchmark hook: makes and signs `count` tickets the way a paying `Broadcaster` does for
/// each segment (ticket from a node's params, keccak256 hash, EIP-191 secp256k1 signature
/// with a session key), and resolves to the number signed. Time it from JS.
#[wasm_bindgen(js_name = benchTicketSigning)]
pub fn bench_ticket_signing(count: u32) -> Result<u32, JsValue> {
    use livecast_core::ticket::{TicketParams, U256};
    let key = NodeKey::from_bytes(&[7u8; 32]).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let params = TicketParams {
        recipient: Address::repeat_byte(0x11),
        face_value: U256::from(10u64).pow(U256::from(17u64)),
        win_prob: U256::MAX / U256::from(1000u64),
        recipient_rand_hash: livecast_protocol::B256::repeat_byte(0x22),
        seed: vec![1; 32],
        expiration_block: U256::from(1000u64),
        creation_round: 7,
        creation_round_block_hash: livecast_protocol::B256::repeat_byte(0x33),
    };
    let mut signed = 0;
    for nonce in 1..=count {
        let sig = params.ticket(key.address(), nonce).sign(&key).map_err(|e| JsValue::from_str(&e.to_string()))?;
        signed += u32::from(sig[64] >= 27);
    }
    Ok(signed)
}
