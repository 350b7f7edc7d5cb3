//! Statistics of the registrations a user may see: aggregates only, never a name, a date of
//! birth or a record id.
//!
//! - **Registrations** by month, region and sex. A registration is a record whose status is
//!   `registered` (a correction counts once, as its latest record; superseded and revoked
//!   records are not registrations), dated by the registry's own sequencing time of the
//!   first record of its correction chain (the declaration's arrival, never a device's clock).
//! - **Timeliness** (the CRVS completeness indicators): the share of registrations made
//!   within 30 days and within one year (365 days) of birth, counted in whole UTC days from
//!   the date of birth to the registration day; a partial date of birth is `date_unknown`.
//! - **Records by status**, per region (a record held for review counts as
//!   `awaiting_review`, whatever its index status).
//! - **Queue**: records awaiting review (the review policy's and duplicate detection's), with
//!   their ages from the registry's sequencing time, oldest first per region.
//! - **Devices**: per enrolled device of the user's regions, its records by status, the
//!   records held for review, and the last time the registry received a record from it.
//!
//! Who may read: registrars, supervisors and auditors (registrars to follow their own
//! regions' work), each limited to its regions; an admin without a records role may not. The
//! figures come from opening the records of the user's regions (the database keeps no
//! dates of birth or sexes in the clear), so the cost is linear in their number. Reading
//! them is audited (`statistics_read`), without figures.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use birthright_core::{keys::KeyId, matching::dates::PartialDate, record::Sex};
use serde::Serialize;
use uuid::Uuid;

use super::{Registrar, RegistrarError, access, sessions::Session, store::RecordMeta};

/// Registrations within this many days of birth are timely (CRVS).
pub const TIMELY_DAYS: i64 = 30;
/// Registrations within this many days of birth are within one year.
pub const YEAR_DAYS: i64 = 365;
/// The status statistics give a record held for review.
pub const AWAITING_REVIEW: &str = "awaiting_review";
/// Longest correction chain followed back to its first record.
const MAX_CHAIN: usize = 64;

/// Which statistics.
#[derive(Debug, Clone, Default)]
pub struct StatisticsFilter {
    /// Only this region (one of the user's).
    pub region: Option<String>,
}

/// Registrations of one month, region and sex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthCount {
    /// `YYYY-MM` (UTC) of the registration.
    pub month: String,
    /// Region code.
    pub region: String,
    /// `female`, `male`, `unknown` or `not_recorded`.
    pub sex: &'static str,
    /// Registrations.
    pub count: u64,
}

/// Timeliness of the registrations of one region (or all).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeliness {
    /// Region code; `None` for every region the user sees together.
    pub region: Option<String>,
    /// Registrations.
    pub registrations: u64,
    /// Registered within [`TIMELY_DAYS`] of birth.
    pub within_30_days: u64,
    /// Registered within [`YEAR_DAYS`] of birth (including the timely ones).
    pub within_1_year: u64,
    /// Registered later than a year after birth.
    pub later: u64,
    /// The date of birth is partial, so the delay is unknown.
    pub date_unknown: u64,
    /// `within_30_days` over the registrations with a known delay (`None` without any).
    pub share_within_30_days: Option<f64>,
    /// `within_1_year` over the registrations with a known delay.
    pub share_within_1_year: Option<f64>,
}

impl Timeliness {
    fn add(&mut self, delay_days: Option<i64>) {
        self.registrations += 1;
        match delay_days {
            None => self.date_unknown += 1,
            Some(d) => {
                if d <= TIMELY_DAYS {
                    self.within_30_days += 1;
                }
                if d <= YEAR_DAYS {
                    self.within_1_year += 1;
                } else {
                    self.later += 1;
                }
            }
        }
    }

    fn finish(&mut self) {
        let known = self.registrations - self.date_unknown;
        if known > 0 {
            self.share_within_30_days = Some(self.within_30_days as f64 / known as f64);
            self.share_within_1_year = Some(self.within_1_year as f64 / known as f64);
        }
    }
}

/// Records of one region and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    /// Region code.
    pub region: String,
    /// Status.
    pub status: &'static str,
    /// Records.
    pub count: u64,
}

/// The review queue of one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Region code.
    pub region: String,
    /// Records awaiting review.
    pub awaiting: u64,
    /// The oldest one's age in seconds (registry time).
    pub oldest_age_secs: Option<i64>,
    /// Awaiting less than a day.
    pub under_1_day: u64,
    /// Awaiting one to seven days.
    pub from_1_to_7_days: u64,
    /// Awaiting seven to thirty days.
    pub from_7_to_30_days: u64,
    /// Awaiting more than thirty days.
    pub over_30_days: u64,
}

/// One device's activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceActivity {
    /// The device's key id.
    pub kid: String,
    /// Its region.
    pub region: String,
    /// When it enrolled (RFC 3339).
    pub enrolled_at: String,
    /// Whether it is revoked.
    pub revoked: bool,
    /// The last time the registry received a record from it (RFC 3339).
    pub last_record_at: Option<String>,
    /// Its records.
    pub records: u64,
    /// Its records by status (rejections appear here as their status).
    pub by_status: BTreeMap<&'static str, u64>,
    /// Its records awaiting review.
    pub awaiting_review: u64,
}

/// The statistics a user may see.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    /// When they were computed (RFC 3339).
    pub generated_at: String,
    /// The regions covered; `None`: every region.
    pub regions: Option<Vec<String>>,
    /// Registrations by month, region and sex, in that order.
    pub registrations: Vec<MonthCount>,
    /// Timeliness over every region covered, then per region.
    pub timeliness: Vec<Timeliness>,
    /// Records by region and status.
    pub statuses: Vec<StatusCount>,
    /// The review queue per region (only regions with records).
    pub queue: Vec<QueueStats>,
    /// Per device of the regions covered.
    pub devices: Vec<DeviceActivity>,
}

fn sex_code(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Female) => "female",
        Some(Sex::Male) => "male",
        Some(Sex::Unknown) => "unknown",
        None => "not_recorded",
    }
}

fn month_of(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{:04}-{:02}", t.year(), u8::from(t.month())))
        .unwrap_or_else(|_| "unknown".into())
}

/// Days from the date of birth to the registration day; `None` for a partial date.
fn delay_days(date_of_birth: &str, registered_at: i64) -> Option<i64> {
    let born = PartialDate::parse(date_of_birth)?.day_number()?;
    Some((registered_at.div_euclid(86_400) - born).max(0))
}

/// When the correction chain ending in `meta` began (its first record's sequencing time).
fn first_sequenced(meta: &RecordMeta, by_id: &HashMap<(KeyId, Uuid), &RecordMeta>) -> i64 {
    let mut at = meta.sequenced_at;
    let mut current = meta;
    for _ in 0..MAX_CHAIN {
        let Some(previous) = current
            .supersedes
            .and_then(|id| by_id.get(&(current.kid, id)))
        else {
            break;
        };
        at = at.min(previous.sequenced_at);
        current = previous;
    }
    at
}

impl Registrar {
    /// The statistics `session`'s user may see (its regions only). Audited.
    pub fn statistics(
        &self,
        session: &Session,
        filter: &StatisticsFilter,
        address: &str,
        now: i64,
    ) -> Result<Statistics, RegistrarError> {
        let user = &session.user;
        if !access::reads_records(user) {
            return Err(RegistrarError::forbidden("reading statistics"));
        }
        if let Some(region) = &filter.region {
            access::require_region(user, region)?;
        }
        let covered = |region: &str| {
            access::sees_region(user, region) && filter.region.as_ref().is_none_or(|r| r == region)
        };
        let index = self.store.record_index()?;
        let by_id: HashMap<(KeyId, Uuid), &RecordMeta> =
            index.iter().map(|m| ((m.kid, m.id), m)).collect();
        let held: BTreeSet<(KeyId, Uuid)> = self
            .registry
            .registrations(Some(AWAITING_REVIEW))?
            .into_iter()
            .map(|r| (r.kid, r.id))
            .collect();

        let mut months: BTreeMap<(String, String, &'static str), u64> = BTreeMap::new();
        let mut all = Timeliness::default();
        let mut timeliness: BTreeMap<String, Timeliness> = BTreeMap::new();
        let mut statuses: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
        let mut queue: BTreeMap<String, QueueStats> = BTreeMap::new();
        let mut devices: BTreeMap<KeyId, DeviceActivity> = BTreeMap::new();
        for device in self.registry.devices()? {
            if covered(&device.region) {
                devices.insert(
                    device.kid,
                    DeviceActivity {
                        kid: device.kid.to_string(),
                        region: device.region.clone(),
                        enrolled_at: super::rfc3339(device.enrolled_at),
                        revoked: device.revoked_at.is_some(),
                        last_record_at: None,
                        records: 0,
                        by_status: BTreeMap::new(),
                        awaiting_review: 0,
                    },
                );
            }
        }
        let mut last_seen: HashMap<KeyId, i64> = HashMap::new();
        for meta in &index {
            // The region filter comes before anything is opened.
            if !covered(&meta.region) {
                continue;
            }
            let awaiting = held.contains(&(meta.kid, meta.id));
            let status = if awaiting {
                AWAITING_REVIEW
            } else {
                self.status_of(meta)?
            };
            *statuses.entry((meta.region.clone(), status)).or_default() += 1;
            let q = queue
                .entry(meta.region.clone())
                .or_insert_with(|| QueueStats {
                    region: meta.region.clone(),
                    ..QueueStats::default()
                });
            if awaiting {
                let age = (now - meta.sequenced_at).max(0);
                q.awaiting += 1;
                q.oldest_age_secs = Some(q.oldest_age_secs.map_or(age, |o| o.max(age)));
                match age / 86_400 {
                    0 => q.under_1_day += 1,
                    1..7 => q.from_1_to_7_days += 1,
                    7..30 => q.from_7_to_30_days += 1,
                    _ => q.over_30_days += 1,
                }
            }
            if let Some(d) = devices.get_mut(&meta.kid) {
                d.records += 1;
                *d.by_status.entry(status).or_default() += 1;
                if awaiting {
                    d.awaiting_review += 1;
                }
                let seen = last_seen.entry(meta.kid).or_insert(meta.sequenced_at);
                *seen = (*seen).max(meta.sequenced_at);
            }
            if status != "registered" {
                continue;
            }
            let Some(signed) = self.open_record(meta)? else {
                continue;
            };
            let child = &signed.record.enrolment.child;
            let registered_at = first_sequenced(meta, &by_id);
            *months
                .entry((
                    month_of(registered_at),
                    meta.region.clone(),
                    sex_code(child.sex),
                ))
                .or_default() += 1;
            let delay = delay_days(&child.date_of_birth, registered_at);
            all.add(delay);
            timeliness
                .entry(meta.region.clone())
                .or_insert_with(|| Timeliness {
                    region: Some(meta.region.clone()),
                    ..Timeliness::default()
                })
                .add(delay);
        }
        for (kid, at) in last_seen {
            if let Some(d) = devices.get_mut(&kid) {
                d.last_record_at = Some(super::rfc3339(at));
            }
        }
        all.finish();
        let mut timeliness: Vec<Timeliness> = std::iter::once(all)
            .chain(timeliness.into_values())
            .collect();
        timeliness.iter_mut().skip(1).for_each(Timeliness::finish);
        self.audit(
            now,
            Some(&user.username),
            "statistics_read",
            filter.region.as_ref().map(|r| format!("region {r}")),
            Some(address),
        )?;
        Ok(Statistics {
            generated_at: super::rfc3339(now),
            regions: match (&filter.region, user.regions.is_empty()) {
                (Some(r), _) => Some(vec![r.clone()]),
                (None, true) => None,
                (None, false) => Some(user.regions.clone()),
            },
            registrations: months
                .into_iter()
                .map(|((month, region, sex), count)| MonthCount {
                    month,
                    region,
                    sex,
                    count,
                })
                .collect(),
            timeliness,
            statuses: statuses
                .into_iter()
                .map(|((region, status), count)| StatusCount {
                    region,
                    status,
                    count,
                })
                .collect(),
            queue: queue.into_values().collect(),
            devices: devices.into_values().collect(),
        })
    }
}

/// One CSV field: quoted when it needs to be, and a leading `=`, `+`, `-` or `@` defused
/// (spreadsheets would read it as a formula).
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The header of [`csv`].
pub const CSV_HEADER: &str = "measure,region,month,sex,status,device,value";

impl Statistics {
    /// The aggregates as CSV (RFC 4180, CRLF line ends), one figure a row under
    /// [`CSV_HEADER`]; a region column left empty means every region covered.
    pub fn csv(&self) -> String {
        let mut out = format!("{CSV_HEADER}\r\n");
        let mut row = |measure: &str,
                       region: &str,
                       month: &str,
                       sex: &str,
                       status: &str,
                       device: &str,
                       value: String| {
            let cells = [measure, region, month, sex, status, device, &value];
            out.push_str(&cells.map(field).join(","));
            out.push_str("\r\n");
        };
        for m in &self.registrations {
            row(
                "registrations",
                &m.region,
                &m.month,
                m.sex,
                "",
                "",
                m.count.to_string(),
            );
        }
        let share = |s: Option<f64>| s.map(|s| format!("{s:.4}")).unwrap_or_default();
        for t in &self.timeliness {
            let region = t.region.as_deref().unwrap_or("");
            for (measure, value) in [
                ("timeliness_registrations", t.registrations.to_string()),
                ("timeliness_within_30_days", t.within_30_days.to_string()),
                ("timeliness_within_1_year", t.within_1_year.to_string()),
                ("timeliness_later", t.later.to_string()),
                ("timeliness_date_unknown", t.date_unknown.to_string()),
                (
                    "timeliness_share_within_30_days",
                    share(t.share_within_30_days),
                ),
                (
                    "timeliness_share_within_1_year",
                    share(t.share_within_1_year),
                ),
            ] {
                row(measure, region, "", "", "", "", value);
            }
        }
        for s in &self.statuses {
            row(
                "records",
                &s.region,
                "",
                "",
                s.status,
                "",
                s.count.to_string(),
            );
        }
        for q in &self.queue {
            for (measure, value) in [
                ("queue_awaiting", q.awaiting.to_string()),
                (
                    "queue_oldest_age_secs",
                    q.oldest_age_secs.map(|a| a.to_string()).unwrap_or_default(),
                ),
                ("queue_under_1_day", q.under_1_day.to_string()),
                ("queue_1_to_7_days", q.from_1_to_7_days.to_string()),
                ("queue_7_to_30_days", q.from_7_to_30_days.to_string()),
                ("queue_over_30_days", q.over_30_days.to_string()),
            ] {
                row(measure, &q.region, "", "", "", "", value);
            }
        }
        for d in &self.devices {
            row(
                "device_records",
                &d.region,
                "",
                "",
                "",
                &d.kid,
                d.records.to_string(),
            );
            for (status, count) in &d.by_status {
                row(
                    "device_records",
                    &d.region,
                    "",
                    "",
                    status,
                    &d.kid,
                    count.to_string(),
                );
            }
            row(
                "device_awaiting_review",
                &d.region,
                "",
                "",
                "",
                &d.kid,
                d.awaiting_review.to_string(),
            );
            row(
                "device_last_record_at",
                &d.region,
                "",
                "",
                "",
                &d.kid,
                d.last_record_at.clone().unwrap_or_default(),
            );
            row(
                "device_revoked",
                &d.region,
                "",
                "",
                "",
                &d.kid,
                d.revoked.to_string(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_count_whole_days_from_birth() {
        let day = 86_400;
        // 2024-01-01 is day 19 723.
        let born = 19_723 * day;
        assert_eq!(delay_days("2024-01-01", born + 3600), Some(0));
        assert_eq!(delay_days("2024-01-01", born + 30 * day), Some(30));
        assert_eq!(delay_days("2024-01-01", born + 366 * day), Some(366));
        assert_eq!(delay_days("2024-01", born), None);
        assert_eq!(delay_days("2024", born), None);
        let mut t = Timeliness::default();
        for d in [Some(0), Some(30), Some(31), Some(365), Some(366), None] {
            t.add(d);
        }
        t.finish();
        assert_eq!(
            (
                t.registrations,
                t.within_30_days,
                t.within_1_year,
                t.later,
                t.date_unknown
            ),
            (6, 2, 4, 1, 1)
        );
        assert_eq!(t.share_within_30_days, Some(0.4));
        assert_eq!(t.share_within_1_year, Some(0.8));
        assert_eq!(month_of(born), "2024-01");
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("UA-46"), "UA-46");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-1"), "'-1");
    }
}
