//! The ledger's cryptography, shared by the registry (which builds the tree) and devices and
//! auditors (which verify it): RFC 6962 / RFC 9162 Merkle trees over SHA-256, and C2SP
//! signed notes and checkpoints; the leaves themselves (record commitments).

pub mod checkpoint;
pub mod cosignature;
pub mod leaf;
pub mod merkle;
pub mod note;
pub mod tiles;
pub mod tree;
pub mod witness;

/// A SHA-256 hash: a leaf, node or root of the tree.
pub type Hash = [u8; 32];

/// A proof, note or checkpoint that does not verify, or a tree read that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A leaf index at or beyond the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Sizes that cannot form a consistency proof (the old one is larger).
    #[error("cannot prove consistency from size {old} to the smaller size {new}")]
    SizesOutOfOrder {
        /// The older tree size.
        old: u64,
        /// The newer tree size.
        new: u64,
    },
    /// The inclusion proof does not lead to the root.
    #[error("inclusion proof does not verify")]
    InclusionProofInvalid,
    /// The consistency proof does not connect the two roots.
    #[error("consistency proof does not verify")]
    ConsistencyProofInvalid,
    /// Leaf data that is not a version-1 ledger leaf.
    #[error(
        "a ledger leaf is a {}-byte record leaf (version {}) or a {}-byte decision leaf (version 2); this one is {len} bytes",
        leaf::LEAF_LEN,
        leaf::LEAF_VERSION,
        leaf::DECISION_LEAF_LEN
    )]
    MalformedLeaf {
        /// Its length.
        len: usize,
    },
    /// A signed note that is malformed.
    #[error("malformed signed note: {0}")]
    BadNote(String),
    /// A verifier key that is malformed.
    #[error("malformed verifier key: {0}")]
    BadKey(String),
    /// The note carries no signature from the expected key.
    #[error("the note is not signed by {0}")]
    UnknownKey(String),
    /// A signature from the expected key does not verify.
    #[error("the note's signature by {0} does not verify")]
    SignatureInvalid(String),
    /// A checkpoint body that is malformed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
    /// The stored tree could not be read.
    #[error("tree storage: {0}")]
    Storage(String),
}
