//! Witnessing (C2SP tlog-witness, client side): every checkpoint the registry publishes is
//! submitted to its witnesses, all at once, each with a timeout; each witness's last cosigned
//! size is remembered, and a 409 (the witness cosigned another size) is retried once with a
//! consistency proof from the size it names. Cosignatures are kept per checkpoint size, and the
//! checkpoint is served with every one collected (one note, several signature lines).
//!
//! Submission runs under one lock, so that two batches answered at once never race each other
//! to the same witness (which would turn one of them into a 409 for nothing).

use std::time::{Duration, Instant};

use birthright_core::ledger::{
    checkpoint::Checkpoint,
    cosignature::{CosignatureVerifier, add_signature_lines, split_note},
    witness::{AddCheckpoint, MAX_RESPONSE_BYTES, parse_conflict_body, verify_response},
};

use super::{Registry, ServiceError, now_unix};
use crate::store::WitnessRow;

/// Longest a witness may take to answer one request.
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(3);
/// How soon an unanswered checkpoint is submitted again when the checkpoint is read.
const RESUBMIT_INTERVAL: Duration = Duration::from_secs(1);

/// The outcome of one witness on one checkpoint (for logs and `registry witness list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// The witness cosigned.
    Cosigned,
    /// It had already cosigned this size (the stored line is reused).
    AlreadyCosigned,
    /// It is ahead of this checkpoint (it cosigned a larger size since).
    Ahead,
    /// It refused, with its HTTP status.
    Refused(u16),
    /// It could not be reached, or its answer was not a valid cosignature.
    Failed(String),
}

/// Checks a witness's submission URL: `https://…`, or `http://` on loopback only.
pub fn check_witness_url(url: &str) -> Result<String, ServiceError> {
    let url = url.trim().trim_end_matches('/');
    let bad = |m: &str| ServiceError::new(400, "bad_witness_url", m.to_string());
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("a witness URL is a URL without spaces"));
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(bad(
                "a witness URL must be https:// (http:// only on this machine)",
            ));
        }
    } else if !url.starts_with("https://") {
        return Err(bad("a witness URL must start with https://"));
    }
    Ok(url.to_string())
}

impl Registry {
    /// Trusts the witness `vkey` at submission prefix `url`. Returns its row.
    pub fn add_witness(&self, vkey: &str, url: &str) -> Result<WitnessRow, ServiceError> {
        let verifier = CosignatureVerifier::from_vkey(vkey)
            .map_err(|e| ServiceError::new(400, "bad_witness_key", e.to_string()))?;
        let mut witnesses = self.store.witnesses()?;
        if witnesses
            .iter()
            .any(|w| w.name != verifier.name() && w.vkey == verifier.to_vkey())
        {
            return Err(ServiceError::new(
                409,
                "witness_exists",
                "that key is already listed under another name",
            ));
        }
        let row = WitnessRow {
            name: verifier.name().to_string(),
            vkey: verifier.to_vkey(),
            url: check_witness_url(url)?,
            size: None,
        };
        if !witnesses.iter().any(|w| w.name == row.name) {
            witnesses.push(row.clone());
            // The policy the bundle will carry must stay valid (no duplicate keys, at most 32).
            birthright_core::ledger::cosignature::WitnessPolicy::from_vkeys(
                &witnesses.iter().map(|w| w.vkey.clone()).collect::<Vec<_>>(),
                0,
            )
            .map_err(|e| ServiceError::new(400, "bad_witness_key", e.to_string()))?;
        }
        if !self.store.add_witness(&row, now_unix())? {
            return Err(ServiceError::new(
                409,
                "witness_exists",
                format!("a witness named {} is listed with another key", row.name),
            ));
        }
        Ok(row)
    }

    /// The witnesses, with the size each last cosigned as far as the registry knows.
    pub fn witnesses(&self) -> Result<Vec<WitnessRow>, ServiceError> {
        Ok(self.store.witnesses()?)
    }

    /// The witness quorum K.
    pub fn witness_quorum(&self) -> Result<u32, ServiceError> {
        Ok(self.store.witness_quorum()?)
    }

    /// Sets the quorum K (at most the number of witnesses).
    pub fn set_witness_quorum(&self, quorum: u32) -> Result<(), ServiceError> {
        let n = self.store.witnesses()?.len();
        if quorum as usize > n {
            return Err(ServiceError::new(
                400,
                "bad_quorum",
                format!("a quorum of {quorum} needs {quorum} witnesses; {n} are listed"),
            ));
        }
        Ok(self.store.set_witness_quorum(quorum)?)
    }

    /// The latest checkpoint with every cosignature collected for it (`GET /v1/checkpoint`).
    /// If some witness has not cosigned it yet, it is submitted again first (at most once a
    /// second), so a witness back from an outage catches up on the next read.
    pub fn cosigned_checkpoint(&self) -> Result<String, ServiceError> {
        let (size, note) = self.store.latest_checkpoint(&self.signer())?;
        let witnesses = self.store.witnesses()?;
        if witnesses.is_empty() {
            return Ok(note);
        }
        let have = self.store.cosignatures(size)?.len();
        if have < witnesses.len() {
            let due = {
                let mut last = self.witness_retry.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.is_none_or(|(s, at)| s != size || at.elapsed() >= RESUBMIT_INTERVAL);
                if due {
                    *last = Some((size, Instant::now()));
                }
                due
            };
            if due {
                return self.witness(size, &note);
            }
        }
        self.with_cosignatures(size, &note)
    }

    /// `note` (the checkpoint of `size`) with the cosignature lines stored for it.
    pub(super) fn with_cosignatures(&self, size: u64, note: &str) -> Result<String, ServiceError> {
        let lines = self.store.cosignatures(size)?.concat();
        if lines.is_empty() {
            return Ok(note.to_string());
        }
        add_signature_lines(note, &lines).map_err(ServiceError::internal)
    }

    /// Submits the checkpoint `note` of `size` to every witness that has not cosigned it,
    /// concurrently, and returns it with every cosignature collected. Witnesses that fail
    /// are logged and skipped: the checkpoint is answered anyway, and devices decide by their
    /// bundle's quorum.
    pub fn witness(&self, size: u64, note: &str) -> Result<String, ServiceError> {
        let witnesses = self.store.witnesses()?;
        if witnesses.is_empty() {
            return Ok(note.to_string());
        }
        let _round = self.witness_lock.lock().unwrap_or_else(|e| e.into_inner());
        let done = self.store.cosignatures(size)?;
        let pending: Vec<WitnessRow> = witnesses
            .into_iter()
            .filter(|w| !done.iter().any(|l| line_names(l, &w.name)))
            .collect();
        if !pending.is_empty() {
            let outcomes: Vec<(String, Submission)> = std::thread::scope(|scope| {
                let handles: Vec<_> = pending
                    .iter()
                    .map(|w| scope.spawn(move || (w.name.clone(), self.submit(w, size, note))))
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            for (name, outcome) in outcomes {
                match outcome {
                    Submission::Cosigned | Submission::AlreadyCosigned => {}
                    other => eprintln!("registry: witness {name} on size {size}: {other:?}"),
                }
            }
        }
        self.with_cosignatures(size, note)
    }

    /// One witness, one checkpoint: `add-checkpoint` from the size it last cosigned (as far as
    /// the registry knows), once more from the size a 409 names.
    fn submit(&self, w: &WitnessRow, size: u64, note: &str) -> Submission {
        let Ok(verifier) = CosignatureVerifier::from_vkey(&w.vkey) else {
            return Submission::Failed("its stored key is not valid".into());
        };
        let text = match split_note(note) {
            Ok(split) => split.text.to_string(),
            Err(e) => return Submission::Failed(e.to_string()),
        };
        if Checkpoint::parse(&text).map(|c| c.size) != Ok(size) {
            return Submission::Failed("the checkpoint does not parse".into());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(WITNESS_TIMEOUT))
            .build()
            .into();
        let mut old = w.size.unwrap_or(0);
        for _attempt in 0..2 {
            if old > size {
                return Submission::Ahead;
            }
            let proof = match self.store.consistency_proof(old, size) {
                Ok(p) => p,
                Err(e) => return Submission::Failed(e.to_string()),
            };
            let body = AddCheckpoint {
                old_size: old,
                proof,
                checkpoint: note.to_string(),
            }
            .to_body();
            let response = agent
                .post(&format!("{}/add-checkpoint", w.url))
                .header("content-type", "text/plain; charset=utf-8")
                .send(body.as_bytes());
            let mut response = match response {
                Ok(r) => r,
                Err(e) => return Submission::Failed(e.to_string()),
            };
            let status = response.status().as_u16();
            let answer = match response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE_BYTES as u64)
                .read_to_vec()
            {
                Ok(a) => a,
                Err(e) => return Submission::Failed(e.to_string()),
            };
            match status {
                200 => {
                    return match verify_response(&verifier, &text, &answer) {
                        Ok(cosignature) => {
                            match self.store.record_witness_size(
                                &w.name,
                                size,
                                Some(&cosignature.to_line()),
                                false,
                            ) {
                                Ok(()) => Submission::Cosigned,
                                Err(e) => Submission::Failed(e.to_string()),
                            }
                        }
                        Err(e) => Submission::Failed(e.to_string()),
                    };
                }
                409 => {
                    let Some(latest) = parse_conflict_body(&answer) else {
                        return Submission::Failed("a 409 without a size".into());
                    };
                    if let Err(e) = self.store.record_witness_size(&w.name, latest, None, true) {
                        return Submission::Failed(e.to_string());
                    }
                    if latest == old {
                        return Submission::Failed("a 409 naming the size sent".into());
                    }
                    old = latest;
                }
                status => return Submission::Refused(status),
            }
        }
        Submission::Failed("the witness's size kept changing".into())
    }
}

/// Whether a cosignature line is by the witness `name`.
fn line_names(line: &str, name: &str) -> bool {
    line.strip_prefix("\u{2014} ")
        .and_then(|rest| rest.split_once(' '))
        .is_some_and(|(n, _)| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_urls() {
        assert_eq!(
            check_witness_url("https://w.example/sub/").unwrap(),
            "https://w.example/sub"
        );
        assert!(check_witness_url("http://127.0.0.1:8090").is_ok());
        assert!(check_witness_url("http://localhost:1/x").is_ok());
        assert!(check_witness_url("http://w.example").is_err());
        assert!(check_witness_url("ftp://w.example").is_err());
        assert!(check_witness_url("https://w.example/a b").is_err());
    }

    #[test]
    fn lines_by_name() {
        assert!(line_names("\u{2014} w.test/a AAAA", "w.test/a"));
        assert!(!line_names("\u{2014} w.test/ab AAAA", "w.test/a"));
        assert!(!line_names("garbage", "w.test/a"));
    }
}
