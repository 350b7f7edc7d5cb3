//! Birthright core: offline capture, validation, signing and encrypted storage of birth
//! registrations, plus the sync, ledger verification and credential logic devices run.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod codec;
pub mod cose;
pub mod credential;
pub mod device;
pub mod enrol;
pub mod fixtures;
#[cfg(feature = "http-client")]
pub mod http_client;
pub mod keys;
pub mod ledger;
pub mod matching;
pub mod record;
pub mod redact;
pub mod signed;
pub mod sqlite;
pub mod status_list;
pub mod store;
pub mod sync;
pub mod trust;
#[cfg(feature = "uniffi")]
mod uniffi_types;
pub mod validate;
pub mod wire;
