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

/// Checks one ticket's signature: 65 bytes, low S, V 27/28, made by the ticket's sender.
pub fn check_signature(index: usize, ticket: &Ticket, sig: &[u8]) -> Result<(), TicketError> {
    let signer = ticket
        .recover_signer(sig)
        .map_err(|e| TicketError::Signature { index, nonce: ticket.sender_nonce, reason: e.to_string() })?;
    if signer != ticket.sender {
        return Err(TicketError::Signature {
            index,
            nonce: ticket.sender_nonce,
            reason: format!("signed by {signer}, not by the sender {}", ticket.sender),
        });
    }
    Ok(())
}
