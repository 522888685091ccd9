//! The crate's error type.

/// What can go wrong talking to the TicketBroker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Return data or an event did not decode as the ABI says.
    #[error("TicketBroker ABI decoding failed: {0}")]
    Abi(#[from] alloy_sol_types::Error),
    /// The contract reverted; `reason` is its revert string or custom error when known.
    #[error("TicketBroker reverted: {reason}")]
    Revert {
        /// The decoded revert reason (or the raw data in hex).
        reason: String,
    },
    /// The JSON-RPC node failed or answered something unusable.
    #[error("JSON-RPC: {0}")]
    Rpc(String),
    /// Bad configuration (URL, key, account index, file).
    #[error("{0}")]
    Config(String),
    /// The local anvil could not be found or started.
    #[error("anvil: {0}")]
    Anvil(String),
}
