//! The one sequencer of the ledger, for every storage backend.
//!
//! [`Sequencer`] owns everything the ledger's integrity rests on: dedupe by (device, record id)
//! and record bytes, the correction rules, fresh commitment salts, building leaves, appending
//! the Merkle nodes, sealing records and salts under the data key, signing checkpoints, and
//! the refusal to sign a fork (a tree that does not extend the latest signed checkpoint, or
//! the ledger head kept outside the database). A backend only stores and reads rows through
//! the narrow [`LedgerTx`] inside transactions its [`LedgerBackend`] opens, the way Tessera's
//! drivers share one integration routine (`storage/internal/integrate.go`) and Sunlight keeps
//! all sequencing in `sequencePool` over a small `Backend`.
//!
//! Writes go through [`LedgerBackend::write`], one serialised transaction (the backend's
//! write lock); reads through [`LedgerBackend::read`], a read-only snapshot that never waits
//! for that lock. Only the write path signs.

use birthright_core::{
    keys::{KeyId, os_random},
    ledger::{Hash, LedgerError, merkle, tiles::Tile, tree},
    store::StorageKey,
    wire::{DecisionLeaf, LedgerLeaf, record_commitment},
};
use std::collections::HashMap;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    head::HeadFile,
    store::{
        Candidate, Decided, DecisionRow, MatchRows, NewDecision, Placement, RecordMatch, Recovery,
        Sequenced, SequencedBatch, StoreError,
    },
};

/// A record's row as stored (sealed): what dedupe reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlacement {
    /// Leaf index.
    pub index: u64,
    /// Sequencing time.
    pub sequenced_at: i64,
    /// The commitment salt, sealed under the data key.
    pub sealed_salt: Vec<u8>,
    /// SHA-256 of the signed record bytes.
    pub record_hash: [u8; 32],
}

/// A new record row: the sealed record and salt, and the ledger index entry beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The signing device.
    pub kid: KeyId,
    /// Record id.
    pub id: Uuid,
    /// Leaf index.
    pub index: u64,
    /// SHA-256 of the signed record bytes.
    pub record_hash: [u8; 32],
    /// Sequencing time.
    pub sequenced_at: i64,
    /// The record it corrects.
    pub supersedes: Option<Uuid>,
    /// The signed record bytes, sealed under the data key.
    pub sealed_record: Vec<u8>,
    /// The salt, sealed under the data key.
    pub sealed_salt: Vec<u8>,
}

/// The storage operations the sequencer needs, inside one transaction of a backend.
pub trait LedgerTx {
    /// Number of leaves.
    fn size(&self) -> Result<u64, StoreError>;
    /// Merkle node `(level, index)`; it must exist.
    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError>;
    /// Merkle nodes `at`, in that order; they must exist. A backend across a network reads
    /// them in one round trip (a proof needs about log2(size) of them).
    fn nodes_at(&self, at: &[(u8, u64)]) -> Result<Vec<Hash>, StoreError> {
        at.iter()
            .map(|&(level, index)| self.node(level, index))
            .collect()
    }
    /// Leaf data for indices `[start, end)`.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Merkle nodes `(level, start..end)`, all of which must exist (a tile's hashes: one range
    /// read where the backend has one).
    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        (start..end).map(|i| self.node(level, i)).collect()
    }
    /// The stored row of device `kid`'s record `id`, if it is stored (not erased).
    fn placement(&self, kid: &KeyId, id: &Uuid) -> Result<Option<StoredPlacement>, StoreError>;
    /// The sealed record bytes of device `kid`'s record `id`.
    fn sealed_record(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether device `kid`'s record `id` was ever sequenced (even if since erased).
    fn on_ledger(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError>;
    /// Whether device `kid` already sequenced a correction of its record `original`.
    fn corrected(&self, kid: &KeyId, original: &Uuid) -> Result<bool, StoreError>;
    /// The devices with a record `id` on the ledger, first sequenced first.
    fn owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError>;
    /// Inserts Merkle nodes (a whole transaction's at once: one statement per table where
    /// the backend can, so the number of round trips does not grow with the batch).
    fn insert_nodes(&self, nodes: &[(u8, u64, Hash)]) -> Result<(), StoreError>;
    /// Inserts leaves `(index, data)`.
    fn insert_leaves(&self, leaves: &[(u64, Vec<u8>)]) -> Result<(), StoreError>;
    /// Inserts records, their (never deleted) ledger index entries and their registrations
    /// (`declared`).
    fn insert_records(&self, records: &[NewRecord]) -> Result<(), StoreError>;
    /// The registration status of device `kid`'s record `id` (`None`: no row).
    fn registration_status(&self, kid: &KeyId, id: &Uuid) -> Result<Option<String>, StoreError>;
    /// Inserts decisions beside their leaves and sets each record's status to its decision.
    fn insert_decisions(&self, decisions: &[DecisionRow]) -> Result<(), StoreError>;
    /// Stores records' keyed blocking hashes, sealed facts and open pairs (duplicate
    /// detection's rows, docs/MATCHING.md §7); a row or pair already stored is kept. Returns
    /// the row numbers given ([`MatchRows`]). With `seen`, nothing is stored if a row was
    /// stored after that one ([`StoreError::MatchedBehind`]).
    fn insert_matches(
        &self,
        matches: &[RecordMatch],
        seen: Option<i64>,
    ) -> Result<MatchRows, StoreError>;
    /// Remembers a batch id (once).
    fn insert_batch(
        &self,
        batch_id: &Uuid,
        received_at: i64,
        records: u64,
    ) -> Result<(), StoreError>;
    /// The signed checkpoint note of `size`.
    fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError>;
    /// The largest signed checkpoint's size and root (stored beside its note).
    fn latest_checkpoint(&self) -> Result<Option<(u64, Hash)>, StoreError>;
    /// Stores a signed checkpoint with its root.
    fn insert_checkpoint(&self, size: u64, root: &Hash, note: &str) -> Result<(), StoreError>;
}

/// A storage backend: transactions over [`LedgerTx`].
pub trait LedgerBackend: Send + Sync {
    /// Runs `f` in one write transaction, serialised with every other writer of the database
    /// (across processes too): committed if `f` returns `Ok`, rolled back otherwise, so a
    /// failure between steps leaves nothing half-written.
    fn write<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;

    /// Runs `f` on a read-only snapshot of the last committed state, never waiting for the
    /// write lock.
    fn read<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
}

/// Signs a checkpoint for (size, root).
pub type Sign<'a> = &'a dyn Fn(u64, &Hash) -> Result<String, LedgerError>;

struct Nodes<'a>(&'a dyn LedgerTx);

impl tree::NodeReader for Nodes<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.0
            .node(level, index)
            .map_err(|e| LedgerError::Storage(e.to_string()))
    }
}

/// A tree computation's node reads, batched: the computation runs once recording the nodes
/// it asks for (which nodes a root or proof needs depends only on the sizes and indices,
/// never on the hashes), the backend reads them all at once ([`LedgerTx::nodes_at`]), and the
/// computation runs again on them.
enum Prefetch {
    Record(std::cell::RefCell<Vec<(u8, u64)>>),
    Serve(HashMap<(u8, u64), Hash>),
}

impl tree::NodeReader for Prefetch {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        match self {
            Prefetch::Record(asked) => {
                asked.borrow_mut().push((level, index));
                Ok([0; 32])
            }
            Prefetch::Serve(nodes) => nodes.get(&(level, index)).copied().ok_or_else(|| {
                LedgerError::Storage(format!("node ({level}, {index}) was not read"))
            }),
        }
    }
}

/// Runs `compute` over the nodes of `tx` with one batched read (see [`Prefetch`]).
fn batched<T>(
    tx: &dyn LedgerTx,
    compute: impl Fn(&Prefetch) -> Result<T, LedgerError>,
) -> Result<T, StoreError> {
    let recording = Prefetch::Record(Default::default());
    compute(&recording)?;
    let Prefetch::Record(asked) = recording else {
        unreachable!("constructed as Record above")
    };
    let mut at = asked.into_inner();
    at.sort_unstable();
    at.dedup();
    let hashes = tx.nodes_at(&at)?;
    Ok(compute(&Prefetch::Serve(
        at.into_iter().zip(hashes).collect(),
    ))?)
}

/// The rows one write transaction appends, kept in memory and written at its end with one
/// insert per table ([`Pending::flush`]) instead of several round trips per record. Its reads
/// see the stored rows and the pending ones, so dedupe, corrections and the node appends
/// within one batch behave exactly as if every row had been written at once.
struct Pending<'a> {
    tx: &'a dyn LedgerTx,
    nodes: Vec<(u8, u64, Hash)>,
    node_at: HashMap<(u8, u64), Hash>,
    leaves: Vec<(u64, Vec<u8>)>,
    records: Vec<NewRecord>,
}

impl tree::NodeReader for Pending<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        match self.node_at.get(&(level, index)) {
            Some(hash) => Ok(*hash),
            None => Nodes(self.tx).node(level, index),
        }
    }
}

impl<'a> Pending<'a> {
    fn new(tx: &'a dyn LedgerTx) -> Self {
        Pending {
            tx,
            nodes: Vec::new(),
            node_at: HashMap::new(),
            leaves: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Appends leaf `size` and the nodes it completes.
    fn append(&mut self, size: u64, leaf: Vec<u8>) -> Result<(), StoreError> {
        let nodes = tree::append_nodes(&*self, size, merkle::leaf_hash(&leaf))?;
        for (level, index, hash) in nodes {
            self.node_at.insert((level, index), hash);
            self.nodes.push((level, index, hash));
        }
        self.leaves.push((size, leaf));
        Ok(())
    }

    fn placement(&self, kid: &KeyId, id: &Uuid) -> Result<Option<StoredPlacement>, StoreError> {
        match self.records.iter().find(|r| &r.kid == kid && &r.id == id) {
            Some(r) => Ok(Some(StoredPlacement {
                index: r.index,
                sequenced_at: r.sequenced_at,
                sealed_salt: r.sealed_salt.clone(),
                record_hash: r.record_hash,
            })),
            None => self.tx.placement(kid, id),
        }
    }

    fn on_ledger(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError> {
        Ok(self.records.iter().any(|r| &r.kid == kid && &r.id == id)
            || self.tx.on_ledger(kid, id)?)
    }

    fn corrected(&self, kid: &KeyId, original: &Uuid) -> Result<bool, StoreError> {
        Ok(self
            .records
            .iter()
            .any(|r| &r.kid == kid && r.supersedes.as_ref() == Some(original))
            || self.tx.corrected(kid, original)?)
    }

    /// The owners of `id`, stored ones first (their leaves come before the pending ones).
    fn owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError> {
        let mut owners = self.tx.owners(id)?;
        owners.extend(self.records.iter().filter(|r| &r.id == id).map(|r| r.kid));
        Ok(owners)
    }

    /// Writes every pending row.
    fn flush(self) -> Result<(), StoreError> {
        if !self.nodes.is_empty() {
            self.tx.insert_nodes(&self.nodes)?;
        }
        if !self.leaves.is_empty() {
            self.tx.insert_leaves(&self.leaves)?;
        }
        if !self.records.is_empty() {
            self.tx.insert_records(&self.records)?;
        }
        Ok(())
    }
}

fn record_context(id: &Uuid, column: &str) -> Vec<u8> {
    birthright_core::store::crypto::context("records", column, id.as_bytes())
}

/// The sequencer over backend `B`.
pub struct Sequencer<B> {
    backend: B,
    data_key: StorageKey,
    head: Option<HeadFile>,
}

impl<B: LedgerBackend> Sequencer<B> {
    /// A sequencer over `backend`, sealing records under `data_key`.
    pub fn new(backend: B, data_key: StorageKey) -> Self {
        Sequencer {
            backend,
            data_key,
            head: None,
        }
    }

    /// Keeps the ledger head in `head` (outside the database): nothing that does not extend
    /// the largest tree published is then signed or served.
    pub fn with_head(mut self, head: HeadFile) -> Self {
        self.head = Some(head);
        self
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Appends pre-built leaves (each the 49-byte leaf of `docs/PROTOCOL.md` §10) in one
    /// transaction and returns the new size: for mirrors and benchmarks. No record or
    /// checkpoint is written; the next checkpoint request signs the new size.
    pub fn append_leaves(&self, leaves: &[Vec<u8>]) -> Result<u64, StoreError> {
        self.backend.write(|tx| {
            let mut size = tx.size()?;
            let mut pending = Pending::new(tx);
            for leaf in leaves {
                pending.append(size, leaf.clone())?;
                size += 1;
            }
            pending.flush()?;
            Ok(size)
        })
    }

    fn open_placement(&self, id: &Uuid, stored: StoredPlacement) -> Result<Placement, StoreError> {
        let salt = self
            .data_key
            .open(&record_context(id, "sealed_salt"), &stored.sealed_salt)
            .and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok())
            .ok_or_else(|| StoreError::Damaged(format!("salt of record {id}")))?;
        Ok(Placement {
            index: stored.index,
            salt,
            sequenced_at: stored.sequenced_at,
        })
    }

    /// The checkpoint of `size` and the tree's root, signing it if there is none yet. Refuses
    /// a tree that does not extend the ledger head or the latest checkpoint in the database.
    fn checkpoint_or_sign(
        &self,
        tx: &dyn LedgerTx,
        size: u64,
        sign: Sign<'_>,
    ) -> Result<(String, Hash), StoreError> {
        let root = batched(tx, |n| tree::root(n, size))?;
        // Under the write lock, which every head advance of this process follows.
        self.check_head(tx, size, &root, self.published_head())?;
        if let Some(note) = tx.checkpoint(size)? {
            return Ok((note, root));
        }
        Self::check_extends_latest_checkpoint(tx, size, &root)?;
        let note = sign(size, &root)?;
        tx.insert_checkpoint(size, &root, &note)?;
        Ok((note, root))
    }

    /// Refuses a tree of `size` (root `root`) that does not extend the ledger head.
    ///
    /// `published` is the head as read before the transaction `tx` began (see
    /// [`Self::published_head`]); the head file's newer values are not used.
    fn check_head(
        &self,
        tx: &dyn LedgerTx,
        size: u64,
        root: &Hash,
        published: Option<(u64, Hash)>,
    ) -> Result<(), StoreError> {
        let Some(head) = &self.head else {
            return Ok(());
        };
        let Some((head_size, head_root)) = published else {
            return Ok(());
        };
        if head.verified(size) {
            return Ok(());
        }
        if head_size > size {
            return Err(StoreError::Restored(format!(
                "the database holds {size} leaves, but a checkpoint of {head_size} leaves was \
                 already published"
            )));
        }
        if head_size == size {
            if &head_root != root {
                return Err(StoreError::Restored(format!(
                    "the tree of {size} leaves has another root than the one already published"
                )));
            }
        } else {
            let proof = batched(tx, |n| tree::consistency_proof(n, head_size, size))?;
            merkle::verify_consistency(head_size, size, &proof, &head_root, root).map_err(|e| {
                StoreError::Restored(format!(
                    "the tree of {size} leaves does not extend the published tree of \
                     {head_size} leaves ({e})"
                ))
            })?;
        }
        head.mark_verified(size);
        Ok(())
    }

    /// The ledger head as published now. Read before a transaction begins: the head only
    /// advances after the tree it names is committed, so every snapshot taken afterwards holds
    /// at least that tree. (Read inside a read snapshot instead, a batch committed and
    /// published meanwhile by a writer would look like a restored database.)
    fn published_head(&self) -> Option<(u64, Hash)> {
        self.head.as_ref().and_then(|h| h.get())
    }

    /// Records (size, root) as the ledger head, durably, before its checkpoint is given out.
    fn advance_head(&self, size: u64, root: &Hash) -> Result<(), StoreError> {
        match &self.head {
            Some(head) => head.advance(size, root),
            None => Ok(()),
        }
    }

    /// Refuses to sign a tree that does not extend the latest signed checkpoint: a database
    /// restored from an old backup, or damaged nodes, must stop the registry rather than make
    /// it sign a fork. Verified with the same proof check devices run, against the root stored
    /// beside the checkpoint (no note is parsed).
    fn check_extends_latest_checkpoint(
        tx: &dyn LedgerTx,
        size: u64,
        root: &Hash,
    ) -> Result<(), StoreError> {
        let Some((signed_size, signed_root)) = tx.latest_checkpoint()? else {
            return Ok(());
        };
        let fork = |why: String| {
            StoreError::Fork(format!(
                "the ledger of size {size} {why} the checkpoint already signed at size {signed_size}"
            ))
        };
        if signed_size > size {
            return Err(fork("is smaller than".into()));
        }
        let proof = batched(tx, |n| tree::consistency_proof(n, signed_size, size))?;
        merkle::verify_consistency(signed_size, size, &proof, &signed_root, root)
            .map_err(|e| fork(format!("is not consistent with ({e})")))
    }
}

/// The ledger operations a registry store serves, object-safe so a store holds its backend's
/// sequencer as `&dyn Ledger` and [`crate::store::RegistryStore`] delegates to it once, in its
/// default methods: a backend implements only its storage.
pub trait Ledger: Send + Sync {
    /// Sequences `candidates` in one transaction and signs the checkpoint of the new size.
    fn sequence(
        &self,
        batch_id: &Uuid,
        candidates: &[Candidate],
        now: i64,
        sign: Sign<'_>,
    ) -> Result<SequencedBatch, StoreError>;
    /// The latest signed checkpoint and its size (signing it if the newest tree is unsigned).
    fn latest_checkpoint(&self, sign: Sign<'_>) -> Result<(u64, String), StoreError>;
    /// Inclusion proof of leaf `index` in the tree of `size`.
    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError>;
    /// Consistency proof between two sizes.
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError>;
    /// Leaf data for `[start, end)`.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Current tree size.
    fn tree_size(&self) -> Result<u64, StoreError>;
    /// The bytes of a C2SP tile or entry bundle of the latest signed tree, from a read
    /// snapshot (`None` when that tree does not hold it).
    fn tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StoreError>;
    /// The devices with a record `id` on the ledger, first sequenced first.
    fn record_owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError>;
    /// The decrypted signed record bytes of device `kid`'s record `id`.
    fn record_bytes(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError>;
    /// Accepts the database's tree as the ledger head after a restore (`registry recover`).
    fn recover_head(&self) -> Result<Recovery, StoreError>;
    /// Appends decisions (PROTOCOL §10.1) in one transaction and signs the new checkpoint.
    fn decide(&self, decisions: &[NewDecision], sign: Sign<'_>) -> Result<Decided, StoreError> {
        Ok(self.decide_and_match(decisions, &[], None, sign)?.0)
    }
    /// [`Self::decide`], and stores `matches` in the same transaction (even when a decision
    /// is stale and none is appended), with the row numbers they were given. With `seen`
    /// (see [`LedgerTx::insert_matches`]), nothing at all is written if a row of
    /// duplicate detection was stored after it.
    fn decide_and_match(
        &self,
        decisions: &[NewDecision],
        matches: &[RecordMatch],
        seen: Option<i64>,
        sign: Sign<'_>,
    ) -> Result<(Decided, MatchRows), StoreError>;
}

impl<B: LedgerBackend> Ledger for Sequencer<B> {
    /// Sequences `candidates` in one transaction and signs the checkpoint of the new size.
    fn sequence(
        &self,
        batch_id: &Uuid,
        candidates: &[Candidate],
        now: i64,
        sign: Sign<'_>,
    ) -> Result<SequencedBatch, StoreError> {
        let (batch, root) = self.backend.write(|tx| {
            let mut size = tx.size()?;
            let mut results = Vec::with_capacity(candidates.len());
            let mut collisions = Vec::new();
            let mut pending = Pending::new(tx);
            for (position, c) in candidates.iter().enumerate() {
                let hash: [u8; 32] = Sha256::digest(&c.bytes).into();
                if let Some(stored) = pending.placement(&c.kid, &c.id)? {
                    results.push(if stored.record_hash == hash {
                        Sequenced::Duplicate(self.open_placement(&c.id, stored)?)
                    } else {
                        Sequenced::Conflict
                    });
                    continue;
                }
                if pending.on_ledger(&c.kid, &c.id)? {
                    results.push(Sequenced::Removed);
                    continue;
                }
                if let Some(original) = &c.supersedes {
                    if !pending.on_ledger(&c.kid, original)? {
                        results.push(match pending.owners(original)?.first() {
                            Some(owner) => Sequenced::NotOwner(*owner),
                            None => Sequenced::UnknownOriginal,
                        });
                        continue;
                    }
                    if pending.corrected(&c.kid, original)? {
                        results.push(Sequenced::AlreadyCorrected);
                        continue;
                    }
                }
                if let Some(other) = pending.owners(&c.id)?.into_iter().find(|k| k != &c.kid) {
                    collisions.push((position, other));
                }
                let mut salt = [0u8; 32];
                os_random(&mut salt).map_err(|e| StoreError::Rng(e.to_string()))?;
                let leaf = LedgerLeaf {
                    commitment: record_commitment(&salt, &c.bytes),
                    device_kid: c.kid,
                    sequenced_at: now,
                }
                .to_bytes();
                pending.append(size, leaf.to_vec())?;
                let seal = |column: &str, plain: &[u8]| {
                    self.data_key
                        .seal(&record_context(&c.id, column), plain)
                        .map_err(|e| StoreError::Rng(e.to_string()))
                };
                pending.records.push(NewRecord {
                    kid: c.kid,
                    id: c.id,
                    index: size,
                    record_hash: hash,
                    sequenced_at: now,
                    supersedes: c.supersedes,
                    sealed_record: seal("sealed_record", &c.bytes)?,
                    sealed_salt: seal("sealed_salt", &salt)?,
                });
                results.push(Sequenced::Accepted(Placement {
                    index: size,
                    salt,
                    sequenced_at: now,
                }));
                size += 1;
            }
            pending.flush()?;
            // Only a batch with at least one verified record is remembered: garbage sealed to
            // the public key leaves no trace.
            if !candidates.is_empty() {
                tx.insert_batch(batch_id, now, candidates.len() as u64)?;
            }
            let (checkpoint, root) = self.checkpoint_or_sign(tx, size, sign)?;
            Ok((
                SequencedBatch {
                    results,
                    size,
                    checkpoint,
                    collisions,
                },
                root,
            ))
        })?;
        self.advance_head(batch.size, &root)?;
        Ok(batch)
    }

    /// The latest signed checkpoint and its size. Served from a read snapshot when the newest
    /// tree is signed (always, after `init` and every batch); otherwise the write path signs it.
    fn latest_checkpoint(&self, sign: Sign<'_>) -> Result<(u64, String), StoreError> {
        let published = self.published_head();
        let served = self.backend.read(|tx| {
            let size = tx.size()?;
            match tx.checkpoint(size)? {
                Some(note) => {
                    let root = batched(tx, |n| tree::root(n, size))?;
                    self.check_head(tx, size, &root, published)?;
                    Ok(Some((size, note, root)))
                }
                None => Ok(None),
            }
        })?;
        let (size, note, root) = match served {
            Some(served) => served,
            None => self.backend.write(|tx| {
                let size = tx.size()?;
                let (note, root) = self.checkpoint_or_sign(tx, size, sign)?;
                Ok((size, note, root))
            })?,
        };
        self.advance_head(size, &root)?;
        Ok((size, note))
    }

    /// Inclusion proof of leaf `index` in the tree of `size`, from a read snapshot.
    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.backend
            .read(|tx| batched(tx, |n| tree::inclusion_proof(n, index, size)))
    }

    /// Consistency proof between two sizes, from a read snapshot.
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError> {
        self.backend
            .read(|tx| batched(tx, |n| tree::consistency_proof(n, old_size, new_size)))
    }

    /// Leaf data for `[start, end)`.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.backend.read(|tx| tx.leaves(start, end))
    }

    /// Current tree size.
    fn tree_size(&self) -> Result<u64, StoreError> {
        self.backend.read(|tx| tx.size())
    }

    fn tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.read(|tx| crate::tiles::read_tile(tx, tile))
    }

    /// The devices with a record `id` on the ledger, first sequenced first.
    fn record_owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError> {
        self.backend.read(|tx| tx.owners(id))
    }

    /// The decrypted signed record bytes of device `kid`'s record `id`.
    fn record_bytes(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let sealed = self.backend.read(|tx| tx.sealed_record(kid, id))?;
        sealed
            .map(|s| {
                self.data_key
                    .open(&record_context(id, "sealed_record"), &s)
                    .map(|p| p.to_vec())
                    .ok_or_else(|| StoreError::Damaged(format!("record {id}")))
            })
            .transpose()
    }

    fn decide_and_match(
        &self,
        decisions: &[NewDecision],
        matches: &[RecordMatch],
        seen: Option<i64>,
        sign: Sign<'_>,
    ) -> Result<(Decided, MatchRows), StoreError> {
        let (decided, root) = self.backend.write(|tx| {
            let rows_given = tx.insert_matches(matches, seen)?;
            let mut size = tx.size()?;
            let mut pending = Pending::new(tx);
            let mut rows = Vec::with_capacity(decisions.len());
            for d in decisions {
                let status = tx.registration_status(&d.kid, &d.id)?;
                let expected = status
                    .as_ref()
                    .is_some_and(|s| d.expect.iter().any(|e| e == s));
                let placement = match expected {
                    true => tx.placement(&d.kid, &d.id)?,
                    false => None,
                };
                let Some(placement) = placement else {
                    return Ok(((Decided::Stale { id: d.id, status }, rows_given), None));
                };
                let record_leaf = tx
                    .leaves(placement.index, placement.index + 1)?
                    .pop()
                    .ok_or_else(|| StoreError::Damaged(format!("leaf of record {}", d.id)))?;
                let record_leaf = LedgerLeaf::parse(&record_leaf)?;
                let leaf = DecisionLeaf {
                    record_index: placement.index,
                    commitment: record_leaf.commitment,
                    decision: d.decision,
                    reason: d.reason,
                    decided_by: d.decided_by,
                    decided_at: d.at,
                };
                pending.append(size, leaf.to_bytes().to_vec())?;
                rows.push(DecisionRow {
                    leaf_index: size,
                    kid: d.kid,
                    id: d.id,
                    record_index: placement.index,
                    decision: d.decision,
                    reason: d.reason,
                    decided_by: d.decided_by,
                    actor: d.actor.clone(),
                    sealed_note: d.sealed_note.clone(),
                    duplicate_of: d.duplicate_of,
                    decided_at: d.at,
                });
                size += 1;
            }
            pending.flush()?;
            tx.insert_decisions(&rows)?;
            let (checkpoint, root) = self.checkpoint_or_sign(tx, size, sign)?;
            Ok((
                (
                    Decided::Appended {
                        rows,
                        size,
                        checkpoint,
                    },
                    rows_given,
                ),
                Some((size, root)),
            ))
        })?;
        if let Some((size, root)) = root {
            self.advance_head(size, &root)?;
        }
        Ok(decided)
    }

    /// Accepts the database's tree as the ledger head after a restore (`registry recover`),
    /// under the write lock so no batch is sequenced meanwhile.
    fn recover_head(&self) -> Result<Recovery, StoreError> {
        let Some(head) = &self.head else {
            return Err(StoreError::Head {
                path: std::path::PathBuf::new(),
                message: "this store keeps no ledger head".into(),
            });
        };
        self.backend.write(|tx| {
            let size = tx.size()?;
            let root = batched(tx, |n| tree::root(n, size))?;
            Self::check_extends_latest_checkpoint(tx, size, &root)?;
            let previous = head.get();
            head.replace(size, &root)?;
            Ok(Recovery {
                previous,
                current: (size, root),
            })
        })
    }
}

#[cfg(test)]
pub(crate) mod conformance;
