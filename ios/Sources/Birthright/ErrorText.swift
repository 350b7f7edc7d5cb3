import BirthrightFFI

// UniFFI 0.32 generates `BirthrightError.description` from Rust's `Display` (the
// plain-language reason) but does not declare `CustomStringConvertible` for error enums, and its
// `errorDescription` is `String(reflecting: self)`. Declaring the conformance here makes
// `"\(error)"`, `error.localizedDescription` and `errorDescription` that reason instead of a
// dump of the enum case. (If a later UniFFI declares it itself, delete this line.)
extension BirthrightError: CustomStringConvertible {}
