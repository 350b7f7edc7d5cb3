//! Dates of birth with their precision (docs/MATCHING.md §4).

/// A date as entered: a year, perhaps a month, perhaps a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartialDate {
    /// Year.
    pub year: i32,
    /// Month 1–12, when known.
    pub month: Option<u8>,
    /// Day 1–31, when known (only with a month).
    pub day: Option<u8>,
}

impl PartialDate {
    /// Reads `YYYY-MM-DD`, `YYYY-MM` or `YYYY`; anything else (or an impossible date) is
    /// `None`, and then dates take no part in the score.
    pub fn parse(text: &str) -> Option<PartialDate> {
        let mut parts = text.trim().split('-');
        let year = parts.next()?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let num = |p: Option<&str>| -> Option<Option<u8>> {
            match p {
                None => Some(None),
                Some(p) if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(Some(p.parse().ok()?))
                }
                Some(_) => None,
            }
        };
        let month = num(parts.next())?;
        let day = num(parts.next())?;
        if parts.next().is_some() {
            return None;
        }
        PartialDate::from_parts(year, month, day)
    }

    /// A date from its parts, if [`Self::parse`] could give it: a year 0 to 9999, a month
    /// 1 to 12, a day only with a month and only one the month has.
    pub fn from_parts(year: i32, month: Option<u8>, day: Option<u8>) -> Option<PartialDate> {
        if !(0..=9999).contains(&year) || (day.is_some() && month.is_none()) {
            return None;
        }
        if let Some(m) = month
            && !(1..=12).contains(&m)
        {
            return None;
        }
        let date = PartialDate { year, month, day };
        if day.is_some() && date.day_number().is_none() {
            return None;
        }
        Some(date)
    }

    /// Days since 1970-01-01 for a full date (proleptic Gregorian), `None` otherwise.
    pub fn day_number(&self) -> Option<i64> {
        let (m, d) = (self.month?, self.day?);
        let month = time::Month::try_from(m).ok()?;
        let date = time::Date::from_calendar_date(self.year, month, d).ok()?;
        Some(i64::from(date.to_julian_day()) - 2_440_588)
    }

    /// The years a date of birth this one may really be falls in: its year, and the next or
    /// previous one for a full date within 7 days of the new year (for blocking).
    pub fn block_years(&self) -> Vec<i32> {
        let mut years = vec![self.year];
        if let (Some(m), Some(d)) = (self.month, self.day) {
            if m == 12 && d >= 25 {
                years.push(self.year.saturating_add(1));
            }
            if m == 1 && d <= 7 {
                years.push(self.year.saturating_sub(1));
            }
        }
        years
    }
}

/// How two dates agree, from the strongest evidence to none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateMatch {
    /// The same full date.
    Same,
    /// Full dates whose day and month are swapped (2026-03-04 / 2026-04-03).
    DayMonthSwapped,
    /// Full dates 1 to 3 days apart.
    WithinDays(u8),
    /// Full dates 4 to 10 days apart.
    Near(u8),
    /// A month-precision date and a date in that month (or two equal months).
    SameMonth,
    /// A year-precision date and a date in that year (or two equal years).
    SameYear,
    /// Anything else.
    Different,
}

/// Compares two dates (docs/MATCHING.md §4).
pub fn compare_dates(a: &PartialDate, b: &PartialDate) -> DateMatch {
    if let (Some(x), Some(y)) = (a.day_number(), b.day_number()) {
        let gap = (x - y).unsigned_abs();
        return match gap {
            0 => DateMatch::Same,
            _ if a.year == b.year && a.month == b.day && a.day == b.month => {
                DateMatch::DayMonthSwapped
            }
            1..=3 => DateMatch::WithinDays(gap as u8),
            4..=10 => DateMatch::Near(gap as u8),
            _ => DateMatch::Different,
        };
    }
    if a.year != b.year {
        return DateMatch::Different;
    }
    match (a.month, b.month) {
        (Some(x), Some(y)) if x == y => DateMatch::SameMonth,
        (Some(_), Some(_)) => DateMatch::Different,
        _ => DateMatch::SameYear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> PartialDate {
        PartialDate::parse(s).unwrap()
    }

    #[test]
    fn parses_the_three_precisions_and_refuses_the_rest() {
        assert_eq!(d("2026-03-14").day, Some(14));
        assert_eq!(d("2026-03").month, Some(3));
        assert_eq!(d("2026").month, None);
        for bad in [
            "",
            "26-03-14",
            "2026-13",
            "2026-02-30",
            "2026-3-4",
            "2026-03-14-1",
            "x",
        ] {
            assert_eq!(PartialDate::parse(bad), None, "{bad}");
        }
        assert_eq!(d("1970-01-02").day_number(), Some(1));
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            compare_dates(&d("2026-03-14"), &d("2026-03-14")),
            DateMatch::Same
        );
        assert_eq!(
            compare_dates(&d("2026-03-04"), &d("2026-04-03")),
            DateMatch::DayMonthSwapped
        );
        assert_eq!(
            compare_dates(&d("2026-02-27"), &d("2026-03-01")),
            DateMatch::WithinDays(2)
        );
        assert_eq!(
            compare_dates(&d("2026-03-14"), &d("2026-03-20")),
            DateMatch::Near(6)
        );
        assert_eq!(
            compare_dates(&d("2026-03"), &d("2026-03-20")),
            DateMatch::SameMonth
        );
        assert_eq!(
            compare_dates(&d("2026"), &d("2026-03-20")),
            DateMatch::SameYear
        );
        assert_eq!(
            compare_dates(&d("2026-04"), &d("2026-03-20")),
            DateMatch::Different
        );
        assert_eq!(
            compare_dates(&d("2025-03-14"), &d("2026-03-14")),
            DateMatch::Different
        );
        assert_eq!(d("2025-12-30").block_years(), vec![2025, 2026]);
    }
}
