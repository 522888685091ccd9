//! `deploy_cli`: deploys the TicketBroker from the command line (wired as a subcommand of
//! the transcoder, and as `cargo run -p livecast-broker --example deploy`).

use std::path::PathBuf;

use alloy_primitives::Address;

use crate::client::{BrokerClient, BrokerConfig, TxSigner};
use crate::{anvil, BrokerError, Result};

/// Options of the deploy command.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// JSON-RPC URL of the chain.
    #[arg(long, env = "LIVECAST_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Deployer's private key (hex); without it the node's unlocked account `--dev-account` deploys.
    #[arg(long, env = "LIVECAST_DEPLOYER_KEY", conflicts_with = "dev_account", hide_env_values = true)]
    pub private_key: Option<String>,
    /// Index of the node's unlocked account that deploys (anvil's dev accounts), when no key is given.
    #[arg(long)]
    pub dev_account: Option<usize>,
    /// Rounds between unlock and withdrawal.
    #[arg(long, default_value_t = BrokerConfig::default().unlock_period)]
    pub unlock_period: u64,
    /// Rounds a ticket stays redeemable from its creation round (> 0).
    #[arg(long, default_value_t = BrokerConfig::default().ticket_validity_period)]
    pub ticket_validity_period: u64,
    /// Blocks per round (> 0).
    #[arg(long, default_value_t = BrokerConfig::default().round_length)]
    pub round_length: u64,
    /// File to write the broker's address to (one line, 0x…).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Local chains only: mine blocks (`anvil_mine`) into round 1 if the chain is in round 0,
    /// so tickets can be made right away.
    #[arg(long)]
    pub anvil_leave_round_zero: bool,
}

/// Deploys the broker as `args` say, prints its address on stdout, writes it to `--out`
/// when given, and returns it.
pub async fn deploy_cli(args: DeployArgs) -> Result<Address> {
    if args.ticket_validity_period == 0 || args.round_length == 0 {
        return Err(BrokerError::Config("--ticket-validity-period and --round-length must be at least 1".into()));
    }
    let signer = match &args.private_key {
        Some(key) => TxSigner::from_hex(key)?,
        None => TxSigner::DevAccount(args.dev_account.unwrap_or(0)),
    };
    let config = BrokerConfig {
        unlock_period: args.unlock_period,
        ticket_validity_period: args.ticket_validity_period,
        round_length: args.round_length,
    };
    let (client, outcome) = BrokerClient::deploy(&args.rpc_url, signer, config).await?;
    if args.anvil_leave_round_zero {
        anvil::leave_round_zero(&client).await?;
    }
    let address = client.address();
    eprintln!(
        "TicketBroker deployed at {address} (tx {}, {} gas; unlock {} rounds, tickets valid {} rounds, {} blocks per round)",
        outcome.hash, outcome.gas_used, config.unlock_period, config.ticket_validity_period, config.round_length
    );
    if let Some(path) = &args.out {
        tokio::fs::write(path, format!("{address}\n"))
            .await
            .map_err(|e| BrokerError::Config(format!("cannot write {}: {e}", path.display())))?;
    }
    println!("{address}");
    Ok(address)
}
