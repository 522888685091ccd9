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

/// The folder of the `openh264-sys2` package Cargo downloaded as our dependency (see
/// `livecast_build_support::package_source_dir`; `LIVECAST_OPENH264_SOURCE_DIR` overrides it).
fn openh264_sys2_dir() -> PathBuf {
    livecast_build_support::package_source_dir("openh264-sys2", OPENH264_SYS2_VERSION, "LIVECAST_OPENH264_SOURCE_DIR")
}
