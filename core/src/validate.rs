//! TEMPORARY LOCAL PLACEHOLDER - never committed; replaced by the validate branch.
use crate::record::EnrolmentInput;
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);
pub fn validate(
    input: &EnrolmentInput,
    _at: time::OffsetDateTime,
) -> Result<EnrolmentInput, ValidationErrors> {
    if input.child.given_names.is_empty() {
        return Err(ValidationErrors(vec![FieldError {
            path: "child.given_names".into(),
            message: "is required".into(),
        }]));
    }
    Ok(input.clone())
}
