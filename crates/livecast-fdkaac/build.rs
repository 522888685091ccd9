//! Compiles the encoder half of Fraunhofer's FDK AAC (C++) for the crate's target, native
//! or `wasm32-unknown-unknown`.
//!
//! The sources are the ones the `fdk-aac-sys` crate ships in its `aac/` folder (locked and
//! downloaded by Cargo as a never-built dependency of ours, see Cargo.toml). Nothing from
//! FDK AAC is copied into our repository. Why each setting is there: `docs/fdk-aac-wasm.md`.

use std::env;
use std::path::{Path, PathBuf};

/// The encoder's libraries (folders under `aac/`): the AAC core, its bit-stream transport
/// (ADTS), the generic DSP and system layers, PCM utilities, and the SBR and MPEG Surround
/// encoders that `aacenc_lib.cpp` links to even when they are not used (AAC-LC).
const LIBRARIES: &[&str] = &["libAACenc", "libFDK", "libSYS", "libMpegTPEnc", "libSBRenc", "libPCMutils", "libSACenc"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIVECAST_FDKAAC_SOURCE_DIR");
    println!("cargo:rerun-if-env-changed=LIVECAST_WASM_CXX");

    let aac = fdk_aac_sys_dir().join("aac");
    assert!(
        aac.join("libAACenc/include/aacenc_lib.h").exists(),
        "FDK AAC sources not found under {}",
        aac.display()
    );
    let wasm = env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .warnings(false)
        // A codec at -O0 is too slow even for tests: always optimise the C++.
        .opt_level(3)
        .debug(false)
        .define("NDEBUG", None)
        // The sources use FDK_FALLTHROUGH for switch fall-through; Android's build defines
        // it empty, as fdk-aac-sys does.
        .define("FDK_FALLTHROUGH", Some(""))
        // On x86 FDK swaps some portable helpers for its own (`libFDK/include/x86/`): float
        // versions of sqrtFixp, invSqrtNorm2, invFixp and schur_div, and multiplies whose
        // "bit-exact" variants drop the lowest bit. Their results differ from the portable
        // integer code that every other target, wasm32 included, runs. Marking those headers
        // as already included keeps the portable code, so native and wasm output are
        // byte-identical.
        .define("FIXPOINT_MATH_X86_H", None)
        .define("FIXMUL_X86_H", None)
        .define("ABS_X86_H", None)
        .define("CLZ_X86_H", None)
        // The library needs no C++ runtime: no exceptions, no RTTI, no libstdc++.
        .flag_if_supported("-fno-exceptions")
        .flag_if_supported("-fno-rtti")
        .cpp_link_stdlib(None);
    for lib in LIBRARIES {
        build.include(aac.join(lib).join("include"));
    }
    if wasm {
        let cxx = env::var("LIVECAST_WASM_CXX").unwrap_or_else(|_| "clang++-19".to_string());
        let ar = cxx.replace("clang++", "llvm-ar");
        build
            .compiler(&cxx)
            .archiver(&ar)
            .pic(false)
            // wasi-libc's headers for <stdio.h>, <string.h>, <stdlib.h>; the object code is
            // plain wasm32.
            .flag("--target=wasm32-wasi")
            .flag("-msimd128")
            // FDK picks its table precision by architecture (`FDK_archdef.h`): x86 gets
            // 16-bit sine/window/pow2/ld tables and 32x16 multiplies, an unknown target
            // (wasm32) 32-bit ones and a `#warning`. Characterising wasm32 like x86 makes
            // it run exactly the native build's arithmetic; the x86 assembly and float
            // helpers stay out through the header guards defined above.
            .define("__x86__", None);
    } else {
        build.pic(true);
    }
    for lib in LIBRARIES {
        for file in cpp_files(&aac.join(lib).join("src")) {
            build.file(file);
        }
    }
    build.compile("livecast_fdkaac");

    // On wasm32 the library's libc references (mem*, str*, stdio, malloc) are resolved by
    // livecast-openh264, a dependency on that target: its rlib defines the allocator and it
    // links wasi-libc's `libc.a` after itself. Naming `libc.a` here too would put it in
    // front of that rlib and pull in libc's own malloc (a duplicate symbol).
}

/// Every `.cpp` directly in `dir`, sorted.
fn cpp_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    files.sort();
    files
}

/// The `fdk-aac-sys` version whose sources we build: keep equal to the `=` pin in Cargo.toml.
const FDK_AAC_SYS_VERSION: &str = "0.5.0";

/// The folder of the `fdk-aac-sys` package Cargo downloaded as our dependency (see
/// `livecast_build_support::package_source_dir`; `LIVECAST_FDKAAC_SOURCE_DIR` overrides it).
fn fdk_aac_sys_dir() -> PathBuf {
    livecast_build_support::package_source_dir("fdk-aac-sys", FDK_AAC_SYS_VERSION, "LIVECAST_FDKAAC_SOURCE_DIR")
}
