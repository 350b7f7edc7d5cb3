//! UniFFI custom types for the core's types that UniFFI has no built-in form for (the `uniffi`
//! feature only).

use std::collections::HashMap;

use uuid::Uuid;

use crate::record::CustomFields;

// A form's custom fields cross as a plain map (Kotlin `Map<String, String>`, Swift
// `[String: String]`); the core keeps them sorted by key for its canonical CBOR.
uniffi::custom_type!(CustomFields, HashMap<String, String>, {
    remote,
    lower: |fields| fields.into_iter().collect(),
    try_lift: |fields| Ok(fields.into_iter().collect()),
});

// A record id crosses as its text (hyphenated, lower case), as the FFI's own types give ids;
// text that is not a UUID is refused with a plain message, never a panic.
uniffi::custom_type!(Uuid, String, {
    remote,
    lower: |id| id.to_string(),
    try_lift: |text| Uuid::parse_str(text.trim())
        .map_err(|_| uniffi::deps::anyhow::anyhow!("'{text}' is not a record id")),
});
