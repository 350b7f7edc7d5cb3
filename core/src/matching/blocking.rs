//! Blocking keys (docs/MATCHING.md §5): a record is only scored against the records that
//! share at least one key with it, never against every record.

use std::{
    collections::{BTreeSet, HashMap},
    hash::{BuildHasherDefault, Hasher},
};

use super::{
    Prepared,
    dates::PartialDate,
    names::{NamePart, skeletons_of},
    normalise::block_code,
};

/// Most keys one record gives (a bound on index size; real records give 5 to 30).
pub const MAX_KEYS: usize = 64;

/// Most words of a name part used for keys.
const MAX_WORDS: usize = 3;

/// The blocking codes of a name part: per word (at most three), the codes of its skeletons.
fn codes(part: &NamePart) -> BTreeSet<String> {
    part.words()
        .take(MAX_WORDS)
        .flat_map(skeletons_of)
        .map(block_code)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Keys pairing every code of `x` with every code of `y`, in sorted order within the pair
/// (so a swap of given and family names gives the same key).
fn pairs(
    tag: &str,
    x: &BTreeSet<String>,
    y: &BTreeSet<String>,
    tail: &str,
    out: &mut BTreeSet<String>,
) {
    for a in x {
        for b in y {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            out.insert(format!("{tag}:{lo}:{hi}:{tail}"));
        }
    }
}

/// The months a date of birth may really be in: its own; with the day and month swapped
/// when the day could be a month; the neighbouring month within 3 days of a month's end.
fn block_months(d: &PartialDate) -> Vec<(i32, u8)> {
    let Some(m) = d.month else {
        return Vec::new();
    };
    let mut out = vec![(d.year, m)];
    if let Some(day) = d.day {
        if (1..=12).contains(&day) && day != m {
            out.push((d.year, day));
        }
        if day <= 3 {
            out.push(if m == 1 {
                (d.year.saturating_sub(1), 12)
            } else {
                (d.year, m - 1)
            });
        }
        if day >= 26 {
            out.push(if m == 12 {
                (d.year.saturating_add(1), 1)
            } else {
                (d.year, m + 1)
            });
        }
    }
    out
}

/// The blocking keys of a record, sorted, at most [`MAX_KEYS`] (docs/MATCHING.md §5). `M`
/// stands for each block month of the child's date of birth (`2026-03`; a year-only date
/// gives `2026`, no date `-`):
/// - `c:CODE:CODE:M`, the child's given-name and family-name codes (the pair sorted, so a
///   swap of given and family names gives the same key);
/// - `m:CODE:CODE:M`, the same for the mother's name (a child's misspelt name still meets);
/// - `p:CODE:CODE:PLACE`, the child's name codes with the locality's: the code of each of
///   its first three words' first skeleton, joined by `+` (a date far off still meets);
/// - `q:CODE:CODE:PLACE`, the same for the mother's name codes (a child's misspelt name and
///   a date far off still meet, in a block far smaller than `m:`);
/// - `i:ID:YEAR`, the mother's national id with each block year.
pub fn block_keys(p: &Prepared) -> Vec<String> {
    let mut out = BTreeSet::new();
    let months = key_months(p);
    let child_given = codes(&p.child.given);
    let child_family = codes(&p.child.family);
    let mother_given = codes(&p.mother.given);
    let mother_family = codes(&p.mother.family);
    for month in &months {
        pairs("c", &child_given, &child_family, month, &mut out);
        pairs("m", &mother_given, &mother_family, month, &mut out);
    }
    let place: Vec<String> = p
        .locality
        .words()
        .take(MAX_WORDS)
        .filter_map(|w| skeletons_of(w).next().map(block_code))
        .filter(|c| !c.is_empty())
        .collect();
    if !place.is_empty() {
        let place = place.join("+");
        pairs("p", &child_given, &child_family, &place, &mut out);
        pairs("q", &mother_given, &mother_family, &place, &mut out);
    }
    if !p.mother_id.is_empty() {
        let years = p.dob.map(|d| d.block_years()).unwrap_or_default();
        for year in years {
            out.insert(format!("i:{}:{year}", p.mother_id));
        }
    }
    out.into_iter().take(MAX_KEYS).collect()
}

/// Most records one record is compared with, in its smallest blocks (docs/MATCHING.md §5.4):
/// a common name born in a busy month fills a block with look-alikes, and scoring them all
/// costs more than it finds.
pub const CANDIDATE_BUDGET: u64 = 16;

/// Most records taken from one block, whatever its size: a work limit, so that no block
/// (however many records a flood put in it) makes one record's matching unbounded.
pub const MAX_BLOCK_RECORDS: u64 = 4_096;

/// Which of a record's blocks to look in (docs/MATCHING.md §5.4), given how many records each
/// holds (`sizes`, in the order of its keys): the positions of the blocks taken, smallest
/// first (equal sizes in key order), while their sizes add up to at most `budget`. When even
/// the smallest is larger, that block alone is taken, so a record always meets the records of
/// its most selective key. Empty blocks are taken (they cost nothing).
pub fn chosen_blocks(sizes: &[u64], budget: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&at| (sizes[at], at));
    let mut total = 0u64;
    let mut out = Vec::new();
    for at in order {
        let size = sizes[at];
        if total.saturating_add(size) <= budget || out.is_empty() {
            total = total.saturating_add(size);
            out.push(at);
        } else {
            break;
        }
    }
    out
}

/// The `M` of a record's keys: its block months, its year, or `-`.
fn key_months(p: &Prepared) -> Vec<String> {
    match &p.dob {
        Some(d) if d.month.is_some() => block_months(d)
            .into_iter()
            .map(|(y, m)| format!("{y}-{m:02}"))
            .collect(),
        Some(d) => vec![d.year.to_string()],
        None => vec!["-".into()],
    }
}

/// The child's-name-and-month keys (`c:…`) of [`block_keys`], without the others (they sort
/// first, so they are the same keys in the same order).
pub fn child_name_keys(p: &Prepared) -> Vec<String> {
    let mut out = BTreeSet::new();
    let (given, family) = (codes(&p.child.given), codes(&p.child.family));
    for month in key_months(p) {
        pairs("c", &given, &family, &month, &mut out);
    }
    out.into_iter().take(MAX_KEYS).collect()
}

/// Whether `key` is a child's-name-and-month key (`c:…`).
pub fn is_child_name_key(key: &str) -> bool {
    key.starts_with("c:")
}

/// How common the child's name of a pair is (docs/MATCHING.md §6.3): of the
/// child's-name-and-month keys both `a` and `b` give, the most records `count` says the
/// population holds under one; 0 when they share none. `count` is the registry's count of a
/// keyed hash or the device's count in its in-memory index.
pub fn commonness(a: &Prepared, b: &Prepared, count: impl Fn(&str) -> u64) -> u64 {
    let mine = child_name_keys(a);
    commonness_with(
        |k| {
            mine.binary_search_by(|m| m.as_str().cmp(k))
                .is_ok()
                .then(|| count(k))
        },
        b,
    )
}

/// [`commonness`] with `a`'s side counted already: `a_counts` gives the count of each of
/// `a`'s child's-name-and-month keys and `None` for any other key (the registry's block sizes
/// of `a`'s `c:` keys), so only `b`'s keys are made.
pub fn commonness_with(a_counts: impl Fn(&str) -> Option<u64>, b: &Prepared) -> u64 {
    child_name_keys(b)
        .iter()
        .filter_map(|k| a_counts(k))
        .max()
        .unwrap_or(0)
}

/// An in-memory blocking index over prepared records (the device's matcher, the benchmark's
/// and the tests'; the registry keeps the same keys, as keyed hashes, in its database).
#[derive(Debug, Default)]
pub struct Index {
    keys: HashMap<String, Vec<usize>>,
    records: Vec<Prepared>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::default()
    }

    /// Adds a record; returns its position.
    pub fn add(&mut self, record: Prepared) -> usize {
        let at = self.records.len();
        for key in block_keys(&record) {
            self.keys.entry(key).or_default().push(at);
        }
        self.records.push(record);
        at
    }

    /// The record at `at`.
    pub fn get(&self, at: usize) -> Option<&Prepared> {
        self.records.get(at)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records in the index under `key`.
    pub fn count(&self, key: &str) -> u64 {
        self.keys.get(key).map_or(0, |v| v.len() as u64)
    }

    /// Scores `record` against the record at `at`, with the commonness of their child's name
    /// counted in this index (docs/MATCHING.md §6.3).
    pub fn score(&self, record: &Prepared, at: usize) -> Option<super::Match> {
        let other = self.records.get(at)?;
        let common = commonness(record, other, |k| self.count(k));
        Some(super::score::score_in(record, other, common))
    }

    /// Positions of the records in `record`'s chosen blocks ([`chosen_blocks`] with
    /// [`CANDIDATE_BUDGET`]), ascending, without repeats.
    pub fn candidates(&self, record: &Prepared) -> Vec<usize> {
        let blocks: Vec<&[usize]> = block_keys(record)
            .iter()
            .map(|k| self.keys.get(k).map_or(&[][..], Vec::as_slice))
            .collect();
        let sizes: Vec<u64> = blocks.iter().map(|b| b.len() as u64).collect();
        let mut out: Vec<usize> = chosen_blocks(&sizes, CANDIDATE_BUDGET)
            .into_iter()
            .flat_map(|at| blocks[at].iter().take(MAX_BLOCK_RECORDS as usize))
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The records scoring at least `possible` against `record`, best first, leaving out the
    /// position `itself` (the record's own entry, when it is in the index).
    pub fn matches(&self, record: &Prepared, itself: Option<usize>) -> Vec<(usize, super::Match)> {
        let mut out: Vec<(usize, super::Match)> = self
            .candidates(record)
            .into_iter()
            .filter(|&at| Some(at) != itself)
            .filter_map(|at| {
                let m = self.score(record, at)?;
                (m.level != super::Level::None).then_some((at, m))
            })
            .collect();
        out.sort_by(|x, y| y.1.points.cmp(&x.1.points).then(x.0.cmp(&y.0)));
        out
    }
}

/// The registry's blocking index, in memory (docs/MATCHING.md §7): each keyed hash, by its
/// first 8 bytes, to the numbers of the records that have it. The store keeps each record's
/// hashes in one appended row, so that storing a new record's keys rewrites no index on disk
/// at random places; this index is built from those rows and brought up to date from them.
/// Two hashes that share their first 8 bytes (a chance of about 2⁻⁶⁴ a pair) only make their
/// blocks look in each other's records: the score decides.
#[derive(Debug, Default)]
pub struct KeyedIndex {
    blocks: HashMap<u64, Block, BuildHasherDefault<KeyedHasher>>,
    records: u32,
}

/// The records of one block. Most blocks hold a few records (a child's own keys, its
/// family's): those are kept in the table's slot, not behind a pointer, which at a million
/// records saves a cache miss per block looked up or added to.
type Block = smallvec::SmallVec<[u32; 4]>;

/// Hashes a block's first 8 bytes of keyed hash (HMAC output, uniform and unknown to anyone
/// without the registry's secret, so nobody can aim many at one bucket) as they are: they
/// need no hashing again.
#[derive(Debug, Default)]
struct KeyedHasher(u64);

impl Hasher for KeyedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the key is a `u64`); any other input is folded in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn short(hash: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(first)
}

impl KeyedIndex {
    /// An empty index.
    pub fn new() -> KeyedIndex {
        KeyedIndex::default()
    }

    /// Adds the next record with its keyed hashes; returns its number (0, 1, 2, ...).
    pub fn add(&mut self, hashes: &[[u8; 32]]) -> u32 {
        let number = self.records;
        for hash in hashes {
            let block = self.blocks.entry(short(hash)).or_default();
            if block.last() != Some(&number) {
                block.push(number);
            }
        }
        self.records += 1;
        number
    }

    /// Records added.
    pub fn len(&self) -> u32 {
        self.records
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The heap memory the index holds, in bytes: its table's slots and every block's
    /// numbers (what it costs to keep in memory, without the allocator's own overhead).
    pub fn memory_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, Block)>() + 1;
        self.blocks.capacity() * slot
            + self
                .blocks
                .values()
                .filter(|b| b.spilled())
                .map(|b| b.capacity() * std::mem::size_of::<u32>())
                .sum::<usize>()
    }

    /// Records under `hash` (a block's size).
    pub fn size(&self, hash: &[u8; 32]) -> u64 {
        self.blocks.get(&short(hash)).map_or(0, |b| b.len() as u64)
    }

    /// The records under `hash`, first added first, at most [`MAX_BLOCK_RECORDS`].
    pub fn block(&self, hash: &[u8; 32]) -> &[u32] {
        let block = self
            .blocks
            .get(&short(hash))
            .map_or(&[][..], |b| b.as_slice());
        &block[..block.len().min(MAX_BLOCK_RECORDS as usize)]
    }

    /// The records under any of `hashes` ([`Self::block`] of each), ascending, without
    /// repeats: a record's candidates, given the hashes of its chosen blocks.
    pub fn records_under(&self, hashes: &[[u8; 32]]) -> Vec<u32> {
        let mut out: Vec<u32> = hashes
            .iter()
            .flat_map(|h| self.block(h).iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Domain tag of the keyed blocking hashes.
pub const KEYED_TAG: &[u8] = b"birthright match key v1\0";

/// A blocking key as the registry stores it: `HMAC-SHA256(secret, KEYED_TAG || key)`, so the
/// database holds no name, not even a phonetic code of one (docs/MATCHING.md §5.2).
pub fn keyed(secret: &[u8; 32], key: &str) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(KEYED_TAG);
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The keyed hashes of a record's blocking keys, sorted, without repeats.
pub fn keyed_block_keys(secret: &[u8; 32], record: &Prepared) -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = block_keys(record)
        .iter()
        .map(|k| keyed(secret, k))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod keyed_tests {
    use super::*;

    #[test]
    fn keyed_hash_known_answer() {
        // HMAC-SHA256 over the tag and the key text; pinned so a second implementation can
        // check itself (docs/MATCHING.md §5.2).
        assert_eq!(
            hex::encode(keyed(&[7; 32], "c:kvln:oln:2026-03")),
            "c935a92543354108a8ed61e154d25c4f0163111323bc489ce0421706889443cc"
        );
        assert_ne!(keyed(&[7; 32], "a"), keyed(&[8; 32], "a"));
        assert_ne!(keyed(&[7; 32], "a"), keyed(&[7; 32], "b"));
    }
}

#[cfg(test)]
mod budget_tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_smallest_blocks_are_taken_within_the_budget() {
        // Sizes by key: the two small ones fit (2 + 5), the 12 would pass 16.
        assert_eq!(chosen_blocks(&[40, 2, 12, 5, 300], 16), vec![1, 3]);
        // Empty blocks cost nothing; equal sizes go in key order.
        assert_eq!(chosen_blocks(&[0, 8, 8, 0], 16), vec![0, 3, 1, 2]);
        // Every block over the budget: the smallest alone.
        assert_eq!(chosen_blocks(&[90, 40, 300], 16), vec![1]);
        assert_eq!(chosen_blocks(&[], 16), Vec::<usize>::new());
    }

    #[test]
    fn the_keyed_index_counts_and_lists_blocks() {
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let mut index = KeyedIndex::new();
        assert!(index.is_empty());
        assert_eq!(index.add(&[a, b]), 0);
        assert_eq!(index.add(&[b]), 1);
        // A hash given twice for one record counts once.
        assert_eq!(index.add(&[b, b, c]), 2);
        assert_eq!(index.len(), 3);
        assert_eq!((index.size(&a), index.size(&b), index.size(&c)), (1, 3, 1));
        assert_eq!(index.block(&b), &[0, 1, 2]);
        assert_eq!(index.records_under(&[c, a]), vec![0, 2]);
        assert_eq!(index.block(&[9; 32]), &[] as &[u32]);
        // A block grown past what its slot holds keeps every record, in order.
        for _ in 0..5 {
            index.add(&[c]);
        }
        assert_eq!(index.block(&c), &[2, 3, 4, 5, 6, 7]);
        assert_eq!(index.size(&c), 6);
        assert_eq!(index.records_under(&[a, c]), vec![0, 2, 3, 4, 5, 6, 7]);
    }

    proptest! {
        /// The blocks taken add up to at most the budget, or are the one smallest block; no
        /// block left out is smaller than one taken.
        #[test]
        fn the_choice_keeps_the_budget(sizes in proptest::collection::vec(0u64..60, 0..12)) {
            let chosen = chosen_blocks(&sizes, CANDIDATE_BUDGET);
            let total: u64 = chosen.iter().map(|&at| sizes[at]).sum();
            prop_assert!(total <= CANDIDATE_BUDGET || chosen.len() == 1);
            prop_assert_eq!(chosen.is_empty(), sizes.is_empty());
            let largest_taken = chosen.iter().map(|&at| sizes[at]).max().unwrap_or(0);
            for (at, size) in sizes.iter().enumerate() {
                if !chosen.contains(&at) {
                    prop_assert!(*size >= largest_taken);
                }
            }
        }
    }
}
