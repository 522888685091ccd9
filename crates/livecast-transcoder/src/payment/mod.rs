//! Ticket payments, the recipient side of Livepeer's probabilistic micropayments.
//!
//! - [`TicketRecipient::issue`]: `TicketParams` for a session key (face value and winning
//!   probability from [`TicketConfig`], recipientRand committed with the node's secret,
//!   expiration block and creation round from the chain).
//! - [`TicketRecipient::receive`]: checks every ticket of a `Payment` ([`validate`]),
//!   credits their expected value to the (sender, session key, session)
//!   [`balances::Account`], and writes the winners to the SQLite [`queue`] before the
//!   segment is answered.
//! - [`TicketRecipient::check_covers`] / [`TicketRecipient::debit`]: Livepeer's rule for
//!   taking a segment (the balance covers one ticket's expected value) and the fee taken
//!   once it is done.
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
pub mod broker;
pub mod chain;
pub mod config;
pub mod nonces;
pub mod queue;
pub mod redeemer;
pub mod validate;

pub use balances::Account;
pub use broker::BrokerChain;
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

/// The recipient side of Livepeer's tickets (go-livepeer's `pm.Recipient`): the node's
/// ticket accounting.
pub struct TicketRecipient {
    config: TicketConfig,
    recipient: Address,
    price: Price,
    secret: RecipientSecret,
    chain: Arc<ChainView>,
    nonces: Mutex<nonces::Nonces>,
    balances: Mutex<balances::Balances>,
    queue: Arc<WinnerQueue>,
    wake: Arc<Notify>,
    /// Random per run; starts every seed issued, so params from before a restart (whose
    /// nonces the node no longer knows) are refused.
    boot_id: [u8; 8],
}

impl std::fmt::Debug for TicketRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketRecipient")
            .field("recipient", &self.recipient)
            .field("price", &self.price)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TicketRecipient {
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
        let mut boot_id = [0u8; 8];
        // Without randomness the id stays zero: params from before a restart are then not told apart.
        if let Err(e) = getrandom::getrandom(&mut boot_id) {
            tracing::error!("no secure randomness for the run id: {e}");
        }
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
            boot_id,
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
        // Seed: this run's id, then 8 random bytes.
        let mut seed = [0u8; 16];
        seed[..8].copy_from_slice(&self.boot_id);
        getrandom::getrandom(&mut seed[8..]).map_err(|e| ChainError::Unavailable(format!("no secure randomness: {e}")))?;
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
            boot_id: &self.boot_id,
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

#[cfg(test)]
mod tests {
    //! `TicketRecipient` with real keys and signatures from the ticket core, against a chain
    //! stand-in that holds a head and sender funds (the real TicketBroker is exercised by
    //! the integration tests).
    use super::*;
    use livecast_core::ticket::SignedTicket;
    use livecast_protocol::NodeKey;

    struct FakeChain {
        head: Mutex<ChainHead>,
        funds: Mutex<std::collections::HashMap<Address, SenderFunds>>,
    }

    #[tonic::async_trait]
    impl Chain for FakeChain {
        async fn block_number(&self) -> Result<u64, ChainError> {
            Ok(lock(&self.head).block)
        }
        async fn head(&self) -> Result<ChainHead, ChainError> {
            Ok(*lock(&self.head))
        }
        async fn round_block_hash(&self, round: i64) -> Result<B256, ChainError> {
            Ok(B256::repeat_byte(round as u8))
        }
        async fn sender_funds(&self, sender: Address) -> Result<SenderFunds, ChainError> {
            Ok(lock(&self.funds).get(&sender).copied().unwrap_or_default())
        }
        async fn is_ticket_used(&self, _hash: B256) -> Result<bool, ChainError> {
            Ok(false)
        }
        async fn redeem(&self, _t: &ticket::Ticket, _s: &[u8], _r: U256) -> Result<Redemption, ChainError> {
            Err(ChainError::Unavailable("not in this test".into()))
        }
    }

    struct Setup {
        payments: TicketRecipient,
        chain: Arc<FakeChain>,
        node: Address,
        _dir: tempfile::TempDir,
    }

    fn setup(config: TicketConfig) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let chain = Arc::new(FakeChain {
            head: Mutex::new(ChainHead { block: 100, round: 5, round_block_hash: B256::repeat_byte(5), gas_price: U256::from(1u64) }),
            funds: Mutex::default(),
        });
        let node = NodeKey::generate().unwrap().address();
        let queue = WinnerQueue::open(&dir.path().join("q.sqlite")).unwrap();
        let payments = TicketRecipient::new(
            // Head kept for a minute: a new block must still be seen at once (expiry).
            TicketConfig { chain_cache_ttl: std::time::Duration::from_secs(60), sender_cache_ttl: std::time::Duration::ZERO, ..config },
            node,
            Price::new(3, 2).unwrap(),
            RecipientSecret::from_bytes([7; 32]),
            chain.clone(),
            queue,
        );
        Setup { payments, chain, node, _dir: dir }
    }

    fn fund(s: &Setup, who: Address, wei: u128) {
        lock(&s.chain.funds).insert(who, SenderFunds { deposit: U256::from(wei), reserve: U256::ZERO, withdraw_round: U256::ZERO });
    }

    fn batch(params: &TicketParams, key: &NodeKey, nonces: &[u32]) -> PaymentBatch {
        let tickets = nonces
            .iter()
            .map(|&n| SignedTicket { nonce: n, sig: params.ticket(key.address(), n).sign(key).unwrap().to_vec() })
            .collect();
        PaymentBatch { params: params.clone(), sender: key.address(), price: Price::new(3, 2).unwrap(), tickets }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn ticket_err(r: Result<Receipt, PaymentError>) -> TicketError {
        match r {
            Err(PaymentError::Ticket(e)) => e,
            other => panic!("expected a ticket error, got {other:?}"),
        }
    }

    #[test]
    fn good_tickets_are_credited_and_bad_ones_refused_naming_the_check() {
        let s = setup(TicketConfig::default());
        let key = NodeKey::generate().unwrap();
        fund(&s, key.address(), 10u128.pow(18));
        rt().block_on(async {
            let params = s.payments.issue(key.address(), key.address()).await.unwrap();
            assert_eq!(params.recipient, s.node);
            assert_eq!(params.expiration_block, U256::from(140u64));
            assert_eq!((params.creation_round, params.creation_round_block_hash), (5, B256::repeat_byte(5)));
            let ev = params.expected_value();
            assert!(ev > U256::ZERO && ev <= U256::from(config::DEFAULT_TICKET_EV));

            let receipt = s.payments.receive(&batch(&params, &key, &[1, 2]), key.address(), "aa").await.unwrap();
            assert_eq!((receipt.tickets, receipt.credited), (2, ev * U256::from(2u64)));
            let account = Account { sender: key.address(), signer: key.address(), session: "aa".into() };
            assert_eq!(s.payments.balance(&account), I256::try_from(ev * U256::from(2u64)).unwrap());
            s.payments.check_covers(&account).unwrap();

            // Replayed nonce.
            let e = ticket_err(s.payments.receive(&batch(&params, &key, &[3, 2]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::Nonce { index: 1, .. }), "{e}");
            assert!(e.to_string().contains("nonce check") && e.to_string().contains("replayed"), "{e}");

            // Tampered face value: the sender signs a ticket with a higher face value.
            let mut tampered = params.clone();
            tampered.face_value += U256::from(1u64);
            let e = ticket_err(s.payments.receive(&batch(&tampered, &key, &[10]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::RandPreimage { .. }), "{e}");

            // Changed after signing: the signature no longer recovers the sender.
            let mut forged = batch(&params, &key, &[11]);
            forged.params.win_prob = U256::MAX;
            forged.params.recipient_rand_hash = params.recipient_rand_hash;
            let e = ticket_err(s.payments.receive(&forged, key.address(), "aa").await);
            assert!(matches!(e, TicketError::RandPreimage { .. } | TicketError::Signature { .. }), "{e}");

            // Wrong signer: signed by another key, claiming `key` as sender.
            let mallory = NodeKey::generate().unwrap();
            let mut wrong = batch(&params, &key, &[12]);
            wrong.tickets[0].sig = params.ticket(key.address(), 12).sign(&mallory).unwrap().to_vec();
            let e = ticket_err(s.payments.receive(&wrong, key.address(), "aa").await);
            assert!(matches!(e, TicketError::Signature { index: 0, nonce: 12, .. }), "{e}");
            assert!(e.to_string().contains(&mallory.address().to_string()), "{e}");

            // Params issued to another session key (a stolen payment replayed in another session).
            let e = ticket_err(s.payments.receive(&batch(&params, &key, &[13]), mallory.address(), "bb").await);
            assert!(matches!(e, TicketError::RandPreimage { signer } if signer == mallory.address()), "{e}");

            // Other price.
            let mut pricey = batch(&params, &key, &[14]);
            pricey.price = Price::new(4, 2).unwrap();
            let e = ticket_err(s.payments.receive(&pricey, key.address(), "aa").await);
            assert!(matches!(e, TicketError::Price { .. }), "{e}");
            // Same price in other terms is fine (6/4 = 3/2).
            let mut same = batch(&params, &key, &[15]);
            same.price = Price::new(6, 4).unwrap();
            s.payments.receive(&same, key.address(), "aa").await.unwrap();

            // Other recipient.
            let mut elsewhere = params.clone();
            elsewhere.recipient = mallory.address();
            let e = ticket_err(s.payments.receive(&batch(&elsewhere, &key, &[16]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::Recipient { .. }), "{e}");

            // Expired: the chain moved past the expiration block, then past the validity rounds.
            lock(&s.chain.head).block = 140;
            let e = ticket_err(s.payments.receive(&batch(&params, &key, &[17]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::ExpiredBlock { .. }), "{e}");
            *lock(&s.chain.head) = ChainHead { block: 120, round: 7, round_block_hash: B256::repeat_byte(7), gas_price: U256::from(1u64) };
            let e = ticket_err(s.payments.receive(&batch(&params, &key, &[18]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::ExpiredRound { creation_round: 5, round: 7, validity: 2 }), "{e}");

            // Nothing above was credited: two tickets and the 6/4 one.
            assert_eq!(s.payments.balance(&account), I256::try_from(ev * U256::from(3u64)).unwrap());
        });
    }

    #[test]
    fn a_win_prob_fraction_of_one_half_makes_about_half_the_tickets_win() {
        let s = setup(TicketConfig { win_prob_fraction: Some(0.5), ..TicketConfig::default() });
        let key = NodeKey::generate().unwrap();
        fund(&s, key.address(), 10u128.pow(18));
        rt().block_on(async {
            let params = s.payments.issue(key.address(), key.address()).await.unwrap();
            let nonces: Vec<u32> = (1..=200).collect();
            let receipt = s.payments.receive(&batch(&params, &key, &nonces), key.address(), "aa").await.unwrap();
            // Binomial(200, 0.5): outside 60..=140 with probability below 1e-8.
            assert!((60..=140).contains(&receipt.winners), "{} winners of 200", receipt.winners);
            assert_eq!(s.payments.queue().counts().unwrap().pending, receipt.winners as u64);
        });
    }

    #[test]
    fn params_from_before_a_restart_are_refused() {
        let s = setup(TicketConfig::default());
        let key = NodeKey::generate().unwrap();
        fund(&s, key.address(), 10u128.pow(18));
        rt().block_on(async {
            let params = s.payments.issue(key.address(), key.address()).await.unwrap();
            s.payments.receive(&batch(&params, &key, &[1]), key.address(), "aa").await.unwrap();
            // The same secret and chain after a restart: the nonce records are gone.
            let dir = tempfile::tempdir().unwrap();
            let restarted = TicketRecipient::new(
                s.payments.config.clone(),
                s.node,
                Price::new(3, 2).unwrap(),
                RecipientSecret::from_bytes([7; 32]),
                s.chain.clone(),
                WinnerQueue::open(&dir.path().join("q.sqlite")).unwrap(),
            );
            let e = ticket_err(restarted.receive(&batch(&params, &key, &[1]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::IssuedBeforeRestart), "{e}");
            let fresh = restarted.issue(key.address(), key.address()).await.unwrap();
            restarted.receive(&batch(&fresh, &key, &[1]), key.address(), "aa").await.unwrap();
        });
    }

    #[test]
    fn unfunded_and_unlocking_senders_are_refused() {
        let s = setup(TicketConfig::default());
        let key = NodeKey::generate().unwrap();
        rt().block_on(async {
            let params = s.payments.issue(key.address(), key.address()).await.unwrap();
            let e = ticket_err(s.payments.receive(&batch(&params, &key, &[1]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::Unfunded { .. }), "{e}");
            assert!(e.to_string().contains("unfunded sender"), "{e}");
            // Funded below the face value.
            fund(&s, key.address(), 1000);
            let e = ticket_err(s.payments.receive(&batch(&params, &key, &[2]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::FaceValueAboveFunds { .. }), "{e}");
            lock(&s.chain.funds).insert(
                key.address(),
                SenderFunds { deposit: U256::from(10u128.pow(18)), reserve: U256::ZERO, withdraw_round: U256::from(6u64) },
            );
            let e = ticket_err(s.payments.receive(&batch(&params, &key, &[3]), key.address(), "aa").await);
            assert!(matches!(e, TicketError::Unlocking { .. }), "{e}");
        });
    }

    #[test]
    fn a_wallet_pays_for_the_session_key_it_signed_params_for() {
        let s = setup(TicketConfig::default());
        let wallet = NodeKey::generate().unwrap();
        let session_key = NodeKey::generate().unwrap();
        fund(&s, wallet.address(), 10u128.pow(18));
        rt().block_on(async {
            // The session key asked for the params; the wallet signs the tickets.
            let params = s.payments.issue(session_key.address(), session_key.address()).await.unwrap();
            let receipt = s.payments.receive(&batch(&params, &wallet, &[1]), session_key.address(), "aa").await.unwrap();
            assert_eq!(receipt.tickets, 1);
            let account = Account { sender: wallet.address(), signer: session_key.address(), session: "aa".into() };
            assert!(s.payments.balance(&account) > I256::ZERO);
        });
    }

    #[test]
    fn winners_are_queued_before_the_answer_and_balance_rule_refuses_unpaid_segments() {
        let s = setup(TicketConfig { win_prob_fraction: Some(1.0), ..TicketConfig::default() });
        let key = NodeKey::generate().unwrap();
        fund(&s, key.address(), 10u128.pow(18));
        rt().block_on(async {
            let account = Account { sender: key.address(), signer: key.address(), session: "aa".into() };
            match s.payments.check_covers(&account) {
                Err(e @ PaymentError::Insufficient { .. }) => {
                    assert!(e.to_string().starts_with("insufficient balance: need 8000000000 wei, have 0 wei"), "{e}")
                }
                other => panic!("{other:?}"),
            }
            let params = s.payments.issue(key.address(), key.address()).await.unwrap();
            assert_eq!(params.win_prob, U256::MAX);
            let receipt = s.payments.receive(&batch(&params, &key, &[1, 2]), key.address(), "aa").await.unwrap();
            assert_eq!(receipt.winners, 2);
            let queued = s.payments.queue().all().unwrap();
            assert_eq!(queued.len(), 2);
            assert_eq!(queued[0].winner.ticket, params.ticket(key.address(), 1));
            assert_eq!(ticket::recipient_rand_hash(queued[0].winner.recipient_rand), params.recipient_rand_hash);
            assert!(ticket::is_winning(&queued[0].winner.sig, queued[0].winner.recipient_rand, params.win_prob));
            // A debit larger than the credit leaves the next segment unpaid.
            let (fee, _) = s.payments.debit(&account, 10u64.pow(18));
            assert_eq!(fee, U256::from(15u64) * U256::from(10u64.pow(17)));
            assert!(matches!(s.payments.check_covers(&account), Err(PaymentError::Insufficient { .. })));
        });
    }
}
