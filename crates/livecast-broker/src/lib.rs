//! Livecast's TicketBroker on chain.
//!
//! - [`abi`]: the contract's calls, events and structs (alloy `sol!`), on every target.
//! - [`calls`]: calldata for what a wallet sends and reads, decoded answers, revert reasons.
//! - `client` feature (default, native only): a JSON-RPC client, deployment and an anvil
//!   launcher for tests. Without default features the crate is ABI-only and builds for
//!   wasm32-unknown-unknown.

pub mod abi;
pub mod calls;
mod error;

pub use abi::TicketBroker;
pub use error::BrokerError;
pub use alloy_primitives::{Address, B256, U256};

/// Result with [`BrokerError`].
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
