//! Ethereum-style signatures as go-livepeer makes and checks them.
//!
//! go-livepeer's node `Sign(msg)` is EIP-191 `personal_sign`: secp256k1 over
//! `keccak256("\x19Ethereum Signed Message:\n" ‖ len(msg) ‖ msg)`, 65 bytes `R ‖ S ‖ V` with
//! `V` ∈ {27, 28}. Its verifier refuses a high `S` (malleable) and any other `V`.
//! The messages it signs are themselves 32-byte hashes (see [`crate::segment`] and
//! [`crate::result`]), so the prefix always reads `...Message:\n32`.

use crate::Error;
use alloy_primitives::{eip191_hash_message, Address, B256, U256};
use k256::ecdsa::SigningKey;

/// A 65-byte signature: `R ‖ S ‖ V`, `V` ∈ {27, 28}.
pub type Signature65 = [u8; 65];

/// secp256k1's group order divided by two: the largest `S` go-livepeer accepts.
const HALF_ORDER: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e,
    0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

/// A secp256k1 key that signs as a Livepeer node: a broadcaster's session key (made in the
/// browser, never sent anywhere) or an orchestrator's node key.
#[derive(Clone)]
pub struct NodeKey {
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("NodeKey").field("address", &self.address).finish_non_exhaustive()
    }
}

impl NodeKey {
    /// A fresh random key from the platform's secure random source
    /// (`crypto.getRandomValues` in a browser).
    pub fn generate() -> Result<Self, Error> {
        // A random 32-byte string is a valid scalar except with probability ~2^-128;
        // draw again in that case (bounded, so a broken source cannot loop forever).
        for _ in 0..8 {
            let mut secret = [0u8; 32];
            getrandom::getrandom(&mut secret).map_err(|e| Error::InvalidKey(format!("no secure randomness: {e}")))?;
            if let Ok(key) = Self::from_bytes(&secret) {
                return Ok(key);
            }
        }
        Err(Error::InvalidKey("the random source keeps giving invalid scalars".into()))
    }

    /// The key whose 32-byte big-endian secret is `secret`.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, Error> {
        let key = SigningKey::from_slice(secret).map_err(|_| {
            Error::InvalidKey(format!("{} bytes is not a secp256k1 secret (32 bytes, 0 < k < n)", secret.len()))
        })?;
        let address = Address::from_private_key(&key);
        Ok(Self { key, address })
    }

    /// The key from a hex string (`0x` prefix and surrounding whitespace optional), the
    /// format of a key file.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let bytes = alloy_primitives::hex::decode(digits)
            .map_err(|_| Error::InvalidKey("a key file holds 64 hex digits".into()))?;
        Self::from_bytes(&bytes)
    }

    /// The secret as 64 lowercase hex digits (no prefix), for a key file.
    pub fn to_hex(&self) -> String {
        alloy_primitives::hex::encode(self.key.to_bytes())
    }

    /// The key's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// go-livepeer's node `Sign(msg)`: `personal_sign` over `msg`.
    pub fn sign_message(&self, msg: &[u8]) -> Result<Signature65, Error> {
        self.sign_prehash(eip191_hash_message(msg))
    }

    /// Signs a 32-byte digest as is (no EIP-191 prefix added).
    fn sign_prehash(&self, digest: B256) -> Result<Signature65, Error> {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|e| Error::InvalidSignature(format!("signing failed: {e}")))?;
        // k256 already returns the low-S form; normalising again is a no-op then.
        let (sig, recid) = match sig.normalize_s() {
            Some(low) => (low, k256::ecdsa::RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced())),
            None => (sig, recid),
        };
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + u8::from(recid.is_y_odd());
        Ok(out)
    }
}

/// go-livepeer's (and the TicketBroker's) checks on a signature's form, before any
/// recovery: 65 bytes, `S` ≤ n/2, `V` ∈ {27, 28}. Returns `r ‖ s` (64 bytes) and whether
/// the point's y is odd, for whichever secp256k1 implementation recovers the key.
pub fn check_signature_form(sig: &[u8]) -> Result<(&[u8], bool), Error> {
    let sig: &Signature65 =
        sig.try_into().map_err(|_| Error::InvalidSignature(format!("{} bytes, expected 65", sig.len())))?;
    if U256::from_be_slice(&sig[32..64]) > HALF_ORDER {
        return Err(Error::InvalidSignature("S is in the upper half of the curve order".into()));
    }
    let parity = match sig[64] {
        27 => false,
        28 => true,
        v => return Err(Error::InvalidSignature(format!("V is {v}, expected 27 or 28"))),
    };
    Ok((&sig[..64], parity))
}

/// The address that made `sig` over `msg` with [`NodeKey::sign_message`], with
/// go-livepeer's checks: 65 bytes, `S` ≤ n/2, `V` ∈ {27, 28}.
pub fn recover_signer(msg: &[u8], sig: &[u8]) -> Result<Address, Error> {
    let (rs, parity) = check_signature_form(sig)?;
    let parsed = alloy_primitives::Signature::from_bytes_and_parity(rs, parity);
    parsed
        .recover_address_from_msg(msg)
        .map_err(|e| Error::InvalidSignature(format!("does not recover a public key: {e}")))
}

/// Checks that `sig` over `msg` was made by `expected`.
pub fn verify_signer(msg: &[u8], sig: &[u8], expected: Address) -> Result<(), Error> {
    let recovered = recover_signer(msg, sig)?;
    if recovered != expected {
        return Err(Error::WrongSigner { recovered, expected });
    }
    Ok(())
}
