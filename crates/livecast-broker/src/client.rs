//! [`BrokerClient`]: the TicketBroker over JSON-RPC with an alloy provider — deploy, read a
//! sender's funds and the rounds, redeem winning tickets, fund, unlock and withdraw.

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::fillers::{ChainIdFiller, GasFiller, JoinFill, NonceFiller, SimpleNonceManager};
use alloy::providers::{DynProvider, Identity, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportError};
use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use livecast_core::ticket::Ticket;

use crate::abi::TicketBroker;
use crate::calls::{revert_error, SenderInfo};
use crate::{BrokerError, Result};

/// Who signs and pays for transactions.
#[derive(Clone)]
pub enum TxSigner {
    /// A local private key (signed here, sent with `eth_sendRawTransaction`).
    Key(PrivateKeySigner),
    /// The node's unlocked account number `n` in `eth_accounts` (anvil's dev accounts),
    /// signed by the node with `eth_sendTransaction`.
    DevAccount(usize),
    /// No transactions: reads only.
    ReadOnly,
}

impl std::fmt::Debug for TxSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxSigner::Key(k) => write!(f, "Key({})", k.address()),
            TxSigner::DevAccount(n) => write!(f, "DevAccount({n})"),
            TxSigner::ReadOnly => f.write_str("ReadOnly"),
        }
    }
}

impl TxSigner {
    /// A key from 32 bytes of hex (with or without `0x`).
    pub fn from_hex(key: &str) -> Result<Self> {
        let signer: PrivateKeySigner =
            key.trim().parse().map_err(|e| BrokerError::Config(format!("bad private key: {e}")))?;
        Ok(TxSigner::Key(signer))
    }
}

/// Constructor arguments of the TicketBroker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Rounds between `unlock` and the round `withdraw` is allowed in.
    pub unlock_period: u64,
    /// Rounds a ticket stays redeemable from its creation round (> 0).
    pub ticket_validity_period: u64,
    /// Blocks per round (> 0).
    pub round_length: u64,
}

impl Default for BrokerConfig {
    /// Short periods for a local chain: unlock after 2 rounds, tickets valid 2 rounds
    /// (Livepeer's value), 10-block rounds.
    fn default() -> Self {
        BrokerConfig { unlock_period: 2, ticket_validity_period: 2, round_length: 10 }
    }
}

/// The outcome of a mined transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// Transaction hash.
    pub hash: B256,
    /// Block it was mined in.
    pub block_number: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Price paid per gas (wei).
    pub effective_gas_price: u128,
}

impl TxOutcome {
    /// What the transaction cost its sender in wei (gas used × effective gas price).
    pub fn fee(&self) -> U256 {
        U256::from(self.gas_used) * U256::from(self.effective_gas_price)
    }

    fn from_receipt(r: &TransactionReceipt) -> Result<Self> {
        if !r.status() {
            return Err(BrokerError::Revert { reason: format!("transaction {} reverted", r.transaction_hash) });
        }
        Ok(TxOutcome {
            hash: r.transaction_hash,
            block_number: r.block_number.unwrap_or_default(),
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
        })
    }
}

/// A TicketBroker at `address` on the chain behind an RPC URL. Transactions of one client
/// should be sent one after another: each reads its nonce from the node.
#[derive(Clone)]
pub struct BrokerClient {
    provider: DynProvider,
    address: Address,
    from: Option<Address>,
}

impl std::fmt::Debug for BrokerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerClient").field("address", &self.address).field("from", &self.from).finish()
    }
}

/// Maps a provider error to [`BrokerError`], decoding revert data when the node sent some.
fn rpc_error(e: TransportError) -> BrokerError {
    if let RpcError::ErrorResp(payload) = &e {
        if let Some(data) = payload.as_revert_data() {
            return revert_error(&data);
        }
        if payload.message.contains("revert") {
            return BrokerError::Revert { reason: payload.message.to_string() };
        }
    }
    BrokerError::Rpc(e.to_string())
}

/// The filler stack of [`fillers`].
type Fillers = JoinFill<JoinFill<JoinFill<Identity, GasFiller>, NonceFiller<SimpleNonceManager>>, ChainIdFiller>;

/// Gas estimation, chain id and a nonce read from the node for every transaction.
///
/// Not alloy's recommended fillers: their cached nonce manager counts a nonce for a
/// transaction that then fails gas estimation (a revert), so the next transaction carries a
/// nonce gap and is never mined. Reading the pending nonce each time costs one request per
/// transaction; transactions from one client must therefore be sent one after another.
fn fillers() -> ProviderBuilder<Identity, Fillers> {
    ProviderBuilder::new().disable_recommended_fillers().with_gas_estimation().with_simple_nonce_management().fetch_chain_id()
}

/// In a workspace build, reqwest is unified with the relay's `rustls-no-provider` and then
/// panics on the first client it builds unless a process-wide crypto provider is installed.
/// Installs ring's if there is none yet (a no-op when the process already chose one).
fn ensure_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A provider for `rpc_url` that signs as `signer`, and the address transactions come from.
async fn provider_for(rpc_url: &str, signer: &TxSigner) -> Result<(DynProvider, Option<Address>)> {
    ensure_tls_provider();
    let url = rpc_url.parse().map_err(|e| BrokerError::Config(format!("bad RPC URL {rpc_url:?}: {e}")))?;
    match signer {
        TxSigner::Key(key) => {
            let from = key.address();
            let provider = fillers().wallet(EthereumWallet::from(key.clone())).connect_http(url);
            Ok((provider.erased(), Some(from)))
        }
        TxSigner::DevAccount(n) => {
            let provider = fillers().connect_http(url).erased();
            let accounts = provider.get_accounts().await.map_err(rpc_error)?;
            let from = *accounts.get(*n).ok_or_else(|| {
                BrokerError::Config(format!("the node has {} unlocked accounts; there is no number {n}", accounts.len()))
            })?;
            Ok((provider, Some(from)))
        }
        TxSigner::ReadOnly => Ok((ProviderBuilder::new().connect_http(url).erased(), None)),
    }
}

impl BrokerClient {
    /// A client for the broker at `address`, sending transactions as `signer`. Checks that
    /// there is code at `address`.
    pub async fn connect(rpc_url: &str, signer: TxSigner, address: Address) -> Result<Self> {
        let (provider, from) = provider_for(rpc_url, &signer).await?;
        let code = provider.get_code_at(address).await.map_err(rpc_error)?;
        if code.is_empty() {
            return Err(BrokerError::Config(format!("no contract at {address} on {rpc_url}")));
        }
        Ok(BrokerClient { provider, address, from })
    }

    /// Deploys a TicketBroker as `signer` (which becomes its owner) and returns a client for it.
    pub async fn deploy(rpc_url: &str, signer: TxSigner, config: BrokerConfig) -> Result<(Self, TxOutcome)> {
        let (provider, from) = provider_for(rpc_url, &signer).await?;
        let from = from.ok_or_else(|| BrokerError::Config("deploying needs a signer".into()))?;
        let args = TicketBroker::constructorCall {
            _unlockPeriod: U256::from(config.unlock_period),
            _ticketValidityPeriod: U256::from(config.ticket_validity_period),
            _roundLength: U256::from(config.round_length),
        }
        .abi_encode();
        let mut code = TicketBroker::BYTECODE.to_vec();
        code.extend_from_slice(&args);
        let tx = TransactionRequest::default().with_from(from).with_deploy_code(code);
        let receipt = send(&provider, tx).await?;
        let outcome = TxOutcome::from_receipt(&receipt)?;
        let address = receipt
            .contract_address
            .ok_or_else(|| BrokerError::Rpc("deployment receipt has no contract address".into()))?;
        Ok((BrokerClient { provider, address, from: Some(from) }, outcome))
    }

    /// The broker's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The account transactions are sent from (None for a read-only client).
    pub fn from(&self) -> Option<Address> {
        self.from
    }

    /// The underlying provider (for reads this client has no method for).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    async fn call<C: SolCall>(&self, call: C) -> Result<C::Return> {
        let tx = TransactionRequest::default().with_to(self.address).with_input(call.abi_encode());
        let data: Bytes = self.provider.call(tx).await.map_err(rpc_error)?;
        Ok(C::abi_decode_returns(&data)?)
    }

    async fn transact<C: SolCall>(&self, call: C, value: U256) -> Result<TxOutcome> {
        let from = self.from.ok_or_else(|| BrokerError::Config("this client is read-only".into()))?;
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(self.address)
            .with_input(call.abi_encode())
            .with_value(value);
        TxOutcome::from_receipt(&send(&self.provider, tx).await?)
    }

    // ------------------------------------------------------------ reads

    /// `getSenderInfo(sender)`: deposit, withdraw round and reserve.
    pub async fn sender_info(&self, sender: Address) -> Result<SenderInfo> {
        let r = self.call(TicketBroker::getSenderInfoCall { _sender: sender }).await?;
        Ok(SenderInfo {
            deposit: r.sender.deposit,
            withdraw_round: r.sender.withdrawRound,
            reserve: r.reserve.fundsRemaining,
            reserve_claimed_in_current_round: r.reserve.claimedInCurrentRound,
        })
    }

    /// `isUnlockInProgress(sender)`.
    pub async fn is_unlock_in_progress(&self, sender: Address) -> Result<bool> {
        self.call(TicketBroker::isUnlockInProgressCall { _sender: sender }).await
    }

    /// `funderOf(sender)`: the account a withdrawal pays (zero when none is recorded).
    pub async fn funder_of(&self, sender: Address) -> Result<Address> {
        self.call(TicketBroker::funderOfCall(sender)).await
    }

    /// The broker's current round.
    pub async fn current_round(&self) -> Result<u64> {
        to_u64(self.call(TicketBroker::currentRoundCall {}).await?, "currentRound")
    }

    /// Blocks per round.
    pub async fn round_length(&self) -> Result<u64> {
        to_u64(self.call(TicketBroker::roundLengthCall {}).await?, "roundLength")
    }

    /// Rounds between unlock and withdrawal.
    pub async fn unlock_period(&self) -> Result<u64> {
        to_u64(self.call(TicketBroker::unlockPeriodCall {}).await?, "unlockPeriod")
    }

    /// Rounds a ticket stays redeemable.
    pub async fn ticket_validity_period(&self) -> Result<u64> {
        to_u64(self.call(TicketBroker::ticketValidityPeriodCall {}).await?, "ticketValidityPeriod")
    }

    /// `blockHashForRound(round)`; zero when the broker has none for it.
    pub async fn round_block_hash(&self, round: u64) -> Result<B256> {
        self.call(TicketBroker::blockHashForRoundCall { _round: U256::from(round) }).await
    }

    /// The creation round and block hash a recipient puts in its ticket params now: the
    /// current round and its hash. If the hash is no longer readable (the round started more
    /// than 256 blocks ago and nobody stored it), calls `initializeRound` first — which
    /// fails for such a round too, so recipients with long rounds should call
    /// [`Self::initialize_round`] early in each round.
    pub async fn ticket_round(&self) -> Result<(i64, B256)> {
        let round = self.current_round().await?;
        if round == 0 {
            return Err(BrokerError::Config("the chain is still in round 0, which has no block hash".into()));
        }
        let mut hash = self.round_block_hash(round).await?;
        if hash == B256::ZERO {
            self.initialize_round().await?;
            hash = self.round_block_hash(round).await?;
        }
        let round = i64::try_from(round).map_err(|_| BrokerError::Rpc(format!("round {round} out of range")))?;
        Ok((round, hash))
    }

    /// `usedTickets(hash)`: whether a ticket was redeemed already.
    pub async fn is_ticket_used(&self, ticket_hash: B256) -> Result<bool> {
        self.call(TicketBroker::usedTicketsCall(ticket_hash)).await
    }

    /// `getTicketHash(ticket)` computed by the contract.
    pub async fn ticket_hash(&self, ticket: &Ticket) -> Result<B256> {
        self.call(TicketBroker::getTicketHashCall { _ticket: ticket.into() }).await
    }

    /// An account's ETH balance in wei.
    pub async fn balance(&self, account: Address) -> Result<U256> {
        self.provider.get_balance(account).await.map_err(rpc_error)
    }

    // ------------------------------------------------------------ transactions

    /// `initializeRound()`: stores the current round's block hash.
    pub async fn initialize_round(&self) -> Result<TxOutcome> {
        self.transact(TicketBroker::initializeRoundCall {}, U256::ZERO).await
    }

    /// `redeemWinningTicket(ticket, sig, recipientRand)`; the outcome carries the gas used.
    pub async fn redeem_winning_ticket(&self, ticket: &Ticket, sig: &[u8], recipient_rand: U256) -> Result<TxOutcome> {
        let call = TicketBroker::redeemWinningTicketCall {
            _ticket: ticket.into(),
            _sig: Bytes::copy_from_slice(sig),
            _recipientRand: recipient_rand,
        };
        self.transact(call, U256::ZERO).await
    }

    /// `batchRedeemWinningTickets`: several winners in one transaction; a ticket that fails
    /// its checks is skipped (Livepeer's semantics), so check `is_ticket_used` afterwards.
    ///
    /// The gas limit is set here, [`BATCH_GAS_PER_TICKET`] per ticket: the contract swallows
    /// a failed ticket, so gas estimation settles on a limit at which later tickets run out
    /// of gas and are skipped while the transaction itself succeeds.
    pub async fn batch_redeem_winning_tickets(&self, winners: &[(Ticket, Vec<u8>, U256)]) -> Result<TxOutcome> {
        let from = self.from.ok_or_else(|| BrokerError::Config("this client is read-only".into()))?;
        let call = TicketBroker::batchRedeemWinningTicketsCall {
            _tickets: winners.iter().map(|(t, _, _)| t.into()).collect(),
            _sigs: winners.iter().map(|(_, sig, _)| Bytes::copy_from_slice(sig)).collect(),
            _recipientRands: winners.iter().map(|(_, _, rand)| *rand).collect(),
        };
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(self.address)
            .with_input(call.abi_encode())
            .with_gas_limit(BATCH_GAS_BASE + BATCH_GAS_PER_TICKET * winners.len() as u64);
        TxOutcome::from_receipt(&send(&self.provider, tx).await?)
    }

    /// `fundDepositAndReserve(deposit, reserve)` for the client's own account.
    pub async fn fund_deposit_and_reserve(&self, deposit: U256, reserve: U256) -> Result<TxOutcome> {
        let call = TicketBroker::fundDepositAndReserveCall { _depositAmount: deposit, _reserveAmount: reserve };
        self.transact(call, deposit + reserve).await
    }

    /// `fundDepositAndReserveFor(sender, deposit, reserve)`: funds another address (a
    /// session key); the first funder is recorded and receives its withdrawal.
    pub async fn fund_deposit_and_reserve_for(&self, sender: Address, deposit: U256, reserve: U256) -> Result<TxOutcome> {
        let call = TicketBroker::fundDepositAndReserveForCall {
            _addr: sender,
            _depositAmount: deposit,
            _reserveAmount: reserve,
        };
        self.transact(call, deposit + reserve).await
    }

    /// `unlock()` for the client's own account.
    pub async fn unlock(&self) -> Result<TxOutcome> {
        self.transact(TicketBroker::unlockCall {}, U256::ZERO).await
    }

    /// `cancelUnlock()` for the client's own account.
    pub async fn cancel_unlock(&self) -> Result<TxOutcome> {
        self.transact(TicketBroker::cancelUnlockCall {}, U256::ZERO).await
    }

    /// `withdraw()` for the client's own account (paid to its funder when one is recorded).
    pub async fn withdraw(&self) -> Result<TxOutcome> {
        self.transact(TicketBroker::withdrawCall {}, U256::ZERO).await
    }

    /// `unlockFor(sender)`, as the sender's recorded funder.
    pub async fn unlock_for(&self, sender: Address) -> Result<TxOutcome> {
        self.transact(TicketBroker::unlockForCall { _sender: sender }, U256::ZERO).await
    }

    /// `cancelUnlockFor(sender)`, as the sender's recorded funder.
    pub async fn cancel_unlock_for(&self, sender: Address) -> Result<TxOutcome> {
        self.transact(TicketBroker::cancelUnlockForCall { _sender: sender }, U256::ZERO).await
    }

    /// `withdrawFor(sender)`, as the sender's recorded funder: the funds come to the funder.
    pub async fn withdraw_for(&self, sender: Address) -> Result<TxOutcome> {
        self.transact(TicketBroker::withdrawForCall { _sender: sender }, U256::ZERO).await
    }
}

/// Gas allowed per ticket in [`BrokerClient::batch_redeem_winning_tickets`] (a redemption
/// uses 80,000–130,000; the inner call needs 64/63 of it).
pub const BATCH_GAS_PER_TICKET: u64 = 200_000;
/// Gas allowed for the batch call itself.
const BATCH_GAS_BASE: u64 = 60_000;

/// How long [`send`] waits for a transaction to be mined.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How often [`send`] asks for the receipt.
const RECEIPT_POLL: Duration = Duration::from_millis(100);

/// Sends `tx` and waits for its receipt. A revert found while estimating gas comes back as
/// [`BrokerError::Revert`] with the contract's reason.
///
/// The receipt is polled with `eth_getTransactionReceipt` rather than through alloy's
/// `get_receipt()`: its block heartbeat can miss the transaction's block when several
/// blocks are mined at once (`anvil_mine`), and then never returns.
async fn send(provider: &DynProvider, tx: TransactionRequest) -> Result<TransactionReceipt> {
    let pending = provider.send_transaction(tx).await.map_err(rpc_error)?;
    let hash = *pending.tx_hash();
    let deadline = Instant::now() + RECEIPT_TIMEOUT;
    loop {
        if let Some(receipt) = provider.get_transaction_receipt(hash).await.map_err(rpc_error)? {
            return Ok(receipt);
        }
        if Instant::now() >= deadline {
            return Err(BrokerError::Rpc(format!("transaction {hash} not mined after {} s", RECEIPT_TIMEOUT.as_secs())));
        }
        tokio::time::sleep(RECEIPT_POLL).await;
    }
}

fn to_u64(v: U256, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| BrokerError::Rpc(format!("{what} {v} does not fit 64 bits")))
}
