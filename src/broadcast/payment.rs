//! Paying transcoder nodes with Livepeer tickets, as pure logic (no browser, no network).
//!
//! - [`TicketSender`]: per node, its `TicketParams` and price (from its `OrchestratorInfo`,
//!   refreshed from each result), the credit it holds for us ([`Balance`]) and our next
//!   ticket nonce. For a segment it estimates the fee as go-livepeer's broadcaster does,
//!   asks the balance how many tickets cover it, and hands out the tickets to sign
//!   ([`Prepared`]); after the node's answer it credits their expected value and debits
//!   the fee of the pixels actually made. Nodes above the price cap are refused.
//! - [`SpendStats`]: what the broadcast has spent so far.
//! - The session key: derived from the wallet's `personal_sign` over [`session_key_message`],
//!   so the same wallet re-derives the same key after a reload or in another tab, and what
//!   it was funded with is never stranded.

use alloy_primitives::{I256, U256};
use livecast_core::ticket::{estimate_pixels, Balance, PaymentBatch, Price, SignedTicket, Ticket, TicketParams, MAX_SENDER_NONCES};
use livecast_protocol::net::OrchestratorInfo;
use livecast_protocol::{keccak256, recover_signer, Address, NodeKey, Profile, B256};
use std::collections::HashMap;

/// Why a payment cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaymentError {
    /// The wallet's signature does not derive a session key (wrong length, wrong signer).
    #[error("session key: {0}")]
    SessionKey(String),
    /// The node charges more than the broadcast accepts.
    #[error("transcoder {uri} charges {price} wei per pixel, above the maximum of {max} (maxPricePerPixel)")]
    PriceTooHigh {
        /// The node.
        uri: String,
        /// Its price, wei per pixel.
        price: f64,
        /// The cap.
        max: f64,
    },
    /// The node's `OrchestratorInfo` has no usable ticket parameters or price.
    #[error("transcoder {uri} gave no usable ticket parameters: {reason}")]
    BadParams {
        /// The node.
        uri: String,
        /// What was wrong.
        reason: String,
    },
    /// The node is not known (never discovered, or refused).
    #[error("transcoder {0} has no ticket parameters: it was not discovered or was refused")]
    UnknownNode(String),
    /// Its ticket parameters have no nonce left or expired: rediscover the node.
    #[error("transcoder {0}'s ticket parameters are used up: ask it for new ones")]
    ParamsExhausted(String),
    /// Signing failed.
    #[error("signing tickets: {0}")]
    Signing(String),
}

/// How many tickets a single segment may need before something is wrong (a fee far above
/// the ticket value): go-livepeer's broadcaster has no such cap, but one wallet prompt per
/// ticket in wallet mode makes one necessary.
pub const MAX_TICKETS_PER_SEGMENT: u32 = 100;

/// Totals of a broadcast's payments. Wei amounts are exact `U256`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendStats {
    /// Tickets sent in payments that nodes accepted.
    pub tickets_sent: u64,
    /// Sum of the expected values of those tickets, wei.
    pub ev_paid: U256,
    /// Sum of the fees debited for transcoded pixels, wei.
    pub fees_debited: U256,
    /// Winning tickets of this sender redeemed on chain (seen on the broker).
    pub winning_tickets: u64,
}

/// One node's books.
#[derive(Debug, Clone)]
struct Account {
    params: Option<TicketParams>,
    price: Price,
    balance: Balance,
    /// The last nonce used with `params.recipient_rand_hash`.
    nonce: u32,
    /// The expected value of the last tickets the node accepted (0 before any).
    last_ev: U256,
    /// The node's auth-token session: its books start again with a new one.
    session: String,
}

/// Tickets for one segment to one node, to be signed and sent as the `Livepeer-Payment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The node.
    pub uri: String,
    /// The tickets (nonces already reserved: they are never handed out again).
    pub tickets: Vec<Ticket>,
    /// The params they were made from.
    pub params: TicketParams,
    /// The price they pay (the node's, echoed).
    pub price: Price,
    /// The sender.
    pub sender: Address,
    /// The fee estimated for the segment, wei.
    pub fee: U256,
}

impl Prepared {
    /// The 32-byte hashes to sign, one per ticket (wallet mode: `personal_sign` each).
    pub fn hashes(&self) -> Vec<B256> {
        self.tickets.iter().map(Ticket::hash).collect()
    }

    /// The expected value of all the tickets, wei.
    pub fn expected_value(&self) -> U256 {
        self.params.expected_value() * U256::from(self.tickets.len())
    }

    /// The batch signed by `key` (session-key mode).
    pub fn sign(&self, key: &NodeKey) -> Result<PaymentBatch, PaymentError> {
        let sigs = self.tickets.iter().map(|t| t.sign(key).map(|s| s.to_vec())).collect::<Result<Vec<_>, _>>().map_err(|e| PaymentError::Signing(e.to_string()))?;
        self.with_signatures(sigs)
    }

    /// The batch with one signature per ticket, made elsewhere (wallet mode); each is
    /// checked to recover the sender.
    pub fn with_signatures(&self, sigs: Vec<Vec<u8>>) -> Result<PaymentBatch, PaymentError> {
        if sigs.len() != self.tickets.len() {
            return Err(PaymentError::Signing(format!("{} signatures for {} tickets", sigs.len(), self.tickets.len())));
        }
        let mut tickets = Vec::with_capacity(sigs.len());
        for (ticket, mut sig) in self.tickets.iter().zip(sigs) {
            if sig.len() == 65 && sig[64] < 27 {
                sig[64] += 27;
            }
            match ticket.recover_signer(&sig) {
                Ok(a) if a == self.sender => {}
                Ok(a) => return Err(PaymentError::Signing(format!("ticket {} is signed by {a}, not by the sender {}", ticket.sender_nonce, self.sender))),
                Err(e) => return Err(PaymentError::Signing(format!("ticket {}: {e}", ticket.sender_nonce))),
            }
            tickets.push(SignedTicket { nonce: ticket.sender_nonce, sig });
        }
        Ok(PaymentBatch { params: self.params.clone(), sender: self.sender, price: self.price, tickets })
    }
}

/// The sender side of Livepeer's tickets (go-livepeer's `pm.Sender`): the broadcast's
/// payments to every node it uses.
#[derive(Debug)]
pub struct TicketSender {
    sender: Address,
    max_price_per_pixel: f64,
    accounts: HashMap<String, Account>,
    stats: SpendStats,
}

impl TicketSender {
    /// Payments from `sender` (the session key or the wallet) to nodes charging at most
    /// `max_price_per_pixel` wei per output pixel.
    pub fn new(sender: Address, max_price_per_pixel: f64) -> Self {
        Self { sender, max_price_per_pixel, accounts: HashMap::new(), stats: SpendStats::default() }
    }

    /// The ticket sender.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// Takes a node's `OrchestratorInfo` (from discovery, or refreshed in a result): its
    /// price and ticket params. A price above the cap is `PriceTooHigh` (and the node is
    /// forgotten); a free node needs no params. New params (another `recipientRandHash`)
    /// start their nonces again; a new auth-token session starts the balance again.
    pub fn update_node(&mut self, uri: &str, info: &OrchestratorInfo) -> Result<(), PaymentError> {
        let bad = |reason: String| PaymentError::BadParams { uri: uri.to_string(), reason };
        let price = match &info.price_info {
            Some(p) => Price::from_proto(p).map_err(|e| bad(e.to_string()))?,
            None => Price::default(),
        };
        if price.wei_per_pixel() > self.max_price_per_pixel {
            self.accounts.remove(uri);
            return Err(PaymentError::PriceTooHigh { uri: uri.to_string(), price: price.wei_per_pixel(), max: self.max_price_per_pixel });
        }
        let params = match (&info.ticket_params, price.is_free()) {
            (_, true) => None,
            (None, false) => return Err(bad("it charges but sent no TicketParams".into())),
            (Some(p), false) => {
                let mut p = p.clone();
                if p.expiration_params.is_none() {
                    p.expiration_params = info.ticket_params.as_ref().and_then(|t| t.expiration_params.clone());
                }
                let params = TicketParams::from_proto(&p).map_err(|e| bad(e.to_string()))?;
                if params.expected_value().is_zero() {
                    return Err(bad("its tickets have no expected value (faceValue × winProb rounds to 0 wei)".into()));
                }
                if params.expected_value() >= params.face_value {
                    return Err(bad("its ticket expected value is not below the face value".into()));
                }
                Some(params)
            }
        };
        let session = info.auth_token.as_ref().map(|t| t.session_id.clone()).unwrap_or_default();
        let account = self.accounts.entry(uri.to_string()).or_insert_with(|| Account { params: None, price, balance: Balance::new(), nonce: 0, last_ev: U256::ZERO, session: session.clone() });
        if account.session != session {
            account.balance = Balance::new();
            account.last_ev = U256::ZERO;
            account.session = session;
        }
        let same_hash = matches!((&account.params, &params), (Some(a), Some(b)) if a.recipient_rand_hash == b.recipient_rand_hash);
        if !same_hash {
            account.nonce = 0;
        }
        account.params = params;
        account.price = price;
        Ok(())
    }

    /// Whether `uri` is a node the broadcast may pay (known and within the cap).
    pub fn knows(&self, uri: &str) -> bool {
        self.accounts.contains_key(uri)
    }

    /// The node's price.
    pub fn price(&self, uri: &str) -> Option<Price> {
        self.accounts.get(uri).map(|a| a.price)
    }

    /// The node's ticket params (`None` for a free or unknown node).
    pub fn params(&self, uri: &str) -> Option<&TicketParams> {
        self.accounts.get(uri).and_then(|a| a.params.as_ref())
    }

    /// The credit `uri` holds for us, wei (negative: we owe it).
    pub fn balance(&self, uri: &str) -> Option<I256> {
        self.accounts.get(uri).map(|a| a.balance.get())
    }

    /// The tickets for a segment of `estimated_pixels` output pixels to `uri` (see
    /// `livecast_core::ticket::estimate_pixels`): as many as the balance rule says,
    /// possibly none (the `Payment` then only names the sender). `None` for a free node.
    pub fn prepare(&mut self, uri: &str, estimated_pixels: u64) -> Result<Option<Prepared>, PaymentError> {
        let account = self.accounts.get_mut(uri).ok_or_else(|| PaymentError::UnknownNode(uri.to_string()))?;
        let Some(params) = account.params.clone() else { return Ok(None) };
        let fee = account.price.fee(estimated_pixels);
        // go-livepeer's minCredit is max(fee, EV). A node checks the balance against the EV of
        // the tickets it last accepted, which differs from the EV of refreshed params when
        // the face value moved with the gas price: cover the larger of the two.
        let ev = params.expected_value();
        let n = account.balance.tickets_needed(fee.max(account.last_ev), ev).map_err(|e| PaymentError::BadParams { uri: uri.to_string(), reason: e.to_string() })?;
        if n > MAX_TICKETS_PER_SEGMENT {
            return Err(PaymentError::BadParams { uri: uri.to_string(), reason: format!("a segment would need {n} tickets (fee {fee} wei, ticket EV {} wei)", params.expected_value()) });
        }
        if account.nonce.saturating_add(n) > MAX_SENDER_NONCES {
            return Err(PaymentError::ParamsExhausted(uri.to_string()));
        }
        let tickets = (1..=n).map(|i| params.ticket(self.sender, account.nonce + i)).collect();
        account.nonce += n;
        Ok(Some(Prepared { uri: uri.to_string(), tickets, params, price: account.price, sender: self.sender, fee }))
    }

    /// The node accepted `prepared` and made `pixels` output pixels: credit the tickets'
    /// expected value, debit the fee (go-livepeer's broadcaster books, `core/accounting.go`).
    pub fn settle(&mut self, prepared: &Prepared, pixels: u64) {
        let ev = prepared.expected_value();
        let Some(account) = self.accounts.get_mut(&prepared.uri) else { return };
        let fee = account.price.fee(pixels);
        account.balance.credit(ev);
        account.balance.debit(fee);
        if !prepared.tickets.is_empty() {
            account.last_ev = prepared.params.expected_value();
        }
        self.stats.tickets_sent += prepared.tickets.len() as u64;
        self.stats.ev_paid += ev;
        self.stats.fees_debited += fee;
    }

    /// Records winning tickets seen on chain (a running total).
    pub fn set_winning_tickets(&mut self, total: u64) {
        self.stats.winning_tickets = total;
    }

    /// The totals so far.
    pub fn stats(&self) -> &SpendStats {
        &self.stats
    }
}



/// go-livepeer's fee estimate in output pixels for a segment of `duration_ms` asking for
/// `profiles` (a profile's fps of 0 counts as 60, as in `estimateFee`).
pub fn segment_pixels(profiles: &[Profile], duration_ms: u64) -> u64 {
    let renditions: Vec<(u32, u32, f64)> = profiles
        .iter()
        .map(|p| (p.width, p.height, if p.fps == 0 { 0.0 } else { f64::from(p.fps) / f64::from(p.fps_den.max(1)) }))
        .collect();
    estimate_pixels(&renditions, duration_ms as f64 / 1000.0)
}

/// The fixed, human-readable message the wallet signs to derive its session key for
/// `broker` on chain `chain_id`. The wallet shows it; it commits to nothing on chain.
pub fn session_key_message(wallet: Address, chain_id: u64, broker: Address) -> String {
    format!(
        "Livecast session key\n\n\
         Signing this derives the key this page uses to pay transcoders, in tickets, from the \
         deposit your wallet gives it on the TicketBroker. Signing sends no transaction and \
         costs nothing. Only sign on pages you trust: this signature controls that deposit.\n\n\
         Wallet: {}\nChain: {chain_id}\nTicketBroker: {}\nVersion: 1",
        wallet.to_checksum(None),
        broker.to_checksum(None)
    )
}

/// The session key from the wallet's `personal_sign` signature over
/// [`session_key_message`]: the secret is keccak256 of the 65 signature bytes (re-hashed in
/// the ~2^-128 case that this is not a valid secp256k1 scalar). The signature is checked to
/// come from `wallet` over `message` first. Wallets sign deterministically (RFC 6979), so
/// the same wallet, chain and broker always give the same key.
pub fn session_key_from_signature(wallet: Address, message: &str, signature: &[u8]) -> Result<NodeKey, PaymentError> {
    let mut sig = signature.to_vec();
    if sig.len() != 65 {
        return Err(PaymentError::SessionKey(format!("the wallet's signature is {} bytes, expected 65", sig.len())));
    }
    // Some wallets give V as 0/1 instead of 27/28.
    if sig[64] < 27 {
        sig[64] += 27;
    }
    let signer = recover_signer(message.as_bytes(), &sig).map_err(|e| PaymentError::SessionKey(format!("the wallet's signature is not valid: {e}")))?;
    if signer != wallet {
        return Err(PaymentError::SessionKey(format!("the signature is from {signer}, not from the connected wallet {wallet}")));
    }
    let mut secret = keccak256(&sig);
    for _ in 0..8 {
        if let Ok(key) = NodeKey::from_bytes(secret.as_slice()) {
            return Ok(key);
        }
        secret = keccak256(secret);
    }
    Err(PaymentError::SessionKey("the signature does not give a valid key".into()))
}

/// Wei as ETH, exactly: `1500000000000000000` → `"1.5"`, `1` → `"0.000000000000000001"`.
pub fn format_ether(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let (whole, frac) = (wei / unit, wei % unit);
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ether_is_formatted_exactly() {
        let eth = |s: &str| format_ether(s.parse().unwrap());
        assert_eq!(eth("1500000000000000000"), "1.5");
        assert_eq!(eth("1"), "0.000000000000000001");
        assert_eq!(eth("0"), "0");
        assert_eq!(eth("20000000000000000000"), "20");
        assert_eq!(eth("123456789012345678901"), "123.456789012345678901");
    }

    #[test]
    fn the_session_key_is_deterministic_and_bound_to_the_wallets_signature() {
        let wallet = NodeKey::from_bytes(&[7u8; 32]).unwrap();
        let broker = Address::repeat_byte(0xbb);
        let message = session_key_message(wallet.address(), 31337, broker);
        assert!(message.contains(&wallet.address().to_checksum(None)) && message.contains("Chain: 31337"));
        let sig = wallet.sign_message(message.as_bytes()).unwrap();
        let a = session_key_from_signature(wallet.address(), &message, &sig).unwrap();
        let b = session_key_from_signature(wallet.address(), &message, &sig).unwrap();
        assert_eq!(a.address(), b.address());
        assert_eq!(a.to_hex(), alloy_hex(keccak256(sig).as_slice()));
        assert_ne!(a.address(), wallet.address());
        // V as 0/1 is the same signature.
        let mut low_v = sig;
        low_v[64] -= 27;
        assert_eq!(session_key_from_signature(wallet.address(), &message, &low_v).unwrap().address(), a.address());
        // Another chain or broker is another message, hence another key.
        let other = session_key_message(wallet.address(), 1, broker);
        let other_sig = wallet.sign_message(other.as_bytes()).unwrap();
        assert_ne!(session_key_from_signature(wallet.address(), &other, &other_sig).unwrap().address(), a.address());
    }

    #[test]
    fn a_signature_from_someone_else_or_over_another_message_is_refused() {
        let wallet = NodeKey::from_bytes(&[7u8; 32]).unwrap();
        let mallory = NodeKey::from_bytes(&[9u8; 32]).unwrap();
        let message = session_key_message(wallet.address(), 31337, Address::ZERO);
        let sig = mallory.sign_message(message.as_bytes()).unwrap();
        let e = session_key_from_signature(wallet.address(), &message, &sig).unwrap_err();
        assert!(e.to_string().contains("not from the connected wallet"), "{e}");
        let sig = wallet.sign_message(b"something else").unwrap();
        assert!(session_key_from_signature(wallet.address(), &message, &sig).is_err());
        assert!(session_key_from_signature(wallet.address(), &message, &sig[..64]).unwrap_err().to_string().contains("64 bytes"));
    }

    use livecast_core::ticket::win_prob_for;
    use livecast_protocol::profile::{P240P30FPS16X9, P360P30FPS16X9};
    use livecast_protocol::net::{AuthToken, PriceInfo, TicketExpirationParams};

    /// A node's info: `price` wei per pixel, tickets of face value 1e15 wei and EV 1e12.
    fn info(price: i64, rand_hash: u8, session: &str) -> OrchestratorInfo {
        let face = U256::from(1_000_000_000_000_000u64);
        let params = TicketParams {
            recipient: Address::repeat_byte(0x11),
            face_value: face,
            win_prob: win_prob_for(U256::from(1_000_000_000_000u64), face).unwrap(),
            recipient_rand_hash: B256::repeat_byte(rand_hash),
            seed: vec![1, 2, 3],
            expiration_block: U256::from(100u64),
            creation_round: 3,
            creation_round_block_hash: B256::repeat_byte(0x33),
        };
        let mut proto = params.to_proto();
        proto.expiration_params = Some(TicketExpirationParams { creation_round: 3, creation_round_block_hash: vec![0x33; 32] });
        OrchestratorInfo {
            ticket_params: Some(proto),
            price_info: Some(PriceInfo { price_per_unit: price, pixels_per_unit: 1, ..Default::default() }),
            auth_token: Some(AuthToken { token: vec![9], session_id: session.into(), expiration: 0 }),
            ..Default::default()
        }
    }

    fn ladder_pixels() -> u64 {
        // 360p + 240p at 30 fps for a 2 s segment.
        let pixels = segment_pixels(&[P360P30FPS16X9, P240P30FPS16X9], 2000);
        assert_eq!(pixels, ((640 * 360 + 426 * 240) * 30 * 2 * 102u64).div_ceil(100));
        assert_eq!(segment_pixels(&[P360P30FPS16X9], 1500), segment_pixels(&[P360P30FPS16X9], 2000), "duration rounds up");
        pixels
    }

    #[test]
    fn tickets_cover_the_estimated_fee_then_the_balance_carries_over() {
        let key = NodeKey::from_bytes(&[5u8; 32]).unwrap();
        let mut p = TicketSender::new(key.address(), 1000.0);
        p.update_node("http://a", &info(100, 1, "s1")).unwrap();
        let pixels = ladder_pixels();
        let fee = U256::from(pixels) * U256::from(100u64);
        let ev = U256::from(1_000_000_000_000u64);
        let first = p.prepare("http://a", pixels).unwrap().unwrap();
        assert_eq!(U256::from(first.tickets.len()), fee.div_ceil(ev), "n = ceil(fee / EV) from a zero balance");
        assert_eq!(first.fee, fee);
        assert_eq!(first.tickets.iter().map(|t| t.sender_nonce).collect::<Vec<_>>(), (1..=first.tickets.len() as u32).collect::<Vec<_>>(), "nonces start at 1");
        let batch = first.sign(&key).unwrap();
        let decoded = PaymentBatch::decode_header(&batch.encode_header()).unwrap();
        assert_eq!(decoded, batch);
        for (ticket, sig) in decoded.tickets() {
            assert_eq!(ticket.recover_signer(sig).unwrap(), key.address());
            assert_eq!(ticket.creation_round, 3);
        }
        // The node made fewer pixels than estimated: the surplus stays as credit.
        let made = pixels * 90 / 100;
        p.settle(&first, made);
        let credit = first.expected_value() - U256::from(made) * U256::from(100u64);
        assert_eq!(p.balance("http://a").unwrap(), I256::try_from(credit).unwrap());
        let second = p.prepare("http://a", pixels).unwrap().unwrap();
        let min_credit = fee.max(ev);
        let expected = if credit >= min_credit { U256::ZERO } else { (min_credit - credit).div_ceil(ev) };
        assert_eq!(U256::from(second.tickets.len()), expected);
        assert_eq!(second.tickets[0].sender_nonce as usize, first.tickets.len() + 1, "nonces go on");
        let s = p.stats();
        assert_eq!((s.tickets_sent, s.ev_paid, s.fees_debited), (first.tickets.len() as u64, first.expected_value(), U256::from(made) * U256::from(100u64)));
    }

    #[test]
    fn the_balance_must_hold_at_least_one_tickets_ev() {
        let mut p = TicketSender::new(Address::repeat_byte(1), 1.0);
        p.update_node("http://a", &info(1, 1, "s")).unwrap();
        let one = p.prepare("http://a", 10).unwrap().unwrap();
        assert_eq!(one.tickets.len(), 1, "minCredit = max(fee, EV)");
        p.settle(&one, 10);
        // EV − 10 wei of credit is below minCredit = EV: one more ticket, then 2 EV − 20
        // covers the next segment without any.
        assert_eq!(p.prepare("http://a", 10).unwrap().unwrap().tickets.len(), 1);
        let two = p.balance("http://a").unwrap();
        assert_eq!(two, I256::try_from(U256::from(1_000_000_000_000u64 - 10)).unwrap(), "nothing is credited before the node accepts");
    }

    #[test]
    fn new_params_restart_nonces_and_a_new_session_restarts_the_balance() {
        let mut p = TicketSender::new(Address::repeat_byte(1), 1000.0);
        p.update_node("http://a", &info(100, 1, "s1")).unwrap();
        let first = p.prepare("http://a", ladder_pixels()).unwrap().unwrap();
        p.settle(&first, 1);
        p.update_node("http://a", &info(100, 1, "s1")).unwrap();
        assert!(p.balance("http://a").unwrap() > I256::ZERO);
        let again = p.prepare("http://a", 1).unwrap().unwrap();
        assert_eq!(again.tickets[0].sender_nonce as usize, first.tickets.len() + 1, "same params: nonces go on");
        p.update_node("http://a", &info(100, 2, "s1")).unwrap();
        p.update_node("http://a", &info(100, 2, "s2")).unwrap();
        assert_eq!(p.balance("http://a").unwrap(), I256::ZERO, "the node's books start again with its session");
        let fresh = p.prepare("http://a", 1).unwrap().unwrap();
        assert_eq!(fresh.tickets[0].sender_nonce, 1, "another recipientRandHash starts at nonce 1");
    }

    #[test]
    fn when_refreshed_params_have_a_smaller_ev_the_balance_still_covers_the_last_one() {
        let mut p = TicketSender::new(Address::repeat_byte(1), 1000.0);
        p.update_node("http://a", &info(1, 1, "s")).unwrap();
        let first = p.prepare("http://a", 1000).unwrap().unwrap();
        p.settle(&first, 1000);
        // New params whose EV is a tenth: the balance (EV − 1000 wei) is above the new EV,
        // but the node still wants the old EV covered.
        let mut cheaper = info(1, 2, "s");
        let face = U256::from(1_000_000_000_000_000u64);
        cheaper.ticket_params.as_mut().unwrap().win_prob = win_prob_for(U256::from(100_000_000_000u64), face).unwrap().to_be_bytes_vec();
        p.update_node("http://a", &cheaper).unwrap();
        let next = p.prepare("http://a", 1000).unwrap().unwrap();
        assert_eq!(next.tickets.len(), 1, "1000 wei short of the last EV: one ticket of the new EV");
        p.settle(&next, 1000);
        assert!(p.balance("http://a").unwrap() >= I256::try_from(first.params.expected_value()).unwrap());
    }

    #[test]
    fn params_run_out_after_600_nonces() {
        let mut p = TicketSender::new(Address::repeat_byte(1), 1e9);
        p.update_node("http://a", &info(1_000_000, 1, "s")).unwrap();
        let mut used = 0;
        loop {
            match p.prepare("http://a", ladder_pixels()) {
                Ok(Some(t)) => used += t.tickets.len() as u32,
                Err(PaymentError::ParamsExhausted(uri)) => {
                    assert_eq!(uri, "http://a");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(used <= MAX_SENDER_NONCES && used > MAX_SENDER_NONCES - MAX_TICKETS_PER_SEGMENT, "{used}");
    }

    #[test]
    fn nodes_above_the_price_cap_free_nodes_and_bad_params() {
        let mut p = TicketSender::new(Address::repeat_byte(1), 50.0);
        let e = p.update_node("http://dear", &info(51, 1, "s")).unwrap_err();
        assert!(matches!(e, PaymentError::PriceTooHigh { .. }), "{e}");
        assert!(e.to_string().contains("51 wei per pixel") && e.to_string().contains("maximum of 50"), "{e}");
        assert!(!p.knows("http://dear"));
        assert!(matches!(p.prepare("http://dear", 1), Err(PaymentError::UnknownNode(_))));
        p.update_node("http://free", &OrchestratorInfo::default()).unwrap();
        assert_eq!(p.prepare("http://free", 1_000_000).unwrap(), None, "a free node needs no payment");
        let mut no_params = info(10, 1, "s");
        no_params.ticket_params = None;
        assert!(matches!(p.update_node("http://x", &no_params), Err(PaymentError::BadParams { .. })));
        let mut short = info(10, 1, "s");
        short.ticket_params.as_mut().unwrap().recipient = vec![1, 2];
        assert!(p.update_node("http://x", &short).unwrap_err().to_string().contains("recipient"));
    }

    #[test]
    fn wallet_signatures_are_checked_against_the_sender() {
        let wallet = NodeKey::from_bytes(&[8u8; 32]).unwrap();
        let other = NodeKey::from_bytes(&[9u8; 32]).unwrap();
        let mut p = TicketSender::new(wallet.address(), 1000.0);
        p.update_node("http://a", &info(100, 1, "s")).unwrap();
        let prepared = p.prepare("http://a", ladder_pixels()).unwrap().unwrap();
        // personal_sign over each 32-byte hash, as a wallet does it.
        let sign_all = |k: &NodeKey| prepared.hashes().iter().map(|h| k.sign_message(h.as_slice()).unwrap().to_vec()).collect::<Vec<_>>();
        let batch = prepared.with_signatures(sign_all(&wallet)).unwrap();
        assert_eq!(batch, prepared.sign(&wallet).unwrap());
        assert!(prepared.with_signatures(sign_all(&other)).unwrap_err().to_string().contains("not by the sender"));
        assert!(prepared.with_signatures(vec![]).is_err() || prepared.tickets.is_empty());
    }

    fn alloy_hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
