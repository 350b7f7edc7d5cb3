//! Script and diacritic folding for names (docs/MATCHING.md §2).
//!
//! A name is compared through its Latin *variants*: Latin text is folded once (diacritics
//! removed, `ș`/`ş` and `ț`/`ţ` alike); Cyrillic text is transliterated three ways, by the
//! Ukrainian national system (KMU 2010), a Russian passport-style one and the Romanian
//! (Moldovan Cyrillic) one, because the same letters are read differently in each (`г` is `h`
//! in Ukrainian and `g` in Russian; `ц` is `ts` in both and `ț` in Romanian). Each variant is
//! then reduced to a phonetic *skeleton* that removes the spelling differences the systems
//! still leave (`kh`/`h`/`g`, `y`/`i`/`j`, `c`/`k`, doubled letters).

use unicode_normalization::UnicodeNormalization;

/// Which transliteration a Cyrillic variant uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Ukrainian national transliteration (Cabinet of Ministers resolution 55, 2010).
    Ukrainian,
    /// Russian, passport style (ICAO-like, `й` → `i`, `х` → `kh`).
    Russian,
    /// Romanian, from Moldovan Cyrillic (`ц` → `ț`, `ч` → `ci`, `ж` → `j`, `ы` → `î`).
    Romanian,
}

/// All schemes, in the order variants are listed.
pub const SCHEMES: [Scheme; 3] = [Scheme::Ukrainian, Scheme::Russian, Scheme::Romanian];

/// Lower case, NFC, trimmed, inner white space collapsed to one space.
pub fn tidy(text: &str) -> String {
    let lower = if is_nfc(text) {
        text.to_lowercase()
    } else {
        text.nfc().collect::<String>().to_lowercase()
    };
    let mut out = String::with_capacity(lower.len());
    for word in lower.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether `text` is certainly in NFC already (most text is: then it need not be composed).
fn is_nfc(text: &str) -> bool {
    text.is_ascii()
        || text.chars().all(stays_nfc)
        || unicode_normalization::is_nfc_quick(text.chars())
            == unicode_normalization::IsNormalized::Yes
}

/// Whether `c` is in a range none of whose characters composes with a neighbour (Latin up to
/// the combining marks, Cyrillic): text of such characters is in NFC as it is.
fn stays_nfc(c: char) -> bool {
    matches!(c, '\0'..='\u{02FF}' | '\u{0400}'..='\u{04FF}' | '\u{2019}')
}

/// Whether `text` holds any Cyrillic letter.
pub fn is_cyrillic(text: &str) -> bool {
    text.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

/// Latin letters with their diacritics removed (`ș`/`ş` → `s`, `ț`/`ţ` → `t`, `ă`/`â` → `a`,
/// `î` → `i`, `ł` → `l`, `ß` → `ss`); anything that is not a letter a–z is dropped. Input is
/// expected lower case.
pub fn fold_latin(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        // ASCII decomposes to itself.
        out.extend(text.chars().filter(char::is_ascii_lowercase));
        return out;
    }
    for c in text.nfd() {
        match c {
            'a'..='z' => out.push(c),
            'ł' => out.push('l'),
            'ø' => out.push('o'),
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'đ' => out.push('d'),
            _ => {}
        }
    }
    out
}

/// One lower-case Cyrillic word (no spaces) in Latin letters by `scheme`; letters outside
/// the tables (Latin ones included) are folded by [`fold_latin`].
pub fn transliterate(word: &str, scheme: Scheme) -> String {
    let mut out = String::with_capacity(word.len() * 2);
    transliterate_into(word, scheme, &mut out);
    out
}

/// [`transliterate`], appended to `out`.
fn transliterate_into(word: &str, scheme: Scheme, out: &mut String) {
    if is_nfc(word) {
        transliterate_chars(word.chars(), scheme, out);
    } else {
        transliterate_chars(word.nfc(), scheme, out);
    }
}

/// [`transliterate`] of the characters of a word in NFC, into `out`.
fn transliterate_chars(chars: impl Iterator<Item = char>, scheme: Scheme, out: &mut String) {
    let mut chars = chars.peekable();
    let mut prev = None;
    while let Some(c) = chars.next() {
        // "At the start of a word": the first letter, or after an apostrophe (KMU 2010 writes
        // є, ї, й, ю, я there as ye, yi, y, yu, ya).
        let initial = prev.is_none();
        let next = chars.peek().copied();
        let s: &str = match scheme {
            Scheme::Ukrainian => match c {
                'а' => "a",
                'б' => "b",
                'в' => "v",
                'г' if prev == Some('з') => "gh",
                'г' => "h",
                'ґ' => "g",
                'д' => "d",
                'е' => "e",
                'є' if initial => "ye",
                'є' => "ie",
                'ж' => "zh",
                'з' => "z",
                'и' => "y",
                'і' => "i",
                'ї' if initial => "yi",
                'ї' => "i",
                'й' if initial => "y",
                'й' => "i",
                'к' => "k",
                'л' => "l",
                'м' => "m",
                'н' => "n",
                'о' => "o",
                'п' => "p",
                'р' => "r",
                'с' => "s",
                'т' => "t",
                'у' => "u",
                'ф' => "f",
                'х' => "kh",
                'ц' => "ts",
                'ч' => "ch",
                'ш' => "sh",
                'щ' => "shch",
                'ь' | '\'' | '’' | 'ʼ' => "",
                'ю' if initial => "yu",
                'ю' => "iu",
                'я' if initial => "ya",
                'я' => "ia",
                // Russian letters met in Ukrainian records.
                'ы' => "y",
                'э' => "e",
                'ё' => "io",
                'ъ' => "",
                _ => return_folded(c, out),
            },
            Scheme::Russian => match c {
                'а' => "a",
                'б' => "b",
                'в' => "v",
                'г' | 'ґ' => "g",
                'д' => "d",
                'е' => "e",
                'ё' => "e",
                'є' => "ie",
                'ж' => "zh",
                'з' => "z",
                'и' | 'і' | 'ї' => "i",
                'й' => "i",
                'к' => "k",
                'л' => "l",
                'м' => "m",
                'н' => "n",
                'о' => "o",
                'п' => "p",
                'р' => "r",
                'с' => "s",
                'т' => "t",
                'у' => "u",
                'ф' => "f",
                'х' => "kh",
                'ц' => "ts",
                'ч' => "ch",
                'ш' => "sh",
                'щ' => "shch",
                'ъ' => "ie",
                'ы' => "y",
                'ь' | '\'' | '’' | 'ʼ' => "",
                'э' => "e",
                'ю' => "iu",
                'я' => "ia",
                _ => return_folded(c, out),
            },
            Scheme::Romanian => match c {
                'а' => "a",
                'б' => "b",
                'в' => "v",
                'г' if matches!(next, Some('е' | 'и' | 'і')) => "gh",
                'г' | 'ґ' => "g",
                'д' => "d",
                'е' if initial => "e",
                'е' => "e",
                'ж' => "j",
                'ӂ' if matches!(next, Some('е' | 'и' | 'і')) => "g",
                'ӂ' => "gi",
                'з' => "z",
                'и' | 'і' => "i",
                'й' => "i",
                'к' if matches!(next, Some('е' | 'и' | 'і')) => "ch",
                'к' => "c",
                'л' => "l",
                'м' => "m",
                'н' => "n",
                'о' => "o",
                'п' => "p",
                'р' => "r",
                'с' => "s",
                'т' => "t",
                'у' => "u",
                'ф' => "f",
                'х' => "h",
                'ц' => "t",
                'ч' if matches!(next, Some('е' | 'и' | 'і')) => "c",
                'ч' => "ci",
                'ш' => "s",
                'щ' => "st",
                'ы' => "i",
                'ь' | 'ъ' | '\'' | '’' | 'ʼ' => "",
                'э' | 'ә' => "a",
                'ю' => "iu",
                'я' => "ia",
                'є' => "ie",
                'ї' => "ii",
                'ё' => "io",
                _ => return_folded(c, out),
            },
        };
        out.push_str(s);
        prev = Some(c);
    }
}

/// Folds one non-table character into `out`; returns the empty string for the caller.
fn return_folded(c: char, out: &mut String) -> &'static str {
    let mut buf = [0u8; 4];
    out.push_str(&fold_latin(c.encode_utf8(&mut buf)));
    ""
}

/// The Latin spellings of one lower-case word: one for Latin text, one per distinct
/// transliteration for Cyrillic text (at most three).
pub fn latin_variants(word: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(3);
    for_each_variant(word, |v| {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    });
    out
}

/// Calls `f` with each Latin spelling of one lower-case word, as [`latin_variants`] lists
/// them but with repeats, through one buffer.
fn for_each_variant(word: &str, mut f: impl FnMut(&str)) {
    if !is_cyrillic(word) {
        f(&fold_latin(word));
        return;
    }
    let mut variant = String::with_capacity(word.len() * 2);
    for scheme in SCHEMES {
        variant.clear();
        transliterate_into(word, scheme, &mut variant);
        f(&variant);
    }
}

/// The phonetic skeleton of a folded Latin word (a–z only), docs/MATCHING.md §2.3:
/// `shch`, `sch`, `sh`, `ș` → `S`; `ch`, and `c` before `e`/`i` → `C`; `zh` → `Z`;
/// `kh`, `h`, `g` → `g`; `ph` → `f`; `w` → `v`; `x` → `ks`; `q`, other `c` → `k`;
/// `y`, `j` → `i`; then runs of the same letter collapse to one.
pub fn skeleton(folded: &str) -> String {
    let mut out = Vec::with_capacity(folded.len());
    skeleton_into(folded, &mut out);
    // Only ASCII was pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// [`skeleton`] as bytes (ASCII), appended to `out`.
fn skeleton_into(folded: &str, out: &mut Vec<u8>) {
    let b = folded.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let (sym, used): (u8, usize) = if rest.starts_with(b"shch") {
            (b'S', 4)
        } else if rest.starts_with(b"sch") {
            (b'S', 3)
        } else if rest.starts_with(b"sh") {
            (b'S', 2)
        } else if rest.starts_with(b"ch") {
            (b'C', 2)
        } else if rest.starts_with(b"zh") {
            (b'Z', 2)
        } else if rest.starts_with(b"kh") {
            (b'g', 2)
        } else if rest.starts_with(b"ph") {
            (b'f', 2)
        } else {
            match rest[0] {
                b'c' if matches!(rest.get(1), Some(b'e' | b'i')) => (b'C', 1),
                b'c' | b'q' => (b'k', 1),
                b'h' => (b'g', 1),
                b'w' => (b'v', 1),
                b'y' | b'j' => (b'i', 1),
                b'x' => {
                    out.push(b'k');
                    (b's', 1)
                }
                other => (other, 1),
            }
        };
        if out.last() != Some(&sym) {
            out.push(sym);
        }
        i += used;
    }
}

/// The skeletons of a word's Latin variants ([`latin_variants`]), without repeats.
pub fn skeletons(word: &str) -> Vec<String> {
    let mut joined = String::new();
    push_skeletons(word, &mut joined);
    joined
        .split('|')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// [`skeletons`] of `word` appended to `out`, joined by `|` (nothing for a word without one).
pub fn push_skeletons(word: &str, out: &mut String) {
    let start = out.len();
    let mut bytes = Vec::with_capacity(word.len() * 2);
    // Variants that are the same give the same skeleton: they need not be told apart.
    for_each_variant(word, |variant| {
        bytes.clear();
        skeleton_into(variant, &mut bytes);
        // Only ASCII was pushed.
        let Ok(s) = std::str::from_utf8(&bytes) else {
            return;
        };
        if s.is_empty() || out[start..].split('|').any(|t| t == s) {
            return;
        }
        if out.len() > start {
            out.push('|');
        }
        out.push_str(s);
    });
}

/// A short phonetic code for blocking (docs/MATCHING.md §5): the skeleton's first letter
/// followed by its next three consonants, vowels dropped (`kovalenko` → `kvln`).
pub fn block_code(skeleton: &str) -> String {
    let mut chars = skeleton.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out = String::with_capacity(4);
    out.push(first);
    for c in chars {
        if out.len() >= 4 {
            break;
        }
        if !matches!(c, 'a' | 'e' | 'i' | 'o' | 'u') && !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast paths (text already in NFC, ASCII) give what composing first gives.
    #[test]
    fn the_fast_paths_agree_with_normalising_first() {
        use unicode_normalization::{IsNormalized, is_nfc_quick};
        for c in ('\0'..='\u{02FF}')
            .chain('\u{0400}'..='\u{04FF}')
            .chain(['\u{2019}'])
        {
            assert!(stays_nfc(c));
            assert_eq!(is_nfc_quick([c].into_iter()), IsNormalized::Yes, "{c:?}");
        }
        let slow_tidy = |t: &str| {
            let lower: String = t.nfc().collect::<String>().to_lowercase();
            lower.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        for text in [
            "  Олена   Коваленко ",
            "Йосип",
            "Й\u{0306}осип",
            "И\u{0306}осип",
            "Ţurcanu Ștefan",
            "T\u{0326}urcanu",
            "Mary-Ann  O'Neil",
            "ÅNGSTRÖM",
            "İstanbul",
            "",
        ] {
            assert_eq!(tidy(text), slow_tidy(text), "{text:?}");
            let ascii: String = text.chars().filter(char::is_ascii).collect();
            // With one letter more that is not ASCII, the same text takes the slow path.
            assert_eq!(
                format!("{}e", fold_latin(&ascii)),
                fold_latin(&format!("{ascii}é")),
                "{ascii:?}"
            );
            for scheme in SCHEMES {
                let lower = text.to_lowercase();
                let composed: String = lower.nfc().collect();
                assert_eq!(
                    transliterate(&lower, scheme),
                    transliterate(&composed, scheme),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn kmu_2010_examples() {
        // Examples from the resolution's table.
        for (uk, latin) in [
            ("алушта", "alushta"),
            ("згорани", "zghorany"),
            ("розгон", "rozghon"),
            ("єнакієве", "yenakiieve"),
            ("їжакевич", "yizhakevych"),
            ("кадиївка", "kadyivka"),
            ("йосипівка", "yosypivka"),
            ("стрий", "stryi"),
            ("щербухи", "shcherbukhy"),
            ("юрій", "yurii"),
            ("корюківка", "koriukivka"),
            ("яготин", "yahotyn"),
            ("костянтин", "kostiantyn"),
            ("знам'янка", "znamianka"),
            ("феодосія", "feodosiia"),
            ("олена", "olena"),
            ("коваленко", "kovalenko"),
        ] {
            assert_eq!(transliterate(uk, Scheme::Ukrainian), latin, "{uk}");
        }
    }

    #[test]
    fn romanian_and_russian() {
        assert_eq!(transliterate("цуркану", Scheme::Romanian), "turcanu");
        assert_eq!(transliterate("чебан", Scheme::Romanian), "ceban");
        assert_eq!(transliterate("кирияк", Scheme::Romanian), "chiriiac");
        assert_eq!(transliterate("григорий", Scheme::Russian), "grigorii");
        assert_eq!(fold_latin("țurcanu"), "turcanu");
        assert_eq!(fold_latin("ţurcanu"), "turcanu");
        assert_eq!(fold_latin("ștefan"), fold_latin("ştefan"));
    }

    #[test]
    fn skeletons_meet_across_scripts() {
        let meets = |a: &str, b: &str| {
            let (a, b) = (skeletons(&tidy(a)), skeletons(&tidy(b)));
            a.iter().any(|x| b.contains(x))
        };
        assert!(meets("Олена", "Olena"));
        assert!(meets("Коваленко", "Kovalenko"));
        assert!(meets("Țurcanu", "Цуркану"));
        assert!(meets("Turcanu", "Цуркану"));
        assert!(meets("Ольга", "Olga"));
        assert!(meets("Ольга", "Olha"));
        assert!(meets("Михайло", "Mihailo"));
        assert!(meets("Чебан", "Ceban"));
        assert!(!meets("Олена", "Оксана"));
    }

    #[test]
    fn block_codes() {
        assert_eq!(block_code("kovalenko"), "kvln");
        assert_eq!(block_code("olena"), "oln");
        assert_eq!(block_code(""), "");
    }
}
