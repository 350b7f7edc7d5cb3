//! The OpenAPI 3 document of the registrars' API, served at
//! `/api/registrar/v1/openapi.json`. A test checks that its operations are exactly
//! [`super::api::ROUTES`].

use serde_json::{Value, json};

fn error_responses(codes: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|(status, description)| {
            (
                status.to_string(),
                json!({
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }),
            )
        })
        .collect()
}

fn op(
    summary: &str,
    ok: (&str, Value),
    errors: &[(&str, &str)],
    extra: serde_json::Map<String, Value>,
) -> Value {
    let mut responses = error_responses(errors);
    responses.insert(ok.0.to_string(), ok.1);
    let mut operation = json!({ "summary": summary, "responses": responses });
    if let Value::Object(o) = &mut operation {
        o.extend(extra);
    }
    operation
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn body(schema: Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "requestBody".into(),
        json!({"required": true, "content": {"application/json": {"schema": schema}}}),
    );
    m
}

fn csrf(mut m: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    m.insert(
        "parameters".into(),
        json!([{"$ref": "#/components/parameters/CsrfToken"}]),
    );
    m
}

fn query(params: &[(&str, &str, &str)]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "parameters".into(),
        Value::Array(
            params
                .iter()
                .map(|(name, kind, description)| {
                    json!({"name": name, "in": "query", "required": false,
                           "description": description, "schema": {"type": kind}})
                })
                .collect(),
        ),
    );
    m
}

const AUTH: &[(&str, &str)] = &[("401", "no session, or it has ended")];
const AUTH_CSRF: &[(&str, &str)] = &[
    ("401", "no session, or it has ended"),
    (
        "403",
        "missing or wrong X-CSRF-Token, or a first step pending",
    ),
];
const RECORDS: &[(&str, &str)] = &[
    ("400", "bad query"),
    ("401", "no session, or it has ended"),
    ("403", "role or region not allowed, or a first step pending"),
];

/// The document.
pub fn document() -> Value {
    let none = serde_json::Map::new;
    let session = json!({"$ref": "#/components/schemas/Session"});
    let no_content = ("204", json!({"description": "done"}));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Birthright registrars' API",
            "version": "1",
            "description": "Sessions are an HttpOnly, SameSite=Strict cookie set by POST /login. \
                Every state-changing request but login needs the session's CSRF token in the \
                X-CSRF-Token header. Errors are {\"code\", \"message\"}. Every login, logout \
                and record view is audited."
        },
        "servers": [{"url": "/api/registrar/v1"}],
        "paths": {
            "/login": {"post": op(
                "Log in; sets the session cookie",
                ("200", json_ok("logged in", session.clone())),
                &[("400", "bad body"), ("401", "wrong user name, password or code (one answer for all), or totp_required"),
                  ("415", "not JSON"), ("429", "too many failed logins: login_backoff, with Retry-After")],
                body(json!({"type": "object", "required": ["username", "password"],
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                                   "totp": {"type": "string", "description": "6-digit code, when enrolled"}}})),
            )},
            "/logout": {"post": op("End the session", no_content.clone(), AUTH_CSRF, csrf(none()))},
            "/password": {"post": op(
                "Change the password (required first after a one-time password)",
                no_content.clone(),
                &[("400", "weak_password"), ("401", "no session"), ("403", "csrf or wrong_password")],
                csrf(body(json!({"type": "object", "required": ["current_password", "new_password"],
                    "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 12}}}))),
            )},
            "/totp/enrol": {"post": op(
                "Start enrolling a TOTP second factor (RFC 6238, SHA-1, 6 digits, 30 s)",
                ("200", json_ok("the new secret, shown once", json!({"type": "object",
                    "properties": {"secret": {"type": "string", "description": "base32"},
                                   "otpauth_uri": {"type": "string"}}}))),
                &[("401", "no session"), ("403", "csrf, or the password must be changed first"), ("409", "totp_already_enrolled")],
                csrf(none()),
            )},
            "/totp/confirm": {"post": op(
                "Confirm the second factor with a current code",
                no_content,
                &[("400", "wrong_code"), ("401", "no session"), ("403", "csrf"), ("409", "no_totp_enrolment")],
                csrf(body(json!({"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}))),
            )},
            "/me": {"get": op("The session's user and CSRF token", ("200", json_ok("the session", session)), AUTH, none())},
            "/records": {"get": op(
                "Search the stored records the user may see (its regions only); audited by count",
                ("200", json_ok("matches, in ledger order", json!({"type": "object",
                    "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}}}}))),
                RECORDS,
                query(&[("query", "string", "words in the child's or parents' names (case and diacritics ignored)"),
                        ("dob", "string", "date of birth: YYYY, YYYY-MM or YYYY-MM-DD"),
                        ("region", "string", "region code (the capturing device's)"),
                        ("status", "string", "declared, awaiting_review, registered, rejected, duplicate, correction_requested, superseded or revoked"),
                        ("limit", "integer", "most results (1 to 200, default 50)")]),
            )},
            "/records/{id}": {"get": op(
                "One record in full; audited",
                ("200", json_ok("the record", json!({"type": "object"}))),
                &[("400", "bad_id"), ("401", "no session"), ("403", "role or region not allowed"), ("404", "no such record")],
                {
                    let mut m = serde_json::Map::new();
                    m.insert("parameters".into(), json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]));
                    m
                },
            )},
            "/queue": {"get": op(
                "Records awaiting review in the user's regions, oldest first, with counts per reason; audited by count",
                ("200", json_ok("the queue", json!({"type": "object", "properties": {
                    "records": {"type": "array", "items": {"$ref": "#/components/schemas/QueueEntry"}},
                    "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                               "description": "per reason: late_registration, possible_duplicate, correction"},
                    "total": {"type": "integer"}}}))),
                RECORDS,
                query(&[("reason", "string", "late_registration, possible_duplicate or correction"),
                        ("region", "string", "region code (the capturing device's)"),
                        ("device", "string", "the capturing device's key id (16 hex digits)"),
                        ("min_age_days", "integer", "the child at least this many days old at capture"),
                        ("max_age_days", "integer", "the child at most this many days old at capture"),
                        ("limit", "integer", "most entries (1 to 500, default 100)")]),
            )},
            "/records/{id}/decision": {"post": op(
                "Decide on a record awaiting review (registrars and supervisors, in their regions); appended to the ledger and audited",
                ("200", json_ok("the record's new status", json!({"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "status": {"type": "string", "enum": ["registered", "rejected", "duplicate", "correction_requested"]},
                    "decision_leaf": {"type": "integer"}, "tree_size": {"type": "integer"}}}))),
                &[("400", "bad_id, bad_body, bad_decision, bad_reason, reason_required, bad_note or bad_duplicate"),
                  ("401", "no session"), ("403", "csrf, role or region not allowed, or a first step pending"),
                  ("404", "no such record"), ("409", "not_awaiting_review: decided already"), ("415", "not JSON")],
                {
                    let mut m = csrf(body(json!({"type": "object", "required": ["action"], "properties": {
                        "action": {"type": "string", "enum": ["register", "reject", "duplicate_of", "request_correction"]},
                        "reason": {"type": "string", "enum": super::review::reason_codes(),
                                   "description": "required for reject and request_correction"},
                        "note": {"type": "string", "maxLength": 2000, "description": "kept sealed at the registry, never on the ledger"},
                        "duplicate_of": {"type": "string", "format": "uuid", "description": "with duplicate_of"}}})));
                    m.insert("parameters".into(), json!([
                        {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
                        {"$ref": "#/components/parameters/CsrfToken"}]));
                    m
                },
            )},
            "/audit": {"get": op(
                "The audit log (auditors)",
                ("200", json_ok("entries after `after`", json!({"type": "object",
                    "properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
                                   "next_after": {"type": "integer", "nullable": true}}}))),
                &[("400", "bad query"), ("401", "no session"), ("403", "not an auditor")],
                query(&[("after", "integer", "the last seq already read"), ("limit", "integer", "1 to 1000, default 100")]),
            )},
            "/openapi.json": {"get": op("This document", ("200", json_ok("OpenAPI 3", json!({"type": "object"}))), &[], none())},
        },
        "components": {
            "parameters": {
                "CsrfToken": {"name": "X-CSRF-Token", "in": "header", "required": true, "schema": {"type": "string"}}
            },
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": super::sessions::COOKIE}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                "Session": {"type": "object", "properties": {
                    "csrf_token": {"type": "string"}, "user": {"type": "string"},
                    "roles": {"type": "array", "items": {"type": "string", "enum": ["registrar", "supervisor", "auditor", "admin"]}},
                    "regions": {"type": "array", "items": {"type": "string"}},
                    "must_change_password": {"type": "boolean"}, "totp_enrolled": {"type": "boolean"},
                    "totp_enrolment_required": {"type": "boolean"}}},
                "RecordSummary": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "leaf_index": {"type": "integer"},
                    "region": {"type": "string"}, "status": {"type": "string"},
                    "sequenced_at": {"type": "string", "format": "date-time"},
                    "child": {"type": "object"}}},
                "QueueEntry": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "leaf_index": {"type": "integer"},
                    "region": {"type": "string"}, "device_kid": {"type": "string"}, "worker_id": {"type": "string"},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "declared_at": {"type": "string", "format": "date-time"},
                    "age_at_capture_days": {"type": "integer", "nullable": true},
                    "supersedes": {"type": "string", "format": "uuid", "nullable": true},
                    "child": {"type": "object"}}},
                "AuditEntry": {"type": "object", "properties": {
                    "seq": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                    "actor": {"type": "string", "nullable": true}, "action": {"type": "string"},
                    "target": {"type": "string", "nullable": true}, "address": {"type": "string", "nullable": true}}}
            }
        },
        "security": [{"session": []}]
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::registrar::api::ROUTES;

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let doc = document();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .map(|(_, method, path)| (method.to_string(), path.to_string()))
            .collect();
        assert_eq!(documented, routed);
        assert_eq!(routed.len(), ROUTES.len(), "a route listed twice");
        assert_eq!(doc["openapi"], "3.0.3");
    }
}
