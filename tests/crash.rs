//! Crash safety: a record `capture` reported as captured survives a SIGKILL at any instant.
//!
//! The test re-runs its own binary as a child that captures in a tight loop and prints each id
//! once `capture` has returned; the parent SIGKILLs it at a random moment, several times, then
//! reopens the store and checks every reported record is there, intact and verifiable.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use birthright_core::{
    device::Device, keys::verifying_key, record::RegistrationForm, store::StorageKey,
};

const CHILD_ENV: &str = "BIRTHRIGHT_CRASH_CHILD_DIR";
const KEY_HEX: &str = "5f1e0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const OLENA: &str = include_str!("../docs/examples/olena.json");

fn key() -> StorageKey {
    StorageKey::from_hex(KEY_HEX).unwrap()
}

/// The child side: does nothing unless started by `captures_survive_sigkill`.
#[test]
fn crash_child_capture_loop() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let device = Device::open(&Path::new(&dir).join("device.db"), key()).unwrap();
    let input = RegistrationForm::from_json(OLENA).unwrap();
    loop {
        let summary = device.capture(&input).unwrap().summary;
        // Printed only after capture returned: the promise under test.
        println!("CAPTURED {}", summary.id);
    }
}

#[test]
fn captures_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    {
        let device = Device::create(&dir.path().join("device.db"), key()).unwrap();
        device.init("crash-test").unwrap();
    }
    let me = std::env::current_exe().unwrap();
    let mut reported = Vec::new();
    let mut seed = std::process::id() as u64;
    for round in 0..5 {
        let mut child = Command::new(&me)
            .args([
                "--exact",
                "crash_child_capture_loop",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a pseudo-random 20..400 ms of capturing.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(20 + (seed >> 33) % 380);
        let pid = child.id() as i32;
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let started = Instant::now();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("CAPTURED ") {
                reported.push(uuid::Uuid::parse_str(id.trim()).unwrap());
            }
        }
        killer.join().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the child must have been killed"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert!(
        reported.len() >= 5,
        "the children captured something ({})",
        reported.len()
    );
    let device = Device::open(&dir.path().join("device.db"), key()).unwrap();
    let public = verifying_key(&device.identity().unwrap().public_key).unwrap();
    for id in &reported {
        let stored = device
            .get(id)
            .unwrap_or_else(|e| panic!("record {id} reported captured but lost: {e}"));
        stored.signed.verify(&public).unwrap();
    }
    let counts = device.counts().unwrap();
    assert!(counts.pending as usize >= reported.len());
    eprintln!(
        "{} reported captures all survived 5 SIGKILLs ({} on disk)",
        reported.len(),
        counts.pending
    );
}
