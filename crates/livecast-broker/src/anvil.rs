//! Starts the anvil binary installed by the npm package `@foundry-rs/anvil` (pinned in
//! package.json) on 127.0.0.1 and a free port, for tests, examples and the demo, and a few
//! anvil-only RPCs (mining blocks).

use std::path::{Path, PathBuf};

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::providers::Provider;
use alloy_primitives::U64;

use crate::client::BrokerClient;
use crate::{BrokerError, Result};

/// The platform package npm installs next to `@foundry-rs/anvil`.
fn platform_package() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("anvil-{os}-{arch}")
}

/// The anvil binary: `LIVECAST_ANVIL_BIN` if set, else
/// `node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil` in the current directory, the
/// workspace this crate was built in, or one of their parents.
pub fn anvil_path() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("LIVECAST_ANVIL_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(BrokerError::Anvil(format!("LIVECAST_ANVIL_BIN={} is not a file", bin.display())))
        };
    }
    let exe = if cfg!(windows) { "anvil.exe" } else { "anvil" };
    let rel = Path::new("node_modules").join("@foundry-rs").join(platform_package()).join("bin").join(exe);
    let mut starts = Vec::new();
    if let Ok(dir) = std::env::current_dir() {
        starts.push(dir);
    }
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for start in &starts {
        for dir in start.ancestors() {
            let candidate = dir.join(&rel);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(BrokerError::Anvil(format!(
        "{} not found from {} (run `npm ci` at the repository root: package @foundry-rs/anvil)",
        rel.display(),
        starts.first().map(|p| p.display().to_string()).unwrap_or_default()
    )))
}

/// Starts anvil on 127.0.0.1 and a free port. The instance knows its dev accounts' keys
/// (`keys()`, `addresses()`), its URL (`endpoint()`) and its process (`child().id()`); it
/// stops anvil when dropped.
pub fn spawn() -> Result<AnvilInstance> {
    let bin = anvil_path()?;
    Anvil::at(&bin)
        .host("127.0.0.1")
        .port(0u16)
        .try_spawn()
        .map_err(|e| BrokerError::Anvil(format!("{} did not start: {e}", bin.display())))
}

/// Mines `blocks` empty blocks (`anvil_mine`).
pub async fn mine(client: &BrokerClient, blocks: u64) -> Result<()> {
    if blocks == 0 {
        return Ok(());
    }
    client
        .provider()
        .raw_request::<_, ()>("anvil_mine".into(), (U64::from(blocks),))
        .await
        .map_err(|e| BrokerError::Rpc(format!("anvil_mine: {e}")))?;
    Ok(())
}

/// Mines up to the first block of round `current + rounds`; returns the new round.
pub async fn advance_rounds(client: &BrokerClient, rounds: u64) -> Result<u64> {
    let length = client.round_length().await?;
    let target = (client.current_round().await? + rounds) * length;
    let latest = client.provider().get_block_number().await.map_err(|e| BrokerError::Rpc(e.to_string()))?;
    if target > latest {
        mine(client, target - latest).await?;
    }
    client.current_round().await
}

/// Mines into round 1 if the chain is in round 0 (which has no block hash, so no ticket can
/// be made in it); returns the round.
pub async fn leave_round_zero(client: &BrokerClient) -> Result<u64> {
    if client.current_round().await? == 0 {
        return advance_rounds(client, 1).await;
    }
    client.current_round().await
}
