#![no_main]
//! The JSON form and validation.
use birthright_core::{record::RegistrationForm, validate::validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    if let Ok(json) = std::str::from_utf8(data)
        && let Ok(input) = RegistrationForm::from_json(json)
        && let Ok(normal) = validate(&input, at)
    {
        assert_eq!(validate(&normal, at).ok(), Some(normal));
    }
});
