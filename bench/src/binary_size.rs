//! Figure 8: the FFI library's stripped size against bundled SQLite + Ed25519 alone.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Instant, SystemTime},
};

use crate::report::{Report, section};
use anyhow::Result;

/// The binary-size figure's provenance, also written to the JSON.
#[derive(serde::Serialize, Default)]
pub(crate) struct BinaryInfo {
    ffi_path: String,
    ffi_bytes: Option<u64>,
    /// "fresh", "missing", "stale: ..." or "unknown freshness: ...".
    ffi_status: String,
    baseline_bytes: Option<u64>,
    /// "built", "skipped in --quick", or why it failed.
    baseline_status: String,
    baseline_build_seconds: Option<f64>,
}

pub(crate) fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The source files listed in cargo's dep-info `depinfo` (every line `outputs: inputs`).
pub(crate) fn dep_info_sources(depinfo: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(depinfo).ok()?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((_, inputs)) = line.split_once(": ") else {
            continue;
        };
        // Paths are separated by spaces; a space inside a path is escaped as "\ ".
        let mut current = String::new();
        let mut chars = inputs.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        out.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            out.push(PathBuf::from(current));
        }
    }
    Some(out)
}

/// Whether the library at `lib` is older than what it was built from: every source file in its
/// dep-info plus the workspace, core and bindings manifests. (Not Cargo.lock: it changes with
/// any crate's dependencies, and cargo does not touch a library it finds up to date.)
pub(crate) fn freshness(lib: &Path, workspace: &Path) -> String {
    let Some(built) = modified(lib) else {
        return "missing".into();
    };
    let depinfo = lib.with_extension("d");
    let Some(mut sources) = dep_info_sources(&depinfo) else {
        return format!("unknown freshness: no dep-info at {}", depinfo.display());
    };
    for manifest in ["Cargo.toml", "core/Cargo.toml", "bindings/Cargo.toml"] {
        sources.push(workspace.join(manifest));
    }
    let newer: Vec<&PathBuf> = sources
        .iter()
        .filter(|s| modified(s).is_none_or(|m| m > built))
        .collect();
    match newer.first() {
        None => "fresh".into(),
        Some(first) => format!(
            "stale: {} of its {} sources are newer or gone, e.g. {}",
            newer.len(),
            sources.len(),
            first.display()
        ),
    }
}

/// The `[profile.release]` settings of a manifest, comments and blank lines dropped.
pub(crate) fn release_profile(manifest: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest)?;
    Ok(text
        .lines()
        .skip_while(|l| l.trim() != "[profile.release]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Builds the size baseline (bundled SQLite + Ed25519 only, same release profile) into its
/// own target directory; returns its size and the build time.
pub(crate) fn build_baseline(workspace: &Path) -> Result<(u64, f64)> {
    let manifest = workspace.join("bench/size-baseline/Cargo.toml");
    let ours = release_profile(&manifest)?;
    let theirs = release_profile(&workspace.join("Cargo.toml"))?;
    anyhow::ensure!(
        ours == theirs,
        "the baseline's [profile.release] {ours:?} differs from the workspace's {theirs:?}"
    );
    let target = workspace.join("target/size-baseline");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--offline",
            "--quiet",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "cargo build of the baseline: {status}");
    let lib = target.join("release/libbirthright_size_baseline.so");
    Ok((std::fs::metadata(&lib)?.len(), seconds))
}

pub(crate) fn binary_size(report: &mut Report, quick: bool) -> BinaryInfo {
    section(
        "8. Binary size: stripped release cdylib of the FFI crate (build it first: cargo build --release -p birthright-ffi) vs bundled SQLite + Ed25519 alone, same profile",
    );
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = bench.parent().unwrap_or(bench).to_path_buf();
    let lib = workspace.join("target/release/libbirthright_ffi.so");
    let mut info = BinaryInfo {
        ffi_path: lib.display().to_string(),
        ffi_bytes: std::fs::metadata(&lib).ok().map(|m| m.len()),
        ffi_status: freshness(&lib, &workspace),
        ..BinaryInfo::default()
    };
    if quick {
        info.baseline_status = "skipped in --quick".into();
    } else {
        match build_baseline(&workspace) {
            Ok((bytes, seconds)) => {
                info.baseline_bytes = Some(bytes);
                info.baseline_build_seconds = Some(seconds);
                info.baseline_status = "built".into();
                println!("  (baseline built or checked up to date in {seconds:.1} s)");
            }
            Err(e) => info.baseline_status = format!("failed: {e:#}"),
        }
    }
    let mb = |b: u64| b as f64 / 1e6;
    let baseline_name = match info.baseline_bytes {
        Some(_) => "rusqlite (bundled) + ed25519-dalek cdylib".to_string(),
        None => format!("baseline {}", info.baseline_status),
    };
    if info.ffi_status != "fresh" {
        println!("  WARNING: libbirthright_ffi.so is {}", info.ffi_status);
    }
    if let Some(bytes) = info.ffi_bytes {
        let name = if info.ffi_status == "fresh" {
            "libbirthright_ffi.so (x86_64, opt z, LTO, stripped)".to_string()
        } else {
            format!("libbirthright_ffi.so, NOT FRESH ({})", info.ffi_status)
        };
        report.add(
            "binary",
            name,
            mb(bytes),
            "MB",
            baseline_name,
            info.baseline_bytes.map(mb),
        );
    }
    if let Some(bytes) = info.baseline_bytes {
        report.add(
            "binary",
            "(limit) rusqlite (bundled) + ed25519-dalek cdylib",
            mb(bytes),
            "MB",
            "-",
            None,
        );
    }
    info
}
