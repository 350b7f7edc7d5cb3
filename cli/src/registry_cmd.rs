//! Registry administrator commands: init, serve, enrol-token, devices, revoke, recover.

use std::{io::Write, path::Path};

use anyhow::{Result, anyhow};
use birthright_core::keys::KeyId;
use birthright_registry::{
    Registry, http,
    service::{Database, Decision, parse_ttl},
};

use crate::{
    device_cmd::when,
    output::{coded, print_json, rfc3339},
};

/// `registry init`.
pub(crate) fn init(data: &Path, origin: &str, database: Option<&str>, json: bool) -> Result<()> {
    let database = match database {
        Some(url) => Database::from_url(url)?,
        None => Database::Sqlite,
    };
    let (registry, trust) = Registry::init_on(data, origin, &database)?;
    if json {
        return print_json(&serde_json::json!({
            "origin": registry.trust_bundle().origin,
            "data": data,
            "trust_bundle": trust,
            "trust_fingerprint": registry.trust_bundle().fingerprint()?,
        }));
    }
    println!(
        "registry {} created in {}",
        registry.trust_bundle().origin,
        data.display()
    );
    println!("trust bundle: {}", trust.display());
    Ok(())
}

/// `registry serve`: prints `listening on http://ADDR` once ready.
pub(crate) fn serve(
    data: &Path,
    listen: &str,
    database: Option<&str>,
    trusted_proxy_header: Option<&str>,
    trusted_proxies: Vec<std::net::IpAddr>,
) -> Result<()> {
    let trusted_proxy_header = trusted_proxy_header
        .map(|h| {
            h.parse::<http::HeaderName>()
                .map_err(|_| anyhow!("--trusted-proxy-header '{h}' is not a valid header name"))
        })
        .transpose()?;
    if trusted_proxy_header.is_none() && !trusted_proxies.is_empty() {
        return Err(anyhow!(
            "--trusted-proxy needs --trusted-proxy-header (e.g. X-Forwarded-For)"
        ));
    }
    let limits = http::Limits {
        trusted_proxy_header,
        trusted_proxies,
        ..http::Limits::default()
    };
    let database = Database::choose(data, database)?;
    let registry = Registry::open_on(data, &database)?;
    // A database restored from a backup is refused here, before anything is served.
    registry.checkpoint()?;
    let registry = std::sync::Arc::new(registry);
    let registrar =
        birthright_registry::registrar::Registrar::open(data, &database, registry.clone())?;
    http::run_with(
        registry,
        Some(std::sync::Arc::new(registrar)),
        listen,
        limits,
        |addr| {
            println!("listening on http://{addr}");
            let _ = std::io::stdout().flush();
        },
    )
    .map_err(|e| anyhow!("serving on {listen}: {e}"))
}

/// `registry tiles export`.
pub(crate) fn tiles_export(data: &Path, out: &Path, json: bool) -> Result<()> {
    let summary = birthright_registry::tiles::export(data, out)?;
    if json {
        return print_json(&serde_json::json!({
            "out": out,
            "size": summary.size,
            "written": summary.written,
            "kept": summary.kept,
        }));
    }
    println!(
        "exported the ledger of {} entries to {}: {} files written, {} already there",
        summary.size,
        out.display(),
        summary.written,
        summary.kept
    );
    Ok(())
}

/// `registry enrol-token`.
pub(crate) fn enrol_token(
    data: &Path,
    worker: &str,
    region: &str,
    ttl: &str,
    json: bool,
) -> Result<()> {
    let ttl_secs = parse_ttl(ttl).map_err(|e| coded("usage", format!("--ttl '{ttl}': {e}")))?;
    let registry = Registry::open(data)?;
    let token = registry.create_token(worker, region, ttl_secs)?;
    if json {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        return print_json(&serde_json::json!({
            "token": token,
            "worker_id": worker,
            "region": region,
            "expires_at": rfc3339(now.saturating_add(ttl_secs)),
            "trust_fingerprint": registry.trust_bundle().fingerprint()?,
        }));
    }
    println!("{token}");
    // The token alone on stdout (for scripts); the fingerprint the phone checks the registry
    // against before it uses the token goes with it to the worker.
    eprintln!(
        "trust fingerprint {} (the worker enters it with the token: device enrol --fingerprint)",
        registry.trust_bundle().fingerprint()?
    );
    Ok(())
}

/// `registry devices`.
pub(crate) fn devices(data: &Path, json: bool) -> Result<()> {
    let registry = Registry::open(data)?;
    let devices = registry.devices()?;
    if json {
        let list: Vec<_> = devices
            .iter()
            .map(|d| {
                serde_json::json!({
                    "device_kid": d.kid.to_string(),
                    "worker_id": d.worker_id,
                    "region": d.region,
                    "enrolled_at": rfc3339(d.enrolled_at),
                    "valid_from": rfc3339(d.not_before),
                    "valid_until": rfc3339(d.not_after),
                    "revoked_at": d.revoked_at.map(rfc3339),
                    "revoke_reason": d.revoke_reason,
                })
            })
            .collect();
        return print_json(&list);
    }
    if devices.is_empty() {
        println!("no devices enrolled");
    }
    for d in devices {
        let state = match (&d.revoked_at, &d.revoke_reason) {
            (Some(at), reason) => format!(
                "revoked {} ({}{})",
                when(*at),
                reason.as_deref().unwrap_or(""),
                d.revoke_note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
            (None, _) => "active".to_string(),
        };
        println!(
            "{}  worker {:<16} region {:<8} enrolled {}  valid until {}  {}",
            d.kid,
            d.worker_id,
            d.region,
            when(d.enrolled_at),
            when(d.not_after),
            state
        );
    }
    Ok(())
}

/// `registry revoke`.
pub(crate) fn revoke(
    data: &Path,
    kid: &str,
    reason: &str,
    note: Option<&str>,
    json: bool,
) -> Result<()> {
    let kid = KeyId::from_hex(kid).ok_or_else(|| {
        coded(
            "usage",
            format!("'{kid}' is not a device key id (16 hex digits)"),
        )
    })?;
    let registry = Registry::open(data)?;
    registry.revoke(&kid, reason, note)?;
    if json {
        return print_json(&serde_json::json!({
            "device_kid": kid.to_string(),
            "revoked": true,
            "reason": reason,
        }));
    }
    println!(
        "device {kid} revoked: from now on nothing new it sends is accepted, and its provisional \
         credentials verify as revoked (records already on the ledger stay)"
    );
    Ok(())
}

/// `registry revoke-credential`.
pub(crate) fn revoke_credential(
    data: &Path,
    leaf_index: u64,
    reason: &str,
    note: Option<&str>,
    json: bool,
) -> Result<()> {
    let registry = Registry::open(data)?;
    let newly = registry.revoke_credential(leaf_index, reason, note)?;
    if json {
        return print_json(&serde_json::json!({
            "leaf_index": leaf_index,
            "revoked": true,
            "already_revoked": !newly,
            "reason": reason,
        }));
    }
    if newly {
        println!(
            "the registered credential at ledger index {leaf_index} is revoked: it verifies as \
             revoked wherever the next status list is fetched (the record stays on the ledger)"
        );
    } else {
        println!("the registered credential at ledger index {leaf_index} was already revoked");
    }
    Ok(())
}

/// `registry duplicates`: the open pairs of possible duplicates, oldest first.
pub(crate) fn duplicates(data: &Path, json: bool) -> Result<()> {
    let registry = Registry::open(data)?;
    let pairs = registry.duplicates()?;
    if json {
        let list: Vec<_> = pairs
            .iter()
            .map(|p| {
                serde_json::json!({
                    "record_id": p.record_id,
                    "candidate_id": p.candidate_id,
                    "score": p.score,
                    "level": p.level,
                    "reasons": p.reasons,
                    "record_device_kid": p.record_kid.to_string(),
                    "candidate_device_kid": p.candidate_kid.to_string(),
                    "found_at": rfc3339(p.opened_at),
                })
            })
            .collect();
        return print_json(&list);
    }
    if pairs.is_empty() {
        println!("no possible duplicates waiting for review");
    }
    for p in pairs {
        println!(
            "record {} (held) may be record {}: {} ({} points), found {}\n  {}",
            p.record_id,
            p.candidate_id,
            p.level,
            p.score,
            when(p.opened_at),
            p.reasons.join("; ")
        );
    }
    Ok(())
}

/// `registry duplicates decide`: closes one pair with the registrar's decision.
pub(crate) fn decide_duplicate(
    data: &Path,
    record: &str,
    candidate: &str,
    duplicate: bool,
    json: bool,
) -> Result<()> {
    let id = |text: &str| {
        uuid::Uuid::parse_str(text.trim())
            .map_err(|_| coded("usage", format!("{text:?} is not a record id (a UUID)")))
    };
    let (record, candidate) = (id(record)?, id(candidate)?);
    let decision = if duplicate {
        Decision::Duplicate
    } else {
        Decision::NotDuplicate
    };
    let registry = Registry::open(data)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let decided = registry.decide_duplicate(&record, &candidate, decision, None, now)?;
    let still_held = registry.duplicates()?.iter().any(|p| p.record_id == record);
    if json {
        return print_json(&serde_json::json!({
            "record_id": record,
            "candidate_id": candidate,
            "decision": decision.as_str(),
            "still_held": still_held,
            "status": decided.as_ref().map(|d| d.status.clone()),
            "decision_leaf": decided.as_ref().map(|d| d.leaf_index),
        }));
    }
    let what = match decision {
        Decision::Duplicate => "the same child",
        Decision::NotDuplicate => "two children",
    };
    println!("recorded: records {record} and {candidate} are {what}");
    if still_held {
        println!("record {record} is still held: other possible duplicates of it wait for review");
    }
    if let Some(d) = decided {
        println!(
            "record {record} is now {} (decision at ledger index {})",
            d.status.replace('_', " "),
            d.leaf_index
        );
    }
    Ok(())
}

/// `registry policy show`: the review policy.
pub(crate) fn policy_show(data: &Path, json: bool) -> Result<()> {
    let registry = Registry::open(data)?;
    print_policy(&registry.review_policy()?, json)
}

/// `registry policy set`: changes the review policy (what is not given stays).
pub(crate) fn policy_set(
    data: &Path,
    max_age_days: Option<u32>,
    review_corrections: Option<bool>,
    json: bool,
) -> Result<()> {
    let registry = Registry::open(data)?;
    let mut policy = registry.review_policy()?;
    if let Some(days) = max_age_days {
        policy.max_age_days = days;
    }
    if let Some(review) = review_corrections {
        policy.review_corrections = review;
    }
    registry.set_review_policy(&policy)?;
    print_policy(&policy, json)
}

fn print_policy(policy: &birthright_registry::store::ReviewPolicy, json: bool) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "max_age_days": policy.max_age_days,
            "review_corrections": policy.review_corrections,
        }));
    }
    println!(
        "registered at once: a child born at most {} days before the registry received the \
         record, with no possible duplicate{}",
        policy.max_age_days,
        if policy.review_corrections {
            ", and not a correction"
        } else {
            " (corrections too)"
        }
    );
    println!("every other record waits for a registrar's review");
    Ok(())
}

/// `registry recover`: accepts a restored database's tree as the ledger head.
pub(crate) fn recover(data: &Path, json: bool) -> Result<()> {
    let recovery = Registry::recover(data)?;
    let (size, _) = recovery.current;
    if json {
        let previous = recovery.previous.as_ref().map(|(published, _)| *published);
        return print_json(&serde_json::json!({
            "tree_size": size,
            "previous_tree_size": previous,
            "lost_leaves": previous.map(|p| p.saturating_sub(size)),
        }));
    }
    match recovery.previous {
        Some((published, _)) if published > size => println!(
            "ledger head reset from {published} to {size} leaves: checkpoints published for the \
             lost {} leaves are now a fork; devices that verified them will refuse this registry \
             until they are reset. Tell the auditors (see recover.log)",
            published - size
        ),
        Some((published, _)) => println!(
            "ledger head set to the database's tree of {size} leaves (was {published}); see \
             recover.log"
        ),
        None => println!("ledger head set to the database's tree of {size} leaves"),
    }
    Ok(())
}

fn trust_summary(registry: &Registry, data: &Path) -> Result<birthright_core::trust::TrustBundle> {
    let trust = registry.write_trust_file(data)?;
    Ok(trust)
}

/// `registry witness add`.
pub(crate) fn witness_add(data: &Path, vkey: &str, url: &str, json: bool) -> Result<()> {
    let registry = Registry::open(data)?;
    let row = registry.add_witness(vkey, url)?;
    let trust = trust_summary(&registry, data)?;
    if json {
        return print_json(&serde_json::json!({
            "name": row.name,
            "vkey": row.vkey,
            "url": row.url,
            "quorum": trust.witness_quorum,
            "trust_fingerprint": trust.fingerprint()?,
        }));
    }
    println!("witness {} added ({})", row.name, row.url);
    println!(
        "quorum: {} of {}; trust bundle rewritten (fingerprint {}): give devices and verifiers the new one",
        trust.witness_quorum,
        trust.witnesses.len(),
        trust.fingerprint()?
    );
    Ok(())
}

/// `registry witness list`.
pub(crate) fn witness_list(data: &Path, json: bool) -> Result<()> {
    let registry = Registry::open(data)?;
    let witnesses = registry.witnesses()?;
    let quorum = registry.witness_quorum()?;
    if json {
        let list: Vec<_> = witnesses
            .iter()
            .map(|w| {
                serde_json::json!({
                    "name": w.name,
                    "vkey": w.vkey,
                    "url": w.url,
                    "cosigned_size": w.size,
                })
            })
            .collect();
        return print_json(&serde_json::json!({ "quorum": quorum, "witnesses": list }));
    }
    if witnesses.is_empty() {
        println!("no witnesses: checkpoints carry the registry's signature alone");
        return Ok(());
    }
    println!("quorum: {quorum} of {}", witnesses.len());
    for w in witnesses {
        let size = w.size.map_or("nothing cosigned yet".to_string(), |s| {
            format!("cosigned up to size {s}")
        });
        println!("{}  {}  {size}", w.name, w.url);
    }
    Ok(())
}

/// `registry witness quorum`.
pub(crate) fn witness_quorum(data: &Path, k: u32, json: bool) -> Result<()> {
    let registry = Registry::open(data)?;
    registry.set_witness_quorum(k)?;
    let trust = trust_summary(&registry, data)?;
    if json {
        return print_json(&serde_json::json!({
            "quorum": k,
            "witnesses": trust.witnesses.len(),
            "trust_fingerprint": trust.fingerprint()?,
        }));
    }
    println!(
        "quorum set to {k} of {}; trust bundle rewritten (fingerprint {}): give devices and verifiers the new one",
        trust.witnesses.len(),
        trust.fingerprint()?
    );
    Ok(())
}
