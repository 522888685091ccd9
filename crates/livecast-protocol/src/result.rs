//! The orchestrator's signature over a segment's renditions, as go-livepeer's
//! orchestrator makes it and its broadcaster checks it: the node `Sign`
//! ([`crate::NodeKey::sign_message`]) over `keccak256(keccak256(r1) ‖ keccak256(r2) ‖ ...)`,
//! the renditions in the order of the requested profiles.

use crate::sign::{verify_signer, NodeKey, Signature65};
use crate::Error;
use alloy_primitives::{keccak256, Address, B256};

/// `keccak256` of the concatenated `keccak256` of each rendition.
pub fn renditions_hash<'a>(renditions: impl IntoIterator<Item = &'a [u8]>) -> B256 {
    let hashes: Vec<u8> = renditions.into_iter().flat_map(|r| keccak256(r).0).collect();
    keccak256(hashes)
}

/// The same hash from the renditions' own hashes (when the bytes are no longer at hand).
pub fn renditions_hash_from_hashes(hashes: &[B256]) -> B256 {
    let joined: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
    keccak256(joined)
}

/// The orchestrator's `TranscodeData.sig` for these renditions.
pub fn sign_renditions<'a>(key: &NodeKey, renditions: impl IntoIterator<Item = &'a [u8]>) -> Result<Signature65, Error> {
    key.sign_message(renditions_hash(renditions).as_slice())
}

/// Checks a `TranscodeData.sig` against the renditions fetched and the orchestrator's address.
pub fn verify_renditions<'a>(
    orchestrator: Address,
    renditions: impl IntoIterator<Item = &'a [u8]>,
    sig: &[u8],
) -> Result<(), Error> {
    verify_signer(renditions_hash(renditions).as_slice(), sig, orchestrator)
}
