//! Keeps values out of error messages. Decoder errors (serde_json, serde_cbor) quote the value
//! they could not use, and that value may be a child's name; messages that reach logs, the
//! registry's answers or an app's screen go through [`values`] first.

/// `message` with every quoted value replaced by `…`: `"…"` strings, and the `…` after
/// `variant`, `value` or `type` in serde's "unknown variant `x`" style, and the name in
/// "unknown field `x`" (a key from the input). Field names quoted by serde
/// (`` missing field `given_names` ``, the expected list) are kept: they are the schema.
pub fn values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    // After "expected", serde lists what the schema allows: names, not input.
    let mut listing_expected = false;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[start] as char;
        let Some(len) = rest[start + 1..].find(quote) else {
            break;
        };
        let before = &rest[..start];
        let quoted = &rest[start + 1..start + 1 + len];
        out.push_str(before);
        listing_expected |= before.contains("expected");
        // The name after "unknown field" is input (a name typed as a key, say), not schema.
        let names_field =
            before.trim_end().ends_with("field") && !before.trim_end().ends_with("unknown field");
        let is_value = quote == '"' || !(listing_expected || names_field);
        out.push(quote);
        out.push_str(if is_value { "…" } else { quoted });
        out.push(quote);
        rest = &rest[start + 2 + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn values_are_dropped_and_field_names_kept() {
        assert_eq!(
            values(r#"invalid type: string "Олена", expected u8"#),
            r#"invalid type: string "…", expected u8"#
        );
        assert_eq!(
            values("unknown variant `Олена`, expected one of `female`, `male`, `unknown`"),
            "unknown variant `…`, expected one of `female`, `male`, `unknown`"
        );
        assert_eq!(
            values("unknown field `Олена`, expected one of `child`, `notes`"),
            "unknown field `…`, expected one of `child`, `notes`"
        );
        assert_eq!(values("missing field `child`"), "missing field `child`");
        assert_eq!(values("an \"unclosed quote"), "an \"unclosed quote");
        assert_eq!(values(""), "");
    }
}
