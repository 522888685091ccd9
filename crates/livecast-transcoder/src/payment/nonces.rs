//! Replay protection: the sender nonces seen for each recipientRandHash (go-livepeer's
//! `senderNonces`), at most [`MAX_SENDER_NONCES`] per hash, forgotten once the params
//! expire (their tickets are refused by the expiry check from then on).

use livecast_core::ticket::{B256, MAX_SENDER_NONCES, U256};
use std::collections::{HashMap, HashSet};

/// Nonces per recipientRandHash.
#[derive(Debug, Default)]
pub struct Nonces {
    seen: HashMap<B256, (U256, HashSet<u32>)>,
}

impl Nonces {
    /// Records all of `nonces` for `rand_hash`, or none of them: refuses a nonce seen
    /// before (also twice in the same batch) and more than [`MAX_SENDER_NONCES`] per hash.
    /// On error, returns the index of the refused nonce and why.
    pub fn claim(&mut self, rand_hash: B256, expiration_block: U256, nonces: &[u32]) -> Result<(), (usize, String)> {
        let empty = HashSet::new();
        let known = self.seen.get(&rand_hash).map_or(&empty, |(_, set)| set);
        let mut batch = HashSet::with_capacity(nonces.len());
        for (i, &nonce) in nonces.iter().enumerate() {
            if known.contains(&nonce) || !batch.insert(nonce) {
                return Err((i, format!("nonce {nonce} was already used with recipientRandHash {rand_hash} (replayed ticket)")));
            }
            if known.len() + batch.len() > MAX_SENDER_NONCES as usize {
                return Err((
                    i,
                    format!("more than {MAX_SENDER_NONCES} tickets with recipientRandHash {rand_hash}; get fresh ticket params"),
                ));
            }
        }
        let entry = self.seen.entry(rand_hash).or_insert_with(|| (expiration_block, HashSet::new()));
        entry.1.extend(batch);
        Ok(())
    }

    /// Forgets the nonces of params that expired before `block`.
    pub fn purge(&mut self, block: u64) {
        self.seen.retain(|_, (expiration, _)| *expiration >= U256::from(block));
    }

    /// How many recipientRandHashes are tracked.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_refused_and_batches_are_all_or_nothing() {
        let mut n = Nonces::default();
        let h = B256::repeat_byte(1);
        let exp = U256::from(100u64);
        n.claim(h, exp, &[1, 2, 3]).unwrap();
        let (i, why) = n.claim(h, exp, &[4, 2]).unwrap_err();
        assert_eq!(i, 1);
        assert!(why.contains("nonce 2 was already used"), "{why}");
        // Nothing of the refused batch was kept: 4 is still free.
        n.claim(h, exp, &[4]).unwrap();
        assert!(n.claim(h, exp, &[5, 5]).unwrap_err().1.contains("replayed"));
        // Another hash has its own nonces.
        n.claim(B256::repeat_byte(2), exp, &[1]).unwrap();
        n.purge(101);
        assert!(n.is_empty());
    }

    #[test]
    fn at_most_600_nonces_per_hash() {
        let mut n = Nonces::default();
        let h = B256::repeat_byte(1);
        let all: Vec<u32> = (1..=MAX_SENDER_NONCES).collect();
        n.claim(h, U256::from(1u64), &all).unwrap();
        let (_, why) = n.claim(h, U256::from(1u64), &[MAX_SENDER_NONCES + 1]).unwrap_err();
        assert!(why.contains("more than 600"), "{why}");
    }
}
