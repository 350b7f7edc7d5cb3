//! Registry storage behind one narrow trait, [`RegistryStore`], so the HTTP layer and the
//! service hold no SQL; the PostgreSQL backend ([`crate::pg::PgStore`]) sits beside
//! [`SqliteStore`].
//!
//! The ledger's logic (dedupe, salts, leaves, nodes, sealing, checkpoint signing, the fork
//! check) is not here but in [`crate::sequencer::Sequencer`], shared by every backend; this
//! module is the SQLite backend ([`SqliteLedger`], the sequencer's [`LedgerTx`]) and the SQL
//! of tokens, devices and revocations.
//!
//! SQLite, through the helper the device store shares (`birthright_core::sqlite`): WAL,
//! `synchronous=FULL`, numbered migrations in `PRAGMA user_version`, and every multi-step
//! write (enrolment, a whole batch) in one `IMMEDIATE` transaction. One connection behind a
//! mutex is the write lock: concurrent batches are applied one after another. Reads
//! (checkpoint, proofs, leaves, devices, lists) go through a few separate read-only
//! connections, so they never wait for that lock (WAL readers see the last committed state).
//!
//! Records are keyed by (device key id, record id): a record id belongs to the device that
//! signed it, so a record another device sends under the same id can never displace it. Every
//! sequenced record also gets a row in `ledger_records` (no personal data), which is never
//! deleted: a record erased from `records` is still known to be on the ledger.

use std::{
    path::{Path, PathBuf},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
};

use birthright_core::{
    keys::KeyId,
    ledger::{Hash, LedgerError, checkpoint::Checkpoint},
    sqlite,
    store::StorageKey,
    trust::Revocation,
    wire::{DecidedBy, DecisionKind, DecisionReason},
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::sequencer::{Ledger, LedgerBackend, LedgerTx, NewRecord, Sequencer, StoredPlacement};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database backend failed (SQLite today; any backend maps its errors here, so the
    /// trait does not name one).
    #[error("database error: {0}")]
    Backend(String),
    /// The database server cannot be reached or dropped the connection: nothing was
    /// committed by the failed call; the next call connects again.
    #[error("the database is unavailable ({0}); try again shortly")]
    Unavailable(String),
    /// The ledger's stored nodes are inconsistent.
    #[error("ledger storage: {0}")]
    Ledger(#[from] LedgerError),
    /// Stored data failed to decrypt or decode.
    #[error("stored data is damaged: {0}")]
    Damaged(String),
    /// The database was written by a newer version.
    #[error("database schema version {0} is newer than this program supports")]
    SchemaTooNew(i64),
    /// No randomness.
    #[error("random number generator failed: {0}")]
    Rng(String),
    /// Signing the current tree would fork the ledger; nothing is signed.
    #[error("refusing to sign a forked ledger: {0}")]
    Fork(String),
    /// The database is behind (or not an extension of) the ledger head this registry already
    /// published, as after restoring the data directory from a backup: nothing is signed or
    /// served until the missing leaves are back or an operator runs `registry recover`.
    #[error(
        "the database does not extend the ledger this registry already published ({0}); it looks \
         restored from a backup. Nothing is signed. Restore the missing leaves, or run \
         `birthright registry recover --data DIR` to accept the loss (devices will see a fork)"
    )]
    Restored(String),
    /// Duplicate detection's rows were not stored: another writer stored rows after the last
    /// one the matching that made them had seen, so their records were not matched against
    /// those. Nothing was written; match again.
    #[error("records were matched meanwhile by another request; nothing was stored")]
    MatchedBehind,
    /// Reading or writing the ledger head file failed.
    #[error("ledger head file {path}: {message}")]
    Head {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Why an enrolment token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No such token.
    Unknown,
    /// Already used by another device.
    Used,
    /// Past its expiry.
    Expired,
    /// The device key is already enrolled.
    DeviceExists,
    /// The request does not prove knowledge of the token for this device key and registry.
    BadBinding,
}

/// An enrolment token not used yet, as listed: its public id (`wire::enrol_token_id`), never
/// the token, which the registry does not keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The token's public id.
    pub id: [u8; 32],
    /// Field worker it enrols.
    pub worker_id: String,
    /// Region of the device it enrols.
    pub region: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// A witness the registry submits its checkpoints to (`registry witness add`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessRow {
    /// The witness's key name.
    pub name: String,
    /// Its verifier key (cosignature/v1).
    pub vkey: String,
    /// Its submission prefix: `POST {url}/add-checkpoint`.
    pub url: String,
    /// The size the registry last knows the witness cosigned (learnt from its answers).
    pub size: Option<u64>,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Key id.
    pub kid: KeyId,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Field worker.
    pub worker_id: String,
    /// Region.
    pub region: String,
    /// When it enrolled.
    pub enrolled_at: i64,
    /// Certificate validity start.
    pub not_before: i64,
    /// Certificate validity end.
    pub not_after: i64,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
    /// Revocation reason code, if revoked (public: in the signed revocation list).
    pub revoke_reason: Option<String>,
    /// The administrator's private note on the revocation (never published).
    pub revoke_note: Option<String>,
}

/// A verified, validated record ready to be sequenced.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Record id.
    pub id: Uuid,
    /// The signed record bytes.
    pub bytes: Vec<u8>,
    /// The signing device.
    pub kid: KeyId,
    /// The record it corrects, if any.
    pub supersedes: Option<Uuid>,
}

/// Where a record sits on the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Leaf index.
    pub index: u64,
    /// Commitment salt.
    pub salt: [u8; 32],
    /// Sequencing time.
    pub sequenced_at: i64,
}

/// What sequencing did with one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sequenced {
    /// Appended as a new leaf.
    Accepted(Placement),
    /// Already present with identical bytes.
    Duplicate(Placement),
    /// Same device and id, different bytes.
    Conflict,
    /// This device's record with this id is on the ledger, but its stored copy was removed
    /// (an erasure): it is never sequenced again.
    Removed,
    /// A correction of a record this device never registered here.
    UnknownOriginal,
    /// A correction of a record registered by another device.
    NotOwner(KeyId),
    /// A correction of a version that has already been corrected.
    AlreadyCorrected,
}

/// The outcome of sequencing a batch.
#[derive(Debug, Clone)]
pub struct SequencedBatch {
    /// One entry per candidate, in order.
    pub results: Vec<Sequenced>,
    /// Tree size after the batch.
    pub size: u64,
    /// The signed checkpoint at that size.
    pub checkpoint: String,
    /// Accepted candidates (by position) whose record id another device had already
    /// registered, with that device's key id: one of the two copied the other's id.
    pub collisions: Vec<(usize, KeyId)>,
}

/// What `revoke_credential` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRevocation {
    /// Revoked now.
    Revoked,
    /// It was revoked before (the first revocation stays).
    AlreadyRevoked,
    /// No registered record is at that leaf.
    NoSuchLeaf,
}

/// The statuses the status list publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafStatuses {
    /// Tree size (leaves covered).
    pub size: u64,
    /// Leaves of records a correction on the ledger supersedes.
    pub superseded: Vec<u64>,
    /// Leaves whose credential the registry revoked.
    pub revoked: Vec<u64>,
}

/// The ledger head before and after `registry recover`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The head recorded before (size, root), if there was one.
    pub previous: Option<(u64, Hash)>,
    /// The head of the database now (size, root), now recorded.
    pub current: (u64, Hash),
}

/// A pair of records that may be one child registered twice (docs/MATCHING.md §7): `record`
/// arrived after `candidate` and is held for review while the pair is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePair {
    /// The device of the later record.
    pub record_kid: KeyId,
    /// The later record, held while the pair is open.
    pub record_id: Uuid,
    /// The device of the earlier record.
    pub candidate_kid: KeyId,
    /// The earlier record.
    pub candidate_id: Uuid,
    /// The matching score (points).
    pub score: i32,
    /// `likely` or `possible`.
    pub level: String,
    /// When the pair was found (Unix seconds).
    pub opened_at: i64,
    /// When a registrar decided (Unix seconds); `None` while open.
    pub closed_at: Option<i64>,
    /// `duplicate` or `not_duplicate`, once decided.
    pub decision: Option<String>,
}

/// What matching found for one record (docs/MATCHING.md §7): its keyed blocking hashes and
/// the pairs it opens (none for a record back-filled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMatch {
    /// The record's device.
    pub kid: KeyId,
    /// The record.
    pub id: Uuid,
    /// Its keyed blocking hashes.
    pub keys: Vec<[u8; 32]>,
    /// Its facts for the bound of docs/MATCHING.md §6.4, sealed with the data key and bound to
    /// the device, id and hashes (`BoundFacts::to_bytes`).
    pub sealed_facts: Vec<u8>,
    /// What scoring it as a candidate needs (its prepared profile and what a hold shows of
    /// it), sealed with the data key and bound to the device and id (`match_candidates`).
    pub sealed_candidate: Vec<u8>,
    /// The pairs at `possible` or above, the record as `record`.
    pub pairs: Vec<DuplicatePair>,
}

/// The row numbers (`match_records.seq`) that stored matches were given, one per match in
/// order: `None` for a match whose row was stored before (kept as it was).
pub type MatchRows = Vec<Option<i64>>;

/// One record's stored keyed blocking hashes (`match_records`), in the order they were stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRecordRow {
    /// Its place in that order (rising).
    pub seq: i64,
    /// The record's device.
    pub kid: KeyId,
    /// The record.
    pub id: Uuid,
    /// Its keyed blocking hashes.
    pub keys: Vec<[u8; 32]>,
    /// Its sealed facts ([`RecordMatch::sealed_facts`]).
    pub sealed_facts: Vec<u8>,
}

/// Splits the `keys` column (32 bytes per hash) into hashes.
pub(crate) fn split_keys(column: &[u8]) -> Result<Vec<[u8; 32]>, StoreError> {
    if !column.len().is_multiple_of(32) {
        return Err(StoreError::Damaged("match keys of a record".into()));
    }
    Ok(column
        .chunks_exact(32)
        .map(|c| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(c);
            hash
        })
        .collect())
}

/// A record's place in the life of a registration at the registry (`registrations`): no row
/// means a record sequenced before review statuses existed, which was registered at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    /// The capturing device.
    pub kid: KeyId,
    /// Record id.
    pub id: Uuid,
    /// `declared`, `awaiting_review`, `registered`, `rejected`, `duplicate` or
    /// `correction_requested`.
    pub status: String,
    /// Why it awaits review (`late_registration`, `possible_duplicate`, `correction`).
    pub reasons: Vec<String>,
    /// Last change (the registry's clock).
    pub updated_at: i64,
    /// The ledger index of the last decision's leaf.
    pub decision_leaf: Option<u64>,
}

/// A decision to append to the ledger ([`RegistryStore::decide`]): the sequencer builds its
/// leaf from the record's own leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    /// The capturing device.
    pub kid: KeyId,
    /// Record id.
    pub id: Uuid,
    /// The statuses the record may have now; with another, nothing is written.
    pub expect: Vec<String>,
    /// What is decided.
    pub decision: DecisionKind,
    /// Why.
    pub reason: DecisionReason,
    /// The policy or a registrar.
    pub decided_by: DecidedBy,
    /// The registrar's login name (kept here, never on the ledger).
    pub actor: Option<String>,
    /// The registrar's note, sealed under the data key.
    pub sealed_note: Option<Vec<u8>>,
    /// The record it duplicates.
    pub duplicate_of: Option<Uuid>,
    /// When (the registry's clock).
    pub at: i64,
}

/// A decision as stored beside its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    /// Its leaf.
    pub leaf_index: u64,
    /// The capturing device.
    pub kid: KeyId,
    /// Record id.
    pub id: Uuid,
    /// The record's own leaf.
    pub record_index: u64,
    /// What was decided.
    pub decision: DecisionKind,
    /// Why.
    pub reason: DecisionReason,
    /// The policy or a registrar.
    pub decided_by: DecidedBy,
    /// The registrar's login name.
    pub actor: Option<String>,
    /// The registrar's note, sealed.
    pub sealed_note: Option<Vec<u8>>,
    /// The record it duplicates.
    pub duplicate_of: Option<Uuid>,
    /// When.
    pub decided_at: i64,
}

/// What [`RegistryStore::decide`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Appended: the decisions' leaves, and the signed checkpoint of the new size.
    Appended {
        /// The decisions as stored, in order.
        rows: Vec<DecisionRow>,
        /// Tree size after them.
        size: u64,
        /// Its signed checkpoint.
        checkpoint: String,
    },
    /// A record's status is not one expected (another decision came first), or it is not
    /// stored: nothing was written.
    Stale {
        /// The record.
        id: Uuid,
        /// Its status now (`None`: not stored).
        status: Option<String>,
    },
}

/// The review policy (docs/REGISTRAR-API.md): when a declared record is registered at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewPolicy {
    /// A child born at most this many days before the registry sequenced the record is
    /// registered at once (without another reason for review).
    pub max_age_days: u32,
    /// Corrections await review.
    pub review_corrections: bool,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            max_age_days: 365,
            review_corrections: true,
        }
    }
}

/// The registry's storage operations.
pub trait RegistryStore: Send + Sync {
    /// Stores a new enrolment token: its public id and its binding key (never the token).
    fn insert_token(
        &self,
        token_id: &[u8; 32],
        binding_key: &[u8; 32],
        worker_id: &str,
        region: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// The tokens neither used nor expired at `now` (nor issued before binding keys, which
    /// cannot be used), oldest first.
    fn unused_tokens(&self, now: i64) -> Result<Vec<TokenRow>, StoreError>;

    /// Cancels (deletes) the unused token with public id `token_id`; false if there is no
    /// unused token of that id (a used token stays, as the record of its device's enrolment).
    fn cancel_token(&self, token_id: &[u8; 32]) -> Result<bool, StoreError>;

    /// Atomically consumes the token and enrols the device: `binding_ok` checks the request's
    /// binding against the token's binding key, and `make_device` builds the row from the
    /// token's worker id and region. The same device key with the same token again (a retry
    /// after a lost answer) gets its existing row back.
    fn enrol(
        &self,
        token_id: &[u8; 32],
        now: i64,
        binding_ok: &mut dyn FnMut(&[u8; 32]) -> bool,
        make_device: &mut dyn FnMut(&str, &str) -> DeviceRow,
    ) -> Result<Result<DeviceRow, TokenProblem>, StoreError>;

    /// The device with key id `kid`.
    fn device(&self, kid: &KeyId) -> Result<Option<DeviceRow>, StoreError>;

    /// All devices, in enrolment order.
    fn devices(&self) -> Result<Vec<DeviceRow>, StoreError>;

    /// Revokes a device from `at` with a public reason code and an optional private note
    /// (kept here only); false if there is no such device.
    fn revoke(
        &self,
        kid: &KeyId,
        at: i64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Revokes the registered credential of ledger leaf `leaf_index`.
    fn revoke_credential(
        &self,
        leaf_index: u64,
        at: i64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<CredentialRevocation, StoreError>;

    /// A cheap key that changes whenever the statuses of [`Self::leaf_statuses`] may have:
    /// (tree size, number of credential revocations).
    fn status_version(&self) -> Result<(u64, u64), StoreError>;

    /// The leaves whose status is not VALID, from read connections (never the sequencer's).
    fn leaf_statuses(&self) -> Result<LeafStatuses, StoreError>;

    /// Every revocation.
    fn revocations(&self) -> Result<Vec<Revocation>, StoreError>;

    /// The ledger: the backend's [`Sequencer`], behind which every method below runs.
    fn ledger(&self) -> &dyn Ledger;

    /// Sequences `candidates` in one transaction and returns their placements and the signed
    /// checkpoint. `sign` signs a checkpoint for (size, root); it is called only when the tree
    /// grew (or for the first, empty, checkpoint), so two checkpoints never share a size.
    fn sequence(
        &self,
        batch_id: &Uuid,
        candidates: &[Candidate],
        now: i64,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<SequencedBatch, StoreError> {
        self.ledger().sequence(batch_id, candidates, now, sign)
    }

    /// The latest signed checkpoint and its size, signing the empty one if there is none yet.
    fn latest_checkpoint(
        &self,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<(u64, String), StoreError> {
        self.ledger().latest_checkpoint(sign)
    }

    /// Inclusion proof of leaf `index` in the tree of `size`.
    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.ledger().inclusion_proof(index, size)
    }

    /// Consistency proof between two sizes.
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError> {
        self.ledger().consistency_proof(old_size, new_size)
    }

    /// Leaf data for indices `[start, end)`.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.ledger().leaves(start, end)
    }

    /// Current tree size.
    fn tree_size(&self) -> Result<u64, StoreError> {
        self.ledger().tree_size()
    }

    /// The bytes of a C2SP tile or entry bundle of the latest signed tree (`None` when that
    /// tree does not hold it), from read connections.
    fn tile(
        &self,
        tile: &birthright_core::ledger::tiles::Tile,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.ledger().tile(tile)
    }

    /// The decrypted signed record bytes of record `id` of device `kid`.
    fn record_bytes(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        self.ledger().record_bytes(kid, id)
    }

    /// The devices that have a record with id `id` on the ledger, first sequenced first.
    fn record_owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError> {
        self.ledger().record_owners(id)
    }

    /// Appends `decisions` to the ledger in one transaction, with their rows and the records'
    /// new statuses, and signs the checkpoint of the new size; nothing if any record's status
    /// is not one its decision expects.
    fn decide(
        &self,
        decisions: &[NewDecision],
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<Decided, StoreError> {
        self.ledger().decide(decisions, sign)
    }

    /// [`Self::decide`], storing `matches` (as [`Self::add_matches`] does) in the same
    /// transaction, even when the decisions are stale: a batch's duplicate detection and its
    /// registrations at once cost one commit.
    fn decide_and_match(
        &self,
        decisions: &[NewDecision],
        matches: &[RecordMatch],
        seen: Option<i64>,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<(Decided, MatchRows), StoreError> {
        self.ledger()
            .decide_and_match(decisions, matches, seen, sign)
    }

    /// Accepts the database's current tree as the ledger head after a restore (`registry
    /// recover`): the head outside the database is rewritten to it.
    fn recover_head(&self) -> Result<Recovery, StoreError> {
        self.ledger().recover_head()
    }

    /// Adds a witness, or updates the URL of one with the same name and key; false if a
    /// witness of that name has another key.
    fn add_witness(&self, row: &WitnessRow, at: i64) -> Result<bool, StoreError>;

    /// The witnesses, in the order they were added.
    fn witnesses(&self) -> Result<Vec<WitnessRow>, StoreError>;

    /// Sets the witness quorum K.
    fn set_witness_quorum(&self, quorum: u32) -> Result<(), StoreError>;

    /// The witness quorum K (0 until set).
    fn witness_quorum(&self) -> Result<u32, StoreError>;

    /// Records what witness `name` last cosigned: its size (never lowered by a late answer
    /// unless `exact`, as a 409 tells), and the cosignature line for that size if any.
    fn record_witness_size(
        &self,
        name: &str,
        size: u64,
        line: Option<&str>,
        exact: bool,
    ) -> Result<(), StoreError>;

    /// The cosignature lines collected for the checkpoint of `size`.
    fn cosignatures(&self, size: u64) -> Result<Vec<String>, StoreError>;

    /// The records' keyed blocking hashes stored after `seq`, in the order they were stored,
    /// at most `limit` (the registry's blocking index in memory is built and brought up to
    /// date from them: docs/MATCHING.md §7).
    fn match_records_after(&self, seq: i64, limit: u32) -> Result<Vec<MatchRecordRow>, StoreError>;

    /// The sealed candidate forms ([`RecordMatch::sealed_candidate`]) of the records whose
    /// `match_records` rows are `seqs`, in the same order (`None` for a row without one),
    /// read together (one snapshot, one round trip).
    fn match_candidates(&self, seqs: &[i64]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;

    /// Whether record `id` of device `kid` has been matched (its keys are stored).
    fn has_match_keys(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError>;

    /// Stores (or replaces) the sealed candidate form of the record of `match_records` row
    /// `seq`: one made again from its record, when the stored one was missing or did not
    /// read.
    fn put_match_candidate(&self, seq: i64, sealed: &[u8]) -> Result<(), StoreError>;

    /// Stores the keyed blocking hashes and open pairs of several records (a hash or pair
    /// already stored is kept as it is) and, with `backfill_next`, moves the back-fill of
    /// hashes on to that leaf index (never back): all in one transaction. Returns the row
    /// numbers given. With `seen` (the last row of `match_records` the matching that made
    /// `matches` had seen), nothing is stored if a row was stored after it
    /// ([`StoreError::MatchedBehind`]).
    fn add_matches(
        &self,
        matches: &[RecordMatch],
        backfill_next: Option<u64>,
        seen: Option<i64>,
    ) -> Result<MatchRows, StoreError>;

    /// The records sequenced at a leaf index in `leaves` that have no keyed blocking hashes
    /// (sequenced before duplicate detection existed, or left unmatched by a crash), in ledger
    /// order: each one's device, id and the record it corrects.
    fn records_without_match_keys(
        &self,
        leaves: std::ops::Range<u64>,
    ) -> Result<Vec<(KeyId, Uuid, Option<Uuid>)>, StoreError>;

    /// The first leaf index the back-fill of keyed blocking hashes has not looked at yet (0
    /// before it ever ran).
    fn match_backfill_next(&self) -> Result<u64, StoreError>;

    /// Open pairs, oldest first; with `record`, the pairs that keep that record without a
    /// credential: its open ones and those decided `duplicate`.
    fn open_pairs(&self, record: Option<(&KeyId, &Uuid)>)
    -> Result<Vec<DuplicatePair>, StoreError>;

    /// Closes the open pairs of `record_id` with `candidate_id` (ids as shown) with a
    /// registrar's `decision`; returns how many were closed.
    fn close_pairs(
        &self,
        record_id: &Uuid,
        candidate_id: &Uuid,
        decision: &str,
        at: i64,
    ) -> Result<u64, StoreError>;

    /// Moves a `declared` record to `awaiting_review` with `reasons`; false if it was not
    /// `declared`.
    fn set_review(
        &self,
        kid: &KeyId,
        id: &Uuid,
        reasons: &[String],
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Replaces the review reasons of a record awaiting review.
    fn set_review_reasons(
        &self,
        kid: &KeyId,
        id: &Uuid,
        reasons: &[String],
        at: i64,
    ) -> Result<(), StoreError>;
    /// The registration row of device `kid`'s record `id`.
    fn registration(&self, kid: &KeyId, id: &Uuid) -> Result<Option<RegistrationRow>, StoreError>;
    /// The registration rows with `status` (every row with `None`), oldest change first.
    fn registrations(&self, status: Option<&str>) -> Result<Vec<RegistrationRow>, StoreError>;
    /// The decisions on device `kid`'s record `id`, in ledger order.
    fn decisions_of(&self, kid: &KeyId, id: &Uuid) -> Result<Vec<DecisionRow>, StoreError>;
    /// The decisions on device `kid`'s records, in ledger order.
    fn decisions_of_device(&self, kid: &KeyId) -> Result<Vec<DecisionRow>, StoreError>;
    /// The review policy (the default until one is set).
    fn review_policy(&self) -> Result<ReviewPolicy, StoreError>;
    /// Sets the review policy.
    fn set_review_policy(&self, policy: &ReviewPolicy) -> Result<(), StoreError>;
}

const MIGRATIONS: &[&str] = &[
    // 1: tokens, devices, records, ledger.
    "CREATE TABLE tokens (
        hash       BLOB PRIMARY KEY,
        worker_id  TEXT NOT NULL,
        region     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER,
        used_by    BLOB
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE devices (
        kid           BLOB PRIMARY KEY,
        public_key    BLOB NOT NULL,
        worker_id     TEXT NOT NULL,
        region        TEXT NOT NULL,
        enrolled_at   INTEGER NOT NULL,
        not_before    INTEGER NOT NULL,
        not_after     INTEGER NOT NULL,
        revoked_at    INTEGER,
        revoke_reason TEXT
    ) STRICT;
    CREATE TABLE records (
        id            BLOB PRIMARY KEY,
        leaf_index    INTEGER NOT NULL UNIQUE,
        device_kid    BLOB NOT NULL,
        record_hash   BLOB NOT NULL,
        sequenced_at  INTEGER NOT NULL,
        supersedes    BLOB,
        sealed_record BLOB NOT NULL,
        sealed_salt   BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE batches (
        id          BLOB PRIMARY KEY,
        received_at INTEGER NOT NULL,
        records     INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE leaves (
        idx  INTEGER PRIMARY KEY,
        data BLOB NOT NULL
    ) STRICT;
    CREATE TABLE nodes (
        level INTEGER NOT NULL,
        idx   INTEGER NOT NULL,
        hash  BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE checkpoints (
        size INTEGER PRIMARY KEY,
        note TEXT NOT NULL
    ) STRICT;",
    // 2: records keyed by (device, id); an index of every sequenced record that is never
    // deleted, so an erased record is never sequenced again.
    "CREATE TABLE records_v2 (
        device_kid    BLOB NOT NULL,
        id            BLOB NOT NULL,
        leaf_index    INTEGER NOT NULL UNIQUE,
        record_hash   BLOB NOT NULL,
        sequenced_at  INTEGER NOT NULL,
        supersedes    BLOB,
        sealed_record BLOB NOT NULL,
        sealed_salt   BLOB NOT NULL,
        PRIMARY KEY (device_kid, id)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO records_v2
        SELECT device_kid, id, leaf_index, record_hash, sequenced_at, supersedes, sealed_record, sealed_salt
        FROM records;
    DROP TABLE records;
    ALTER TABLE records_v2 RENAME TO records;
    CREATE INDEX records_by_id ON records(id);
    CREATE TABLE ledger_records (
        device_kid BLOB NOT NULL,
        id         BLOB NOT NULL,
        leaf_index INTEGER NOT NULL UNIQUE,
        supersedes BLOB,
        PRIMARY KEY (device_kid, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ledger_records_by_id ON ledger_records(id);
    CREATE INDEX ledger_records_by_supersedes ON ledger_records(device_kid, supersedes)
        WHERE supersedes IS NOT NULL;
    INSERT INTO ledger_records SELECT device_kid, id, leaf_index, supersedes FROM records;
    CREATE TRIGGER ledger_records_are_kept BEFORE DELETE ON ledger_records
        BEGIN SELECT RAISE(ABORT, 'ledger_records rows are never deleted'); END;
    CREATE TRIGGER leaves_are_kept BEFORE DELETE ON leaves
        BEGIN SELECT RAISE(ABORT, 'ledger leaves are never deleted'); END;",
    // 3: tokens are found by their public id (`hash` now holds `wire::enrol_token_id`) and
    // checked with their binding key; tokens issued before have none and cannot be used.
    "ALTER TABLE tokens ADD COLUMN binding_key BLOB;",
    // 4: revoked registered credentials (by leaf), and private notes on revocations (the
    // public reason code is what the signed lists carry).
    "CREATE TABLE credential_revocations (
        leaf_index INTEGER PRIMARY KEY,
        revoked_at INTEGER NOT NULL,
        reason     TEXT NOT NULL,
        note       TEXT
    ) STRICT;
    CREATE TRIGGER credential_revocations_are_kept BEFORE DELETE ON credential_revocations
        BEGIN SELECT RAISE(ABORT, 'credential revocations are never deleted'); END;
    ALTER TABLE devices ADD COLUMN revoke_note TEXT;",
    // 5: each checkpoint's root beside its note, so the fork check never parses notes (the
    // roots of older checkpoints are filled in from their notes by `backfill_checkpoint_roots`).
    "ALTER TABLE checkpoints ADD COLUMN root BLOB;",
    // 6: witnesses (C2SP tlog-witness), the quorum, and the cosignatures collected per size.
    "CREATE TABLE witnesses (
        name     TEXT PRIMARY KEY,
        vkey     TEXT NOT NULL,
        url      TEXT NOT NULL,
        size     INTEGER,
        added_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE witness_policy (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        quorum INTEGER NOT NULL CHECK (quorum >= 0)
    ) STRICT;
    CREATE TABLE cosignatures (
        size    INTEGER NOT NULL,
        witness TEXT NOT NULL,
        line    TEXT NOT NULL,
        PRIMARY KEY (size, witness)
    ) STRICT, WITHOUT ROWID;",
    // 7: duplicate detection (docs/MATCHING.md §7): each record's blocking keys as keyed
    // hashes (no names), and the candidate pairs a registrar reviews.
    "CREATE TABLE match_keys (
        key        BLOB NOT NULL,
        device_kid BLOB NOT NULL,
        id         BLOB NOT NULL,
        PRIMARY KEY (key, device_kid, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX match_keys_by_record ON match_keys(device_kid, id);
    CREATE TABLE duplicate_pairs (
        record_kid    BLOB NOT NULL,
        record_id     BLOB NOT NULL,
        candidate_kid BLOB NOT NULL,
        candidate_id  BLOB NOT NULL,
        score         INTEGER NOT NULL,
        level         TEXT NOT NULL,
        opened_at     INTEGER NOT NULL,
        closed_at     INTEGER,
        decision      TEXT,
        PRIMARY KEY (record_kid, record_id, candidate_kid, candidate_id)
    ) STRICT;
    CREATE INDEX duplicate_pairs_open ON duplicate_pairs(record_id) WHERE closed_at IS NULL;",
    // 8: the life of a registration: each record's status (records sequenced before have no
    // row: they were registered at once), the decisions beside their ledger leaves (the
    // registrar's note sealed), and the review policy.
    "CREATE TABLE registrations (
        device_kid    BLOB NOT NULL,
        id            BLOB NOT NULL,
        status        TEXT NOT NULL,
        reasons       TEXT NOT NULL,
        updated_at    INTEGER NOT NULL,
        decision_leaf INTEGER,
        PRIMARY KEY (device_kid, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX registrations_by_status ON registrations(status, updated_at);
    CREATE TABLE decisions (
        leaf_index   INTEGER PRIMARY KEY,
        device_kid   BLOB NOT NULL,
        id           BLOB NOT NULL,
        record_index INTEGER NOT NULL,
        decision     TEXT NOT NULL,
        reason       TEXT NOT NULL,
        decided_by   TEXT NOT NULL,
        actor        TEXT,
        sealed_note  BLOB,
        duplicate_of BLOB,
        decided_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX decisions_by_record ON decisions(device_kid, id);
    CREATE TRIGGER decisions_are_kept BEFORE DELETE ON decisions
        BEGIN SELECT RAISE(ABORT, 'decisions are never deleted'); END;
    CREATE TABLE review_policy (
        id                 INTEGER PRIMARY KEY CHECK (id = 1),
        max_age_days       INTEGER NOT NULL,
        review_corrections INTEGER NOT NULL
    ) STRICT;",
    // 9: how far the back-fill of keyed blocking hashes has come (docs/MATCHING.md §7): the
    // records sequenced before version 7 get theirs when the registry opens.
    "CREATE TABLE match_backfill (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        next_leaf INTEGER NOT NULL
    ) STRICT;",
    // 10: each record's keyed hashes in one appended row (the blocking index is kept in
    // memory, docs/MATCHING.md §7), and the keys gain `q:` (§5.1): the back-fill makes every
    // record's hashes again when the registry opens (the pairs found are kept).
    "DROP TABLE match_keys;
    CREATE TABLE match_records (
        seq        INTEGER PRIMARY KEY,
        device_kid BLOB NOT NULL,
        id         BLOB NOT NULL,
        keys       BLOB NOT NULL,
        UNIQUE (device_kid, id)
    ) STRICT;
    DELETE FROM match_backfill;",
    // 11: each row of `match_records` also keeps the record's facts for the bound of
    // docs/MATCHING.md §6.4, sealed (so the index in memory rules candidates out before
    // reading them); the back-fill makes every record's row again when the registry opens.
    "DROP TABLE match_records;
    CREATE TABLE match_records (
        seq          INTEGER PRIMARY KEY,
        device_kid   BLOB NOT NULL,
        id           BLOB NOT NULL,
        keys         BLOB NOT NULL,
        sealed_facts BLOB NOT NULL,
        UNIQUE (device_kid, id)
    ) STRICT;
    DELETE FROM match_backfill;",
    // 12: each matched record's candidate form (its prepared profile, sealed), keyed by its
    // `match_records` row, so a candidate is scored without reading and preparing its
    // signed record (docs/MATCHING.md §7); rows stored before keep that slower path.
    "CREATE TABLE match_candidates (
        seq              INTEGER PRIMARY KEY,
        sealed_candidate BLOB NOT NULL
    ) STRICT;",
    // 13: a candidate form keeps each name part's skeletons only (not its words): the forms
    // of the earlier layout are dropped, and each is made again from its record the next
    // time it is a candidate.
    "DELETE FROM match_candidates;",
];

/// The schema version that adds `checkpoints.root`.
const CHECKPOINT_ROOTS_VERSION: usize = 5;

/// Read connections beside the sequencer's.
const READERS: usize = 4;

/// Bytes of the database file each connection maps into memory (`PRAGMA mmap_size`): the
/// candidates matching reads at random pages of a large registry are then memory accesses,
/// not a system call and a copy each (docs/PERFORMANCE.md §11, run J). Pages are still
/// written with ordinary I/O (SQLite maps them read-only); address space, not memory, is
/// reserved. 2 GiB less 64 KiB: the most SQLite maps (`SQLITE_MAX_MMAP_SIZE`); pages beyond
/// are read as before.
const MMAP_BYTES: i64 = 0x7fff_0000;

/// The embedded SQLite store: the tables of `MIGRATIONS` and the ledger's [`Sequencer`] over
/// [`SqliteLedger`].
pub struct SqliteStore {
    ledger: Sequencer<SqliteLedger>,
}

/// The SQLite backend of the sequencer: one write connection behind a mutex (the write lock;
/// `IMMEDIATE` transactions also serialise other processes on the file) and a few read-only
/// connections whose transactions are WAL snapshots.
pub struct SqliteLedger {
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// A [`LedgerTx`] over a SQLite connection inside a transaction.
/// Stores the keyed blocking hashes, sealed facts and open pairs of `matches` (a row or pair
/// already stored is kept as it is) and, with `backfill_next`, moves the back-fill on to that
/// leaf index (never back), inside the caller's transaction.
fn insert_matches(
    tx: &Connection,
    matches: &[RecordMatch],
    backfill_next: Option<u64>,
    seen: Option<i64>,
) -> Result<MatchRows, StoreError> {
    let mut given = Vec::with_capacity(matches.len());
    if matches.is_empty() && backfill_next.is_none() {
        return Ok(given);
    }
    if let Some(seen) = seen {
        let last: i64 =
            tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM match_records", [], |r| {
                r.get(0)
            })?;
        if last > seen {
            return Err(StoreError::MatchedBehind);
        }
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO match_records(device_kid, id, keys, sealed_facts)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    let mut pair = tx.prepare_cached(
        "INSERT INTO duplicate_pairs(record_kid, record_id, candidate_kid, candidate_id,
         score, level, opened_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT DO NOTHING",
    )?;
    let mut candidate = tx.prepare_cached(UPSERT_CANDIDATE)?;
    for m in matches {
        let inserted = insert.execute(params![
            m.kid.0.as_slice(),
            m.id.as_bytes().as_slice(),
            m.keys.concat(),
            m.sealed_facts
        ])?;
        if inserted == 1 {
            let seq = tx.last_insert_rowid();
            candidate.execute(params![seq, m.sealed_candidate])?;
            given.push(Some(seq));
        } else {
            given.push(None);
        }
        for p in &m.pairs {
            pair.execute(params![
                p.record_kid.0.as_slice(),
                p.record_id.as_bytes().as_slice(),
                p.candidate_kid.0.as_slice(),
                p.candidate_id.as_bytes().as_slice(),
                p.score,
                p.level,
                p.opened_at
            ])?;
        }
    }
    if let Some(next) = backfill_next {
        tx.execute(
            "INSERT INTO match_backfill(id, next_leaf) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET next_leaf = max(next_leaf, excluded.next_leaf)",
            [i64::try_from(next).unwrap_or(i64::MAX)],
        )?;
    }
    Ok(given)
}

/// Stores a candidate form by its row number, replacing one stored before.
const UPSERT_CANDIDATE: &str = "INSERT INTO match_candidates(seq, sealed_candidate) VALUES (?1, ?2)
     ON CONFLICT(seq) DO UPDATE SET sealed_candidate = excluded.sealed_candidate";

struct SqliteTx<'a>(&'a Connection);

fn key_id(bytes: &[u8]) -> Result<KeyId, StoreError> {
    KeyId::from_slice(bytes).ok_or_else(|| StoreError::Damaged("a device key id".into()))
}

fn hash32(bytes: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Damaged(format!("{what} is not 32 bytes")))
}

impl LedgerTx for SqliteTx<'_> {
    fn size(&self) -> Result<u64, StoreError> {
        size_in(self.0)
    }

    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")?;
        let hash: Vec<u8> = stmt
            .query_row(params![level, index as i64], |r| r.get(0))
            .map_err(|e| StoreError::Backend(format!("node ({level}, {index}): {e}")))?;
        hash32(hash, &format!("node ({level}, {index})"))
    }

    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT hash FROM nodes WHERE level = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
        )?;
        let rows: Vec<Vec<u8>> = stmt
            .query_map(
                params![
                    level,
                    i64::try_from(start).unwrap_or(i64::MAX),
                    i64::try_from(end).unwrap_or(i64::MAX)
                ],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        if rows.len() as u64 != end.saturating_sub(start) {
            return Err(StoreError::Damaged(format!(
                "nodes ({level}, {start}..{end}): {} stored",
                rows.len()
            )));
        }
        rows.into_iter()
            .map(|h| hash32(h, &format!("a node at level {level}")))
            .collect()
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT data FROM leaves WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
        let rows = stmt
            .query_map(
                params![
                    i64::try_from(start).unwrap_or(i64::MAX),
                    i64::try_from(end).unwrap_or(i64::MAX)
                ],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn placement(&self, kid: &KeyId, id: &Uuid) -> Result<Option<StoredPlacement>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>, Vec<u8>)> = self
            .0
            .prepare_cached(
                "SELECT leaf_index, sequenced_at, sealed_salt, record_hash FROM records
                 WHERE device_kid = ?1 AND id = ?2",
            )?
            .query_row(params![kid.0.as_slice(), id.as_bytes().as_slice()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        row.map(|(index, sequenced_at, sealed_salt, hash)| {
            Ok(StoredPlacement {
                index: index as u64,
                sequenced_at,
                sealed_salt,
                record_hash: hash32(hash, "a record hash")?,
            })
        })
        .transpose()
    }

    fn sealed_record(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .0
            .query_row(
                "SELECT sealed_record FROM records WHERE device_kid = ?1 AND id = ?2",
                params![kid.0.as_slice(), id.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn on_ledger(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM ledger_records WHERE device_kid = ?1 AND id = ?2)",
            )?
            .query_row(params![kid.0.as_slice(), id.as_bytes().as_slice()], |r| {
                r.get(0)
            })?)
    }

    fn corrected(&self, kid: &KeyId, original: &Uuid) -> Result<bool, StoreError> {
        Ok(self.0.prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM ledger_records WHERE device_kid = ?1 AND supersedes = ?2)",
        )?
        .query_row(params![kid.0.as_slice(), original.as_bytes().as_slice()], |r| r.get(0))?)
    }

    fn owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT device_kid FROM ledger_records WHERE id = ?1 ORDER BY leaf_index",
        )?;
        let kids: Vec<Vec<u8>> = stmt
            .query_map([id.as_bytes().as_slice()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        kids.iter().map(|k| key_id(k)).collect()
    }

    fn insert_nodes(&self, nodes: &[(u8, u64, Hash)]) -> Result<(), StoreError> {
        let mut insert = self
            .0
            .prepare_cached("INSERT INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)")?;
        for (level, index, node) in nodes {
            insert.execute(params![level, *index as i64, node.as_slice()])?;
        }
        Ok(())
    }

    fn insert_leaves(&self, leaves: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let mut insert = self
            .0
            .prepare_cached("INSERT INTO leaves(idx, data) VALUES (?1, ?2)")?;
        for (index, data) in leaves {
            insert.execute(params![*index as i64, data])?;
        }
        Ok(())
    }

    fn insert_records(&self, records: &[NewRecord]) -> Result<(), StoreError> {
        let mut record = self.0.prepare_cached(
            "INSERT INTO records(device_kid, id, leaf_index, record_hash, sequenced_at, supersedes, sealed_record, sealed_salt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut index_entry = self.0.prepare_cached(
            "INSERT INTO ledger_records(device_kid, id, leaf_index, supersedes) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut registration = self.0.prepare_cached(
            "INSERT INTO registrations(device_kid, id, status, reasons, updated_at)
             VALUES (?1, ?2, 'declared', '', ?3)",
        )?;
        for r in records {
            let supersedes = r.supersedes.map(|s| s.as_bytes().to_vec());
            record.execute(params![
                r.kid.0.as_slice(),
                r.id.as_bytes().as_slice(),
                r.index as i64,
                r.record_hash.as_slice(),
                r.sequenced_at,
                supersedes,
                r.sealed_record,
                r.sealed_salt
            ])?;
            index_entry.execute(params![
                r.kid.0.as_slice(),
                r.id.as_bytes().as_slice(),
                r.index as i64,
                supersedes
            ])?;
            registration.execute(params![
                r.kid.0.as_slice(),
                r.id.as_bytes().as_slice(),
                r.sequenced_at
            ])?;
        }
        Ok(())
    }

    fn registration_status(&self, kid: &KeyId, id: &Uuid) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .query_row(
                "SELECT status FROM registrations WHERE device_kid = ?1 AND id = ?2",
                params![kid.0.as_slice(), id.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn insert_matches(
        &self,
        matches: &[RecordMatch],
        seen: Option<i64>,
    ) -> Result<MatchRows, StoreError> {
        insert_matches(self.0, matches, None, seen)
    }

    fn insert_decisions(&self, decisions: &[DecisionRow]) -> Result<(), StoreError> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO decisions(leaf_index, device_kid, id, record_index, decision, reason,
             decided_by, actor, sealed_note, duplicate_of, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut status = self.0.prepare_cached(
            "UPDATE registrations SET status = ?3, updated_at = ?4, decision_leaf = ?5
             WHERE device_kid = ?1 AND id = ?2",
        )?;
        for d in decisions {
            insert.execute(params![
                d.leaf_index as i64,
                d.kid.0.as_slice(),
                d.id.as_bytes().as_slice(),
                d.record_index as i64,
                d.decision.as_str(),
                d.reason.as_str(),
                decided_by_str(d.decided_by),
                d.actor,
                d.sealed_note,
                d.duplicate_of.map(|u| u.as_bytes().to_vec()),
                d.decided_at
            ])?;
            status.execute(params![
                d.kid.0.as_slice(),
                d.id.as_bytes().as_slice(),
                d.decision.as_str(),
                d.decided_at,
                d.leaf_index as i64
            ])?;
        }
        Ok(())
    }

    fn insert_batch(
        &self,
        batch_id: &Uuid,
        received_at: i64,
        records: u64,
    ) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO batches(id, received_at, records) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO NOTHING",
            params![batch_id.as_bytes().as_slice(), received_at, records as i64],
        )?;
        Ok(())
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT note FROM checkpoints WHERE size = ?1")?
            .query_row([size as i64], |r| r.get(0))
            .optional()?)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        let latest: Option<(i64, Option<Vec<u8>>)> = self
            .0
            .query_row(
                "SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        latest
            .map(|(size, root)| {
                let root = root.ok_or_else(|| {
                    StoreError::Damaged(format!("the checkpoint of size {size} has no root"))
                })?;
                Ok((size as u64, hash32(root, "a checkpoint root")?))
            })
            .transpose()
    }

    fn insert_checkpoint(&self, size: u64, root: &Hash, note: &str) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO checkpoints(size, note, root) VALUES (?1, ?2, ?3)",
            params![size as i64, note, root.as_slice()],
        )?;
        Ok(())
    }
}

impl LedgerBackend for SqliteLedger {
    fn write<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_sql(|tx| f(&SqliteTx(tx)))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.read_conn();
        // A deferred read transaction: one WAL snapshot for everything `f` reads.
        let tx = conn.transaction()?;
        f(&SqliteTx(&tx))
    }
}

/// Brings the registry's SQLite schema to its newest version, inside `tx`.
fn migrate(tx: &Transaction<'_>) -> Result<(), StoreError> {
    sqlite::migrate(tx, MIGRATIONS, StoreError::SchemaTooNew, |tx, version| {
        if version == CHECKPOINT_ROOTS_VERSION {
            backfill_checkpoint_roots(tx)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn size_in(conn: &Connection) -> Result<u64, StoreError> {
    // MAX on the integer primary key is one index lookup, not a scan of 10 million rows.
    let size: i64 = conn.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves", [], |r| {
        r.get(0)
    })?;
    Ok(u64::try_from(size).unwrap_or(0))
}

/// Migration 5 stores each checkpoint's root beside its note; the roots of checkpoints signed
/// before are read from their notes, once, here.
fn backfill_checkpoint_roots(tx: &Connection) -> Result<(), StoreError> {
    let notes: Vec<(i64, String)> = tx
        .prepare("SELECT size, note FROM checkpoints WHERE root IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (size, note) in notes {
        let body = note
            .split_once("\n\n")
            .map(|(body, _)| format!("{body}\n"))
            .ok_or_else(|| StoreError::Damaged("stored checkpoint has no signature".into()))?;
        let checkpoint = Checkpoint::parse(&body)
            .map_err(|e| StoreError::Damaged(format!("stored checkpoint: {e}")))?;
        if checkpoint.size != size as u64 {
            return Err(StoreError::Damaged(format!(
                "the checkpoint stored at size {size} is of size {}",
                checkpoint.size
            )));
        }
        tx.execute(
            "UPDATE checkpoints SET root = ?2 WHERE size = ?1",
            params![size, checkpoint.root_hash.as_slice()],
        )?;
    }
    Ok(())
}

fn device_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    let kid: Vec<u8> = row.get(0)?;
    let public: Vec<u8> = row.get(1)?;
    let bad = |i| rusqlite::Error::InvalidColumnType(i, "key".into(), rusqlite::types::Type::Blob);
    Ok(DeviceRow {
        kid: KeyId::from_slice(&kid).ok_or_else(|| bad(0))?,
        public_key: public.try_into().map_err(|_| bad(1))?,
        worker_id: row.get(2)?,
        region: row.get(3)?,
        enrolled_at: row.get(4)?,
        not_before: row.get(5)?,
        not_after: row.get(6)?,
        revoked_at: row.get(7)?,
        revoke_reason: row.get(8)?,
        revoke_note: row.get(9)?,
    })
}

const DEVICE_COLUMNS: &str = "kid, public_key, worker_id, region, enrolled_at, not_before, not_after, revoked_at, revoke_reason, revoke_note";

/// Creates `path` with mode 0600 if it does not exist, and takes group and other access away
/// if it does: the database holds sealed records, device keys and the ledger.
fn make_private(path: &Path, create: bool) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", path.display()));
    if create && !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    #[cfg(unix)]
    if path.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

impl SqliteLedger {
    /// Opens (creating and migrating) the database at `path`. A new database file is created
    /// with mode 0600 (SQLite gives its WAL and shared-memory files the same mode).
    pub fn open(path: &Path) -> Result<SqliteLedger, StoreError> {
        make_private(path, true)?;
        let conn = Self::connect(path, 65536)?;
        let mut ledger = SqliteLedger {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
        };
        ledger.write_sql(migrate)?;
        for suffix in ["-wal", "-shm"] {
            make_private(&suffixed(path, suffix), false)?;
        }
        for _ in 0..READERS {
            let reader = Self::connect(path, 16384)?;
            reader.pragma_update(None, "query_only", true)?;
            ledger.readers.push(Mutex::new(reader));
        }
        Ok(ledger)
    }

    fn connect(path: &Path, cache_kib: i64) -> Result<Connection, StoreError> {
        let conn = Connection::open(path)?;
        sqlite::Pragmas {
            busy_timeout: std::time::Duration::from_secs(30),
            cache_kib: Some(cache_kib),
            secure_delete: false,
            mmap_bytes: Some(MMAP_BYTES),
        }
        .apply(&conn)?;
        Ok(conn)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read connection: never the sequencer's, so reads do not wait for a batch to commit.
    fn read_conn(&self) -> MutexGuard<'_, Connection> {
        if self.readers.is_empty() {
            return self.lock();
        }
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One `IMMEDIATE` transaction on the write connection.
    fn write_sql<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        sqlite::write(&mut self.lock(), f)
    }
}

impl SqliteStore {
    /// Opens (creating and migrating) the registry database at `path`; records are sealed
    /// under `data_key`.
    pub fn open(path: &Path, data_key: StorageKey) -> Result<SqliteStore, StoreError> {
        Ok(SqliteStore {
            ledger: Sequencer::new(SqliteLedger::open(path)?, data_key),
        })
    }

    /// Keeps the ledger head in `path` (outside the database): the store then refuses to sign
    /// or serve a tree that does not extend the largest one it has published.
    pub fn with_head_file(self, path: &Path) -> Result<SqliteStore, StoreError> {
        Ok(SqliteStore {
            ledger: self.ledger.with_head(crate::head::HeadFile::open(path)?),
        })
    }

    #[cfg(test)]
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.ledger.backend().lock()
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.ledger.backend().read_conn()
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.ledger.backend().write_sql(f)
    }

    /// Appends pre-built leaves (each the 49-byte leaf of `docs/PROTOCOL.md` §10) in one
    /// transaction, with their complete-subtree nodes, and returns the new size: for mirrors of
    /// a ledger and for benchmarks. No record or checkpoint is written; the next checkpoint
    /// request signs the new size.
    pub fn append_leaves(&self, leaves: &[Vec<u8>]) -> Result<u64, StoreError> {
        self.ledger.append_leaves(leaves)
    }
}

impl RegistryStore for SqliteStore {
    fn insert_token(
        &self,
        token_id: &[u8; 32],
        binding_key: &[u8; 32],
        worker_id: &str,
        region: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens(hash, binding_key, worker_id, region, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token_id.as_slice(),
                    binding_key.as_slice(),
                    worker_id,
                    region,
                    created_at,
                    expires_at
                ],
            )?;
            Ok(())
        })
    }

    fn unused_tokens(&self, now: i64) -> Result<Vec<TokenRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT hash, worker_id, region, created_at, expires_at FROM tokens
             WHERE used_at IS NULL AND binding_key IS NOT NULL AND expires_at > ?1
             ORDER BY created_at, hash",
        )?;
        let rows: Vec<(Vec<u8>, String, String, i64, i64)> = stmt
            .query_map([now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, worker_id, region, created_at, expires_at)| {
                Ok(TokenRow {
                    id: hash32(id, "a token id")?,
                    worker_id,
                    region,
                    created_at,
                    expires_at,
                })
            })
            .collect()
    }

    fn cancel_token(&self, token_id: &[u8; 32]) -> Result<bool, StoreError> {
        self.write(|tx| {
            let deleted = tx.execute(
                "DELETE FROM tokens WHERE hash = ?1 AND used_at IS NULL",
                [token_id.as_slice()],
            )?;
            Ok(deleted == 1)
        })
    }

    fn enrol(
        &self,
        token_id: &[u8; 32],
        now: i64,
        binding_ok: &mut dyn FnMut(&[u8; 32]) -> bool,
        make_device: &mut dyn FnMut(&str, &str) -> DeviceRow,
    ) -> Result<Result<DeviceRow, TokenProblem>, StoreError> {
        type TokenRow = (
            String,
            String,
            i64,
            Option<i64>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
        );
        let token_hash = token_id;
        self.write(|tx| {
            let token: Option<TokenRow> = tx
                .query_row(
                    "SELECT worker_id, region, expires_at, used_at, used_by, binding_key
                     FROM tokens WHERE hash = ?1",
                    [token_hash.as_slice()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )
                .optional()?;
            let Some((worker, region, expires_at, used_at, used_by, binding_key)) = token else {
                return Ok(Err(TokenProblem::Unknown));
            };
            let Some(binding_key) = binding_key.and_then(|k| <[u8; 32]>::try_from(k).ok()) else {
                return Ok(Err(TokenProblem::Unknown));
            };
            if !binding_ok(&binding_key) {
                return Ok(Err(TokenProblem::BadBinding));
            }
            let device = make_device(&worker, &region);
            if used_at.is_some() {
                // The same key again: the answer to its first request was lost.
                if used_by.as_deref() == Some(device.kid.0.as_slice())
                    && let Some(existing) = tx
                        .query_row(
                            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE kid = ?1"),
                            [device.kid.0.as_slice()],
                            device_row,
                        )
                        .optional()?
                    {
                        return Ok(Ok(existing));
                    }
                return Ok(Err(TokenProblem::Used));
            }
            if now > expires_at {
                return Ok(Err(TokenProblem::Expired));
            }
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM devices WHERE kid = ?1)",
                [device.kid.0.as_slice()],
                |r| r.get(0),
            )?;
            if exists {
                return Ok(Err(TokenProblem::DeviceExists));
            }
            tx.execute(
                "UPDATE tokens SET used_at = ?2, used_by = ?3 WHERE hash = ?1",
                params![token_hash.as_slice(), now, device.kid.0.as_slice()],
            )?;
            tx.execute(
                &format!("INSERT INTO devices({DEVICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, NULL)"),
                params![
                    device.kid.0.as_slice(),
                    device.public_key.as_slice(),
                    device.worker_id,
                    device.region,
                    device.enrolled_at,
                    device.not_before,
                    device.not_after
                ],
            )?;
            Ok(Ok(device))
        })
    }

    fn device(&self, kid: &KeyId) -> Result<Option<DeviceRow>, StoreError> {
        Ok(self
            .read()
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE kid = ?1"),
                [kid.0.as_slice()],
                device_row,
            )
            .optional()?)
    }

    fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, rowid"
        ))?;
        let rows = stmt.query_map([], device_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn revoke(
        &self,
        kid: &KeyId,
        at: i64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2), revoke_reason = COALESCE(revoke_reason, ?3),
                 revoke_note = COALESCE(revoke_note, ?4)
                 WHERE kid = ?1",
                params![kid.0.as_slice(), at, reason, note],
            )?;
            Ok(changed == 1)
        })
    }

    fn revoke_credential(
        &self,
        leaf_index: u64,
        at: i64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<CredentialRevocation, StoreError> {
        let Ok(index) = i64::try_from(leaf_index) else {
            return Ok(CredentialRevocation::NoSuchLeaf);
        };
        self.write(|tx| {
            let registered: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM ledger_records WHERE leaf_index = ?1)",
                [index],
                |r| r.get(0),
            )?;
            if !registered {
                return Ok(CredentialRevocation::NoSuchLeaf);
            }
            let inserted = tx.execute(
                "INSERT INTO credential_revocations(leaf_index, revoked_at, reason, note)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(leaf_index) DO NOTHING",
                params![index, at, reason, note],
            )?;
            Ok(if inserted == 1 {
                CredentialRevocation::Revoked
            } else {
                CredentialRevocation::AlreadyRevoked
            })
        })
    }

    fn status_version(&self) -> Result<(u64, u64), StoreError> {
        let conn = self.read();
        let revoked: i64 =
            conn.query_row("SELECT COUNT(*) FROM credential_revocations", [], |r| {
                r.get(0)
            })?;
        Ok((size_in(&conn)?, revoked as u64))
    }

    fn leaf_statuses(&self) -> Result<LeafStatuses, StoreError> {
        let conn = self.read();
        // One read transaction: the size and both lists are of the same committed state.
        conn.execute_batch("BEGIN")?;
        let result = (|| -> Result<LeafStatuses, StoreError> {
            let size = size_in(&conn)?;
            let column = |sql: &str| -> Result<Vec<u64>, StoreError> {
                let mut stmt = conn.prepare(sql)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, i64>(0))?
                    .map(|r| r.map(|i| i as u64))
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            };
            Ok(LeafStatuses {
                size,
                superseded: column(
                    "SELECT o.leaf_index FROM ledger_records c
                     JOIN ledger_records o ON o.device_kid = c.device_kid AND o.id = c.supersedes
                     WHERE c.supersedes IS NOT NULL",
                )?,
                revoked: column("SELECT leaf_index FROM credential_revocations")?,
            })
        })();
        conn.execute_batch("COMMIT")?;
        result
    }

    fn revocations(&self) -> Result<Vec<Revocation>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT kid, revoked_at, revoke_reason FROM devices WHERE revoked_at IS NOT NULL ORDER BY revoked_at",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Revocation {
                    device_kid: ByteBuf::from(r.get::<_, Vec<u8>>(0)?),
                    revoked_at: r.get(1)?,
                    reason: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn ledger(&self) -> &dyn Ledger {
        &self.ledger
    }

    fn add_witness(&self, row: &WitnessRow, at: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT vkey FROM witnesses WHERE name = ?1",
                    params![row.name],
                    |r| r.get(0),
                )
                .optional()?;
            match existing {
                Some(vkey) if vkey != row.vkey => Ok(false),
                Some(_) => {
                    tx.execute(
                        "UPDATE witnesses SET url = ?2 WHERE name = ?1",
                        params![row.name, row.url],
                    )?;
                    Ok(true)
                }
                None => {
                    tx.execute(
                        "INSERT INTO witnesses (name, vkey, url, size, added_at)
                         VALUES (?1, ?2, ?3, NULL, ?4)",
                        params![row.name, row.vkey, row.url, at],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    fn witnesses(&self) -> Result<Vec<WitnessRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(&format!(
            "SELECT {WITNESS_COLUMNS} FROM witnesses ORDER BY added_at, rowid"
        ))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(witness_row(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn set_witness_quorum(&self, quorum: u32) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO witness_policy (id, quorum) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET quorum = ?1",
                params![quorum],
            )?;
            Ok(())
        })
    }

    fn witness_quorum(&self) -> Result<u32, StoreError> {
        let conn = self.read();
        let q: Option<u32> = conn
            .query_row("SELECT quorum FROM witness_policy WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(q.unwrap_or(0))
    }

    fn record_witness_size(
        &self,
        name: &str,
        size: u64,
        line: Option<&str>,
        exact: bool,
    ) -> Result<(), StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        self.write(|tx| {
            if exact {
                tx.execute(
                    "UPDATE witnesses SET size = ?2 WHERE name = ?1",
                    params![name, size],
                )?;
            } else {
                tx.execute(
                    "UPDATE witnesses SET size = MAX(COALESCE(size, 0), ?2) WHERE name = ?1",
                    params![name, size],
                )?;
            }
            if let Some(line) = line {
                tx.execute(
                    "INSERT INTO cosignatures (size, witness, line) VALUES (?1, ?2, ?3)
                     ON CONFLICT (size, witness) DO UPDATE SET line = ?3",
                    params![size, name, line],
                )?;
            }
            Ok(())
        })
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<String>, StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT c.line FROM cosignatures c JOIN witnesses w ON w.name = c.witness
             WHERE c.size = ?1 ORDER BY w.added_at, w.rowid",
        )?;
        let rows = stmt
            .query_map(params![size], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn match_records_after(&self, seq: i64, limit: u32) -> Result<Vec<MatchRecordRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, device_kid, id, keys, sealed_facts FROM match_records WHERE seq > ?1
             ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![seq, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, Vec<u8>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, kid, id, keys, sealed_facts) = row?;
            out.push(MatchRecordRow {
                seq,
                kid: key_id(&kid)?,
                id: uuid_of(&id)?,
                keys: split_keys(&keys)?,
                sealed_facts,
            });
        }
        Ok(out)
    }

    fn match_candidates(&self, seqs: &[i64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let conn = self.read();
        // More than one in one read transaction: one snapshot, and its locks taken once.
        let tx = match seqs.len() {
            0 | 1 => None,
            _ => Some(conn.unchecked_transaction()?),
        };
        let mut read =
            conn.prepare_cached("SELECT sealed_candidate FROM match_candidates WHERE seq = ?1")?;
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            out.push(read.query_row([seq], |r| r.get(0)).optional()?);
        }
        drop(read);
        if let Some(tx) = tx {
            tx.finish()?;
        }
        Ok(out)
    }

    fn put_match_candidate(&self, seq: i64, sealed: &[u8]) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(UPSERT_CANDIDATE)?
                .execute(params![seq, sealed])?;
            Ok(())
        })
    }

    fn has_match_keys(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError> {
        Ok(self.read().query_row(
            "SELECT EXISTS(SELECT 1 FROM match_records WHERE device_kid = ?1 AND id = ?2)",
            params![kid.0.as_slice(), id.as_bytes().as_slice()],
            |r| r.get(0),
        )?)
    }

    fn add_matches(
        &self,
        matches: &[RecordMatch],
        backfill_next: Option<u64>,
        seen: Option<i64>,
    ) -> Result<MatchRows, StoreError> {
        self.write(|tx| insert_matches(tx, matches, backfill_next, seen))
    }

    fn records_without_match_keys(
        &self,
        leaves: std::ops::Range<u64>,
    ) -> Result<Vec<(KeyId, Uuid, Option<Uuid>)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT r.device_kid, r.id, r.supersedes FROM records r
             WHERE r.leaf_index >= ?1 AND r.leaf_index < ?2
             AND NOT EXISTS (SELECT 1 FROM match_records m
                             WHERE m.device_kid = r.device_kid AND m.id = r.id)
             ORDER BY r.leaf_index",
        )?;
        let rows = stmt.query_map(
            params![
                i64::try_from(leaves.start).unwrap_or(i64::MAX),
                i64::try_from(leaves.end).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (kid, id, supersedes) = row?;
            let supersedes = supersedes.as_deref().map(uuid_of).transpose()?;
            out.push((key_id(&kid)?, uuid_of(&id)?, supersedes));
        }
        Ok(out)
    }

    fn match_backfill_next(&self) -> Result<u64, StoreError> {
        let next: Option<i64> = self
            .read()
            .query_row(
                "SELECT next_leaf FROM match_backfill WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(next.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    fn open_pairs(
        &self,
        record: Option<(&KeyId, &Uuid)>,
    ) -> Result<Vec<DuplicatePair>, StoreError> {
        let conn = self.read();
        let sql = format!(
            "SELECT {PAIR_COLUMNS} FROM duplicate_pairs
             WHERE (?1 IS NULL AND closed_at IS NULL)
             OR (record_kid = ?1 AND record_id = ?2 AND (closed_at IS NULL OR decision = 'duplicate'))
             ORDER BY opened_at, record_id, score DESC"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let (kid, id) = match record {
            Some((kid, id)) => (Some(kid.0.to_vec()), Some(id.as_bytes().to_vec())),
            None => (None, None),
        };
        let rows = stmt.query_map(params![kid, id], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (rk, ri, ck, ci, score, level, opened_at, closed_at, decision) = row?;
            out.push(duplicate_pair(
                &rk, &ri, &ck, &ci, score, level, opened_at, closed_at, decision,
            )?);
        }
        Ok(out)
    }

    fn close_pairs(
        &self,
        record_id: &Uuid,
        candidate_id: &Uuid,
        decision: &str,
        at: i64,
    ) -> Result<u64, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE duplicate_pairs SET closed_at = ?3, decision = ?4
                 WHERE record_id = ?1 AND candidate_id = ?2 AND closed_at IS NULL",
                params![
                    record_id.as_bytes().as_slice(),
                    candidate_id.as_bytes().as_slice(),
                    at,
                    decision
                ],
            )? as u64)
        })
    }

    fn set_review(
        &self,
        kid: &KeyId,
        id: &Uuid,
        reasons: &[String],
        at: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE registrations SET status = 'awaiting_review', reasons = ?3, updated_at = ?4
                 WHERE device_kid = ?1 AND id = ?2 AND status = 'declared'",
                params![
                    kid.0.as_slice(),
                    id.as_bytes().as_slice(),
                    reasons.join(","),
                    at
                ],
            )? == 1)
        })
    }

    fn set_review_reasons(
        &self,
        kid: &KeyId,
        id: &Uuid,
        reasons: &[String],
        at: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE registrations SET reasons = ?3, updated_at = ?4
                 WHERE device_kid = ?1 AND id = ?2 AND status = 'awaiting_review'",
                params![
                    kid.0.as_slice(),
                    id.as_bytes().as_slice(),
                    reasons.join(","),
                    at
                ],
            )?;
            Ok(())
        })
    }

    fn registration(&self, kid: &KeyId, id: &Uuid) -> Result<Option<RegistrationRow>, StoreError> {
        let conn = self.read();
        let row = conn
            .query_row(
                &format!(
                    "SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE device_kid = ?1 AND id = ?2"
                ),
                params![kid.0.as_slice(), id.as_bytes().as_slice()],
                sqlite_registration,
            )
            .optional()?;
        row.map(registration_row).transpose()
    }

    fn registrations(&self, status: Option<&str>) -> Result<Vec<RegistrationRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {REGISTRATION_COLUMNS} FROM registrations
             WHERE ?1 IS NULL OR status = ?1 ORDER BY updated_at, id"
        ))?;
        let rows = stmt
            .query_map(params![status], sqlite_registration)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(registration_row).collect()
    }

    fn decisions_of(&self, kid: &KeyId, id: &Uuid) -> Result<Vec<DecisionRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE device_kid = ?1 AND id = ?2
             ORDER BY leaf_index"
        ))?;
        let rows = stmt
            .query_map(
                params![kid.0.as_slice(), id.as_bytes().as_slice()],
                sqlite_decision,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    fn decisions_of_device(&self, kid: &KeyId) -> Result<Vec<DecisionRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE device_kid = ?1 ORDER BY leaf_index"
        ))?;
        let rows = stmt
            .query_map(params![kid.0.as_slice()], sqlite_decision)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    fn review_policy(&self) -> Result<ReviewPolicy, StoreError> {
        let row: Option<(i64, bool)> = self
            .read()
            .query_row(
                "SELECT max_age_days, review_corrections FROM review_policy WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((days, review_corrections)) => ReviewPolicy {
                max_age_days: u32::try_from(days)
                    .map_err(|_| StoreError::Damaged("the review policy".into()))?,
                review_corrections,
            },
            None => ReviewPolicy::default(),
        })
    }

    fn set_review_policy(&self, policy: &ReviewPolicy) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO review_policy(id, max_age_days, review_corrections) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET max_age_days = ?1, review_corrections = ?2",
                params![i64::from(policy.max_age_days), policy.review_corrections],
            )?;
            Ok(())
        })
    }
}

type RegistrationColumns = (Vec<u8>, Vec<u8>, String, String, i64, Option<i64>);

fn sqlite_registration(r: &rusqlite::Row<'_>) -> rusqlite::Result<RegistrationColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// A registration row from its columns (any backend).
pub(crate) fn registration_row(
    (kid, id, status, reasons, updated_at, leaf): RegistrationColumns,
) -> Result<RegistrationRow, StoreError> {
    Ok(RegistrationRow {
        kid: key_id(&kid)?,
        id: uuid_of(&id)?,
        status,
        reasons: reasons
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        updated_at,
        decision_leaf: leaf.map(|l| l as u64),
    })
}

fn sqlite_decision(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<DecisionRow, StoreError>> {
    Ok(decision_row(
        r.get(0)?,
        &r.get::<_, Vec<u8>>(1)?,
        &r.get::<_, Vec<u8>>(2)?,
        r.get(3)?,
        &r.get::<_, String>(4)?,
        &r.get::<_, String>(5)?,
        &r.get::<_, String>(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

/// `policy` or `registrar` (as stored).
pub(crate) fn decided_by_str(by: DecidedBy) -> &'static str {
    match by {
        DecidedBy::Policy => "policy",
        DecidedBy::Registrar => "registrar",
    }
}

/// A stored decision row from its columns (in [`DECISION_COLUMNS`] order).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decision_row(
    leaf_index: i64,
    kid: &[u8],
    id: &[u8],
    record_index: i64,
    decision: &str,
    reason: &str,
    decided_by: &str,
    actor: Option<String>,
    sealed_note: Option<Vec<u8>>,
    duplicate_of: Option<Vec<u8>>,
    decided_at: i64,
) -> Result<DecisionRow, StoreError> {
    let damaged = |what: &str| StoreError::Damaged(format!("a decision's {what}"));
    Ok(DecisionRow {
        leaf_index: leaf_index as u64,
        kid: key_id(kid)?,
        id: uuid_of(id)?,
        record_index: record_index as u64,
        decision: DecisionKind::from_name(decision).ok_or_else(|| damaged("decision"))?,
        reason: DecisionReason::from_name(reason).ok_or_else(|| damaged("reason"))?,
        decided_by: match decided_by {
            "policy" => DecidedBy::Policy,
            "registrar" => DecidedBy::Registrar,
            _ => return Err(damaged("author")),
        },
        actor,
        sealed_note,
        duplicate_of: duplicate_of.as_deref().map(uuid_of).transpose()?,
        decided_at,
    })
}

/// The columns of a decision row, in [`decision_row`]'s order.
pub(crate) const DECISION_COLUMNS: &str = "leaf_index, device_kid, id, record_index, decision, reason, decided_by, actor, sealed_note, duplicate_of, decided_at";

/// The columns of a registration row.
pub(crate) const REGISTRATION_COLUMNS: &str =
    "device_kid, id, status, reasons, updated_at, decision_leaf";

/// The columns of a [`DuplicatePair`], in its order.
pub(crate) const PAIR_COLUMNS: &str = "record_kid, record_id, candidate_kid, candidate_id, score, level, opened_at, closed_at, decision";

/// A stored duplicate pair from its columns (in [`PAIR_COLUMNS`] order).
#[allow(clippy::too_many_arguments)]
pub(crate) fn duplicate_pair(
    record_kid: &[u8],
    record_id: &[u8],
    candidate_kid: &[u8],
    candidate_id: &[u8],
    score: i64,
    level: String,
    opened_at: i64,
    closed_at: Option<i64>,
    decision: Option<String>,
) -> Result<DuplicatePair, StoreError> {
    Ok(DuplicatePair {
        record_kid: key_id(record_kid)?,
        record_id: uuid_of(record_id)?,
        candidate_kid: key_id(candidate_kid)?,
        candidate_id: uuid_of(candidate_id)?,
        score: i32::try_from(score).map_err(|_| StoreError::Damaged("a score".into()))?,
        level,
        opened_at,
        closed_at,
        decision,
    })
}

/// The columns of a [`WitnessRow`], in [`witness_row`]'s order.
pub(crate) const WITNESS_COLUMNS: &str = "name, vkey, url, size";

/// A stored witness from its columns (in [`WITNESS_COLUMNS`] order).
pub(crate) fn witness_row(
    name: String,
    vkey: String,
    url: String,
    size: Option<i64>,
) -> WitnessRow {
    WitnessRow {
        name,
        vkey,
        url,
        size: size.map(|s| s as u64),
    }
}

fn uuid_of(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::Damaged("a record id".into()))
}

/// Duplicate detection's rows on any store: each new row is given the next row number (a row
/// kept gives none), candidate forms are read together by row number in the order asked
/// (none for a row without one) and replaced by `put_match_candidate`.
#[cfg(test)]
pub(crate) fn match_rows_behave(store: &dyn RegistryStore) {
    let row = |n: u8| RecordMatch {
        kid: KeyId([n; birthright_core::keys::KEY_ID_LEN]),
        id: Uuid::from_u128(u128::from(n)),
        keys: vec![[n; 32]],
        sealed_facts: vec![n],
        sealed_candidate: vec![n, n],
        pairs: Vec::new(),
    };
    let given = store.add_matches(&[row(1), row(2)], None, None).unwrap();
    let (Some(first), Some(second)) = (given[0], given[1]) else {
        panic!("no row numbers: {given:?}");
    };
    assert_eq!(second, first + 1);
    // (PostgreSQL's identity may skip a number for the row kept.)
    let again = store
        .add_matches(&[row(2), row(3)], None, Some(second))
        .unwrap();
    let [None, Some(third)] = again[..] else {
        panic!("{again:?}");
    };
    assert!(third > second);
    assert_eq!(
        store.match_candidates(&[third, third + 50, first]).unwrap(),
        vec![Some(vec![3, 3]), None, Some(vec![1, 1])]
    );
    assert!(store.match_candidates(&[]).unwrap().is_empty());
    store.put_match_candidate(first, &[9]).unwrap();
    store.put_match_candidate(third + 50, &[8]).unwrap();
    assert_eq!(
        store.match_candidates(&[first, third + 50]).unwrap(),
        vec![Some(vec![9]), Some(vec![8])]
    );
    let rows = store.match_records_after(first, 10).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![second, third]
    );
    // Rows made by a matching that saw only up to `second` are not stored now that `third`
    // is (their record was never matched against it), alone or with decisions.
    assert!(matches!(
        store.add_matches(&[row(4)], Some(9), Some(second)),
        Err(StoreError::MatchedBehind)
    ));
    let no_sign = |_: u64, _: &Hash| -> Result<String, LedgerError> { Ok(String::new()) };
    assert!(matches!(
        store.decide_and_match(&[], &[row(4)], Some(second), &no_sign),
        Err(StoreError::MatchedBehind)
    ));
    assert!(!store.has_match_keys(&row(4).kid, &row(4).id).unwrap());
    assert_eq!(store.match_backfill_next().unwrap(), 0);
    let [Some(fourth)] = store.add_matches(&[row(4)], None, Some(third)).unwrap()[..] else {
        panic!("row 4 not stored");
    };
    assert!(fourth > third);
}

/// The witness rows of any backend: added, listed in order, sizes only grow unless told
/// exactly (a 409), cosignature lines per size, the quorum.
#[cfg(test)]
pub(crate) fn witness_rows_behave(store: &dyn RegistryStore) {
    let row = |name: &str, vkey: &str| WitnessRow {
        name: name.into(),
        vkey: vkey.into(),
        url: format!("https://{name}"),
        size: None,
    };
    assert_eq!(store.witness_quorum().unwrap(), 0);
    assert!(store.witnesses().unwrap().is_empty());
    assert!(store.add_witness(&row("w1.test", "k1"), 10).unwrap());
    assert!(store.add_witness(&row("w2.test", "k2"), 11).unwrap());
    // Same name, another key: refused; same name and key: the URL is updated.
    assert!(!store.add_witness(&row("w1.test", "other"), 12).unwrap());
    let mut moved = row("w1.test", "k1");
    moved.url = "https://w1.test/new".into();
    assert!(store.add_witness(&moved, 13).unwrap());
    let listed = store.witnesses().unwrap();
    assert_eq!(
        listed.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
        ["w1.test", "w2.test"]
    );
    assert_eq!(listed[0].url, "https://w1.test/new");
    store
        .record_witness_size("w1.test", 5, Some("\u{2014} w1.test AAAA"), false)
        .unwrap();
    store
        .record_witness_size("w1.test", 3, None, false)
        .unwrap();
    assert_eq!(
        store.witnesses().unwrap()[0].size,
        Some(5),
        "a late answer never lowers it"
    );
    store.record_witness_size("w1.test", 2, None, true).unwrap();
    assert_eq!(
        store.witnesses().unwrap()[0].size,
        Some(2),
        "a 409 says exactly"
    );
    store
        .record_witness_size("w2.test", 5, Some("\u{2014} w2.test BBBB"), false)
        .unwrap();
    assert_eq!(
        store.cosignatures(5).unwrap(),
        ["\u{2014} w1.test AAAA", "\u{2014} w2.test BBBB"]
    );
    assert!(store.cosignatures(4).unwrap().is_empty());
    store.set_witness_quorum(2).unwrap();
    assert_eq!(store.witness_quorum().unwrap(), 2);
    store.set_witness_quorum(1).unwrap();
    assert_eq!(store.witness_quorum().unwrap(), 1);
}

#[cfg(test)]
mod tests {
    use birthright_core::ledger::merkle::{
        leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion,
    };
    use proptest::prelude::*;

    use super::*;
    use crate::sequencer::conformance::{Harness, conformance_suite};

    /// The SQLite backend under the conformance suite.
    struct Sqlite;

    impl Harness for Sqlite {
        type Backend = SqliteLedger;
        type Guard = tempfile::TempDir;
        const SCHEMA_VERSIONS: usize = MIGRATIONS.len();

        fn fresh() -> (tempfile::TempDir, SqliteLedger) {
            let dir = tempfile::tempdir().unwrap();
            let ledger = SqliteLedger::open(&dir.path().join("r.db")).unwrap();
            (dir, ledger)
        }

        fn upgraded_from(
            version: usize,
            leaves: &[Vec<u8>],
            nodes: &[(u8, u64, Hash)],
            note: &str,
        ) -> (tempfile::TempDir, SqliteLedger) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.db");
            {
                let db = Connection::open(&path).unwrap();
                for sql in &MIGRATIONS[..version] {
                    db.execute_batch(sql).unwrap();
                }
                db.pragma_update(None, "user_version", version as i64)
                    .unwrap();
                if version >= 1 {
                    for (i, leaf) in leaves.iter().enumerate() {
                        db.execute(
                            "INSERT INTO leaves VALUES (?1, ?2)",
                            params![i as i64, leaf],
                        )
                        .unwrap();
                    }
                    for (level, index, hash) in nodes {
                        db.execute(
                            "INSERT INTO nodes VALUES (?1, ?2, ?3)",
                            params![level, *index as i64, hash.as_slice()],
                        )
                        .unwrap();
                    }
                    db.execute(
                        "INSERT INTO checkpoints(size, note) VALUES (?1, ?2)",
                        params![leaves.len() as i64, note],
                    )
                    .unwrap();
                    if version >= CHECKPOINT_ROOTS_VERSION {
                        backfill_checkpoint_roots(&db).unwrap();
                    }
                }
            }
            let ledger = SqliteLedger::open(&path).unwrap();
            (dir, ledger)
        }
    }

    conformance_suite!(Sqlite);

    #[test]
    fn witness_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("r.db"), StorageKey::generate().unwrap()).unwrap();
        super::witness_rows_behave(&store);
    }

    #[test]
    fn match_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("r.db"), StorageKey::generate().unwrap()).unwrap();
        super::match_rows_behave(&store);
    }

    /// Every old schema version of the registry's SQLite database upgrades to exactly the
    /// schema of a fresh one (the shared helper's test, as the device store runs it).
    #[test]
    fn every_schema_version_upgrades_to_the_fresh_schema() {
        sqlite::assert_every_version_upgrades_to_fresh(MIGRATIONS, |conn| {
            sqlite::write(conn, migrate).unwrap()
        });
    }

    /// A database of schema 1 (records keyed by id alone) is migrated: its records keep their
    /// leaves, are keyed by (device, id) and indexed in `ledger_records`.
    #[test]
    fn schema_1_databases_are_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(MIGRATIONS[0]).unwrap();
            db.pragma_update(None, "user_version", 1).unwrap();
            db.execute(
                "INSERT INTO records VALUES (?1, 0, ?2, ?3, 5, NULL, x'00', x'00')",
                params![
                    [7u8; 16].as_slice(),
                    [1u8; 8].as_slice(),
                    [2u8; 32].as_slice()
                ],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, StorageKey::generate().unwrap()).unwrap();
        let id = Uuid::from_bytes([7; 16]);
        assert_eq!(store.record_owners(&id).unwrap(), vec![KeyId([1; 8])]);
        let conn = store.lock();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let keyed: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM records WHERE device_kid = ?1 AND id = ?2",
                params![[1u8; 8].as_slice(), [7u8; 16].as_slice()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(keyed, 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Proofs served from the SQLite store (stored nodes, O(log n) reads) verify with the
        /// core verifier devices run, for random sizes and positions, and fail when any byte
        /// of them changes.
        #[test]
        fn stored_proofs_verify_and_break_when_altered(
            chunks in proptest::collection::vec(1usize..90, 1..5),
            picks in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 4),
            flip in any::<(usize, u8)>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store =
                SqliteStore::open(&dir.path().join("r.db"), StorageKey::generate().unwrap()).unwrap();
            let mut leaves = Vec::new();
            for chunk in chunks {
                let start = leaves.len();
                let new: Vec<Vec<u8>> =
                    (start..start + chunk).map(|i| format!("leaf {i}").into_bytes()).collect();
                store.append_leaves(&new).unwrap();
                leaves.extend(new);
            }
            let n = leaves.len() as u64;
            prop_assert_eq!(store.tree_size().unwrap(), n);
            let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
            let root = |size: u64| root_from_leaf_hashes(&hashes[..size as usize]);
            for (a, b, c) in picks {
                let size = 1 + a % n;
                let index = b % size;
                let old = c % (size + 1);
                let inclusion = store.inclusion_proof(index, size).unwrap();
                verify_inclusion(&hashes[index as usize], index, size, &inclusion, &root(size))
                    .unwrap();
                let consistency = store.consistency_proof(old, size).unwrap();
                verify_consistency(old, size, &consistency, &root(old), &root(size)).unwrap();
                let (at, bit) = flip;
                if !inclusion.is_empty() {
                    let mut bad = inclusion.clone();
                    let hash = at % bad.len();
                    bad[hash][at % 32] ^= bit | 1;
                    prop_assert!(
                        verify_inclusion(&hashes[index as usize], index, size, &bad, &root(size))
                            .is_err()
                    );
                }
                if !consistency.is_empty() && old > 0 && old < size {
                    let mut bad = consistency.clone();
                    let hash = at % bad.len();
                    bad[hash][at % 32] ^= bit | 1;
                    prop_assert!(
                        verify_consistency(old, size, &bad, &root(old), &root(size)).is_err()
                    );
                }
            }
        }
    }
}
