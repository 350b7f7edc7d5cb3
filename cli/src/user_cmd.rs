//! `registry user …`: the registrars' workspace's users (add, list, disable, reset-password).
//! Run on the registry's machine with access to its data directory; every change is audited.

use std::{io::Read, path::Path, sync::Arc};

use anyhow::Result;
use birthright_registry::{
    Registry,
    registrar::{Registrar, RegistrarError, Role, users::UserSummary},
    service::Database,
};
use zeroize::Zeroizing;

use crate::output::{coded, print_json};

fn registrar_error(e: RegistrarError) -> anyhow::Error {
    coded(e.code, e.message)
}

fn open(data: &Path) -> Result<Registrar> {
    let database = Database::recorded(data)?;
    let registry = Arc::new(Registry::open_on(data, &database)?);
    Ok(Registrar::open(data, &database, registry)?)
}

/// Reads a password from standard input: its first line, at most 1 KiB.
fn password_from_stdin() -> Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(1025)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            coded(
                "io",
                format!("reading the password from standard input: {e}"),
            )
        })?;
    if bytes.len() > 1024 {
        return Err(coded(
            "usage",
            "the password on standard input is longer than 1024 bytes",
        ));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| coded("usage", "the password on standard input is not UTF-8 text"))?;
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or("").to_string(),
    ))
}

fn print_user(user: &UserSummary) {
    let regions = if user.regions.is_empty() {
        "every region".to_string()
    } else {
        user.regions.join(", ")
    };
    let mut flags = Vec::new();
    if user.disabled {
        flags.push("disabled");
    }
    if user.must_change_password {
        flags.push("must change password");
    }
    if user.totp_enrolled {
        flags.push("second factor");
    }
    println!(
        "{:<24} {:<28} {:<24} {}",
        user.username,
        user.roles.join(","),
        regions,
        flags.join(", ")
    );
}

fn show_one_time(
    password: Option<&Zeroizing<String>>,
    user: &UserSummary,
    json: bool,
) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "user": user,
            "one_time_password": password.map(|p| p.as_str()),
        }));
    }
    print_user(user);
    if let Some(p) = password {
        println!("one-time password: {}", p.as_str());
        eprintln!(
            "give it to {} in person; it must be changed at the first login",
            user.username
        );
    }
    Ok(())
}

/// `registry user add`.
pub fn add(
    data: &Path,
    username: &str,
    roles: &[Role],
    regions: &[String],
    password_stdin: bool,
    json: bool,
) -> Result<()> {
    let password = password_stdin.then(password_from_stdin).transpose()?;
    let registrar = open(data)?;
    let (user, one_time) = registrar
        .add_user(
            username,
            roles,
            regions,
            password.as_deref().map(String::as_str),
            registrar.now(),
        )
        .map_err(registrar_error)?;
    show_one_time(one_time.as_ref(), &user, json)
}

/// `registry user list`.
pub fn list(data: &Path, json: bool) -> Result<()> {
    let users = open(data)?.list_users().map_err(registrar_error)?;
    if json {
        return print_json(&users);
    }
    if users.is_empty() {
        println!("no users: add the first administrator with `registry user add --role admin`");
    }
    for user in &users {
        print_user(user);
    }
    Ok(())
}

/// `registry user disable`.
pub fn disable(data: &Path, username: &str, json: bool) -> Result<()> {
    let registrar = open(data)?;
    let user = registrar
        .disable_user(username, registrar.now())
        .map_err(registrar_error)?;
    if json {
        return print_json(&user);
    }
    println!("{} is disabled and logged out", user.username);
    Ok(())
}

/// `registry user reset-password`.
pub fn reset_password(
    data: &Path,
    username: &str,
    password_stdin: bool,
    reset_totp: bool,
    json: bool,
) -> Result<()> {
    let password = password_stdin.then(password_from_stdin).transpose()?;
    let registrar = open(data)?;
    let (user, one_time) = registrar
        .reset_password(
            username,
            password.as_deref().map(String::as_str),
            reset_totp,
            registrar.now(),
        )
        .map_err(registrar_error)?;
    show_one_time(one_time.as_ref(), &user, json)
}
