//! Compiles Cisco's openh264 C++ for the crate's target, native or `wasm32-unknown-unknown`.
//!
//! The sources are the ones the `openh264-sys2` crate ships in its `upstream/` folder (a
//! dependency of ours, so Cargo has already downloaded and checksummed them). That crate's
//! own build script has no wasm32 arm, so we leave its `source` feature off and build the
//! same four libraries here. Nothing from openh264 is copied into our repository.
//!
//! Why each wasm32 setting is there is explained in `docs/openh264-wasm.md`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The sub-libraries of openh264, in link order (a library before the ones it uses):
/// name, source folders (relative to `upstream/codec`), extra include folders.
const LIBRARIES: &[(&str, &[&str], &[&str])] = &[
    (
        "encoder",
        &["encoder/core", "encoder/plus"],
        &["encoder/core/inc", "encoder/plus/inc", "processing/interface"],
    ),
    ("decoder", &["decoder/core", "decoder/plus"], &["decoder/core/inc", "decoder/plus/inc"]),
    (
        "processing",
        &["processing/src"],
        &["processing/src/common", "processing/interface"],
    ),
    ("common", &["common/src"], &[]),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wasm-include");
    println!("cargo:rerun-if-env-changed=LIVECAST_OPENH264_SOURCE_DIR");
    println!("cargo:rerun-if-env-changed=LIVECAST_WASM_CXX");
    println!("cargo:rerun-if-env-changed=LIVECAST_WASI_SYSROOT_LIB");

    let codec = openh264_sys2_dir().join("upstream").join("codec");
    assert!(
        codec.join("api/wels/codec_api.h").exists(),
        "openh264 sources not found under {}",
        codec.display()
    );
    let wasm = env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));

    for (name, source_dirs, includes) in LIBRARIES {
        let mut build = cc::Build::new();
        build
            .cpp(true)
            .warnings(false)
            // A codec at -O0 is unusable even in tests: always optimise the C++.
            .opt_level(3)
            .debug(false)
            .define("NDEBUG", None)
            // Upstream's Makefile sets these; without them openh264 miscompiles.
            .flag_if_supported("-fno-strict-aliasing")
            .flag_if_supported("-fno-common")
            .include(codec.join("api/wels"))
            .include(codec.join("common/inc"));
        for include in *includes {
            build.include(codec.join(include));
        }
        if wasm {
            configure_wasm(&mut build, &manifest_dir);
        } else {
            build.pic(true);
        }
        for dir in *source_dirs {
            for file in cpp_files(&codec.join(dir)) {
                build.file(file);
            }
        }
        build.compile(&format!("livecast_openh264_{name}"));
    }

    if wasm {
        // wasi-libc supplies the few libc functions openh264 calls that are not shimmed in
        // src/wasm_runtime.rs (vsnprintf, strncpy, math). `-bundle`: linked into the final
        // .wasm, not packed into our rlib.
        let sysroot_lib = env::var("LIVECAST_WASI_SYSROOT_LIB")
            .unwrap_or_else(|_| "/usr/lib/wasm32-wasi".to_string());
        assert!(
            Path::new(&sysroot_lib).join("libc.a").exists(),
            "wasi-libc not found in {sysroot_lib}: install Debian's `wasi-libc` package \
             (or set LIVECAST_WASI_SYSROOT_LIB)"
        );
        println!("cargo:rustc-link-search=native={sysroot_lib}");
        println!("cargo:rustc-link-lib=static:-bundle=c");
    }
}

/// Flags that make openh264 compile for `wasm32-unknown-unknown` with Debian's clang and
/// wasi-libc headers (see docs/openh264-wasm.md).
fn configure_wasm(build: &mut cc::Build, manifest_dir: &Path) {
    let cxx = env::var("LIVECAST_WASM_CXX").unwrap_or_else(|_| "clang++-19".to_string());
    let ar = cxx.replace("clang++", "llvm-ar");
    build
        .compiler(&cxx)
        .archiver(&ar)
        .pic(false)
        // No libstdc++/libc++: the handful of C++ runtime symbols are Rust shims.
        .cpp_link_stdlib(None)
        // wasi's headers (stdio, string, math...) with our single-threaded stubs in front.
        .include(manifest_dir.join("wasm-include"))
        .flag("--target=wasm32-wasi")
        .flag("-fno-exceptions")
        .flag("-fno-rtti")
        .flag("-msimd128");
}

/// Every `.cpp` under `dir`, sorted, without the Windows-only `DllEntry.cpp`.
fn cpp_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("readable directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "cpp")
                && path.file_name().is_some_and(|n| n != "DllEntry.cpp")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The `openh264-sys2` version whose sources we build: keep equal to the `=` pin in Cargo.toml.
const OPENH264_SYS2_VERSION: &str = "0.9.9";

/// The folder of the `openh264-sys2` package Cargo downloaded as our dependency.
///
/// Cargo tells a build script nothing about its dependencies' sources. The package sits
/// in Cargo's registry cache (`$CARGO_HOME/registry/src/<index>/openh264-sys2-<version>`);
/// failing that (a custom layout), `cargo metadata` knows. `LIVECAST_OPENH264_SOURCE_DIR`
/// overrides both, for vendored or patched sources.
fn openh264_sys2_dir() -> PathBuf {
    if let Ok(dir) = env::var("LIVECAST_OPENH264_SOURCE_DIR") {
        return PathBuf::from(dir);
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let wanted = format!("openh264-sys2-{OPENH264_SYS2_VERSION}");
    if let Some(indexes) = cargo_home.and_then(|h| std::fs::read_dir(h.join("registry/src")).ok()) {
        for index in indexes.flatten() {
            let dir = index.path().join(&wanted);
            if dir.join("Cargo.toml").exists() {
                return dir;
            }
        }
    }
    from_cargo_metadata()
}

fn from_cargo_metadata() -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("Cargo.toml");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let manifest_path = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "openh264-sys2" && p["version"] == OPENH264_SYS2_VERSION)
        .and_then(|p| p["manifest_path"].as_str())
        .expect("openh264-sys2 is a dependency of livecast-openh264");
    Path::new(manifest_path).parent().expect("manifest has a folder").to_path_buf()
}
