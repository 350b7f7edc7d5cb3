//! End-to-end tests of the real `birthright` binary: registry processes on 127.0.0.1 with
//! ephemeral ports, devices driven through the CLI, and a loopback TCP proxy between them that
//! drops batch uploads, cuts answers after the registry committed, delays, duplicates and holds
//! them, routes some paths to another registry, and records every byte that crosses it.
//!
//! - `sync`: happy path, faults on the wire, a sync killed with a batch in flight, a checkpoint
//!   refreshed through a consistency proof, a revoked device, bad input.
//! - `tamper`: a forked ledger (a copy of the registry's data serving a different history) and
//!   an impostor registry (same origin, other keys).
//! - `browser`: the registrars' web workspace in headless Chromium over WebDriver
//!   (`webdriver.rs`): login, first-login password, queue, record with its duplicate
//!   candidate side by side, search, a decision, region limits; screenshots in each language.
//! - `conventions`: `--json` and JSON errors on every command, `-` for standard input, plain
//!   messages for broken forms, completions, `-v` diagnostics, the registry's request log,
//!   sync progress and its partial summary.
//! - `credentials`: QR credentials rendered by `credential` and checked by `verify`.
//! - `decisions`: late registrations acknowledged without a registered credential, decided
//!   by a registrar through the API (registered, rejected, sent back for correction); the
//!   device's next sync brings each decision, the registered credential `verify` accepts, and
//!   the worker's correction goes back.
//! - `device_cli`: the device commands' contract (correct, list filters, validation errors,
//!   storage keys).
//! - `duplicates`: the same child from two devices held for review, the registrar's decision;
//!   the device's own warning at capture.
//! - `enrolment`: the token never on the wire, the pin checked first, plain HTTP refused off
//!   this machine, a truncated store reported.
//! - `hardening`: output paths that are symlinks, endless inputs, store file modes, names with
//!   direction-changing characters.
//! - `limits`: a small request that inflates into millions of records costs the registry
//!   little memory.
//! - `monitor`: the ledger as C2SP tiles (served by `registry serve`, exported to a static
//!   mirror) followed by `birthright monitor`: 100 000 leaves verified through tiles alone, an
//!   altered tile hash and a forged checkpoint detected, a split view reported with both
//!   checkpoints.
//! - `postgres`: two registry processes on one PostgreSQL database, devices syncing through
//!   both (skipped without a server, unless `CI=true`).
//! - `registrar`: the registrars' workspace on a real process: the first administrator,
//!   one-time password, second factor, disabled users.
//! - `registry_admin`: token lifetimes capped, a restored registry refused until `recover`.
//! - `witnesses`: three witness processes and a quorum of two (one killed: still
//!   acknowledged; two killed: nothing acknowledged until they return, then exactly once), a
//!   forked registry the witnesses refuse, a witness SIGKILLed while two clients race it.
//!
//! (Answers altered field by field by a malicious registry are tested in process in
//! `registry/tests/ingest.rs`, where the test can hold the registry's keys.)

#[path = "e2e/browser.rs"]
mod browser;
#[path = "e2e/conventions.rs"]
mod conventions;
#[path = "e2e/credentials.rs"]
mod credentials;
#[path = "e2e/decisions.rs"]
mod decisions;
#[path = "e2e/device_cli.rs"]
mod device_cli;
#[path = "e2e/duplicates.rs"]
mod duplicates;
#[path = "e2e/enrolment.rs"]
mod enrolment;
#[path = "e2e/hardening.rs"]
mod hardening;
#[path = "e2e/limits.rs"]
mod limits;
#[path = "e2e/monitor.rs"]
mod monitor;
#[path = "e2e/postgres.rs"]
mod postgres;
#[path = "e2e/registrar.rs"]
mod registrar;
#[path = "e2e/registry_admin.rs"]
mod registry_admin;
#[path = "e2e/status.rs"]
mod status;
#[path = "e2e/support.rs"]
mod support;
#[path = "e2e/sync.rs"]
mod sync;
#[path = "e2e/tamper.rs"]
mod tamper;
#[path = "e2e/webdriver.rs"]
mod webdriver;
#[path = "e2e/witnesses.rs"]
mod witnesses;
