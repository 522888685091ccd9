//! Deterministic sample tickets and sender keys, the same on every platform, so a test can
//! sign them natively and in wasm and compare the signatures byte for byte (ECDSA here is
//! deterministic, RFC 6979). Test support: not part of the payment logic.

use alloy_primitives::{keccak256, Address, B256, U256};
use livecast_protocol::NodeKey;

use super::Ticket;

/// `n` pseudo-random (key, ticket) pairs derived from `seed` by keccak256 chaining: keys,
/// addresses, face values, probabilities, nonces, rounds and hashes spread over their ranges.
pub fn sample_cases(seed: u64, n: usize) -> Vec<(NodeKey, Ticket)> {
    let mut state = keccak256(seed.to_be_bytes());
    let mut next = move || {
        state = keccak256(state);
        state
    };
    (0..n)
        .filter_map(|_| {
            let key = NodeKey::from_bytes(next().as_slice()).ok()?;
            let r = next();
            let bits = r[0];
            let pick = |b: B256, small: bool| if small { U256::from(u64::from_be_bytes(b[..8].try_into().unwrap_or_default())) } else { U256::from_be_bytes(b.0) };
            let ticket = Ticket {
                recipient: Address::from_slice(&next()[12..]),
                sender: key.address(),
                face_value: pick(next(), bits & 1 == 0),
                win_prob: pick(next(), bits & 2 == 0),
                sender_nonce: u32::from_be_bytes([r[1], r[2], r[3], r[4]]),
                recipient_rand_hash: next(),
                creation_round: if bits & 4 == 0 { 0 } else { i64::from(u32::from_be_bytes([r[5], r[6], r[7], r[8]])) },
                creation_round_block_hash: if bits & 4 == 0 { B256::ZERO } else { next() },
            };
            Some((key, ticket))
        })
        .collect()
}

/// The cases of [`sample_cases`] signed, one line each: `address ticket-hash signature` in
/// hex. The native test keeps this text in `fixtures/signed-tickets.txt`; the wasm test
/// signs again in the browser and compares.
pub fn signed_sample_lines(seed: u64, n: usize) -> String {
    sample_cases(seed, n)
        .iter()
        .map(|(key, ticket)| {
            let sig = ticket.sign(key).map(alloy_primitives::hex::encode).unwrap_or_else(|e| format!("error: {e}"));
            format!("{} {} {}\n", ticket.sender, ticket.hash(), sig)
        })
        .collect()
}
