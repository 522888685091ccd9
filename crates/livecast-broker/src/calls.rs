//! Calldata a wallet sends to the TicketBroker and the decoding of its answers, with no
//! JSON-RPC: the browser passes these bytes to `eth_sendTransaction` / `eth_call`.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{Revert, SolCall, SolError, SolInterface};

use crate::abi::TicketBroker;
use crate::{BrokerError, Result};

/// A sender's funds as `getSenderInfo` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Deposit (wei): winning tickets are paid from it first.
    pub deposit: U256,
    /// Round from which `withdraw` is allowed; 0 when no unlock is in progress.
    pub withdraw_round: U256,
    /// Reserve left (wei): pays what the deposit cannot.
    pub reserve: U256,
    /// Reserve claimed by recipients in the current round (wei).
    pub reserve_claimed_in_current_round: U256,
}

impl SenderInfo {
    /// Deposit plus reserve: what a withdrawal would pay out now.
    pub fn total(&self) -> U256 {
        self.deposit.saturating_add(self.reserve)
    }

    /// Whether an unlock is in progress (`isUnlockInProgress`).
    pub fn unlock_in_progress(&self) -> bool {
        !self.withdraw_round.is_zero()
    }
}

/// `fundDepositAndReserveFor(addr, deposit, reserve)`; send it with `value = deposit + reserve`.
pub fn fund_deposit_and_reserve_for(addr: Address, deposit: U256, reserve: U256) -> Vec<u8> {
    TicketBroker::fundDepositAndReserveForCall { _addr: addr, _depositAmount: deposit, _reserveAmount: reserve }
        .abi_encode()
}

/// `unlockFor(sender)`: the recorded funder starts the sender's unlock period.
pub fn unlock_for(sender: Address) -> Vec<u8> {
    TicketBroker::unlockForCall { _sender: sender }.abi_encode()
}

/// `cancelUnlockFor(sender)`: the recorded funder cancels the sender's unlock.
pub fn cancel_unlock_for(sender: Address) -> Vec<u8> {
    TicketBroker::cancelUnlockForCall { _sender: sender }.abi_encode()
}

/// `withdrawFor(sender)`: the recorded funder withdraws the sender's deposit and reserve to itself.
pub fn withdraw_for(sender: Address) -> Vec<u8> {
    TicketBroker::withdrawForCall { _sender: sender }.abi_encode()
}

/// `getSenderInfo(sender)` for `eth_call`; decode the answer with [`decode_sender_info`].
pub fn get_sender_info(sender: Address) -> Vec<u8> {
    TicketBroker::getSenderInfoCall { _sender: sender }.abi_encode()
}

/// Decodes `getSenderInfo`'s return data.
pub fn decode_sender_info(data: &[u8]) -> Result<SenderInfo> {
    let r = TicketBroker::getSenderInfoCall::abi_decode_returns(data)?;
    Ok(SenderInfo {
        deposit: r.sender.deposit,
        withdraw_round: r.sender.withdrawRound,
        reserve: r.reserve.fundsRemaining,
        reserve_claimed_in_current_round: r.reserve.claimedInCurrentRound,
    })
}

/// `funderOf(sender)` for `eth_call`; decode the answer with [`decode_address`].
pub fn funder_of(sender: Address) -> Vec<u8> {
    TicketBroker::funderOfCall(sender).abi_encode()
}

/// Decodes a single `address` return value (`funderOf`, `owner`).
pub fn decode_address(data: &[u8]) -> Result<Address> {
    Ok(TicketBroker::funderOfCall::abi_decode_returns(data)?)
}

/// `currentRound()` for `eth_call`; decode the answer with [`decode_uint`].
pub fn current_round() -> Vec<u8> {
    TicketBroker::currentRoundCall {}.abi_encode()
}

/// Decodes a single `uint256` return value (`currentRound`, `unlockPeriod`, …).
pub fn decode_uint(data: &[u8]) -> Result<U256> {
    Ok(TicketBroker::currentRoundCall::abi_decode_returns(data)?)
}

/// A readable reason from revert data: Solidity's `Error(string)`, a custom error of the
/// contract or of its signature library, or the data in hex.
pub fn revert_reason(data: &[u8]) -> String {
    if let Ok(r) = Revert::abi_decode(data) {
        return r.reason;
    }
    if let Ok(e) = TicketBroker::TicketBrokerErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    format!("0x{}", alloy_primitives::hex::encode(data))
}

/// [`BrokerError::Revert`] from revert data.
pub fn revert_error(data: &[u8]) -> BrokerError {
    BrokerError::Revert { reason: revert_reason(data) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolValue;

    #[test]
    fn selectors_match_the_artifact() {
        // The 4-byte selectors solc reported in contracts/artifacts/TicketBroker.json.
        assert_eq!(fund_deposit_and_reserve_for(Address::ZERO, U256::ZERO, U256::ZERO)[..4], [0x98, 0x9f, 0x78, 0x9c]);
        assert_eq!(get_sender_info(Address::ZERO)[..4], [0xe1, 0xa5, 0x89, 0xda]);
        assert_eq!(TicketBroker::redeemWinningTicketCall::SELECTOR, [0xec, 0x8b, 0x3c, 0xb6]);
    }

    #[test]
    fn fund_calldata_carries_the_arguments() {
        let addr = Address::repeat_byte(0x11);
        let data = fund_deposit_and_reserve_for(addr, U256::from(5u64), U256::from(7u64));
        assert_eq!(data.len(), 4 + 3 * 32);
        assert_eq!(&data[16..36], addr.as_slice());
        assert_eq!(U256::from_be_slice(&data[36..68]), U256::from(5u64));
        assert_eq!(U256::from_be_slice(&data[68..100]), U256::from(7u64));
    }

    #[test]
    fn sender_info_round_trips() {
        let encoded = (
            TicketBroker::Sender { deposit: U256::from(10u64), withdrawRound: U256::from(3u64) },
            TicketBroker::ReserveInfo { fundsRemaining: U256::from(20u64), claimedInCurrentRound: U256::from(1u64) },
        )
            .abi_encode_params();
        let info = decode_sender_info(&encoded).unwrap();
        assert_eq!(info.deposit, U256::from(10u64));
        assert_eq!(info.withdraw_round, U256::from(3u64));
        assert_eq!(info.reserve, U256::from(20u64));
        assert_eq!(info.reserve_claimed_in_current_round, U256::from(1u64));
        assert_eq!(info.total(), U256::from(30u64));
        assert!(info.unlock_in_progress());
        assert!(decode_sender_info(&encoded[..100]).is_err(), "short data is an error, not a panic");
    }

    #[test]
    fn revert_reasons_decode() {
        let data = Revert::from("ticket is used").abi_encode();
        assert_eq!(revert_reason(&data), "ticket is used");
        assert_eq!(revert_reason(&[0xde, 0xad]), "0xdead");
    }

    #[test]
    fn bytecode_is_embedded() {
        assert!(TicketBroker::BYTECODE.len() > 1000);
        assert!(TicketBroker::DEPLOYED_BYTECODE.len() > 1000);
    }
}
