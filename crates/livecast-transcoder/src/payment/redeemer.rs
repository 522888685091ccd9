//! The task that redeems queued winning tickets on chain: oldest first, one transaction at
//! a time (they share the node's account nonce), retrying transient failures with
//! exponential backoff, giving up on a contract revert (its reason is kept) or after
//! [`MAX_ATTEMPTS`]. A ticket the chain already counts as used is marked redeemed without
//! a new transaction (the node crashed after sending it; a used ticket always paid its
//! recipient). SQLite calls are short and run in place.

use super::chain::{ChainError, ChainView};
use super::queue::{now_ms, WinnerQueue};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Attempts before a ticket is given up on.
pub const MAX_ATTEMPTS: u32 = 12;
/// First retry delay; it doubles each attempt up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Delay before attempt `attempts + 1`.
pub fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1u32 << attempts.min(16)).min(MAX_BACKOFF)
}

/// Redeems one pass of due tickets. Returns how many were settled (redeemed or failed).
pub async fn redeem_due(queue: &WinnerQueue, chain: &ChainView) -> usize {
    let due = match queue.due(now_ms(), 32) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return 0;
        }
    };
    let mut settled = 0;
    for entry in due {
        let ticket = &entry.winner.ticket;
        let hash = ticket.hash();
        // A used ticket has paid its recipient, this node: an earlier attempt's transaction
        // went through before the node could record it (a crash in between).
        let outcome = match chain.chain().is_ticket_used(hash).await {
            Ok(true) => {
                tracing::info!(ticket = %hash, "winning ticket was redeemed by an earlier attempt");
                settled += 1;
                if let Err(e) = queue.mark_redeemed(entry.id, Default::default(), 0) {
                    tracing::error!("{e}");
                }
                continue;
            }
            Ok(false) => chain.chain().redeem(ticket, &entry.winner.sig, entry.winner.recipient_rand).await,
            Err(e) => Err(e),
        };
        let recorded = match &outcome {
            Ok(r) => {
                tracing::info!(ticket = %hash, sender = %ticket.sender, face_value = %ticket.face_value, tx = %r.tx_hash, gas = r.gas_used, "winning ticket redeemed");
                chain.forget_sender(ticket.sender);
                settled += 1;
                queue.mark_redeemed(entry.id, r.tx_hash, r.gas_used)
            }
            Err(ChainError::Reverted(reason)) => {
                tracing::error!(ticket = %hash, sender = %ticket.sender, "winning ticket cannot be redeemed: {reason}");
                settled += 1;
                queue.mark_failed(entry.id, &format!("reverted: {reason}"))
            }
            Err(ChainError::Unavailable(e)) if entry.attempts + 1 >= MAX_ATTEMPTS => {
                tracing::error!(ticket = %hash, "giving up on a winning ticket after {MAX_ATTEMPTS} attempts: {e}");
                settled += 1;
                queue.mark_failed(entry.id, &format!("gave up after {MAX_ATTEMPTS} attempts: {e}"))
            }
            Err(ChainError::Unavailable(e)) => {
                let wait = backoff(entry.attempts);
                tracing::warn!(ticket = %hash, attempt = entry.attempts + 1, retry_in_ms = wait.as_millis() as u64, "redemption failed: {e}");
                queue.retry_at(entry.id, e, now_ms() + wait.as_millis() as i64)
            }
        };
        if let Err(e) = recorded {
            tracing::error!("{e}");
        }
    }
    settled
}

/// Runs forever: first makes every pending ticket due, then redeems what is due, then sleeps until the next ticket is due, `wake` is
/// notified (a new winner), or a minute passes.
pub async fn run(queue: Arc<WinnerQueue>, chain: Arc<ChainView>, wake: Arc<Notify>) {
    match queue.all_due_now() {
        Ok(0) => {}
        Ok(n) => tracing::info!(pending = n, "redeeming winning tickets queued before the restart"),
        Err(e) => tracing::error!("{e}"),
    }
    loop {
        redeem_due(&queue, &chain).await;
        let wait = match queue.next_due_ms() {
            Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, 60_000) as u64),
            Ok(None) => Duration::from_secs(60),
            Err(e) => {
                tracing::error!("{e}");
                Duration::from_secs(5)
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
