//! Birthright core: offline capture, validation, signing and encrypted storage of birth
//! registrations, plus the sync, ledger verification and credential logic devices run.
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
pub mod status_list;
pub mod store;
pub mod sync;
pub mod trust;
pub mod validate;
pub mod wire;
