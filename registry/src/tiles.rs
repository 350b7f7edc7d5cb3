//! The ledger as C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>, `docs/PROTOCOL.md` §16):
//! served under `/tlog/` and exported as a tree of static files (`registry tiles export`) that
//! any web server or object store can mirror.
//!
//! Tiles are built from the stored Merkle nodes and leaves through the backend's read path (a
//! read-only snapshot on the store's read connections, never the sequencer's write lock; see
//! [`read_tile`]), and only up to the latest signed checkpoint: a tile never shows leaves no
//! checkpoint commits to. A hash tile at level `L` is the stored nodes
//! `(8·L, N·256 .. N·256 + W)`; an entry bundle is the leaves' bytes (the
//! 49-byte commitments of `docs/PROTOCOL.md` §10, never personal data) with their `u16`
//! length prefixes. Full tiles never change (long cache lifetimes); partial ones and the
//! checkpoint are cached briefly.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
};

use birthright_core::ledger::{
    checkpoint::Checkpoint,
    tiles::{Tile, TileError, TileKind, encode_bundle, encode_hashes},
};

use crate::{
    Registry, ServiceError,
    api::{Answer, Call},
    sequencer::LedgerTx,
    service::OpenError,
    store::StoreError,
};

/// `Cache-Control` of full tiles and bundles: they never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of partial tiles and bundles (replaced by wider ones as the log grows).
pub const PARTIAL: &str = "public, max-age=60";
/// `Cache-Control` of the checkpoint (the spec: no caching beyond a few seconds).
pub const CHECKPOINT: &str = "public, max-age=5";
/// `Cache-Control` of a tile that is not there (yet).
pub const NOT_THERE: &str = "no-store";

/// The bytes of `tile` if the latest signed checkpoint's tree holds it (`None` otherwise),
/// from one read snapshot.
pub fn read_tile(tx: &dyn LedgerTx, tile: &Tile) -> Result<Option<Vec<u8>>, StoreError> {
    let Some((size, _)) = tx.latest_checkpoint()? else {
        return Ok(None);
    };
    if !tile.within(size) {
        return Ok(None);
    }
    let start = tile.index * 256;
    let end = start + u64::from(tile.width);
    Ok(Some(match tile.kind {
        TileKind::Entries => {
            let leaves = tx.leaves(start, end)?;
            if leaves.len() as u64 != end - start {
                return Err(StoreError::Damaged(format!(
                    "leaves {start}..{end}: {} stored",
                    leaves.len()
                )));
            }
            encode_bundle(&leaves).map_err(|e| StoreError::Damaged(e.to_string()))?
        }
        TileKind::Hashes(level) => {
            let height = level
                .checked_mul(8)
                .ok_or_else(|| StoreError::Damaged(format!("tile level {level}")))?;
            encode_hashes(&tx.nodes(height, start, end)?)
        }
    }))
}

/// `GET /tlog/checkpoint`: the checkpoint `/v1/checkpoint` serves.
pub(crate) fn checkpoint_answer(registry: &Registry, _: Call<'_>) -> Result<Answer, ServiceError> {
    let mut answer = Answer::ok(
        "text/plain; charset=utf-8",
        registry.checkpoint()?.into_bytes(),
    );
    answer.cache_control = Some(CHECKPOINT);
    Ok(answer)
}

/// `GET /tlog/tile/…`: a hash tile or an entry bundle; 404 for a path outside the grammar or a
/// tile the signed tree does not hold.
pub(crate) fn tile_answer(registry: &Registry, call: Call<'_>) -> Result<Answer, ServiceError> {
    let not_found = |message: String| {
        let mut answer = Answer::error(404, "not_found", message);
        answer.cache_control = Some(NOT_THERE);
        answer
    };
    let Some(rest) = call.path.strip_prefix("/tlog/") else {
        return Ok(not_found("no such endpoint".into()));
    };
    let tile = match Tile::parse_path(rest) {
        Ok(tile) => tile,
        Err(e) => return Ok(not_found(e.to_string())),
    };
    Ok(match registry.tile(&tile)? {
        Some(bytes) => {
            let mut answer = Answer::ok("application/octet-stream", bytes);
            answer.cache_control = Some(if tile.is_full() { IMMUTABLE } else { PARTIAL });
            answer
        }
        None => not_found(format!("{tile} is not in the signed tree")),
    })
}

/// A failed `registry tiles export`.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The registry could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The registry refused to give its checkpoint (e.g. a restored database).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored checkpoint does not parse.
    #[error("the registry's checkpoint is damaged: {0}")]
    Checkpoint(String),
    /// A tile the signed tree holds is missing from storage.
    #[error("{0} is missing from the registry's storage")]
    Missing(Tile),
    /// Writing a file failed (the message names the file and the reason once).
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
}

/// What `registry tiles export` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// The exported tree size (the checkpoint's).
    pub size: u64,
    /// Tiles and bundles written.
    pub written: u64,
    /// Tiles and bundles already there and kept.
    pub kept: u64,
}

/// The tree size a signed checkpoint note commits to.
pub fn note_size(note: &str) -> Result<u64, TileError> {
    let body = note
        .split_once("\n\n")
        .map(|(body, _)| format!("{body}\n"))
        .ok_or_else(|| TileError::BadEdge("the checkpoint has no signature".into()))?;
    Ok(Checkpoint::parse(&body)?.size)
}

/// Writes `bytes` to `path` atomically: a new file beside it, flushed to disk, renamed over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |error| ExportError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(name);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Flushes directory entries (renames) to disk.
pub fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|error| ExportError::Io {
            path: dir.to_path_buf(),
            error,
        })?;
    Ok(())
}

/// `registry tiles export`: writes the checkpoint and every tile of its tree under `out`
/// (`out/checkpoint`, `out/tile/…`), the tree `/tlog/` serves. Tiles already there are kept
/// (each was written whole, by rename), so a repeated export writes only what is new; the
/// checkpoint is written last, so a mirror never names tiles it does not have.
pub fn export(dir: &Path, out: &Path) -> Result<ExportSummary, ExportError> {
    let registry = Registry::open(dir)?;
    let note = registry.checkpoint()?;
    let size = note_size(&note).map_err(|e| ExportError::Checkpoint(e.to_string()))?;
    let mut summary = ExportSummary {
        size,
        written: 0,
        kept: 0,
    };
    let mut dirs = BTreeSet::new();
    for tile in Tile::all_in_tree(size) {
        let path = out.join(tile.path());
        if path.is_file() {
            summary.kept += 1;
            continue;
        }
        let bytes = registry.tile(&tile)?.ok_or(ExportError::Missing(tile))?;
        if let Some(parent) = path.parent()
            && dirs.insert(parent.to_path_buf())
        {
            std::fs::create_dir_all(parent).map_err(|error| ExportError::Io {
                path: parent.to_path_buf(),
                error,
            })?;
        }
        write_atomic(&path, &bytes)?;
        summary.written += 1;
    }
    for d in &dirs {
        sync_dir(d)?;
    }
    std::fs::create_dir_all(out).map_err(|error| ExportError::Io {
        path: out.to_path_buf(),
        error,
    })?;
    write_atomic(&out.join("checkpoint"), note.as_bytes())?;
    sync_dir(out)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use birthright_core::ledger::{
        merkle::{leaf_hash, verify_consistency},
        tiles::{TileMap, consistency_proof_from_tiles, decode_bundle, decode_hashes},
        tree,
    };

    use super::*;
    use crate::{keys::DB_FILE, store::SqliteStore};

    #[test]
    fn tiles_from_storage_match_the_tree_and_stop_at_the_signed_size() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, _) = Registry::init(dir.path(), "registry.test/births").unwrap();
        drop(registry);
        let keys = crate::keys::RegistryKeys::load(dir.path()).unwrap();
        let store = SqliteStore::open(&dir.path().join(DB_FILE), keys.data_key.clone()).unwrap();
        let leaves: Vec<Vec<u8>> = (0..70_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        store.append_leaves(&leaves[..600]).unwrap();
        let log = Registry::open(dir.path()).unwrap();
        // Appended but not signed yet: nothing is served.
        assert_eq!(log.tile(&Tile::entries(0, 1)).unwrap(), None);
        let registry = Registry::open(dir.path()).unwrap();
        assert_eq!(note_size(&registry.checkpoint().unwrap()).unwrap(), 600);
        store.append_leaves(&leaves[600..]).unwrap();
        // 600 signed: tiles up to it, nothing beyond.
        let bundle = log.tile(&Tile::entries(2, 88)).unwrap().unwrap();
        let entries = decode_bundle(&Tile::entries(2, 88), &bundle, 65_535).unwrap();
        assert_eq!(entries[0], &leaves[512][..]);
        assert_eq!(log.tile(&Tile::entries(2, 89)).unwrap(), None);
        assert_eq!(log.tile(&Tile::hashes(1, 0, 3)).unwrap(), None);
        assert!(log.tile(&Tile::hashes(1, 0, 2)).unwrap().is_some());
        assert_eq!(note_size(&registry.checkpoint().unwrap()).unwrap(), 70_000);
        let mut memory = tree::MemoryTree::new();
        for l in &leaves {
            memory.push(leaf_hash(l));
        }
        let mut map = TileMap::new();
        for tile in Tile::all_in_tree(70_000).filter(|t| t.kind != TileKind::Entries) {
            let bytes = log.tile(&tile).unwrap().unwrap();
            map.insert(tile, decode_hashes(&tile, &bytes).unwrap());
        }
        let proof = consistency_proof_from_tiles(600, 70_000, &map).unwrap();
        verify_consistency(
            600,
            70_000,
            &proof,
            &tree::root(&memory, 600).unwrap(),
            &memory.root(),
        )
        .unwrap();
    }

    #[test]
    fn export_writes_the_tree_once_and_then_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        Registry::init(dir.path(), "registry.test/births").unwrap();
        let keys = crate::keys::RegistryKeys::load(dir.path()).unwrap();
        let store = SqliteStore::open(&dir.path().join(DB_FILE), keys.data_key.clone()).unwrap();
        store
            .append_leaves(
                &(0..300u32)
                    .map(|i| i.to_be_bytes().to_vec())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let first = export(dir.path(), out.path()).unwrap();
        assert_eq!(
            first,
            ExportSummary {
                size: 300,
                written: 5,
                kept: 0
            }
        );
        let full = out.path().join("tile/0/000");
        assert_eq!(std::fs::read(&full).unwrap().len(), 8192);
        store
            .append_leaves(
                &(300..600u32)
                    .map(|i| i.to_be_bytes().to_vec())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let second = export(dir.path(), out.path()).unwrap();
        // Kept: both full tiles of 300; written: entries 001, 002.p/88, tile/0/001,
        // 0/002.p/88, 1/000.p/2.
        assert_eq!((second.size, second.kept, second.written), (600, 2, 5));
        let note = std::fs::read_to_string(out.path().join("checkpoint")).unwrap();
        assert_eq!(note_size(&note).unwrap(), 600);
        assert!(out.path().join("tile/entries/002.p/88").is_file());
    }
}
