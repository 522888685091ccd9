//! The wire side of tickets: `TicketParams` a recipient issues, `Payment` batches a sender
//! sends in the `Livepeer-Payment` header, and the price they are made for. Conversions
//! to and from `lp_rpc.proto`'s messages check every length and name the bad field.

use alloy_primitives::{Address, B256, U256};
use base64::Engine as _;
use livecast_protocol::net;
use prost::Message as _;

use super::{expected_value, minimal_bytes, Ticket};
use crate::Error;

fn bad(field: &str, why: impl std::fmt::Display) -> Error {
    Error::Ticket(format!("{field}: {why}"))
}

fn u256_field(field: &str, bytes: &[u8]) -> Result<U256, Error> {
    if bytes.len() > 32 {
        return Err(bad(field, format!("{} bytes, at most 32", bytes.len())));
    }
    Ok(U256::from_be_slice(bytes))
}

fn address_field(field: &str, bytes: &[u8]) -> Result<Address, Error> {
    if bytes.len() != 20 {
        return Err(bad(field, format!("{} bytes, expected a 20-byte address", bytes.len())));
    }
    Ok(Address::from_slice(bytes))
}

fn b256_field(field: &str, bytes: &[u8]) -> Result<B256, Error> {
    match bytes.len() {
        0 => Ok(B256::ZERO),
        32 => Ok(B256::from_slice(bytes)),
        n => Err(bad(field, format!("{n} bytes, expected 32"))),
    }
}

/// A transcoding price: `per_unit` wei for every `pixels_per_unit` output pixels
/// (go-livepeer's `PriceInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// Wei per unit.
    pub per_unit: i64,
    /// Output pixels per unit (≥ 1).
    pub pixels_per_unit: i64,
}

impl Price {
    /// A price, checked: neither part negative, at least one pixel per unit.
    pub fn new(per_unit: i64, pixels_per_unit: i64) -> Result<Self, Error> {
        if per_unit < 0 {
            return Err(bad("price", "price per unit is negative"));
        }
        if pixels_per_unit < 1 {
            return Err(bad("price", "pixels per unit must be at least 1"));
        }
        Ok(Self { per_unit, pixels_per_unit })
    }

    /// The price from `PriceInfo`.
    pub fn from_proto(info: &net::PriceInfo) -> Result<Self, Error> {
        Self::new(info.price_per_unit, info.pixels_per_unit)
    }

    /// The price as `PriceInfo`.
    pub fn to_proto(&self) -> net::PriceInfo {
        net::PriceInfo { price_per_unit: self.per_unit, pixels_per_unit: self.pixels_per_unit, ..Default::default() }
    }

    /// Wei per pixel as a float, for display and comparisons with a page's limit.
    pub fn wei_per_pixel(&self) -> f64 {
        if self.pixels_per_unit == 0 {
            return 0.0;
        }
        self.per_unit as f64 / self.pixels_per_unit as f64
    }

    /// Whether the transcoding is free.
    pub fn is_free(&self) -> bool {
        self.per_unit == 0
    }

    /// The price in lowest terms, as Go's `big.Rat` holds it (0 is 0/1).
    pub fn lowest_terms(&self) -> (u64, u64) {
        let (mut a, mut b) = (self.per_unit.unsigned_abs(), self.pixels_per_unit.unsigned_abs().max(1));
        if a == 0 {
            return (0, 1);
        }
        let (num, den) = (a, b);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        (num / a, den / a)
    }

    /// The fee for `pixels` output pixels in wei, rounded up.
    pub fn fee(&self, pixels: u64) -> U256 {
        let (num, den) = self.lowest_terms();
        (U256::from(pixels) * U256::from(num)).div_ceil(U256::from(den))
    }
}

/// What a recipient offers for its tickets (`lp_rpc.proto` `TicketParams` plus the
/// expiration round).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketParams {
    /// The recipient's address.
    pub recipient: Address,
    /// Wei paid by a winning ticket.
    pub face_value: U256,
    /// Winning probability as a fraction of 2^256 − 1.
    pub win_prob: U256,
    /// keccak256 of the recipient's secret random number for these params.
    pub recipient_rand_hash: B256,
    /// The recipient's seed, echoed back so it can re-derive its random number.
    pub seed: Vec<u8>,
    /// The block after which the params expire.
    pub expiration_block: U256,
    /// The round the tickets are made in.
    pub creation_round: i64,
    /// That round's block hash.
    pub creation_round_block_hash: B256,
}

impl TicketParams {
    /// Params from the protobuf message; the expiration round comes from `expiration_params`.
    pub fn from_proto(p: &net::TicketParams) -> Result<Self, Error> {
        let expiration = p.expiration_params.clone().unwrap_or_default();
        if p.seed.len() > 32 {
            return Err(bad("ticket params seed", format!("{} bytes, at most 32", p.seed.len())));
        }
        let recipient_rand_hash = b256_field("ticket params recipient_rand_hash", &p.recipient_rand_hash)?;
        if recipient_rand_hash == B256::ZERO {
            return Err(bad("ticket params recipient_rand_hash", "missing"));
        }
        let params = Self {
            recipient: address_field("ticket params recipient", &p.recipient)?,
            face_value: u256_field("ticket params face_value", &p.face_value)?,
            win_prob: u256_field("ticket params win_prob", &p.win_prob)?,
            recipient_rand_hash,
            seed: p.seed.clone(),
            expiration_block: u256_field("ticket params expiration_block", &p.expiration_block)?,
            creation_round: expiration.creation_round,
            creation_round_block_hash: b256_field(
                "ticket params creation_round_block_hash",
                &expiration.creation_round_block_hash,
            )?,
        };
        if params.face_value.is_zero() {
            return Err(bad("ticket params face_value", "zero"));
        }
        if params.creation_round < 0 {
            return Err(bad("ticket params creation_round", "negative"));
        }
        Ok(params)
    }

    /// The params as the protobuf message (numbers as minimal big-endian bytes, as go-livepeer).
    pub fn to_proto(&self) -> net::TicketParams {
        net::TicketParams {
            recipient: self.recipient.to_vec(),
            face_value: minimal_bytes(self.face_value),
            win_prob: minimal_bytes(self.win_prob),
            recipient_rand_hash: self.recipient_rand_hash.to_vec(),
            seed: self.seed.clone(),
            expiration_block: minimal_bytes(self.expiration_block),
            expiration_params: Some(self.expiration_proto()),
        }
    }

    fn expiration_proto(&self) -> net::TicketExpirationParams {
        net::TicketExpirationParams {
            creation_round: self.creation_round,
            creation_round_block_hash: if self.creation_round_block_hash == B256::ZERO {
                Vec::new()
            } else {
                self.creation_round_block_hash.to_vec()
            },
        }
    }

    /// The auxData of tickets made from these params.
    pub fn aux_data(&self) -> Vec<u8> {
        self.ticket(Address::ZERO, 0).aux_data()
    }

    /// The ticket `sender` makes with `nonce` from these params.
    pub fn ticket(&self, sender: Address, nonce: u32) -> Ticket {
        Ticket {
            recipient: self.recipient,
            sender,
            face_value: self.face_value,
            win_prob: self.win_prob,
            sender_nonce: nonce,
            recipient_rand_hash: self.recipient_rand_hash,
            creation_round: self.creation_round,
            creation_round_block_hash: self.creation_round_block_hash,
        }
    }

    /// The expected value of one ticket, in wei (rounded down).
    pub fn expected_value(&self) -> U256 {
        expected_value(self.face_value, self.win_prob)
    }
}

/// One signed ticket of a batch: its nonce and the sender's 65-byte signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTicket {
    /// The sender's nonce for the batch's `recipient_rand_hash`.
    pub nonce: u32,
    /// `personal_sign` over the ticket hash.
    pub sig: Vec<u8>,
}

/// A `Payment`: tickets from one sender, made from one set of params at one price.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentBatch {
    /// The params the tickets were made from.
    pub params: TicketParams,
    /// The ticket sender (whose deposit pays).
    pub sender: Address,
    /// The price the sender expects (must match the recipient's).
    pub price: Price,
    /// The tickets, possibly none (a payment that only announces the sender).
    pub tickets: Vec<SignedTicket>,
}

impl PaymentBatch {
    /// The batch from a protobuf `Payment`, with every field checked.
    pub fn from_proto(p: &net::Payment) -> Result<Self, Error> {
        let mut tp = p.ticket_params.clone().ok_or_else(|| bad("payment", "no ticket_params"))?;
        // go-livepeer sends the expiration round beside the params, not inside them.
        if p.expiration_params.is_some() {
            tp.expiration_params = p.expiration_params.clone();
        }
        let params = TicketParams::from_proto(&tp)?;
        let price = Price::from_proto(&p.expected_price.clone().ok_or_else(|| bad("payment", "no expected_price"))?)?;
        let sender = address_field("payment sender", &p.sender)?;
        if sender == Address::ZERO {
            return Err(bad("payment sender", "zero address"));
        }
        let tickets = p
            .ticket_sender_params
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if t.sig.len() != 65 {
                    return Err(bad(&format!("ticket {i} sig"), format!("{} bytes, expected 65", t.sig.len())));
                }
                Ok(SignedTicket { nonce: t.sender_nonce, sig: t.sig.clone() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { params, sender, price, tickets })
    }

    /// The batch as a protobuf `Payment`.
    pub fn to_proto(&self) -> net::Payment {
        net::Payment {
            ticket_params: Some(self.params.to_proto()),
            sender: self.sender.to_vec(),
            expiration_params: Some(self.params.expiration_proto()),
            ticket_sender_params: self
                .tickets
                .iter()
                .map(|t| net::TicketSenderParams { sender_nonce: t.nonce, sig: t.sig.clone() })
                .collect(),
            expected_price: Some(self.price.to_proto()),
        }
    }

    /// Each ticket with its signature.
    pub fn tickets(&self) -> impl Iterator<Item = (Ticket, &[u8])> + '_ {
        self.tickets.iter().map(|t| (self.params.ticket(self.sender, t.nonce), t.sig.as_slice()))
    }

    /// The value of the `Livepeer-Payment` header: base64 (standard) protobuf.
    pub fn encode_header(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_proto().encode_to_vec())
    }

    /// The batch from a `Livepeer-Payment` header value.
    pub fn decode_header(value: &str) -> Result<Self, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| bad("Livepeer-Payment", format!("not base64: {e}")))?;
        let payment = net::Payment::decode(bytes.as_slice()).map_err(|e| bad("Livepeer-Payment", format!("not a Payment: {e}")))?;
        Self::from_proto(&payment)
    }
}
