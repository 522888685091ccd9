//! Livepeer's probabilistic micropayment tickets, for both ends of a payment: the
//! broadcaster (a browser, wasm32) that signs tickets and the transcoder (native) that
//! checks them and redeems the winners.
//!
//! The rules are go-livepeer's and the TicketBroker contract's, bit for bit:
//!
//! - [`Ticket::hash`]: keccak256 over `recipient ‖ sender ‖ faceValue ‖ winProb ‖
//!   senderNonce ‖ recipientRandHash ‖ auxData` (go-livepeer `pm.Ticket.Hash`, the
//!   contract's `getTicketHash`).
//! - [`Ticket::sign`] / [`Ticket::recover_signer`]: EIP-191 `personal_sign` over the 32-byte hash.
//! - [`is_winning`]: `keccak256(sig ‖ uint256 recipientRand) < winProb`.
//! - [`RecipientSecret::rand`]: the recipient's HMAC-SHA256 commitment, so a transcoder can
//!   check a ticket without keeping state per ticket params.
//! - [`Balance`]: the credit a sender holds with a recipient, and how many tickets cover a fee.
//!
//! Amounts are wei in [`U256`]; expected values are rounded down to whole wei (go-livepeer
//! keeps `big.Rat`s; at any realistic face value the difference is below one wei per ticket).

mod balance;
mod params;
#[cfg(test)]
mod tests;
#[doc(hidden)]
pub mod vectors;

pub use alloy_primitives::{Address, B256, I256, U256};
pub use balance::{estimate_pixels, Balance};
pub use params::{PaymentBatch, Price, SignedTicket, TicketParams};

use alloy_primitives::{keccak256, U512};
use hmac::{Hmac, Mac};
use livecast_protocol::{recover_signer, NodeKey, Signature65};
use sha2::Sha256;

use crate::Error;

/// The largest winning probability, 2^256 − 1: a ticket with this `win_prob` always wins.
pub const MAX_WIN_PROB: U256 = U256::MAX;

/// How many nonces one `recipientRandHash` accepts (go-livepeer's `maxSenderNonces`).
pub const MAX_SENDER_NONCES: u32 = 600;

/// One ticket: a lottery ticket a sender gives a recipient, worth `face_value` wei with
/// probability `win_prob / (2^256 − 1)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ticket {
    /// Who may redeem it (the transcoder's address).
    pub recipient: Address,
    /// Whose deposit pays it (the broadcaster's session key or wallet).
    pub sender: Address,
    /// Wei paid if it wins.
    pub face_value: U256,
    /// Winning probability as a fraction of 2^256 − 1.
    pub win_prob: U256,
    /// The sender's counter for this `recipient_rand_hash`, from 1.
    pub sender_nonce: u32,
    /// keccak256 of the recipient's secret random number.
    pub recipient_rand_hash: B256,
    /// The round the ticket was made in (0 when the recipient gave none).
    pub creation_round: i64,
    /// The block hash that identifies that round.
    pub creation_round_block_hash: B256,
}

impl Ticket {
    /// go-livepeer's `AuxData`: `uint256(creationRound) ‖ creationRoundBlockHash` (64 bytes),
    /// or nothing when both are zero (go-livepeer's rule; the contract then rejects the
    /// ticket, so a recipient that redeems on chain always sets them).
    pub fn aux_data(&self) -> Vec<u8> {
        if self.creation_round == 0 && self.creation_round_block_hash == B256::ZERO {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&U256::from(self.creation_round as u64).to_be_bytes::<32>());
        out.extend_from_slice(self.creation_round_block_hash.as_slice());
        out
    }

    /// The bytes that are hashed (go-livepeer's `flatten`, Solidity's `abi.encodePacked`).
    pub fn flatten(&self) -> Vec<u8> {
        let aux = self.aux_data();
        let mut out = Vec::with_capacity(20 + 20 + 32 * 4 + aux.len());
        out.extend_from_slice(self.recipient.as_slice());
        out.extend_from_slice(self.sender.as_slice());
        out.extend_from_slice(&self.face_value.to_be_bytes::<32>());
        out.extend_from_slice(&self.win_prob.to_be_bytes::<32>());
        out.extend_from_slice(&U256::from(self.sender_nonce).to_be_bytes::<32>());
        out.extend_from_slice(self.recipient_rand_hash.as_slice());
        out.extend_from_slice(&aux);
        out
    }

    /// The ticket hash, as the contract's `getTicketHash` computes it.
    pub fn hash(&self) -> B256 {
        keccak256(self.flatten())
    }

    /// The sender's signature: `personal_sign` over the 32-byte hash.
    pub fn sign(&self, key: &NodeKey) -> Result<Signature65, Error> {
        key.sign_message(self.hash().as_slice()).map_err(|e| Error::Ticket(format!("cannot sign ticket: {e}")))
    }

    /// Who made `sig` over this ticket (65 bytes, low S, V 27/28, as the contract requires).
    pub fn recover_signer(&self, sig: &[u8]) -> Result<Address, Error> {
        recover_signer(self.hash().as_slice(), sig).map_err(|e| Error::Ticket(format!("bad ticket signature: {e}")))
    }

    /// Checks that `sig` was made by the ticket's sender.
    pub fn verify(&self, sig: &[u8]) -> Result<(), Error> {
        let signer = self.recover_signer(sig)?;
        if signer != self.sender {
            return Err(Error::Ticket(format!("ticket signed by {signer}, but its sender is {}", self.sender)));
        }
        Ok(())
    }

    /// The ticket's expected value in wei: `face_value × win_prob / (2^256 − 1)`, rounded down.
    pub fn expected_value(&self) -> U256 {
        expected_value(self.face_value, self.win_prob)
    }
}

/// `face_value × win_prob / (2^256 − 1)` in wei, rounded down.
pub fn expected_value(face_value: U256, win_prob: U256) -> U256 {
    let product = U512::from(face_value) * U512::from(win_prob);
    let ev = product / U512::from(MAX_WIN_PROB);
    // ev ≤ face_value, so it fits.
    U256::from_limbs_slice(&ev.as_limbs()[..4])
}

/// The winning probability that gives `face_value` an expected value of `ev`:
/// go-livepeer's `ev × ceil((2^256 − 1) / face_value)`, saturating at always-wins.
pub fn win_prob_for(ev: U256, face_value: U256) -> Result<U256, Error> {
    if face_value.is_zero() {
        return Err(Error::Ticket("face value is zero".into()));
    }
    let per_wei = MAX_WIN_PROB.div_ceil(face_value);
    Ok(ev.saturating_mul(per_wei))
}

/// Whether a ticket with signature `sig` wins, given the recipient's `recipient_rand`:
/// `keccak256(sig ‖ uint256 recipientRand) < win_prob`.
pub fn is_winning(sig: &[u8], recipient_rand: U256, win_prob: U256) -> bool {
    let mut msg = Vec::with_capacity(sig.len() + 32);
    msg.extend_from_slice(sig);
    msg.extend_from_slice(&recipient_rand.to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(msg).0) < win_prob
}

/// The commitment a recipient publishes: keccak256 of the 32-byte big-endian `rand`.
pub fn recipient_rand_hash(rand: U256) -> B256 {
    keccak256(rand.to_be_bytes::<32>())
}

/// A recipient's (transcoder's) secret: derives `recipientRand` for the ticket params it
/// issues, so it can later check tickets against them without storing them.
#[derive(Clone)]
pub struct RecipientSecret([u8; 32]);

impl std::fmt::Debug for RecipientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecipientSecret(..)")
    }
}

impl RecipientSecret {
    /// The secret with these 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh secret from the platform's secure random source.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Ticket(format!("no secure randomness: {e}")))?;
        Ok(Self(bytes))
    }

    /// The secret's bytes, to store in a key file.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// go-livepeer's `recipient.rand`: HMAC-SHA256 over `seed ‖ sender ‖ faceValue ‖ winProb ‖
    /// expirationBlock ‖ price.num ‖ price.denom ‖ auxData`, with numbers as minimal
    /// big-endian bytes (Go's `big.Int.Bytes()`) and the price in lowest terms (`big.Rat`).
    pub fn rand(&self, params: &TicketParams, sender: Address, price: &Price) -> U256 {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        let (num, den) = price.lowest_terms();
        mac.update(&minimal_bytes(U256::from_be_slice(&params.seed)));
        mac.update(sender.as_slice());
        mac.update(&minimal_bytes(params.face_value));
        mac.update(&minimal_bytes(params.win_prob));
        mac.update(&minimal_bytes(params.expiration_block));
        mac.update(&minimal_bytes(U256::from(num)));
        mac.update(&minimal_bytes(U256::from(den)));
        mac.update(&params.aux_data());
        U256::from_be_slice(&mac.finalize().into_bytes())
    }
}

/// A number as Go's `big.Int.Bytes()` writes it: big-endian, no leading zeros, empty for 0.
pub fn minimal_bytes(value: U256) -> Vec<u8> {
    let bytes = value.to_be_bytes::<32>();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(32);
    bytes[first..].to_vec()
}
