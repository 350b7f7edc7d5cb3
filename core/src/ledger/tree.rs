//! Proof generation over stored complete-subtree hashes: what the registry keeps so that every
//! root and proof costs O(log n) storage reads, never a recomputation from all leaves.
//!
//! Node `(level, index)` is the root of the complete subtree over leaves
//! `[index · 2^level, (index + 1) · 2^level)`; level 0 holds the leaf hashes. Appending a leaf
//! creates the leaf node and every parent it completes ([`append_nodes`]). Roots of incomplete
//! ranges are folded from at most log₂ n complete nodes, largest first, as RFC 6962's MTH
//! splits them.

use std::{cell::Cell, collections::HashMap};

use super::{
    Hash, LedgerError,
    merkle::{empty_root, node_hash, split_point},
};

/// Read access to stored complete-subtree nodes.
pub trait NodeReader {
    /// The hash of node `(level, index)`; it must exist.
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError>;
}

/// The nodes to store when leaf number `size` (0-based: the tree grows from `size` to
/// `size + 1`) with hash `leaf` is appended: the leaf itself at level 0 and every parent it
/// completes, as `(level, index, hash)`. Reads one existing node per completed level.
pub fn append_nodes(
    reader: &impl NodeReader,
    size: u64,
    leaf: Hash,
) -> Result<Vec<(u8, u64, Hash)>, LedgerError> {
    let mut out = vec![(0u8, size, leaf)];
    let mut index = size;
    let mut level = 0u8;
    let mut hash = leaf;
    while index & 1 == 1 {
        let left = reader.node(level, index - 1)?;
        hash = node_hash(&left, &hash);
        index >>= 1;
        level += 1;
        out.push((level, index, hash));
    }
    Ok(out)
}

/// The root of leaves `[start, end)`, a range the RFC 6962 recursion produces.
fn range_root(reader: &impl NodeReader, start: u64, end: u64) -> Result<Hash, LedgerError> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return reader.node(n.trailing_zeros() as u8, start >> n.trailing_zeros());
    }
    let k = split_point(n);
    let left = range_root(reader, start, start + k)?;
    let right = range_root(reader, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of `size` leaves.
pub fn root(reader: &impl NodeReader, size: u64) -> Result<Hash, LedgerError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_root(reader, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` (RFC 6962 PATH).
pub fn inclusion_proof(
    reader: &impl NodeReader,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(reader, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    reader: &impl NodeReader,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), LedgerError> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(reader, m, start, start + k, out)?;
        out.push(range_root(reader, start + k, end)?);
    } else {
        path(reader, m - k, start + k, end, out)?;
        out.push(range_root(reader, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `old_size` to the tree of `new_size` (RFC 6962
/// PROOF). Empty when `old_size` is 0 or equal to `new_size`.
pub fn consistency_proof(
    reader: &impl NodeReader,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    let mut proof = Vec::new();
    if old_size == 0 || old_size == new_size {
        return Ok(proof);
    }
    subproof(reader, old_size, 0, new_size, true, &mut proof)?;
    Ok(proof)
}

fn subproof(
    reader: &impl NodeReader,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), LedgerError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_root(reader, start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(reader, m, start, start + k, whole, out)?;
        out.push(range_root(reader, start + k, end)?);
    } else {
        subproof(reader, m - k, start + k, end, false, out)?;
        out.push(range_root(reader, start, start + k)?);
    }
    Ok(())
}

/// An in-memory tree (tests, benchmarks, simulations). Counts node reads.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    nodes: HashMap<(u8, u64), Hash>,
    size: u64,
    reads: Cell<u64>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash; returns its index.
    pub fn push(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.size;
        // Appending only reads nodes this tree already holds.
        let nodes = append_nodes(self, index, leaf_hash).unwrap_or_default();
        for (level, i, hash) in nodes {
            self.nodes.insert((level, i), hash);
        }
        self.size += 1;
        index
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        root(self, self.size).unwrap_or_else(|_| empty_root())
    }

    /// Node reads since the tree was made (to check proofs stay logarithmic).
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }
}

impl NodeReader for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.reads.set(self.reads.get() + 1);
        self.nodes
            .get(&(level, index))
            .copied()
            .ok_or_else(|| LedgerError::Storage(format!("missing node ({level}, {index})")))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ledger::merkle::{
        leaf_hash, root_from_leaf_hashes,
        tests::{h, leaf_hashes, vectors},
        verify_consistency, verify_inclusion,
    };

    fn tree_of(n: u64) -> (MemoryTree, Vec<Hash>) {
        let mut tree = MemoryTree::new();
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for l in &leaves {
            tree.push(*l);
        }
        (tree, leaves)
    }

    #[test]
    fn generated_proofs_equal_the_vectors() {
        let v = vectors();
        let mut tree = MemoryTree::new();
        for l in leaf_hashes(&v) {
            tree.push(l);
        }
        for r in &v.roots {
            assert_eq!(root(&tree, r.size).unwrap(), h(&r.root_hex));
        }
        for case in &v.inclusion {
            let expected: Vec<Hash> = case.path_hex.iter().map(|p| h(p)).collect();
            assert_eq!(
                inclusion_proof(&tree, case.index, case.size).unwrap(),
                expected
            );
        }
        for case in &v.consistency {
            let expected: Vec<Hash> = case.proof_hex.iter().map(|p| h(p)).collect();
            assert_eq!(
                consistency_proof(&tree, case.from, case.to).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn proofs_stay_logarithmic_at_scale() {
        let (tree, leaves) = tree_of(100_000);
        assert_eq!(tree.root(), root_from_leaf_hashes(&leaves));
        for (index, size) in [
            (0u64, 100_000u64),
            (77_777, 99_999),
            (99_998, 99_999),
            (65_536, 70_001),
        ] {
            let before = tree.reads();
            let proof = inclusion_proof(&tree, index, size).unwrap();
            let reads = tree.reads() - before;
            assert!(reads <= 2 * 17 + 2, "{reads} reads for an inclusion proof");
            let root = root(&tree, size).unwrap();
            verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
        }
        let before = tree.reads();
        let proof = consistency_proof(&tree, 31_337, 99_999).unwrap();
        assert!(tree.reads() - before <= 3 * 17 + 2);
        verify_consistency(
            31_337,
            99_999,
            &proof,
            &root(&tree, 31_337).unwrap(),
            &root(&tree, 99_999).unwrap(),
        )
        .unwrap();
    }

    proptest! {
        #[test]
        /// (The tree size alone is not bound by a proof: a signed checkpoint binds it to the
        /// root, so a changed size is tested there, not here.)
        fn every_proof_verifies_and_any_change_fails(
            size in 1u64..300,
            index_seed in any::<u64>(),
            old_seed in any::<u64>(),
            flip in any::<(usize, u8)>(),
        ) {
            let (tree, leaves) = tree_of(size);
            let index = index_seed % size;
            let root_n = root(&tree, size).unwrap();
            prop_assert_eq!(root_n, root_from_leaf_hashes(&leaves));
            let proof = inclusion_proof(&tree, index, size).unwrap();
            prop_assert!(verify_inclusion(&leaves[index as usize], index, size, &proof, &root_n).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let i = flip.0 % bad.len();
                bad[i][flip.1 as usize % 32] ^= 1 << (flip.1 % 8);
                prop_assert!(verify_inclusion(&leaves[index as usize], index, size, &bad, &root_n).is_err());
                prop_assert!(verify_inclusion(&leaves[index as usize], (index + 1) % size, size, &proof, &root_n).is_err() || size == 1);
            }
            let old = 1 + old_seed % size;
            let root_m = root(&tree, old).unwrap();
            let cproof = consistency_proof(&tree, old, size).unwrap();
            prop_assert!(verify_consistency(old, size, &cproof, &root_m, &root_n).is_ok());
            if !cproof.is_empty() {
                let mut bad = cproof.clone();
                let i = flip.0 % bad.len();
                bad[i][flip.1 as usize % 32] ^= 1 << (flip.1 % 8);
                prop_assert!(verify_consistency(old, size, &bad, &root_m, &root_n).is_err());
                let mut bad_old = root_m;
                bad_old[0] ^= 1;
                prop_assert!(verify_consistency(old, size, &cproof, &bad_old, &root_n).is_err());
            }
        }
    }
}
