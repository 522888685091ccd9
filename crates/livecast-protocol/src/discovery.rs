//! Discovery: the broadcaster's signed `OrchestratorRequest`, and the capability bits an
//! orchestrator advertises.

use crate::net::{Capabilities, OrchestratorRequest};
use crate::sign::{recover_signer, NodeKey};
use crate::Error;
use alloy_primitives::{keccak256, Address};

/// go-livepeer capability numbers (`core/capabilities.go`) that a transcoder of MPEG-TS
/// H.264 segments deals with.
pub mod capability {
    /// H.264 decoding and encoding.
    pub const H264: u32 = 0;
    /// MPEG-TS in and out.
    pub const MPEGTS: u32 = 1;
    /// MP4 output.
    pub const MP4: u32 = 2;
    /// Renditions stored on the node and fetched by URL.
    pub const STORAGE_DIRECT: u32 = 4;
    /// H.264 Baseline output.
    pub const PROFILE_H264_BASELINE: u32 = 7;
    /// Per-profile keyframe interval honoured.
    pub const GOP: u32 = 11;
    /// Auth tokens in `OrchestratorInfo` and `SegData`.
    pub const AUTH_TOKEN: u32 = 12;
}

/// A capability bit string with `caps` set: capability n is bit n % 64 of word n / 64.
pub fn capability_bits(caps: &[u32]) -> Vec<u64> {
    let words = caps.iter().map(|&c| c as usize / 64 + 1).max().unwrap_or(0);
    let mut bits = vec![0u64; words];
    for &c in caps {
        bits[c as usize / 64] |= 1 << (c % 64);
    }
    bits
}

/// What a Livecast transcoder advertises: H.264 in MPEG-TS, direct storage, Baseline
/// output, auth tokens.
pub fn transcoder_capabilities(version: &str) -> Capabilities {
    use capability::*;
    Capabilities {
        bitstring: capability_bits(&[H264, MPEGTS, STORAGE_DIRECT, PROFILE_H264_BASELINE, AUTH_TOKEN]),
        version: version.to_string(),
        ..Default::default()
    }
}

/// The message a broadcaster signs to ask for an orchestrator's info: keccak256 of its
/// EIP-55 checksummed address string.
fn request_digest(address: Address) -> [u8; 32] {
    keccak256(address.to_checksum(None).as_bytes()).0
}

/// A signed `OrchestratorRequest` from `key`'s address.
pub fn orchestrator_request(key: &NodeKey) -> Result<OrchestratorRequest, Error> {
    let address = key.address();
    Ok(OrchestratorRequest {
        address: address.to_vec(),
        sig: key.sign_message(&request_digest(address))?.to_vec(),
        ..Default::default()
    })
}

/// Checks an `OrchestratorRequest`'s signature; gives the broadcaster's address.
pub fn verify_orchestrator_request(req: &OrchestratorRequest) -> Result<Address, Error> {
    let address = Address::try_from(req.address.as_slice()).map_err(|_| Error::InvalidMessage {
        message: "OrchestratorRequest",
        reason: format!("address is {} bytes, expected 20", req.address.len()),
    })?;
    let recovered = recover_signer(&request_digest(address), &req.sig)?;
    if recovered != address {
        return Err(Error::WrongSigner { recovered, expected: address });
    }
    Ok(address)
}
