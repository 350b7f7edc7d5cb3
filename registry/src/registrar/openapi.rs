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

fn with_path(
    name: &str,
    kind: &str,
    description: &str,
    mut m: serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    let param = json!({"name": name, "in": "path", "required": true,
                       "description": description, "schema": {"type": kind}});
    match m.get_mut("parameters") {
        Some(Value::Array(list)) => list.insert(0, param),
        _ => {
            m.insert("parameters".into(), json!([param]));
        }
    }
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
    let mut doc = base_document();
    if let (Value::Object(paths), Value::Object(more)) = (&mut doc["paths"], devcerts_paths()) {
        paths.extend(more);
    }
    if let (Value::Object(schemas), Value::Object(more)) =
        (&mut doc["components"]["schemas"], devcerts_schemas())
    {
        schemas.extend(more);
    }
    doc
}

/// Devices, tokens, users and certificates (apart: one `json!` of everything is too deep).
fn devcerts_paths() -> Value {
    let none = serde_json::Map::new;
    let no_content_2 = || ("204", json!({"description": "done"}));
    let roles_schema = json!({"type": "array", "minItems": 1,
        "items": {"type": "string", "enum": ["registrar", "supervisor", "auditor", "admin"]}});
    let one_time = json!({"type": "object", "properties": {
        "user": {"$ref": "#/components/schemas/User"},
        "one_time_password": {"type": "string", "description": "shown once; changed at first login"}}});
    json!({
            "/devices": {"get": op(
                "The devices of the user's regions (supervisors, auditors)",
                ("200", json_ok("devices, in enrolment order", json!({"type": "object",
                    "properties": {"devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}}}}))),
                &[("401", "no session"), ("403", "not a supervisor or auditor, or a first step pending")],
                none(),
            )},
            "/devices/{kid}/revoke": {"post": op(
                "Revoke a device of one of the supervisor's regions: the public reason code goes into the signed revocation list, the note stays in the database; audited",
                ("200", json_ok("the revoked device", json!({"$ref": "#/components/schemas/Device"}))),
                &[("400", "bad_id, bad_reason, bad_note or bad body"), ("401", "no session"),
                  ("403", "csrf, not a supervisor, or region_forbidden"), ("404", "unknown_device"),
                  ("409", "already_revoked"), ("415", "not JSON")],
                with_path("kid", "string", "the device key id (16 hex digits)",
                    csrf(body(json!({"type": "object", "required": ["reason"], "properties": {
                        "reason": {"type": "string", "enum": birthright_core::trust::REVOCATION_REASONS},
                        "note": {"type": "string", "maxLength": super::devices::MAX_NOTE_CHARS, "description": "internal, never published"}}})))),
            )},
            "/tokens": {
                "get": op(
                    "The unused, unexpired enrolment tokens of the user's regions, by public id (the tokens themselves are never shown again)",
                    ("200", json_ok("tokens, oldest first", json!({"type": "object",
                        "properties": {"tokens": {"type": "array", "items": {"$ref": "#/components/schemas/Token"}}}}))),
                    &[("401", "no session"), ("403", "not a supervisor or auditor, or a first step pending")],
                    none(),
                ),
                "post": op(
                    "Create a one-time enrolment token for one of the supervisor's regions; shown once, with its QR code; audited",
                    ("200", json_ok("the new token, shown once", json!({"$ref": "#/components/schemas/NewToken"}))),
                    &[("400", "bad_worker, bad_region, bad_ttl or bad body"), ("401", "no session"),
                      ("403", "csrf, not a supervisor, or region_forbidden"), ("415", "not JSON")],
                    csrf(body(json!({"type": "object", "required": ["worker_id", "region"], "properties": {
                        "worker_id": {"type": "string"}, "region": {"type": "string"},
                        "ttl": {"type": "string", "description": "30m, 12h, 7d (default 7d, at most 30d)"}}}))),
                ),
            },
            "/tokens/{id}/cancel": {"post": op(
                "Cancel an unused enrolment token; audited",
                no_content_2(),
                &[("400", "bad_id"), ("401", "no session"), ("403", "csrf, not a supervisor, or region_forbidden"),
                  ("404", "unknown_token (used, expired, cancelled or never issued)")],
                with_path("id", "string", "the token's public id (64 hex digits)", csrf(none())),
            )},
            "/users": {
                "get": op(
                    "Every user (admins)",
                    ("200", json_ok("users", json!({"type": "object",
                        "properties": {"users": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}}}))),
                    &[("401", "no session"), ("403", "not an admin, or a first step pending")],
                    none(),
                ),
                "post": op(
                    "Add a user with a one-time password, shown once (admins); audited",
                    ("200", json_ok("the user and its one-time password", one_time.clone())),
                    &[("400", "bad_username, no_role, bad_role, bad_region or bad body"), ("401", "no session"),
                      ("403", "csrf or not an admin"), ("409", "user_exists"), ("415", "not JSON")],
                    csrf(body(json!({"type": "object", "required": ["username", "roles"], "properties": {
                        "username": {"type": "string"}, "roles": roles_schema.clone(),
                        "regions": {"type": "array", "items": {"type": "string"}, "description": "none: every region"}}}))),
                ),
            },
            "/users/{username}/disable": {"post": op(
                "Disable a user and end its sessions (admins; not oneself); audited",
                ("200", json_ok("the user", json!({"$ref": "#/components/schemas/User"}))),
                &[("400", "bad_username"), ("401", "no session"), ("403", "csrf or not an admin"),
                  ("404", "unknown_user"), ("409", "own_account")],
                with_path("username", "string", "login name", csrf(none())),
            )},
            "/users/{username}/reset-password": {"post": op(
                "Give a user a new one-time password, shown once, enable it again and end its sessions; optionally remove its second factor (admins); audited",
                ("200", json_ok("the user and its one-time password", one_time)),
                &[("400", "bad_username or bad body"), ("401", "no session"), ("403", "csrf or not an admin"),
                  ("404", "unknown_user"), ("415", "not JSON")],
                with_path("username", "string", "login name", csrf(body(json!({"type": "object", "properties": {
                    "reset_totp": {"type": "boolean", "default": false}}})))),
            )},
            "/users/{username}/access": {"post": op(
                "Set a user's roles and regions; its sessions end (admins; an admin keeps its own admin role); audited",
                ("200", json_ok("the user", json!({"$ref": "#/components/schemas/User"}))),
                &[("400", "no_role, bad_role, bad_region or bad body"), ("401", "no session"), ("403", "csrf or not an admin"),
                  ("404", "unknown_user"), ("409", "own_account"), ("415", "not JSON")],
                with_path("username", "string", "login name", csrf(body(json!({"type": "object", "required": ["roles"], "properties": {
                    "roles": roles_schema, "regions": {"type": "array", "items": {"type": "string"}}}})))),
            )},
            "/records/{id}/certificate": {"get": op(
                "The certificate of a registered record: its newest registered credential (registrars, supervisors; audited as a view of the record). The printable page is GET /registrar/records/{id}/certificate",
                ("200", json_ok("the certificate", json!({"$ref": "#/components/schemas/Certificate"}))),
                &[("400", "bad_id"), ("401", "no session"), ("403", "role or region not allowed"), ("404", "no such record"),
                  ("409", "not_registered")],
                with_path("id", "string", "record id (UUID)", none()),
            )},
            "/records/{id}/reissue": {"post": op(
                "Issue a NEW registered credential for a lost paper (the old one stays valid unless revoked); audited",
                ("200", json_ok("the certificate with the new credential", json!({"$ref": "#/components/schemas/Certificate"}))),
                &[("400", "bad_id"), ("401", "no session"), ("403", "csrf, role or region not allowed"), ("404", "no such record"),
                  ("409", "not_registered or just_issued")],
                with_path("id", "string", "record id (UUID)", csrf(none())),
            )},
    })
}

fn devcerts_schemas() -> Value {
    json!({
                "Device": {"type": "object", "properties": {
                    "device_kid": {"type": "string"}, "worker_id": {"type": "string"}, "region": {"type": "string"},
                    "enrolled_at": {"type": "string", "format": "date-time"},
                    "valid_until": {"type": "string", "format": "date-time"},
                    "records": {"type": "integer", "description": "records stored at the registry"},
                    "last_sync": {"type": "string", "format": "date-time", "nullable": true,
                        "description": "when the registry last sequenced a record of it"},
                    "rejections": {"type": "integer", "description": "records of it a registrar rejected"},
                    "revoked": {"type": "boolean"},
                    "revoked_at": {"type": "string", "format": "date-time", "nullable": true},
                    "revoke_reason": {"type": "string", "nullable": true},
                    "revoke_note": {"type": "string", "nullable": true}}},
                "Token": {"type": "object", "properties": {
                    "id": {"type": "string", "description": "public id, 64 hex digits"},
                    "worker_id": {"type": "string"}, "region": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"}}},
                "NewToken": {"type": "object", "properties": {
                    "token": {"type": "string", "description": "the one-time token, shown once"},
                    "id": {"type": "string"}, "worker_id": {"type": "string"}, "region": {"type": "string"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "trust_fingerprint": {"type": "string"},
                    "qr_svg": {"type": "string", "description": "SVG QR code holding the token text"}}},
                "User": {"type": "object", "properties": {
                    "username": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}},
                    "regions": {"type": "array", "items": {"type": "string"}}, "disabled": {"type": "boolean"},
                    "must_change_password": {"type": "boolean"}, "totp_enrolled": {"type": "boolean"},
                    "created_at": {"type": "string", "format": "date-time"}}},
                "Certificate": {"type": "object", "properties": {
                    "registration_number": {"type": "string", "description": "the record id"},
                    "leaf_index": {"type": "integer"}, "registry": {"type": "string"}, "region": {"type": "string"},
                    "registered_at": {"type": "string", "format": "date-time"},
                    "issued_at": {"type": "string", "format": "date-time"},
                    "reissued": {"type": "boolean"},
                    "credential": {"type": "string", "description": "BR1:… text of the registered credential"},
                    "qr_svg": {"type": "string"}}}
    })
}

fn base_document() -> Value {
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
                X-CSRF-Token header. Errors are {\"code\", \"message\"}. Every login, logout, \
                record or certificate view and every change is audited."
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
                "Search the stored records the user may see (its regions only); opens at most 5000 records a request; audited (filter names, count, ids shown)",
                ("200", json_ok("matches, in ledger order", json!({"type": "object",
                    "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}},
                                   "next_after": {"type": "integer", "nullable": true,
                                       "description": "pass as `after` for the next page; null when the search is complete"}}}))),
                RECORDS,
                query(&[("query", "string", "words in the child's or parents' names (case, diacritics and script ignored)"),
                        ("mother", "string", "words in the mother's names (as query)"),
                        ("dob", "string", "date of birth: YYYY, YYYY-MM or YYYY-MM-DD"),
                        ("dob_from", "string", "born on or after (YYYY-MM-DD)"),
                        ("dob_to", "string", "born on or before (YYYY-MM-DD)"),
                        ("number", "string", "registration number: the record id (UUID) or its ledger index"),
                        ("region", "string", "region code (the capturing device's)"),
                        ("status", "string", "registered, superseded or revoked"),
                        ("limit", "integer", "most results (1 to 200, default 50)"),
                        ("after", "integer", "only records after this ledger index (the last page's next_after)")]),
            )},
            "/statistics": {"get": op(
                "Aggregates of the user's regions: registrations by month, region and sex; timeliness; statuses; queue; devices (registrars, supervisors, auditors); audited",
                ("200", json_ok("the statistics", json!({"$ref": "#/components/schemas/Statistics"}))),
                RECORDS,
                query(&[("region", "string", "only this region (one of the user's)")]),
            )},
            "/statistics.csv": {"get": op(
                "The same aggregates as CSV: measure,region,month,sex,status,device,value",
                ("200", json!({"description": "the statistics", "content": {"text/csv": {"schema": {"type": "string"}}}})),
                RECORDS,
                query(&[("region", "string", "only this region (one of the user's)")]),
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
                        ("limit", "integer", "most entries (1 to 500, default 100)"),
                        ("offset", "integer", "entries the filter selects to skip first (the earlier pages; default 0)")]),
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
                "Statistics": {"type": "object", "properties": {
                    "generated_at": {"type": "string", "format": "date-time"},
                    "regions": {"type": "array", "nullable": true, "items": {"type": "string"},
                        "description": "the regions covered; null: every region"},
                    "registrations": {"type": "array", "items": {"type": "object", "properties": {
                        "month": {"type": "string"}, "region": {"type": "string"},
                        "sex": {"type": "string", "enum": ["female", "male", "unknown", "not_recorded"]},
                        "count": {"type": "integer"}}}},
                    "timeliness": {"type": "array", "items": {"type": "object", "properties": {
                        "region": {"type": "string", "nullable": true, "description": "null: every region covered"},
                        "registrations": {"type": "integer"}, "within_30_days": {"type": "integer"},
                        "within_1_year": {"type": "integer"}, "later": {"type": "integer"},
                        "date_unknown": {"type": "integer"},
                        "share_within_30_days": {"type": "number", "nullable": true},
                        "share_within_1_year": {"type": "number", "nullable": true}}}},
                    "statuses": {"type": "array", "items": {"type": "object", "properties": {
                        "region": {"type": "string"}, "status": {"type": "string"}, "count": {"type": "integer"}}}},
                    "queue": {"type": "array", "items": {"type": "object", "properties": {
                        "region": {"type": "string"}, "awaiting": {"type": "integer"},
                        "oldest_age_secs": {"type": "integer", "nullable": true},
                        "under_1_day": {"type": "integer"}, "from_1_to_7_days": {"type": "integer"},
                        "from_7_to_30_days": {"type": "integer"}, "over_30_days": {"type": "integer"}}}},
                    "devices": {"type": "array", "items": {"type": "object", "properties": {
                        "kid": {"type": "string"}, "region": {"type": "string"},
                        "enrolled_at": {"type": "string", "format": "date-time"}, "revoked": {"type": "boolean"},
                        "last_record_at": {"type": "string", "format": "date-time", "nullable": true},
                        "records": {"type": "integer"},
                        "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "awaiting_review": {"type": "integer"}}}}}},
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
