//! Birthright core: offline capture, validation, signing and encrypted storage of birth
//! registrations, plus the sync, ledger verification and credential logic devices run.
pub mod codec;
pub mod cose;
pub mod keys;
pub mod record;
pub mod store;
pub mod signed;
