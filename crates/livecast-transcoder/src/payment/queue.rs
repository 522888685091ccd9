//! Winning tickets kept in SQLite until they are redeemed: a winner is written (and synced)
//! before the segment that carried it is answered, so a crash cannot lose it, and the
//! redeemer picks up whatever is still pending when the node starts again.

use livecast_core::ticket::{Address, Ticket, B256, U256};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// A queue operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("winning-ticket queue: {0}")]
pub struct QueueError(String);

impl QueueError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

/// A winning ticket and what redeeming it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Winner {
    /// The ticket.
    pub ticket: Ticket,
    /// The sender's 65-byte signature.
    pub sig: Vec<u8>,
    /// The node's secret random number the ticket was made against.
    pub recipient_rand: U256,
}

/// Where a queued ticket stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for (another) redemption attempt.
    Pending,
    /// Paid out on chain.
    Redeemed {
        /// The transaction.
        tx_hash: B256,
        /// Gas it used.
        gas_used: u64,
    },
    /// Will not be paid: the contract refused it, or attempts ran out.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One row of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// The ticket.
    pub winner: Winner,
    /// Its state.
    pub status: Status,
    /// Redemption attempts so far.
    pub attempts: u32,
    /// The last transient error, if any.
    pub last_error: Option<String>,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Waiting.
    pub pending: u64,
    /// Paid.
    pub redeemed: u64,
    /// Given up on.
    pub failed: u64,
}

/// The SQLite-backed queue.
#[derive(Debug)]
pub struct WinnerQueue {
    db: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS winning_tickets (
    id INTEGER PRIMARY KEY,
    ticket_hash BLOB NOT NULL UNIQUE,
    recipient BLOB NOT NULL,
    sender BLOB NOT NULL,
    face_value BLOB NOT NULL,
    win_prob BLOB NOT NULL,
    sender_nonce INTEGER NOT NULL,
    recipient_rand_hash BLOB NOT NULL,
    creation_round INTEGER NOT NULL,
    creation_round_block_hash BLOB NOT NULL,
    sig BLOB NOT NULL,
    recipient_rand BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'redeemed', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    tx_hash BLOB,
    gas_used INTEGER,
    queued_ms INTEGER NOT NULL,
    done_ms INTEGER
);
CREATE INDEX IF NOT EXISTS winning_tickets_due ON winning_tickets (status, next_attempt_ms);
";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

const COLUMNS: &str = "id, recipient, sender, face_value, win_prob, sender_nonce, recipient_rand_hash, creation_round, \
     creation_round_block_hash, sig, recipient_rand, status, attempts, last_error, tx_hash, gas_used";

fn fixed<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], rusqlite::Error> {
    bytes.try_into().map_err(|b: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            format!("{what} is {} bytes, expected {N}", b.len()).into(),
        )
    })
}

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let ticket = Ticket {
        recipient: Address::from(fixed::<20>(row.get(1)?, "recipient")?),
        sender: Address::from(fixed::<20>(row.get(2)?, "sender")?),
        face_value: U256::from_be_bytes(fixed::<32>(row.get(3)?, "face_value")?),
        win_prob: U256::from_be_bytes(fixed::<32>(row.get(4)?, "win_prob")?),
        sender_nonce: row.get(5)?,
        recipient_rand_hash: B256::from(fixed::<32>(row.get(6)?, "recipient_rand_hash")?),
        creation_round: row.get(7)?,
        creation_round_block_hash: B256::from(fixed::<32>(row.get(8)?, "creation_round_block_hash")?),
    };
    let winner = Winner { ticket, sig: row.get(9)?, recipient_rand: U256::from_be_bytes(fixed::<32>(row.get(10)?, "recipient_rand")?) };
    let status: String = row.get(11)?;
    let last_error: Option<String> = row.get(13)?;
    let status = match status.as_str() {
        "redeemed" => Status::Redeemed {
            tx_hash: B256::from(fixed::<32>(row.get::<_, Option<Vec<u8>>>(14)?.unwrap_or_default(), "tx_hash")?),
            gas_used: row.get::<_, Option<i64>>(15)?.unwrap_or(0) as u64,
        },
        "failed" => Status::Failed { reason: last_error.clone().unwrap_or_default() },
        _ => Status::Pending,
    };
    Ok(Entry { id: row.get(0)?, winner, status, attempts: row.get(12)?, last_error })
}

impl WinnerQueue {
    /// Opens (or creates) the queue in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let db = Connection::open(path).map_err(|e| QueueError(format!("open {}: {e}", path.display())))?;
        // WAL with FULL sync: a committed insert survives a crash of the process or the host.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        Ok(Self { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        super::chain::lock(&self.db)
    }

    /// Adds winners in one transaction; a ticket already queued is left as it is. Returns
    /// how many were new.
    pub fn enqueue(&self, winners: &[Winner]) -> Result<usize, QueueError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO winning_tickets (ticket_hash, recipient, sender, face_value, win_prob, sender_nonce, \
                 recipient_rand_hash, creation_round, creation_round_block_hash, sig, recipient_rand, queued_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for w in winners {
                let t = &w.ticket;
                added += insert.execute(params![
                    t.hash().as_slice(),
                    t.recipient.as_slice(),
                    t.sender.as_slice(),
                    t.face_value.to_be_bytes::<32>().as_slice(),
                    t.win_prob.to_be_bytes::<32>().as_slice(),
                    t.sender_nonce,
                    t.recipient_rand_hash.as_slice(),
                    t.creation_round,
                    t.creation_round_block_hash.as_slice(),
                    w.sig,
                    w.recipient_rand.to_be_bytes::<32>().as_slice(),
                    now_ms(),
                ])?;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Pending tickets whose next attempt is due at `now_ms`, oldest first.
    pub fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Entry>, QueueError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM winning_tickets WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now_ms, limit as i64], entry)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// When the next pending ticket is due (ms since the epoch), if any is pending.
    pub fn next_due_ms(&self) -> Result<Option<i64>, QueueError> {
        let db = self.db();
        let next: Option<i64> =
            db.query_row("SELECT MIN(next_attempt_ms) FROM winning_tickets WHERE status = 'pending'", [], |r| r.get(0))?;
        Ok(next)
    }

    /// Makes every pending ticket due now (at start: a restart retries at once whatever was
    /// waiting out a backoff). Returns how many are pending.
    pub fn all_due_now(&self) -> Result<usize, QueueError> {
        Ok(self.db().execute("UPDATE winning_tickets SET next_attempt_ms = 0 WHERE status = 'pending'", [])?)
    }

    /// Records a payout.
    pub fn mark_redeemed(&self, id: i64, tx_hash: B256, gas_used: u64) -> Result<(), QueueError> {
        self.db().execute(
            "UPDATE winning_tickets SET status = 'redeemed', tx_hash = ?2, gas_used = ?3, attempts = attempts + 1, done_ms = ?4 WHERE id = ?1",
            params![id, tx_hash.as_slice(), gas_used as i64, now_ms()],
        )?;
        Ok(())
    }

    /// Gives up on a ticket, with the reason.
    pub fn mark_failed(&self, id: i64, reason: &str) -> Result<(), QueueError> {
        self.db().execute(
            "UPDATE winning_tickets SET status = 'failed', last_error = ?2, attempts = attempts + 1, done_ms = ?3 WHERE id = ?1",
            params![id, reason, now_ms()],
        )?;
        Ok(())
    }

    /// Counts a failed attempt and schedules the next one at `next_ms`.
    pub fn retry_at(&self, id: i64, error: &str, next_ms: i64) -> Result<(), QueueError> {
        self.db().execute(
            "UPDATE winning_tickets SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
            params![id, error, next_ms],
        )?;
        Ok(())
    }

    /// One ticket by its hash.
    pub fn get(&self, ticket_hash: B256) -> Result<Option<Entry>, QueueError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(&format!("SELECT {COLUMNS} FROM winning_tickets WHERE ticket_hash = ?1"))?;
        Ok(stmt.query_row(params![ticket_hash.as_slice()], entry).optional()?)
    }

    /// Every ticket, oldest first.
    pub fn all(&self) -> Result<Vec<Entry>, QueueError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(&format!("SELECT {COLUMNS} FROM winning_tickets ORDER BY id"))?;
        let rows = stmt.query_map([], entry)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many tickets are in each state.
    pub fn counts(&self) -> Result<Counts, QueueError> {
        let db = self.db();
        let mut stmt = db.prepare_cached("SELECT status, COUNT(*) FROM winning_tickets GROUP BY status")?;
        let mut counts = Counts::default();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (status, n) = row?;
            match status.as_str() {
                "pending" => counts.pending = n as u64,
                "redeemed" => counts.redeemed = n as u64,
                _ => counts.failed = n as u64,
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn winner(nonce: u32) -> Winner {
        Winner {
            ticket: Ticket {
                recipient: Address::repeat_byte(1),
                sender: Address::repeat_byte(2),
                face_value: U256::from(1000u64),
                win_prob: U256::MAX,
                sender_nonce: nonce,
                recipient_rand_hash: B256::repeat_byte(3),
                creation_round: 7,
                creation_round_block_hash: B256::repeat_byte(4),
            },
            sig: vec![5; 65],
            recipient_rand: U256::from(123456789u64),
        }
    }

    #[test]
    fn queued_winners_survive_reopening_and_move_through_states() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tickets.sqlite");
        {
            let q = WinnerQueue::open(&path).unwrap();
            assert_eq!(q.enqueue(&[winner(1), winner(2), winner(3)]).unwrap(), 3);
            // The same ticket again is ignored.
            assert_eq!(q.enqueue(&[winner(1)]).unwrap(), 0);
        }
        let q = WinnerQueue::open(&path).unwrap();
        let due = q.due(now_ms(), 10).unwrap();
        assert_eq!(due.len(), 3);
        assert_eq!(due[0].winner, winner(1));
        assert_eq!(due[0].status, Status::Pending);

        q.mark_redeemed(due[0].id, B256::repeat_byte(9), 87_000).unwrap();
        q.mark_failed(due[1].id, "ticket is expired").unwrap();
        q.retry_at(due[2].id, "connection refused", now_ms() + 60_000).unwrap();
        assert!(q.due(now_ms(), 10).unwrap().is_empty(), "the retry is not due yet");
        assert!(q.next_due_ms().unwrap().unwrap() > now_ms());
        assert_eq!(q.counts().unwrap(), Counts { pending: 1, redeemed: 1, failed: 1 });

        let all = q.all().unwrap();
        assert_eq!(all[0].status, Status::Redeemed { tx_hash: B256::repeat_byte(9), gas_used: 87_000 });
        assert_eq!(all[1].status, Status::Failed { reason: "ticket is expired".into() });
        assert_eq!((all[2].attempts, all[2].last_error.as_deref()), (1, Some("connection refused")));
        assert_eq!(q.get(winner(3).ticket.hash()).unwrap().unwrap().id, all[2].id);
        // A restart makes the waiting ticket due at once.
        assert_eq!(q.all_due_now().unwrap(), 1);
        assert_eq!(q.due(now_ms(), 10).unwrap()[0].id, all[2].id);
        assert!(q.get(B256::ZERO).unwrap().is_none());
    }
}
