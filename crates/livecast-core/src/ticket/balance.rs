//! What a sender has paid a recipient ahead of the work, and how many tickets a fee needs
//! (go-livepeer's `core/accounting.go`). Both ends keep the same books: the broadcaster to
//! decide how many tickets to send, the transcoder to decide whether a segment is paid for.

use alloy_primitives::{I256, U256};

use crate::Error;

/// A sender's credit with one recipient for one session, in wei. It can go negative when
/// a segment's actual fee exceeds what was estimated before it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance(I256);

fn signed(value: U256) -> I256 {
    I256::try_from(value).unwrap_or(I256::MAX)
}

impl Balance {
    /// A zero balance.
    pub fn new() -> Self {
        Self::default()
    }

    /// The credit in wei.
    pub fn get(&self) -> I256 {
        self.0
    }

    /// Adds `amount` (the expected value of accepted tickets).
    pub fn credit(&mut self, amount: U256) {
        self.0 = self.0.saturating_add(signed(amount));
    }

    /// Takes off `amount` (the fee of transcoded work).
    pub fn debit(&mut self, amount: U256) {
        self.0 = self.0.saturating_sub(signed(amount));
    }

    /// How many tickets of expected value `ev` to send before work costing `fee`:
    /// `minCredit = max(fee, ev)`; none when the balance already covers it, otherwise
    /// `ceil((minCredit − balance) / ev)`.
    pub fn tickets_needed(&self, fee: U256, ev: U256) -> Result<u32, Error> {
        if ev.is_zero() {
            return Err(Error::Ticket("ticket expected value is zero: the recipient's params cannot pay for anything".into()));
        }
        let min_credit = signed(fee.max(ev));
        if self.0 >= min_credit {
            return Ok(0);
        }
        let gap = min_credit.saturating_sub(self.0).unsigned_abs();
        let n = gap.div_ceil(ev);
        u32::try_from(n).map_err(|_| Error::Ticket(format!("a fee of {fee} wei would need {n} tickets of {ev} wei")))
    }
}

/// go-livepeer's fee estimate for one segment (`estimateFee`): the output pixels of every
/// rendition, `width × height × ceil(fps) × ceil(duration)`, with 2 % headroom and a frame
/// rate of 60 assumed where a profile leaves it open (0).
pub fn estimate_pixels(renditions: &[(u32, u32, f64)], duration_seconds: f64) -> u64 {
    let seconds = duration_seconds.max(0.0).ceil() as u64;
    let raw: u64 = renditions
        .iter()
        .map(|&(w, h, fps)| {
            let fps = if fps <= 0.0 { 60 } else { fps.ceil() as u64 };
            u64::from(w) * u64::from(h) * fps * seconds
        })
        .sum();
    // × 1.02, rounded up, in integers.
    (raw * 102).div_ceil(100)
}
