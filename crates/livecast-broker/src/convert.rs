//! Between `livecast_core::ticket::Ticket` (what is signed and sent) and the contract's
//! `Ticket` struct (what `redeemWinningTicket` and `getTicketHash` take).

use alloy_primitives::{Bytes, B256, U256};
use livecast_core::ticket::Ticket;

use crate::abi::TicketBroker;
use crate::{BrokerError, Result};

impl From<&Ticket> for TicketBroker::Ticket {
    fn from(t: &Ticket) -> Self {
        TicketBroker::Ticket {
            recipient: t.recipient,
            sender: t.sender,
            faceValue: t.face_value,
            winProb: t.win_prob,
            senderNonce: U256::from(t.sender_nonce),
            recipientRandHash: t.recipient_rand_hash,
            auxData: Bytes::from(t.aux_data()),
        }
    }
}

/// The core ticket a contract `Ticket` describes. Fails when the nonce does not fit a u32,
/// the auxData is neither empty nor 64 bytes, or the creation round does not fit an i64.
pub fn ticket_from_abi(t: &TicketBroker::Ticket) -> Result<Ticket> {
    let sender_nonce = u32::try_from(t.senderNonce)
        .map_err(|_| BrokerError::Config(format!("ticket senderNonce {} does not fit 32 bits", t.senderNonce)))?;
    let (creation_round, creation_round_block_hash) = match t.auxData.len() {
        0 => (0, B256::ZERO),
        64 => {
            let round = U256::from_be_slice(&t.auxData[..32]);
            let round = i64::try_from(round)
                .map_err(|_| BrokerError::Config(format!("ticket creationRound {round} does not fit 63 bits")))?;
            (round, B256::from_slice(&t.auxData[32..]))
        }
        n => return Err(BrokerError::Config(format!("ticket auxData is {n} bytes; expected 0 or 64"))),
    };
    Ok(Ticket {
        recipient: t.recipient,
        sender: t.sender,
        face_value: t.faceValue,
        win_prob: t.winProb,
        sender_nonce,
        recipient_rand_hash: t.recipientRandHash,
        creation_round,
        creation_round_block_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Address;

    fn sample() -> Ticket {
        Ticket {
            recipient: Address::repeat_byte(1),
            sender: Address::repeat_byte(2),
            face_value: U256::from(1_000_000u64),
            win_prob: U256::MAX / U256::from(3u64),
            sender_nonce: 7,
            recipient_rand_hash: B256::repeat_byte(3),
            creation_round: 12,
            creation_round_block_hash: B256::repeat_byte(4),
        }
    }

    #[test]
    fn round_trips() {
        let t = sample();
        let abi = TicketBroker::Ticket::from(&t);
        assert_eq!(abi.auxData.len(), 64);
        assert_eq!(U256::from_be_slice(&abi.auxData[..32]), U256::from(12u64));
        assert_eq!(ticket_from_abi(&abi).unwrap(), t);
    }

    #[test]
    fn bad_aux_data_and_nonce_are_errors() {
        let mut abi = TicketBroker::Ticket::from(&sample());
        abi.auxData = Bytes::from(vec![0u8; 63]);
        assert!(ticket_from_abi(&abi).unwrap_err().to_string().contains("63 bytes"));
        let mut abi = TicketBroker::Ticket::from(&sample());
        abi.senderNonce = U256::from(u64::MAX);
        assert!(ticket_from_abi(&abi).is_err());
    }
}
