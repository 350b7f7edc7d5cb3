//! `birthright`: one binary for the field device, the registry administrator and the demo.

mod credential_cmd;
mod demo;
mod device_cmd;
mod files;
mod http;
mod registry_cmd;
mod sync_cmd;
mod verify_cmd;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Birthright: offline-first birth registration.
#[derive(Parser)]
#[command(name = "birthright", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Capture a registration from its JSON form; prints the new record id.
    Capture {
        #[command(flatten)]
        device: DeviceArgs,
        /// The JSON form, or - for standard input.
        #[arg(long, value_name = "FILE|-")]
        json: String,
    },
    /// Correct a registration: a new signed record that supersedes record ID.
    Correct {
        #[command(flatten)]
        device: DeviceArgs,
        /// Id of the record to correct.
        id: String,
        /// The corrected JSON form, or - for standard input.
        #[arg(long, value_name = "FILE|-")]
        json: String,
    },
    /// List registrations on this device.
    List {
        #[command(flatten)]
        device: DeviceArgs,
        /// Only this status: pending, in_flight, acknowledged or rejected.
        #[arg(long)]
        status: Option<String>,
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
        /// Most bytes of signed records per batch (default 32768, suited to 2G).
        #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1024..=1_048_576))]
        max_batch_bytes: Option<u32>,
        /// Most records per batch (default 100).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
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
        /// text, png, svg or terminal.
        #[arg(long, default_value = "terminal")]
        format: String,
        /// Write to this file (required for png).
        #[arg(long, value_name = "FILE")]
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
        /// Trust bundle to pin; the registry's must match it exactly.
        #[arg(long, value_name = "FILE", conflicts_with = "fingerprint")]
        trust: Option<PathBuf>,
        /// The registry's trust fingerprint, as printed by `registry enrol-token`. One of
        /// --trust or --fingerprint is required unless the registry is on this machine.
        #[arg(long, value_name = "HEX")]
        fingerprint: Option<String>,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
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
    },
    /// List enrolled devices.
    Devices {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// After restoring the data directory from a backup: accept the database's ledger as it is
    /// now (the ledger published beyond it is lost and becomes a fork). Logged in recover.log.
    Recover {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
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
    },
}

fn main() -> ExitCode {
    // `birthright list | head -1`: a closed pipe ends the process quietly, as it does for
    // every Unix tool, instead of a panic on the next write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Device(DeviceCommand::Init { device, worker }) => {
            device_cmd::init(&device, &worker)
        }
        Command::Device(DeviceCommand::Enrol {
            device,
            registry,
            token,
            trust,
            fingerprint,
        }) => sync_cmd::enrol(
            &device,
            &registry,
            &token,
            trust.as_deref(),
            fingerprint.as_deref(),
        ),
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
            match sync_cmd::sync(&device, registry.as_deref(), config, json) {
                Ok(0) => Ok(()),
                Ok(code) => return ExitCode::from(code),
                Err(e) => Err(e),
            }
        }
        Command::Demo { keep } => demo::run(keep),
        Command::Credential {
            device,
            id,
            format,
            out,
        } => credential_cmd::credential(&device, &id, &format, out.as_deref()),
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
            match verify_cmd::verify(
                &trust,
                text.as_deref(),
                image.as_deref(),
                sources,
                max_list_age,
                json,
            ) {
                Ok(code) => return ExitCode::from(code),
                Err(e) => Err(e),
            }
        }
        Command::Lists(ListsCommand::Fetch {
            trust,
            registry,
            out,
        }) => verify_cmd::fetch(&trust, &registry, &out),
        Command::Registry(RegistryCommand::Init {
            data,
            origin,
            database,
        }) => registry_cmd::init(&data, &origin, database.as_deref()),
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
        ),
        Command::Registry(RegistryCommand::EnrolToken {
            data,
            worker,
            region,
            ttl,
        }) => registry_cmd::enrol_token(&data, &worker, &region, &ttl),
        Command::Registry(RegistryCommand::Devices { data }) => registry_cmd::devices(&data),
        Command::Registry(RegistryCommand::Recover { data }) => registry_cmd::recover(&data),
        Command::Registry(RegistryCommand::Revoke {
            data,
            device_kid,
            reason,
            note,
        }) => registry_cmd::revoke(&data, &device_kid, reason.as_str(), note.as_deref()),
        Command::Registry(RegistryCommand::RevokeCredential {
            data,
            leaf_index,
            reason,
            note,
        }) => registry_cmd::revoke_credential(&data, leaf_index, reason.as_str(), note.as_deref()),
        Command::Capture { device, json } => device_cmd::capture(&device, &json, None),
        Command::Correct { device, id, json } => device_cmd::capture(&device, &json, Some(&id)),
        Command::List {
            device,
            status,
            search,
            json,
        } => device_cmd::list(&device, status.as_deref(), search, json),
        Command::Show { device, id, json } => device_cmd::show(&device, &id, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
