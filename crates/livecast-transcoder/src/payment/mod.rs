//! Ticket payments, the recipient side of Livepeer's probabilistic micropayments.
//!
//! - [`Payments::issue`]: `TicketParams` for a session key (face value and winning
//!   probability from [`TicketConfig`], recipientRand committed with the node's secret,
//!   expiration block and creation round from the chain).
//! - [`Payments::receive`]: checks every ticket of a `Payment` ([`validate`]), credits their
//!   expected value to the (sender, session key, session) [`balances::Account`], and writes
//!   the winners to the SQLite [`queue`] before the segment is answered.
//! - [`Payments::check_covers`] / [`Payments::debit`]: Livepeer's rule for taking a segment
//!   (the balance covers one ticket's expected value) and the fee taken once it is done.
//! - [`redeemer`]: redeems queued winners on chain, with retries, also after a restart.
//!
//! **Session key and sender.** go-livepeer's recipientRand is an HMAC over the params and
//! the ticket sender, and the segment signer must be the sender. Here the HMAC is taken over
//! the *session key* instead: the address that asked for the params (`GetOrchestrator`, or
//! the segment signer when params are refreshed in a `TranscodeResult`). A `Payment` whose
//! sender differs from the segment signer is accepted only when its tickets carry params
//! issued to that signer: the sender signed the recipientRandHash, which commits to the
//! signer, so a wallet's tickets cannot be spent by anyone else's session. When sender and
//! signer are the same key (a go-livepeer broadcaster, the browser's session-key mode) this
//! is exactly go-livepeer's rule. A `Payment` without tickets must come from the signer.

pub mod balances;
pub mod chain;
pub mod config;
pub mod nonces;
pub mod queue;
pub mod redeemer;
pub mod validate;

pub use balances::Account;
pub use chain::{Chain, ChainError, ChainHead, ChainView, Redemption, SenderFunds};
pub use config::TicketConfig;
pub use queue::{QueueError, WinnerQueue};
pub use validate::TicketError;

use chain::lock;
use livecast_core::ticket::{self, Address, PaymentBatch, Price, RecipientSecret, TicketParams, B256, I256, U256};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A refused payment or segment.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// A check on the tickets failed: nothing was credited.
    #[error(transparent)]
    Ticket(#[from] TicketError),
    /// The chain could not be read: try again.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Winners could not be stored: nothing was credited.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The segment is not paid for.
    #[error("insufficient balance: need {need} wei, have {have} wei; send tickets worth the difference in the Livepeer-Payment header")]
    Insufficient {
        /// One ticket's expected value.
        need: U256,
        /// The balance.
        have: I256,
    },
}

/// What an accepted payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Tickets accepted.
    pub tickets: usize,
    /// Expected value credited, wei.
    pub credited: U256,
    /// Winning tickets queued for redemption.
    pub winners: usize,
    /// The account's balance afterwards.
    pub balance: I256,
}

/// The node's ticket accounting.
pub struct Payments {
    config: TicketConfig,
    recipient: Address,
    price: Price,
    secret: RecipientSecret,
    chain: Arc<ChainView>,
    nonces: Mutex<nonces::Nonces>,
    balances: Mutex<balances::Balances>,
    queue: Arc<WinnerQueue>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments")
            .field("recipient", &self.recipient)
            .field("price", &self.price)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Payments {
    /// Payments to `recipient` at `price`, checked against `chain`, winners kept in `queue`.
    pub fn new(
        config: TicketConfig,
        recipient: Address,
        price: Price,
        secret: RecipientSecret,
        chain: Arc<dyn Chain>,
        queue: WinnerQueue,
    ) -> Self {
        let view = Arc::new(ChainView::new(chain, config.chain_cache_ttl, config.sender_cache_ttl));
        Self {
            config,
            recipient,
            price,
            secret,
            chain: view,
            nonces: Mutex::default(),
            balances: Mutex::default(),
            queue: Arc::new(queue),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Starts the redeemer on the current tokio runtime: it first redeems what an earlier
    /// run left queued.
    pub fn spawn_redeemer(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(redeemer::run(self.queue.clone(), self.chain.clone(), self.wake.clone()))
    }

    /// The winning-ticket queue.
    pub fn queue(&self) -> &WinnerQueue {
        &self.queue
    }

    /// The node's price.
    pub fn price(&self) -> Price {
        self.price
    }

    /// The settings.
    pub fn config(&self) -> &TicketConfig {
        &self.config
    }

    /// Fresh params for tickets from `sender` in a session signed by `signer` (the face
    /// value is capped by the sender's funds when it has any).
    pub async fn issue(&self, signer: Address, sender: Address) -> Result<TicketParams, PaymentError> {
        let head = self.chain.head().await?;
        let funds = self.chain.sender_funds(sender).await?;
        let face_value = self.config.face_value(head.gas_price, funds.total());
        let mut seed = [0u8; 16];
        getrandom::getrandom(&mut seed).map_err(|e| ChainError::Unavailable(format!("no secure randomness: {e}")))?;
        let mut params = TicketParams {
            recipient: self.recipient,
            face_value,
            win_prob: self.config.win_prob(face_value),
            recipient_rand_hash: B256::ZERO,
            seed: seed.to_vec(),
            expiration_block: U256::from(head.block.saturating_add(self.config.expiration_blocks)),
            creation_round: head.round,
            creation_round_block_hash: head.round_block_hash,
        };
        let rand = self.secret.rand(&params, signer, &self.price);
        params.recipient_rand_hash = ticket::recipient_rand_hash(rand);
        Ok(params)
    }

    /// Checks every ticket of `batch` (sent with a segment signed by `signer` in `session`);
    /// if all pass, queues the winners (durably), records the nonces and credits the
    /// tickets' expected value. If any fails, nothing is credited.
    pub async fn receive(&self, batch: &PaymentBatch, signer: Address, session: &str) -> Result<Receipt, PaymentError> {
        let head = self.chain.head().await?;
        let params = &batch.params;
        let creation_round_hash = if params.creation_round == head.round {
            head.round_block_hash
        } else {
            self.chain.round_block_hash(params.creation_round).await?
        };
        let funds = self.chain.sender_funds(batch.sender).await?;
        let cx = validate::Context {
            recipient: self.recipient,
            price: self.price,
            secret: &self.secret,
            signer,
            head,
            creation_round_hash,
            funds,
            validity_rounds: self.config.validity_rounds,
        };
        let rand = validate::check_batch(batch, &cx)?;
        let mut winners = Vec::new();
        for (index, (ticket, sig)) in batch.tickets().enumerate() {
            validate::check_signature(index, &ticket, sig)?;
            if ticket::is_winning(sig, rand, ticket.win_prob) {
                winners.push(queue::Winner { ticket, sig: sig.to_vec(), recipient_rand: rand });
            }
        }
        // Durable before anything is answered; queueing is idempotent (by ticket hash), so a
        // replay refused below leaves nothing new behind.
        if !winners.is_empty() {
            let queue = self.queue.clone();
            let batch_winners = winners.clone();
            tokio::task::spawn_blocking(move || queue.enqueue(&batch_winners))
                .await
                .map_err(|e| QueueError::new(format!("queue task: {e}")))??;
        }
        let nonces: Vec<u32> = batch.tickets.iter().map(|t| t.nonce).collect();
        {
            let mut seen = lock(&self.nonces);
            if seen.len() > 10_000 {
                seen.purge(head.block);
            }
            seen.claim(params.recipient_rand_hash, params.expiration_block, &nonces)
                .map_err(|(index, reason)| TicketError::Nonce { index, reason })?;
        }
        if !winners.is_empty() {
            self.wake.notify_one();
            for w in &winners {
                tracing::info!(ticket = %w.ticket.hash(), sender = %w.ticket.sender, face_value = %w.ticket.face_value, "winning ticket queued");
            }
        }
        let ev = params.expected_value();
        let account = Account { sender: batch.sender, signer, session: session.to_string() };
        let balance = lock(&self.balances).credit(&account, ev, nonces.len());
        Ok(Receipt { tickets: nonces.len(), credited: ev.saturating_mul(U256::from(nonces.len())), winners: winners.len(), balance })
    }

    /// Livepeer's rule before a segment is taken: the account's balance covers one ticket's
    /// expected value (of the last tickets credited; the configured ticket EV before any).
    pub fn check_covers(&self, account: &Account) -> Result<(), PaymentError> {
        lock(&self.balances)
            .check_covers(account, self.config.ticket_ev).map_err(|(need, have)| PaymentError::Insufficient { need, have })
    }

    /// Takes the fee of `pixels` output pixels off the account. Returns the fee and the new balance.
    pub fn debit(&self, account: &Account, pixels: u64) -> (U256, I256) {
        let fee = self.price.fee(pixels);
        (fee, lock(&self.balances).debit(account, fee))
    }

    /// The account's balance.
    pub fn balance(&self, account: &Account) -> I256 {
        lock(&self.balances).get(account)
    }
}
