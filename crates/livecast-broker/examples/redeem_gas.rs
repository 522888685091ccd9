//! Gas used by `redeemWinningTicket` on a real anvil (from the npm package): a ticket paid
//! from the deposit, a first and a later one paid partly from the reserve, and a batch of
//! winners redeemed one transaction each. Prints one line per case and a JSON summary line
//! for benchmark scripts.
//!
//!     cargo run -p livecast-broker --example redeem_gas

use alloy::signers::local::PrivateKeySigner;
use livecast_broker::{anvil, BrokerClient, BrokerConfig, TxSigner};
use livecast_core::ticket::{recipient_rand_hash, Ticket, MAX_WIN_PROB, U256};
use livecast_protocol::NodeKey;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = anvil::spawn()?;
    let url = node.endpoint();
    let (deployer, deployed) = BrokerClient::deploy(&url, TxSigner::DevAccount(0), BrokerConfig::default()).await?;
    anvil::leave_round_zero(&deployer).await?;
    let recipient = BrokerClient::connect(&url, TxSigner::Key(PrivateKeySigner::from(node.keys()[2].clone())), deployer.address()).await?;
    let key = NodeKey::generate()?;

    let redeem = |face: U256, nonce: u32| {
        let (recipient, key) = (&recipient, &key);
        async move {
            let (round, hash) = recipient.ticket_round().await?;
            let rand = U256::from(1_000_000u64 + u64::from(nonce));
            let ticket = Ticket {
                recipient: recipient.from().expect("signer"),
                sender: key.address(),
                face_value: face,
                win_prob: MAX_WIN_PROB,
                sender_nonce: nonce,
                recipient_rand_hash: recipient_rand_hash(rand),
                creation_round: round,
                creation_round_block_hash: hash,
            };
            let sig = ticket.sign(key)?;
            Ok::<_, Box<dyn std::error::Error>>(recipient.redeem_winning_ticket(&ticket, &sig, rand).await?.gas_used)
        }
    };

    // Deposit covers 10 tickets of 1e15 wei; the reserve pays the rest.
    let face = U256::from(1_000_000_000_000_000u64);
    deployer.fund_deposit_and_reserve_for(key.address(), face * U256::from(10u64), face * U256::from(100u64)).await?;
    let mut from_deposit = Vec::new();
    for nonce in 1..=10 {
        from_deposit.push(redeem(face, nonce).await?);
    }
    let first_reserve = redeem(face, 11).await?;
    let later_reserve = redeem(face, 12).await?;

    let mean = from_deposit.iter().sum::<u64>() / from_deposit.len() as u64;
    println!("deployment: {} gas", deployed.gas_used);
    println!("redeemWinningTicket, paid from the deposit: {} gas (first), {} gas (mean of {})", from_deposit[0], mean, from_deposit.len());
    println!("redeemWinningTicket, deposit empty, paid from the reserve: {first_reserve} gas (first claim this round), {later_reserve} gas (later)");
    println!(
        "for scale: go-livepeer budgets 350,000 gas per redemption on L1 and 1,200,000 on L2 when it sets face values \
         (a budget that covers Livepeer's contract with its BondingManager fee pool, not a measurement)"
    );
    println!(
        "{{\"redeemGasFromDeposit\":{mean},\"redeemGasFromReserveFirst\":{first_reserve},\"redeemGasFromReserve\":{later_reserve},\"deployGas\":{}}}",
        deployed.gas_used
    );
    Ok(())
}
