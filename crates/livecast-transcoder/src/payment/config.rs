//! How a node prices its tickets: expected value, face value and winning probability, as
//! go-livepeer's `pm/recipient.go` derives them, plus the expiry and cache settings.

use livecast_core::ticket::{self, U256};
use std::time::Duration;

/// go-livepeer's default expected value of one ticket, in wei (`-ticketEV`).
pub const DEFAULT_TICKET_EV: u128 = 8_000_000_000;
/// Gas a `redeemWinningTicket` transaction is budgeted at (go-livepeer's L1 figure).
pub const DEFAULT_REDEEM_GAS: u64 = 350_000;
/// go-livepeer's `txCostMultiplier`: a winning ticket pays at least this many times the
/// cost of redeeming it.
pub const TX_COST_MULTIPLIER: u64 = 100;
/// go-livepeer's `evMultiplier`: the face value is at least this many expected values.
pub const EV_MULTIPLIER: u64 = 100;
/// Blocks a set of ticket params stays valid for (go-livepeer: last L1 block + 40).
pub const DEFAULT_EXPIRATION_BLOCKS: u64 = 40;
/// Rounds after its creation round a ticket can still be redeemed (Livepeer's
/// `ticketValidityPeriod`).
pub const DEFAULT_VALIDITY_ROUNDS: i64 = 2;

/// A node's ticket settings.
#[derive(Debug, Clone)]
pub struct TicketConfig {
    /// Expected value of one ticket, wei.
    pub ticket_ev: U256,
    /// Gas budgeted for one redemption.
    pub redeem_gas: u64,
    /// Highest face value issued, wei (none: no cap beyond the sender's funds).
    pub max_face_value: Option<U256>,
    /// Test and demo override: every ticket wins with this probability (0 < p ≤ 1), so
    /// winners and redemptions show up in seconds. The face value stays as computed.
    pub win_prob_fraction: Option<f64>,
    /// Blocks the issued params stay valid for.
    pub expiration_blocks: u64,
    /// Rounds a ticket stays redeemable after its creation round.
    pub validity_rounds: i64,
    /// How long a sender's deposit and reserve read from the chain are trusted.
    pub sender_cache_ttl: Duration,
    /// How long the chain's block number, round and gas price are trusted.
    pub chain_cache_ttl: Duration,
}

impl Default for TicketConfig {
    fn default() -> Self {
        Self {
            ticket_ev: U256::from(DEFAULT_TICKET_EV),
            redeem_gas: DEFAULT_REDEEM_GAS,
            max_face_value: None,
            win_prob_fraction: None,
            expiration_blocks: DEFAULT_EXPIRATION_BLOCKS,
            validity_rounds: DEFAULT_VALIDITY_ROUNDS,
            sender_cache_ttl: Duration::from_secs(5),
            chain_cache_ttl: Duration::from_secs(1),
        }
    }
}

impl TicketConfig {
    /// The face value for a sender with `sender_float` wei of deposit plus reserve, at
    /// `gas_price` wei: `redeemGas × gasPrice × 100`, raised to `ticketEV × 100`, capped by
    /// `max_face_value` and by the sender's funds when it has any (an unfunded sender gets the
    /// uncapped value; its tickets are refused when they arrive).
    pub fn face_value(&self, gas_price: U256, sender_float: U256) -> U256 {
        let tx_cost = U256::from(self.redeem_gas).saturating_mul(gas_price);
        let mut face = tx_cost.saturating_mul(U256::from(TX_COST_MULTIPLIER));
        let floor = self.ticket_ev.saturating_mul(U256::from(EV_MULTIPLIER));
        if face < floor {
            face = floor;
        }
        if let Some(max) = self.max_face_value {
            face = face.min(max);
        }
        if !sender_float.is_zero() && sender_float < face && sender_float >= self.ticket_ev {
            face = sender_float;
        }
        face
    }

    /// The winning probability for `face_value`: go-livepeer's `EV × ceil((2^256 − 1) /
    /// faceValue)`, or the configured fraction of 2^256 − 1.
    pub fn win_prob(&self, face_value: U256) -> U256 {
        match self.win_prob_fraction {
            Some(p) => fraction_of_max(p),
            None => ticket::win_prob_for(self.ticket_ev, face_value).unwrap_or(ticket::MAX_WIN_PROB),
        }
    }
}

/// `p × (2^256 − 1)` for 0 < p ≤ 1 (1 and above: always wins), with 53 bits of precision.
pub fn fraction_of_max(p: f64) -> U256 {
    // NaN and p ≤ 0 never win.
    if p.is_nan() || p <= 0.0 {
        return U256::ZERO;
    }
    if p >= 1.0 {
        return ticket::MAX_WIN_PROB;
    }
    // p = m / 2^53 with m < 2^53; p × 2^256 = m × 2^203.
    let m = (p * (1u64 << 53) as f64) as u64;
    U256::from(m) << 203
}

/// Parses a `--win-prob-fraction` value: a number in (0, 1].
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let p: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if p.is_nan() || p <= 0.0 || p > 1.0 {
        return Err(format!("{p} is not in (0, 1]"));
    }
    Ok(p)
}

/// Parses a wei amount: decimal digits, or a decimal with an exponent such as `8e9`.
pub fn parse_wei(text: &str) -> Result<U256, String> {
    let text = text.trim();
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<usize>().map_err(|_| format!("{text:?}: bad exponent"))?),
        None => (text, 0),
    };
    if mantissa.is_empty() || !mantissa.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a whole number of wei"));
    }
    let digits = format!("{mantissa}{}", "0".repeat(exp));
    U256::from_str_radix(&digits, 10).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_value_follows_go_livepeer() {
        let config = TicketConfig::default();
        // 350k gas × 1 gwei × 100 = 3.5e16 wei, above EV × 100 = 8e11.
        let gwei = U256::from(1_000_000_000u64);
        assert_eq!(config.face_value(gwei, U256::ZERO), U256::from(35_000_000_000_000_000u64));
        // Free gas: raised to EV × 100.
        assert_eq!(config.face_value(U256::ZERO, U256::ZERO), U256::from(800_000_000_000u64));
        // Capped by the sender's funds, unless they are below one EV.
        assert_eq!(config.face_value(gwei, U256::from(10u64.pow(15))), U256::from(10u64.pow(15)));
        assert_eq!(config.face_value(gwei, U256::from(5u64)), U256::from(35_000_000_000_000_000u64));
        let capped = TicketConfig { max_face_value: Some(U256::from(1000u64)), ..config };
        assert_eq!(capped.face_value(gwei, U256::ZERO), U256::from(1000u64));
    }

    #[test]
    fn win_prob_gives_the_expected_value() {
        let config = TicketConfig::default();
        let face = U256::from(800_000_000_000u64);
        let ev = ticket::expected_value(face, config.win_prob(face));
        assert!(ev <= config.ticket_ev && config.ticket_ev - ev <= U256::from(1u64), "{ev}");
        let half = TicketConfig { win_prob_fraction: Some(0.5), ..TicketConfig::default() };
        assert_eq!(half.win_prob(face), U256::from(1u64) << 255);
        let always = TicketConfig { win_prob_fraction: Some(1.0), ..TicketConfig::default() };
        assert_eq!(always.win_prob(face), ticket::MAX_WIN_PROB);
    }

    #[test]
    fn parses_amounts_and_fractions() {
        assert_eq!(parse_wei("8e9").unwrap(), U256::from(8_000_000_000u64));
        assert_eq!(parse_wei("1234").unwrap(), U256::from(1234u64));
        assert!(parse_wei("-1").is_err());
        assert!(parse_wei("1.5e9").is_err());
        assert_eq!(parse_fraction("0.5").unwrap(), 0.5);
        assert!(parse_fraction("0").is_err());
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("nan").is_err());
    }
}
