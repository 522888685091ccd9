//! [`Chain`] on the real TicketBroker, through `livecast_broker::BrokerClient` (JSON-RPC with
//! alloy; redemptions are signed with the node's key, which pays their gas).

use super::chain::{Chain, ChainError, ChainHead, Redemption, SenderFunds};
use alloy::providers::Provider;
use livecast_broker::{BrokerClient, BrokerError, TxSigner};
use livecast_core::ticket::{Address, Ticket, B256, U256};
use livecast_protocol::NodeKey;

/// The TicketBroker at an address on a chain, as the node's [`Chain`].
#[derive(Debug, Clone)]
pub struct BrokerChain {
    client: BrokerClient,
}

impl BrokerChain {
    /// Connects to the broker at `broker` on `rpc_url`; transactions are signed by `key`.
    pub async fn connect(rpc_url: &str, broker: Address, key: &NodeKey) -> Result<Self, BrokerError> {
        let signer = TxSigner::from_hex(&key.to_hex())?;
        let client = BrokerClient::connect(rpc_url, signer, broker).await?;
        Ok(Self { client })
    }

    /// The client underneath.
    pub fn client(&self) -> &BrokerClient {
        &self.client
    }

    /// Rounds a ticket stays valid, as the contract says.
    pub async fn ticket_validity_period(&self) -> Result<i64, ChainError> {
        let v = self.client.ticket_validity_period().await.map_err(chain_error)?;
        i64::try_from(v).map_err(|_| ChainError::Unavailable(format!("ticketValidityPeriod {v} out of range")))
    }
}

/// Reverts are final; everything else may pass on a retry.
fn chain_error(e: BrokerError) -> ChainError {
    match e {
        BrokerError::Revert { reason } => ChainError::Reverted(reason),
        BrokerError::Config(m) => ChainError::Reverted(m),
        other => ChainError::Unavailable(other.to_string()),
    }
}

fn rpc(e: impl std::fmt::Display) -> ChainError {
    ChainError::Unavailable(format!("JSON-RPC: {e}"))
}

#[tonic::async_trait]
impl Chain for BrokerChain {
    async fn block_number(&self) -> Result<u64, ChainError> {
        self.client.provider().get_block_number().await.map_err(rpc)
    }

    async fn head(&self) -> Result<ChainHead, ChainError> {
        let provider = self.client.provider();
        let block = provider.get_block_number().await.map_err(rpc)?;
        let gas_price = provider.get_gas_price().await.map_err(rpc)?;
        // The current round and its block hash (stored on chain first if need be).
        let (round, round_block_hash) = self.client.ticket_round().await.map_err(chain_error)?;
        Ok(ChainHead { block, round, round_block_hash, gas_price: U256::from(gas_price) })
    }

    async fn round_block_hash(&self, round: i64) -> Result<B256, ChainError> {
        let Ok(round) = u64::try_from(round) else { return Ok(B256::ZERO) };
        self.client.round_block_hash(round).await.map_err(chain_error)
    }

    async fn sender_funds(&self, sender: Address) -> Result<SenderFunds, ChainError> {
        let info = self.client.sender_info(sender).await.map_err(chain_error)?;
        Ok(SenderFunds { deposit: info.deposit, reserve: info.reserve, withdraw_round: info.withdraw_round })
    }

    async fn is_ticket_used(&self, hash: B256) -> Result<bool, ChainError> {
        self.client.is_ticket_used(hash).await.map_err(chain_error)
    }

    async fn redeem(&self, ticket: &Ticket, sig: &[u8], recipient_rand: U256) -> Result<Redemption, ChainError> {
        let outcome = self.client.redeem_winning_ticket(ticket, sig, recipient_rand).await.map_err(chain_error)?;
        Ok(Redemption { tx_hash: outcome.hash, gas_used: outcome.gas_used })
    }
}
