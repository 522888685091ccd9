//! What a broadcaster signs for each segment, byte for byte as go-livepeer's
//! `SegTranscodingMetadata.Flatten` lays it out, and the `SegData` around it.
//!
//! `flatten = manifestId ‖ seq (32-byte big-endian) ‖ keccak256(segment) (32 bytes) ‖
//! lowercase hex of (profile id ‖ profile id ‖ ...)`, and the signature is the node
//! `Sign` ([`crate::NodeKey::sign_message`]) over `keccak256(flatten)`.

use crate::net::{SegData, VideoProfile};
use crate::profile::{profile_id, Profile};
use crate::sign::{recover_signer, NodeKey, Signature65};
use crate::Error;
use alloy_primitives::{keccak256, Address, B256};

/// Longest manifest id accepted (go-livepeer's are 8 to 36 characters).
pub const MAX_MANIFEST_ID_BYTES: usize = 256;
/// Most profiles one segment may ask for.
pub const MAX_PROFILES: usize = 16;
/// Longest segment duration go-livepeer accepts: 5 minutes, in milliseconds.
pub const MAX_DURATION_MS: i32 = 5 * 60 * 1000;

/// The bytes a broadcaster signs for a segment.
pub fn flatten(manifest_id: &[u8], seq: i64, segment_hash: &B256, profile_names: &[&str]) -> Result<Vec<u8>, Error> {
    if seq < 0 {
        return Err(Error::InvalidMessage { message: "SegData", reason: format!("seq {seq} is negative") });
    }
    let mut ids = Vec::with_capacity(profile_names.len() * 4);
    for name in profile_names {
        ids.extend_from_slice(&profile_id(name));
    }
    let hex_ids = alloy_primitives::hex::encode(ids);
    let mut out = Vec::with_capacity(manifest_id.len() + 64 + hex_ids.len());
    out.extend_from_slice(manifest_id);
    out.extend_from_slice(&B256::left_padding_from(&seq.to_be_bytes()).0);
    out.extend_from_slice(segment_hash.as_slice());
    out.extend_from_slice(hex_ids.as_bytes());
    Ok(out)
}

/// The profile list go-livepeer reads from a `SegData`: `fullProfiles3`, else
/// `fullProfiles2`, else `fullProfiles`.
pub fn requested_profiles(seg: &SegData) -> &[VideoProfile] {
    if !seg.full_profiles3.is_empty() {
        &seg.full_profiles3
    } else if !seg.full_profiles2.is_empty() {
        &seg.full_profiles2
    } else {
        &seg.full_profiles
    }
}

/// The 32-byte hash field of a `SegData`.
fn segment_hash(seg: &SegData) -> Result<B256, Error> {
    B256::try_from(seg.hash.as_slice()).map_err(|_| Error::InvalidMessage {
        message: "SegData",
        reason: format!("hash is {} bytes, expected 32", seg.hash.len()),
    })
}

/// The flattened signing bytes of a `SegData` (over its requested profiles' names).
pub fn flatten_seg_data(seg: &SegData) -> Result<Vec<u8>, Error> {
    let names: Vec<&str> = requested_profiles(seg).iter().map(|p| p.name.as_str()).collect();
    flatten(&seg.manifest_id, seg.seq, &segment_hash(seg)?, &names)
}

/// A `SegData` for a segment as a go-livepeer broadcaster builds it: the hash of `segment`,
/// the profiles in `fullProfiles`, legacy `profiles` set to `"invalid"`, and the
/// signature by `key`.
pub fn new_seg_data(
    key: &NodeKey,
    manifest_id: &[u8],
    seq: i64,
    duration_ms: i32,
    segment: &[u8],
    profiles: &[Profile],
) -> Result<SegData, Error> {
    let mut seg = SegData {
        manifest_id: manifest_id.to_vec(),
        seq,
        hash: keccak256(segment).to_vec(),
        profiles: b"invalid".to_vec(),
        duration: duration_ms,
        full_profiles: profiles.iter().map(Profile::to_net).collect(),
        ..Default::default()
    };
    seg.sig = sign_seg_data(key, &seg)?.to_vec();
    Ok(seg)
}

/// The broadcaster's signature over a `SegData` (its `sig` field is ignored).
pub fn sign_seg_data(key: &NodeKey, seg: &SegData) -> Result<Signature65, Error> {
    key.sign_message(keccak256(flatten_seg_data(seg)?).as_slice())
}

/// The address that signed a `SegData`.
pub fn seg_data_signer(seg: &SegData) -> Result<Address, Error> {
    if seg.sig.is_empty() {
        return Err(Error::InvalidSignature("SegData carries no signature".into()));
    }
    recover_signer(keccak256(flatten_seg_data(seg)?).as_slice(), &seg.sig)
}

/// Range checks on a `SegData` before anything is done with it: manifest id length, seq,
/// hash length, duration, profile count and unique names.
pub fn check_seg_data(seg: &SegData) -> Result<(), Error> {
    let bad = |reason: String| Err(Error::InvalidMessage { message: "SegData", reason });
    if seg.manifest_id.is_empty() || seg.manifest_id.len() > MAX_MANIFEST_ID_BYTES {
        return bad(format!("manifestId is {} bytes, expected 1..={MAX_MANIFEST_ID_BYTES}", seg.manifest_id.len()));
    }
    if seg.seq < 0 {
        return bad(format!("seq {} is negative", seg.seq));
    }
    segment_hash(seg)?;
    if !(0..=MAX_DURATION_MS).contains(&seg.duration) {
        return bad(format!("duration {} ms is outside 0..={MAX_DURATION_MS}", seg.duration));
    }
    let profiles = requested_profiles(seg);
    if profiles.is_empty() || profiles.len() > MAX_PROFILES {
        return bad(format!("{} profiles requested, expected 1..={MAX_PROFILES}", profiles.len()));
    }
    for (i, p) in profiles.iter().enumerate() {
        if profiles[..i].iter().any(|q| q.name == p.name) {
            return bad(format!("profile {} is requested twice", p.name));
        }
    }
    Ok(())
}
