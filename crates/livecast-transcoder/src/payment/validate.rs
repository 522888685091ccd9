//! The checks a `Payment` passes before its tickets are credited, each with an error that
//! names it (go-livepeer `pm/validator.go` and `pm/recipient.go`, plus the chain-side
//! checks the TicketBroker would make at redemption, so a ticket that could never be paid
//! is refused at once).
//!
//! The recipientRand commitment is made for the *session key*: the address that asked
//! for the params (`GetOrchestrator`) and signs the segments. In go-livepeer that is
//! always the ticket sender; here a wallet may be the sender while a session key signs the
//! segments, and the commitment ties the wallet's tickets to that session key (see
//! [`crate::payment`]).

use super::chain::{ChainHead, SenderFunds};
use livecast_core::ticket::{self, Address, PaymentBatch, Price, RecipientSecret, Ticket, B256, U256};

/// Why a payment was refused. Every variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The `Livepeer-Payment` header does not decode.
    #[error("Livepeer-Payment: {0}")]
    Decode(String),
    /// `expected_price` is not the node's price.
    #[error("price check: the payment expects {expected_per_unit} wei per {expected_pixels} pixels, this node charges {per_unit} wei per {pixels} pixels; get fresh ticket params")]
    Price {
        /// The payment's price per unit.
        expected_per_unit: i64,
        /// The payment's pixels per unit.
        expected_pixels: i64,
        /// The node's price per unit.
        per_unit: i64,
        /// The node's pixels per unit.
        pixels: i64,
    },
    /// The tickets are for someone else.
    #[error("recipient check: the tickets pay {got}, not this node ({ours})")]
    Recipient {
        /// The ticket's recipient.
        got: Address,
        /// This node.
        ours: Address,
    },
    /// The params were not issued by this node to this session key, or were changed.
    #[error("recipientRand check: these ticket params were not issued by this node to {signer} (seed, face value, win probability, expiration block, price or round changed, or the params were issued to another key)")]
    RandPreimage {
        /// The session key the params were checked for.
        signer: Address,
    },
    /// The params come from before the node's last start: its nonce records start afresh, so
    /// they could replay tickets it already took.
    #[error("restart check: these ticket params were issued before the node restarted; get fresh ticket params")]
    IssuedBeforeRestart,
    /// The params' expiration block has passed.
    #[error("expiration check: the ticket params expired at block {expiration_block} (the chain is at block {block}); get fresh ticket params")]
    ExpiredBlock {
        /// The params' expiration block.
        expiration_block: U256,
        /// The chain's block.
        block: u64,
    },
    /// The creation round is too old (or in the future).
    #[error("expiration check: the tickets were made in round {creation_round}, the chain is in round {round} and tickets stay valid for {validity} rounds; get fresh ticket params")]
    ExpiredRound {
        /// The tickets' round.
        creation_round: i64,
        /// The chain's round.
        round: i64,
        /// Rounds a ticket stays valid.
        validity: i64,
    },
    /// The creation round's block hash is not the chain's.
    #[error("expiration check: the block hash of round {creation_round} is {got}, the chain says {chain}")]
    RoundBlockHash {
        /// The tickets' round.
        creation_round: i64,
        /// The tickets' hash.
        got: B256,
        /// The chain's hash.
        chain: B256,
    },
    /// The sender has no deposit and no reserve.
    #[error("sender check: unfunded sender {sender}: no deposit and no reserve in the TicketBroker")]
    Unfunded {
        /// The sender.
        sender: Address,
    },
    /// The sender's funds are being unlocked.
    #[error("sender check: the deposit of {sender} unlocks in round {withdraw_round} (current round {round}); cancel the unlock or fund a new sender")]
    Unlocking {
        /// The sender.
        sender: Address,
        /// When it may withdraw.
        withdraw_round: U256,
        /// The current round.
        round: i64,
    },
    /// A winning ticket could not be paid in full.
    #[error("sender check: face value {face_value} wei is above the deposit and reserve of {sender} ({funds} wei); fund the sender")]
    FaceValueAboveFunds {
        /// The sender.
        sender: Address,
        /// The tickets' face value.
        face_value: U256,
        /// Deposit plus reserve.
        funds: U256,
    },
    /// A ticket's signature is not the sender's.
    #[error("signature check: ticket {index} (nonce {nonce}): {reason}")]
    Signature {
        /// The ticket's place in the batch.
        index: usize,
        /// Its nonce.
        nonce: u32,
        /// What is wrong.
        reason: String,
    },
    /// A nonce was already used with these params, or too many were.
    #[error("nonce check: ticket {index}: {reason}")]
    Nonce {
        /// The ticket's place in the batch.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// What a payment is checked against.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// This node's address.
    pub recipient: Address,
    /// This node's price.
    pub price: Price,
    /// This node's recipientRand secret.
    pub secret: &'a RecipientSecret,
    /// The session key: the address that signed the segment.
    pub signer: Address,
    /// The chain now.
    pub head: ChainHead,
    /// The chain's block hash for the tickets' creation round.
    pub creation_round_hash: B256,
    /// The sender's funds.
    pub funds: SenderFunds,
    /// Rounds a ticket stays valid after its creation round.
    pub validity_rounds: i64,
    /// This run's id, the first bytes of every seed it issues.
    pub boot_id: &'a [u8],
}

/// Checks what all tickets of `batch` share (price, recipient, recipientRand, expiry,
/// sender funds). Returns the node's recipientRand for the batch.
pub fn check_batch(batch: &PaymentBatch, cx: &Context<'_>) -> Result<U256, TicketError> {
    let (price, ours) = (batch.price, cx.price);
    // Same ratio: a/b == c/d ⇔ a·d == c·b (i128 cannot overflow with i64 factors).
    if i128::from(price.per_unit) * i128::from(ours.pixels_per_unit) != i128::from(ours.per_unit) * i128::from(price.pixels_per_unit) {
        return Err(TicketError::Price {
            expected_per_unit: price.per_unit,
            expected_pixels: price.pixels_per_unit,
            per_unit: ours.per_unit,
            pixels: ours.pixels_per_unit,
        });
    }
    let params = &batch.params;
    if params.recipient != cx.recipient {
        return Err(TicketError::Recipient { got: params.recipient, ours: cx.recipient });
    }
    let rand = cx.secret.rand(params, cx.signer, &ours);
    if ticket::recipient_rand_hash(rand) != params.recipient_rand_hash {
        return Err(TicketError::RandPreimage { signer: cx.signer });
    }
    if !params.seed.starts_with(cx.boot_id) {
        return Err(TicketError::IssuedBeforeRestart);
    }
    if params.expiration_block <= U256::from(cx.head.block) {
        return Err(TicketError::ExpiredBlock { expiration_block: params.expiration_block, block: cx.head.block });
    }
    if params.creation_round + cx.validity_rounds <= cx.head.round || params.creation_round > cx.head.round {
        return Err(TicketError::ExpiredRound {
            creation_round: params.creation_round,
            round: cx.head.round,
            validity: cx.validity_rounds,
        });
    }
    if params.creation_round_block_hash != cx.creation_round_hash {
        return Err(TicketError::RoundBlockHash {
            creation_round: params.creation_round,
            got: params.creation_round_block_hash,
            chain: cx.creation_round_hash,
        });
    }
    let funds = cx.funds.total();
    if funds.is_zero() {
        return Err(TicketError::Unfunded { sender: batch.sender });
    }
    // go-livepeer's ValidateSender: an unlock that ends by next round makes the deposit
    // unreliable.
    if !cx.funds.withdraw_round.is_zero() && cx.funds.withdraw_round <= U256::from(cx.head.round.max(0) as u64 + 1) {
        return Err(TicketError::Unlocking { sender: batch.sender, withdraw_round: cx.funds.withdraw_round, round: cx.head.round });
    }
    if params.face_value > funds {
        return Err(TicketError::FaceValueAboveFunds { sender: batch.sender, face_value: params.face_value, funds });
    }
    Ok(rand)
}

static SECP: std::sync::LazyLock<secp256k1::Secp256k1<secp256k1::VerifyOnly>> =
    std::sync::LazyLock::new(secp256k1::Secp256k1::verification_only);

/// Who signed the 32-byte `hash` with `personal_sign`: the rule of
/// `livecast_core::ticket::Ticket::recover_signer` (65 bytes, `S` ≤ n/2, `V` ∈ {27, 28}),
/// with the recovery done by libsecp256k1 (as go-livepeer's `crypto.Ecrecover`), about four
/// times faster than the pure-Rust curve the ticket core uses so that it also runs in wasm
/// (see `examples/ticket_bench.rs`; the unit tests check both agree).
pub fn recover_signer(hash: B256, sig: &[u8]) -> Result<Address, String> {
    let (rs, y_odd) = livecast_protocol::check_signature_form(sig).map_err(|e| match e {
        livecast_protocol::Error::InvalidSignature(reason) => reason,
        other => other.to_string(),
    })?;
    let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(y_odd)).map_err(|e| e.to_string())?;
    let rs = secp256k1::ecdsa::RecoverableSignature::from_compact(rs, id).map_err(|e| format!("not a signature: {e}"))?;
    let digest = alloy_primitives::eip191_hash_message(hash.as_slice());
    let key = SECP
        .recover_ecdsa(secp256k1::Message::from_digest(digest.0), &rs)
        .map_err(|e| format!("does not recover a public key: {e}"))?;
    let point = key.serialize_uncompressed();
    Ok(Address::from_slice(&alloy_primitives::keccak256(&point[1..])[12..]))
}

/// Checks one ticket's signature: 65 bytes, low S, V 27/28, made by the ticket's sender.
pub fn check_signature(index: usize, ticket: &Ticket, sig: &[u8]) -> Result<(), TicketError> {
    let signer = recover_signer(ticket.hash(), sig)
        .map_err(|reason| TicketError::Signature { index, nonce: ticket.sender_nonce, reason: format!("bad ticket signature: {reason}") })?;
    if signer != ticket.sender {
        return Err(TicketError::Signature {
            index,
            nonce: ticket.sender_nonce,
            reason: format!("signed by {signer}, not by the sender {}", ticket.sender),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use livecast_protocol::NodeKey;

    fn sample(nonce: u32) -> Ticket {
        Ticket {
            recipient: Address::repeat_byte(1),
            sender: Address::repeat_byte(2),
            face_value: U256::from(1000u64),
            win_prob: U256::from(nonce) << 200,
            sender_nonce: nonce,
            recipient_rand_hash: B256::repeat_byte(nonce as u8),
            creation_round: 3,
            creation_round_block_hash: B256::repeat_byte(4),
        }
    }

    #[test]
    fn libsecp256k1_recovery_agrees_with_the_ticket_core() {
        for nonce in 1..40 {
            let key = NodeKey::generate().unwrap();
            let ticket = Ticket { sender: key.address(), ..sample(nonce) };
            let sig = ticket.sign(&key).unwrap();
            assert_eq!(recover_signer(ticket.hash(), &sig).unwrap(), key.address());
            assert_eq!(ticket.recover_signer(&sig).unwrap(), key.address());
            check_signature(0, &ticket, &sig).unwrap();
            // A changed field recovers someone else, in both.
            let other = Ticket { face_value: ticket.face_value + U256::from(1u64), ..ticket.clone() };
            let ours = recover_signer(other.hash(), &sig).ok();
            assert_eq!(ours, other.recover_signer(&sig).ok());
            assert_ne!(ours, Some(key.address()));
            assert!(matches!(check_signature(3, &other, &sig), Err(TicketError::Signature { index: 3, .. })));
        }
    }

    #[test]
    fn malformed_signatures_are_refused_like_the_ticket_core() {
        let key = NodeKey::generate().unwrap();
        let ticket = Ticket { sender: key.address(), ..sample(1) };
        let sig = ticket.sign(&key).unwrap();
        // V other than 27/28.
        let mut v = sig;
        v[64] = 1;
        assert!(recover_signer(ticket.hash(), &v).unwrap_err().contains("V is 1"));
        assert!(ticket.recover_signer(&v).is_err());
        // High S: the same signature's malleable twin (n − s, flipped V).
        let n = U256::from_be_bytes(secp256k1::constants::CURVE_ORDER);
        let s = U256::from_be_slice(&sig[32..64]);
        let mut high = sig;
        high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        high[64] = if sig[64] == 27 { 28 } else { 27 };
        assert!(recover_signer(ticket.hash(), &high).unwrap_err().contains("upper half"));
        assert!(ticket.recover_signer(&high).is_err());
        // Length.
        assert!(recover_signer(ticket.hash(), &sig[..64]).unwrap_err().contains("64 bytes"));
        // Zero r: not a signature.
        let mut zero = sig;
        zero[..32].fill(0);
        assert!(recover_signer(ticket.hash(), &zero).is_err());
        assert!(ticket.recover_signer(&zero).is_err());
    }
}
