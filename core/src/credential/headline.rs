//! The plain-language first line a verifier shows (a border officer reads it, not a log), and
//! the age of a child from a date of birth of any precision.

use super::{Registration, Verdict, Verification};

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The age at `today` of a child born on `date_of_birth` (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`),
/// as precise as the date is: "2 years 9 months", "5 months", "12 days" for a full date;
/// "about 2 years 9 months" for a month; "about 2 years" for a year. None if the date is not in
/// one of those forms or is after `today` (the verifier's clock may be wrong).
pub fn age_text(date_of_birth: &str, today: time::Date) -> Option<String> {
    let parts: Vec<i64> = date_of_birth
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (ty, tm, td) = (
        i64::from(today.year()),
        i64::from(u8::from(today.month())),
        i64::from(today.day()),
    );
    match parts.as_slice() {
        [y, m, d] => {
            let mut months = (ty - y) * 12 + (tm - m);
            let mut days = td - d;
            if days < 0 {
                months -= 1;
                // Days from the same day of last month: the length of last month.
                let last = today.month().previous();
                let year = if tm == 1 { ty - 1 } else { ty };
                let len = time::util::days_in_month(last, i32::try_from(year).ok()?);
                days = (days + i64::from(len)).max(0);
            }
            if months < 0 {
                return None;
            }
            Some(match (months / 12, months % 12) {
                (0, 0) => plural(days, "day", "days"),
                (0, m) => plural(m, "month", "months"),
                (y, 0) => plural(y, "year", "years"),
                (y, m) => format!(
                    "{} {}",
                    plural(y, "year", "years"),
                    plural(m, "month", "months")
                ),
            })
        }
        [y, m] => {
            let months = (ty - y) * 12 + (tm - m);
            if months < 0 {
                return None;
            }
            Some(match (months / 12, months % 12) {
                (0, 0) => "under 1 month".to_string(),
                (0, m) => format!("about {}", plural(m, "month", "months")),
                (y, 0) => format!("about {}", plural(y, "year", "years")),
                (y, m) => format!(
                    "about {} {}",
                    plural(y, "year", "years"),
                    plural(m, "month", "months")
                ),
            })
        }
        [y] => match ty - y {
            n if n < 0 => None,
            0 => Some("under 1 year".to_string()),
            n => Some(format!("about {}", plural(n, "year", "years"))),
        },
        _ => None,
    }
}

fn child_and_adults(r: &Registration, today: time::Date) -> String {
    let age = age_text(&r.date_of_birth, today)
        .map(|a| format!(", age {a}"))
        .unwrap_or_else(|| ", age unknown (the date of birth is after today's date)".into());
    let adults = r
        .caregivers
        .iter()
        .map(|c| format!("{} ({})", c.name, c.relationship))
        .collect::<Vec<_>>()
        .join(", ");
    let check = if adults.is_empty() {
        String::new()
    } else {
        format!(" Check that the adult is one of: {adults}.")
    };
    format!(
        "{} {}, born {}{age}.{check}",
        r.given_names, r.family_name, r.date_of_birth
    )
}

impl Verification {
    /// One line in plain language for the person at the checkpoint, with the age computed
    /// from `now` (Unix seconds, the verifier's clock).
    pub fn headline(&self, now: i64) -> String {
        let today = time::OffsetDateTime::from_unix_timestamp(now)
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN);
        let about = |r: &Option<Registration>| {
            r.as_ref()
                .map(|r| format!(" ({})", child_and_adults(r, today).trim_end_matches('.')))
                .unwrap_or_default()
        };
        match &self.verdict {
            Verdict::Valid => match &self.registration {
                Some(r) => format!("VALID: registered birth of {}", child_and_adults(r, today)),
                None => "VALID: registered birth".into(),
            },
            Verdict::ValidProvisional => match &self.registration {
                Some(r) => format!(
                    "VALID (PROVISIONAL): birth recorded by a certified field device, not yet \
                     confirmed by the registry: {}",
                    child_and_adults(r, today)
                ),
                None => "VALID (PROVISIONAL)".into(),
            },
            Verdict::Superseded(reason) => format!(
                "SUPERSEDED: genuine but out of date, replaced by a corrected registration{}: \
                 {reason}",
                about(&self.registration)
            ),
            Verdict::Revoked(reason) => format!("REVOKED (NOT VALID): {reason}"),
            Verdict::Expired(reason) => format!("EXPIRED (NOT VALID): {reason}"),
            Verdict::Invalid(reason) => format!("INVALID: {reason}"),
            Verdict::Unreadable(reason) => {
                format!("UNREADABLE: no credential could be read ({reason}): scan again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn ages_follow_the_date_s_precision() {
        let today = date!(2026 - 12 - 01);
        assert_eq!(age_text("2024-03-01", today).unwrap(), "2 years 9 months");
        assert_eq!(age_text("2024-03-02", today).unwrap(), "2 years 8 months");
        assert_eq!(age_text("2025-12-01", today).unwrap(), "1 year");
        assert_eq!(age_text("2026-11-15", today).unwrap(), "16 days");
        assert_eq!(age_text("2026-12-01", today).unwrap(), "0 days");
        assert_eq!(age_text("2026-06-30", today).unwrap(), "5 months");
        assert_eq!(
            age_text("2024-03", today).unwrap(),
            "about 2 years 9 months"
        );
        assert_eq!(age_text("2026-12", today).unwrap(), "under 1 month");
        assert_eq!(age_text("2023", today).unwrap(), "about 3 years");
        assert_eq!(age_text("2026", today).unwrap(), "under 1 year");
        assert_eq!(age_text("2027-01-01", today), None);
        assert_eq!(age_text("20x4", today), None);
        // Across a year end, with a short previous month.
        assert_eq!(
            age_text("2025-12-31", date!(2026 - 01 - 01)).unwrap(),
            "1 day"
        );
        assert_eq!(
            age_text("2024-01-31", date!(2024 - 03 - 01)).unwrap(),
            "1 month"
        );
    }
}
