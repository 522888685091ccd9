//! Livecast's TicketBroker on chain.
//!
//! - [`abi`]: the contract's calls, events and structs (alloy `sol!`), on every target.
//! - [`calls`]: calldata for what a wallet sends and reads, decoded answers, revert reasons.
//! - [`convert`]: to and from `livecast_core::ticket::Ticket`.
//! - `client` feature (default, native only): `client::BrokerClient` over JSON-RPC,
//!   `deploy::deploy_cli`, and `anvil` to start the npm-installed anvil for tests. Without
//!   default features the crate is ABI-only and builds for wasm32-unknown-unknown.

#![warn(missing_docs)]

pub mod abi;
pub mod calls;
pub mod convert;
mod error;
#[cfg(feature = "client")]
pub mod anvil;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod deploy;

pub use abi::TicketBroker;
pub use convert::ticket_from_abi;
pub use error::BrokerError;
#[cfg(feature = "client")]
pub use client::{BrokerClient, BrokerConfig, TxOutcome, TxSigner};
#[cfg(feature = "client")]
pub use deploy::{deploy_cli, DeployArgs};
pub use alloy_primitives::{Address, B256, U256};

/// Result with [`BrokerError`].
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
