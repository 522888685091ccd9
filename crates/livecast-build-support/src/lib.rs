//! Build-script helpers for Livecast's codec crates, which compile the C++ another crate
//! ships (its own build has no wasm32 arm) rather than building that crate.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder Cargo unpacked `package` `version` (a dependency of the crate being built)
/// into. Cargo tells a build script nothing about its dependencies' sources: the package
/// sits in Cargo's registry cache (`$CARGO_HOME/registry/src/<index>/<package>-<version>`);
/// failing that (a custom layout), `cargo metadata` knows (and downloads it if a build for
/// another target did not). The environment variable `override_var` overrides both, for
/// vendored or patched sources. Panics, as a build script should, when none has it.
pub fn package_source_dir(package: &str, version: &str, override_var: &str) -> PathBuf {
    if let Ok(dir) = env::var(override_var) {
        return PathBuf::from(dir);
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let wanted = format!("{package}-{version}");
    if let Some(indexes) = cargo_home.and_then(|h| std::fs::read_dir(h.join("registry/src")).ok()) {
        for index in indexes.flatten() {
            let dir = index.path().join(&wanted);
            if dir.join("Cargo.toml").exists() {
                return dir;
            }
        }
    }
    from_cargo_metadata(package, version)
}

fn from_cargo_metadata(package: &str, version: &str) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("Cargo.toml");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let manifest_path = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == package && p["version"] == version)
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("{package} {version} is not in cargo metadata: is it a dependency of this crate at that version?"));
    Path::new(manifest_path).parent().expect("manifest has a folder").to_path_buf()
}
