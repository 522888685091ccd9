//! What the node needs from the TicketBroker chain, behind a trait so the payment logic is
//! tested without a chain, and a cache in front of it so checking a ticket costs one round
//! trip (the block number) most of the time: sender funds are kept a few seconds, the round
//! and gas price while the block number does not change.

use livecast_core::ticket::{Address, Ticket, B256, U256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A failed chain call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The node could not get an answer (RPC down, timeout, nonce clash): worth retrying.
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The contract refused the call, with its reason: retrying will not help.
    #[error("reverted: {0}")]
    Reverted(String),
}

/// The chain's state a ticket is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// The latest block number.
    pub block: u64,
    /// The TicketBroker's current round.
    pub round: i64,
    /// The block hash that identifies the current round.
    pub round_block_hash: B256,
    /// Gas price, wei.
    pub gas_price: U256,
}

/// A sender's money in the TicketBroker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderFunds {
    /// Deposit, wei: pays winning tickets first.
    pub deposit: U256,
    /// Reserve, wei: pays when the deposit runs out.
    pub reserve: U256,
    /// Round from which the sender may withdraw; 0 when no unlock is under way.
    pub withdraw_round: U256,
}

impl SenderFunds {
    /// Deposit plus reserve.
    pub fn total(&self) -> U256 {
        self.deposit.saturating_add(self.reserve)
    }
}

/// A winning ticket paid out on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redemption {
    /// The redeeming transaction.
    pub tx_hash: B256,
    /// Gas it used.
    pub gas_used: u64,
}

/// The TicketBroker as the node uses it.
#[tonic::async_trait]
pub trait Chain: Send + Sync + 'static {
    /// The latest block number.
    async fn block_number(&self) -> Result<u64, ChainError>;
    /// Latest block, current round and its block hash, gas price.
    async fn head(&self) -> Result<ChainHead, ChainError>;
    /// The block hash that identifies `round` (zero when the round is unknown).
    async fn round_block_hash(&self, round: i64) -> Result<B256, ChainError>;
    /// A sender's deposit, reserve and unlock state.
    async fn sender_funds(&self, sender: Address) -> Result<SenderFunds, ChainError>;
    /// Whether a ticket with this hash was already redeemed.
    async fn is_ticket_used(&self, hash: B256) -> Result<bool, ChainError>;
    /// Sends `redeemWinningTicket` and waits for its receipt.
    async fn redeem(&self, ticket: &Ticket, sig: &[u8], recipient_rand: U256) -> Result<Redemption, ChainError>;
}

struct Cached<T> {
    value: T,
    at: Instant,
}

/// A [`Chain`] with short-lived caches in front of its reads.
pub struct ChainView {
    chain: Arc<dyn Chain>,
    head_ttl: Duration,
    sender_ttl: Duration,
    head: Mutex<Option<Cached<ChainHead>>>,
    round_hashes: Mutex<HashMap<i64, B256>>,
    senders: Mutex<HashMap<Address, Cached<SenderFunds>>>,
}

impl std::fmt::Debug for ChainView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainView").field("head_ttl", &self.head_ttl).field("sender_ttl", &self.sender_ttl).finish_non_exhaustive()
    }
}

impl ChainView {
    /// Caches `chain`'s head for `head_ttl` and sender funds for `sender_ttl`.
    pub fn new(chain: Arc<dyn Chain>, head_ttl: Duration, sender_ttl: Duration) -> Self {
        Self {
            chain,
            head_ttl,
            sender_ttl,
            head: Mutex::new(None),
            round_hashes: Mutex::new(HashMap::new()),
            senders: Mutex::new(HashMap::new()),
        }
    }

    /// The chain itself, for redemptions.
    pub fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    /// The head. The block number is read every time (expiry is checked against it, and a
    /// chain can move many blocks in a second); the round, its hash and the gas price are
    /// reused for `head_ttl` while the block number stays the same.
    pub async fn head(&self) -> Result<ChainHead, ChainError> {
        let block = self.chain.block_number().await?;
        if let Some(c) = lock(&self.head).as_ref().filter(|c| c.at.elapsed() < self.head_ttl && c.value.block == block) {
            return Ok(c.value);
        }
        let value = self.chain.head().await?;
        *lock(&self.head) = Some(Cached { value, at: Instant::now() });
        lock(&self.round_hashes).insert(value.round, value.round_block_hash);
        Ok(value)
    }

    /// The block hash of `round` (rounds do not change their hash once set; zero is not kept).
    pub async fn round_block_hash(&self, round: i64) -> Result<B256, ChainError> {
        if let Some(hash) = lock(&self.round_hashes).get(&round) {
            return Ok(*hash);
        }
        let hash = self.chain.round_block_hash(round).await?;
        if hash != B256::ZERO {
            let mut map = lock(&self.round_hashes);
            if map.len() > 1024 {
                map.clear();
            }
            map.insert(round, hash);
        }
        Ok(hash)
    }

    /// A sender's funds, at most `sender_ttl` old.
    pub async fn sender_funds(&self, sender: Address) -> Result<SenderFunds, ChainError> {
        if let Some(c) = lock(&self.senders).get(&sender).filter(|c| c.at.elapsed() < self.sender_ttl) {
            return Ok(c.value);
        }
        let value = self.chain.sender_funds(sender).await?;
        let mut map = lock(&self.senders);
        if map.len() > 10_000 {
            map.retain(|_, c| c.at.elapsed() < self.sender_ttl);
        }
        map.insert(sender, Cached { value, at: Instant::now() });
        Ok(value)
    }

    /// Forgets a sender's cached funds (after one of its tickets was redeemed).
    pub fn forget_sender(&self, sender: Address) {
        lock(&self.senders).remove(&sender);
    }
}

/// Locks a mutex; a panic elsewhere does not make the cache unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
