#![no_main]
//! The JSON form and validation.
use birthright_core::{record::EnrolmentInput, validate::validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = std::str::from_utf8(data) {
        if let Ok(input) = EnrolmentInput::from_json(json) {
            if let Ok(normal) = validate(
                &input,
                time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            ) {
                assert_eq!(
                    validate(
                        &normal,
                        time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)
                    )
                    .ok(),
                    Some(normal)
                );
            }
        }
    }
});
