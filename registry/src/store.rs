//! Registry storage behind one narrow trait, [`RegistryStore`], so the HTTP layer and the
//! service hold no SQL and a PostgreSQL backend can be added beside [`SqliteStore`].
//!
//! SQLite: WAL, `synchronous=FULL`, numbered migrations in `PRAGMA user_version`, and every
//! multi-step write (enrolment, a whole batch) in one `IMMEDIATE` transaction. One connection
//! behind a mutex is the single sequencer: concurrent batches are applied one after another.

use std::{
    path::Path,
    sync::{Mutex, MutexGuard},
};

use birthright_core::{
    keys::{KeyId, os_random},
    ledger::{Hash, LedgerError, checkpoint::Checkpoint, merkle, tree},
    registry_keys::Revocation,
    store::StorageKey,
    wire::{LedgerLeaf, record_commitment},
};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database backend failed (SQLite today; any backend maps its errors here, so the
    /// trait does not name one).
    #[error("database error: {0}")]
    Backend(String),
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
    /// Revocation reason, if revoked.
    pub revoke_reason: Option<String>,
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
    /// Same id, different bytes.
    Conflict,
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

    /// Revokes a device from `at`; false if there is no such device.
    fn revoke(&self, kid: &KeyId, at: i64, reason: &str) -> Result<bool, StoreError>;

    /// Every revocation.
    fn revocations(&self) -> Result<Vec<Revocation>, StoreError>;

    /// Sequences `candidates` in one transaction and returns their placements and the signed
    /// checkpoint. `sign` signs a checkpoint for (size, root); it is called only when the tree
    /// grew (or for the first, empty, checkpoint), so two checkpoints never share a size.
    fn sequence(
        &self,
        batch_id: &Uuid,
        candidates: &[Candidate],
        now: i64,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<SequencedBatch, StoreError>;

    /// The latest signed checkpoint and its size, signing the empty one if there is none yet.
    fn latest_checkpoint(
        &self,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<(u64, String), StoreError>;

    /// Inclusion proof of leaf `index` in the tree of `size`.
    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError>;

    /// Consistency proof between two sizes.
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError>;

    /// Leaf data for indices `[start, end)`.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Current tree size.
    fn tree_size(&self) -> Result<u64, StoreError>;

    /// The decrypted signed record bytes of record `id`.
    fn record_bytes(&self, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError>;
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
    // 2: tokens are found by their public id (`hash` now holds `wire::enrol_token_id`) and
    // checked with their binding key; tokens issued before have none and cannot be used.
    "ALTER TABLE tokens ADD COLUMN binding_key BLOB;",
];

/// The embedded SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    data_key: StorageKey,
}

struct TxNodes<'a>(&'a Connection);

impl tree::NodeReader for TxNodes<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")
            .map_err(|e| LedgerError::Storage(e.to_string()))?;
        let hash: Vec<u8> = stmt
            .query_row(params![level, index as i64], |r| r.get(0))
            .map_err(|e| LedgerError::Storage(format!("node ({level}, {index}): {e}")))?;
        hash.try_into()
            .map_err(|_| LedgerError::Storage(format!("node ({level}, {index}) is not 32 bytes")))
    }
}

fn record_context(id: &Uuid, column: &str) -> Vec<u8> {
    birthright_core::store::crypto::context("records", column, id.as_bytes())
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
    })
}

const DEVICE_COLUMNS: &str = "kid, public_key, worker_id, region, enrolled_at, not_before, not_after, revoked_at, revoke_reason";

impl SqliteStore {
    /// Opens (creating and migrating) the registry database at `path`.
    pub fn open(path: &Path, data_key: StorageKey) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "cache_size", -65536)?;
        let store = SqliteStore {
            conn: Mutex::new(conn),
            data_key,
        };
        store.write(|tx| {
            let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > MIGRATIONS.len() as i64 {
                return Err(StoreError::SchemaTooNew(version));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", i as i64 + 1)?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    fn size_in(conn: &Connection) -> Result<u64, StoreError> {
        // MAX on the integer primary key is one index lookup, not a scan of 10 million rows.
        let size: i64 =
            conn.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves", [], |r| {
                r.get(0)
            })?;
        Ok(size as u64)
    }

    fn placement(
        &self,
        tx: &Connection,
        id: &Uuid,
    ) -> Result<Option<(Placement, Vec<u8>)>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>, Vec<u8>)> = tx
            .query_row(
                "SELECT leaf_index, sequenced_at, sealed_salt, record_hash FROM records WHERE id = ?1",
                [id.as_bytes().as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(index, at, sealed_salt, hash)| {
            let salt = self
                .data_key
                .open(&record_context(id, "sealed_salt"), &sealed_salt)
                .and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok())
                .ok_or_else(|| StoreError::Damaged(format!("salt of record {id}")))?;
            Ok((
                Placement {
                    index: index as u64,
                    salt,
                    sequenced_at: at,
                },
                hash,
            ))
        })
        .transpose()
    }

    /// Appends pre-built leaves (each the 49-byte leaf of `docs/PROTOCOL.md` §10) in one
    /// transaction, with their complete-subtree nodes, and returns the new size: for mirrors of
    /// a ledger and for benchmarks. No record or checkpoint is written; the next checkpoint
    /// request signs the new size.
    pub fn append_leaves(&self, leaves: &[Vec<u8>]) -> Result<u64, StoreError> {
        self.write(|tx| {
            let mut size = Self::size_in(tx)?;
            let mut insert_node =
                tx.prepare_cached("INSERT INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)")?;
            let mut insert_leaf =
                tx.prepare_cached("INSERT INTO leaves(idx, data) VALUES (?1, ?2)")?;
            for leaf in leaves {
                for (level, index, node) in
                    tree::append_nodes(&TxNodes(tx), size, merkle::leaf_hash(leaf))?
                {
                    insert_node.execute(params![level, index as i64, node.as_slice()])?;
                }
                insert_leaf.execute(params![size as i64, leaf])?;
                size += 1;
            }
            Ok(size)
        })
    }

    fn checkpoint_in(conn: &Connection, size: u64) -> Result<Option<String>, StoreError> {
        Ok(conn
            .query_row(
                "SELECT note FROM checkpoints WHERE size = ?1",
                [size as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn checkpoint_or_sign(
        tx: &Transaction<'_>,
        size: u64,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<String, StoreError> {
        if let Some(note) = Self::checkpoint_in(tx, size)? {
            return Ok(note);
        }
        let root = tree::root(&TxNodes(tx), size)?;
        Self::check_extends_latest_checkpoint(tx, size, &root)?;
        let note = sign(size, &root)?;
        tx.execute(
            "INSERT INTO checkpoints(size, note) VALUES (?1, ?2)",
            params![size as i64, note],
        )?;
        Ok(note)
    }
}

impl SqliteStore {
    /// Refuses to sign a tree that does not extend the latest signed checkpoint: a database
    /// restored from an old backup, or damaged nodes, must stop the registry rather than make
    /// it sign a fork. Verified with the same proof check devices run.
    fn check_extends_latest_checkpoint(
        tx: &Transaction<'_>,
        size: u64,
        root: &Hash,
    ) -> Result<(), StoreError> {
        let latest: Option<(i64, String)> = tx
            .query_row(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((signed_size, note)) = latest else {
            return Ok(());
        };
        let signed_size = signed_size as u64;
        let fork = |why: String| {
            StoreError::Fork(format!(
                "the ledger of size {size} {why} the checkpoint already signed at size {signed_size}"
            ))
        };
        if signed_size > size {
            return Err(fork("is smaller than".into()));
        }
        let body = note
            .split_once("\n\n")
            .map(|(body, _)| format!("{body}\n"))
            .ok_or_else(|| StoreError::Damaged("stored checkpoint has no signature".into()))?;
        let signed = Checkpoint::parse(&body)
            .map_err(|e| StoreError::Damaged(format!("stored checkpoint: {e}")))?;
        let proof = tree::consistency_proof(&TxNodes(tx), signed_size, size)?;
        merkle::verify_consistency(signed_size, size, &proof, &signed.root_hash, root)
            .map_err(|e| fork(format!("is not consistent with ({e})")))
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
                if used_by.as_deref() == Some(device.kid.0.as_slice()) {
                    if let Some(existing) = tx
                        .query_row(
                            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE kid = ?1"),
                            [device.kid.0.as_slice()],
                            device_row,
                        )
                        .optional()?
                    {
                        return Ok(Ok(existing));
                    }
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
                &format!("INSERT INTO devices({DEVICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL)"),
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
            .lock()
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE kid = ?1"),
                [kid.0.as_slice()],
                device_row,
            )
            .optional()?)
    }

    fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, rowid"
        ))?;
        let rows = stmt.query_map([], device_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn revoke(&self, kid: &KeyId, at: i64, reason: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2), revoke_reason = COALESCE(revoke_reason, ?3)
                 WHERE kid = ?1",
                params![kid.0.as_slice(), at, reason],
            )?;
            Ok(changed == 1)
        })
    }

    fn revocations(&self) -> Result<Vec<Revocation>, StoreError> {
        let conn = self.lock();
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

    fn sequence(
        &self,
        batch_id: &Uuid,
        candidates: &[Candidate],
        now: i64,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<SequencedBatch, StoreError> {
        self.write(|tx| {
            let mut size = Self::size_in(tx)?;
            let mut results = Vec::with_capacity(candidates.len());
            for c in candidates {
                let hash: [u8; 32] = Sha256::digest(&c.bytes).into();
                if let Some((placement, stored_hash)) = self.placement(tx, &c.id)? {
                    results.push(if stored_hash == hash {
                        Sequenced::Duplicate(placement)
                    } else {
                        Sequenced::Conflict
                    });
                    continue;
                }
                let mut salt = [0u8; 32];
                os_random(&mut salt).map_err(|e| StoreError::Rng(e.to_string()))?;
                let leaf = LedgerLeaf {
                    commitment: record_commitment(&salt, &c.bytes),
                    device_kid: c.kid,
                    sequenced_at: now,
                }
                .to_bytes();
                let nodes = tree::append_nodes(&TxNodes(tx), size, merkle::leaf_hash(&leaf))?;
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)",
                    )?;
                    for (level, index, node) in nodes {
                        insert.execute(params![level, index as i64, node.as_slice()])?;
                    }
                }
                tx.execute(
                    "INSERT INTO leaves(idx, data) VALUES (?1, ?2)",
                    params![size as i64, leaf.as_slice()],
                )?;
                let sealed_record = self
                    .data_key
                    .seal(&record_context(&c.id, "sealed_record"), &c.bytes)
                    .map_err(|e| StoreError::Rng(e.to_string()))?;
                let sealed_salt = self
                    .data_key
                    .seal(&record_context(&c.id, "sealed_salt"), &salt)
                    .map_err(|e| StoreError::Rng(e.to_string()))?;
                tx.execute(
                    "INSERT INTO records(id, leaf_index, device_kid, record_hash, sequenced_at, supersedes, sealed_record, sealed_salt)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        c.id.as_bytes().as_slice(),
                        size as i64,
                        c.kid.0.as_slice(),
                        hash.as_slice(),
                        now,
                        c.supersedes.map(|s| s.as_bytes().to_vec()),
                        sealed_record,
                        sealed_salt
                    ],
                )?;
                results.push(Sequenced::Accepted(Placement {
                    index: size,
                    salt,
                    sequenced_at: now,
                }));
                size += 1;
            }
            tx.execute(
                "INSERT INTO batches(id, received_at, records) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO NOTHING",
                params![batch_id.as_bytes().as_slice(), now, candidates.len() as i64],
            )?;
            let checkpoint = Self::checkpoint_or_sign(tx, size, sign)?;
            Ok(SequencedBatch {
                results,
                size,
                checkpoint,
            })
        })
    }

    fn latest_checkpoint(
        &self,
        sign: &dyn Fn(u64, &Hash) -> Result<String, LedgerError>,
    ) -> Result<(u64, String), StoreError> {
        self.write(|tx| {
            let size = Self::size_in(tx)?;
            Ok((size, Self::checkpoint_or_sign(tx, size, sign)?))
        })
    }

    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        Ok(tree::inclusion_proof(&TxNodes(&self.lock()), index, size)?)
    }

    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError> {
        Ok(tree::consistency_proof(
            &TxNodes(&self.lock()),
            old_size,
            new_size,
        )?)
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT data FROM leaves WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
        let rows = stmt
            .query_map(params![start as i64, end as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn tree_size(&self) -> Result<u64, StoreError> {
        Self::size_in(&self.lock())
    }

    fn record_bytes(&self, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let sealed: Option<Vec<u8>> = self
            .lock()
            .query_row(
                "SELECT sealed_record FROM records WHERE id = ?1",
                [id.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .optional()?;
        sealed
            .map(|s| {
                self.data_key
                    .open(&record_context(id, "sealed_record"), &s)
                    .map(|p| p.to_vec())
                    .ok_or_else(|| StoreError::Damaged(format!("record {id}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use birthright_core::ledger::merkle::{
        leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion,
    };
    use proptest::prelude::*;

    use super::*;

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
