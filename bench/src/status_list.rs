//! Figure 7: the signed status list's size at ledger scale against the entropy of its statuses.

use std::time::Instant;

use crate::report::{Report, now, section};
use anyhow::Result;
use birthright_core::keys::Ed25519Key;

/// The signed status list's size at ledger scale (1% of leaves superseded at random positions,
/// seeded), against the entropy of that many statuses (the least any encoding needs) and the
/// decoder's declared limit.
pub(crate) fn status_list_sizes(report: &mut Report, quick: bool) -> Result<()> {
    use birthright_core::status_list::{
        LeafStatus, MAX_TOKEN_BYTES, StatusList, StatusListToken, TTL_SECS, VALIDITY_SECS,
    };
    section("7. Status list of registered credentials (2 bits per leaf, zlib), 1% superseded");
    let key = Ed25519Key::generate()?;
    let sizes: &[u64] = if quick {
        &[1_000_000]
    } else {
        &[1_000_000, 10_000_000]
    };
    for &n in sizes {
        // splitmix64, seeded: the same positions every run.
        let mut state = 0x5EED_u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut list = StatusList::new(n);
        let mut set = std::collections::HashSet::new();
        while (set.len() as u64) < n / 100 {
            let i = next() % n;
            if set.insert(i) {
                list.set(i, LeafStatus::Superseded);
            }
        }
        let started = Instant::now();
        let token = StatusListToken {
            origin: "registry.example.gov.ua/births".into(),
            issued_at: now().unix_timestamp(),
            expires_at: now().unix_timestamp() + VALIDITY_SECS,
            ttl: TTL_SECS,
            list,
        }
        .sign(&key)?;
        let built = started.elapsed();
        // Entropy of choosing which 1% are set: n·H(0.01) bits.
        let p = 0.01f64;
        let entropy_bytes = n as f64 * (-(p * p.log2()) - (1.0 - p) * (1.0 - p).log2()) / 8.0;
        let label = if n >= 10_000_000 { "10M" } else { "1M" };
        report.add(
            "status_list",
            format!("{label} leaves: signed token (compressed) bytes"),
            token.len() as f64,
            "B",
            "entropy of the statuses",
            Some(entropy_bytes),
        );
        report.add(
            "status_list",
            format!("{label} leaves: signed token (compressed) bytes"),
            token.len() as f64,
            "B",
            "decoder limit (MAX_TOKEN_BYTES)",
            Some(MAX_TOKEN_BYTES as f64),
        );
        report.add(
            "status_list",
            format!("{label} leaves: build, compress and sign"),
            built.as_secs_f64() * 1e3,
            "ms",
            "-",
            None,
        );
    }
    Ok(())
}
