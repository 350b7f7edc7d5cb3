//! Duplicate detection at the registry (docs/MATCHING.md §7): every record sequenced is
//! matched against the registry's records through keyed blocking hashes; a record with a
//! `likely` or `possible` candidate is held for a registrar's review (no registered
//! credential) until every pair holding it is decided.

use std::collections::HashMap;

use birthright_core::{
    codec,
    keys::KeyId,
    matching::{
        BoundFacts, Level, Match, Prepared,
        blocking::{
            CANDIDATE_BUDGET, KeyedIndex, block_keys, child_name_keys, chosen_blocks,
            commonness_with, is_child_name_key, keyed, keyed_block_keys,
        },
        bound::sealing_context,
        rules_out_prepared, score_in, weigh,
    },
    record::RegistrationForm,
    signed::SignedRecord,
    store::crypto::context,
    wire::{Held, HeldCandidate, MAX_HELD_CANDIDATES},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Registry, ServiceError,
    decisions::{
        AWAITING_REVIEW, Action, DECLARED, DecisionOutcome, DecisionRequest, POSSIBLE_DUPLICATE,
    },
};
use crate::store::{DuplicatePair, MatchRecordRow, MatchRows, RecordMatch, StoreError};

/// A record on the ledger to match: its device, id, the record it corrects and its form
/// (from its verified signed bytes).
pub(super) struct ToMatch<'a> {
    /// The capturing device.
    pub kid: KeyId,
    /// The record.
    pub id: Uuid,
    /// The record it corrects (never its candidate).
    pub supersedes: Option<Uuid>,
    /// Its registration form.
    pub form: &'a RegistrationForm,
    /// When its device says it was captured (shown beside it as a candidate).
    pub captured_at: i64,
    /// Whether it was sequenced just now, for the first time (so it has no stored row of
    /// hashes yet, and the store is not asked).
    pub first_sequenced: bool,
}

impl ToMatch<'_> {
    /// Whether `kid`'s record `id` is this record or the record it corrects (neither is ever
    /// its candidate).
    fn is_itself_or_corrected(&self, kid: &KeyId, id: &Uuid) -> bool {
        (*kid == self.kid && *id == self.id) || Some(*id) == self.supersedes
    }
}

/// What matching records found ([`Registry::match_batch`]): whether each is held, and the
/// rows of those matched now, still to be stored.
pub(super) struct MatchedBatch {
    /// For each record in order, its hold, if it has a candidate.
    pub holds: Vec<Option<Held>>,
    /// The keyed hashes, sealed facts and pairs of the records matched now.
    pub matches: Vec<RecordMatch>,
    /// Their facts in plain, in the same order (for the index in memory once stored).
    pub facts: Vec<BoundFacts>,
    /// The last row of `match_records` the index held when the matching began: the rows
    /// are stored only if none was stored after it ([`StoreError::MatchedBehind`]), since
    /// the records of rows stored meanwhile (by a concurrent request or another process)
    /// were not matched against these.
    pub seen: i64,
}

/// Times a batch is matched again when rows were stored meanwhile (each time against the
/// rows stored since, at once), before the request is answered as busy.
const MATCH_ATTEMPTS: u32 = 16;

/// The answer when a batch found other rows stored meanwhile on every attempt.
fn matched_behind_too_often() -> ServiceError {
    ServiceError::new(
        503,
        "busy",
        "the registry is busy matching other records; try again shortly",
    )
}

/// An open pair as a registrar sees it: the ids, the score and the reasons (recomputed from
/// the sealed records: the database keeps no names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateView {
    /// The later record, held for review.
    pub record_id: Uuid,
    /// Its device.
    pub record_kid: KeyId,
    /// The earlier record it may duplicate.
    pub candidate_id: Uuid,
    /// Its device.
    pub candidate_kid: KeyId,
    /// Points (docs/MATCHING.md §6).
    pub score: i32,
    /// `likely` or `possible`.
    pub level: String,
    /// Why, in plain language.
    pub reasons: Vec<String>,
    /// When the pair was found (Unix seconds).
    pub opened_at: i64,
}

/// The registry's blocking index in memory (docs/MATCHING.md §7): the stored records' keyed
/// hashes ([`KeyedIndex`]), the record each number stands for with its facts for the bound,
/// and the last stored row read. Built at its first use by reading every row of
/// `match_records`, then brought up to date with the rows stored since (by this process or
/// another on the same store) before each batch is matched and each listing of pairs.
#[derive(Default)]
pub(super) struct MatchIndex {
    index: KeyedIndex,
    records: Vec<Indexed>,
    last_seq: i64,
}

/// A stored record as the blocking index knows it.
#[derive(Debug, Clone)]
struct Indexed {
    /// Its row of `match_records`.
    seq: i64,
    kid: KeyId,
    id: Uuid,
    /// Its facts for the bound of docs/MATCHING.md §6.4; `None` if its row's sealed facts did
    /// not open (then it is read to be judged).
    facts: Option<BoundFacts>,
}

/// A stored record the bound did not rule out, to be read and scored.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Its row of `match_records`.
    seq: i64,
    kid: KeyId,
    id: Uuid,
    /// Whether the bound judged it from its facts in memory (if not, it is judged once read).
    judged: bool,
}

/// A record of a batch between finding its candidates and scoring them
/// ([`Registry::match_batch`]).
struct Planned {
    prepared: Prepared,
    /// Its child's-name block sizes ([`Blocks::child_name_counts`]).
    counts: HashMap<String, u64>,
    /// When it is matched now (not before).
    fresh: Option<Fresh>,
}

/// A record matched now: its chosen blocks, keys and facts, and where its candidates are in
/// the batch's list of them.
struct Fresh {
    chosen: Vec<[u8; 32]>,
    keys: Vec<[u8; 32]>,
    facts: BoundFacts,
    survivors: std::ops::Range<usize>,
}

/// A matched record as a candidate, as `match_candidates` keeps it (sealed): its prepared
/// profile (so scoring it needs neither its signed record nor its preparation) and what a
/// hold shows of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCandidate {
    /// Its profile, prepared.
    pub prepared: Prepared,
    /// The child's name as shown.
    pub child_name: String,
    /// The child's date of birth as entered.
    pub date_of_birth: String,
    /// When its device says it was captured.
    pub captured_at: i64,
}

impl StoredCandidate {
    /// The candidate form of a record with `form` captured at `captured_at`, its profile
    /// already prepared (kept as [`Prepared::scoring_only`]).
    pub fn new(prepared: &Prepared, form: &RegistrationForm, captured_at: i64) -> StoredCandidate {
        StoredCandidate {
            prepared: prepared.scoring_only(),
            child_name: form.child.display_name(),
            date_of_birth: form.child.date_of_birth.clone(),
            captured_at,
        }
    }
}

/// Most bytes a candidate form may have when read back.
pub const MAX_CANDIDATE_BYTES: usize = 64 * 1024;

/// The associated data of a record's candidate form: its table and column, the device's key
/// id and the record's id.
pub fn candidate_context(kid: &KeyId, id: &Uuid) -> Vec<u8> {
    let mut row = Vec::with_capacity(kid.0.len() + 16);
    row.extend_from_slice(&kid.0);
    row.extend_from_slice(id.as_bytes());
    context("match_candidates", "sealed_candidate", &row)
}

/// Rows of `match_records` read at a time when the index is brought up to date.
const INDEX_ROWS_PER_READ: u32 = 10_000;

/// A record's blocking keys with their keyed hashes (in the same order) and how many records
/// each block holds.
struct Blocks {
    keys: Vec<String>,
    hashes: Vec<[u8; 32]>,
    sizes: Vec<u64>,
}

impl Blocks {
    /// The hashes of the blocks to look in ([`chosen_blocks`]), sorted.
    fn chosen(&self) -> Vec<[u8; 32]> {
        let mut out: Vec<[u8; 32]> = chosen_blocks(&self.sizes, CANDIDATE_BUDGET)
            .into_iter()
            .filter_map(|at| self.hashes.get(at).copied())
            .collect();
        out.sort_unstable();
        out
    }

    /// Every hash, sorted, without repeats (as [`keyed_block_keys`] gives them).
    fn sorted_hashes(&self) -> Vec<[u8; 32]> {
        let mut out = self.hashes.clone();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The sizes of the child's-name-and-month blocks, by key (docs/MATCHING.md §6.3).
    fn child_name_counts(&self) -> HashMap<String, u64> {
        self.keys
            .iter()
            .zip(&self.sizes)
            .filter(|(k, _)| is_child_name_key(k))
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }
}

/// Scores `record` against a stored candidate read (`other`, the record `candidate` of the
/// index) as matching does: the match when it scores at least `possible`; `None` when it
/// does not, or when the candidate's own dates and ids rule it out (the bound of
/// docs/MATCHING.md §6.4, for a candidate the index holds no facts of; the others were judged
/// before they were read). The reasons are written only for a match kept, and the commonness
/// of the child's name (from `counts`, the record's child's-name block sizes) is counted only
/// when the two agree on it.
fn candidate_match(
    record: &Prepared,
    counts: &HashMap<String, u64>,
    candidate: &Candidate,
    other: &StoredCandidate,
) -> Option<Match> {
    if !candidate.judged && rules_out_prepared(record, &other.prepared) {
        return None;
    }
    let evidence = weigh(record, &other.prepared, || {
        commonness_with(|k| counts.get(k).copied(), &other.prepared)
    });
    (evidence.level != Level::None).then(|| evidence.into_match())
}

/// A registrar's decision on a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The two records are the same child.
    Duplicate,
    /// They are two children.
    NotDuplicate,
}

impl Decision {
    /// `duplicate` or `not_duplicate` (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Duplicate => "duplicate",
            Decision::NotDuplicate => "not_duplicate",
        }
    }
}

/// How many ledger leaves one step of the back-fill of keyed blocking hashes looks at (one
/// transaction): a step opens at most this many records.
pub const BACKFILL_STEP_LEAVES: u64 = 1_000;

/// What the back-fill of keyed blocking hashes did (docs/MATCHING.md §7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backfill {
    /// Records that got their keyed hashes (registered before duplicate detection).
    pub keyed: u64,
    /// Records sequenced but never matched (a crash between the two), matched now as at
    /// ingest: their keys and candidate pairs are stored, and their re-send is answered from
    /// them.
    pub matched: u64,
    /// The first leaf index not looked at yet: the ledger's size when done.
    pub next_leaf: u64,
    /// Whether every leaf of the ledger has been looked at.
    pub done: bool,
}

impl Registry {
    /// Gives every sequenced record without keyed blocking hashes its hashes, so a new record
    /// that duplicates it is found: records registered before duplicate detection existed (or
    /// before the schema version that added the hashes). Runs when the registry opens. It
    /// goes through the ledger in steps of [`BACKFILL_STEP_LEAVES`] leaves, each in one
    /// transaction with its position, so a killed back-fill resumes where it stopped and a
    /// finished one only looks at the leaves appended since. Each record is opened with the
    /// data key in memory; only the keyed hashes are written.
    pub fn backfill_match_keys(&self) -> Result<Backfill, ServiceError> {
        let mut total = Backfill::default();
        loop {
            let step = self.backfill_match_keys_step(BACKFILL_STEP_LEAVES)?;
            total.keyed += step.keyed;
            total.matched += step.matched;
            total.next_leaf = step.next_leaf;
            if step.done {
                total.done = true;
                return Ok(total);
            }
        }
    }

    /// One step of [`Self::backfill_match_keys`]: the next `leaves` leaves (at least one).
    /// A record still `declared` was sequenced and never matched (the process stopped
    /// between the two): it is matched as at ingest, so its re-send is held if it should
    /// be. Any other record was registered or reviewed before duplicate detection: it gets
    /// its keys only (it becomes a candidate for new records; old records are not paired
    /// with each other).
    pub fn backfill_match_keys_step(&self, leaves: u64) -> Result<Backfill, ServiceError> {
        let from = self.store.match_backfill_next()?;
        let size = self.store.tree_size()?;
        if from >= size {
            return Ok(Backfill {
                next_leaf: from,
                done: true,
                ..Backfill::default()
            });
        }
        let to = from.saturating_add(leaves.max(1)).min(size);
        let secret = self.keys.data_key.match_secret();
        let now = super::now_unix();
        let mut step = Backfill {
            next_leaf: to,
            done: to >= size,
            ..Backfill::default()
        };
        let mut keyed = Vec::new();
        let mut keyed_facts = Vec::new();
        for (kid, id, supersedes) in self.store.records_without_match_keys(from..to)? {
            let Some(bytes) = self.store.record_bytes(&kid, &id)? else {
                continue;
            };
            let declared = self
                .store
                .registration(&kid, &id)?
                .is_some_and(|r| r.status == DECLARED);
            let signed = SignedRecord::decode(&bytes).map_err(ServiceError::internal)?;
            let form = &signed.record.enrolment;
            let captured_at = signed.record.captured_at;
            if declared {
                self.hold_if_duplicate(&kid, &id, supersedes, form, captured_at, now)?;
                step.matched += 1;
                continue;
            }
            let prepared = Prepared::from_form(form);
            let keys = keyed_block_keys(&secret, &prepared);
            let facts = BoundFacts::of(&prepared, &secret);
            let sealed_facts = self.seal_facts(&kid, &id, &keys, &facts)?;
            keyed_facts.push(facts);
            let sealed_candidate = self.seal_candidate(
                &kid,
                &id,
                &StoredCandidate::new(&prepared, form, captured_at),
            )?;
            keyed.push(RecordMatch {
                kid,
                id,
                keys,
                sealed_facts,
                sealed_candidate,
                pairs: Vec::new(),
            });
        }
        step.keyed = keyed.len() as u64;
        // Old records are not matched against each other: their rows go in whatever was
        // stored meanwhile.
        let rows = self.store.add_matches(&keyed, Some(to), None)?;
        self.index_stored(&keyed, &keyed_facts, &rows);
        Ok(step)
    }

    /// [`Self::hold_if_duplicates`] for one record.
    pub(super) fn hold_if_duplicate(
        &self,
        kid: &KeyId,
        id: &Uuid,
        supersedes: Option<Uuid>,
        form: &RegistrationForm,
        captured_at: i64,
        now: i64,
    ) -> Result<Option<Held>, ServiceError> {
        let record = ToMatch {
            kid: *kid,
            id: *id,
            supersedes,
            form,
            captured_at,
            first_sequenced: false,
        };
        Ok(self
            .hold_if_duplicates(std::slice::from_ref(&record), now)?
            .pop()
            .flatten())
    }

    /// Tests: runs the hook set to run between a batch's matching and its storing.
    #[cfg(test)]
    pub(super) fn after_matching(&self) {
        let hook = self
            .after_matching_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(hook) = hook {
            hook(self);
        }
    }

    /// Tests: sets the hook [`Self::after_matching`] runs (once).
    #[cfg(test)]
    pub(crate) fn set_after_matching(&self, hook: impl FnOnce(&Registry) + Send + 'static) {
        *self
            .after_matching_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
    }

    /// [`Self::match_batch`], storing the rows of the records matched now in one
    /// transaction.
    pub(super) fn hold_if_duplicates(
        &self,
        records: &[ToMatch<'_>],
        now: i64,
    ) -> Result<Vec<Option<Held>>, ServiceError> {
        self.match_and_store(records, now, |batch| {
            let holds = std::mem::take(&mut batch.holds);
            if batch.matches.is_empty() {
                return Ok(Ok((Vec::new(), holds)));
            }
            let stored = self
                .store
                .add_matches(&batch.matches, None, Some(batch.seen));
            Ok(stored.map(|rows| (rows, holds)))
        })
    }

    /// Matches `records` ([`Self::match_batch`]) and has `store` store the batch's rows
    /// (with whatever else belongs in their transaction; it may take the holds), which
    /// returns the row numbers given with its own result; the rows then join the index in
    /// memory. While `store` finds rows stored after those the matching saw
    /// ([`StoreError::MatchedBehind`]: another request stored them in between, and wrote
    /// nothing), the batch is matched again from the start, at most [`MATCH_ATTEMPTS`]
    /// times before the request is answered busy.
    pub(super) fn match_and_store<T>(
        &self,
        records: &[ToMatch<'_>],
        now: i64,
        mut store: impl FnMut(
            &mut MatchedBatch,
        ) -> Result<Result<(MatchRows, T), StoreError>, ServiceError>,
    ) -> Result<T, ServiceError> {
        for _ in 0..MATCH_ATTEMPTS {
            let mut batch = self.match_batch(records, now)?;
            #[cfg(test)]
            self.after_matching();
            match store(&mut batch)? {
                Ok((rows, out)) => {
                    self.index_stored(&batch.matches, &batch.facts, &rows);
                    return Ok(out);
                }
                Err(StoreError::MatchedBehind) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(matched_behind_too_often())
    }

    /// Adds rows just stored (`matches` with their `facts`, given `rows`) to the blocking
    /// index in memory, without reading them back: each row that directly follows the last
    /// row the index holds. At the first that does not (another writer's rows came between,
    /// or a row number was skipped), it stops: the index reads on from the store when next
    /// used, as it does for rows other processes store.
    pub(super) fn index_stored(
        &self,
        matches: &[RecordMatch],
        facts: &[BoundFacts],
        rows: &MatchRows,
    ) {
        let mut held = self.match_index.lock().unwrap_or_else(|e| e.into_inner());
        for ((m, facts), seq) in matches.iter().zip(facts).zip(rows) {
            let Some(seq) = *seq else {
                continue;
            };
            if seq != held.last_seq + 1 {
                return;
            }
            held.index.add(&m.keys);
            held.records.push(Indexed {
                seq,
                kid: m.kid,
                id: m.id,
                facts: Some(facts.clone()),
            });
            held.last_seq = seq;
        }
    }

    /// Matches the records just sequenced, in order (their bytes were verified moments
    /// ago), and says of each whether it is held; the keys, facts and pairs of those not
    /// matched before are returned for the caller to store (ingest stores them in the
    /// transaction of its decisions). A record is matched against the stored records and
    /// the records before it in `records`, as if they had been stored one by one. Run again
    /// for a re-send, it finds the stored pairs (and matches a record a crash left
    /// unmatched).
    pub(super) fn match_batch(
        &self,
        records: &[ToMatch<'_>],
        now: i64,
    ) -> Result<MatchedBatch, ServiceError> {
        let secret = self.keys.data_key.match_secret();
        // The index is brought up to date once: the batch's own records are matched with
        // each other below, as if stored one by one.
        let seen = self.with_match_index(|m| m.last_seq)?;
        // First each record's blocks and the candidates the bound leaves (the records
        // matched earlier in the batch counting as stored ones); then all their forms, read
        // together; then each record scored against its candidates and the batch's earlier
        // records.
        let mut planned: Vec<Planned> = Vec::with_capacity(records.len());
        let mut survivors: Vec<Candidate> = Vec::new();
        for record in records {
            let this = Prepared::from_form(record.form);
            let mut blocks = self.blocks(&this, &secret);
            let earlier = || {
                planned
                    .iter()
                    .zip(records)
                    .filter_map(|(p, r)| p.fresh.as_ref().map(|f| (f, r)))
            };
            let seen_in_batch = earlier().any(|(_, r)| r.kid == record.kid && r.id == record.id);
            let unmatched = !seen_in_batch
                && (record.first_sequenced
                    || !self.store.has_match_keys(&record.kid, &record.id)?);
            if unmatched {
                for (hash, n) in blocks.hashes.iter().zip(blocks.sizes.iter_mut()) {
                    *n += earlier()
                        .filter(|(f, _)| f.keys.binary_search(hash).is_ok())
                        .count() as u64;
                }
            }
            let counts = blocks.child_name_counts();
            let fresh = unmatched.then(|| {
                let chosen = blocks.chosen();
                let facts = BoundFacts::of(&this, &secret);
                let from = survivors.len();
                // Ruled out by the facts in memory (docs/MATCHING.md §6.4): not read.
                let skip = |kid: &KeyId, id: &Uuid| record.is_itself_or_corrected(kid, id);
                survivors.extend(self.survivors(&chosen, &facts, skip));
                Fresh {
                    keys: blocks.sorted_hashes(),
                    chosen,
                    facts,
                    survivors: from..survivors.len(),
                }
            });
            planned.push(Planned {
                prepared: this,
                counts,
                fresh,
            });
        }
        let forms = self.stored_candidates(&survivors)?;
        // The records matched now, with where they are in `records`.
        let mut matched: Vec<(RecordMatch, usize)> = Vec::new();
        let mut matched_facts: Vec<BoundFacts> = Vec::new();
        let mut holds = Vec::with_capacity(records.len());
        for (at, (record, plan)) in records.iter().zip(&planned).enumerate() {
            let (this, these_counts) = (&plan.prepared, &plan.counts);
            let Some(fresh) = &plan.fresh else {
                holds.push(self.held(record, this, these_counts)?);
                continue;
            };
            let mut pairs = Vec::new();
            let mut shown = Vec::new();
            let mut pair = |candidate_kid: KeyId,
                            candidate_id: Uuid,
                            m: Match,
                            child_name: String,
                            date_of_birth: String,
                            captured_at: i64| {
                if m.level != Level::None {
                    pairs.push(DuplicatePair {
                        record_kid: record.kid,
                        record_id: record.id,
                        candidate_kid,
                        candidate_id,
                        score: m.points,
                        level: m.level.as_str().into(),
                        opened_at: now,
                        closed_at: None,
                        decision: None,
                    });
                    shown.push(HeldCandidate {
                        level: m.level.as_str().into(),
                        score: m.points,
                        child_name,
                        date_of_birth,
                        captured_at,
                        reasons: m.reasons,
                    });
                }
            };
            let range = fresh.survivors.clone();
            for (candidate, other) in survivors[range.clone()].iter().zip(&forms[range]) {
                let Some(other) = other else {
                    continue; // not stored
                };
                if let Some(m) = candidate_match(this, these_counts, candidate, other) {
                    pair(
                        candidate.kid,
                        candidate.id,
                        m,
                        other.child_name.clone(),
                        other.date_of_birth.clone(),
                        other.captured_at,
                    );
                }
            }
            for (earlier, earlier_at) in &matched {
                let shares_a_key = earlier
                    .keys
                    .iter()
                    .any(|k| fresh.chosen.binary_search(k).is_ok());
                let (Some(other), Some(earlier_record)) =
                    (planned.get(*earlier_at), records.get(*earlier_at))
                else {
                    continue;
                };
                if shares_a_key && !record.is_itself_or_corrected(&earlier.kid, &earlier.id) {
                    let other = &other.prepared;
                    let common = || commonness_with(|k| these_counts.get(k).copied(), other);
                    let evidence = weigh(this, other, common);
                    if evidence.level == Level::None {
                        continue;
                    }
                    pair(
                        earlier.kid,
                        earlier.id,
                        evidence.into_match(),
                        earlier_record.form.child.display_name(),
                        earlier_record.form.child.date_of_birth.clone(),
                        earlier_record.captured_at,
                    );
                }
            }
            let keys = fresh.keys.clone();
            let sealed_facts = self.seal_facts(&record.kid, &record.id, &keys, &fresh.facts)?;
            let stored = StoredCandidate::new(this, record.form, record.captured_at);
            let sealed_candidate = self.seal_candidate(&record.kid, &record.id, &stored)?;
            // Best first (a stable sort: of equal scores, the first found first), as
            // [`Self::held`] shows the stored pairs.
            shown.sort_by_key(|c| std::cmp::Reverse(c.score));
            shown.truncate(MAX_HELD_CANDIDATES);
            holds.push((!shown.is_empty()).then_some(Held { candidates: shown }));
            matched_facts.push(fresh.facts.clone());
            matched.push((
                RecordMatch {
                    kid: record.kid,
                    id: record.id,
                    keys,
                    sealed_facts,
                    sealed_candidate,
                    pairs,
                },
                at,
            ));
        }
        Ok(MatchedBatch {
            holds,
            matches: matched.into_iter().map(|(m, _)| m).collect(),
            facts: matched_facts,
            seen,
        })
    }

    /// The hold of a matched record: its open pairs (and those decided `duplicate`), best
    /// first, with the candidates' names and reasons; `None` without any.
    fn held(
        &self,
        record: &ToMatch<'_>,
        prepared: &Prepared,
        counts: &HashMap<String, u64>,
    ) -> Result<Option<Held>, ServiceError> {
        let mut open = self.store.open_pairs(Some((&record.kid, &record.id)))?;
        if open.is_empty() {
            return Ok(None);
        }
        open.sort_by_key(|p| std::cmp::Reverse(p.score));
        let mut candidates = Vec::new();
        for pair in open.iter().take(MAX_HELD_CANDIDATES) {
            if let Some((m, other)) =
                self.compare(prepared, counts, &pair.candidate_kid, &pair.candidate_id)?
            {
                candidates.push(HeldCandidate {
                    level: pair.level.clone(),
                    score: pair.score,
                    child_name: other.child_name,
                    date_of_birth: other.date_of_birth,
                    captured_at: other.captured_at,
                    reasons: m.reasons,
                });
            }
        }
        Ok(Some(Held { candidates }))
    }

    /// Runs `f` on the blocking index, first brought up to date with the store.
    fn with_match_index<T>(&self, f: impl FnOnce(&MatchIndex) -> T) -> Result<T, ServiceError> {
        let mut held = self.match_index.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let rows = self
                .store
                .match_records_after(held.last_seq, INDEX_ROWS_PER_READ)?;
            let done = rows.len() < INDEX_ROWS_PER_READ as usize;
            for row in rows {
                let (keys, facts) = self.indexed_row(&row)?;
                held.index.add(&keys);
                held.records.push(Indexed {
                    seq: row.seq,
                    kid: row.kid,
                    id: row.id,
                    facts,
                });
                held.last_seq = row.seq;
            }
            if done {
                return Ok(f(&held));
            }
        }
    }

    /// Runs `f` on the blocking index as it is (the caller brought it up to date).
    fn with_match_index_as_is<T>(&self, f: impl FnOnce(&MatchIndex) -> T) -> T {
        f(&self.match_index.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many stored records have each of `hashes` (the blocks' sizes), in the index as
    /// it is.
    fn block_sizes(&self, hashes: &[[u8; 32]]) -> Vec<u64> {
        self.with_match_index_as_is(|m| hashes.iter().map(|h| m.index.size(h)).collect())
    }

    /// `facts` sealed for the row of `kid`'s record `id` with `keys` ([`sealing_context`]).
    fn seal_facts(
        &self,
        kid: &KeyId,
        id: &Uuid,
        keys: &[[u8; 32]],
        facts: &BoundFacts,
    ) -> Result<Vec<u8>, ServiceError> {
        self.keys
            .data_key
            .seal(&sealing_context(kid, id, keys), &facts.to_bytes())
            .map_err(ServiceError::internal)
    }

    /// What the index keeps of a stored row: its hashes and facts when its sealed facts open
    /// and read. Otherwise the row was changed or damaged (its facts, hashes, device or id),
    /// which is said on standard error, and its record's hashes and facts are made again from
    /// the sealed record, so that altering a row cannot hide its record from matching; a row
    /// whose record is not stored keeps its hashes, with no facts (its candidates are then
    /// found not stored).
    fn indexed_row(
        &self,
        row: &MatchRecordRow,
    ) -> Result<(Vec<[u8; 32]>, Option<BoundFacts>), ServiceError> {
        let context = sealing_context(&row.kid, &row.id, &row.keys);
        let read = self
            .keys
            .data_key
            .open(&context, &row.sealed_facts)
            .map(|plain| BoundFacts::from_bytes(&plain));
        let problem = match read {
            Some(Ok(facts)) => return Ok((row.keys.clone(), Some(facts))),
            Some(Err(e)) => format!("its matching facts cannot be read ({e})"),
            None => "its matching row does not open: it was changed or damaged".to_string(),
        };
        eprintln!(
            "registry: record {} from device {}: {problem}; its hashes and facts are made again \
             from the record",
            row.id, row.kid
        );
        let Some(StoredCandidate { prepared, .. }) = self.read_candidate(&row.kid, &row.id)? else {
            return Ok((row.keys.clone(), None));
        };
        let secret = self.keys.data_key.match_secret();
        Ok((
            keyed_block_keys(&secret, &prepared),
            Some(BoundFacts::of(&prepared, &secret)),
        ))
    }

    /// The stored records under any of `hashes` (at most `MAX_BLOCK_RECORDS` of each),
    /// without repeats, in the index as it is, but those `skip` names and those the bound
    /// rules out against `facts` from their facts in memory (docs/MATCHING.md §6.4).
    fn survivors(
        &self,
        hashes: &[[u8; 32]],
        facts: &BoundFacts,
        skip: impl Fn(&KeyId, &Uuid) -> bool,
    ) -> Vec<Candidate> {
        self.with_match_index_as_is(|m| {
            m.index
                .records_under(hashes)
                .into_iter()
                .filter_map(|n| m.records.get(n as usize))
                .filter(|c| !skip(&c.kid, &c.id))
                .filter(|c| !c.facts.as_ref().is_some_and(|other| facts.rules_out(other)))
                .map(|c| Candidate {
                    seq: c.seq,
                    kid: c.kid,
                    id: c.id,
                    judged: c.facts.is_some(),
                })
                .collect()
        })
    }

    /// `record`'s blocks as the registry holds them, in the index as it is: each key, its
    /// keyed hash (with `secret`) and how many stored records have it (docs/MATCHING.md §5.4).
    fn blocks(&self, record: &Prepared, secret: &[u8; 32]) -> Blocks {
        let keys = block_keys(record);
        let hashes: Vec<[u8; 32]> = keys.iter().map(|k| keyed(secret, k)).collect();
        let sizes = self.block_sizes(&hashes);
        Blocks {
            keys,
            hashes,
            sizes,
        }
    }

    /// How many records the registry holds under each of `record`'s child's-name-and-month
    /// keys (counted through their keyed hashes: docs/MATCHING.md §6.3).
    fn name_counts(&self, record: &Prepared) -> Result<HashMap<String, u64>, ServiceError> {
        let secret = self.keys.data_key.match_secret();
        let keys = child_name_keys(record);
        let hashes: Vec<[u8; 32]> = keys.iter().map(|k| keyed(&secret, k)).collect();
        self.with_match_index(|_| ())?;
        let sizes = self.block_sizes(&hashes);
        Ok(keys.into_iter().zip(sizes).collect())
    }

    /// The stored records `at` as candidates, read together, in order (`None` for one not
    /// stored): each from its row of `match_candidates` when it has one that opens and
    /// reads, otherwise (a row stored before that table or dropped by an upgrade, or one
    /// changed or damaged, said on standard error) from its sealed record, prepared, and its
    /// row is made again from it.
    fn stored_candidates(
        &self,
        at: &[Candidate],
    ) -> Result<Vec<Option<StoredCandidate>>, ServiceError> {
        if at.is_empty() {
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = at.iter().map(|c| c.seq).collect();
        let forms = self.store.match_candidates(&seqs)?;
        let mut out = Vec::with_capacity(at.len());
        for (candidate, sealed) in at.iter().zip(forms) {
            out.push(self.stored_candidate(candidate, sealed)?);
        }
        Ok(out)
    }

    /// A stored record as a candidate from its sealed form as read (see
    /// [`Self::stored_candidates`]); `None` if neither the form nor the record is stored.
    fn stored_candidate(
        &self,
        at: &Candidate,
        sealed: Option<Vec<u8>>,
    ) -> Result<Option<StoredCandidate>, ServiceError> {
        if let Some(sealed) = sealed {
            let read = self
                .keys
                .data_key
                .open(&candidate_context(&at.kid, &at.id), &sealed)
                .map(|plain| {
                    codec::from_own_sealed_slice::<StoredCandidate>(&plain, MAX_CANDIDATE_BYTES)
                });
            match read {
                Some(Ok(stored)) => return Ok(Some(stored)),
                Some(Err(e)) => eprintln!(
                    "registry: record {} from device {}: its candidate form cannot be read \
                     ({e}); it is read from the record",
                    at.id, at.kid
                ),
                None => eprintln!(
                    "registry: record {} from device {}: its candidate form does not open: it \
                     was changed or damaged; it is read from the record",
                    at.id, at.kid
                ),
            }
        }
        let Some(candidate) = self.read_candidate(&at.kid, &at.id)? else {
            return Ok(None);
        };
        let sealed = self.seal_candidate(&at.kid, &at.id, &candidate)?;
        self.store.put_match_candidate(at.seq, &sealed)?;
        Ok(Some(candidate))
    }

    /// The candidate form of `kid`'s record `id` made from its sealed record (read, decoded
    /// and prepared); `None` if it is not stored.
    fn read_candidate(
        &self,
        kid: &KeyId,
        id: &Uuid,
    ) -> Result<Option<StoredCandidate>, ServiceError> {
        let Some(bytes) = self.store.record_bytes(kid, id)? else {
            return Ok(None);
        };
        let other = SignedRecord::decode(&bytes).map_err(ServiceError::internal)?;
        let prepared = Prepared::from_form(&other.record.enrolment);
        Ok(Some(StoredCandidate::new(
            &prepared,
            &other.record.enrolment,
            other.record.captured_at,
        )))
    }

    /// `candidate` sealed for `kid`'s record `id` ([`candidate_context`]).
    fn seal_candidate(
        &self,
        kid: &KeyId,
        id: &Uuid,
        candidate: &StoredCandidate,
    ) -> Result<Vec<u8>, ServiceError> {
        let plain =
            zeroize::Zeroizing::new(codec::to_vec(candidate).map_err(ServiceError::internal)?);
        self.keys
            .data_key
            .seal(&candidate_context(kid, id), &plain)
            .map_err(ServiceError::internal)
    }

    /// Scores `record` against the stored record `id` of `kid`, with `counts` from
    /// [`Self::name_counts`]; `None` if it is not stored.
    fn compare(
        &self,
        record: &Prepared,
        counts: &HashMap<String, u64>,
        kid: &KeyId,
        id: &Uuid,
    ) -> Result<Option<(Match, StoredCandidate)>, ServiceError> {
        let Some(other) = self.read_candidate(kid, id)? else {
            return Ok(None);
        };
        let common = commonness_with(|k| counts.get(k).copied(), &other.prepared);
        Ok(Some((score_in(record, &other.prepared, common), other)))
    }

    /// The open candidate pairs, oldest first, with their reasons.
    pub fn duplicates(&self) -> Result<Vec<DuplicateView>, ServiceError> {
        let mut out = Vec::new();
        for pair in self.store.open_pairs(None)? {
            let reasons = match self.store.record_bytes(&pair.record_kid, &pair.record_id)? {
                Some(bytes) => {
                    let record = SignedRecord::decode(&bytes).map_err(ServiceError::internal)?;
                    let prepared = Prepared::from_form(&record.record.enrolment);
                    let counts = self.name_counts(&prepared)?;
                    self.compare(&prepared, &counts, &pair.candidate_kid, &pair.candidate_id)?
                        .map(|(m, _)| m.reasons)
                        .unwrap_or_default()
                }
                None => Vec::new(),
            };
            out.push(DuplicateView {
                record_id: pair.record_id,
                record_kid: pair.record_kid,
                candidate_id: pair.candidate_id,
                candidate_kid: pair.candidate_kid,
                score: pair.score,
                level: pair.level,
                reasons,
                opened_at: pair.opened_at,
            });
        }
        Ok(out)
    }

    /// Closes the open pair of `record` with `candidate` with a registrar's decision, through
    /// the decision path: a duplicate makes the record (if it awaits review) a duplicate of
    /// `candidate` on the ledger; with its last pair closed as not a duplicate, the record
    /// loses the reason `possible_duplicate`, and with no reason left it is registered.
    pub fn decide_duplicate(
        &self,
        record: &Uuid,
        candidate: &Uuid,
        decision: Decision,
        actor: Option<String>,
        now: i64,
    ) -> Result<Option<DecisionOutcome>, ServiceError> {
        if self
            .store
            .close_pairs(record, candidate, decision.as_str(), now)?
            == 0
        {
            return Err(ServiceError::new(
                404,
                "unknown_pair",
                format!("no open duplicate pair of record {record} with record {candidate}"),
            ));
        }
        let Some(kid) = self.store.record_owners(record)?.into_iter().next() else {
            return Ok(None);
        };
        let Some(registration) = self.store.registration(&kid, record)? else {
            return Ok(None);
        };
        if registration.status != AWAITING_REVIEW {
            return Ok(None);
        }
        let request = |action| DecisionRequest {
            record: *record,
            action,
            reason: None,
            note: None,
            actor: actor.clone(),
        };
        match decision {
            Decision::Duplicate => self
                .decide(&request(Action::DuplicateOf(*candidate)), now)
                .map(Some),
            Decision::NotDuplicate => {
                let still_open = self
                    .store
                    .open_pairs(Some((&kid, record)))?
                    .iter()
                    .any(|p| p.closed_at.is_none());
                if still_open {
                    return Ok(None);
                }
                let reasons: Vec<String> = registration
                    .reasons
                    .into_iter()
                    .filter(|r| r != POSSIBLE_DUPLICATE)
                    .collect();
                if reasons.is_empty() {
                    self.decide(&request(Action::Register), now).map(Some)
                } else {
                    self.store.set_review_reasons(&kid, record, &reasons, now)?;
                    Ok(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use birthright_core::fixtures::{reference_input, sample_inputs};

    use super::*;

    struct NoProgress;
    impl birthright_core::sync::SyncProgress for NoProgress {
        fn on_progress(&self, _: &birthright_core::sync::SyncCounts) {}
    }

    /// A device enrolled with `registry` for `worker`.
    fn device(registry: &Registry, worker: &str) -> birthright_core::device::Device {
        let key = birthright_core::store::StorageKey::generate().unwrap();
        let device = birthright_core::device::Device::open_in_memory(key).unwrap();
        device.init(worker).unwrap();
        let token = registry.create_token(worker, "UA-46", 3600).unwrap();
        let origin = &registry.trust_bundle().origin;
        let request = device.enrolment_request(&token, origin).unwrap();
        let answer = registry.enrol(&request).unwrap();
        device
            .complete_enrolment(&answer, registry.trust_bundle())
            .unwrap();
        device
    }

    fn sync(registry: &std::sync::Arc<Registry>, device: &birthright_core::device::Device) {
        let transport = crate::local::LocalTransport::new(registry.clone());
        let config = birthright_core::sync::SyncConfig::default();
        let report = device.sync(&transport, &NoProgress, config).unwrap();
        assert_eq!(report.accepted, 1);
    }

    /// Two devices' batches of the same child arrive at once: the first is stored between
    /// the second's matching and the storing of its rows. The second finds rows stored after
    /// those its matching saw, stores nothing, matches again and is held with the first as
    /// its candidate (without the check, both would be registered as two children).
    #[test]
    fn a_batch_matched_while_another_was_stored_is_matched_again() {
        let dir = tempfile::tempdir().unwrap();
        let registry = std::sync::Arc::new(
            Registry::init(dir.path(), "registry.test/births")
                .unwrap()
                .0,
        );
        let (first, second) = (device(&registry, "w-1"), device(&registry, "w-2"));
        let mut child = reference_input();
        let born = time::OffsetDateTime::now_utc().date() - time::Duration::days(30);
        child.child.date_of_birth = born.to_string();
        let first_id = first.capture(&child).unwrap().summary.id;
        let second_id = second.capture(&child).unwrap().summary.id;
        let inner = registry.clone();
        registry.set_after_matching(move |_| sync(&inner, &first));
        sync(&registry, &second);
        let pairs: Vec<(Uuid, Uuid)> = registry
            .duplicates()
            .unwrap()
            .into_iter()
            .map(|p| (p.record_id, p.candidate_id))
            .collect();
        assert_eq!(pairs, vec![(second_id, first_id)]);
        let status = |id: &Uuid| {
            let owners = registry.record_owners(id).unwrap();
            let [kid] = owners[..] else {
                panic!("record {id} is stored {} times", owners.len());
            };
            registry
                .store
                .registration(&kid, id)
                .unwrap()
                .map(|r| r.status)
        };
        assert_eq!(status(&first_id).as_deref(), Some("registered"));
        assert_eq!(status(&second_id).as_deref(), Some(AWAITING_REVIEW));
    }

    fn candidate(form: &RegistrationForm) -> StoredCandidate {
        StoredCandidate::new(&Prepared::from_form(form), form, 1_780_000_000)
    }

    /// A candidate form read back scores exactly as the record it was made from, prepared.
    #[test]
    fn a_candidate_form_reads_back_and_scores_as_its_record() {
        let today =
            time::Date::from_calendar_date(2026, time::Month::March, 20).unwrap_or(time::Date::MIN);
        let forms: Vec<RegistrationForm> = std::iter::once(reference_input())
            .chain(sample_inputs(20, 5, today))
            .collect();
        let first = Prepared::from_form(&forms[0]);
        for form in &forms {
            let bytes = codec::to_vec(&candidate(form)).unwrap();
            let back: StoredCandidate = codec::from_slice(&bytes, MAX_CANDIDATE_BYTES).unwrap();
            assert_eq!(back.prepared, Prepared::from_form(form).scoring_only());
            assert_eq!(back.child_name, form.child.display_name());
            assert_eq!(
                score_in(&first, &back.prepared, 3),
                score_in(&first, &Prepared::from_form(form), 3)
            );
        }
    }

    /// Rows just stored join the index in memory only where they follow the last row it
    /// holds; after a gap (another writer's rows) it stops, and the next use reads on from the
    /// store.
    #[test]
    fn rows_just_stored_join_the_index_only_where_they_follow_it() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, _) = Registry::init(dir.path(), "registry.test/births").unwrap();
        let prepared = Prepared::from_form(&reference_input());
        let facts = BoundFacts::of(&prepared, &[7; 32]);
        let row = |n: u8| RecordMatch {
            kid: KeyId([n; birthright_core::keys::KEY_ID_LEN]),
            id: Uuid::from_u128(u128::from(n)),
            keys: vec![[n; 32]],
            sealed_facts: Vec::new(),
            sealed_candidate: Vec::new(),
            pairs: Vec::new(),
        };
        let held = |r: &Registry| {
            let m = r.match_index.lock().unwrap();
            (
                m.last_seq,
                m.records.iter().map(|i| i.seq).collect::<Vec<_>>(),
            )
        };
        let (last, before) = held(&registry);
        let two = [facts.clone(), facts.clone()];
        registry.index_stored(&[row(1), row(2)], &two, &vec![None, Some(last + 1)]);
        let (now, seqs) = held(&registry);
        assert_eq!(now, last + 1);
        assert_eq!(seqs.len(), before.len() + 1);
        let block = registry.survivors(&[[2; 32]], &facts, |_, _| false);
        assert_eq!(block.len(), 1);
        assert_eq!(block[0].id, Uuid::from_u128(2));
        assert!(block[0].judged);
        assert_eq!(
            registry
                .match_index
                .lock()
                .unwrap()
                .records
                .last()
                .unwrap()
                .facts,
            Some(facts.clone())
        );
        // A gap: nothing more is added, and the rows after it are left for the store.
        registry.index_stored(&[row(3), row(4)], &two, &vec![Some(now + 2), Some(now + 3)]);
        assert_eq!(held(&registry), (now, seqs));
        assert!(
            registry
                .survivors(&[[3; 32]], &facts, |_, _| false)
                .is_empty()
        );
    }

    /// Bytes that are not a candidate form, or too many, are refused with an error.
    #[test]
    fn bad_candidate_bytes_are_refused() {
        let bytes = codec::to_vec(&candidate(&reference_input())).unwrap();
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                codec::from_slice::<StoredCandidate>(&bytes[..cut], MAX_CANDIDATE_BYTES).is_err()
            );
        }
        assert!(codec::from_slice::<StoredCandidate>(&bytes, bytes.len() - 1).is_err());
        let mut flipped = bytes.clone();
        flipped[3] ^= 0xff;
        let _ = codec::from_slice::<StoredCandidate>(&flipped, MAX_CANDIDATE_BYTES);
    }
}
