//! The queue (records awaiting review), the search page and the record page (every field,
//! the history, the ledger leaf with a live inclusion check, duplicate candidates side by
//! side, the decisions taken and the decision forms), and the decision route.
//!
//! Every read and decision goes through the same [`crate::registrar::Registrar`] functions as
//! the API: the queue is [`Registrar::queue`], a decision [`Registrar::decide`], the record
//! page the API's audited view (`record_view`), and so is each candidate shown beside it; the
//! queue and the search are audited by their counts.

use axum::{
    body::Bytes,
    extract::{Path, Query, State, rejection::QueryRejection},
    response::Response,
};
use birthright_core::{
    ledger::{
        checkpoint::verify_checkpoint,
        merkle::{leaf_hash, verify_inclusion},
        note::NoteVerifier,
    },
    record::{PlaceKind, RegistrationForm, Sex},
};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::{PREFIX, Page, Req, Shared, layout, redirect, with_form, with_session};
use crate::{
    registrar::{
        Registrar, RegistrarError, access,
        i18n::Lang,
        records::{Filter, RecordView, STATUSES},
        review::{DecisionBody, QueueFilter, reason_codes},
        store::RecordMeta,
    },
    service::{Decision, DuplicateView, decisions::REVIEW_REASONS},
};

/// Whether `user` may take decisions on records (registrars and supervisors).
fn decides(user: &crate::registrar::store::UserRow) -> bool {
    access::has(user, access::Role::Registrar) || access::has(user, access::Role::Supervisor)
}

fn bad_id() -> RegistrarError {
    RegistrarError::bad_request("bad_id", "a record id is a UUID")
}

fn status_text(lang: Lang, status: &str) -> String {
    lang.t(&format!("status-{status}"))
}

fn reason_text(lang: Lang, reason: &str) -> String {
    lang.t(&format!("reason-{reason}"))
}

fn decision_reason_text(lang: Lang, code: &str) -> String {
    lang.t(&format!("decision-reason-{code}"))
}

/// Who took a decision: the user's login name, or the registry's rules or operator said in
/// the page's language.
fn decided_by_text(lang: Lang, by: &str) -> String {
    match by {
        "review policy" => lang.t("record-decided-by-policy"),
        "registry operator" => lang.t("record-decided-by-operator"),
        user => user.to_string(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct QueueQuery {
    reason: String,
    region: String,
    device: String,
    min_age_days: String,
    max_age_days: String,
    page: String,
}

/// Entries on one page of the web queue.
pub const QUEUE_PAGE: usize = 100;

impl QueueQuery {
    /// The page asked for, from 1 (no page, or not a number: the first).
    fn page_number(&self) -> usize {
        self.page
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    }

    /// This queue's link to page `page`, the filters kept.
    fn page_link(&self, page: usize) -> String {
        let pairs = [
            ("reason", &self.reason),
            ("region", &self.region),
            ("device", &self.device),
            ("min_age_days", &self.min_age_days),
            ("max_age_days", &self.max_age_days),
        ];
        let mut query: Vec<(&str, String)> = pairs
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, v.clone()))
            .collect();
        query.push(("page", page.to_string()));
        let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{PREFIX}/queue?{encoded}")
    }
}

fn days(text: &str) -> Result<Option<i64>, RegistrarError> {
    non_empty(text)
        .map(|d| {
            d.parse::<i64>().ok().filter(|d| *d >= 0).ok_or_else(|| {
                RegistrarError::bad_request("bad_queue_filter", "an age is a number of days")
            })
        })
        .transpose()
}

/// `GET /registrar/queue?reason=&region=&device=&min_age_days=&max_age_days=&page=`: the API's
/// queue ([`Registrar::queue`]): records awaiting review, oldest first, with their reasons
/// and the counts per reason, [`QUEUE_PAGE`] to a page with links to the pages before and
/// after that keep the filters.
pub(crate) async fn queue(
    State(state): State<Shared>,
    req: Req,
    q: Result<Query<QueueQuery>, QueryRejection>,
) -> Response {
    with_session(&state, req, false, move |page| {
        access::require_records(&page.session.user)?;
        let lang = page.lang();
        let Query(q) = q.map_err(|_| {
            RegistrarError::bad_request("bad_queue_filter", "the filter is not as expected")
        })?;
        let page_number = q.page_number();
        let filter = (|| {
            Ok::<_, RegistrarError>(QueueFilter {
                reason: non_empty(&q.reason),
                region: non_empty(&q.region),
                device: non_empty(&q.device),
                min_age_days: days(&q.min_age_days)?,
                max_age_days: days(&q.max_age_days)?,
                // One more than a page: whether there is a next page.
                limit: Some(QUEUE_PAGE + 1),
                offset: (page_number - 1).saturating_mul(QUEUE_PAGE),
            })
        })();
        let mut has_next = false;
        let queue = match filter.and_then(|f| {
            page.registrar
                .queue(page.session, &f, &page.req.address, page.now)
        }) {
            Ok(mut queue) => {
                has_next = queue.records.len() > QUEUE_PAGE;
                queue.records.truncate(QUEUE_PAGE);
                Ok(queue)
            }
            // A bad filter or a region outside the user's: said on the page, the form kept.
            Err(e) if e.status == 400 || e.status == 403 => Err(e),
            Err(e) => return Err(e),
        };
        let regions = &page.session.user.regions;
        let body = html! {
            h1 { (lang.t("queue-title")) }
            form.search method="get" action={ (PREFIX) "/queue" } {
                label { (lang.t("queue-reason"))
                    select name="reason" {
                        option value="" { (lang.t("search-any")) }
                        @for r in REVIEW_REASONS {
                            option value=(r) selected[r == q.reason] { (reason_text(lang, r)) }
                        }
                    }
                }
                label { (lang.t("search-region"))
                    @if regions.is_empty() {
                        input type="text" name="region" value=(q.region) maxlength="16";
                    } @else {
                        select name="region" {
                            option value="" { (lang.t("search-any")) }
                            @for r in regions {
                                option value=(r) selected[*r == q.region] { (r) }
                            }
                        }
                    }
                }
                label { (lang.t("queue-device"))
                    input type="text" name="device" value=(q.device) maxlength="16"
                        pattern="[0-9a-fA-F]{16}"; }
                label { (lang.t("queue-min-age"))
                    input type="number" name="min_age_days" value=(q.min_age_days) min="0"; }
                label { (lang.t("queue-max-age"))
                    input type="number" name="max_age_days" value=(q.max_age_days) min="0"; }
                button type="submit" { (lang.t("queue-filter")) }
            }
            @match &queue {
                Err(e) => { p.error role="alert" { (super::error_text(lang, e)) } }
                Ok(queue) => {
                    p.summary { (lang.ta("queue-count", &[("count", queue.total.into())])) }
                    ul.counts {
                        @for (reason, count) in &queue.counts {
                            li { (reason_text(lang, reason)) ": " strong { (count) } }
                        }
                    }
                    @if queue.records.is_empty() && page_number > 1 {
                        p.empty { (lang.t("queue-past-the-end")) }
                    } @else if queue.records.is_empty() {
                        p.empty { (lang.t("queue-empty")) }
                    } @else {
                        table.list {
                            thead { tr {
                                th { (lang.t("col-child")) }
                                th { (lang.t("col-dob")) }
                                th { (lang.t("col-region")) }
                                th { (lang.t("col-reason")) }
                                th { (lang.t("queue-age")) }
                                th { (lang.t("col-waiting-since")) }
                            } }
                            tbody {
                                @for item in &queue.records {
                                    tr {
                                        td { a href={ (PREFIX) "/records/" (item.id) } { (item.child.given_names) " " (item.child.family_name) } }
                                        td { (lang.date(&item.child.date_of_birth)) }
                                        td { (item.region) }
                                        td {
                                            @for (n, reason) in item.reasons.iter().enumerate() {
                                                @if n > 0 { ", " }
                                                span class={ "reason reason-" (reason) } { (reason_text(lang, reason)) }
                                            }
                                        }
                                        td { @if let Some(age) = item.age_at_capture_days { (lang.ta("queue-age-days", &[("count", age.into())])) } }
                                        td { (lang.rfc3339(&item.declared_at)) }
                                    }
                                }
                            }
                        }
                    }
                    @if page_number > 1 || has_next {
                        nav.pages aria-label=(lang.t("queue-pages")) {
                            @if page_number > 1 {
                                a rel="prev" href=(q.page_link(page_number - 1)) { (lang.t("queue-previous")) }
                            }
                            span.page { (lang.ta("queue-page", &[("page", page_number.into())])) }
                            @if has_next {
                                a rel="next" href=(q.page_link(page_number + 1)) { (lang.t("queue-next")) }
                            }
                        }
                    }
                }
            }
        };
        Ok(page.html(&lang.t("queue-title"), "/registrar/queue", body))
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SearchQuery {
    query: String,
    mother: String,
    dob: String,
    dob_from: String,
    dob_to: String,
    number: String,
    region: String,
    status: String,
    after: Option<u64>,
}

impl SearchQuery {
    /// This search's link from `after` on (the next page).
    fn next_link(&self, after: u64) -> String {
        let pairs = [
            ("query", &self.query),
            ("mother", &self.mother),
            ("dob", &self.dob),
            ("dob_from", &self.dob_from),
            ("dob_to", &self.dob_to),
            ("number", &self.number),
            ("region", &self.region),
            ("status", &self.status),
        ];
        let mut query: Vec<(&str, String)> = pairs
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, v.clone()))
            .collect();
        query.push(("after", after.to_string()));
        let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{PREFIX}/search?{encoded}")
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// `GET /registrar/search?query=&mother=&dob=&dob_from=&dob_to=&number=&region=&status=&after=`:
/// the API's search ([`Registrar::search_page`]), a page at a time.
pub(crate) async fn search(
    State(state): State<Shared>,
    req: Req,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Response {
    let submitted = req.target.contains('?');
    with_session(&state, req, false, move |page| {
        access::require_records(&page.session.user)?;
        let lang = page.lang();
        let Query(q) =
            q.map_err(|_| RegistrarError::bad_request("bad_query", "the search is not as expected"))?;
        let filter = Filter {
            query: non_empty(&q.query),
            mother: non_empty(&q.mother),
            dob: non_empty(&q.dob),
            dob_from: non_empty(&q.dob_from),
            dob_to: non_empty(&q.dob_to),
            number: non_empty(&q.number),
            region: non_empty(&q.region),
            status: non_empty(&q.status),
            limit: None,
            after: q.after,
        };
        let results = if submitted {
            match page
                .registrar
                .search_page(page.session, &filter, &page.req.address, page.now)
            {
                Ok(r) => Ok(Some(r)),
                // A bad filter or a region outside the user's: said on the page, the form kept.
                Err(e) if e.status == 400 || e.status == 403 => Err(e),
                Err(e) => return Err(e),
            }
        } else {
            Ok(None)
        };
        let regions = &page.session.user.regions;
        let body = html! {
            h1 { (lang.t("search-title")) }
            form.search method="get" action={ (PREFIX) "/search" } {
                label { (lang.t("search-names"))
                    input type="search" name="query" value=(q.query) maxlength="200"; }
                label { (lang.t("search-mother"))
                    input type="search" name="mother" value=(q.mother) maxlength="200"; }
                label { (lang.t("search-dob"))
                    input type="text" name="dob" value=(q.dob) placeholder=(lang.t("search-dob-placeholder"))
                        pattern="[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?"; }
                label { (lang.t("search-dob-from"))
                    input type="date" name="dob_from" value=(q.dob_from); }
                label { (lang.t("search-dob-to"))
                    input type="date" name="dob_to" value=(q.dob_to); }
                label { (lang.t("search-number"))
                    input type="text" name="number" value=(q.number) maxlength="64"; }
                label { (lang.t("search-region"))
                    @if regions.is_empty() {
                        input type="text" name="region" value=(q.region) maxlength="16";
                    } @else {
                        select name="region" {
                            option value="" { (lang.t("search-any")) }
                            @for r in regions {
                                option value=(r) selected[*r == q.region] { (r) }
                            }
                        }
                    }
                }
                label { (lang.t("search-status"))
                    select name="status" {
                        option value="" { (lang.t("search-any")) }
                        @for s in STATUSES {
                            option value=(s) selected[s == q.status] { (status_text(lang, s)) }
                        }
                    }
                }
                button type="submit" { (lang.t("search-submit")) }
            }
            @match &results {
                Err(e) => { p.error role="alert" { (super::error_text(lang, e)) } }
                Ok(None) => { p.hint { (lang.t("search-hint")) } }
                Ok(Some(found)) => {
                    @let list = &found.records;
                    p.summary { (lang.ta("search-results", &[("count", list.len().into())])) }
                    @if !list.is_empty() {
                        table.list {
                            thead { tr {
                                th { (lang.t("col-child")) }
                                th { (lang.t("col-dob")) }
                                th { (lang.t("col-sex")) }
                                th { (lang.t("col-region")) }
                                th { (lang.t("col-status")) }
                                th { (lang.t("col-sequenced")) }
                            } }
                            tbody {
                                @for r in list {
                                    tr {
                                        td { a href={ (PREFIX) "/records/" (r.id) } { (r.child.given_names) " " (r.child.family_name) } }
                                        td { (lang.date(&r.child.date_of_birth)) }
                                        td { (sex_text(lang, r.child.sex)) }
                                        td { (r.region) }
                                        td { span class={ "status status-" (r.status) } { (status_text(lang, r.status)) } }
                                        td { (lang.rfc3339(&r.sequenced_at)) }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(after) = found.next_after {
                        p.more { a href=(q.next_link(after)) { (lang.t("search-next")) } }
                    }
                }
            }
        };
        Ok(page.html(&lang.t("search-title"), "/registrar/search", body))
    })
    .await
}

fn sex_text(lang: Lang, sex: Option<Sex>) -> String {
    match sex {
        Some(Sex::Female) => lang.t("sex-female"),
        Some(Sex::Male) => lang.t("sex-male"),
        Some(Sex::Unknown) => lang.t("sex-unknown"),
        None => String::new(),
    }
}

fn place_text(lang: Lang, kind: Option<PlaceKind>) -> String {
    match kind {
        Some(PlaceKind::HealthFacility) => lang.t("place-health-facility"),
        Some(PlaceKind::Home) => lang.t("place-home"),
        Some(PlaceKind::Other) => lang.t("place-other"),
        None => String::new(),
    }
}

/// One line of a record's fields: a key to align two records by, its label, its value.
struct Row {
    key: String,
    label: String,
    value: String,
}

/// Every field of a form, in the form's order.
fn rows(lang: Lang, form: &RegistrationForm) -> Vec<Row> {
    let mut out = Vec::new();
    let mut push = |key: String, label: String, value: String| {
        out.push(Row { key, label, value });
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let c = &form.child;
    push(
        "child.given".into(),
        lang.t("field-child-given-names"),
        c.given_names.clone(),
    );
    push(
        "child.family".into(),
        lang.t("field-child-family-name"),
        c.family_name.clone(),
    );
    push(
        "child.sex".into(),
        lang.t("field-sex"),
        sex_text(lang, c.sex),
    );
    push(
        "child.dob".into(),
        lang.t("field-date-of-birth"),
        lang.date(&c.date_of_birth),
    );
    push(
        "child.tob".into(),
        lang.t("field-time-of-birth"),
        opt(&c.time_of_birth),
    );
    push(
        "child.plurality".into(),
        lang.t("field-plurality"),
        format!("{} / {}", c.birth_order, c.plurality),
    );
    let p = &form.place_of_birth;
    push(
        "place.kind".into(),
        lang.t("field-place-kind"),
        place_text(lang, p.kind),
    );
    push(
        "place.area".into(),
        lang.t("field-admin-area"),
        p.admin_area.clone(),
    );
    push(
        "place.locality".into(),
        lang.t("field-locality"),
        p.locality.clone(),
    );
    push(
        "place.facility".into(),
        lang.t("field-facility"),
        opt(&p.facility),
    );
    let coords = match (p.latitude, p.longitude) {
        (Some(lat), Some(lon)) => format!("{lat:.5}, {lon:.5}"),
        _ => String::new(),
    };
    push("place.coords".into(), lang.t("field-coordinates"), coords);
    let mut parent = |who: &str, label: &str, parent: Option<&birthright_core::record::Parent>| {
        let title = lang.t(label);
        let get =
            |f: fn(&birthright_core::record::Parent) -> String| parent.map(f).unwrap_or_default();
        push(
            format!("{who}.given"),
            format!("{title}: {}", lang.t("field-given-names")),
            get(|p| p.given_names.clone()),
        );
        push(
            format!("{who}.family"),
            format!("{title}: {}", lang.t("field-family-name")),
            get(|p| p.family_name.clone()),
        );
        push(
            format!("{who}.dob"),
            format!("{title}: {}", lang.t("field-date-of-birth")),
            parent
                .and_then(|p| p.date_of_birth.as_deref())
                .map(|d| lang.date(d))
                .unwrap_or_default(),
        );
        push(
            format!("{who}.id"),
            format!("{title}: {}", lang.t("field-national-id")),
            get(|p| p.national_id.clone().unwrap_or_default()),
        );
        push(
            format!("{who}.nationality"),
            format!("{title}: {}", lang.t("field-nationality")),
            get(|p| p.nationality.clone().unwrap_or_default()),
        );
    };
    parent("mother", "field-mother", Some(&form.mother));
    parent("father", "field-father", form.father.as_ref());
    let i = &form.informant;
    let informant = lang.t("field-informant");
    push(
        "informant.name".into(),
        format!("{informant}: {}", lang.t("field-name")),
        format!("{} {}", i.given_names, i.family_name),
    );
    push(
        "informant.relationship".into(),
        format!("{informant}: {}", lang.t("field-relationship")),
        i.relationship.clone(),
    );
    push(
        "informant.phone".into(),
        format!("{informant}: {}", lang.t("field-phone")),
        opt(&i.phone),
    );
    for (n, cg) in form.caregivers.iter().enumerate() {
        let label = lang.ta("field-caregiver", &[("n", (n + 1).into())]);
        let phone = cg
            .phone
            .as_deref()
            .map(|p| format!(", {p}"))
            .unwrap_or_default();
        push(
            format!("caregiver.{n}"),
            label,
            format!(
                "{} {} ({}){phone}",
                cg.given_names, cg.family_name, cg.relationship
            ),
        );
    }
    push(
        "consent".into(),
        lang.t("field-consent"),
        if form.consent.given {
            lang.ta(
                "field-consent-given",
                &[("by", form.consent.by_relationship.as_str().into())],
            )
        } else {
            lang.t("field-consent-not-given")
        },
    );
    push("notes".into(), lang.t("field-notes"), opt(&form.notes));
    for (k, v) in &form.custom {
        push(format!("custom.{k}"), k.clone(), v.clone());
    }
    out
}

/// The live inclusion check of leaf `index`: the size of the signed checkpoint it was
/// verified under, or why not.
fn inclusion(registrar: &Registrar, view: &RecordView) -> Result<u64, String> {
    let registry = registrar.registry();
    let bundle = registry.trust_bundle();
    let verifier = NoteVerifier::from_vkey(&bundle.checkpoint_vkey).map_err(|e| e.to_string())?;
    let note = registry.checkpoint().map_err(|e| e.message)?;
    let checkpoint =
        verify_checkpoint(&verifier, &note, &bundle.origin).map_err(|e| e.to_string())?;
    let index = view.leaf_index;
    let leaf = registry
        .leaves(index, index + 1)
        .map_err(|e| e.message)?
        .into_iter()
        .next()
        .ok_or("no leaf")?;
    let parsed =
        birthright_core::ledger::leaf::LedgerLeaf::parse(&leaf).map_err(|e| e.to_string())?;
    if parsed.device_kid.to_string() != view.device_kid {
        return Err("the leaf names another device".into());
    }
    let proof = registry
        .inclusion_proof(index, checkpoint.size)
        .map_err(|e| e.message)?;
    verify_inclusion(
        &leaf_hash(&leaf),
        index,
        checkpoint.size,
        &proof,
        &checkpoint.root_hash,
    )
    .map_err(|e| e.to_string())?;
    Ok(checkpoint.size)
}

/// The open duplicate pairs that name record `id`, either side.
fn pairs_of(registrar: &Registrar, id: &Uuid) -> Result<Vec<DuplicateView>, RegistrarError> {
    Ok(registrar
        .registry()
        .duplicates()?
        .into_iter()
        .filter(|p| p.record_id == *id || p.candidate_id == *id)
        .collect())
}

/// `GET /registrar/records/{id}`.
pub(crate) async fn record(
    State(state): State<Shared>,
    req: Req,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    with_session(&state, req, false, move |page| {
        let id = id
            .ok()
            .and_then(|Path(id)| Uuid::parse_str(&id).ok())
            .ok_or_else(bad_id)?;
        let lang = page.lang();
        let registrar = page.registrar;
        let view = registrar.record(page.session, &id, &page.req.address, page.now)?;
        let index = registrar.store().record_index()?;
        // History: the records it corrects (back to the first) and those correcting it.
        let mut earlier = Vec::new();
        let mut cursor = view.supersedes;
        while let Some(prev) = cursor {
            if earlier.len() >= 50 || earlier.iter().any(|m: &RecordMeta| m.id == prev) {
                break;
            }
            let Some(meta) = index.iter().find(|m| m.id == prev) else { break };
            earlier.push(meta.clone());
            cursor = meta.supersedes;
        }
        let later: Vec<&RecordMeta> = index.iter().filter(|m| m.supersedes == Some(id)).collect();
        let inclusion = inclusion(registrar, &view);
        let pairs = pairs_of(registrar, &id)?;
        let mut candidates = Vec::new();
        for pair in &pairs {
            let other = if pair.record_id == id { pair.candidate_id } else { pair.record_id };
            // The candidate is a view of another child's record: audited, region-limited.
            let seen = match registrar.record(page.session, &other, &page.req.address, page.now) {
                Ok(v) => Some(v),
                Err(e) if e.status == 403 || e.status == 404 => None,
                Err(e) => return Err(e),
            };
            candidates.push((pair, other, seen));
        }
        let mine = rows(lang, &view.form);
        let may_decide = decides(&page.session.user);
        let printable = pairs.is_empty()
            && view.status == "registered"
            && crate::registrar::access::require_printer(&page.session.user).is_ok();
        let name = format!("{} {}", view.form.child.given_names, view.form.child.family_name);
        let body = html! {
            h1 { (name) " " span class={ "status status-" (view.status) } { (status_text(lang, view.status)) } }
            @if !pairs.is_empty() {
                p.notice { (lang.ta("record-held", &[("count", pairs.len().into())])) }
            }
            @if printable {
                p { a href={ (PREFIX) "/records/" (view.id) "/certificate" } { (lang.t("record-certificate")) } }
            }
            div.columns {
                section {
                    h2 { (lang.t("record-fields")) }
                    table.fields { tbody {
                        @for row in &mine {
                            tr { th scope="row" { (row.label) } td { (row.value) } }
                        }
                    } }
                }
                section {
                    h2 { (lang.t("record-registration")) }
                    dl.fields {
                        dt { (lang.t("record-id")) } dd { code { (view.id) } }
                        dt { (lang.t("col-region")) } dd { (view.region) }
                        dt { (lang.t("record-device")) } dd { code { (view.device_kid) } }
                        dt { (lang.t("record-worker")) } dd { (view.worker_id) }
                        dt { (lang.t("record-captured")) } dd { (lang.rfc3339(&view.captured_at)) " " small { (lang.t("record-device-time")) } }
                        dt { (lang.t("col-sequenced")) } dd { (lang.rfc3339(&view.sequenced_at)) }
                        dt { (lang.t("record-leaf")) } dd { (view.leaf_index) }
                        dt { (lang.t("record-inclusion")) }
                        dd {
                            @match &inclusion {
                                Ok(size) => { span.ok { (lang.ta("record-inclusion-ok", &[("size", i64::try_from(*size).unwrap_or(i64::MAX).into())])) } }
                                Err(_) => { span.bad { (lang.t("record-inclusion-failed")) } }
                            }
                        }
                    }
                    h2 { (lang.t("record-history")) }
                    ol.history {
                        @for meta in earlier.iter().rev() {
                            li { a href={ (PREFIX) "/records/" (meta.id) } { (lang.t("record-history-earlier")) } " · " (lang.datetime(meta.sequenced_at)) }
                        }
                        li { strong { (lang.t("record-history-this")) } " · " (lang.rfc3339(&view.sequenced_at)) }
                        @for meta in &later {
                            li { a href={ (PREFIX) "/records/" (meta.id) } { (lang.t("record-history-later")) } " · " (lang.datetime(meta.sequenced_at)) }
                        }
                    }
                }
            }
            @if view.status == "awaiting_review" && may_decide {
                (decision_forms(page, lang, &view, &pairs))
            }
            @if !view.decisions.is_empty() {
                section.decisions {
                    h2 { (lang.t("record-decisions")) }
                    ol.history {
                        @for d in &view.decisions {
                            li {
                                strong { (status_text(lang, d.decision)) }
                                " · " (decision_reason_text(lang, d.reason))
                                " · " (decided_by_text(lang, &d.decided_by))
                                " · " (lang.rfc3339(&d.decided_at))
                                @if let Some(other) = d.duplicate_of {
                                    " · " a href={ (PREFIX) "/records/" (other) } { (lang.t("record-duplicate-of")) }
                                }
                                @if let Some(note) = &d.note {
                                    p.note { (note) }
                                }
                            }
                        }
                    }
                }
            }
            @if !candidates.is_empty() {
                section.candidates {
                    h2 { (lang.t("record-candidates")) }
                    @for (pair, other, seen) in &candidates {
                        article.candidate {
                            h3 { (lang.ta("record-candidate-level", &[("level", lang.t(&format!("level-{}", pair.level)).as_str().into()), ("score", i64::from(pair.score).into())])) }
                            @match seen {
                                None => { p { (lang.t("record-candidate-hidden")) } }
                                Some(theirs) => {
                                    (side_by_side(lang, &mine, &rows(lang, &theirs.form), *other))
                                }
                            }
                            @if may_decide && pair.record_id == id {
                                div.decisions {
                                    form method="post" action={ (PREFIX) "/records/" (id) "/duplicates/" (other) } {
                                        (layout::csrf(page.session))
                                        input type="hidden" name="decision" value="duplicate";
                                        button.danger type="submit" { (lang.t("decide-duplicate")) }
                                    }
                                    form method="post" action={ (PREFIX) "/records/" (id) "/duplicates/" (other) } {
                                        (layout::csrf(page.session))
                                        input type="hidden" name="decision" value="not_duplicate";
                                        button type="submit" { (lang.t("decide-not-duplicate")) }
                                    }
                                }
                            } @else if pair.record_id != id {
                                p.hint { a href={ (PREFIX) "/records/" (pair.record_id) } { (lang.t("record-decide-there")) } }
                            }
                        }
                    }
                }
            }
        };
        Ok(page.html(&name, "", body))
    })
    .await
}

/// The decision forms of a record awaiting review: register; reject or ask for a correction
/// (a reason code and a note); the duplicate of one of its candidates.
fn decision_forms(
    page: &Page<'_>,
    lang: Lang,
    view: &RecordView,
    pairs: &[DuplicateView],
) -> Markup {
    let action = format!("{PREFIX}/records/{}/decision", view.id);
    let codes: Vec<&str> = reason_codes()
        .into_iter()
        .filter(|c| !matches!(*c, "reviewed" | "already_registered"))
        .collect();
    let others: Vec<Uuid> = pairs
        .iter()
        .filter(|p| p.record_id == view.id)
        .map(|p| p.candidate_id)
        .collect();
    let with_reason = |kind: &str, title: String, button: String| {
        html! {
            form.decision method="post" action=(action) {
                (layout::csrf(page.session))
                input type="hidden" name="action" value=(kind);
                fieldset {
                    legend { (title) }
                    label { (lang.t("decide-reason"))
                        select name="reason" required {
                            option value="" { (lang.t("decide-choose")) }
                            @for c in &codes {
                                option value=(c) { (decision_reason_text(lang, c)) }
                            }
                        }
                    }
                    label { (lang.t("decide-note"))
                        textarea name="note" maxlength="2000" rows="2" {} }
                    button type="submit" { (button) }
                }
            }
        }
    };
    html! {
        section.decide {
            h2 { (lang.t("decide-title")) }
            form.decision method="post" action=(action) {
                (layout::csrf(page.session))
                input type="hidden" name="action" value="register";
                fieldset {
                    legend { (lang.t("decide-register-title")) }
                    label { (lang.t("decide-note"))
                        textarea name="note" maxlength="2000" rows="2" {} }
                    button.primary type="submit" { (lang.t("decide-register")) }
                }
            }
            (with_reason("request_correction", lang.t("decide-correction-title"), lang.t("decide-correction")))
            (with_reason("reject", lang.t("decide-reject-title"), lang.t("decide-reject")))
            @if !others.is_empty() {
                form.decision method="post" action=(action) {
                    (layout::csrf(page.session))
                    input type="hidden" name="action" value="duplicate_of";
                    fieldset {
                        legend { (lang.t("decide-duplicate-title")) }
                        label { (lang.t("decide-duplicate-of"))
                            select name="duplicate_of" required {
                                @for o in &others {
                                    option value=(o) { (o) }
                                }
                            }
                        }
                        label { (lang.t("decide-note"))
                            textarea name="note" maxlength="2000" rows="2" {} }
                        button.danger type="submit" { (lang.t("decide-duplicate")) }
                    }
                }
            }
        }
    }
}

/// Two records' fields side by side, the rows that differ marked.
fn side_by_side(lang: Lang, mine: &[Row], theirs: &[Row], other: Uuid) -> Markup {
    let mut keys: Vec<(&str, &str)> = mine
        .iter()
        .map(|r| (r.key.as_str(), r.label.as_str()))
        .collect();
    for r in theirs {
        if !keys.iter().any(|(k, _)| *k == r.key) {
            keys.push((&r.key, &r.label));
        }
    }
    let value = |rows: &[Row], key: &str| {
        rows.iter()
            .find(|r| r.key == key)
            .map(|r| r.value.clone())
            .unwrap_or_default()
    };
    html! {
        table.compare {
            thead { tr {
                th {}
                th { (lang.t("compare-this")) }
                th { a href={ (PREFIX) "/records/" (other) } { (lang.t("compare-candidate")) } }
            } }
            tbody {
                @for (key, label) in &keys {
                    @let a = value(mine, key);
                    @let b = value(theirs, key);
                    @if !(a.is_empty() && b.is_empty()) {
                        tr class=[(a != b).then_some("differs")] {
                            th scope="row" { (label) }
                            td { (a) }
                            td { (b) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct PairForm {
    #[serde(default)]
    decision: String,
}

/// `POST /registrar/records/{id}/duplicates/{candidate}`: a registrar's decision on a pair
/// (the same child, or two children). Registrars and supervisors, in their regions (both
/// records); audited.
pub(crate) async fn decide_pair(
    State(state): State<Shared>,
    req: Req,
    ids: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    body: Bytes,
) -> Response {
    with_form(&state, req, body, false, move |page, form: PairForm| {
        let (id, candidate) = ids
            .ok()
            .and_then(|Path((a, b))| Some((Uuid::parse_str(&a).ok()?, Uuid::parse_str(&b).ok()?)))
            .ok_or_else(bad_id)?;
        let user = &page.session.user;
        if !decides(user) {
            return Err(RegistrarError::forbidden("deciding on records"));
        }
        let decision = match form.decision.as_str() {
            "duplicate" => Decision::Duplicate,
            "not_duplicate" => Decision::NotDuplicate,
            _ => {
                return Err(RegistrarError::bad_request(
                    "bad_form",
                    "the decision is not one of the choices",
                ));
            }
        };
        let index = page.registrar.store().record_index()?;
        for rid in [id, candidate] {
            let meta = index
                .iter()
                .find(|m| m.id == rid)
                .ok_or_else(|| RegistrarError::new(404, "not_found", format!("no record {rid}")))?;
            page.registrar.refuse_outside_region(
                user,
                &meta.region,
                "this record is outside your regions",
                crate::registrar::RefusedAccess {
                    action: "duplicate_decision_refused",
                    record: &rid,
                    address: &page.req.address,
                    now: page.now,
                },
            )?;
        }
        page.registrar.registry().decide_duplicate(
            &id,
            &candidate,
            decision,
            Some(user.username.clone()),
            page.now,
        )?;
        page.registrar.audit(
            page.now,
            Some(&user.username),
            "duplicate_decision",
            Some(format!("{id} {candidate} {}", decision.as_str())),
            Some(&page.req.address),
        )?;
        Ok(redirect(&format!("{PREFIX}/records/{id}")))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    duplicate_of: String,
}

/// `POST /registrar/records/{id}/decision`: a registrar's decision on a record awaiting
/// review ([`Registrar::decide`], as the API's): `action` (`register`, `reject`,
/// `request_correction`, `duplicate_of`), `reason`, `note`, `duplicate_of`. Then back to the
/// record page.
pub(crate) async fn decide(
    State(state): State<Shared>,
    req: Req,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Bytes,
) -> Response {
    with_form(&state, req, body, false, move |page, form: DecisionForm| {
        let id = id
            .ok()
            .and_then(|Path(id)| Uuid::parse_str(&id).ok())
            .ok_or_else(bad_id)?;
        let duplicate_of = non_empty(&form.duplicate_of)
            .map(|d| Uuid::parse_str(&d).map_err(|_| bad_id()))
            .transpose()?;
        let body = DecisionBody {
            action: form.action,
            reason: non_empty(&form.reason),
            note: non_empty(&form.note),
            duplicate_of,
        };
        page.registrar
            .decide(page.session, &id, &body, &page.req.address, page.now)?;
        Ok(redirect(&format!("{PREFIX}/records/{id}")))
    })
    .await
}
