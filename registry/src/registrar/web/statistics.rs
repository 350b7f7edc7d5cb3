//! The statistics page: the aggregates of [`Registrar::statistics`] (the API's, audited the
//! same way) as tables, with a link to the CSV export. No name, date of birth or record id.

use axum::{
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
};
use maud::html;
use serde::Deserialize;

use super::{Req, Shared, with_session};
use crate::registrar::{
    Registrar, RegistrarError, access, api,
    i18n::Lang,
    statistics::{AWAITING_REVIEW, StatisticsFilter},
};

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct StatisticsQuery {
    region: String,
}

/// A share (0 to 1) as a percentage in `lang`'s way; empty without one.
fn percent(lang: Lang, share: Option<f64>) -> String {
    let Some(share) = share else {
        return String::new();
    };
    let text = format!("{:.1}", share * 100.0);
    match lang {
        Lang::En => format!("{text}%"),
        Lang::Uk | Lang::Ro => format!("{} %", text.replace('.', ",")),
    }
}

fn sex_text(lang: Lang, sex: &str) -> String {
    match sex {
        "female" => lang.t("sex-female"),
        "male" => lang.t("sex-male"),
        "unknown" => lang.t("sex-unknown"),
        _ => lang.t("statistics-sex-not-recorded"),
    }
}

fn status_text(lang: Lang, status: &str) -> String {
    if status == AWAITING_REVIEW {
        lang.t("statistics-awaiting-review")
    } else {
        lang.t(&format!("status-{status}"))
    }
}

/// `GET /registrar/statistics?region=`.
pub(crate) async fn statistics(
    State(state): State<Shared>,
    req: Req,
    q: Result<Query<StatisticsQuery>, QueryRejection>,
) -> Response {
    with_session(&state, req, false, move |page| {
        let user = &page.session.user;
        if !access::reads_records(user) {
            return Err(RegistrarError::forbidden("reading statistics"));
        }
        let lang = page.lang();
        let Query(q) = q.map_err(|_| {
            RegistrarError::bad_request("bad_query", "the statistics query is not as expected")
        })?;
        let region = q.region.trim().to_string();
        let filter = StatisticsFilter {
            region: (!region.is_empty()).then(|| region.clone()),
        };
        let registrar: &Registrar = page.registrar;
        let stats = registrar.statistics(page.session, &filter, &page.req.address, page.now)?;
        let csv = if region.is_empty() {
            format!("{}/statistics.csv", api::PREFIX)
        } else {
            format!(
                "{}/statistics.csv?{}",
                api::PREFIX,
                serde_urlencoded::to_string([("region", &region)]).unwrap_or_default()
            )
        };
        let regions = &user.regions;
        let generated = lang.rfc3339(&stats.generated_at);
        let body = html! {
            h1 { (lang.t("statistics-title")) }
            form.search method="get" action="/registrar/statistics" {
                label { (lang.t("search-region"))
                    @if regions.is_empty() {
                        input type="text" name="region" value=(region) maxlength="16";
                    } @else {
                        select name="region" {
                            option value="" { (lang.t("statistics-my-regions")) }
                            @for r in regions {
                                option value=(r) selected[*r == region] { (r) }
                            }
                        }
                    }
                }
                button type="submit" { (lang.t("statistics-show")) }
            }
            p.summary {
                (lang.ta("statistics-generated", &[("time", generated.as_str().into())]))
                " "
                a href=(csv) download { (lang.t("statistics-csv")) }
            }

            h2 { (lang.t("statistics-registrations")) }
            @if stats.registrations.is_empty() {
                p.empty { (lang.t("statistics-none")) }
            } @else {
                table.list {
                    thead { tr {
                        th { (lang.t("statistics-month")) }
                        th { (lang.t("col-region")) }
                        th { (lang.t("col-sex")) }
                        th { (lang.t("statistics-count")) }
                    } }
                    tbody {
                        @for m in &stats.registrations {
                            tr {
                                td { (lang.date(&m.month)) }
                                td { (m.region) }
                                td { (sex_text(lang, m.sex)) }
                                td { (m.count) }
                            }
                        }
                    }
                }
            }

            h2 { (lang.t("statistics-timeliness")) }
            p.hint { (lang.t("statistics-timeliness-hint")) }
            table.list {
                thead { tr {
                    th { (lang.t("col-region")) }
                    th { (lang.t("statistics-count")) }
                    th { (lang.t("statistics-within-30-days")) }
                    th { (lang.t("statistics-within-1-year")) }
                    th { (lang.t("statistics-later")) }
                    th { (lang.t("statistics-date-unknown")) }
                } }
                tbody {
                    @for t in &stats.timeliness {
                        tr {
                            td { (t.region.clone().unwrap_or_else(|| lang.t("statistics-all-regions"))) }
                            td { (t.registrations) }
                            td { (t.within_30_days) " " span.hint { (percent(lang, t.share_within_30_days)) } }
                            td { (t.within_1_year) " " span.hint { (percent(lang, t.share_within_1_year)) } }
                            td { (t.later) }
                            td { (t.date_unknown) }
                        }
                    }
                }
            }

            h2 { (lang.t("statistics-statuses")) }
            @if stats.statuses.is_empty() {
                p.empty { (lang.t("statistics-none")) }
            } @else {
                table.list {
                    thead { tr {
                        th { (lang.t("col-region")) }
                        th { (lang.t("col-status")) }
                        th { (lang.t("statistics-count")) }
                    } }
                    tbody {
                        @for s in &stats.statuses {
                            tr {
                                td { (s.region) }
                                td { span class={ "status status-" (s.status) } { (status_text(lang, s.status)) } }
                                td { (s.count) }
                            }
                        }
                    }
                }
            }

            h2 { (lang.t("statistics-queue")) }
            @if stats.queue.is_empty() {
                p.empty { (lang.t("statistics-none")) }
            } @else {
                table.list {
                    thead { tr {
                        th { (lang.t("col-region")) }
                        th { (lang.t("statistics-awaiting-review")) }
                        th { (lang.t("statistics-oldest-days")) }
                        th { (lang.t("statistics-under-1-day")) }
                        th { (lang.t("statistics-1-to-7-days")) }
                        th { (lang.t("statistics-7-to-30-days")) }
                        th { (lang.t("statistics-over-30-days")) }
                    } }
                    tbody {
                        @for q in &stats.queue {
                            tr {
                                td { (q.region) }
                                td { (q.awaiting) }
                                td { (q.oldest_age_secs.map(|s| (s / 86_400).to_string()).unwrap_or_default()) }
                                td { (q.under_1_day) }
                                td { (q.from_1_to_7_days) }
                                td { (q.from_7_to_30_days) }
                                td { (q.over_30_days) }
                            }
                        }
                    }
                }
            }

            h2 { (lang.t("statistics-devices")) }
            @if stats.devices.is_empty() {
                p.empty { (lang.t("statistics-none")) }
            } @else {
                table.list {
                    thead { tr {
                        th { (lang.t("record-device")) }
                        th { (lang.t("col-region")) }
                        th { (lang.t("statistics-enrolled")) }
                        th { (lang.t("statistics-last-record")) }
                        th { (lang.t("statistics-records")) }
                        th { (lang.t("statistics-awaiting-review")) }
                        th { (lang.t("statistics-by-status")) }
                    } }
                    tbody {
                        @for d in &stats.devices {
                            tr {
                                td { code { (d.kid) }
                                    @if d.revoked { " " span.status { (lang.t("statistics-revoked")) } } }
                                td { (d.region) }
                                td { (lang.rfc3339(&d.enrolled_at)) }
                                td { (d.last_record_at.as_deref().map(|t| lang.rfc3339(t)).unwrap_or_default()) }
                                td { (d.records) }
                                td { (d.awaiting_review) }
                                td {
                                    @for (status, count) in &d.by_status {
                                        span.hint { (status_text(lang, status)) ": " (count) } " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok(page.html(&lang.t("statistics-title"), "/registrar/statistics", body))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_written_in_each_languages_way() {
        assert_eq!(percent(Lang::En, Some(1.0 / 3.0)), "33.3%");
        assert_eq!(percent(Lang::Uk, Some(0.5)), "50,0 %");
        assert_eq!(percent(Lang::Ro, Some(1.0)), "100,0 %");
        assert_eq!(percent(Lang::En, None), "");
    }
}
