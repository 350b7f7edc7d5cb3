//! Ingest of sealed batches (`POST /v1/batches`): open, verify, validate, sequence, answer.

use birthright_core::{
    credential,
    keys::KeyId,
    record::{Record, RegistrationForm},
    signed::SignedRecord,
    validate,
    wire::{
        self, Batch, BatchResponse, DecidedBy, DecisionKind, DecisionReason, Held, LeafReceipt,
        Outcome, RecordResult, RejectCode, Rejection,
    },
};
use serde_bytes::ByteBuf;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{
    Candidate, Decided, DeviceRow, MatchRows, NewDecision, RecordMatch, Sequenced, SequencedBatch,
    StoreError,
};

use super::decisions::{DECLARED, review_reasons};
use super::duplicates::ToMatch;

use super::{
    EXPIRED_SYNC_GRACE_SECS, EnrolledDevice, MAX_CLOCK_AHEAD_SECS, PRE_ENROLMENT_CAPTURE_SECS,
    Registry, ServiceError, now_unix, reject,
};

/// What the review policy decided for a batch's records: those registered at once (appended
/// together) and those sent to review with their reasons (set once the batch's matches are
/// stored).
#[derive(Default)]
struct ReviewPlan {
    decisions: Vec<NewDecision>,
    to_review: Vec<(Uuid, Vec<String>)>,
}

/// A record checked at ingest: the candidate to sequence with its form (for matching), or
/// its id (nil if unreadable) with the reason it is rejected.
type Checked = Result<(Candidate, Record), (Uuid, Rejection)>;

impl Registry {
    /// Handles `POST /v1/batches`: opens, verifies, validates, sequences and answers (sealed).
    pub fn ingest(&self, body: &[u8]) -> Result<Vec<u8>, ServiceError> {
        self.ingest_at(body, now_unix())
    }

    /// [`Self::ingest`] at an explicit time (tests, benchmarks).
    pub fn ingest_at(&self, body: &[u8], now: i64) -> Result<Vec<u8>, ServiceError> {
        let (batch, response_key) = wire::open_batch(body, &self.keys.hpke_secret)
            .map_err(|e| ServiceError::new(400, "malformed_batch", e.to_string()))?;
        let response = self.process(&batch, now)?;
        response.seal(&response_key).map_err(ServiceError::internal)
    }

    fn process(&self, batch: &Batch, now: i64) -> Result<BatchResponse, ServiceError> {
        let (kid, device, device_key) = self.batch_device(batch)?;
        // Verify and validate outside the sequencer; only good records are sequenced.
        let mut results: Vec<Option<RecordResult>> = Vec::with_capacity(batch.records.len());
        let mut candidates = Vec::new();
        let mut records = Vec::new();
        let mut slots = Vec::new();
        for (i, bytes) in batch.records.iter().enumerate() {
            match self.check_record(bytes, &kid, &device, &device_key, now)? {
                Ok((candidate, record)) => {
                    results.push(None);
                    slots.push(i);
                    candidates.push(candidate);
                    records.push(record);
                }
                Err((id, rejection)) => results.push(Some(rejected(id, rejection))),
            }
        }
        let sequenced = self.sequence_candidates(batch, &candidates, now)?;
        for (position, other) in &sequenced.collisions {
            if let Some(candidate) = candidates.get(*position) {
                // For the registrar: one of the two devices copied the other's record id.
                eprintln!(
                    "registry: record id collision: record {} from device {kid} is also \
                     registered by device {other}; both are kept under their own device, check them",
                    candidate.id
                );
            }
        }
        // Duplicate detection on every record sequenced (or re-sent before it was decided),
        // on all of them at once; then the review policy on each. The rows duplicate
        // detection stores and the decisions to register at once are written together, in
        // one more transaction.
        let to_match: Vec<ToMatch<'_>> = candidates
            .iter()
            .zip(&records)
            .zip(&sequenced.results)
            .filter(|(_, outcome)| {
                matches!(outcome, Sequenced::Accepted(_) | Sequenced::Duplicate(_))
            })
            .map(|((c, record), outcome)| ToMatch {
                kid,
                id: c.id,
                supersedes: c.supersedes,
                form: &record.enrolment,
                captured_at: record.captured_at,
                first_sequenced: matches!(outcome, Sequenced::Accepted(_)),
            })
            .collect();
        // Matched again, from the start, while another request stored rows between the
        // matching and its rows (so that two batches of the same child sent at once hold
        // the one stored second).
        let (plan, reviews) = self.match_and_store(&to_match, now, |matched| {
            let mut holds = std::mem::take(&mut matched.holds).into_iter();
            let mut reviews = Vec::with_capacity(candidates.len());
            let mut plan = ReviewPlan::default();
            for ((candidate, record), outcome) in
                candidates.iter().zip(&records).zip(&sequenced.results)
            {
                let review = match outcome {
                    Sequenced::Accepted(_) | Sequenced::Duplicate(_) => {
                        let held = holds.next().flatten();
                        let form = &record.enrolment;
                        Some(self.review(&kid, candidate, form, held, now, &mut plan)?)
                    }
                    _ => None,
                };
                reviews.push(review);
            }
            let seen = Some(matched.seen);
            let stored = match (plan.decisions.is_empty(), matched.matches.is_empty()) {
                (true, true) => Ok(Vec::new()),
                (true, false) => self.store.add_matches(&matched.matches, None, seen),
                (false, _) => self.register_at_once(&plan.decisions, &matched.matches, seen),
            };
            Ok(stored.map(|rows| (rows, (plan, reviews))))
        })?;
        let (size, checkpoint) = if plan.decisions.is_empty() {
            (sequenced.size, sequenced.checkpoint)
        } else {
            self.store.latest_checkpoint(&self.signer())?
        };
        // After the matches: a record killed in between is still `declared` with its pairs,
        // and its re-send sets its review.
        for (id, reasons) in &plan.to_review {
            self.store.set_review(&kid, id, reasons, now)?;
        }
        let sequenced = SequencedBatch {
            size,
            checkpoint,
            ..sequenced
        };
        for (((slot, candidate), outcome), review) in slots
            .iter()
            .zip(&candidates)
            .zip(sequenced.results)
            .zip(reviews)
        {
            results[*slot] =
                Some(self.record_result(&kid, candidate, outcome, review, sequenced.size, now)?);
        }
        let consistency = self
            .store
            .consistency_proof(batch.known_tree_size, sequenced.size)?;
        // The witnesses cosign before the device is answered; if they cannot, the answer
        // carries the registry's signature alone and the device waits for a witnessed one.
        let checkpoint = match self.witness(sequenced.size, &sequenced.checkpoint) {
            Ok(cosigned) => cosigned,
            Err(e) => {
                eprintln!("registry: witnessing size {}: {e}", sequenced.size);
                sequenced.checkpoint
            }
        };
        Ok(BatchResponse {
            version: wire::WIRE_VERSION,
            batch_id: batch.batch_id,
            checkpoint,
            known_tree_size: batch.known_tree_size,
            consistency_proof: wire::hash_bufs(&consistency),
            results: results.into_iter().flatten().collect(),
        })
    }

    /// The enrolled device that sent `batch` and its verifying key; refuses a batch from an
    /// unknown device or one claiming a tree size beyond the ledger's.
    fn batch_device(
        &self,
        batch: &Batch,
    ) -> Result<(KeyId, DeviceRow, ed25519_dalek::VerifyingKey), ServiceError> {
        let EnrolledDevice { kid, row, key } =
            self.enrolled_device(&batch.device_kid, "malformed_batch")?;
        let size_now = self.store.tree_size()?;
        if batch.known_tree_size > size_now {
            return Err(ServiceError::new(
                400,
                "bad_tree_size",
                format!(
                    "known tree size {} is beyond the ledger's size {size_now}",
                    batch.known_tree_size
                ),
            ));
        }
        Ok((kid, row, key))
    }

    /// Sequences the verified candidates of `batch`; with none, writes nothing (not even the
    /// batch id) and answers with the latest checkpoint.
    fn sequence_candidates(
        &self,
        batch: &Batch,
        candidates: &[Candidate],
        now: i64,
    ) -> Result<SequencedBatch, ServiceError> {
        let signer = self.signer();
        if candidates.is_empty() {
            let (size, checkpoint) = self.store.latest_checkpoint(&signer)?;
            return Ok(SequencedBatch {
                results: Vec::new(),
                size,
                checkpoint,
                collisions: Vec::new(),
            });
        }
        Ok(self
            .store
            .sequence(&batch.batch_id, candidates, now, &signer)?)
    }

    /// Runs the review policy on a record on the ledger, with its hold from duplicate
    /// detection: a record still `declared` goes to review with its reasons, or is registered
    /// at once (either pushed onto `plan`). Returns its hold and whether it is registered.
    fn review(
        &self,
        kid: &KeyId,
        candidate: &Candidate,
        form: &RegistrationForm,
        held: Option<Held>,
        now: i64,
        plan: &mut ReviewPlan,
    ) -> Result<Review, ServiceError> {
        let status = self
            .store
            .registration(kid, &candidate.id)?
            .map(|r| r.status);
        let registered = match status.as_deref() {
            // Sequenced before review statuses existed: registered then.
            None | Some("registered") => true,
            Some(DECLARED) => {
                let policy = self.store.review_policy()?;
                let reasons = review_reasons(
                    &policy,
                    form,
                    candidate.supersedes.is_some(),
                    held.is_some(),
                    now,
                );
                if reasons.is_empty() {
                    plan.decisions.push(NewDecision {
                        kid: *kid,
                        id: candidate.id,
                        expect: vec![DECLARED.to_string()],
                        decision: DecisionKind::Registered,
                        reason: DecisionReason::Timely,
                        decided_by: DecidedBy::Policy,
                        actor: None,
                        sealed_note: None,
                        duplicate_of: None,
                        at: now,
                    });
                    true
                } else {
                    plan.to_review.push((candidate.id, reasons));
                    false
                }
            }
            Some(_) => false,
        };
        Ok(Review { held, registered })
    }

    /// Appends the policy's registrations in one transaction with the rows duplicate
    /// detection stores (`matches`); should another request have decided one of them
    /// meanwhile (a concurrent re-send), the rows are stored all the same and each of the
    /// others is appended alone. Returns the row numbers the rows were given. With `seen`,
    /// nothing is written if duplicate detection stored rows after it
    /// ([`StoreError::MatchedBehind`]).
    fn register_at_once(
        &self,
        decisions: &[NewDecision],
        matches: &[RecordMatch],
        seen: Option<i64>,
    ) -> Result<MatchRows, StoreError> {
        let signer = self.signer();
        let (decided, rows) = self
            .store
            .decide_and_match(decisions, matches, seen, &signer)?;
        if let Decided::Stale { .. } = decided {
            for decision in decisions {
                self.store.decide(std::slice::from_ref(decision), &signer)?;
            }
        }
        Ok(rows)
    }

    /// The answer for one sequenced candidate: its leaf receipt (with an inclusion proof at
    /// `size`) and, when registered, its registered credential; or the reason the sequencer
    /// refused it.
    fn record_result(
        &self,
        kid: &KeyId,
        candidate: &Candidate,
        outcome: Sequenced,
        review: Option<Review>,
        size: u64,
        now: i64,
    ) -> Result<RecordResult, ServiceError> {
        let refused =
            |code: RejectCode, message: &str| rejected(candidate.id, reject(code, message));
        let (kind, placement) = match outcome {
            Sequenced::Accepted(p) => (Outcome::Accepted, p),
            Sequenced::Duplicate(p) => (Outcome::Duplicate, p),
            Sequenced::Conflict => {
                return Ok(refused(
                    RejectCode::ConflictingRecord,
                    "another record with this id but different content is already registered",
                ));
            }
            Sequenced::Removed => {
                return Ok(refused(
                    RejectCode::RecordRemoved,
                    "a record with this id from this device is already on the ledger but was \
                     removed from the registry: it cannot be registered again",
                ));
            }
            Sequenced::UnknownOriginal => {
                return Ok(refused(
                    RejectCode::UnknownOriginal,
                    "the record this corrects is not registered from this device: a \
                     record the registry refused is captured again, not corrected",
                ));
            }
            Sequenced::NotOwner(owner) => {
                eprintln!(
                    "registry: device {kid} sent a correction ({}) of record {} of device \
                     {owner}: refused",
                    candidate.id,
                    candidate.supersedes.unwrap_or_default()
                );
                return Ok(refused(
                    RejectCode::NotRecordOwner,
                    "only the device that captured a record can correct it",
                ));
            }
            Sequenced::AlreadyCorrected => {
                return Ok(refused(
                    RejectCode::AlreadyCorrected,
                    "this version of the record has already been corrected: correct the \
                     newest version instead",
                ));
            }
        };
        let proof = self.store.inclusion_proof(placement.index, size)?;
        // On the ledger either way; a record awaiting review (a possible duplicate, a late
        // registration, a correction) gets no credential until a registrar has registered it.
        let Review { held, registered } = review.unwrap_or(Review {
            held: None,
            registered: false,
        });
        let credential = match registered {
            true => self.issue_registered_credential(candidate, placement.index, now),
            false => None,
        };
        Ok(RecordResult {
            record_id: candidate.id,
            outcome: kind,
            leaf: Some(LeafReceipt {
                index: placement.index,
                salt: ByteBuf::from(placement.salt.to_vec()),
                sequenced_at: placement.sequenced_at,
                inclusion_proof: wire::hash_bufs(&proof),
            }),
            rejection: None,
            credential,
            held,
        })
    }

    /// The registry-signed credential of an accepted (or duplicate) record, returned in the
    /// sync answer so the device can give it to the caregiver.
    fn issue_registered_credential(
        &self,
        candidate: &Candidate,
        leaf_index: u64,
        now: i64,
    ) -> Option<ByteBuf> {
        // The candidate's bytes were decoded moments ago in `check_record`; should issuing
        // fail, the record stays accepted and the device keeps its provisional credential.
        let signed = SignedRecord::decode(&candidate.bytes).ok()?;
        credential::issue_registered(&self.keys.signing, &signed.record, leaf_index, now)
            .ok()
            .map(|c| ByteBuf::from(c.bytes))
    }

    /// Checks one signed record: decodes, verifies against the enrolled key, checks device
    /// validity and revocation at capture time, re-validates. Returns the candidate to sequence
    /// with its form (for matching), or the record id (nil if unreadable) with the reason it
    /// is rejected.
    fn check_record(
        &self,
        bytes: &[u8],
        kid: &KeyId,
        device: &DeviceRow,
        device_key: &ed25519_dalek::VerifyingKey,
        now: i64,
    ) -> Result<Checked, ServiceError> {
        let signed = match SignedRecord::decode(bytes) {
            Ok(signed) => signed,
            Err(e) => {
                let why = reject(RejectCode::Malformed, format!("unreadable record: {e}"));
                return Ok(Err((Uuid::nil(), why)));
            }
        };
        let id = signed.record.id;
        let problem = match check_signer(&signed, kid, device, device_key) {
            Some(problem) => Some(problem),
            None => match self.check_device_validity(&signed, kid, device, now)? {
                Some(problem) => Some(problem),
                None => check_form(&signed),
            },
        };
        if let Some(rejection) = problem {
            return Ok(Err((id, rejection)));
        }
        Ok(Ok((
            Candidate {
                id,
                kid: *kid,
                supersedes: signed.record.supersedes,
                bytes: signed.bytes,
            },
            signed.record,
        )))
    }

    /// Whether the enrolled device could sign a record captured when this one says, judged by
    /// the registry's clock: not ahead of it, not after revocation or expiry (re-sends of
    /// records already on the ledger excepted), not long before enrolment.
    fn check_device_validity(
        &self,
        signed: &SignedRecord,
        kid: &KeyId,
        device: &DeviceRow,
        now: i64,
    ) -> Result<Option<Rejection>, ServiceError> {
        let id = signed.record.id;
        let captured_at = signed.record.captured_at;
        if captured_at > now.saturating_add(MAX_CLOCK_AHEAD_SECS) {
            return Ok(Some(reject(
                RejectCode::CapturedInFuture,
                "the record's capture time is ahead of the registry's clock: check the \
                 device's date and time, then capture the record again",
            )));
        }
        if let Some(revoked_at) = device.revoked_at {
            // A revoked key may be in a thief's hands and can claim any capture time: once the
            // revocation is in force nothing new from the device is taken, whatever its
            // capture time says. Re-sends of records already on the ledger stay duplicates.
            let in_force = now >= revoked_at || captured_at >= revoked_at;
            if in_force && !self.already_registered(kid, &id, &signed.bytes)? {
                return Ok(Some(reject(
                    RejectCode::RevokedDevice,
                    "this device has been revoked; records it sends are no longer accepted",
                )));
            }
        }
        // Expiry, like revocation, is judged by the registry's clock (ADR 0002): a retired
        // phone's key can backdate. Records captured while the certificate was valid are taken
        // for a grace period after it ends; then nothing new is, only re-sends.
        let grace_over = now > device.not_after.saturating_add(EXPIRED_SYNC_GRACE_SECS);
        if grace_over && !self.already_registered(kid, &id, &signed.bytes)? {
            return Ok(Some(reject(
                RejectCode::DeviceExpired,
                "the device's certificate expired more than 30 days ago: nothing new from \
                 it is accepted; enrol the device again",
            )));
        }
        if captured_at > device.not_after {
            return Ok(Some(reject(
                RejectCode::DeviceExpired,
                "the device's certificate had expired when this record was captured",
            )));
        }
        // A worker may capture offline on a new phone before its enrolment: the certificate
        // vouches for the key, including its signatures of the weeks before.
        if captured_at < device.not_before.saturating_sub(PRE_ENROLMENT_CAPTURE_SECS) {
            return Ok(Some(reject(
                RejectCode::DeviceExpired,
                "the record claims a capture time long before the device was enrolled",
            )));
        }
        Ok(None)
    }

    /// Whether device `kid`'s record `id` is already stored with exactly these bytes (a
    /// re-send).
    fn already_registered(
        &self,
        kid: &KeyId,
        id: &Uuid,
        bytes: &[u8],
    ) -> Result<bool, ServiceError> {
        Ok(self
            .store
            .record_bytes(kid, id)?
            .is_some_and(|stored| stored == bytes))
    }
}

/// Duplicate detection's and the review policy's verdict on one record.
struct Review {
    /// Its possible duplicates, if it is held for them.
    held: Option<wire::Held>,
    /// Registered (by the policy now, or before).
    registered: bool,
}

/// The answer for a record the registry refuses.
fn rejected(record_id: Uuid, rejection: Rejection) -> RecordResult {
    RecordResult {
        record_id,
        outcome: Outcome::Rejected,
        leaf: None,
        rejection: Some(rejection),
        credential: None,
        held: None,
    }
}

/// Whether the record was signed by the batch's device, with its enrolled key, for the worker
/// the device is enrolled for.
fn check_signer(
    signed: &SignedRecord,
    kid: &KeyId,
    device: &DeviceRow,
    device_key: &ed25519_dalek::VerifyingKey,
) -> Option<Rejection> {
    if &signed.kid != kid {
        return Some(reject(
            RejectCode::DeviceMismatch,
            "the record was signed by another device than the batch's",
        ));
    }
    if signed.verify(device_key).is_err() {
        return Some(reject(
            RejectCode::BadSignature,
            "the record's signature does not verify",
        ));
    }
    if signed.record.worker_id != device.worker_id {
        return Some(reject(
            RejectCode::WorkerMismatch,
            "the record names another field worker than the one this device is enrolled for",
        ));
    }
    None
}

/// Re-validates the form as of its capture time: it must be valid and already normalised.
fn check_form(signed: &SignedRecord) -> Option<Rejection> {
    let Ok(at) = OffsetDateTime::from_unix_timestamp(signed.record.captured_at) else {
        return Some(reject(
            RejectCode::InvalidRecord,
            "capture time out of range",
        ));
    };
    match validate::validate(&signed.record.enrolment, at) {
        Ok(normal) if normal == signed.record.enrolment => None,
        Ok(_) => Some(reject(
            RejectCode::InvalidRecord,
            "the record is not in normalised form",
        )),
        Err(errors) => Some(reject(RejectCode::InvalidRecord, errors.to_string())),
    }
}
