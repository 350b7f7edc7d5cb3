//! `birthright`: one binary for the field device, the registry administrator and the demo.

mod credential_cmd;
mod demo;
mod device_cmd;
mod files;
mod http;
mod monitor_cmd;
mod output;
mod registry_cmd;
mod sync_cmd;
mod user_cmd;
mod verify_cmd;
mod witness_cmd;

use std::{path::PathBuf, process::ExitCode};

use clap::{CommandFactory, Parser, Subcommand};

/// Birthright: offline-first birth registration.
#[derive(Parser)]
#[command(name = "birthright", version, about, propagate_version = true)]
struct Cli {
    /// Diagnostics on standard error: -v for what happens, -vv for details (never personal
    /// data). RUST_LOG (e.g. RUST_LOG=debug) chooses them finely.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// A record status, for `list --status`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum StatusArg {
    /// Captured, not yet sent.
    Pending,
    /// Sent, waiting for the registry's receipt.
    #[value(name = "in_flight")]
    InFlight,
    /// On the registry's ledger, receipt verified: declared, waiting for the registry's
    /// decision.
    Acknowledged,
    /// Refused by the registry, at sync or by a registrar: correct it.
    Rejected,
    /// Registered by the registry, with a registered credential.
    Registered,
}

impl StatusArg {
    fn status(self) -> birthright_core::store::RecordStatus {
        use birthright_core::store::RecordStatus;
        match self {
            StatusArg::Pending => RecordStatus::Pending,
            StatusArg::InFlight => RecordStatus::InFlight,
            StatusArg::Acknowledged => RecordStatus::Acknowledged,
            StatusArg::Rejected => RecordStatus::Rejected,
            StatusArg::Registered => RecordStatus::Registered,
        }
    }
}

/// Where a capture's form comes from and whether the result is printed as JSON. `--form FILE`
/// with `--json` for JSON output; `--json FILE` alone (the older spelling) is the form.
#[derive(clap::Args, Clone)]
pub struct FormArgs {
    /// The JSON form, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    form: Option<String>,
    /// With --form: print the result as JSON. Without it: the JSON form (FILE, or - for
    /// standard input).
    #[arg(long, value_name = "FILE|-", num_args = 0..=1, default_missing_value = "")]
    json: Option<String>,
}

impl FormArgs {
    /// The form's source and whether to print JSON.
    fn resolve(&self) -> anyhow::Result<(&str, bool)> {
        match (self.form.as_deref(), self.json.as_deref()) {
            (Some(form), None) => Ok((form, false)),
            (Some(form), Some("")) => Ok((form, true)),
            (None, Some(form)) if !form.is_empty() => Ok((form, false)),
            (Some(_), Some(_)) => Err(output::coded(
                "usage",
                "give the form once: --form FILE (with --json for JSON output), or --json FILE",
            )),
            (None, _) => Err(output::coded(
                "usage",
                "no form: pass --form FILE (or - for standard input)",
            )),
        }
    }

    fn json_output(&self) -> bool {
        self.form.is_some() && self.json.is_some()
    }
}

/// Where the device store is and how to unlock it.
#[derive(clap::Args, Clone)]
pub struct DeviceArgs {
    /// Device data directory (holds device.db).
    #[arg(long, value_name = "DIR", env = "BIRTHRIGHT_DATA")]
    pub data: PathBuf,
    /// File holding the 32-byte storage key as 64 hex characters. Default: the
    /// BIRTHRIGHT_STORAGE_KEY environment variable, else DIR/storage.key.
    #[arg(long, value_name = "FILE", global = true)]
    pub key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole job end to end on loopback, in a temporary directory.
    Demo {
        /// Keep the demo's data directory.
        #[arg(long)]
        keep: bool,
    },
    /// Device set-up.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Registry administration.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Follow a registry's ledger through its tiles: check each new checkpoint against the
    /// registry's key and the one verified before, recompute the tree from the entries. Exit
    /// 0 verified, 20 split view (both checkpoints printed), 21 a checkpoint not signed by the
    /// registry, 22 tiles or entries that do not match the signed checkpoint, 23 a checkpoint
    /// below the trust bundle's witness quorum (not followed).
    Monitor {
        /// The registry's trust bundle (its checkpoint key and origin).
        #[arg(long, value_name = "FILE")]
        trust: PathBuf,
        /// The tiles' URL prefix: https://REGISTRY/tlog, or a mirror of `registry tiles
        /// export` (http:// on this machine only).
        #[arg(long, value_name = "URL")]
        url: String,
        /// Directory keeping what the monitor verified (created, mode 0700): one per log.
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// Print the verdict as one JSON document (for alerting).
        #[arg(long)]
        json: bool,
    },
    /// Run a witness: an independent server that cosigns a registry's checkpoints only while
    /// its ledger stays append-only (C2SP tlog-witness).
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Capture a registration from its JSON form; prints the new record id.
    Capture {
        #[command(flatten)]
        device: DeviceArgs,
        #[command(flatten)]
        form: FormArgs,
        /// An import: one JSON form per line (blank lines skipped), or - for standard input.
        /// Every form is stored, in order, or none is; problems are reported by line number.
        /// With a bare --json the new ids are printed as a JSON array.
        #[arg(long, value_name = "FILE|-", conflicts_with = "form")]
        json_lines: Option<String>,
    },
    /// Correct a registration: a new signed record that supersedes record ID.
    Correct {
        #[command(flatten)]
        device: DeviceArgs,
        /// Id of the record to correct.
        id: String,
        /// The corrected form.
        #[command(flatten)]
        form: FormArgs,
    },
    /// List registrations on this device.
    List {
        #[command(flatten)]
        device: DeviceArgs,
        /// Only records in this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only children or mothers whose name contains this text.
        #[arg(long)]
        search: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Send pending registrations to the registry and verify its receipts.
    Sync {
        #[command(flatten)]
        device: DeviceArgs,
        /// Registry base URL (default: the one the device enrolled with).
        #[arg(long, value_name = "URL", env = "BIRTHRIGHT_REGISTRY")]
        registry: Option<String>,
        /// Most bytes of signed records per batch, 1024 to 1048576 (default 32768, suited to
        /// 2G).
        #[arg(long, value_name = "BYTES", value_parser = batch_bytes)]
        max_batch_bytes: Option<u32>,
        /// Most records per batch, 1 to 1000 (default 100).
        #[arg(long, value_name = "N", value_parser = batch_records)]
        max_batch_records: Option<u32>,
        /// JSON summary.
        #[arg(long)]
        json: bool,
        /// If another sync of this device is running, wait for it instead of exiting (5).
        #[arg(long)]
        wait: bool,
    },
    /// Render a registration's caregiver credential (QR).
    Credential {
        #[command(flatten)]
        device: DeviceArgs,
        /// Record id.
        id: String,
        /// What to write.
        #[arg(long, value_enum, default_value_t = credential_cmd::Format::Terminal)]
        format: credential_cmd::Format,
        /// Write to this file instead of standard output (- is standard output).
        #[arg(long, value_name = "FILE|-")]
        out: Option<PathBuf>,
    },
    /// Verify a caregiver credential offline against one or more registries' trust bundles.
    /// Exit code: 0 valid, 10 valid provisional, 11 expired, 12 superseded, 13 revoked,
    /// 14 invalid, 15 unreadable image (scan again), 1 other errors.
    Verify {
        /// A registry's trust bundle (trust.json); repeat for several registries.
        #[arg(long, value_name = "FILE", required = true)]
        trust: Vec<PathBuf>,
        /// The credential text, BR1:..., or - for standard input.
        #[arg(long, value_name = "TEXT|-")]
        text: Option<String>,
        /// A PNG or JPEG photo or screenshot of the QR code.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// A registry's signed revocation list (from GET /v1/revocations).
        #[arg(long, value_name = "FILE")]
        revocations: Option<PathBuf>,
        /// A directory of lists cached by `lists fetch`.
        #[arg(long, value_name = "DIR")]
        lists: Option<PathBuf>,
        /// A device data directory whose last sync cached the lists.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Storage key file of the --data device (default as for device commands).
        #[arg(long, value_name = "FILE", requires = "data")]
        key_file: Option<PathBuf>,
        /// Warn when the revocation or status list is older than this (30m, 12h, 7d).
        #[arg(long, value_name = "AGE", default_value = "7d", value_parser = verify_cmd::parse_age)]
        max_list_age: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Registries' signed revocation and status lists, for verifying offline.
    #[command(subcommand)]
    Lists(ListsCommand),
    /// Show one registration.
    Show {
        #[command(flatten)]
        device: DeviceArgs,
        /// Record id.
        id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `birthright completions bash > /etc/bash_completion.d/birthright`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum ListsCommand {
    /// Fetch, verify and cache the lists of one or more registries into DIR (for verify
    /// --lists DIR).
    Fetch {
        /// A registry's trust bundle (trust.json); repeat for several registries.
        #[arg(long, value_name = "FILE", required = true)]
        trust: Vec<PathBuf>,
        /// A registry's base URL; repeat for several registries.
        #[arg(long, value_name = "URL", required = true)]
        registry: Vec<String>,
        /// Directory to cache the lists in.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// JSON output: one object per registry.
        #[arg(long)]
        json: bool,
    },
}

/// The public reason of a revocation, published in the signed list.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ReasonCode {
    /// The device or paper is lost.
    Lost,
    /// It was stolen.
    Stolen,
    /// Its key may be in other hands.
    Compromised,
    /// Taken out of service.
    Retired,
    /// Any other reason (say which in --note).
    Other,
}

impl ReasonCode {
    fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Lost => "lost",
            ReasonCode::Stolen => "stolen",
            ReasonCode::Compromised => "compromised",
            ReasonCode::Retired => "retired",
            ReasonCode::Other => "other",
        }
    }
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Create this device's store and signing key.
    Init {
        #[command(flatten)]
        device: DeviceArgs,
        /// The field worker's id until enrolment; the enrolment token's worker replaces it
        /// (with a note) if they differ, since the registry enrolled the device for that worker.
        #[arg(long, default_value = "worker")]
        worker: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Enrol this device with a registry using a supervisor's one-time token.
    Enrol {
        #[command(flatten)]
        device: DeviceArgs,
        /// Registry base URL: https://…, or http:// on this machine only.
        #[arg(long, value_name = "URL", env = "BIRTHRIGHT_REGISTRY")]
        registry: String,
        /// The one-time enrolment token.
        #[arg(long)]
        token: String,
        /// Trust bundle to pin (or - for standard input); the registry's must match it
        /// exactly.
        #[arg(long, value_name = "FILE|-", conflicts_with = "fingerprint")]
        trust: Option<PathBuf>,
        /// The registry's trust fingerprint, as printed by `registry enrol-token`. One of
        /// --trust or --fingerprint is required unless the registry is on this machine.
        #[arg(long, value_name = "HEX")]
        fingerprint: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// The witnesses that cosign this registry's checkpoints, and how many must.
    #[command(subcommand)]
    Witness(RegistryWitnessCommand),
    /// Create a registry: keys, database and trust bundle.
    Init {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The registry's origin, e.g. registry.example.org/births.
        #[arg(long)]
        origin: String,
        /// Keep everything but the keys in this (empty) PostgreSQL database,
        /// postgres://USER@HOST:PORT/DB; recorded in DIR. Default: SQLite in DIR.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Serve the registry's HTTP API.
    Serve {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// PostgreSQL database to use instead of the one `registry init` recorded.
        #[arg(long, value_name = "URL", env = "BIRTHRIGHT_DATABASE_URL")]
        database: Option<String>,
        /// Behind a reverse proxy: the header holding the client's address, e.g.
        /// X-Forwarded-For (its last entry is used for rate limits). Honoured only on
        /// connections from loopback or a --trusted-proxy address.
        #[arg(long, value_name = "HEADER")]
        trusted_proxy_header: Option<String>,
        /// Address of a reverse proxy whose --trusted-proxy-header is honoured (repeatable;
        /// loopback always is).
        #[arg(long = "trusted-proxy", value_name = "IP")]
        trusted_proxies: Vec<std::net::IpAddr>,
    },
    /// Create a one-time enrolment token for a field worker.
    EnrolToken {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The field worker's id.
        #[arg(long)]
        worker: String,
        /// The region the device will work in, e.g. UA-46.
        #[arg(long)]
        region: String,
        /// How long the token stays valid: 30m, 12h, 7d (at most 30d).
        #[arg(long, default_value = "7d")]
        ttl: String,
        /// JSON output (the token, the trust fingerprint and the expiry).
        #[arg(long)]
        json: bool,
    },
    /// List enrolled devices.
    Devices {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// After restoring the data directory from a backup: accept the database's ledger as it is
    /// now (the ledger published beyond it is lost and becomes a fork). Logged in recover.log.
    Recover {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// The ledger as C2SP tiles (static files for any web server or object store).
    #[command(subcommand)]
    Tiles(TilesCommand),
    /// Revoke a device: records it captures from now on are rejected.
    Revoke {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The device's key id (16 hex digits).
        device_kid: String,
        /// Why: a public reason code, published in the signed revocation list.
        #[arg(long, value_enum)]
        reason: ReasonCode,
        /// A private note for administrators, kept in the registry database only (no
        /// personal data).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List the open pairs of possible duplicates (a later record held for review, and the
    /// earlier record it may be), or decide one with `duplicates decide`.
    #[command(args_conflicts_with_subcommands = true)]
    Duplicates {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// JSON output: `[{"record_id", "candidate_id", "score", "level", "reasons"}]`.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        decide: Option<DuplicatesCommand>,
    },
    /// Show or change the review policy: which records are registered at once, which wait
    /// for a registrar.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Revoke one registered credential (by its ledger index): it verifies as revoked once
    /// verifiers have the next status list.
    RevokeCredential {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The credential's ledger index (shown by verify).
        leaf_index: u64,
        /// Why: a reason code (kept in the registry database; the status list says only
        /// "revoked").
        #[arg(long, value_enum)]
        reason: ReasonCode,
        /// A private note for administrators (no personal data).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Users of the registrars' workspace.
    #[command(subcommand)]
    User(UserCommand),
}

/// A role in the registrars' workspace.
#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    /// Reviews, decides, searches and prints, in its regions.
    Registrar,
    /// A registrar who also manages the devices and tokens of its regions.
    Supervisor,
    /// Reads everything (records in its regions, the audit log), changes nothing.
    Auditor,
    /// Manages users; sees no record unless also given a records role.
    Admin,
}

impl RoleArg {
    fn role(self) -> birthright_registry::registrar::Role {
        use birthright_registry::registrar::Role;
        match self {
            RoleArg::Registrar => Role::Registrar,
            RoleArg::Supervisor => Role::Supervisor,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user. Without --password-stdin a one-time password is printed, which must be
    /// changed at the first login.
    Add {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Login name (letters a-z, digits, dots, dashes, underscores).
        #[arg(long)]
        username: String,
        /// Role (repeatable: an admin who also reviews gets --role admin --role registrar).
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<RoleArg>,
        /// Region the user is limited to, e.g. UA-46 (repeatable; none: every region).
        #[arg(long = "region", value_name = "CODE")]
        regions: Vec<String>,
        /// Read the password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user and end its sessions.
    Disable {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Give a user a new password (a printed one-time password unless --password-stdin),
    /// enable it again and end its sessions.
    ResetPassword {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
        /// Also remove the user's second factor (a lost phone); it enrols a new one.
        #[arg(long)]
        reset_totp: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TilesCommand {
    /// Write the checkpoint and every tile of its tree under OUT (`OUT/checkpoint`,
    /// `OUT/tile/…`), the tree /tlog/ serves; tiles already there are kept.
    Export {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Directory to write the tiles into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RegistryWitnessCommand {
    /// Submit every checkpoint to this witness from now on. Re-distribute trust.json after.
    Add {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The witness's verifier key (printed by `birthright witness init`).
        #[arg(long)]
        vkey: String,
        /// The witness's URL (its POST /add-checkpoint is under it): https://…, or http://
        /// on this machine only.
        #[arg(long)]
        url: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List the witnesses, the size each last cosigned, and the quorum.
    List {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Set how many witnesses must cosign a checkpoint before devices acknowledge records
    /// under it (0: the registry's signature alone). Re-distribute trust.json after.
    Quorum {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The quorum K, at most the number of witnesses.
        #[arg(value_parser = quorum_number)]
        k: u32,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

fn quorum_number(text: &str) -> Result<u32, String> {
    whole_number(text, 0, 32)
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Create a witness: its signing key (file mode 0600) and database. Prints its verifier
    /// key, which registries and trust bundles list.
    Init {
        /// Witness data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The witness's name, e.g. witness.unicef.example/w1 (no spaces or '+').
        #[arg(long)]
        name: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Follow a log: cosign its checkpoints signed by this key.
    AddLog {
        /// Witness data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The log's origin (the first line of its checkpoints).
        #[arg(long)]
        origin: String,
        /// The log's verifier key (the registry's trust bundle has it as checkpoint_vkey).
        #[arg(long)]
        vkey: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show the witness's verifier key and the logs it follows.
    Show {
        /// Witness data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Serve POST /add-checkpoint (and GET /<origin hash>/checkpoint).
    Serve {
        /// Witness data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
    },
}

/// `registry policy` subcommands.
#[derive(Subcommand)]
enum PolicyCommand {
    /// Show the review policy.
    Show {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// JSON output: `{"max_age_days", "review_corrections"}`.
        #[arg(long)]
        json: bool,
    },
    /// Change the review policy (what is not given stays as it is).
    Set {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Register at once a child born at most this many days before the registry received
        /// the record (default 365).
        #[arg(long, value_name = "DAYS", value_parser = |t: &str| whole_number(t, 0, 36500))]
        max_age_days: Option<u32>,
        /// Whether corrections wait for a registrar (default true).
        #[arg(long, value_name = "true|false")]
        review_corrections: Option<bool>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `registry duplicates` subcommands.
#[derive(Subcommand)]
enum DuplicatesCommand {
    /// A registrar's decision on one pair: closes it. The held record stays held while
    /// another pair holding it is open.
    #[command(group = clap::ArgGroup::new("decision").required(true))]
    Decide {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The held (later) record's id.
        record: String,
        /// The candidate (earlier) record's id.
        candidate: String,
        /// The two records are the same child.
        #[arg(long, group = "decision")]
        duplicate: bool,
        /// The two records are two children.
        #[arg(long, group = "decision")]
        not_duplicate: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// A whole number from `min` to `max`, or a message saying so (not Rust's own words).
fn whole_number(text: &str, min: u32, max: u32) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("must be a whole number from {min} to {max}"))
}

fn batch_bytes(text: &str) -> Result<u32, String> {
    whole_number(text, 1024, 1_048_576)
}

fn batch_records(text: &str) -> Result<u32, String> {
    whole_number(text, 1, 1000)
}

impl Command {
    /// Whether the command's results (and so its errors) are printed as JSON.
    fn json(&self) -> bool {
        match self {
            Command::Capture {
                form,
                json_lines: Some(_),
                ..
            } => form.json.is_some(),
            Command::Capture { form, .. } | Command::Correct { form, .. } => form.json_output(),
            Command::List { json, .. }
            | Command::Sync { json, .. }
            | Command::Verify { json, .. }
            | Command::Show { json, .. }
            | Command::Device(DeviceCommand::Init { json, .. })
            | Command::Device(DeviceCommand::Enrol { json, .. })
            | Command::Registry(RegistryCommand::Init { json, .. })
            | Command::Registry(RegistryCommand::EnrolToken { json, .. })
            | Command::Registry(RegistryCommand::Devices { json, .. })
            | Command::Registry(RegistryCommand::Recover { json, .. })
            | Command::Registry(RegistryCommand::Revoke { json, .. })
            | Command::Registry(RegistryCommand::RevokeCredential { json, .. })
            | Command::Registry(RegistryCommand::User(UserCommand::Add { json, .. }))
            | Command::Registry(RegistryCommand::User(UserCommand::List { json, .. }))
            | Command::Registry(RegistryCommand::User(UserCommand::Disable { json, .. }))
            | Command::Registry(RegistryCommand::User(UserCommand::ResetPassword {
                json, ..
            }))
            | Command::Registry(RegistryCommand::Tiles(TilesCommand::Export { json, .. }))
            | Command::Monitor { json, .. }
            | Command::Registry(RegistryCommand::Duplicates {
                decide: None, json, ..
            })
            | Command::Registry(RegistryCommand::Duplicates {
                decide: Some(DuplicatesCommand::Decide { json, .. }),
                ..
            })
            | Command::Registry(RegistryCommand::Policy {
                command: PolicyCommand::Show { json, .. } | PolicyCommand::Set { json, .. },
            })
            | Command::Lists(ListsCommand::Fetch { json, .. }) => *json,
            Command::Demo { .. }
            | Command::Credential { .. }
            | Command::Completions { .. }
            | Command::Registry(RegistryCommand::Serve { .. }) => false,
            Command::Registry(RegistryCommand::Witness(RegistryWitnessCommand::Add {
                json,
                ..
            }))
            | Command::Registry(RegistryCommand::Witness(RegistryWitnessCommand::List {
                json,
                ..
            }))
            | Command::Registry(RegistryCommand::Witness(RegistryWitnessCommand::Quorum {
                json,
                ..
            })) => *json,
            Command::Witness(WitnessCommand::Init { json, .. })
            | Command::Witness(WitnessCommand::AddLog { json, .. })
            | Command::Witness(WitnessCommand::Show { json, .. }) => *json,
            Command::Witness(WitnessCommand::Serve { .. }) => false,
        }
    }
}

/// Whether the raw arguments ask for JSON (for errors found before they are parsed): a `--json`
/// flag with no file after it.
fn json_requested(args: &[std::ffi::OsString]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        a == "--json"
            && args
                .get(i + 1)
                .is_none_or(|next| next.to_str().is_some_and(|n| n.starts_with("--")))
    })
}

/// Sets up `tracing` diagnostics on standard error: RUST_LOG when set, else by `-v` count
/// (`registry serve` logs its requests at the default level).
fn init_diagnostics(verbose: u8, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 if serving => "info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() && verbose == 0 => EnvFilter::try_new(spec)
            .unwrap_or_else(|e| {
                eprintln!("warning: RUST_LOG is not understood ({e}); using {level}");
                EnvFilter::new(level)
            }),
        _ => EnvFilter::new(level),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn main() -> ExitCode {
    // `birthright list | head -1`: a closed pipe ends the process quietly, as it does for
    // every Unix tool, instead of a panic on the next write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && json_requested(&args) => {
            // The message without clap's `error: ` prefix and usage lines.
            let text = e.kind().as_str().map_or_else(
                || e.to_string(),
                |kind| {
                    let rendered = e.render().to_string();
                    let first = rendered.lines().next().unwrap_or(kind).to_string();
                    first.trim_start_matches("error: ").to_string()
                },
            );
            eprintln!("{}", output::error_json("usage", &text, None));
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
        Err(e) => e.exit(),
    };
    init_diagnostics(
        cli.verbose,
        matches!(
            cli.command,
            Command::Registry(RegistryCommand::Serve { .. })
                | Command::Witness(WitnessCommand::Serve { .. })
        ),
    );
    let json = cli.command.json();
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&e, json);
            ExitCode::FAILURE
        }
    }
}

/// Runs one command; its exit code when it succeeds (some report outcomes by code).
fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Device(DeviceCommand::Init {
            device,
            worker,
            json,
        }) => device_cmd::init(&device, &worker, json)?,
        Command::Device(DeviceCommand::Enrol {
            device,
            registry,
            token,
            trust,
            fingerprint,
            json,
        }) => sync_cmd::enrol(
            &device,
            &registry,
            &token,
            trust.as_deref(),
            fingerprint.as_deref(),
            json,
        )?,
        Command::Sync {
            device,
            registry,
            max_batch_bytes,
            max_batch_records,
            json,
            wait,
        } => {
            let mut config = birthright_core::sync::SyncConfig {
                wait_for_other_sync: wait,
                ..birthright_core::sync::SyncConfig::default()
            };
            if let Some(bytes) = max_batch_bytes {
                config.max_batch_bytes = bytes as usize;
            }
            if let Some(records) = max_batch_records {
                config.max_batch_records = records as usize;
            }
            return sync_cmd::sync(&device, registry.as_deref(), config, json);
        }
        Command::Demo { keep } => demo::run(keep)?,
        Command::Credential {
            device,
            id,
            format,
            out,
        } => credential_cmd::credential(&device, &id, format, out.as_deref())?,
        Command::Verify {
            trust,
            text,
            image,
            revocations,
            lists,
            data,
            key_file,
            max_list_age,
            json,
        } => {
            let device = data.map(|data| DeviceArgs { data, key_file });
            let sources = verify_cmd::ListSources {
                revocations: revocations.as_deref(),
                lists: lists.as_deref(),
                device: device.as_ref(),
            };
            return verify_cmd::verify(
                &trust,
                text.as_deref(),
                image.as_deref(),
                sources,
                max_list_age,
                json,
            );
        }
        Command::Lists(ListsCommand::Fetch {
            trust,
            registry,
            out,
            json,
        }) => verify_cmd::fetch(&trust, &registry, &out, json)?,
        Command::Registry(RegistryCommand::Init {
            data,
            origin,
            database,
            json,
        }) => registry_cmd::init(&data, &origin, database.as_deref(), json)?,
        Command::Registry(RegistryCommand::Serve {
            data,
            listen,
            database,
            trusted_proxy_header,
            trusted_proxies,
        }) => registry_cmd::serve(
            &data,
            &listen,
            database.as_deref(),
            trusted_proxy_header.as_deref(),
            trusted_proxies,
        )?,
        Command::Registry(RegistryCommand::Tiles(TilesCommand::Export { data, out, json })) => {
            registry_cmd::tiles_export(&data, &out, json)?
        }
        Command::Monitor {
            trust,
            url,
            state,
            json,
        } => return monitor_cmd::monitor(&trust, &url, &state, json),
        Command::Registry(RegistryCommand::EnrolToken {
            data,
            worker,
            region,
            ttl,
            json,
        }) => registry_cmd::enrol_token(&data, &worker, &region, &ttl, json)?,
        Command::Registry(RegistryCommand::Devices { data, json }) => {
            registry_cmd::devices(&data, json)?
        }
        Command::Registry(RegistryCommand::Recover { data, json }) => {
            registry_cmd::recover(&data, json)?
        }
        Command::Registry(RegistryCommand::Revoke {
            data,
            device_kid,
            reason,
            note,
            json,
        }) => registry_cmd::revoke(&data, &device_kid, reason.as_str(), note.as_deref(), json)?,
        Command::Registry(RegistryCommand::Policy {
            command: PolicyCommand::Show { data, json },
        }) => registry_cmd::policy_show(&data, json)?,
        Command::Registry(RegistryCommand::Policy {
            command:
                PolicyCommand::Set {
                    data,
                    max_age_days,
                    review_corrections,
                    json,
                },
        }) => registry_cmd::policy_set(&data, max_age_days, review_corrections, json)?,
        Command::Registry(RegistryCommand::Duplicates {
            decide:
                Some(DuplicatesCommand::Decide {
                    data,
                    record,
                    candidate,
                    duplicate,
                    not_duplicate: _,
                    json,
                }),
            ..
        }) => registry_cmd::decide_duplicate(&data, &record, &candidate, duplicate, json)?,
        Command::Registry(RegistryCommand::Duplicates {
            data,
            json,
            decide: None,
        }) => match data {
            Some(data) => registry_cmd::duplicates(&data, json)?,
            None => {
                return Err(output::coded(
                    "usage",
                    "registry duplicates needs --data DIR (the registry's data directory)",
                ));
            }
        },
        Command::Registry(RegistryCommand::RevokeCredential {
            data,
            leaf_index,
            reason,
            note,
            json,
        }) => registry_cmd::revoke_credential(
            &data,
            leaf_index,
            reason.as_str(),
            note.as_deref(),
            json,
        )?,
        Command::Registry(RegistryCommand::Witness(RegistryWitnessCommand::Add {
            data,
            vkey,
            url,
            json,
        })) => registry_cmd::witness_add(&data, &vkey, &url, json)?,
        Command::Registry(RegistryCommand::Witness(RegistryWitnessCommand::List {
            data,
            json,
        })) => registry_cmd::witness_list(&data, json)?,
        Command::Registry(RegistryCommand::Witness(RegistryWitnessCommand::Quorum {
            data,
            k,
            json,
        })) => registry_cmd::witness_quorum(&data, k, json)?,
        Command::Witness(WitnessCommand::Init { data, name, json }) => {
            witness_cmd::init(&data, &name, json)?
        }
        Command::Witness(WitnessCommand::AddLog {
            data,
            origin,
            vkey,
            json,
        }) => witness_cmd::add_log(&data, &origin, &vkey, json)?,
        Command::Witness(WitnessCommand::Show { data, json }) => witness_cmd::show(&data, json)?,
        Command::Witness(WitnessCommand::Serve { data, listen }) => {
            witness_cmd::serve(&data, &listen)?
        }
        Command::Registry(RegistryCommand::User(command)) => match command {
            UserCommand::Add {
                data,
                username,
                roles,
                regions,
                password_stdin,
                json,
            } => {
                let roles: Vec<_> = roles.into_iter().map(RoleArg::role).collect();
                user_cmd::add(&data, &username, &roles, &regions, password_stdin, json)?
            }
            UserCommand::List { data, json } => user_cmd::list(&data, json)?,
            UserCommand::Disable {
                data,
                username,
                json,
            } => user_cmd::disable(&data, &username, json)?,
            UserCommand::ResetPassword {
                data,
                username,
                password_stdin,
                reset_totp,
                json,
            } => user_cmd::reset_password(&data, &username, password_stdin, reset_totp, json)?,
        },
        Command::Capture {
            device,
            form,
            json_lines: Some(lines),
        } => {
            if form.json.as_deref().is_some_and(|j| !j.is_empty()) {
                return Err(output::coded(
                    "usage",
                    "give either --json-lines FILE (an import) or one form, not both; a bare \
                     --json with --json-lines prints the new ids as JSON",
                ));
            }
            device_cmd::capture_lines(&device, &lines, form.json.is_some())?
        }
        Command::Capture { device, form, .. } => {
            let (source, json) = form.resolve()?;
            device_cmd::capture(&device, source, None, json)?
        }
        Command::Correct { device, id, form } => {
            let (source, json) = form.resolve()?;
            device_cmd::capture(&device, source, Some(&id), json)?
        }
        Command::List {
            device,
            status,
            search,
            json,
        } => device_cmd::list(&device, status.map(StatusArg::status), search, json)?,
        Command::Show { device, id, json } => device_cmd::show(&device, &id, json)?,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "birthright",
                &mut std::io::stdout(),
            );
        }
    }
    Ok(0)
}
