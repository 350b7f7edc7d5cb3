//! UniFFI custom types for the core's types that UniFFI has no built-in form for (the `uniffi`
//! feature only).

use std::collections::HashMap;

use crate::record::CustomFields;

// A form's custom fields cross as a plain map (Kotlin `Map<String, String>`, Swift
// `[String: String]`); the core keeps them sorted by key for its canonical CBOR.
uniffi::custom_type!(CustomFields, HashMap<String, String>, {
    remote,
    lower: |fields| fields.into_iter().collect(),
    try_lift: |fields| Ok(fields.into_iter().collect()),
});
