//! Paying transcoder nodes with Livepeer tickets, as pure logic (no browser, no network).
//!
//! - The session key: derived from the wallet's `personal_sign` over [`session_key_message`],
//!   so the same wallet re-derives the same key after a reload or in another tab, and what
//!   it was funded with is never stranded.

use alloy_primitives::U256;
use livecast_protocol::{keccak256, recover_signer, Address, NodeKey};

/// Why a payment cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The wallet's signature does not derive a session key (wrong length, wrong signer).
    #[error("session key: {0}")]
    SessionKey(String),
}

/// The fixed, human-readable message the wallet signs to derive its session key for
/// `broker` on chain `chain_id`. The wallet shows it; it commits to nothing on chain.
pub fn session_key_message(wallet: Address, chain_id: u64, broker: Address) -> String {
    format!(
        "Livecast session key\n\n\
         Signing this derives the key this page uses to pay transcoders, in tickets, from the \
         deposit your wallet gives it on the TicketBroker. Signing sends no transaction and \
         costs nothing. Only sign on pages you trust: this signature controls that deposit.\n\n\
         Wallet: {}\nChain: {chain_id}\nTicketBroker: {}\nVersion: 1",
        wallet.to_checksum(None),
        broker.to_checksum(None)
    )
}

/// The session key from the wallet's `personal_sign` signature over
/// [`session_key_message`]: the secret is keccak256 of the 65 signature bytes (re-hashed in
/// the ~2^-128 case that this is not a valid secp256k1 scalar). The signature is checked to
/// come from `wallet` over `message` first. Wallets sign deterministically (RFC 6979), so
/// the same wallet, chain and broker always give the same key.
pub fn session_key_from_signature(wallet: Address, message: &str, signature: &[u8]) -> Result<NodeKey, PaymentError> {
    let mut sig = signature.to_vec();
    if sig.len() != 65 {
        return Err(PaymentError::SessionKey(format!("the wallet's signature is {} bytes, expected 65", sig.len())));
    }
    // Some wallets give V as 0/1 instead of 27/28.
    if sig[64] < 27 {
        sig[64] += 27;
    }
    let signer = recover_signer(message.as_bytes(), &sig).map_err(|e| PaymentError::SessionKey(format!("the wallet's signature is not valid: {e}")))?;
    if signer != wallet {
        return Err(PaymentError::SessionKey(format!("the signature is from {signer}, not from the connected wallet {wallet}")));
    }
    let mut secret = keccak256(&sig);
    for _ in 0..8 {
        if let Ok(key) = NodeKey::from_bytes(secret.as_slice()) {
            return Ok(key);
        }
        secret = keccak256(secret);
    }
    Err(PaymentError::SessionKey("the signature does not give a valid key".into()))
}

/// Wei as ETH, exactly: `1500000000000000000` → `"1.5"`, `1` → `"0.000000000000000001"`.
pub fn format_ether(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let (whole, frac) = (wei / unit, wei % unit);
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ether_is_formatted_exactly() {
        let eth = |s: &str| format_ether(s.parse().unwrap());
        assert_eq!(eth("1500000000000000000"), "1.5");
        assert_eq!(eth("1"), "0.000000000000000001");
        assert_eq!(eth("0"), "0");
        assert_eq!(eth("20000000000000000000"), "20");
        assert_eq!(eth("123456789012345678901"), "123.456789012345678901");
    }

    #[test]
    fn the_session_key_is_deterministic_and_bound_to_the_wallets_signature() {
        let wallet = NodeKey::from_bytes(&[7u8; 32]).unwrap();
        let broker = Address::repeat_byte(0xbb);
        let message = session_key_message(wallet.address(), 31337, broker);
        assert!(message.contains(&wallet.address().to_checksum(None)) && message.contains("Chain: 31337"));
        let sig = wallet.sign_message(message.as_bytes()).unwrap();
        let a = session_key_from_signature(wallet.address(), &message, &sig).unwrap();
        let b = session_key_from_signature(wallet.address(), &message, &sig).unwrap();
        assert_eq!(a.address(), b.address());
        assert_eq!(a.to_hex(), alloy_hex(keccak256(sig).as_slice()));
        assert_ne!(a.address(), wallet.address());
        // V as 0/1 is the same signature.
        let mut low_v = sig;
        low_v[64] -= 27;
        assert_eq!(session_key_from_signature(wallet.address(), &message, &low_v).unwrap().address(), a.address());
        // Another chain or broker is another message, hence another key.
        let other = session_key_message(wallet.address(), 1, broker);
        let other_sig = wallet.sign_message(other.as_bytes()).unwrap();
        assert_ne!(session_key_from_signature(wallet.address(), &other, &other_sig).unwrap().address(), a.address());
    }

    #[test]
    fn a_signature_from_someone_else_or_over_another_message_is_refused() {
        let wallet = NodeKey::from_bytes(&[7u8; 32]).unwrap();
        let mallory = NodeKey::from_bytes(&[9u8; 32]).unwrap();
        let message = session_key_message(wallet.address(), 31337, Address::ZERO);
        let sig = mallory.sign_message(message.as_bytes()).unwrap();
        let e = session_key_from_signature(wallet.address(), &message, &sig).unwrap_err();
        assert!(e.to_string().contains("not from the connected wallet"), "{e}");
        let sig = wallet.sign_message(b"something else").unwrap();
        assert!(session_key_from_signature(wallet.address(), &message, &sig).is_err());
        assert!(session_key_from_signature(wallet.address(), &message, &sig[..64]).unwrap_err().to_string().contains("64 bytes"));
    }

    fn alloy_hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
