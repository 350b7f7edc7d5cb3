//! Size baseline: the least a library storing signed records in SQLite links. One exported
//! function signs a message, verifies it and stores it with its signature in a SQLite database,
//! so neither dependency is optimised away.

use std::ffi::{CStr, c_char};

use ed25519_dalek::{Signer, SigningKey};

/// Signs `len` bytes at `message` with the 32-byte `seed`, verifies the signature and inserts
/// both into the SQLite database at `path`. Returns 0 on success, -1 on any failure.
///
/// # Safety
/// `path` must be a NUL-terminated string; `seed` must point to 32 bytes and `message` to `len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn baseline_store_signed(
    path: *const c_char,
    seed: *const u8,
    message: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: the caller guarantees the pointers and lengths (see above).
    let (path, seed, message) = unsafe {
        (
            CStr::from_ptr(path),
            &*seed.cast::<[u8; 32]>(),
            std::slice::from_raw_parts(message, len),
        )
    };
    let key = SigningKey::from_bytes(seed);
    let signature = key.sign(message);
    if key.verifying_key().verify_strict(message, &signature).is_err() {
        return -1;
    }
    let stored = path.to_str().ok().and_then(|path| {
        let conn = rusqlite::Connection::open(path).ok()?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS t (message BLOB NOT NULL, signature BLOB NOT NULL)",
        )
        .ok()?;
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2)",
            rusqlite::params![message, signature.to_bytes().as_slice()],
        )
        .ok()
    });
    if stored.is_some() { 0 } else { -1 }
}
