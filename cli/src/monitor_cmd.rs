//! `birthright monitor`: follows a ledger through its C2SP tiles alone (the registry's
//! `/tlog/` or any static mirror of `registry tiles export`), recomputes the tree from the
//! entries, and checks every checkpoint it sees against the registry's key, the trust bundle's
//! witness quorum (PROTOCOL §17) and the checkpoint it verified before. On a split view (two validly signed checkpoints that are not
//! consistent) it prints both as evidence and exits 20.
//!
//! What it verified stays in the state directory: `monitor.json` (the checkpoint, its size and
//! root, and the partial right edge of the tree, replaced atomically) and `tile/…`, the full
//! hash tiles it computed itself (32 bytes per leaf), written before the state that names them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, anyhow};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use birthright_core::{
    ledger::{
        Hash,
        checkpoint::{Checkpoint, verify_checkpoint},
        merkle::{leaf_hash, verify_consistency},
        note::NoteVerifier,
        tiles::{
            MAX_ENTRY_BYTES, Tile, TileKind, TileMap, TileTree, consistency_proof_from_tiles,
            decode_bundle, decode_hashes, encode_hashes, root_from_tiles, tiles_for_consistency,
            tiles_for_root,
        },
    },
    sync::{HttpRequest, Method, Transport},
    trust::TrustBundle,
    wire::LedgerEntry,
};
use birthright_registry::tiles::{sync_dir, write_atomic};
use serde::{Deserialize, Serialize};

use crate::{
    files::{MAX_TRUST_BYTES, read_bounded},
    http::{UreqTransport, registry_url},
    output::{coded, print_json},
};

/// Exit code: a split view, proven by two signed checkpoints.
pub(crate) const EXIT_SPLIT_VIEW: u8 = 20;
/// Exit code: the checkpoint is not validly signed by the registry's key (or has another
/// origin).
pub(crate) const EXIT_BAD_CHECKPOINT: u8 = 21;
/// Exit code: the log's tiles or entries do not match its own signed checkpoint.
pub(crate) const EXIT_LOG_INCONSISTENT: u8 = 22;
/// Exit code: the checkpoint is validly signed by the registry but lacks the trust bundle's
/// witness quorum: not followed (devices do not acknowledge under it either).
pub(crate) const EXIT_UNWITNESSED: u8 = 23;

/// The state file in the state directory.
pub(crate) const STATE_FILE: &str = "monitor.json";
const STATE_FORMAT: &str = "birthright-monitor-v1";
/// Largest state file read (the right edge is at most 8 × 255 hashes).
const MAX_STATE_BYTES: u64 = 1024 * 1024;
/// Largest checkpoint accepted (the signed-note limit).
const MAX_CHECKPOINT_BYTES: usize = birthright_core::ledger::note::MAX_NOTE_BYTES;
/// Times a request told to wait (429, 503 with `Retry-After`) is retried.
const RETRIES: u32 = 20;
/// Longest wait honoured between retries.
const MAX_WAIT_SECS: u64 = 30;

/// What the monitor keeps of the last checkpoint it verified.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    format: String,
    origin: String,
    checkpoint_vkey: String,
    size: u64,
    root: String,
    checkpoint: String,
    /// The partial tiles of the verified tree, level by level (base64 hashes).
    edge: Vec<Vec<String>>,
}

/// One checkpoint as printed.
#[derive(Debug, Clone, Serialize)]
struct Seen {
    size: u64,
    root: String,
    checkpoint: String,
}

/// The monitor's verdict.
#[derive(Debug, Serialize)]
struct Report {
    status: &'static str,
    message: String,
    origin: String,
    size: u64,
    root: String,
    previous_size: Option<u64>,
    new_leaves: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<Evidence>,
}

#[derive(Debug, Serialize)]
struct Evidence {
    verified: Seen,
    conflicting: Seen,
    /// The root the conflicting tree has at the verified size, proven from its tiles (when
    /// the conflicting checkpoint is the larger).
    #[serde(skip_serializing_if = "Option::is_none")]
    conflicting_root_at_verified_size: Option<String>,
    /// File in the state directory where both checkpoints were saved.
    saved: PathBuf,
}

/// The log's tile tree over HTTP.
struct Log {
    transport: UreqTransport,
    base: String,
}

impl Log {
    /// GETs `path` under the prefix; retries what the server asks to wait for.
    fn get(&self, path: &str) -> Result<Vec<u8>> {
        for _ in 0..RETRIES {
            let answer = self
                .transport
                .send(&HttpRequest {
                    method: Method::Get,
                    path: format!("/{path}"),
                    content_type: None,
                    body: Vec::new(),
                })
                .map_err(|e| {
                    coded(
                        "network_unreachable",
                        format!("{}/{path}: {}", self.base, e.message),
                    )
                })?;
            match answer.status {
                200 => return Ok(answer.body),
                429 | 503 => {
                    let secs = answer.retry_after_secs.unwrap_or(1).clamp(1, MAX_WAIT_SECS);
                    tracing::debug!(path, secs, "asked to wait");
                    std::thread::sleep(Duration::from_secs(secs));
                }
                404 => {
                    return Err(coded(
                        "not_found",
                        format!("{}/{path} is not there (404)", self.base),
                    ));
                }
                status => {
                    return Err(coded(
                        "refused",
                        format!("{}/{path} answered {status}", self.base),
                    ));
                }
            }
        }
        Err(coded(
            "refused",
            format!("{}/{path}: still busy after {RETRIES} tries", self.base),
        ))
    }

    fn hashes(&self, tile: &Tile) -> Result<Vec<Hash>> {
        let bytes = self.get(&tile.path())?;
        decode_hashes(tile, &bytes).map_err(|e| anyhow!(e))
    }
}

fn b64(hash: &Hash) -> String {
    B64.encode(hash)
}

fn hash_from(text: &str, what: &str) -> Result<Hash> {
    B64.decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            coded(
                "store_damaged",
                format!("the monitor state's {what} is damaged"),
            )
        })
}

fn load_state(dir: &Path) -> Result<Option<State>> {
    let path = dir.join(STATE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(&path, MAX_STATE_BYTES)?;
    let state: State = serde_json::from_slice(&bytes).map_err(|e| {
        coded(
            "store_damaged",
            format!("{} is damaged: {e}", path.display()),
        )
    })?;
    if state.format != STATE_FORMAT {
        return Err(coded(
            "store_damaged",
            format!(
                "{} is not a monitor state this version reads",
                path.display()
            ),
        ));
    }
    Ok(Some(state))
}

fn save_state(dir: &Path, state: &State) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state)?;
    write_atomic(&dir.join(STATE_FILE), &bytes)?;
    sync_dir(dir)?;
    Ok(())
}

/// The full hash tiles the monitor verified, read back from the state directory.
fn local_tile(dir: &Path, tile: &Tile) -> Result<Vec<Hash>> {
    let path = dir.join(tile.path());
    let bytes = read_bounded(&path, 8192)
        .with_context(|| format!("the monitor state lacks {tile}: was it deleted?"))?;
    decode_hashes(tile, &bytes).map_err(|e| coded("store_damaged", e.to_string()))
}

fn save_evidence(dir: &Path, verified: &Seen, conflicting: &Seen) -> Result<PathBuf> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let path = dir.join(format!("split-view-{now}.txt"));
    let text = format!(
        "Two checkpoints signed by the registry's key that cannot both be true.\n\n\
         Verified earlier (size {}):\n{}\nSeen now (size {}):\n{}",
        verified.size, verified.checkpoint, conflicting.size, conflicting.checkpoint
    );
    write_atomic(&path, text.as_bytes())?;
    sync_dir(dir)?;
    Ok(path)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting the mode of {}", dir.display()))?;
    }
    Ok(())
}

/// `birthright monitor`: one pass; its exit code.
pub(crate) fn monitor(trust: &Path, url: &str, state_dir: &Path, json: bool) -> Result<u8> {
    let bundle = TrustBundle::from_json(&read_bounded(trust, MAX_TRUST_BYTES)?)
        .with_context(|| format!("reading the trust bundle {}", trust.display()))?;
    let verifier = NoteVerifier::from_vkey(&bundle.checkpoint_vkey)
        .map_err(|e| anyhow!("the trust bundle's checkpoint key: {e}"))?;
    let url = registry_url(url)?;
    create_private_dir(state_dir)?;
    let lock_path = state_dir.join("monitor.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        return Err(coded(
            "busy",
            format!(
                "another monitor is using {}: wait for it to finish",
                state_dir.display()
            ),
        ));
    }
    let previous = load_state(state_dir)?;
    if let Some(p) = &previous
        && (p.origin != bundle.origin || p.checkpoint_vkey != bundle.checkpoint_vkey)
    {
        return Err(coded(
            "usage",
            format!(
                "{} follows the log {} with another key: give each log its own state directory",
                state_dir.display(),
                p.origin
            ),
        ));
    }
    let log = Log {
        transport: UreqTransport::new(&url.base),
        base: url.base.clone(),
    };
    let note_bytes = log.get("checkpoint")?;
    let unchanged = |status, message| Report {
        status,
        message,
        origin: bundle.origin.clone(),
        size: previous.as_ref().map_or(0, |p| p.size),
        root: previous
            .as_ref()
            .map_or_else(String::new, |p| p.root.clone()),
        previous_size: previous.as_ref().map(|p| p.size),
        new_leaves: 0,
        evidence: None,
    };
    let (note, checkpoint) = match check_note(&verifier, &bundle, note_bytes) {
        Ok(checked) => checked,
        Err(message) => {
            let report = unchanged("invalid_checkpoint", message);
            return finish(report, EXIT_BAD_CHECKPOINT, json);
        }
    };
    match check_witnesses(&bundle, &note, &checkpoint) {
        Ok(()) => follow(&log, state_dir, &bundle, previous, note, checkpoint, json),
        Err(WitnessProblem::Invalid(message)) => {
            let report = unchanged("invalid_checkpoint", message);
            finish(report, EXIT_BAD_CHECKPOINT, json)
        }
        Err(WitnessProblem::BelowQuorum(message)) => {
            let report = unchanged("unwitnessed", message);
            finish(report, EXIT_UNWITNESSED, json)
        }
    }
}

/// Why a checkpoint does not pass the trust bundle's witness policy.
enum WitnessProblem {
    /// A line names a trusted witness but does not verify, or the policy is unreadable.
    Invalid(String),
    /// Fewer trusted witnesses cosigned than the quorum.
    BelowQuorum(String),
}

/// Checks the checkpoint note against the trust bundle's witness policy (PROTOCOL §17): at
/// least `witness_quorum` of its witnesses must have cosigned it. Quorum 0 always passes.
fn check_witnesses(
    bundle: &TrustBundle,
    note: &str,
    checkpoint: &Checkpoint,
) -> Result<(), WitnessProblem> {
    let policy = bundle
        .witness_policy()
        .map_err(|e| WitnessProblem::Invalid(format!("the trust bundle's witnesses: {e}")))?;
    let outcome = policy.evaluate(note).map_err(|e| {
        WitnessProblem::Invalid(format!(
            "the log's checkpoint carries a witness cosignature that does not verify: {e}"
        ))
    })?;
    if outcome.satisfied() {
        return Ok(());
    }
    Err(WitnessProblem::BelowQuorum(format!(
        "the log's checkpoint of size {} is signed by the registry but cosigned by {} of the {} \
         witnesses the trust bundle requires: not followed (devices do not acknowledge under \
         it either); run the monitor again once the witnesses have cosigned",
        checkpoint.size,
        outcome.count(),
        outcome.quorum
    )))
}

/// The checkpoint note, if it is one the registry's key signed for its origin.
fn check_note(
    verifier: &NoteVerifier,
    bundle: &TrustBundle,
    bytes: Vec<u8>,
) -> Result<(String, Checkpoint), String> {
    if bytes.len() > MAX_CHECKPOINT_BYTES {
        return Err(format!(
            "the log's checkpoint is larger than {MAX_CHECKPOINT_BYTES} bytes"
        ));
    }
    let note =
        String::from_utf8(bytes).map_err(|_| "the log's checkpoint is not text".to_string())?;
    let checkpoint = verify_checkpoint(verifier, &note, &bundle.origin).map_err(|e| {
        format!(
            "the log's checkpoint is not validly signed by the registry {}: {e}",
            bundle.origin
        )
    })?;
    Ok((note, checkpoint))
}

fn finish(report: Report, code: u8, json: bool) -> Result<u8> {
    if json {
        print_json(&report)?;
    } else {
        println!("{}", report.message);
        if let Some(e) = &report.evidence {
            println!();
            println!("Checkpoint verified earlier (size {}):", e.verified.size);
            print!("{}", e.verified.checkpoint);
            println!();
            println!("Checkpoint seen now (size {}):", e.conflicting.size);
            print!("{}", e.conflicting.checkpoint);
            if let Some(root) = &e.conflicting_root_at_verified_size {
                println!();
                println!(
                    "The tree of the checkpoint seen now has, at size {}, the root {root}, not {}.",
                    e.verified.size, e.verified.root
                );
            }
            println!();
            println!("Both checkpoints are saved in {}.", e.saved.display());
        }
    }
    Ok(code)
}

/// Checks `checkpoint` (signature already verified) against what was verified before, then
/// fetches and recomputes what is new.
fn follow(
    log: &Log,
    dir: &Path,
    bundle: &TrustBundle,
    previous: Option<State>,
    note: String,
    checkpoint: Checkpoint,
    json: bool,
) -> Result<u8> {
    let (old_size, old_root, tree) = match &previous {
        Some(p) => {
            let edge = p
                .edge
                .iter()
                .map(|level| level.iter().map(|h| hash_from(h, "right edge")).collect())
                .collect::<Result<Vec<Vec<Hash>>>>()?;
            let tree = TileTree::from_edge(p.size, edge)
                .map_err(|e| coded("store_damaged", format!("the monitor state: {e}")))?;
            (p.size, hash_from(&p.root, "root")?, tree)
        }
        None => (
            0,
            birthright_core::ledger::merkle::empty_root(),
            TileTree::new(),
        ),
    };
    let new_size = checkpoint.size;
    let new_root = checkpoint.root_hash;
    let report = |status, message: String, evidence| Report {
        status,
        message,
        origin: bundle.origin.clone(),
        size: new_size,
        root: b64(&new_root),
        previous_size: previous.as_ref().map(|p| p.size),
        new_leaves: new_size.saturating_sub(old_size),
        evidence,
    };
    let verified = |p: &State| Seen {
        size: p.size,
        root: p.root.clone(),
        checkpoint: p.checkpoint.clone(),
    };
    let conflicting = Seen {
        size: new_size,
        root: b64(&new_root),
        checkpoint: note.clone(),
    };
    let split = |p: &State, proven: Option<Hash>| -> Result<u8> {
        let verified = verified(p);
        let saved = save_evidence(dir, &verified, &conflicting)?;
        finish(
            report(
                "split_view",
                format!(
                    "SPLIT VIEW: the registry {} signed two checkpoints that cannot both be \
                     true (size {} verified earlier, size {new_size} now). Someone is being \
                     shown a different ledger: keep both as evidence and alert the agencies.",
                    bundle.origin, p.size
                ),
                Some(Evidence {
                    verified,
                    conflicting: conflicting.clone(),
                    conflicting_root_at_verified_size: proven.map(|h| b64(&h)),
                    saved,
                }),
            ),
            EXIT_SPLIT_VIEW,
            json,
        )
    };
    let inconsistent = |m: String| -> Result<u8> {
        finish(
            report("log_inconsistent", m, None),
            EXIT_LOG_INCONSISTENT,
            json,
        )
    };

    if let Some(p) = &previous {
        if new_size == old_size {
            if new_root != old_root {
                return split(p, None);
            }
            return finish(
                report(
                    "unchanged",
                    format!(
                        "{}: no new entries; the checkpoint of {new_size} entries verified earlier \
                         still holds",
                        bundle.origin
                    ),
                    None,
                ),
                0,
                json,
            );
        }
        if new_size < old_size {
            // An older checkpoint (a stale cache, or a fork): it must be a prefix of the tree
            // verified, which the state directory holds.
            let mut tiles = tree.partial_tiles();
            for tile in tiles_for_root(old_size, new_size)? {
                if let std::collections::btree_map::Entry::Vacant(e) = tiles.entry(tile) {
                    e.insert(local_tile(dir, &tile)?);
                }
            }
            let prefix = root_from_tiles(old_size, new_size, &tiles)?;
            if prefix != new_root {
                return split(p, None);
            }
            return finish(
                report(
                    "stale",
                    format!(
                        "{}: the log served an older checkpoint ({new_size} entries); it is \
                         consistent with the {old_size} entries verified earlier",
                        bundle.origin
                    ),
                    None,
                ),
                0,
                json,
            );
        }
        // Larger: the log's own tiles must prove it extends the verified tree.
        let mut fetched = TileMap::new();
        for tile in tiles_for_consistency(old_size, new_size)? {
            fetched.insert(tile, log.hashes(&tile)?);
        }
        let proof = consistency_proof_from_tiles(old_size, new_size, &fetched)?;
        if verify_consistency(old_size, new_size, &proof, &old_root, &new_root).is_err() {
            for tile in tiles_for_root(new_size, old_size)? {
                if let std::collections::btree_map::Entry::Vacant(e) = fetched.entry(tile) {
                    e.insert(log.hashes(&tile)?);
                }
            }
            let theirs = root_from_tiles(new_size, old_size, &fetched)?;
            if verify_consistency(old_size, new_size, &proof, &theirs, &new_root).is_ok() {
                return split(p, Some(theirs));
            }
            return inconsistent(format!(
                "the log's tiles do not prove its checkpoint of {new_size} entries: they do not \
                 lead to its root. The log is damaged or is being tampered with"
            ));
        }
    }

    if new_size == 0 && new_root != birthright_core::ledger::merkle::empty_root() {
        return inconsistent(
            "the log's empty checkpoint does not sign the empty tree's root".into(),
        );
    }
    // Fetch what is new, recompute, compare every tile the log serves with it.
    let mut tree = tree;
    let mut full: Vec<(Tile, Vec<Hash>)> = Vec::new();
    let first_bundle = old_size / 256;
    for n in first_bundle..new_size.div_ceil(256) {
        let Some(tile) = Tile::in_tree(TileKind::Entries, n, new_size) else {
            break;
        };
        let bytes = log.get(&tile.path())?;
        let entries = match decode_bundle(&tile, &bytes, MAX_ENTRY_BYTES) {
            Ok(entries) => entries,
            Err(e) => return inconsistent(format!("the log serves a damaged entry bundle: {e}")),
        };
        let start = n * 256;
        for (i, entry) in entries.iter().enumerate() {
            let index = start + i as u64;
            if LedgerEntry::parse(entry).is_err() {
                return inconsistent(format!(
                    "entry {index} of the log is not a ledger leaf (docs/PROTOCOL.md §10)"
                ));
            }
            let hash = leaf_hash(entry);
            if index < old_size {
                if tree.edge().first().and_then(|e| e.get(i)) != Some(&hash) {
                    return inconsistent(format!(
                        "entry {index}, verified earlier, has changed in {tile}"
                    ));
                }
                continue;
            }
            tree.push(hash, &mut |t, h| full.push((t, h.to_vec())));
        }
        // The full tiles this bundle completed: the log's must be the recomputed ones.
        for (tile, hashes) in full.drain(..) {
            if log.hashes(&tile)? != hashes {
                return inconsistent(format!(
                    "the log serves {tile} with hashes that its entries do not make"
                ));
            }
            let path = dir.join(tile.path());
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            write_atomic(&path, &encode_hashes(&hashes))?;
        }
    }
    let partial: BTreeMap<Tile, Vec<Hash>> = tree.partial_tiles();
    for (tile, hashes) in &partial {
        if &log.hashes(tile)? != hashes {
            return inconsistent(format!(
                "the log serves {tile} with hashes that its entries do not make"
            ));
        }
    }
    if tree.root() != new_root {
        return inconsistent(format!(
            "the log's {new_size} entries do not hash to the root its checkpoint signs"
        ));
    }
    for level in 0..tree.edge().len() {
        let d = dir.join(format!("tile/{level}"));
        if d.is_dir() {
            sync_dir(&d)?;
        }
    }
    save_state(
        dir,
        &State {
            format: STATE_FORMAT.into(),
            origin: bundle.origin.clone(),
            checkpoint_vkey: bundle.checkpoint_vkey.clone(),
            size: new_size,
            root: b64(&new_root),
            checkpoint: note,
            edge: tree
                .edge()
                .iter()
                .map(|level| level.iter().map(b64).collect())
                .collect(),
        },
    )?;
    let message = match &previous {
        None => format!(
            "{}: verified all {new_size} entries from the tiles; the checkpoint's root matches",
            bundle.origin
        ),
        Some(_) => format!(
            "{}: verified {} new entries ({old_size} to {new_size}); the new checkpoint extends \
             the one verified earlier",
            bundle.origin,
            new_size - old_size
        ),
    };
    finish(report("verified", message, None), 0, json)
}
