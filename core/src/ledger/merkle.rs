//! RFC 6962 / RFC 9162 §2.1 Merkle tree hashing and proof verification.

use sha2::{Digest, Sha256};

use super::{Hash, LedgerError};

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly less than `n` (n ≥ 2).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The root over `leaf_hashes` computed directly (RFC 6962 MTH); for tests and small trees.
pub fn root_from_leaf_hashes(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => empty_root(),
        1 => leaf_hashes[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(
                &root_from_leaf_hashes(&leaf_hashes[..k]),
                &root_from_leaf_hashes(&leaf_hashes[k..]),
            )
        }
    }
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(LedgerError::InclusionProofInvalid);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n == 0 && &r == root {
        Ok(())
    } else {
        Err(LedgerError::InclusionProofInvalid)
    }
}

/// Verifies that the tree of `new_size` with `new_root` extends the tree of `old_size` with
/// `old_root` (RFC 9162 §2.1.4.2). An old size of 0 is consistent with everything.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(LedgerError::ConsistencyProofInvalid)
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(LedgerError::ConsistencyProofInvalid)
        };
    }
    if proof.is_empty() {
        return Err(LedgerError::ConsistencyProofInvalid);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = path[0];
    let mut s_r = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return Err(LedgerError::ConsistencyProofInvalid);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n == 0 && &f_r == old_root && &s_r == new_root {
        Ok(())
    } else {
        Err(LedgerError::ConsistencyProofInvalid)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    pub(crate) struct Vectors {
        pub leaves_hex: Vec<String>,
        pub roots: Vec<RootVector>,
        pub inclusion: Vec<InclusionVector>,
        pub consistency: Vec<ConsistencyVector>,
    }
    #[derive(Deserialize)]
    pub(crate) struct RootVector {
        pub size: u64,
        pub root_hex: String,
    }
    #[derive(Deserialize)]
    pub(crate) struct InclusionVector {
        pub index: u64,
        pub size: u64,
        pub path_hex: Vec<String>,
    }
    #[derive(Deserialize)]
    pub(crate) struct ConsistencyVector {
        pub from: u64,
        pub to: u64,
        pub proof_hex: Vec<String>,
    }

    pub(crate) fn vectors() -> Vectors {
        serde_json::from_str(include_str!("testdata/rfc6962-merkle.json")).unwrap()
    }

    pub(crate) fn h(hex_str: &str) -> Hash {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    pub(crate) fn leaf_hashes(v: &Vectors) -> Vec<Hash> {
        v.leaves_hex
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect()
    }

    #[test]
    fn roots_match_vectors() {
        let v = vectors();
        let leaves = leaf_hashes(&v);
        for r in &v.roots {
            assert_eq!(
                root_from_leaf_hashes(&leaves[..r.size as usize]),
                h(&r.root_hex),
                "size {}",
                r.size
            );
        }
        assert_eq!(
            hex::encode(root_from_leaf_hashes(&leaves)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }

    #[test]
    fn every_inclusion_vector_verifies_and_tampering_fails() {
        let v = vectors();
        let leaves = leaf_hashes(&v);
        assert!(!v.inclusion.is_empty());
        for case in &v.inclusion {
            let root = root_from_leaf_hashes(&leaves[..case.size as usize]);
            let proof: Vec<Hash> = case.path_hex.iter().map(|p| h(p)).collect();
            let leaf = leaves[case.index as usize];
            verify_inclusion(&leaf, case.index, case.size, &proof, &root).unwrap();
            let mut bad_root = root;
            bad_root[0] ^= 1;
            assert!(verify_inclusion(&leaf, case.index, case.size, &proof, &bad_root).is_err());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][31] ^= 0x80;
                assert!(verify_inclusion(&leaf, case.index, case.size, &bad, &root).is_err());
            }
            if case.size > 1 {
                let other = (case.index + 1) % case.size;
                assert!(verify_inclusion(&leaf, other, case.size, &proof, &root).is_err());
            }
        }
    }

    #[test]
    fn every_consistency_vector_verifies_and_tampering_fails() {
        let v = vectors();
        let leaves = leaf_hashes(&v);
        assert!(!v.consistency.is_empty());
        for case in &v.consistency {
            let old = root_from_leaf_hashes(&leaves[..case.from as usize]);
            let new = root_from_leaf_hashes(&leaves[..case.to as usize]);
            let proof: Vec<Hash> = case.proof_hex.iter().map(|p| h(p)).collect();
            verify_consistency(case.from, case.to, &proof, &old, &new).unwrap();
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 1;
                assert!(verify_consistency(case.from, case.to, &bad, &old, &new).is_err());
            }
            if case.from != case.to {
                let mut bad_new = new;
                bad_new[5] ^= 1;
                assert!(verify_consistency(case.from, case.to, &proof, &old, &bad_new).is_err());
            }
        }
    }

    #[test]
    fn edge_cases() {
        let a = leaf_hash(b"a");
        assert_eq!(
            verify_inclusion(&a, 1, 1, &[], &a),
            Err(LedgerError::IndexOutOfRange { index: 1, size: 1 })
        );
        verify_inclusion(&a, 0, 1, &[], &a).unwrap();
        verify_consistency(0, 5, &[], &empty_root(), &a).unwrap();
        assert!(verify_consistency(0, 5, &[a], &empty_root(), &a).is_err());
        assert!(verify_consistency(3, 2, &[], &a, &a).is_err());
        assert!(verify_consistency(2, 2, &[a], &a, &a).is_err());
        verify_consistency(2, 2, &[], &a, &a).unwrap();
    }
}
