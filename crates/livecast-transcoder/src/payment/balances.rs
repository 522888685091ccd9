//! Credit per (sender, session key, session): the expected value of accepted tickets minus
//! the fees of transcoded segments (go-livepeer `core/accounting.go` `Balances`, keyed by
//! the session key too, so a wallet's credit in one session can only be spent by the key
//! that session belongs to).

use livecast_core::ticket::{Address, Balance, I256, U256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Whose credit: the ticket sender, the key that signs the segments, the session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account {
    /// Whose deposit pays (the `Payment` sender).
    pub sender: Address,
    /// Who signs the segments.
    pub signer: Address,
    /// The auth token's session id.
    pub session: String,
}

#[derive(Debug)]
struct Book {
    balance: Balance,
    /// Expected value of the last tickets credited: what a segment must be covered by.
    ev: Option<U256>,
    touched: Instant,
}

/// All balances.
#[derive(Debug, Default)]
pub struct Balances {
    books: HashMap<Account, Book>,
}

/// Balances untouched for this long are dropped (auth tokens last 30 minutes).
const IDLE: Duration = Duration::from_secs(2 * 60 * 60);

impl Balances {
    fn book(&mut self, account: &Account) -> &mut Book {
        if self.books.len() > 100_000 {
            self.books.retain(|_, b| b.touched.elapsed() < IDLE);
        }
        let book = self.books.entry(account.clone()).or_insert_with(|| Book { balance: Balance::new(), ev: None, touched: Instant::now() });
        book.touched = Instant::now();
        book
    }

    /// Adds `count` tickets of expected value `ev`. Returns the new balance.
    pub fn credit(&mut self, account: &Account, ev: U256, count: usize) -> I256 {
        let book = self.book(account);
        book.balance.credit(ev.saturating_mul(U256::from(count)));
        book.ev = Some(ev);
        book.balance.get()
    }

    /// Takes a segment's fee off. Returns the new balance.
    pub fn debit(&mut self, account: &Account, fee: U256) -> I256 {
        let book = self.book(account);
        book.balance.debit(fee);
        book.balance.get()
    }

    /// The balance (zero for an unknown account).
    pub fn get(&self, account: &Account) -> I256 {
        self.books.get(account).map_or(I256::ZERO, |b| b.balance.get())
    }

    /// Livepeer's rule for taking a segment: the balance covers one ticket's expected value
    /// (the last credited tickets', or `default_ev` before any). `Err((need, have))` otherwise.
    pub fn check_covers(&self, account: &Account, default_ev: U256) -> Result<(), (U256, I256)> {
        let (have, ev) = self.books.get(account).map_or((I256::ZERO, None), |b| (b.balance.get(), b.ev));
        let need = ev.unwrap_or(default_ev);
        let need_signed = I256::try_from(need).unwrap_or(I256::MAX);
        if need.is_zero() || have >= need_signed {
            Ok(())
        } else {
            Err((need, have))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(session: &str) -> Account {
        Account { sender: Address::repeat_byte(1), signer: Address::repeat_byte(2), session: session.into() }
    }

    #[test]
    fn credit_debit_and_the_cover_rule() {
        let mut b = Balances::default();
        let a = account("aa");
        let ev = U256::from(1000u64);
        assert_eq!(b.check_covers(&a, ev), Err((ev, I256::ZERO)));
        assert_eq!(b.credit(&a, ev, 3), I256::try_from(3000).unwrap());
        assert!(b.check_covers(&a, ev).is_ok());
        assert_eq!(b.debit(&a, U256::from(2500u64)), I256::try_from(500).unwrap());
        assert_eq!(b.check_covers(&a, ev), Err((ev, I256::try_from(500).unwrap())));
        // Debt carries over.
        b.debit(&a, U256::from(700u64));
        assert_eq!(b.get(&a), I256::try_from(-200).unwrap());
        // Other sessions are separate.
        assert_eq!(b.get(&account("bb")), I256::ZERO);
    }
}
