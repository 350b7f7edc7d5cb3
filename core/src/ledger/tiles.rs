//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): the ledger as static files any mirror can
//! serve and any monitor can check.
//!
//! A hash tile `tile/<L>/<N>[.p/<W>]` holds up to 256 consecutive Merkle Tree Hashes at tree
//! height `8·L`: hash `i` is the root of the complete subtree of `256^L` leaves starting at
//! leaf `(N·256 + i)·256^L`, i.e. the stored node `(8·L, N·256 + i)`. An entry bundle
//! `tile/entries/<N>[.p/<W>]` holds the leaves `[N·256, N·256 + W)`, each prefixed with its
//! length as a big-endian `u16`. A tile of width 256 is full (immutable); a narrower one is the
//! partial right edge of a tree whose size needs it.
//!
//! [`TileHashReader`] is the RFC 6962 side: it answers [`NodeReader`] from tiles, so the proofs
//! of [`super::tree`] come out of tiles and are checked with [`super::merkle`]'s verifiers.
//! Which tiles a proof needs is known before any is fetched ([`tiles_for_consistency`] and
//! friends), so a host fetches them in one go and the computation stays sans-IO.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
};

use super::{
    Hash, LedgerError,
    merkle::{node_hash, root_from_leaf_hashes},
    tree::{self, NodeReader},
};

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels one tile spans.
pub const TILE_HEIGHT: u32 = 8;
/// Bytes of a full hash tile.
pub const FULL_TILE_BYTES: usize = 256 * 32;
/// Highest tile level the path grammar allows.
pub const MAX_TILE_LEVEL: u8 = 63;
/// Largest entry an entry bundle can carry (its length prefix is a `u16`).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;
/// Largest entry bundle the format allows: 256 entries of [`MAX_ENTRY_BYTES`].
pub const MAX_BUNDLE_BYTES: usize = 256 * (2 + MAX_ENTRY_BYTES);
/// Most tiles one proof or root computation may need (a tree of 2^64 leaves needs far fewer).
pub const MAX_PROOF_TILES: usize = 64;
/// Longest tile path accepted (`tile/entries/` and seven index elements and a width).
pub const MAX_PATH_BYTES: usize = 64;

/// What a tile, a tile path or a tile-based proof got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A path that is not a tile path of the grammar.
    #[error("'{path}' is not a tile path: {reason}")]
    BadPath {
        /// The path (at most [`MAX_PATH_BYTES`] of it).
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A hash tile of the wrong length.
    #[error("tile {tile} is {got} bytes, expected {expected}")]
    BadTileLength {
        /// The tile's path.
        tile: String,
        /// Its length.
        got: usize,
        /// The length its width needs.
        expected: usize,
    },
    /// An entry bundle that does not decode to its width.
    #[error("entry bundle {tile}: {reason}")]
    BadBundle {
        /// The bundle's path.
        tile: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry too long for the bundle format.
    #[error("entry of {0} bytes is longer than an entry bundle allows ({MAX_ENTRY_BYTES})")]
    EntryTooLong(usize),
    /// A tile a computation needs was not given.
    #[error("tile {0} is needed and was not fetched")]
    Missing(String),
    /// The computation would need more tiles than [`MAX_PROOF_TILES`].
    #[error("the computation needs {0} tiles, more than {MAX_PROOF_TILES}")]
    TooManyTiles(usize),
    /// A node asked of a tree that does not hold it.
    #[error("node ({level}, {index}) is not a complete subtree of a tree of {size} leaves")]
    NotInTree {
        /// Tree height of the node.
        level: u8,
        /// Index at that height.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A right edge (partial tiles) that does not fit its tree size.
    #[error("damaged right edge: {0}")]
    BadEdge(String),
    /// A proof computation failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Whether a tile holds Merkle hashes (at a level) or log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// A hash tile at level `L` (tree height `8·L`).
    Hashes(u8),
    /// An entry bundle.
    Entries,
}

/// One tile or entry bundle: its kind, index and width (1 to 256; 256 is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Hashes at a level, or entries.
    pub kind: TileKind,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes or entries, 1 to 256.
    pub width: u16,
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}

/// `N` as zero-padded 3-digit path elements, all but the last prefixed with `x`
/// (1234067 → `x001/x234/067`).
pub fn index_path(index: u64) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g:03}")
            } else {
                format!("{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A decimal without leading zeros, in `min..=max`.
fn small_decimal(text: &str, min: u16, max: u16) -> Option<u16> {
    if text.is_empty()
        || text.len() > 3
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok().filter(|v| (min..=max).contains(v))
}

/// Complete nodes at tree height `8·level` in a tree of `size` leaves.
fn nodes_at(level: u8, size: u64) -> u64 {
    let shift = u32::from(level) * TILE_HEIGHT;
    if shift >= 64 { 0 } else { size >> shift }
}

impl Tile {
    /// A hash tile.
    pub fn hashes(level: u8, index: u64, width: u16) -> Tile {
        Tile {
            kind: TileKind::Hashes(level),
            index,
            width,
        }
    }

    /// An entry bundle.
    pub fn entries(index: u64, width: u16) -> Tile {
        Tile {
            kind: TileKind::Entries,
            index,
            width,
        }
    }

    /// Whether the tile is full (256 wide, immutable).
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The level whose hashes the tile holds (entries: the leaves, as level 0).
    pub fn level(&self) -> u8 {
        match self.kind {
            TileKind::Hashes(level) => level,
            TileKind::Entries => 0,
        }
    }

    /// The tile of `kind` number `index` as the tree of `size` leaves has it: full, partial,
    /// or `None` when that tree has nothing in it.
    pub fn in_tree(kind: TileKind, index: u64, size: u64) -> Option<Tile> {
        let level = match kind {
            TileKind::Hashes(level) => level,
            TileKind::Entries => 0,
        };
        let count = nodes_at(level, size);
        let first = index.checked_mul(TILE_WIDTH)?;
        if count <= first {
            return None;
        }
        let width = (count - first).min(TILE_WIDTH) as u16;
        Some(Tile { kind, index, width })
    }

    /// Whether the tree of `size` leaves holds everything in this tile (it then serves it or a
    /// wider one).
    pub fn within(&self, size: u64) -> bool {
        Tile::in_tree(self.kind, self.index, size).is_some_and(|t| t.width >= self.width)
    }

    /// The path under the log's prefix: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let kind = match self.kind {
            TileKind::Hashes(level) => level.to_string(),
            TileKind::Entries => "entries".to_string(),
        };
        let mut path = format!("tile/{kind}/{}", index_path(self.index));
        if !self.is_full() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses a path of the grammar (starting with `tile/`), strictly: no leading zeros, no
    /// width of 0 or 256 and above, the one encoding of each index.
    pub fn parse_path(path: &str) -> Result<Tile, TileError> {
        let bad = |reason: &'static str| TileError::BadPath {
            path: path.chars().take(MAX_PATH_BYTES).collect(),
            reason,
        };
        if path.len() > MAX_PATH_BYTES {
            return Err(bad("too long"));
        }
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("it must start with tile/"))?;
        let (kind, rest) = rest.split_once('/').ok_or_else(|| bad("no index"))?;
        let kind = if kind == "entries" {
            TileKind::Entries
        } else {
            TileKind::Hashes(
                small_decimal(kind, 0, u16::from(MAX_TILE_LEVEL))
                    .ok_or_else(|| bad("the level must be 0 to 63 without leading zeros"))?
                    as u8,
            )
        };
        let (index_text, width) = match rest.split_once(".p/") {
            Some((index_text, width)) => (
                index_text,
                small_decimal(width, 1, 255)
                    .ok_or_else(|| bad("a partial width must be 1 to 255 without leading zeros"))?,
            ),
            None => (rest, TILE_WIDTH as u16),
        };
        let elements: Vec<&str> = index_text.split('/').collect();
        let mut index: u64 = 0;
        for (i, element) in elements.iter().enumerate() {
            let digits = if i + 1 < elements.len() {
                element
                    .strip_prefix('x')
                    .ok_or_else(|| bad("all index elements but the last start with x"))?
            } else {
                element
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index elements are three digits"));
            }
            let group: u64 = digits
                .parse()
                .map_err(|_| bad("index elements are digits"))?;
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(group))
                .ok_or_else(|| bad("the index is too large"))?;
        }
        if index_path(index) != index_text {
            return Err(bad("the index has leading zero elements"));
        }
        Ok(Tile { kind, index, width })
    }

    /// Every tile of the tree of `size` leaves: the full ones and the partial right edge, entry
    /// bundles first, then hash tiles level by level.
    pub fn all_in_tree(size: u64) -> impl Iterator<Item = Tile> {
        let entries = (0..nodes_at(0, size).div_ceil(TILE_WIDTH))
            .filter_map(move |n| Tile::in_tree(TileKind::Entries, n, size));
        let hashes = (0..=MAX_TILE_LEVEL)
            .take_while(move |l| nodes_at(*l, size) > 0)
            .flat_map(move |l| {
                (0..nodes_at(l, size).div_ceil(TILE_WIDTH))
                    .filter_map(move |n| Tile::in_tree(TileKind::Hashes(l), n, size))
            });
        entries.chain(hashes)
    }
}

/// Decodes a hash tile: exactly `width` hashes of 32 bytes.
pub fn decode_hashes(tile: &Tile, bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(tile.width) * 32;
    if bytes.len() != expected {
        return Err(TileError::BadTileLength {
            tile: tile.path(),
            got: bytes.len(),
            expected,
        });
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// Encodes hashes as a tile (their concatenation).
pub fn encode_hashes(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// Decodes an entry bundle: exactly `tile.width` entries, each a big-endian `u16` length and
/// that many bytes, each at most `max_entry` bytes, nothing after the last.
pub fn decode_bundle<'a>(
    tile: &Tile,
    bytes: &'a [u8],
    max_entry: usize,
) -> Result<Vec<&'a [u8]>, TileError> {
    let bad = |reason: String| TileError::BadBundle {
        tile: tile.path(),
        reason,
    };
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(bad(format!(
            "{} bytes is more than a bundle can be",
            bytes.len()
        )));
    }
    let mut entries = Vec::with_capacity(usize::from(tile.width));
    let mut rest = bytes;
    while !rest.is_empty() {
        if entries.len() == usize::from(tile.width) {
            return Err(bad(format!(
                "{} bytes after the last of its {} entries",
                rest.len(),
                tile.width
            )));
        }
        let [hi, lo, tail @ ..] = rest else {
            return Err(bad(format!(
                "entry {} has a truncated length",
                entries.len()
            )));
        };
        let length = usize::from(u16::from_be_bytes([*hi, *lo]));
        if length > max_entry {
            return Err(bad(format!(
                "entry {} is {length} bytes, more than {max_entry}",
                entries.len()
            )));
        }
        if tail.len() < length {
            return Err(bad(format!(
                "entry {} is cut short ({} of {length} bytes)",
                entries.len(),
                tail.len()
            )));
        }
        let (entry, after) = tail.split_at(length);
        entries.push(entry);
        rest = after;
    }
    if entries.len() != usize::from(tile.width) {
        return Err(bad(format!(
            "{} entries, expected {}",
            entries.len(),
            tile.width
        )));
    }
    Ok(entries)
}

/// Encodes entries as a bundle.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for entry in entries {
        let entry = entry.as_ref();
        let length =
            u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLong(entry.len()))?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Where a [`TileHashReader`] gets the hashes of a tile it needs.
pub trait TileSource {
    /// The hashes of `tile` (exactly its width), if at hand.
    fn hashes(&self, tile: &Tile) -> Option<&[Hash]>;
}

/// Tiles at hand, by tile.
pub type TileMap = BTreeMap<Tile, Vec<Hash>>;

impl TileSource for TileMap {
    fn hashes(&self, tile: &Tile) -> Option<&[Hash]> {
        self.get(tile)
            .map(Vec::as_slice)
            .filter(|h| h.len() == usize::from(tile.width))
    }
}

/// No tiles at all: for finding which tiles a computation needs.
struct NoTiles;

impl TileSource for NoTiles {
    fn hashes(&self, _: &Tile) -> Option<&[Hash]> {
        None
    }
}

/// Reads the nodes of the tree of `size` leaves from its tiles (RFC 6962 hashing between the
/// tile levels). A node whose tile is not at hand reads as zeros and is remembered in
/// [`Self::missing`], so one dry run lists every tile a computation needs.
pub struct TileHashReader<'a, S: TileSource + ?Sized> {
    size: u64,
    source: &'a S,
    missing: RefCell<BTreeSet<Tile>>,
}

impl<'a, S: TileSource + ?Sized> TileHashReader<'a, S> {
    /// A reader of the tree of `size` leaves over `source`.
    pub fn new(size: u64, source: &'a S) -> Self {
        TileHashReader {
            size,
            source,
            missing: RefCell::new(BTreeSet::new()),
        }
    }

    /// The tiles asked for and not at hand so far.
    pub fn missing(&self) -> Vec<Tile> {
        self.missing.borrow().iter().copied().collect()
    }
}

impl<S: TileSource + ?Sized> NodeReader for TileHashReader<'_, S> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let not_in_tree = || {
            LedgerError::Storage(
                TileError::NotInTree {
                    level,
                    index,
                    size: self.size,
                }
                .to_string(),
            )
        };
        if level >= 64 || (u128::from(index) + 1) << level > u128::from(self.size) {
            return Err(not_in_tree());
        }
        let tile_level = (u32::from(level) / TILE_HEIGHT) as u8;
        let within = u32::from(level) % TILE_HEIGHT;
        let first = index << within;
        let tile = Tile::in_tree(TileKind::Hashes(tile_level), first / TILE_WIDTH, self.size)
            .ok_or_else(not_in_tree)?;
        let Some(hashes) = self.source.hashes(&tile) else {
            self.missing.borrow_mut().insert(tile);
            return Ok([0; 32]);
        };
        let start = (first % TILE_WIDTH) as usize;
        let count = 1usize << within;
        let part = hashes.get(start..start + count).ok_or_else(not_in_tree)?;
        Ok(root_from_leaf_hashes(part))
    }
}

fn check_count(tiles: Vec<Tile>) -> Result<Vec<Tile>, TileError> {
    if tiles.len() > MAX_PROOF_TILES {
        return Err(TileError::TooManyTiles(tiles.len()));
    }
    Ok(tiles)
}

/// Runs `f` over the tiles of the tree of `size`: first dry, to list the tiles it needs, and
/// then, if `source` has them all, for real.
fn from_tiles<T, S: TileSource + ?Sized>(
    size: u64,
    source: &S,
    f: impl Fn(&TileHashReader<'_, S>) -> Result<T, LedgerError>,
) -> Result<T, TileError> {
    let reader = TileHashReader::new(size, source);
    let value = f(&reader)?;
    let missing = reader.missing();
    check_count(missing.clone())?;
    match missing.first() {
        Some(tile) => Err(TileError::Missing(tile.path())),
        None => Ok(value),
    }
}

fn needed(
    size: u64,
    f: impl Fn(&TileHashReader<'_, NoTiles>) -> Result<(), LedgerError>,
) -> Result<Vec<Tile>, TileError> {
    let reader = TileHashReader::new(size, &NoTiles);
    f(&reader)?;
    check_count(reader.missing())
}

/// The hash tiles of the tree of `size` needed for the root of its first `prefix` leaves
/// (`prefix == size`: its own root).
pub fn tiles_for_root(size: u64, prefix: u64) -> Result<Vec<Tile>, TileError> {
    if prefix > size {
        return Err(LedgerError::SizesOutOfOrder {
            old: prefix,
            new: size,
        }
        .into());
    }
    needed(size, |r| tree::root(r, prefix).map(|_| ()))
}

/// The root of the first `prefix` leaves of the tree of `size`, from its tiles.
pub fn root_from_tiles<S: TileSource + ?Sized>(
    size: u64,
    prefix: u64,
    source: &S,
) -> Result<Hash, TileError> {
    tiles_for_root(size, prefix)?;
    from_tiles(size, source, |r| tree::root(r, prefix))
}

/// The hash tiles of the tree of `new` needed for the consistency proof from `old`.
pub fn tiles_for_consistency(old: u64, new: u64) -> Result<Vec<Tile>, TileError> {
    needed(new, |r| tree::consistency_proof(r, old, new).map(|_| ()))
}

/// The consistency proof from `old` to `new` (RFC 6962 PROOF), from the tiles of the tree of
/// `new`; check it with [`super::merkle::verify_consistency`].
pub fn consistency_proof_from_tiles<S: TileSource + ?Sized>(
    old: u64,
    new: u64,
    source: &S,
) -> Result<Vec<Hash>, TileError> {
    tiles_for_consistency(old, new)?;
    from_tiles(new, source, |r| tree::consistency_proof(r, old, new))
}

/// The hash tiles of the tree of `size` needed for the inclusion proof of leaf `index`.
pub fn tiles_for_inclusion(index: u64, size: u64) -> Result<Vec<Tile>, TileError> {
    needed(size, |r| tree::inclusion_proof(r, index, size).map(|_| ()))
}

/// The inclusion proof of leaf `index` in the tree of `size` (RFC 6962 PATH), from its
/// tiles; check it with [`super::merkle::verify_inclusion`].
pub fn inclusion_proof_from_tiles<S: TileSource + ?Sized>(
    index: u64,
    size: u64,
    source: &S,
) -> Result<Vec<Hash>, TileError> {
    tiles_for_inclusion(index, size)?;
    from_tiles(size, source, |r| tree::inclusion_proof(r, index, size))
}

/// A tree built leaf by leaf at tile granularity: what a monitor recomputes from entry
/// bundles. It keeps only the partial right edge (under 256 hashes per level) and hands out
/// each full tile once, as it completes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TileTree {
    size: u64,
    /// `edge[l]`: the hashes of the partial tile at level `l` (fewer than 256).
    edge: Vec<Vec<Hash>>,
}

impl TileTree {
    /// An empty tree.
    pub fn new() -> Self {
        TileTree::default()
    }

    /// A tree of `size` leaves from its partial tiles (`edge[l]`: the hashes of the partial
    /// tile at level `l`, empty where the level has none), as [`Self::edge`] gave them.
    pub fn from_edge(size: u64, edge: Vec<Vec<Hash>>) -> Result<TileTree, TileError> {
        let levels = (0..=MAX_TILE_LEVEL)
            .take_while(|l| nodes_at(*l, size) > 0)
            .count();
        if edge.len() != levels {
            return Err(TileError::BadEdge(format!(
                "a right edge of {} levels for a tree of {size} leaves",
                edge.len()
            )));
        }
        for (l, hashes) in edge.iter().enumerate() {
            let width = nodes_at(l as u8, size) % TILE_WIDTH;
            if hashes.len() as u64 != width {
                return Err(TileError::BadEdge(format!(
                    "level {l} of the right edge has {} hashes, a tree of {size} leaves has {width}",
                    hashes.len()
                )));
            }
        }
        Ok(TileTree { size, edge })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The partial tiles (level by level; empty where a level has none).
    pub fn edge(&self) -> &[Vec<Hash>] {
        &self.edge
    }

    /// The partial tiles as tiles.
    pub fn partial_tiles(&self) -> TileMap {
        self.edge
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .filter_map(|(l, h)| {
                Tile::in_tree(
                    TileKind::Hashes(l as u8),
                    nodes_at(l as u8, self.size) / TILE_WIDTH,
                    self.size,
                )
                .map(|t| (t, h.clone()))
            })
            .collect()
    }

    /// Appends a leaf hash; `full` gets each tile the leaf completes (its level-0 tile, and
    /// the tiles above that completes), lowest first.
    pub fn push(&mut self, leaf_hash: Hash, full: &mut impl FnMut(Tile, &[Hash])) {
        let mut hash = leaf_hash;
        let mut level = 0usize;
        loop {
            if self.edge.len() <= level {
                self.edge.push(Vec::new());
            }
            self.edge[level].push(hash);
            if self.edge[level].len() as u64 != TILE_WIDTH {
                break;
            }
            let hashes = std::mem::take(&mut self.edge[level]);
            let index = nodes_at(level as u8, self.size + 1) / TILE_WIDTH - 1;
            full(Tile::hashes(level as u8, index, TILE_WIDTH as u16), &hashes);
            hash = root_from_leaf_hashes(&hashes);
            level += 1;
        }
        self.size += 1;
        while self.edge.last().is_some_and(Vec::is_empty) && self.edge.len() > 1 {
            self.edge.pop();
        }
    }

    /// The root of the tree (RFC 6962 MTH), from the right edge alone.
    pub fn root(&self) -> Hash {
        if self.size == 0 {
            return super::merkle::empty_root();
        }
        // The complete subtrees of the size's binary decomposition, largest (leftmost) first:
        // the subtrees of heights 8l..8l+7 are runs of the partial tile at level l.
        let mut parts = Vec::new();
        for hashes in self.edge.iter().rev() {
            let mut at = 0usize;
            for bit in (0..TILE_HEIGHT).rev() {
                let run = 1usize << bit;
                if hashes.len() & run != 0 {
                    parts.push(root_from_leaf_hashes(&hashes[at..at + run]));
                    at += run;
                }
            }
        }
        let mut parts = parts.into_iter().rev();
        let mut root = parts.next().unwrap_or_else(super::merkle::empty_root);
        for left in parts {
            root = node_hash(&left, &root);
        }
        root
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ledger::{
        merkle::{leaf_hash, verify_consistency, verify_inclusion},
        tree::MemoryTree,
    };

    /// The tiles of the tree of `size`, built from a [`MemoryTree`]'s stored nodes (as the
    /// registry builds them from its database).
    fn tiles_of(tree: &MemoryTree, size: u64) -> TileMap {
        Tile::all_in_tree(size)
            .filter_map(|t| match t.kind {
                TileKind::Hashes(l) => Some((
                    t,
                    (0..u64::from(t.width))
                        .map(|i| tree.node(l * 8, t.index * 256 + i).unwrap())
                        .collect(),
                )),
                TileKind::Entries => None,
            })
            .collect()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn memory_tree(n: u64) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for l in leaves(n) {
            tree.push(l);
        }
        tree
    }

    #[test]
    fn index_paths_follow_the_spec_example() {
        // The spec: "index 1234067 will be encoded as x001/x234/067".
        assert_eq!(index_path(1_234_067), "x001/x234/067");
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(67), "067");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(index_path(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        assert_eq!(
            Tile::hashes(0, 1_234_067, 256).path(),
            "tile/0/x001/x234/067"
        );
        assert_eq!(Tile::hashes(2, 5, 17).path(), "tile/2/005.p/17");
        assert_eq!(
            Tile::entries(1_234_067, 1).path(),
            "tile/entries/x001/x234/067.p/1"
        );
    }

    #[test]
    fn paths_parse_strictly() {
        for t in [
            Tile::hashes(0, 1_234_067, 256),
            Tile::hashes(63, 0, 1),
            Tile::hashes(7, u64::MAX, 255),
            Tile::entries(0, 256),
            Tile::entries(999, 112),
        ] {
            assert_eq!(Tile::parse_path(&t.path()).unwrap(), t, "{t}");
        }
        for bad in [
            "tile/0/1",
            "tile/00/000",
            "tile/64/000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x01/002",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/05",
            "tile/0/000.p/",
            "tile/entries/000.p/1/",
            "tile/entry/000",
            "tiles/0/000",
            "tile/0/",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
            "tile/-1/000",
            "tile/0/+01",
        ] {
            assert!(Tile::parse_path(bad).is_err(), "{bad} accepted");
        }
        let long = format!("tile/0/{}", "x000/".repeat(20));
        assert!(matches!(
            Tile::parse_path(&long),
            Err(TileError::BadPath {
                reason: "too long",
                ..
            })
        ));
    }

    #[test]
    fn the_spec_tree_of_70000_has_the_tiles_it_lists() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
        // level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
        // 17, and one partial level 2 tile of width 1."
        let tiles: Vec<Tile> = Tile::all_in_tree(70_000)
            .filter(|t| t.kind != TileKind::Entries)
            .collect();
        let count = |level: u8, full: bool| {
            tiles
                .iter()
                .filter(|t| t.kind == TileKind::Hashes(level) && t.is_full() == full)
                .count()
        };
        assert_eq!(count(0, true), 273);
        assert_eq!(count(1, true), 1);
        assert_eq!(count(2, true), 0);
        let partial: Vec<(u8, u16)> = tiles
            .iter()
            .filter(|t| !t.is_full())
            .map(|t| (t.level(), t.width))
            .collect();
        assert_eq!(partial, vec![(0, 112), (1, 17), (2, 1)]);
        assert_eq!(tiles.len(), 273 + 1 + 1 + 1 + 1);
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level
        // 1 tile of width 1."
        let tiles: Vec<Tile> = Tile::all_in_tree(256).collect();
        assert_eq!(
            tiles,
            vec![
                Tile::entries(0, 256),
                Tile::hashes(0, 0, 256),
                Tile::hashes(1, 0, 1)
            ]
        );
        assert_eq!(Tile::all_in_tree(0).count(), 0);
        assert!(Tile::hashes(0, 273, 112).within(70_000));
        assert!(!Tile::hashes(0, 273, 113).within(70_000));
        assert!(Tile::hashes(0, 0, 256).within(70_000));
        assert!(!Tile::hashes(3, 0, 1).within(70_000));
    }

    #[test]
    fn bundles_round_trip_and_refuse_bad_framing() {
        let entries: Vec<Vec<u8>> = vec![vec![], vec![1; 49], vec![2; 300]];
        let bytes = encode_bundle(&entries).unwrap();
        assert_eq!(&bytes[..4], &[0, 0, 0, 49]);
        let tile = Tile::entries(0, 3);
        let decoded = decode_bundle(&tile, &bytes, MAX_ENTRY_BYTES).unwrap();
        assert_eq!(
            decoded,
            entries.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
        assert!(decode_bundle(&Tile::entries(0, 2), &bytes, MAX_ENTRY_BYTES).is_err());
        assert!(decode_bundle(&Tile::entries(0, 4), &bytes, MAX_ENTRY_BYTES).is_err());
        assert!(decode_bundle(&tile, &bytes[..bytes.len() - 1], MAX_ENTRY_BYTES).is_err());
        assert!(decode_bundle(&tile, &bytes[..1], MAX_ENTRY_BYTES).is_err());
        let err = decode_bundle(&tile, &bytes, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry bundle tile/entries/000.p/3: entry 2 is 300 bytes, more than 100"
        );
        assert_eq!(
            encode_bundle(&[vec![0u8; 65_536]]).unwrap_err().to_string(),
            "entry of 65536 bytes is longer than an entry bundle allows (65535)"
        );
        let tile = Tile::hashes(0, 0, 2);
        assert!(decode_hashes(&tile, &[0; 64]).is_ok());
        assert_eq!(
            decode_hashes(&tile, &[0; 65]).unwrap_err().to_string(),
            "tile tile/0/000.p/2 is 65 bytes, expected 64"
        );
    }

    #[test]
    fn hash_tile_known_answer_from_the_rfc_vectors() {
        // The RFC 6962 test leaves of merkle.rs: the level-0 tile of the 8-leaf tree is their
        // leaf hashes, and its root is the vectors' root of size 8.
        let v = crate::ledger::merkle::tests::vectors();
        let hashes = crate::ledger::merkle::tests::leaf_hashes(&v);
        let tile = Tile::hashes(0, 0, hashes.len() as u16);
        let map: TileMap = [(tile, hashes.clone())].into_iter().collect();
        assert_eq!(
            hex::encode(root_from_tiles(8, 8, &map).unwrap()),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
        assert_eq!(
            decode_hashes(&tile, &encode_hashes(&hashes)).unwrap(),
            hashes
        );
    }

    #[test]
    fn entry_bundle_known_answer_of_the_protocol_leaf() {
        // docs/PROTOCOL.md §10's example leaf, alone in a bundle (§16): 0x0031 || leaf.
        let leaf = crate::wire::LedgerLeaf {
            commitment: crate::wire::record_commitment(&[0x11; 32], b"signed record bytes"),
            device_kid: crate::keys::KeyId([1, 2, 3, 4, 5, 6, 7, 8]),
            sequenced_at: 1_774_000_000,
        }
        .to_bytes();
        let bundle = encode_bundle(&[leaf]).unwrap();
        assert_eq!(
            hex::encode(&bundle),
            "003101b5c01eb25655ec401094cf61a5cd6c86dbd3f7785379aad2ee7b269b9d44199d\
             01020304050607080000000069bd1780"
        );
        let tile = Tile::parse_path("tile/entries/000.p/1").unwrap();
        assert_eq!(decode_bundle(&tile, &bundle, 49).unwrap(), vec![&leaf[..]]);
    }

    #[test]
    fn proofs_from_tiles_equal_proofs_from_nodes_and_verify() {
        let size = 70_000u64;
        let tree = memory_tree(size);
        let tiles = tiles_of(&tree, size);
        assert_eq!(root_from_tiles(size, size, &tiles).unwrap(), tree.root());
        for (old, new) in [
            (1u64, 70_000u64),
            (256, 70_000),
            (65_536, 70_000),
            (69_999, 70_000),
            (12_345, 65_537),
        ] {
            let tiles_new = tiles_of(&tree, new);
            let proof = consistency_proof_from_tiles(old, new, &tiles_new).unwrap();
            assert_eq!(proof, tree::consistency_proof(&tree, old, new).unwrap());
            let old_root = root_from_tiles(new, old, &tiles_new).unwrap();
            assert_eq!(old_root, tree::root(&tree, old).unwrap());
            verify_consistency(
                old,
                new,
                &proof,
                &old_root,
                &tree::root(&tree, new).unwrap(),
            )
            .unwrap();
            assert!(tiles_for_consistency(old, new).unwrap().len() <= 2 * 3 + 2);
        }
        for index in [0u64, 255, 256, 65_535, 69_999] {
            let proof = inclusion_proof_from_tiles(index, size, &tiles).unwrap();
            verify_inclusion(
                &leaf_hash(&index.to_be_bytes()),
                index,
                size,
                &proof,
                &tree.root(),
            )
            .unwrap();
        }
    }

    #[test]
    fn an_altered_or_missing_tile_never_verifies() {
        let size = 70_000u64;
        let tree = memory_tree(size);
        let root = tree.root();
        let old_root = tree::root(&tree, 300).unwrap();
        for tile in tiles_for_consistency(300, size).unwrap() {
            let mut tiles = tiles_of(&tree, size);
            let hashes = tiles.get_mut(&tile).unwrap();
            for i in 0..hashes.len() {
                let mut altered = tiles.clone();
                altered.get_mut(&tile).unwrap()[i][7] ^= 1;
                let proof = consistency_proof_from_tiles(300, size, &altered).unwrap();
                let prefix = root_from_tiles(size, 300, &altered).unwrap();
                // Altering a hash the proof uses breaks it; one it does not use changes nothing.
                if proof != tree::consistency_proof(&tree, 300, size).unwrap() || prefix != old_root
                {
                    assert!(verify_consistency(300, size, &proof, &old_root, &root).is_err());
                }
            }
            tiles.remove(&tile);
            assert_eq!(
                consistency_proof_from_tiles(300, size, &tiles).unwrap_err(),
                TileError::Missing(tile.path())
            );
        }
    }

    #[test]
    fn the_tile_tree_builds_the_same_tiles_and_root() {
        let size = 70_000u64;
        let tree = memory_tree(size);
        let expected = tiles_of(&tree, size);
        let mut built = TileTree::new();
        let mut full = TileMap::new();
        for (i, l) in leaves(size).into_iter().enumerate() {
            built.push(l, &mut |t, h| {
                assert!(full.insert(t, h.to_vec()).is_none());
            });
            if [1usize, 255, 256, 257, 65_535, 65_536].contains(&(i + 1)) {
                assert_eq!(built.root(), tree::root(&tree, i as u64 + 1).unwrap());
            }
        }
        assert_eq!(built.root(), tree.root());
        let mut all = full.clone();
        all.extend(built.partial_tiles());
        assert_eq!(all, expected);
        let again = TileTree::from_edge(size, built.edge().to_vec()).unwrap();
        assert_eq!(again, built);
        assert!(TileTree::from_edge(size + 1, built.edge().to_vec()).is_err());
        assert_eq!(TileTree::new().root(), crate::ledger::merkle::empty_root());
    }

    proptest! {
        #[test]
        fn tile_tree_roots_equal_memory_roots(size in 1u64..1200) {
            let tree = memory_tree(size);
            let mut built = TileTree::new();
            for l in leaves(size) {
                built.push(l, &mut |_, _| {});
            }
            prop_assert_eq!(built.root(), tree.root());
            let tiles = tiles_of(&tree, size);
            prop_assert_eq!(root_from_tiles(size, size, &tiles).unwrap(), tree.root());
            let old = 1 + size / 3;
            let proof = consistency_proof_from_tiles(old, size, &tiles).unwrap();
            prop_assert!(verify_consistency(old, size, &proof, &tree::root(&tree, old).unwrap(), &tree.root()).is_ok());
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), width in 1u16..=256, path in "\\PC{0,70}") {
            let _ = decode_bundle(&Tile::entries(0, width), &bytes, MAX_ENTRY_BYTES);
            let _ = decode_hashes(&Tile::hashes(0, 0, width), &bytes);
            if let Ok(tile) = Tile::parse_path(&path) {
                prop_assert_eq!(tile.path(), path);
            }
        }
    }
}
