//! Witness operator commands: init, add-log, show, serve.

use std::{io::Write, path::Path};

use anyhow::{Result, anyhow};
use birthright_registry::{
    http::Limits,
    witness::{self, Witness},
};

use crate::output::print_json;

/// `witness init`: prints the verifier key.
pub fn init(data: &Path, name: &str, json: bool) -> Result<()> {
    let witness = Witness::init(data, name)?;
    if json {
        return print_json(&serde_json::json!({
            "name": witness.name(),
            "data": data,
            "vkey": witness.verifier_key(),
        }));
    }
    println!("witness {} created in {}", witness.name(), data.display());
    println!("verifier key: {}", witness.verifier_key());
    Ok(())
}

/// `witness add-log`.
pub fn add_log(data: &Path, origin: &str, vkey: &str, json: bool) -> Result<()> {
    let witness = Witness::open(data)?;
    witness.add_log(origin, vkey)?;
    if json {
        return print_json(&serde_json::json!({ "origin": origin, "vkey": vkey.trim() }));
    }
    println!("witness {} now follows {origin}", witness.name());
    Ok(())
}

/// `witness show`.
pub fn show(data: &Path, json: bool) -> Result<()> {
    let witness = Witness::open(data)?;
    let logs = witness.logs()?;
    if json {
        let logs: Vec<_> = logs
            .iter()
            .map(|l| {
                serde_json::json!({
                    "origin": l.origin,
                    "vkeys": l.vkeys,
                    "cosigned_size": l.cosigned_size,
                })
            })
            .collect();
        return print_json(&serde_json::json!({
            "name": witness.name(),
            "vkey": witness.verifier_key(),
            "logs": logs,
        }));
    }
    println!("witness {}", witness.name());
    println!("verifier key: {}", witness.verifier_key());
    if logs.is_empty() {
        println!("follows no log yet (add one with 'birthright witness add-log')");
    }
    for log in logs {
        match log.cosigned_size {
            Some(size) => println!("{}: cosigned up to size {size}", log.origin),
            None => println!("{}: nothing cosigned yet", log.origin),
        }
    }
    Ok(())
}

/// `witness serve`: prints `listening on http://ADDR` once ready.
pub fn serve(data: &Path, listen: &str) -> Result<()> {
    let witness = Witness::open(data)?;
    // A witness hears from a few logs, each once per checkpoint: a higher rate per client than
    // the registry allows its devices, the rest of the registry's limits unchanged.
    let limits = Limits {
        requests_per_second: 50.0,
        burst: 200.0,
        ..Limits::default()
    };
    witness::http::run(witness, listen, limits, |addr| {
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })
    .map_err(|e| anyhow!("serving on {listen}: {e}"))
}
