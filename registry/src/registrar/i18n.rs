//! The workspace's message catalogs (Fluent): `registry/locales/{en,uk,ro}/*.ftl`, embedded in
//! the binary, one [`FluentBundle`] per language built once. Every text a person reads on a
//! page comes from here through [`t`] (or [`Lang::t`]); a message missing in a language falls
//! back to English, and a message missing everywhere shows its id (a test keeps every id in
//! all three catalogs, and every id the pages use in English).
//!
//! The language: the one the user chose with the switcher (the `birthright_lang` cookie),
//! else the first of `Accept-Language` the workspace speaks, else English ([`choose`]).
//!
//! Dates are shown the way each language writes them: English ISO 8601 (`2026-03-14`,
//! unambiguous for every reader), Ukrainian and Romanian day first with dots (`14.03.2026`);
//! times of day in UTC, 24-hour, marked `UTC` (the registry does not know the registrar's
//! time zone).
//!
//! To add messages: add `id = text` to the same file in all three `registry/locales/*/`
//! folders. To add a file: put it in all three folders and add its name to [`FILES`].

use std::sync::OnceLock;

use fluent_bundle::{FluentArgs, FluentResource, FluentValue, concurrent::FluentBundle};

/// A language the workspace speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English (the fallback).
    En,
    /// Ukrainian.
    Uk,
    /// Romanian.
    Ro,
}

/// Name of the cookie that remembers the user's choice.
pub const LANG_COOKIE: &str = "birthright_lang";

impl Lang {
    /// Every language, English first.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Uk, Lang::Ro];

    /// Its BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Uk => "uk",
            Lang::Ro => "ro",
        }
    }

    /// Its name in itself (for the switcher).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Uk => "Українська",
            Lang::Ro => "Română",
        }
    }

    /// The language of a code (`uk`, `uk-UA`, `RO`…), if the workspace speaks it.
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// Message `id` without arguments.
    pub fn t(self, id: &str) -> String {
        t(self, id, &[])
    }

    /// Message `id` with arguments.
    pub fn ta(self, id: &str, args: &[(&str, Arg<'_>)]) -> String {
        t(self, id, args)
    }

    /// A date `YYYY-MM-DD` (or `YYYY-MM`, `YYYY`) as this language writes it; anything else
    /// as it is.
    pub fn date(self, iso: &str) -> String {
        let parts: Vec<&str> = iso.split('-').collect();
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let well_formed = match parts.as_slice() {
            [y] => digits(y, 4),
            [y, m] => digits(y, 4) && digits(m, 2),
            [y, m, d] => digits(y, 4) && digits(m, 2) && digits(d, 2),
            _ => false,
        };
        if !well_formed || self == Lang::En {
            return iso.to_string();
        }
        parts.iter().rev().copied().collect::<Vec<_>>().join(".")
    }

    /// A Unix time as a date and UTC time of day in this language's way.
    pub fn datetime(self, unix: i64) -> String {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
            return unix.to_string();
        };
        let date = format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
        format!("{} {:02}:{:02} UTC", self.date(&date), t.hour(), t.minute())
    }

    /// An RFC 3339 time (as the registrar's views carry) in this language's way.
    pub fn rfc3339(self, text: &str) -> String {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_or_else(|_| text.to_string(), |t| self.datetime(t.unix_timestamp()))
    }
}

/// An argument of a message.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// Text (escaped by the page, never interpreted by Fluent).
    Str(&'a str),
    /// A number (chooses plural forms).
    Num(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Str(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Num(n)
    }
}

impl From<usize> for Arg<'_> {
    fn from(n: usize) -> Self {
        Arg::Num(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// The catalog files, the same names in every language's folder.
pub const FILES: &[&str] = &[
    "common",
    "auth",
    "records",
    "statistics",
    "certificate",
    "devices",
    "users",
];

macro_rules! catalog {
    ($lang:literal) => {
        [
            include_str!(concat!("../../locales/", $lang, "/common.ftl")),
            include_str!(concat!("../../locales/", $lang, "/auth.ftl")),
            include_str!(concat!("../../locales/", $lang, "/records.ftl")),
            include_str!(concat!("../../locales/", $lang, "/statistics.ftl")),
            include_str!(concat!("../../locales/", $lang, "/certificate.ftl")),
            include_str!(concat!("../../locales/", $lang, "/devices.ftl")),
            include_str!(concat!("../../locales/", $lang, "/users.ftl")),
        ]
    };
}

/// The catalog sources of `lang`, in [`FILES`] order.
pub fn sources(lang: Lang) -> [&'static str; FILES.len()] {
    match lang {
        Lang::En => catalog!("en"),
        Lang::Uk => catalog!("uk"),
        Lang::Ro => catalog!("ro"),
    }
}

type Bundle = FluentBundle<FluentResource>;

/// The bundle of `lang`, and what went wrong building it (a test keeps it empty).
fn build(lang: Lang) -> (Bundle, Vec<String>) {
    let mut problems = Vec::new();
    let id = lang.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // The pages are left to right in all three languages; no isolation marks in the text.
    bundle.set_use_isolating(false);
    for (file, source) in FILES.iter().zip(sources(lang)) {
        let resource = match FluentResource::try_new(source.to_string()) {
            Ok(r) => r,
            Err((r, errors)) => {
                problems.push(format!("{}/{file}.ftl: {errors:?}", lang.code()));
                r
            }
        };
        if let Err(errors) = bundle.add_resource(resource) {
            problems.push(format!("{}/{file}.ftl: {errors:?}", lang.code()));
        }
    }
    (bundle, problems)
}

fn bundle(lang: Lang) -> &'static Bundle {
    static BUNDLES: [OnceLock<Bundle>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match lang {
        Lang::En => 0,
        Lang::Uk => 1,
        Lang::Ro => 2,
    };
    BUNDLES[slot].get_or_init(|| build(lang).0)
}

fn format(lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> Option<String> {
    let bundle = bundle(lang);
    let pattern = bundle.get_message(id)?.value()?;
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Str(s) => fluent_args.set(*name, FluentValue::from(*s)),
            Arg::Num(n) => fluent_args.set(*name, FluentValue::from(*n)),
        }
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
    Some(text.into_owned())
}

/// Message `id` of `lang` with `args`: English when `lang` lacks it, the id itself when no
/// catalog has it.
pub fn t(lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> String {
    format(lang, id, args)
        .or_else(|| format(Lang::En, id, args))
        .unwrap_or_else(|| id.to_string())
}

/// Whether `lang`'s catalog has message `id`.
pub fn has(lang: Lang, id: &str) -> bool {
    bundle(lang)
        .get_message(id)
        .is_some_and(|m| m.value().is_some())
}

/// The language for a request: the `birthright_lang` cookie's, else the best of
/// `Accept-Language` the workspace speaks, else English.
pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = cookie.and_then(Lang::parse) {
        return lang;
    }
    let mut offered: Vec<(u32, usize, Lang)> = accept_language
        .unwrap_or("")
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let lang = Lang::parse(parts.next()?)?;
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            // Thousandths, so the sort needs no float comparison.
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u32;
            (q > 0).then_some((q, i, lang))
        })
        .collect();
    offered.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    offered.first().map_or(Lang::En, |(_, _, l)| *l)
}

/// The message ids of one catalog source (messages with a value; terms and comments left out).
pub fn ids(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_once('='))
        .map(|(id, _)| id.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_catalog_parses_and_has_the_same_messages() {
        let english: BTreeSet<String> = sources(Lang::En).iter().flat_map(|s| ids(s)).collect();
        assert!(english.len() > 50, "{}", english.len());
        for lang in Lang::ALL {
            let (_, problems) = build(lang);
            assert!(problems.is_empty(), "{problems:?}");
            for (file, (source, en)) in FILES
                .iter()
                .zip(sources(lang).iter().zip(sources(Lang::En)))
            {
                let here: BTreeSet<String> = ids(source).into_iter().collect();
                let there: BTreeSet<String> = ids(en).into_iter().collect();
                assert_eq!(
                    here.symmetric_difference(&there).collect::<Vec<_>>(),
                    Vec::<&String>::new(),
                    "{}/{file}.ftl and en/{file}.ftl differ",
                    lang.code()
                );
                let list = ids(source);
                let unique: BTreeSet<&String> = list.iter().collect();
                assert_eq!(
                    unique.len(),
                    list.len(),
                    "{}/{file}.ftl repeats an id",
                    lang.code()
                );
            }
            for id in &english {
                assert!(has(lang, id), "{} lacks {id}", lang.code());
            }
        }
    }

    #[test]
    fn the_translations_are_translations() {
        // Some message in each language that differs from English in most cases: a catalog
        // copied from English would pass the id check above, not this one.
        let english: Vec<String> = sources(Lang::En).iter().flat_map(|s| ids(s)).collect();
        for lang in [Lang::Uk, Lang::Ro] {
            let same = english
                .iter()
                .filter(|id| t(lang, id, &[]) == t(Lang::En, id, &[]))
                .count();
            assert!(
                same * 5 < english.len(),
                "{}: {same} messages as in English",
                lang.code()
            );
        }
        assert_eq!(t(Lang::Uk, "nav-search", &[]), "Пошук");
        assert_eq!(t(Lang::Ro, "nav-search", &[]), "Căutare");
    }

    #[test]
    fn arguments_and_plurals() {
        assert_eq!(
            t(Lang::En, "search-results", &[("count", Arg::Num(1))]),
            "1 record found"
        );
        assert_eq!(
            t(Lang::En, "search-results", &[("count", Arg::Num(3))]),
            "3 records found"
        );
        assert_eq!(
            t(Lang::Uk, "search-results", &[("count", Arg::Num(3))]),
            "Знайдено 3 записи"
        );
        assert_eq!(
            t(Lang::Uk, "search-results", &[("count", Arg::Num(5))]),
            "Знайдено 5 записів"
        );
        assert_eq!(t(Lang::En, "no-such-message", &[]), "no-such-message");
    }

    #[test]
    fn the_language_is_the_choice_then_the_browser_then_english() {
        assert_eq!(choose(Some("ro"), Some("uk")), Lang::Ro);
        assert_eq!(choose(Some("xx"), Some("uk-UA,uk;q=0.9")), Lang::Uk);
        assert_eq!(choose(None, Some("de-DE, ro;q=0.8, uk;q=0.9")), Lang::Uk);
        assert_eq!(choose(None, Some("de, fr;q=0.5")), Lang::En);
        assert_eq!(choose(None, Some("uk;q=0, ro;q=0.1")), Lang::Ro);
        assert_eq!(choose(None, None), Lang::En);
    }

    #[test]
    fn dates_in_each_language() {
        assert_eq!(Lang::En.date("2026-03-14"), "2026-03-14");
        assert_eq!(Lang::Uk.date("2026-03-14"), "14.03.2026");
        assert_eq!(Lang::Ro.date("2026-03"), "03.2026");
        assert_eq!(Lang::Ro.date("2026"), "2026");
        assert_eq!(Lang::Uk.date("not a date"), "not a date");
        // 2026-03-14 09:30:00 UTC.
        assert_eq!(Lang::Uk.datetime(1_773_480_600), "14.03.2026 09:30 UTC");
        assert_eq!(Lang::En.datetime(1_773_480_600), "2026-03-14 09:30 UTC");
        assert_eq!(
            Lang::Ro.rfc3339("2026-03-14T09:30:00Z"),
            "14.03.2026 09:30 UTC"
        );
    }
}
