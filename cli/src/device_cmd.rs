//! Device-role commands: init, capture, correct, list, show.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow, bail};
use birthright_core::{
    device::{Device, DeviceError, ListFilter, RecordSummary, StoredRecord},
    record::{DatePrecision, Sex},
    store::{RecordStatus, StorageKey},
};
use uuid::Uuid;

use crate::DeviceArgs;

/// Environment variable holding the storage key as 64 hex characters.
pub(crate) const STORAGE_KEY_ENV: &str = "BIRTHRIGHT_STORAGE_KEY";

fn db_path(data: &Path) -> PathBuf {
    data.join("device.db")
}

fn default_key_file(data: &Path) -> PathBuf {
    data.join("storage.key")
}

/// Reads the storage key: `--key-file`, else the environment, else DIR/storage.key.
fn storage_key(args: &DeviceArgs) -> Result<StorageKey> {
    if let Some(file) = &args.key_file {
        return read_key_file(file);
    }
    if let Ok(hex) = std::env::var(STORAGE_KEY_ENV) {
        return StorageKey::from_hex(&hex).map_err(|e| anyhow!("{STORAGE_KEY_ENV}: {e}"));
    }
    let file = default_key_file(&args.data);
    if file.exists() {
        return read_key_file(&file);
    }
    Err(crate::output::coded(
        "no_storage_key",
        format!(
            "no storage key: set {STORAGE_KEY_ENV}, pass --key-file, or run `birthright device \
             init --data {}` first",
            args.data.display()
        ),
    ))
}

fn read_key_file(file: &Path) -> Result<StorageKey> {
    warn_if_readable_by_others(file);
    let bytes = zeroize::Zeroizing::new(crate::files::read_bounded_or_stdin(
        file,
        crate::files::MAX_KEY_FILE_BYTES,
    )?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow!("key file {}: not text (64 hex digits)", file.display()))?;
    StorageKey::from_hex(text).map_err(|e| anyhow!("key file {}: {e}", file.display()))
}

/// Mode bits that let the group or other users read, write or enter.
#[cfg(unix)]
const GROUP_OR_OTHERS: u32 = 0o077;

/// Prints a warning when the key file can be read by users other than its owner: whoever
/// reads it can decrypt the device store.
fn warn_if_readable_by_others(file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(file) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & GROUP_OR_OTHERS != 0 {
                eprintln!(
                    "warning: the storage key file {} can be read by other users (mode {mode:04o}): \
                     anyone who reads it can decrypt this device's registrations; run \
                     `chmod 600 {}`",
                    file.display(),
                    file.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
}

/// Creates the device data directory (and its parents) if needed and makes it private to its
/// owner (0700): it holds the storage key and the store. For `device init` to call before it
/// creates anything inside; every other device command applies it when opening the store.
pub(crate) fn secure_data_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// Makes the store's files (`device.db` and SQLite's `-wal` and `-shm` beside it) readable and
/// writable by their owner only (0600). For after the store is opened (SQLite creates them
/// with the process umask).
pub(crate) fn restrict_store_files(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["device.db", "device.db-wal", "device.db-shm"] {
            let path = dir.join(name);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_file() && meta.permissions().mode() & GROUP_OR_OTHERS != 0 {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private (0600)", path.display()))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes a new key file readable only by its owner.
pub(crate) fn create_key_file(file: &Path, key: &StorageKey) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(file)
        .with_context(|| format!("creating key file {}", file.display()))?;
    f.write_all(key.to_hex().as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

/// Opens the device at `args.data`.
pub(crate) fn open(args: &DeviceArgs) -> Result<Device> {
    let path = db_path(&args.data);
    if !path.exists() {
        return Err(crate::output::coded(
            "not_initialised",
            format!(
                "no device store in {}: run `birthright device init --data {}` first",
                args.data.display(),
                args.data.display()
            ),
        ));
    }
    let device = Device::open(&path, storage_key(args)?)?;
    // Best effort on a store that exists already (it may have been created before these modes
    // were applied, or by `device init`): a directory of someone else's is not ours to change.
    if let Err(e) = secure_data_dir(&args.data).and_then(|_| restrict_store_files(&args.data)) {
        eprintln!("warning: {e:#}");
    }
    Ok(device)
}

/// `device init`.
pub(crate) fn init(args: &DeviceArgs, worker: &str, json: bool) -> Result<()> {
    // Checked before anything is created: a typo must not leave a key file or a store behind.
    if !birthright_core::device::valid_worker_id(worker) {
        return Err(DeviceError::InvalidWorkerId.into());
    }
    secure_data_dir(&args.data)?;
    let key = if args.key_file.is_none() && std::env::var(STORAGE_KEY_ENV).is_err() {
        let file = default_key_file(&args.data);
        if file.exists() {
            read_key_file(&file)?
        } else {
            let key = StorageKey::generate()?;
            create_key_file(&file, &key)?;
            eprintln!(
                "created storage key file {} (mode 0600); on a real device the key lives in the \
                 Android Keystore or iOS Keychain",
                file.display()
            );
            key
        }
    } else {
        storage_key(args)?
    };
    let path = db_path(&args.data);
    let device = if path.exists() {
        // Already there: opening it reports its identity ("already initialised") below.
        Device::open(&path, key)?
    } else {
        Device::create(&path, key)?
    };
    let identity = device.init(worker)?;
    restrict_store_files(&args.data)?;
    if json {
        return crate::output::print_json(&serde_json::json!({
            "device_kid": identity.key_id.to_string(),
            "worker_id": identity.worker_id,
        }));
    }
    println!("device key id {}", identity.key_id);
    println!("worker id     {}", identity.worker_id);
    Ok(())
}

/// Reads a JSON form from a file or stdin (`-`), refusing more than the core accepts.
fn read_json(source: &str) -> Result<String> {
    let limit = birthright_core::record::MAX_JSON_BYTES as u64;
    let mut text = String::new();
    let read = if source == "-" {
        std::io::stdin().take(limit + 1).read_to_string(&mut text)
    } else {
        fs::File::open(source).and_then(|f| f.take(limit + 1).read_to_string(&mut text))
    }
    .with_context(|| format!("reading {source}"))?;
    if read as u64 > limit {
        return Err(crate::output::coded(
            "invalid_form",
            format!("{source} is larger than the {limit} bytes a registration form may have"),
        ));
    }
    Ok(text)
}

/// Turns validation errors into one line per field for the terminal.
fn explain(e: DeviceError) -> anyhow::Error {
    match e {
        DeviceError::Validation(errors) => {
            let list = errors.lines().replace('\n', "\n  ");
            crate::output::coded_with(
                "invalid_form",
                format!(
                    "the registration has {} problem(s):\n  {list}",
                    errors.0.len()
                ),
                serde_json::json!({ "problems": errors.0 }),
            )
        }
        other => other.into(),
    }
}

fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim())
        .map_err(|_| crate::output::coded("usage", format!("'{id}' is not a record id (a UUID)")))
}

/// `capture` and `correct`.
pub(crate) fn capture(
    args: &DeviceArgs,
    json_source: &str,
    correct: Option<&str>,
    json_output: bool,
) -> Result<()> {
    if json_source == "-" && args.key_file.as_deref() == Some(Path::new("-")) {
        return Err(crate::output::coded(
            "usage",
            "the form and the storage key cannot both come from standard input",
        ));
    }
    let device = open(args)?;
    let json = read_json(json_source)?;
    let input = birthright_core::record::RegistrationForm::from_json(&json).map_err(|e| {
        crate::output::coded(
            "invalid_form",
            format!("the registration form is not valid: {e}"),
        )
    })?;
    let captured = match correct {
        None => device.capture(&input),
        Some(id) => device.correct(&parse_id(id)?, &input),
    }
    .map_err(explain)?;
    let now = time::OffsetDateTime::now_utc();
    if json_output {
        let mut out = summary_json(&captured.summary);
        out["possible_duplicates"] = captured
            .possible_duplicates
            .iter()
            .map(|d| duplicate_json(d, now))
            .collect();
        out["registry_hints"] = captured
            .registry_hints
            .iter()
            .map(|h| {
                let candidates: Vec<_> = h
                    .held
                    .candidates
                    .iter()
                    .zip(h.sentences(now))
                    .map(|(c, message)| {
                        serde_json::json!({
                            "level": c.level,
                            "score": c.score,
                            "child_name": c.child_name,
                            "date_of_birth": c.date_of_birth,
                            "captured_at": when(c.captured_at),
                            "reasons": c.reasons,
                            "message": message,
                        })
                    })
                    .collect();
                serde_json::json!({ "held_record_id": h.record_id, "candidates": candidates })
            })
            .collect();
        return crate::output::print_json(&out);
    }
    println!("{}", captured.summary.id);
    warn_duplicates(&captured.possible_duplicates, now, None);
    for hint in &captured.registry_hints {
        for sentence in hint.sentences(now) {
            eprintln!(
                "{sentence} [the registry holds record {} for review]",
                hint.record_id
            );
        }
    }
    Ok(())
}

/// One possible duplicate in `capture --json`.
fn duplicate_json(
    d: &birthright_core::device::PossibleDuplicate,
    now: time::OffsetDateTime,
) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "child_name": d.child_name,
        "date_of_birth": d.date_of_birth,
        "captured_at": when(d.captured_at),
        "status": d.status.as_str(),
        "level": d.level.as_str(),
        "score": d.score,
        "reasons": d.reasons,
        "message": d.sentence(now),
    })
}

/// Tells the worker on standard error which records the new one may duplicate (the record
/// is stored either way). `line`: the form's line in an import.
fn warn_duplicates(
    found: &[birthright_core::device::PossibleDuplicate],
    now: time::OffsetDateTime,
    line: Option<usize>,
) {
    for d in found {
        let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
        eprintln!(
            "{at}{} [{} duplicate, record {}: {}]",
            d.sentence(now),
            d.level.as_str(),
            d.id,
            d.reasons.join("; ")
        );
    }
}

/// Most forms one `capture --json-lines` imports (one transaction holds them all).
pub(crate) const MAX_IMPORT_FORMS: usize = 10_000;
/// Most bytes of one `capture --json-lines` input (all forms are held in memory at once).
pub(crate) const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

/// `capture --json-lines`: one JSON form per line, captured in one transaction, all or
/// nothing. Every unreadable or invalid form is reported with its line number (and field
/// path); the values are never repeated.
pub(crate) fn capture_lines(args: &DeviceArgs, source: &str, json_out: bool) -> Result<()> {
    let limit = MAX_IMPORT_BYTES;
    let mut text = String::new();
    let read = if source == "-" {
        std::io::stdin().take(limit + 1).read_to_string(&mut text)
    } else {
        fs::File::open(source).and_then(|f| f.take(limit + 1).read_to_string(&mut text))
    }
    .with_context(|| format!("reading {source}"))?;
    if read as u64 > limit {
        bail!("{source} is larger than the {limit} bytes one import may have: split it");
    }
    let mut forms = Vec::new();
    let mut line_of = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match birthright_core::record::RegistrationForm::from_json(line) {
            Ok(form) => {
                forms.push(form);
                line_of.push(n + 1);
            }
            Err(e) => problems.push((n + 1, format!("the form cannot be read: {e}"))),
        }
    }
    if problems.is_empty() && forms.len() > MAX_IMPORT_FORMS {
        bail!(
            "{source} has {} forms; import at most {MAX_IMPORT_FORMS} at a time",
            forms.len()
        );
    }
    if problems.is_empty() && forms.is_empty() {
        bail!("{source} has no registration forms (one JSON form per line)");
    }
    let now = time::OffsetDateTime::now_utc();
    if !problems.is_empty() {
        // Nothing will be stored: still report what is wrong with the forms that could be read.
        for (form, line) in forms.iter().zip(&line_of) {
            if let Err(errors) = birthright_core::validate::validate(form, now) {
                problems.extend(
                    errors
                        .0
                        .into_iter()
                        .map(|e| (*line, format!("{}: {}", e.path, e.message))),
                );
            }
        }
    } else {
        let device = open(args)?;
        match device.capture_batch(&forms, now) {
            Ok(done) => {
                let ids: Vec<String> = done.iter().map(|s| s.summary.id.to_string()).collect();
                if !json_out {
                    for (captured, line) in done.iter().zip(&line_of) {
                        warn_duplicates(&captured.possible_duplicates, now, Some(*line));
                    }
                }
                if json_out {
                    println!("{}", serde_json::to_string_pretty(&ids)?);
                } else {
                    for id in ids {
                        println!("{id}");
                    }
                }
                return Ok(());
            }
            Err(DeviceError::Validation(errors)) => {
                for e in &errors.0 {
                    let (line, path) = match e.batch_item() {
                        Some((i, path)) => (line_of.get(i).copied().unwrap_or(0), path),
                        None => (0, e.path.as_str()),
                    };
                    problems.push((line, format!("{path}: {}", e.message)));
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    problems.sort_by_key(|(line, _)| *line);
    let list: Vec<String> = problems
        .iter()
        .map(|(line, problem)| format!("line {line}: {problem}"))
        .collect();
    bail!(
        "nothing was imported: {} problem(s) in {source}:\n  {}",
        list.len(),
        list.join("\n  ")
    )
}

/// A Unix time as RFC 3339 UTC, or the number if it is out of range.
pub(crate) fn when(unix: i64) -> String {
    crate::output::rfc3339(unix)
}

/// A record summary as JSON, its capture time in RFC 3339.
fn summary_json(r: &RecordSummary) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "captured_at": when(r.captured_at),
        "status": r.status.as_str(),
        "child_name": r.child_name,
        "date_of_birth": r.date_of_birth,
        "mother_name": r.mother_name,
        "supersedes": r.supersedes,
        "superseded_by": r.superseded_by,
        "reject_code": r.reject_code,
        "reject_message": r.reject_message,
        "leaf_index": r.leaf_index,
        "decided_at": r.decided_at.map(when),
    })
}

/// `list`.
pub(crate) fn list(
    args: &DeviceArgs,
    status: Option<RecordStatus>,
    search: Option<String>,
    json: bool,
) -> Result<()> {
    let device = open(args)?;
    let records = device.list(&ListFilter {
        status,
        search,
        ..ListFilter::default()
    })?;
    if json {
        let records: Vec<_> = records.iter().map(summary_json).collect();
        return crate::output::print_json(&records);
    }
    for r in &records {
        println!("{}", list_line(r));
    }
    let counts = device.counts()?;
    eprintln!(
        "{} shown; on this device: {} pending, {} in flight, {} acknowledged, {} registered, \
         {} rejected",
        records.len(),
        counts.pending,
        counts.in_flight,
        counts.acknowledged,
        counts.registered,
        counts.rejected
    );
    Ok(())
}

fn list_line(r: &RecordSummary) -> String {
    let mut line = format!(
        "{}  {:<12}  {}  {}  (born {})",
        r.id,
        r.status.as_str(),
        when(r.captured_at),
        r.child_name,
        r.date_of_birth
    );
    if let Some(by) = r.superseded_by {
        line.push_str(&format!("  [corrected by {by}]"));
    }
    if let Some(message) = &r.reject_message {
        line.push_str(&format!("  [rejected: {message}]"));
    }
    line
}

/// `show`.
pub(crate) fn show(args: &DeviceArgs, id: &str, json: bool) -> Result<()> {
    let device = open(args)?;
    let stored = device.get(&parse_id(id)?)?;
    if json {
        crate::output::print_json(&show_json(&stored))?;
    } else {
        print!("{}", show_text(&stored));
    }
    Ok(())
}

fn show_json(stored: &StoredRecord) -> serde_json::Value {
    let record = &stored.signed.record;
    serde_json::json!({
        "id": record.id,
        "status": stored.summary.status.as_str(),
        "captured_at": when(record.captured_at),
        "worker_id": record.worker_id,
        "device_kid": hex::encode(&record.device_kid),
        "schema_version": record.schema_version,
        "supersedes": record.supersedes,
        "superseded_by": stored.summary.superseded_by,
        "reject_code": stored.summary.reject_code,
        "reject_message": stored.summary.reject_message,
        "leaf_index": stored.summary.leaf_index,
        "decided_at": stored.summary.decided_at.map(when),
        "signed_record_bytes": stored.signed.bytes.len(),
        "enrolment": record.enrolment,
    })
}

/// How precisely a date of birth is known, in words.
fn precision_text(precision: Option<DatePrecision>) -> &'static str {
    match precision {
        Some(DatePrecision::Day) | None => "exact day",
        Some(DatePrecision::Month) => "month only",
        Some(DatePrecision::Year) => "year only",
    }
}

/// Sex recorded at birth, as the form writes it.
fn sex_text(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Female) => "female",
        Some(Sex::Male) => "male",
        Some(Sex::Unknown) | None => "sex unknown",
    }
}

fn show_text(stored: &StoredRecord) -> String {
    let r = &stored.signed.record;
    let e = &r.enrolment;
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<16}{v}\n"));
    line("record", r.id.to_string());
    line("status", stored.summary.status.as_str().to_string());
    if let Some(m) = &stored.summary.reject_message {
        line("rejected", m.clone());
    }
    if let Some(i) = stored.summary.leaf_index {
        line("ledger index", i.to_string());
    }
    if let Some(at) = stored.summary.decided_at {
        line("decided", when(at));
    }
    line(
        "captured",
        format!(
            "{} by {} on device {}",
            when(r.captured_at),
            r.worker_id,
            hex::encode(&r.device_kid)
        ),
    );
    if let Some(s) = r.supersedes {
        line("corrects", s.to_string());
    }
    if let Some(s) = stored.summary.superseded_by {
        line("corrected by", s.to_string());
    }
    line("child", e.child.display_name());
    line(
        "born",
        format!(
            "{}{} ({}), {}, {} of {}",
            e.child.date_of_birth,
            e.child
                .time_of_birth
                .as_deref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default(),
            precision_text(e.child.date_of_birth_precision),
            sex_text(e.child.sex),
            e.child.birth_order,
            e.child.plurality
        ),
    );
    line(
        "place",
        format!(
            "{}, {}{}",
            e.place_of_birth.locality,
            e.place_of_birth.admin_area,
            e.place_of_birth
                .facility
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        ),
    );
    line(
        "mother",
        format!("{} {}", e.mother.given_names, e.mother.family_name),
    );
    if let Some(f) = &e.father {
        line("father", format!("{} {}", f.given_names, f.family_name));
    }
    line(
        "informant",
        format!(
            "{} {} ({})",
            e.informant.given_names, e.informant.family_name, e.informant.relationship
        ),
    );
    for c in &e.caregivers {
        line(
            "caregiver",
            format!("{} {} ({})", c.given_names, c.family_name, c.relationship),
        );
    }
    line("consent", format!("given by {}", e.consent.by_relationship));
    out
}
