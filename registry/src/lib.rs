//! Birthright's central registry: it enrols field devices, verifies and stores their signed
//! records, and appends a salted commitment of each (never personal data) to an RFC 6962
//! Merkle ledger with C2SP signed checkpoints, so anyone can prove history was never rewritten.

pub mod api;
pub mod head;
pub mod http;
pub mod keys;
pub mod local;
pub mod pg;
pub mod registrar;
pub mod sequencer;
pub mod service;
pub mod store;
pub mod tiles;
pub mod witness;

pub use service::{Registry, ServiceError};
