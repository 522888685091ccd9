//! Compiles `proto/lp_rpc.proto` with prost (and, with the `grpc` feature, tonic's service
//! code). `protoc` comes from the `protoc-bin-vendored` crate unless `PROTOC` is set.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "proto/lp_rpc.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    #[cfg(feature = "grpc")]
    {
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .compile_with_config(config, &[PROTO], &["proto"])?;
    }
    #[cfg(not(feature = "grpc"))]
    config.compile_protos(&[PROTO], &["proto"])?;
    Ok(())
}
