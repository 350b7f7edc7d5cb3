//! One conformance suite for the storage trait and the sequencer, written once and run
//! unchanged against every backend: a backend's tests implement [`Harness`] and invoke
//! [`conformance_suite!`](crate::sequencer::conformance::conformance_suite).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::Duration,
};

use birthright_core::{
    keys::KeyId,
    ledger::{
        Hash, LedgerError,
        checkpoint::{Checkpoint, sign_checkpoint},
        merkle::{self, leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion},
        note::NoteSigner,
        tree,
    },
    store::StorageKey,
    wire::{LedgerLeaf, record_commitment},
};
use ed25519_dalek::SigningKey;
use uuid::Uuid;

use super::{Ledger, LedgerBackend, LedgerTx, NewRecord, Sequencer, StoredPlacement};
use crate::{
    head::HeadFile,
    store::{Candidate, Sequenced, StoreError},
};

/// What a backend provides to the suite.
pub(crate) trait Harness {
    /// The backend under test.
    type Backend: LedgerBackend + 'static;
    /// Keeps a database alive (a temporary directory, a database dropped on drop).
    type Guard;
    /// Number of schema versions of the backend.
    const SCHEMA_VERSIONS: usize;

    /// A fresh, empty, migrated database.
    fn fresh() -> (Self::Guard, Self::Backend);

    /// Whether the suite is skipped (a database server that is not there, outside CI).
    fn skip() -> bool {
        false
    }

    /// A database created at schema `version` (0: empty) holding, when `version >= 1`, the
    /// given leaves and nodes and the checkpoint `note` at their size, opened (so migrated to
    /// the current version).
    fn upgraded_from(
        version: usize,
        leaves: &[Vec<u8>],
        nodes: &[(u8, u64, Hash)],
        note: &str,
    ) -> (Self::Guard, Self::Backend);
}

/// Runs every conformance test against the [`Harness`] `$harness`.
macro_rules! conformance_suite {
    ($harness:ty) => {
        #[test]
        fn conformance_stored_proofs_verify_with_the_core_verifier() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::stored_proofs_verify::<$harness>();
        }
        #[test]
        fn conformance_dedupe_conflicts_and_corrections() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::dedupe_conflicts_and_corrections::<$harness>();
        }
        #[test]
        fn conformance_refuses_to_sign_a_fork() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::refuses_to_sign_a_fork::<$harness>();
        }
        #[test]
        fn conformance_refuses_a_restored_database() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::refuses_a_restored_database::<$harness>();
        }
        #[test]
        fn conformance_crash_between_steps_leaves_nothing() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::crash_between_steps_leaves_nothing::<$harness>();
        }
        #[test]
        fn conformance_reads_do_not_wait_for_the_write_lock() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::reads_do_not_wait_for_the_write_lock::<$harness>();
        }
        #[test]
        fn conformance_inserts_per_batch_do_not_grow_with_the_batch() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::inserts_per_batch_do_not_grow_with_the_batch::<
                $harness,
            >();
        }
        #[test]
        fn conformance_reads_during_writes_never_look_restored() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::reads_during_writes_never_look_restored::<$harness>(
            );
        }
        #[test]
        fn conformance_upgrades_from_every_schema_version() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::upgrades_from_every_schema_version::<$harness>();
        }
        #[test]
        fn conformance_tiles_are_the_stored_tree_up_to_the_signed_size() {
            if <$harness as $crate::sequencer::conformance::Harness>::skip() {
                return;
            }
            $crate::sequencer::conformance::tiles_are_the_stored_tree::<$harness>();
        }
    };
}
pub(crate) use conformance_suite;

/// The C2SP tiles read from a backend (`crate::tiles::read_tile`, on a read snapshot) are the
/// tree its leaves make, stop at the latest signed checkpoint, and give proofs that verify.
pub(crate) fn tiles_are_the_stored_tree<H: Harness>() {
    use birthright_core::ledger::tiles::{
        Tile, TileKind, TileMap, consistency_proof_from_tiles, decode_bundle, decode_hashes,
        root_from_tiles,
    };
    let (_guard, seq) = sequencer::<H>();
    let leaves: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    seq.append_leaves(&leaves[..700]).unwrap();
    let read = |t: &Tile| {
        seq.backend()
            .read(|tx| crate::tiles::read_tile(tx, t))
            .unwrap()
    };
    assert_eq!(
        read(&Tile::entries(0, 1)),
        None,
        "served before any checkpoint"
    );
    let (size, note) = seq.latest_checkpoint(&sign).unwrap();
    assert_eq!(size, 700);
    seq.append_leaves(&leaves[700..]).unwrap();
    assert_eq!(
        read(&Tile::entries(2, 189)),
        None,
        "served beyond the signed size"
    );
    assert_eq!(read(&Tile::hashes(0, 3, 1)), None);
    let mut map = TileMap::new();
    for tile in Tile::all_in_tree(700) {
        let bytes = read(&tile).unwrap();
        match tile.kind {
            TileKind::Entries => {
                let entries = decode_bundle(&tile, &bytes, 49).unwrap();
                let start = tile.index as usize * 256;
                assert_eq!(
                    entries,
                    leaves[start..start + entries.len()]
                        .iter()
                        .map(Vec::as_slice)
                        .collect::<Vec<_>>()
                );
            }
            TileKind::Hashes(_) => {
                map.insert(tile, decode_hashes(&tile, &bytes).unwrap());
            }
        }
    }
    let hashes: Vec<Hash> = leaves[..700].iter().map(|l| leaf_hash(l)).collect();
    assert_eq!(root_from_tiles(700, 700, &map).unwrap(), note_root(&note).1);
    assert_eq!(
        root_from_tiles(700, 300, &map).unwrap(),
        root_from_leaf_hashes(&hashes[..300])
    );
    let proof = consistency_proof_from_tiles(300, 700, &map).unwrap();
    verify_consistency(
        300,
        700,
        &proof,
        &root_from_leaf_hashes(&hashes[..300]),
        &note_root(&note).1,
    )
    .unwrap();
}

const ORIGIN: &str = "registry.test/births";

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[3; 32])).unwrap()
}

fn sign(size: u64, root: &Hash) -> Result<String, LedgerError> {
    sign_checkpoint(
        &signer(),
        &Checkpoint {
            origin: ORIGIN.into(),
            size,
            root_hash: *root,
            extensions: vec![],
        },
    )
}

fn never_sign(_: u64, _: &Hash) -> Result<String, LedgerError> {
    panic!("the read path signed a checkpoint")
}

fn note_root(note: &str) -> (u64, Hash) {
    let body = note.split_once("\n\n").unwrap().0;
    let checkpoint = Checkpoint::parse(&format!("{body}\n")).unwrap();
    (checkpoint.size, checkpoint.root_hash)
}

fn candidate(n: u128, device: u8, bytes: &[u8]) -> Candidate {
    Candidate {
        id: Uuid::from_u128(n),
        bytes: bytes.to_vec(),
        kid: KeyId([device; 8]),
        supersedes: None,
    }
}

fn sequencer<H: Harness>() -> (H::Guard, Sequencer<H::Backend>) {
    let (guard, backend) = H::fresh();
    (
        guard,
        Sequencer::new(backend, StorageKey::generate().unwrap()),
    )
}

fn leaf_hashes<B: LedgerBackend>(seq: &Sequencer<B>) -> Vec<Hash> {
    let size = seq.tree_size().unwrap();
    seq.leaves(0, size)
        .unwrap()
        .iter()
        .map(|l| leaf_hash(l))
        .collect()
}

/// The nodes a tree of `leaves` stores, computed without any backend.
fn nodes_of(leaves: &[Vec<u8>]) -> Vec<(u8, u64, Hash)> {
    struct Map(BTreeMap<(u8, u64), Hash>);
    impl tree::NodeReader for Map {
        fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
            self.0
                .get(&(level, index))
                .copied()
                .ok_or_else(|| LedgerError::Storage("missing".into()))
        }
    }
    let mut map = Map(BTreeMap::new());
    let mut all = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        for (level, index, hash) in tree::append_nodes(&map, i as u64, leaf_hash(leaf)).unwrap() {
            map.0.insert((level, index), hash);
            all.push((level, index, hash));
        }
    }
    all
}

/// Proofs served from the stored nodes verify with the core verifier devices run; every
/// checkpoint signs the root of the stored leaves; every accepted record's leaf commits to
/// its bytes with the salt returned; records are sealed at rest and read back intact.
pub(crate) fn stored_proofs_verify<H: Harness>() {
    let (_guard, seq) = sequencer::<H>();
    let (size, note) = seq.latest_checkpoint(&sign).unwrap();
    assert_eq!(size, 0);
    assert_eq!(note_root(&note), (0, merkle::empty_root()));
    let mut n = 0u128;
    let mut accepted = Vec::new();
    for chunk in [1usize, 2, 5, 1, 8, 13] {
        let candidates: Vec<Candidate> = (0..chunk)
            .map(|_| {
                n += 1;
                candidate(n, (n % 3) as u8, format!("record {n}").as_bytes())
            })
            .collect();
        let batch = seq
            .sequence(&Uuid::from_u128(1000 + n), &candidates, 7, &sign)
            .unwrap();
        let hashes = leaf_hashes(&seq);
        assert_eq!(batch.size, hashes.len() as u64);
        assert_eq!(
            note_root(&batch.checkpoint),
            (batch.size, root_from_leaf_hashes(&hashes))
        );
        for (c, result) in candidates.iter().zip(&batch.results) {
            let Sequenced::Accepted(placement) = result else {
                panic!("not accepted: {result:?}");
            };
            let leaf = &seq.leaves(placement.index, placement.index + 1).unwrap()[0];
            let leaf = LedgerLeaf::parse(leaf).unwrap();
            assert_eq!(
                leaf.commitment,
                record_commitment(&placement.salt, &c.bytes)
            );
            assert_eq!(leaf.device_kid, c.kid);
            accepted.push((c.clone(), placement.index));
        }
    }
    let hashes = leaf_hashes(&seq);
    let n = hashes.len() as u64;
    let root = |size: u64| root_from_leaf_hashes(&hashes[..size as usize]);
    for size in 1..=n {
        for index in 0..size {
            let proof = seq.inclusion_proof(index, size).unwrap();
            verify_inclusion(&hashes[index as usize], index, size, &proof, &root(size)).unwrap();
        }
        for old in 0..=size {
            let proof = seq.consistency_proof(old, size).unwrap();
            verify_consistency(old, size, &proof, &root(old), &root(size)).unwrap();
        }
    }
    for (c, _) in &accepted {
        assert_eq!(
            seq.record_bytes(&c.kid, &c.id).unwrap().as_deref(),
            Some(&c.bytes[..])
        );
        let sealed = seq
            .backend()
            .read(|tx| tx.sealed_record(&c.kid, &c.id))
            .unwrap()
            .unwrap();
        assert!(
            !sealed.windows(c.bytes.len()).any(|w| w == c.bytes),
            "a record is stored in plaintext"
        );
    }
}

/// Dedupe by (device, id) and bytes, conflicts, id collisions between devices, and the
/// correction rules, through the sequencer on the backend.
pub(crate) fn dedupe_conflicts_and_corrections<H: Harness>() {
    let (_guard, seq) = sequencer::<H>();
    let a = candidate(1, 1, b"first");
    let first = seq
        .sequence(&Uuid::from_u128(1), std::slice::from_ref(&a), 5, &sign)
        .unwrap();
    let Sequenced::Accepted(placed) = first.results[0].clone() else {
        panic!("{:?}", first.results);
    };
    // The same record again (a retry) gets its first placement, salt included; nothing grows
    // and no new checkpoint is signed.
    let again = seq
        .sequence(&Uuid::from_u128(2), std::slice::from_ref(&a), 9, &sign)
        .unwrap();
    assert_eq!(again.results, vec![Sequenced::Duplicate(placed.clone())]);
    assert_eq!(again.size, 1);
    assert_eq!(again.checkpoint, first.checkpoint);
    // Same device and id, other bytes: a conflict.
    let changed = candidate(1, 1, b"changed");
    let conflict = seq
        .sequence(&Uuid::from_u128(3), &[changed], 9, &sign)
        .unwrap();
    assert_eq!(conflict.results, vec![Sequenced::Conflict]);
    assert_eq!(conflict.size, 1);
    // Another device under the same id: its own record, reported as a collision.
    let other = candidate(1, 2, b"other device");
    let collided = seq
        .sequence(&Uuid::from_u128(4), &[other], 9, &sign)
        .unwrap();
    assert!(matches!(collided.results[0], Sequenced::Accepted(_)));
    assert_eq!(collided.collisions, vec![(0, KeyId([1; 8]))]);
    assert_eq!(
        seq.record_owners(&Uuid::from_u128(1)).unwrap(),
        vec![KeyId([1; 8]), KeyId([2; 8])]
    );
    // Corrections: of an unknown record, of another device's, then one accepted and a second
    // correction of the same version refused; two in one batch are judged in order.
    let mut unknown = candidate(10, 1, b"fix unknown");
    unknown.supersedes = Some(Uuid::from_u128(99));
    let mut not_owner = candidate(11, 3, b"fix other's");
    not_owner.supersedes = Some(Uuid::from_u128(1));
    let mut fix = candidate(12, 1, b"fix");
    fix.supersedes = Some(Uuid::from_u128(1));
    let mut fix_again = candidate(13, 1, b"fix again");
    fix_again.supersedes = Some(Uuid::from_u128(1));
    let batch = seq
        .sequence(
            &Uuid::from_u128(5),
            &[unknown, not_owner, fix, fix_again],
            9,
            &sign,
        )
        .unwrap();
    assert_eq!(batch.results[0], Sequenced::UnknownOriginal);
    assert_eq!(batch.results[1], Sequenced::NotOwner(KeyId([1; 8])));
    assert!(matches!(batch.results[2], Sequenced::Accepted(_)));
    assert_eq!(batch.results[3], Sequenced::AlreadyCorrected);
    assert_eq!(batch.size, 3);
    // Identical records in one batch: the second is a duplicate of the first.
    let twice = candidate(20, 4, b"twice");
    let batch = seq
        .sequence(&Uuid::from_u128(6), &[twice.clone(), twice], 9, &sign)
        .unwrap();
    let Sequenced::Accepted(p) = batch.results[0].clone() else {
        panic!("{:?}", batch.results);
    };
    assert_eq!(batch.results[1], Sequenced::Duplicate(p));
    assert_eq!(batch.size, 4);
}

/// A checkpoint in the database that the tree does not extend (a damaged or rolled-back
/// database) makes the sequencer refuse to sign, and the batch is not committed.
pub(crate) fn refuses_to_sign_a_fork<H: Harness>() {
    let (_guard, seq) = sequencer::<H>();
    seq.sequence(
        &Uuid::from_u128(1),
        &[candidate(1, 1, b"a"), candidate(2, 1, b"b")],
        5,
        &sign,
    )
    .unwrap();
    // Someone signed size 4 with another root: growing to 5 would fork it.
    seq.append_leaves(&[b"x".to_vec(), b"y".to_vec()]).unwrap();
    seq.backend()
        .write(|tx| tx.insert_checkpoint(4, &[9; 32], "forged\n"))
        .unwrap();
    let err = seq
        .sequence(&Uuid::from_u128(2), &[candidate(3, 1, b"c")], 5, &sign)
        .unwrap_err();
    assert!(matches!(err, StoreError::Fork(_)), "{err}");
    assert_eq!(seq.tree_size().unwrap(), 4);
    assert_eq!(
        seq.record_bytes(&KeyId([1; 8]), &Uuid::from_u128(3))
            .unwrap(),
        None
    );
    // A checkpoint larger than the tree: the tree is smaller than what was signed.
    let (_guard, seq) = sequencer::<H>();
    seq.sequence(&Uuid::from_u128(1), &[candidate(1, 1, b"a")], 5, &sign)
        .unwrap();
    seq.backend()
        .write(|tx| tx.insert_checkpoint(10, &[9; 32], "forged\n"))
        .unwrap();
    let err = seq
        .sequence(&Uuid::from_u128(2), &[candidate(2, 1, b"b")], 5, &sign)
        .unwrap_err();
    assert!(matches!(err, StoreError::Fork(_)), "{err}");
    assert_eq!(seq.tree_size().unwrap(), 1);
}

/// With a ledger head outside the database, a database behind it (restored from a backup)
/// is neither signed nor served, until `recover_head` accepts it.
pub(crate) fn refuses_a_restored_database<H: Harness>() {
    let dir = tempfile::tempdir().unwrap();
    let head_path = dir.path().join("ledger.head");
    let key = StorageKey::generate().unwrap();
    let (_g1, backend) = H::fresh();
    let seq = Sequencer::new(backend, key.clone()).with_head(HeadFile::open(&head_path).unwrap());
    seq.sequence(
        &Uuid::from_u128(1),
        &[candidate(1, 1, b"a"), candidate(2, 1, b"b")],
        5,
        &sign,
    )
    .unwrap();
    let (_g2, empty) = H::fresh();
    let restored = Sequencer::new(empty, key).with_head(HeadFile::open(&head_path).unwrap());
    let err = restored.latest_checkpoint(&sign).unwrap_err();
    assert!(matches!(err, StoreError::Restored(_)), "{err}");
    let err = restored
        .sequence(&Uuid::from_u128(2), &[candidate(3, 1, b"c")], 5, &sign)
        .unwrap_err();
    assert!(matches!(err, StoreError::Restored(_)), "{err}");
    assert_eq!(restored.tree_size().unwrap(), 0);
    let recovery = restored.recover_head().unwrap();
    assert_eq!(recovery.previous.map(|(s, _)| s), Some(2));
    assert_eq!(recovery.current, (0, merkle::empty_root()));
    restored.latest_checkpoint(&sign).unwrap();
}

/// Checkpoints read while batches are sequenced and published (the ledger head advancing)
/// are always served: a read snapshot taken just before a batch commits must not be taken
/// for a database restored from a backup.
pub(crate) fn reads_during_writes_never_look_restored<H: Harness>() {
    let dir = tempfile::tempdir().unwrap();
    let (_guard, backend) = H::fresh();
    let seq = Arc::new(
        Sequencer::new(backend, StorageKey::generate().unwrap())
            .with_head(HeadFile::open(&dir.path().join("ledger.head")).unwrap()),
    );
    seq.latest_checkpoint(&sign).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (seq, done) = (Arc::clone(&seq), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut served = 0u64;
                let mut last = 0;
                while !done.load(Ordering::SeqCst) {
                    let (size, _) = seq.latest_checkpoint(&sign).unwrap();
                    assert!(size >= last, "the served tree shrank");
                    last = size;
                    served += 1;
                }
                served
            })
        })
        .collect();
    for n in 0..60u128 {
        seq.sequence(&Uuid::from_u128(n), &[candidate(n, 1, b"r")], 5, &sign)
            .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert_eq!(seq.tree_size().unwrap(), 60);
}

/// A backend whose write transactions fail at the `fail_at`-th insert (0-based), as a crash
/// or a lost connection between steps would.
struct Faulty<B> {
    inner: B,
    fail_at: AtomicUsize,
    inserts: AtomicUsize,
}

struct FaultyTx<'a> {
    inner: &'a dyn LedgerTx,
    fail_at: usize,
    inserts: &'a AtomicUsize,
}

impl FaultyTx<'_> {
    fn step(&self) -> Result<(), StoreError> {
        if self.inserts.fetch_add(1, Ordering::SeqCst) == self.fail_at {
            return Err(StoreError::Backend("injected failure".into()));
        }
        Ok(())
    }
}

impl LedgerTx for FaultyTx<'_> {
    fn size(&self) -> Result<u64, StoreError> {
        self.inner.size()
    }
    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        self.inner.node(level, index)
    }
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.leaves(start, end)
    }
    fn placement(&self, kid: &KeyId, id: &Uuid) -> Result<Option<StoredPlacement>, StoreError> {
        self.inner.placement(kid, id)
    }
    fn sealed_record(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.sealed_record(kid, id)
    }
    fn on_ledger(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError> {
        self.inner.on_ledger(kid, id)
    }
    fn corrected(&self, kid: &KeyId, original: &Uuid) -> Result<bool, StoreError> {
        self.inner.corrected(kid, original)
    }
    fn owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError> {
        self.inner.owners(id)
    }
    fn insert_nodes(&self, nodes: &[(u8, u64, Hash)]) -> Result<(), StoreError> {
        self.step()?;
        self.inner.insert_nodes(nodes)
    }
    fn insert_leaves(&self, leaves: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        self.step()?;
        self.inner.insert_leaves(leaves)
    }
    fn insert_records(&self, records: &[NewRecord]) -> Result<(), StoreError> {
        self.step()?;
        self.inner.insert_records(records)
    }
    fn insert_batch(&self, batch_id: &Uuid, at: i64, records: u64) -> Result<(), StoreError> {
        self.step()?;
        self.inner.insert_batch(batch_id, at, records)
    }
    fn registration_status(&self, kid: &KeyId, id: &Uuid) -> Result<Option<String>, StoreError> {
        self.inner.registration_status(kid, id)
    }
    fn insert_decisions(&self, decisions: &[crate::store::DecisionRow]) -> Result<(), StoreError> {
        self.step()?;
        self.inner.insert_decisions(decisions)
    }
    fn insert_matches(
        &self,
        matches: &[crate::store::RecordMatch],
        seen: Option<i64>,
    ) -> Result<crate::store::MatchRows, StoreError> {
        if !matches.is_empty() {
            self.step()?;
        }
        self.inner.insert_matches(matches, seen)
    }
    fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError> {
        self.inner.checkpoint(size)
    }
    fn latest_checkpoint(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        self.inner.latest_checkpoint()
    }
    fn insert_checkpoint(&self, size: u64, root: &Hash, note: &str) -> Result<(), StoreError> {
        self.step()?;
        self.inner.insert_checkpoint(size, root, note)
    }
}

impl<B: LedgerBackend> LedgerBackend for Faulty<B> {
    fn write<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.inserts.store(0, Ordering::SeqCst);
        let fail_at = self.fail_at.load(Ordering::SeqCst);
        self.inner.write(|tx| {
            f(&FaultyTx {
                inner: tx,
                fail_at,
                inserts: &self.inserts,
            })
        })
    }
    fn read<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.inner.read(f)
    }
}

/// A failure at any step of sequencing a batch (each insert, and the signature) rolls the
/// whole batch back: the tree, the records and the checkpoints are as before, and the retry
/// sequences it exactly once.
pub(crate) fn crash_between_steps_leaves_nothing<H: Harness>() {
    let (_guard, backend) = H::fresh();
    let seq = Sequencer::new(
        Faulty {
            inner: backend,
            fail_at: AtomicUsize::new(usize::MAX),
            inserts: AtomicUsize::new(0),
        },
        StorageKey::generate().unwrap(),
    );
    seq.sequence(&Uuid::from_u128(1), &[candidate(1, 1, b"before")], 5, &sign)
        .unwrap();
    let batch = [candidate(2, 1, b"a"), candidate(3, 2, b"b")];
    // Count the inserts of a whole batch on a throw-away database of the same state.
    let steps = {
        let (_g, backend) = H::fresh();
        let counting = Sequencer::new(
            Faulty {
                inner: backend,
                fail_at: AtomicUsize::new(usize::MAX),
                inserts: AtomicUsize::new(0),
            },
            StorageKey::generate().unwrap(),
        );
        counting
            .sequence(&Uuid::from_u128(1), &[candidate(1, 1, b"before")], 5, &sign)
            .unwrap();
        counting
            .sequence(&Uuid::from_u128(2), &batch, 5, &sign)
            .unwrap();
        counting.backend().inserts.load(Ordering::SeqCst)
    };
    // Nodes, leaves, records, the batch id and the checkpoint: one insert each.
    assert_eq!(steps, 5, "a batch of two took {steps} inserts");
    let before = (
        seq.tree_size().unwrap(),
        seq.latest_checkpoint(&never_sign).unwrap(),
    );
    for fail_at in 0..steps {
        seq.backend().fail_at.store(fail_at, Ordering::SeqCst);
        let err = seq
            .sequence(&Uuid::from_u128(2), &batch, 5, &sign)
            .unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        assert_eq!(
            (
                seq.tree_size().unwrap(),
                seq.latest_checkpoint(&never_sign).unwrap()
            ),
            before,
            "failing at insert {fail_at} left a trace"
        );
        for c in &batch {
            assert_eq!(seq.record_bytes(&c.kid, &c.id).unwrap(), None);
            assert_eq!(seq.record_owners(&c.id).unwrap(), vec![]);
        }
    }
    // The signature failing rolls back too.
    seq.backend().fail_at.store(usize::MAX, Ordering::SeqCst);
    let failing = |_: u64, _: &Hash| -> Result<String, LedgerError> {
        Err(LedgerError::Storage("no signer".into()))
    };
    seq.sequence(&Uuid::from_u128(2), &batch, 5, &failing)
        .unwrap_err();
    assert_eq!(seq.tree_size().unwrap(), 1);
    // The retry lands exactly once.
    let done = seq.sequence(&Uuid::from_u128(2), &batch, 5, &sign).unwrap();
    assert!(
        done.results
            .iter()
            .all(|r| matches!(r, Sequenced::Accepted(_)))
    );
    assert_eq!(done.size, 3);
    let hashes = leaf_hashes(&seq);
    assert_eq!(
        note_root(&done.checkpoint),
        (3, root_from_leaf_hashes(&hashes))
    );
}

/// The rows of a batch are written with one insert per table, however many records it holds
/// (on PostgreSQL one round trip each), and records that refer to each other within one
/// batch (the same record twice, a correction of a record in the same batch, an id another
/// device took in it) are decided as if they had come one batch each.
pub(crate) fn inserts_per_batch_do_not_grow_with_the_batch<H: Harness>() {
    let (_guard, backend) = H::fresh();
    let seq = Sequencer::new(
        Faulty {
            inner: backend,
            fail_at: AtomicUsize::new(usize::MAX),
            inserts: AtomicUsize::new(0),
        },
        StorageKey::generate().unwrap(),
    );
    let mut inserts = Vec::new();
    let mut size = 0;
    for (n, records) in [(1u128, 2u128), (2, 40)] {
        let batch: Vec<Candidate> = (0..records)
            .map(|i| candidate(n * 1000 + i, 1, format!("record {n} {i}").as_bytes()))
            .collect();
        seq.sequence(&Uuid::from_u128(n), &batch, 5, &sign).unwrap();
        inserts.push(seq.backend().inserts.load(Ordering::SeqCst));
        size += records as u64;
    }
    assert_eq!(inserts, vec![5, 5], "inserts for batches of 2 and 40");
    assert_eq!(seq.tree_size().unwrap(), size);
    let original = candidate(9000, 1, b"original");
    let mut correction = candidate(9001, 1, b"correction");
    correction.supersedes = Some(original.id);
    let mut second_correction = candidate(9002, 1, b"second");
    second_correction.supersedes = Some(original.id);
    let copied = candidate(9000, 2, b"another device, same id");
    let done = seq
        .sequence(
            &Uuid::from_u128(3),
            &[
                original.clone(),
                original,
                correction,
                second_correction,
                copied,
            ],
            5,
            &sign,
        )
        .unwrap();
    assert!(matches!(done.results[0], Sequenced::Accepted(_)));
    assert_eq!(
        done.results[1],
        Sequenced::Duplicate(match &done.results[0] {
            Sequenced::Accepted(p) => p.clone(),
            other => panic!("{other:?}"),
        })
    );
    assert!(matches!(done.results[2], Sequenced::Accepted(_)));
    assert_eq!(done.results[3], Sequenced::AlreadyCorrected);
    assert!(matches!(done.results[4], Sequenced::Accepted(_)));
    assert_eq!(done.collisions, vec![(4, KeyId([1; 8]))]);
    assert_eq!(done.size, size + 3);
    let hashes = leaf_hashes(&seq);
    let root = root_from_leaf_hashes(&hashes);
    for index in [0, size, size + 2] {
        let proof = seq.inclusion_proof(index, size + 3).unwrap();
        verify_inclusion(&hashes[index as usize], index, size + 3, &proof, &root).unwrap();
    }
}

/// While a write transaction holds the write lock, the checkpoint, proofs and leaves are
/// served (from a read snapshot, without signing).
pub(crate) fn reads_do_not_wait_for_the_write_lock<H: Harness>() {
    let (_guard, seq) = sequencer::<H>();
    seq.sequence(
        &Uuid::from_u128(1),
        &[candidate(1, 1, b"a"), candidate(2, 1, b"b")],
        5,
        &sign,
    )
    .unwrap();
    let seq = Arc::new(seq);
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let writer = {
        let seq = Arc::clone(&seq);
        std::thread::spawn(move || {
            seq.backend()
                .write(|tx| {
                    tx.insert_leaves(&[(2, b"uncommitted".to_vec())])?;
                    locked_tx.send(()).unwrap();
                    release_rx.recv_timeout(Duration::from_secs(60)).ok();
                    Err::<(), _>(StoreError::Backend("rolled back".into()))
                })
                .unwrap_err();
        })
    };
    locked_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    {
        let seq = Arc::clone(&seq);
        std::thread::spawn(move || {
            let served = (
                seq.latest_checkpoint(&never_sign).map(|(s, _)| s).ok(),
                seq.inclusion_proof(0, 2).is_ok(),
                seq.consistency_proof(1, 2).is_ok(),
                seq.leaves(0, 3).map(|l| l.len()).ok(),
            );
            done_tx.send(served).ok();
        });
    }
    let served = done_rx.recv_timeout(Duration::from_secs(20));
    release_tx.send(()).ok();
    writer.join().unwrap();
    assert_eq!(
        served.expect("reads waited for the write lock"),
        (Some(2), true, true, Some(2))
    );
}

/// A database of every earlier schema version opens, migrates, keeps its ledger, and its old
/// checkpoint (whose root was read from its note during the upgrade) still guards against a
/// fork: a tree that does not extend it is refused, one that does is sequenced.
pub(crate) fn upgrades_from_every_schema_version<H: Harness>() {
    let leaves: Vec<Vec<u8>> = (0..3)
        .map(|i| format!("old leaf {i}").into_bytes())
        .collect();
    let nodes = nodes_of(&leaves);
    let root = root_from_leaf_hashes(&leaves.iter().map(|l| leaf_hash(l)).collect::<Vec<_>>());
    let good = sign(3, &root).unwrap();
    let forged = sign(3, &[7; 32]).unwrap();
    for version in 0..H::SCHEMA_VERSIONS {
        let (_guard, backend) = H::upgraded_from(version, &leaves, &nodes, &good);
        let seq = Sequencer::new(backend, StorageKey::generate().unwrap());
        let old = if version == 0 { 0 } else { 3 };
        assert_eq!(seq.tree_size().unwrap(), old, "from version {version}");
        if version >= 1 {
            assert_eq!(
                seq.latest_checkpoint(&never_sign).unwrap(),
                (3, good.clone()),
                "from version {version}"
            );
            assert_eq!(
                seq.backend().read(|tx| tx.latest_checkpoint()).unwrap(),
                Some((3, root)),
                "from version {version}"
            );
        }
        let batch = seq
            .sequence(&Uuid::from_u128(1), &[candidate(1, 1, b"new")], 5, &sign)
            .unwrap();
        assert_eq!(batch.size, old + 1, "from version {version}");
        let hashes = leaf_hashes(&seq);
        if version >= 1 {
            let proof = seq.consistency_proof(3, 4).unwrap();
            verify_consistency(3, 4, &proof, &root, &root_from_leaf_hashes(&hashes)).unwrap();
            // The same old ledger under a checkpoint of another root: refused.
            let (_guard, backend) = H::upgraded_from(version, &leaves, &nodes, &forged);
            let seq = Sequencer::new(backend, StorageKey::generate().unwrap());
            let err = seq
                .sequence(&Uuid::from_u128(1), &[candidate(1, 1, b"new")], 5, &sign)
                .unwrap_err();
            assert!(
                matches!(err, StoreError::Fork(_)),
                "from version {version}: {err}"
            );
        }
    }
}
