//! `birthright`: one binary for the field device, the registry administrator and the demo.

mod credential_cmd;
mod demo;
mod device_cmd;
mod files;
mod http;
mod registry_cmd;
mod sync_cmd;

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
        /// What to write.
        #[arg(long, value_enum, default_value_t = credential_cmd::Format::Terminal)]
        format: credential_cmd::Format,
        /// Write to this file instead of standard output (- is standard output).
        #[arg(long, value_name = "FILE|-")]
        out: Option<PathBuf>,
    },
    /// Verify a caregiver credential offline against a registry's trust bundle.
    Verify {
        /// The registry's trust bundle (trust.json).
        #[arg(long, value_name = "FILE")]
        trust: PathBuf,
        /// The credential text, BR1:...
        #[arg(long)]
        text: Option<String>,
        /// A PNG or JPEG photo or screenshot of the QR code.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// The registry's signed revocation list (from GET /v1/revocations).
        #[arg(long, value_name = "FILE")]
        revocations: Option<PathBuf>,
        /// Without --revocations: a device data directory whose last sync cached the list.
        #[arg(long, value_name = "DIR", conflicts_with = "revocations")]
        data: Option<PathBuf>,
        /// Storage key file of the --data device (default as for device commands).
        #[arg(long, value_name = "FILE", requires = "data")]
        key_file: Option<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
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
    },
    /// Serve the registry's HTTP API.
    Serve {
        /// Registry data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
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
        /// Why (kept for administrators; no personal data).
        #[arg(long)]
        reason: String,
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
        } => credential_cmd::credential(&device, &id, format, out.as_deref()),
        Command::Verify {
            trust,
            text,
            image,
            revocations,
            data,
            key_file,
            json,
        } => match credential_cmd::verify(
            &trust,
            text.as_deref(),
            image.as_deref(),
            revocations.as_deref(),
            data.map(|data| DeviceArgs { data, key_file }).as_ref(),
            json,
        ) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(2),
            Err(e) => Err(e),
        },
        Command::Registry(RegistryCommand::Init { data, origin }) => {
            registry_cmd::init(&data, &origin)
        }
        Command::Registry(RegistryCommand::Serve {
            data,
            listen,
            trusted_proxy_header,
            trusted_proxies,
        }) => registry_cmd::serve(
            &data,
            &listen,
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
        }) => registry_cmd::revoke(&data, &device_kid, &reason),
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
