//! `cargo run -p birthright-ffi --features bindgen --bin uniffi-bindgen -- generate ...`
fn main() {
    uniffi::uniffi_bindgen_main()
}
