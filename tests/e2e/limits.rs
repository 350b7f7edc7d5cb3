//! Resource limits of the real registry process against hostile input (the resource-limits
//! issue): a tiny request that would inflate into millions of records is refused without the
//! memory it asks for.

use std::sync::Arc;

use birthright_core::{fixtures, trust::TrustBundle};

use crate::support::*;

/// Peak resident memory of process `pid` so far (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn batch_of_empty_records(trust: &TrustBundle, n: u32) -> Vec<u8> {
    fixtures::batch_claiming_empty_records(&trust.hpke_public_key().unwrap(), n)
}

fn post_batch(url: &str, body: &[u8]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&format!("{url}/v1/batches"))
        .header("content-type", "application/cbor")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn millions_of_empty_records_in_a_small_request_cost_the_registry_little_memory() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let trust = TrustBundle::from_json(&std::fs::read(trust_file(&registry)).unwrap()).unwrap();
    // Warm up: the first answers allocate what every request needs.
    http_get(&format!("{}/v1/checkpoint", registry.url));
    let idle = peak_rss_kib(registry.pid());

    // The reported request (19 million empty byte strings, an 18 KB body), and ones that
    // inflate within the cap and must be refused at the count limit, 16 at once.
    let huge = batch_of_empty_records(&trust, 19_000_000);
    assert!(huge.len() < 64 * 1024, "{} bytes", huge.len());
    let (status, body) = post_batch(&registry.url, &huge);
    assert_eq!(status, 400, "{body}");
    let within_cap = Arc::new(batch_of_empty_records(&trust, 2_000_000));
    let url = registry.url.clone();
    let answers: Vec<(u16, String)> = (0..16)
        .map(|_| {
            let (url, body) = (url.clone(), within_cap.clone());
            std::thread::spawn(move || post_batch(&url, &body))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    for (status, body) in &answers {
        // Refused as malformed, or told to come back when the ingest bound is reached.
        assert!(*status == 400 || *status == 503, "{status} {body}");
    }
    assert!(
        answers
            .iter()
            .any(|(s, b)| *s == 400 && b.contains("too many records"))
    );

    let peak = peak_rss_kib(registry.pid());
    let extra_mib = peak.saturating_sub(idle) / 1024;
    println!(
        "registry peak memory: idle {} MiB, +{extra_mib} MiB under the attack",
        idle / 1024
    );
    assert!(extra_mib < 64, "the registry grew by {extra_mib} MiB");
    // Still serving.
    assert_eq!(tree_size(&registry.url), 0);
}
