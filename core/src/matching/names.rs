//! Name similarity (docs/MATCHING.md §3): Jaro-Winkler over phonetic skeletons, token sets
//! for double names, and the swap of given and family names.

use super::normalise::{push_skeletons, tidy};

/// Jaro-Winkler similarity of two strings, in [0, 1] (1: identical), over Unicode scalar
/// values: the Jaro similarity with a match window of `max(len) / 2 - 1`, then
/// `jaro + l * 0.1 * (1 - jaro)` with `l` the common prefix length, at most 4.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    // The greedy matching can depend on the order; a fixed order makes it symmetric.
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    // Skeletons are ASCII and short: compare their bytes without allocating (the same
    // result, since an ASCII byte is its scalar value).
    if a.is_ascii() && b.is_ascii() && a.len() <= SHORT && b.len() <= SHORT {
        return jaro_winkler_of(a.as_bytes(), b.as_bytes(), [false; SHORT], [false; SHORT]);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    jaro_winkler_of(&a, &b, vec![false; a.len()], vec![false; b.len()])
}

/// Longest ASCII text [`jaro_winkler`] compares without allocating.
const SHORT: usize = 48;

/// [`jaro_winkler`] over two sequences, with `a_matched` and `b_matched` all false and at
/// least as long as `a` and `b`.
fn jaro_winkler_of<T: PartialEq, M: AsMut<[bool]>>(
    a: &[T],
    b: &[T],
    mut a_matched: M,
    mut b_matched: M,
) -> f64 {
    let (a_matched, b_matched) = (a_matched.as_mut(), b_matched.as_mut());
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut matches = 0usize;
    for (i, ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for j in lo..hi {
            if !b_matched[j] && b[j] == *ca {
                a_matched[i] = true;
                b_matched[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut j = 0;
    for (i, ca) in a.iter().enumerate() {
        if !a_matched[i] {
            continue;
        }
        while !b_matched[j] {
            j += 1;
        }
        if *ca != b[j] {
            transpositions += 1;
        }
        j += 1;
    }
    let m = matches as f64;
    let t = (transpositions / 2) as f64;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (m - t) / m) / 3.0;
    let prefix = a
        .iter()
        .zip(b.iter())
        .take(4)
        .take_while(|(x, y)| x == y)
        .count() as f64;
    jaro + prefix * 0.1 * (1.0 - jaro)
}

/// One name part (given names or family name) ready for comparison: for each of its words
/// (tidied, lower case, split at spaces and hyphens), the skeletons of its Latin variants
/// (one for Latin text, up to three for Cyrillic), kept in one string: each word's skeletons
/// joined by `|` and followed by a space (skeletons are ASCII letters; a word without one is
/// only its space). `Олена Марія` is `olena|olena mariia|maria `.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct NamePart {
    skeletons: String,
}

impl NamePart {
    /// Prepares `text` (given names or family name as entered).
    pub fn new(text: &str) -> NamePart {
        let tidied = tidy(text);
        let mut skeletons = String::with_capacity(tidied.len() + 8);
        for word in tidied.split([' ', '-', '‐', '–']).filter(|w| !w.is_empty()) {
            push_skeletons(word, &mut skeletons);
            skeletons.push(' ');
        }
        NamePart { skeletons }
    }

    /// A name part of words given by their skeletons.
    pub fn of_skeletons<W: AsRef<str>>(words: &[Vec<W>]) -> NamePart {
        let mut skeletons = String::new();
        for word in words {
            for (i, s) in word.iter().enumerate() {
                if i > 0 {
                    skeletons.push('|');
                }
                skeletons.push_str(s.as_ref());
            }
            skeletons.push(' ');
        }
        NamePart { skeletons }
    }

    /// Its words, each as its skeletons joined by `|` (empty for a word without one).
    pub fn words(&self) -> std::str::SplitTerminator<'_, char> {
        self.skeletons.split_terminator(' ')
    }

    /// How many words it has.
    pub fn word_count(&self) -> usize {
        self.words().count()
    }

    /// Per word, its skeletons.
    pub fn word_skeletons(&self) -> Vec<Vec<String>> {
        self.words()
            .map(|w| skeletons_of(w).map(str::to_string).collect())
            .collect()
    }

    /// Its words' skeletons as the one string it keeps (`olena|olena mariia|maria `).
    pub fn skeleton_text(&self) -> &str {
        &self.skeletons
    }

    /// A name part from [`Self::skeleton_text`]; `None` unless the text is printable ASCII
    /// that is empty or ends its last word with a space.
    pub fn from_skeleton_text(text: &str) -> Option<NamePart> {
        let printable = text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        (printable && (text.is_empty() || text.ends_with(' '))).then(|| NamePart {
            skeletons: text.to_string(),
        })
    }

    /// Whether nothing was entered (no word has a skeleton).
    pub fn is_empty(&self) -> bool {
        self.skeletons.bytes().all(|b| b == b' ' || b == b'|')
    }
}

/// The skeletons of one word of a [`NamePart`] (as [`NamePart::words`] gives it).
pub fn skeletons_of(word: &str) -> impl Iterator<Item = &str> + Clone {
    word.split('|').filter(|s| !s.is_empty())
}

/// Similarity of two words (as [`NamePart::words`] gives them): the best Jaro-Winkler over
/// their skeleton pairs (1 at once when they share a skeleton: nothing scores higher).
pub fn word_similarity(a: &str, b: &str) -> f64 {
    if skeletons_of(a).any(|x| skeletons_of(b).any(|y| y == x)) {
        return 1.0;
    }
    let mut best = 0.0f64;
    for x in skeletons_of(a) {
        for y in skeletons_of(b) {
            best = best.max(jaro_winkler(x, y));
        }
    }
    best
}

/// Similarity of two name parts, in [0, 1], or `None` when either is empty. Each word of
/// the part with fewer words is paired with its best unused word of the other (so double
/// names match in either order); the result is the mean of those pairs, times 0.95 when the
/// other part has words left over (one half of a double name missing).
pub fn part_similarity(a: &NamePart, b: &NamePart) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (na, nb) = (a.word_count(), b.word_count());
    if na == 1 && nb == 1 {
        // One word each: the pairing is that one pair, whichever side leads.
        let (Some(x), Some(y)) = (a.words().next(), b.words().next()) else {
            return None;
        };
        return Some(word_similarity(x, y));
    }
    if na == nb {
        // Greedy pairing depends on which side leads: take the better, for symmetry.
        return Some(greedy(a, b).max(greedy(b, a)));
    }
    let (short, long) = if na < nb { (a, b) } else { (b, a) };
    Some(greedy(short, long) * 0.95)
}

/// The mean best-pair similarity of `short`'s words against `long`'s unused words.
fn greedy(short: &NamePart, long: &NamePart) -> f64 {
    // Names have a few words: hold the other's, each with whether it is used, without
    // allocating.
    let n = long.word_count();
    let (mut few, mut many) = ([("", false); 8], Vec::new());
    let others: &mut [(&str, bool)] = match few.get_mut(..n) {
        Some(few) => {
            for (slot, word) in few.iter_mut().zip(long.words()) {
                slot.0 = word;
            }
            few
        }
        None => {
            many.extend(long.words().map(|w| (w, false)));
            &mut many
        }
    };
    let (mut total, mut words) = (0.0, 0usize);
    for word in short.words() {
        words += 1;
        let mut best = (0.0f64, None);
        for (j, (other, used)) in others.iter().enumerate() {
            if *used {
                continue;
            }
            let s = word_similarity(word, other);
            if s > best.0 {
                best = (s, Some(j));
            }
        }
        if let (_, Some(j)) = best {
            others[j].1 = true;
        }
        total += best.0;
    }
    total / words as f64
}

/// A person's name, prepared.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PersonName {
    /// Given name(s).
    pub given: NamePart,
    /// Family name.
    pub family: NamePart,
}

impl PersonName {
    /// Prepares a given and a family name.
    pub fn new(given: &str, family: &str) -> PersonName {
        PersonName {
            given: NamePart::new(given),
            family: NamePart::new(family),
        }
    }

    /// Whether both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty() && self.family.is_empty()
    }
}

/// How two persons' names compare.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NameMatch {
    /// Similarity of the given names (`None`: one is missing).
    pub given: Option<f64>,
    /// Similarity of the family names (`None`: one is missing).
    pub family: Option<f64>,
    /// The best agreement came from comparing one's given name with the other's family name.
    pub swapped: bool,
}

/// Compares two names straight and with given and family names swapped; keeps the reading
/// whose sum is higher, straight on a tie. In the swapped reading, each similarity is times
/// 0.97 and the lower of the two counts as the given names' (so the result does not depend
/// on which name comes first).
pub fn compare_names(a: &PersonName, b: &PersonName) -> NameMatch {
    let straight = NameMatch {
        given: part_similarity(&a.given, &b.given),
        family: part_similarity(&a.family, &b.family),
        swapped: false,
    };
    let sum = |m: &NameMatch| m.given.unwrap_or(0.0) + m.family.unwrap_or(0.0);
    // The swapped reading sums to at most 2 × 0.97: it cannot beat a straight one that high.
    if sum(&straight) >= 2.0 * 0.97 {
        return straight;
    }
    let x = part_similarity(&a.given, &b.family).map(|s| s * 0.97);
    let y = part_similarity(&a.family, &b.given).map(|s| s * 0.97);
    let (low, high) = match (x, y) {
        (Some(x), Some(y)) => (Some(x.min(y)), Some(x.max(y))),
        (x, y) => (x.or(y), None),
    };
    let crossed = NameMatch {
        given: low,
        family: high,
        swapped: true,
    };
    if sum(&crossed) > sum(&straight) {
        crossed
    } else {
        straight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaro_winkler_known_values() {
        // The classic examples (Winkler 1990; Wikipedia).
        let close = |a: &str, b: &str, want: f64| {
            let got = jaro_winkler(a, b);
            assert!((got - want).abs() < 0.001, "{a}/{b}: {got}");
        };
        close("martha", "marhta", 0.961);
        close("dwayne", "duane", 0.840);
        close("dixon", "dicksonx", 0.813);
        close("abc", "abc", 1.0);
        close("abc", "xyz", 0.0);
        assert_eq!(jaro_winkler("", ""), 1.0);
        assert_eq!(jaro_winkler("a", ""), 0.0);
        assert_eq!(
            jaro_winkler("crate", "trace"),
            jaro_winkler("trace", "crate")
        );
    }

    #[test]
    fn double_names_in_either_order_or_half_missing() {
        let a = NamePart::new("Анна-Марія");
        let b = NamePart::new("Марія Анна");
        let c = NamePart::new("Maria");
        assert_eq!(part_similarity(&a, &b), Some(1.0));
        let half = part_similarity(&a, &c).unwrap();
        assert!(half > 0.9 && half < 1.0, "{half}");
        assert_eq!(part_similarity(&a, &NamePart::new(" ")), None);
    }

    /// The short cuts (a shared skeleton, one word each) give what the full comparison gives.
    #[test]
    fn the_short_cuts_agree_with_comparing_every_pair() {
        use proptest::prelude::*;
        let word = proptest::collection::vec("[a-eSC]{1,6}", 1..4);
        let part = proptest::collection::vec(word.clone(), 1..4);
        proptest!(|(a in word.clone(), b in word, x in part.clone(), y in part)| {
            let mut best = 0.0f64;
            for p in &a {
                for q in &b {
                    best = best.max(jaro_winkler(p, q));
                }
            }
            let word = |w: &[String]| w.join("|");
            prop_assert_eq!(word_similarity(&word(&a), &word(&b)), best);
            let (x, y) = (NamePart::of_skeletons(&x), NamePart::of_skeletons(&y));
            // Both readings, always (the comparison without its short cut).
            let (p, q) = (
                PersonName { given: x.clone(), family: y.clone() },
                PersonName { given: y.clone(), family: NamePart::of_skeletons(std::slice::from_ref(&b)) },
            );
            let straight = (part_similarity(&p.given, &q.given), part_similarity(&p.family, &q.family));
            let cx = part_similarity(&p.given, &q.family).map(|s| s * 0.97);
            let cy = part_similarity(&p.family, &q.given).map(|s| s * 0.97);
            let crossed = match (cx, cy) {
                (Some(cx), Some(cy)) => (Some(cx.min(cy)), Some(cx.max(cy))),
                (cx, cy) => (cx.or(cy), None),
            };
            let total = |m: (Option<f64>, Option<f64>)| m.0.unwrap_or(0.0) + m.1.unwrap_or(0.0);
            let want = if total(crossed) > total(straight) { (crossed, true) } else { (straight, false) };
            let got = compare_names(&p, &q);
            prop_assert_eq!(((got.given, got.family), got.swapped), want);
            let same = compare_names(&p, &p);
            prop_assert!(!same.swapped);
            if x.word_count() == y.word_count() {
                prop_assert_eq!(
                    part_similarity(&x, &y),
                    Some(greedy(&x, &y).max(greedy(&y, &x)))
                );
            }
        });
    }

    #[test]
    fn swapped_names() {
        let a = PersonName::new("Олена", "Коваленко");
        let b = PersonName::new("Kovalenko", "Olena");
        let m = compare_names(&a, &b);
        assert!(m.swapped);
        assert!(m.given.unwrap() > 0.95);
    }
}
