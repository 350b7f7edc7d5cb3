//! What the device checks before it believes the registry: a checkpoint's signature and origin,
//! the consistency of the registry's history with what this device verified before, every
//! record's inclusion proof (its [`Receipt`]), each registered credential, and each decision
//! notice ([`check_notice`]). Pure functions
//! over the pinned trust bundle and the answer's bytes: no store, no clock, no network. A
//! failure is the registry's ([`SyncError::InvalidResponse`], [`SyncError::LedgerInconsistent`]),
//! except a key in the stored trust bundle that does not parse, which is a damaged store.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use super::{AwaitingWitnesses, SyncError};
use crate::{
    credential::{self, Registration, Verdict},
    device::DeviceError,
    keys::KeyId,
    ledger::{
        Hash,
        checkpoint::{Checkpoint, verify_checkpoint},
        leaf::{DecisionKind, DecisionLeaf},
        merkle,
        note::NoteVerifier,
    },
    store::{RecordDecision, StoreError, sync_rows::VerifiedCheckpoint},
    trust::TrustBundle,
    wire::{self, LedgerLeaf, Notice},
};

/// Proof that a record is on the ledger, stored with it on the device (CBOR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Leaf index.
    pub leaf_index: u64,
    /// The commitment salt.
    pub salt: ByteBuf,
    /// Sequencing time, Unix seconds.
    pub sequenced_at: i64,
    /// The signed checkpoint the proof is against.
    pub checkpoint: String,
    /// Inclusion proof of the leaf in that checkpoint.
    pub inclusion_proof: Vec<ByteBuf>,
}

impl Receipt {
    /// Checks this receipt for `signed_record` (its COSE bytes) from device `kid` against the
    /// registry in `trust` (the device's pinned bundle): checkpoint signature and inclusion
    /// proof.
    pub fn verify(
        &self,
        signed_record: &[u8],
        kid: KeyId,
        trust: &TrustBundle,
    ) -> Result<Checkpoint, SyncError> {
        self.verify_with(
            signed_record,
            kid,
            &pinned_checkpoint_verifier(trust)?,
            &trust.origin,
        )
    }

    /// [`Self::verify`] with the checkpoint verifier already made.
    pub fn verify_with(
        &self,
        signed_record: &[u8],
        kid: KeyId,
        verifier: &NoteVerifier,
        origin: &str,
    ) -> Result<Checkpoint, SyncError> {
        let checkpoint = signed_checkpoint(verifier, &self.checkpoint, origin)?;
        let salt = <[u8; 32]>::try_from(self.salt.as_slice())
            .map_err(|_| SyncError::InvalidResponse("salt is not 32 bytes".into()))?;
        let leaf = LedgerLeaf {
            commitment: wire::record_commitment(&salt, signed_record),
            device_kid: kid,
            sequenced_at: self.sequenced_at,
        };
        let proof = wire::hashes(&self.inclusion_proof)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        merkle::verify_inclusion(
            &merkle::leaf_hash(&leaf.to_bytes()),
            self.leaf_index,
            checkpoint.size,
            &proof,
            &checkpoint.root_hash,
        )
        .map_err(|e| SyncError::InvalidResponse(format!("inclusion proof: {e}")))?;
        Ok(checkpoint)
    }
}

/// A notice of the registry's decision on one of the device's records (PROTOCOL §9.1),
/// checked against what the device holds of that record: the decision leaf is rebuilt from
/// the record's own receipt (its leaf index and salt) and signed bytes with the notice's
/// fields, and must be in `checkpoint` (already verified) at the notice's index; a
/// registration must carry the registry's registered credential for this record and leaf.
pub fn check_notice(
    notice: &Notice,
    receipt: &Receipt,
    signed_record: &[u8],
    checkpoint: &Checkpoint,
    trust: &TrustBundle,
    now: i64,
) -> Result<RecordDecision, SyncError> {
    let bad = |why: String| {
        SyncError::InvalidResponse(format!("notice for record {}: {why}", notice.record_id))
    };
    let salt = <[u8; 32]>::try_from(receipt.salt.as_slice())
        .map_err(|_| bad("the record's salt is not 32 bytes".into()))?;
    let leaf = DecisionLeaf {
        record_index: receipt.leaf_index,
        commitment: wire::record_commitment(&salt, signed_record),
        decision: notice.decision,
        reason: notice.reason,
        decided_by: notice.decided_by,
        decided_at: notice.decided_at,
    };
    let proof = wire::hashes(&notice.inclusion_proof).map_err(|e| bad(e.to_string()))?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(&leaf.to_bytes()),
        notice.leaf_index,
        checkpoint.size,
        &proof,
        &checkpoint.root_hash,
    )
    .map_err(|e| bad(format!("the decision is not on the ledger ({e})")))?;
    match (&notice.credential, notice.decision) {
        (Some(credential), DecisionKind::Registered) => check_registered_credential(
            credential,
            &notice.record_id,
            receipt.leaf_index,
            trust,
            now,
        )?,
        (None, DecisionKind::Registered) => {
            return Err(bad(
                "a registration without its registered credential".into()
            ));
        }
        (Some(_), _) => {
            return Err(bad(
                "a credential with a decision other than a registration".into(),
            ));
        }
        (None, _) => {}
    }
    Ok(RecordDecision {
        decision: notice.decision,
        reason: notice.reason,
        decided_by: notice.decided_by,
        decided_at: notice.decided_at,
        leaf_index: notice.leaf_index,
    })
}

/// A signed checkpoint note from the registry: signature under the pinned key, and origin.
pub fn signed_checkpoint(
    verifier: &NoteVerifier,
    note: &str,
    origin: &str,
) -> Result<Checkpoint, SyncError> {
    verify_checkpoint(verifier, note, origin)
        .map_err(|e| SyncError::InvalidResponse(format!("checkpoint: {e}")))
}

/// The witnesses' verdict on a checkpoint note the registry signed: how many trusted witnesses
/// cosigned it, against the bundle's quorum. A cosignature line that names a trusted witness but
/// does not verify is the registry's fault (it relays them). Quorum 0 (a v1 bundle) is met by
/// the registry's signature alone.
pub fn witnessed(trust: &TrustBundle, note: &str) -> Result<AwaitingWitnesses, SyncError> {
    let policy = trust.witness_policy().map_err(|_| damaged_trust_bundle())?;
    let outcome = policy
        .evaluate(note)
        .map_err(|e| SyncError::InvalidResponse(format!("checkpoint cosignatures: {e}")))?;
    Ok(AwaitingWitnesses {
        cosigned: outcome.count() as u32,
        quorum: outcome.quorum as u32,
    })
}

/// The hashes of a `GET /v1/proof/consistency` answer ([`crate::wire::ConsistencyJson`]).
pub fn parse_consistency_json(body: &[u8]) -> Result<Vec<Hash>, SyncError> {
    let parsed: crate::wire::ConsistencyJson = serde_json::from_slice(body)
        .map_err(|e| SyncError::InvalidResponse(format!("consistency proof: {e}")))?;
    crate::wire::hashes_from_base64(&parsed.proof)
        .map_err(|e| SyncError::InvalidResponse(format!("consistency proof: {e}")))
}

/// `to` extends `from` (a checkpoint this device verified before) by `proof`: the registry's
/// tree only grew, and agrees on everything `from` committed to.
pub fn check_consistency(
    from: &VerifiedCheckpoint,
    to: &Checkpoint,
    proof: &[Hash],
) -> Result<(), SyncError> {
    if to.size < from.size {
        return Err(SyncError::LedgerInconsistent(format!(
            "the registry's tree shrank from {} to {} leaves",
            from.size, to.size
        )));
    }
    if from.size == 0 {
        return Ok(());
    }
    merkle::verify_consistency(from.size, to.size, proof, &from.root_hash, &to.root_hash).map_err(
        |e| {
            SyncError::LedgerInconsistent(format!(
                "no valid consistency proof from size {} to {}: {e}",
                from.size, to.size
            ))
        },
    )
}

/// Two checkpoints of the same size must have the same root: a different one is a fork.
pub fn check_same_root(seen: &VerifiedCheckpoint, new: &Checkpoint) -> Result<(), SyncError> {
    if seen.size == new.size && seen.root_hash != new.root_hash {
        return Err(SyncError::LedgerInconsistent(format!(
            "two different checkpoints for size {}",
            seen.size
        )));
    }
    Ok(())
}

/// A registered credential in a batch answer must be the pinned registry's, for this record
/// and its leaf, before the device stores it to hand to a caregiver.
pub fn check_registered_credential(
    bytes: &[u8],
    record_id: &Uuid,
    leaf_index: u64,
    trust: &TrustBundle,
    now: i64,
) -> Result<(), SyncError> {
    let verification = credential::verify_bytes(bytes, trust, None, now);
    let fits = |r: &Registration| &r.record_id == record_id && r.leaf_index == Some(leaf_index);
    match (&verification.verdict, &verification.registration) {
        (Verdict::Valid, Some(r)) if fits(r) => Ok(()),
        (verdict, _) => {
            let why = match verdict {
                Verdict::Valid | Verdict::ValidProvisional => "it names another record or leaf",
                Verdict::Revoked(why)
                | Verdict::Expired(why)
                | Verdict::Superseded(why)
                | Verdict::Invalid(why)
                | Verdict::Unreadable(why) => why,
            };
            Err(SyncError::InvalidResponse(format!(
                "record {record_id}: the registered credential is not the registry's for this \
                 record and leaf ({why})"
            )))
        }
    }
}

/// The trust bundle a sync uses is the device's own stored copy, checked when it was stored
/// and again when it is read ([`crate::device::Device::trust_bundle`]): a key in it that does
/// not parse is a damaged store, not a bad answer from the registry.
fn damaged_trust_bundle() -> SyncError {
    SyncError::Device(DeviceError::Store(StoreError::Tampered {
        what: "trust bundle".into(),
    }))
}

/// The checkpoint verifier of the stored trust bundle.
pub fn pinned_checkpoint_verifier(trust: &TrustBundle) -> Result<NoteVerifier, SyncError> {
    NoteVerifier::from_vkey(&trust.checkpoint_vkey).map_err(|_| damaged_trust_bundle())
}

/// The registry's HPKE key from the stored trust bundle.
pub fn pinned_hpke_key(trust: &TrustBundle) -> Result<[u8; 32], SyncError> {
    trust.hpke_public_key().map_err(|_| damaged_trust_bundle())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        keys::Ed25519Key,
        ledger::{checkpoint::sign_checkpoint, note::NoteSigner, tree::MemoryTree},
    };

    fn is_damaged_trust_bundle(e: &SyncError) -> bool {
        matches!(
            e,
            SyncError::Device(DeviceError::Store(StoreError::Tampered { what })) if what == "trust bundle"
        )
    }

    #[test]
    fn an_unparsable_stored_checkpoint_key_is_a_store_error_not_the_registrys() {
        let (_, mut bundle) = crate::trust::tests::registry();
        assert!(pinned_checkpoint_verifier(&bundle).is_ok());
        bundle.checkpoint_vkey = "not a vkey".into();
        let Err(e) = pinned_checkpoint_verifier(&bundle) else {
            panic!("a bad checkpoint key was accepted")
        };
        assert!(is_damaged_trust_bundle(&e), "{e:?}");
        assert!(!e.to_string().contains("registry's answer"), "{e}");
        // The same for a receipt checked against that bundle.
        let Err(e) = receipt_fixture()
            .0
            .verify(b"record", KeyId([1; 8]), &bundle)
        else {
            panic!("a receipt verified under a damaged bundle")
        };
        assert!(is_damaged_trust_bundle(&e), "{e:?}");
    }

    #[test]
    fn an_unparsable_stored_hpke_key_is_a_store_error_not_the_registrys() {
        let (_, mut bundle) = crate::trust::tests::registry();
        assert_eq!(pinned_hpke_key(&bundle).ok(), Some([7u8; 32]));
        bundle.hpke_public_key = "AAAA".into();
        let Err(e) = pinned_hpke_key(&bundle) else {
            panic!("a bad HPKE key was accepted")
        };
        assert!(is_damaged_trust_bundle(&e), "{e:?}");
    }

    const KID: KeyId = KeyId([9; 8]);
    const SALT: [u8; 32] = [5; 32];

    fn leaf(signed: &[u8], at: i64) -> Hash {
        merkle::leaf_hash(
            &LedgerLeaf {
                commitment: wire::record_commitment(&SALT, signed),
                device_kid: KID,
                sequenced_at: at,
            }
            .to_bytes(),
        )
    }

    fn signer() -> NoteSigner {
        let (key, _) = crate::trust::tests::registry();
        NoteSigner::new("registry.test/births", key.signing_key().clone()).unwrap()
    }

    fn signed_note(signer: &NoteSigner, tree: &MemoryTree) -> String {
        let checkpoint = Checkpoint {
            origin: "registry.test/births".into(),
            size: tree.size(),
            root_hash: tree.root(),
            extensions: Vec::new(),
        };
        sign_checkpoint(signer, &checkpoint).unwrap()
    }

    /// A receipt for record bytes `b"record"` at leaf 2 of a 5-leaf tree, and that tree.
    fn receipt_fixture() -> (Receipt, MemoryTree) {
        let mut tree = MemoryTree::new();
        for i in 0..5u8 {
            let signed: &[u8] = if i == 2 { b"record" } else { &[i] };
            tree.push(leaf(signed, 1000 + i64::from(i)));
        }
        let proof = crate::ledger::tree::inclusion_proof(&tree, 2, 5).unwrap();
        let receipt = Receipt {
            leaf_index: 2,
            salt: ByteBuf::from(SALT.to_vec()),
            sequenced_at: 1002,
            checkpoint: signed_note(&signer(), &tree),
            inclusion_proof: wire::hash_bufs(&proof),
        };
        (receipt, tree)
    }

    #[test]
    fn a_receipt_verifies_for_its_record_only() {
        let (_, bundle) = crate::trust::tests::registry();
        let (receipt, tree) = receipt_fixture();
        let checkpoint = receipt.verify(b"record", KID, &bundle).unwrap();
        assert_eq!((checkpoint.size, checkpoint.root_hash), (5, tree.root()));
        let refused = |r: &Receipt, signed: &[u8], kid| {
            matches!(
                r.verify(signed, kid, &bundle),
                Err(SyncError::InvalidResponse(_))
            )
        };
        assert!(refused(&receipt, b"other", KID), "another record");
        assert!(
            refused(&receipt, b"record", KeyId([8; 8])),
            "another device"
        );
        let moved = Receipt {
            leaf_index: 3,
            ..receipt.clone()
        };
        assert!(refused(&moved, b"record", KID), "another leaf");
        let retimed = Receipt {
            sequenced_at: 1003,
            ..receipt.clone()
        };
        assert!(refused(&retimed, b"record", KID), "another sequencing time");
        let short_salt = Receipt {
            salt: ByteBuf::from(vec![5; 31]),
            ..receipt.clone()
        };
        assert!(refused(&short_salt, b"record", KID), "a short salt");
        let forged = Receipt {
            checkpoint: receipt.checkpoint.replace("\n5\n", "\n6\n"),
            ..receipt.clone()
        };
        assert!(refused(&forged, b"record", KID), "an altered checkpoint");
        let other_signer = NoteSigner::new(
            "registry.test/births",
            Ed25519Key::from_secret(&[1; 32]).signing_key().clone(),
        )
        .unwrap();
        let impostor = Receipt {
            checkpoint: signed_note(&other_signer, &tree),
            ..receipt
        };
        assert!(refused(&impostor, b"record", KID), "another registry's key");
    }

    fn verified(tree: &MemoryTree) -> VerifiedCheckpoint {
        VerifiedCheckpoint {
            size: tree.size(),
            root_hash: tree.root(),
            note: String::new(),
        }
    }

    fn checkpoint(tree: &MemoryTree) -> Checkpoint {
        Checkpoint {
            origin: "registry.test/births".into(),
            size: tree.size(),
            root_hash: tree.root(),
            extensions: Vec::new(),
        }
    }

    #[test]
    fn consistency_accepts_a_grown_tree_and_refuses_a_rewritten_or_shrunk_one() {
        let mut tree = MemoryTree::new();
        for i in 0..3u8 {
            tree.push(leaf(&[i], 1));
        }
        let old = verified(&tree);
        for i in 3..7u8 {
            tree.push(leaf(&[i], 1));
        }
        let proof = crate::ledger::tree::consistency_proof(&tree, 3, 7).unwrap();
        check_consistency(&old, &checkpoint(&tree), &proof).unwrap();
        // From nothing, anything extends.
        let empty = VerifiedCheckpoint {
            size: 0,
            root_hash: [0; 32],
            note: String::new(),
        };
        check_consistency(&empty, &checkpoint(&tree), &[]).unwrap();
        // A history that rewrote leaf 1 does not extend the old one.
        let mut rewritten = MemoryTree::new();
        for i in 0..7u8 {
            rewritten.push(leaf(&[if i == 1 { 99 } else { i }], 1));
        }
        let proof = crate::ledger::tree::consistency_proof(&rewritten, 3, 7).unwrap();
        assert!(matches!(
            check_consistency(&old, &checkpoint(&rewritten), &proof),
            Err(SyncError::LedgerInconsistent(_))
        ));
        // A tree smaller than one already verified.
        let mut small = MemoryTree::new();
        small.push(leaf(&[0], 1));
        let e = check_consistency(&old, &checkpoint(&small), &[]).unwrap_err();
        assert!(e.to_string().contains("shrank from 3 to 1"), "{e}");
    }

    #[test]
    fn two_roots_for_one_size_are_a_fork() {
        let mut a = MemoryTree::new();
        let mut b = MemoryTree::new();
        a.push(leaf(b"a", 1));
        b.push(leaf(b"b", 1));
        check_same_root(&verified(&a), &checkpoint(&a)).unwrap();
        let e = check_same_root(&verified(&a), &checkpoint(&b)).unwrap_err();
        assert!(
            matches!(&e, SyncError::LedgerInconsistent(m) if m.contains("size 1")),
            "{e}"
        );
        b.push(leaf(b"c", 1));
        check_same_root(&verified(&a), &checkpoint(&b)).unwrap();
    }

    #[test]
    fn consistency_json_is_parsed_strictly() {
        use base64::{Engine, engine::general_purpose::STANDARD};
        let h = STANDARD.encode([3u8; 32]);
        assert_eq!(
            parse_consistency_json(format!(r#"{{"from":1,"to":2,"proof":["{h}"]}}"#).as_bytes())
                .unwrap(),
            vec![[3u8; 32]]
        );
        for bad in [
            r#"{"from":1,"to":2,"proof":["AAAA"]}"#,
            r#"{"from":1,"to":2,"proof":["not base64!"]}"#,
            r#"{"proof":[]}"#,
            r#"{"hashes":[]}"#,
            "[]",
            "",
        ] {
            assert!(
                matches!(
                    parse_consistency_json(bad.as_bytes()),
                    Err(SyncError::InvalidResponse(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_registered_credential_must_be_the_registrys_for_this_record_and_leaf() {
        let (key, bundle) = crate::trust::tests::registry();
        let record = crate::record::Record {
            schema_version: crate::record::SCHEMA_VERSION,
            id: Uuid::from_u128(0x01a2_0bdf_bee1_72c5_a976_614a_60a4_9bec),
            captured_at: 1_799_990_000,
            worker_id: "oksana.m".into(),
            device_kid: KID.0.to_vec(),
            supersedes: None,
            enrolment: crate::fixtures::reference_input(),
        };
        let bytes = credential::issue_registered(&key, &record, 4, 1_800_000_000)
            .unwrap()
            .bytes;
        let now = 1_800_000_100;
        check_registered_credential(&bytes, &record.id, 4, &bundle, now).unwrap();
        let e = check_registered_credential(&bytes, &record.id, 5, &bundle, now).unwrap_err();
        assert!(e.to_string().contains("another record or leaf"), "{e}");
        let other = Uuid::from_u128(1);
        assert!(check_registered_credential(&bytes, &other, 4, &bundle, now).is_err());
        let impostor = Ed25519Key::from_secret(&[3; 32]);
        let forged = credential::issue_registered(&impostor, &record, 4, 1_800_000_000)
            .unwrap()
            .bytes;
        let e = check_registered_credential(&forged, &record.id, 4, &bundle, now).unwrap_err();
        assert!(matches!(e, SyncError::InvalidResponse(_)), "{e}");
        assert!(check_registered_credential(b"junk", &record.id, 4, &bundle, now).is_err());
    }
}
