#![warn(missing_docs)]
//! Livepeer's broadcaster ↔ orchestrator protocol, for Livecast's browser broadcaster
//! (wasm32) and its transcoder nodes (native).
//!
//! - [`net`]: the `lp_rpc.proto` messages (prost), same names, field numbers and types as
//!   go-livepeer's, so the bytes on the wire are the same. With the `grpc` feature, also
//!   tonic's client and server for the `Orchestrator` service.
//! - [`NodeKey`], [`recover_signer`]: EIP-191 (`personal_sign`) signatures as go-livepeer's
//!   nodes make and check them (65 bytes, V 27/28, low S).
//! - [`segment`]: the bytes a broadcaster signs for each segment (go-livepeer's `Flatten`)
//!   and `SegData` helpers.
//! - [`result`]: the orchestrator's signature over a segment's renditions.
//! - [`discovery`]: the signed `OrchestratorRequest` and capability bits.
//! - [`profile`]: Livepeer's named transcoding profiles with typed settings.
//!
//! What it does not do: payments (tickets, balances) and networking; callers bring their
//! own HTTP client and server.

pub mod discovery;
mod error;
pub mod profile;
pub mod result;
pub mod segment;
mod sign;

pub use alloy_primitives::{keccak256, Address, B256};
pub use error::Error;
pub use profile::{CodecProfile, Profile};
pub use sign::{check_signature_form, recover_signer, verify_signer, NodeKey, Signature65};

/// The protobuf messages of `proto/lp_rpc.proto` (protobuf package `net`, as go-livepeer's).
#[allow(missing_docs, clippy::all)]
pub mod net {
    include!(concat!(env!("OUT_DIR"), "/net.rs"));
}

/// HTTP header carrying base64 (standard alphabet) protobuf `SegData`.
pub const SEGMENT_HEADER: &str = "Livepeer-Segment";
/// HTTP header carrying base64 (standard alphabet) protobuf `Payment`.
pub const PAYMENT_HEADER: &str = "Livepeer-Payment";
/// The gRPC method path of `GetOrchestrator`.
pub const GET_ORCHESTRATOR_PATH: &str = "/net.Orchestrator/GetOrchestrator";

#[cfg(test)]
mod tests;
