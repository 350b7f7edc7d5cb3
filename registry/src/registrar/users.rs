//! User administration (the CLI's `registry user …`): add, list, disable, reset a password.
//! Each change is audited.

use zeroize::Zeroizing;

use super::{Registrar, RegistrarError, Role, password, sessions::Session, store::UserRow};

/// Longest login name.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest region code.
pub const MAX_REGION_CHARS: usize = 16;
/// Most regions per user.
pub const MAX_REGIONS: usize = 64;

/// A login name: 1 to 64 of `a-z 0-9 . _ -` (stored lower case).
pub fn normalise_username(name: &str) -> Result<String, RegistrarError> {
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty()
        || name.len() > MAX_USERNAME_CHARS
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(RegistrarError::bad_request(
            "bad_username",
            format!(
                "a user name has 1 to {MAX_USERNAME_CHARS} letters a-z, digits, dots, dashes or \
                 underscores"
            ),
        ));
    }
    Ok(name)
}

/// A region code: 1 to 16 of `A-Z 0-9 -`, as devices are enrolled (e.g. `UA-46`).
pub fn check_region(code: &str) -> Result<String, RegistrarError> {
    let code = code.trim().to_string();
    if code.is_empty()
        || code.len() > MAX_REGION_CHARS
        || !code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(RegistrarError::bad_request(
            "bad_region",
            format!(
                "a region code has 1 to {MAX_REGION_CHARS} capital letters, digits or dashes, \
                 e.g. UA-46"
            ),
        ));
    }
    Ok(code)
}

/// A user as listed (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserSummary {
    /// Login name.
    pub username: String,
    /// Role codes.
    pub roles: Vec<String>,
    /// Regions; empty: every region.
    pub regions: Vec<String>,
    /// Disabled.
    pub disabled: bool,
    /// Has a one-time password still to change.
    pub must_change_password: bool,
    /// Has a confirmed TOTP second factor.
    pub totp_enrolled: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

impl From<&UserRow> for UserSummary {
    fn from(u: &UserRow) -> Self {
        UserSummary {
            username: u.username.clone(),
            roles: u.roles.clone(),
            regions: u.regions.clone(),
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            totp_enrolled: u.totp_secret.is_some(),
            created_at: super::rfc3339(u.created_at),
        }
    }
}

fn weak(e: password::PasswordError) -> RegistrarError {
    match e {
        password::PasswordError::TooShort | password::PasswordError::TooLong => {
            RegistrarError::bad_request("weak_password", e.to_string())
        }
        e => RegistrarError::new(500, "internal", e.to_string()),
    }
}

/// `password` if given (checked), else a fresh one-time password; and whether it is one-time.
fn password_or_one_time(
    password: Option<&str>,
) -> Result<(Zeroizing<String>, bool), RegistrarError> {
    match password {
        Some(p) => {
            password::check_new(p).map_err(weak)?;
            Ok((Zeroizing::new(p.to_string()), false))
        }
        None => Ok((password::one_time().map_err(weak)?, true)),
    }
}

/// Who changes a user, for the audit log: (login name, address) of an admin through the API;
/// `None` for the CLI on the registry's own machine.
type By<'a> = Option<(&'a str, &'a str)>;

/// The roles (at least one) and regions (valid codes, at most [`MAX_REGIONS`]) of a user,
/// sorted, without repeats.
fn check_access(
    roles: &[Role],
    regions: &[String],
) -> Result<(Vec<Role>, Vec<String>), RegistrarError> {
    if roles.is_empty() {
        return Err(RegistrarError::bad_request(
            "no_role",
            "give the user at least one role",
        ));
    }
    if regions.len() > MAX_REGIONS {
        return Err(RegistrarError::bad_request(
            "bad_region",
            format!("at most {MAX_REGIONS} regions per user"),
        ));
    }
    let mut regions: Vec<String> = regions
        .iter()
        .map(|r| check_region(r))
        .collect::<Result<_, _>>()?;
    regions.sort();
    regions.dedup();
    let mut roles: Vec<Role> = roles.to_vec();
    roles.sort();
    roles.dedup();
    Ok((roles, regions))
}

impl Registrar {
    fn audit_by(
        &self,
        by: By<'_>,
        now: i64,
        action: &str,
        username: String,
    ) -> Result<(), RegistrarError> {
        self.audit(
            now,
            by.map(|(actor, _)| actor),
            action,
            Some(username),
            by.map(|(_, address)| address),
        )
    }

    /// Adds a user with `roles` and `regions` (none: every region). With `password` it is the
    /// user's password; without, a one-time password is made, returned, and must be changed at
    /// first login.
    pub fn add_user(
        &self,
        username: &str,
        roles: &[Role],
        regions: &[String],
        password: Option<&str>,
        now: i64,
    ) -> Result<(UserSummary, Option<Zeroizing<String>>), RegistrarError> {
        self.add_user_as(None, username, roles, regions, password, now)
    }

    fn add_user_as(
        &self,
        by: By<'_>,
        username: &str,
        roles: &[Role],
        regions: &[String],
        password: Option<&str>,
        now: i64,
    ) -> Result<(UserSummary, Option<Zeroizing<String>>), RegistrarError> {
        let username = normalise_username(username)?;
        let (roles, regions) = check_access(roles, regions)?;
        let (secret, one_time) = password_or_one_time(password)?;
        let mut user = UserRow {
            id: 0,
            username: username.clone(),
            password_hash: password::hash(&secret).map_err(weak)?,
            roles: roles.iter().map(|r| r.code().to_string()).collect(),
            regions,
            must_change_password: one_time,
            disabled: false,
            totp_secret: None,
            totp_pending: None,
            totp_last_step: None,
            created_at: now,
            updated_at: now,
        };
        let Some(id) = self.store.insert_user(&user)? else {
            return Err(RegistrarError::new(
                409,
                "user_exists",
                format!("there is already a user {username}"),
            ));
        };
        user.id = id;
        self.audit_by(by, now, "user_add", username)?;
        Ok((UserSummary::from(&user), one_time.then_some(secret)))
    }

    /// Every user.
    pub fn list_users(&self) -> Result<Vec<UserSummary>, RegistrarError> {
        Ok(self.store.users()?.iter().map(UserSummary::from).collect())
    }

    fn existing_user(&self, username: &str) -> Result<UserRow, RegistrarError> {
        let username = normalise_username(username)?;
        self.store.user_by_name(&username)?.ok_or_else(|| {
            RegistrarError::new(404, "unknown_user", format!("there is no user {username}"))
        })
    }

    /// Disables a user and ends its sessions.
    pub fn disable_user(&self, username: &str, now: i64) -> Result<UserSummary, RegistrarError> {
        self.disable_user_as(None, username, now)
    }

    fn disable_user_as(
        &self,
        by: By<'_>,
        username: &str,
        now: i64,
    ) -> Result<UserSummary, RegistrarError> {
        let mut user = self.existing_user(username)?;
        user.disabled = true;
        user.updated_at = now;
        self.store.update_user(&user)?;
        self.store.delete_sessions_of(user.id, None)?;
        self.audit_by(by, now, "user_disable", user.username.clone())?;
        Ok(UserSummary::from(&user))
    }

    /// Sets a new password (`password`, or a returned one-time password that must be changed
    /// at the next login), enables the user again, ends its sessions, and with `reset_totp`
    /// removes its second factor (a lost phone).
    pub fn reset_password(
        &self,
        username: &str,
        password: Option<&str>,
        reset_totp: bool,
        now: i64,
    ) -> Result<(UserSummary, Option<Zeroizing<String>>), RegistrarError> {
        self.reset_password_as(None, username, password, reset_totp, now)
    }

    fn reset_password_as(
        &self,
        by: By<'_>,
        username: &str,
        password: Option<&str>,
        reset_totp: bool,
        now: i64,
    ) -> Result<(UserSummary, Option<Zeroizing<String>>), RegistrarError> {
        let mut user = self.existing_user(username)?;
        let (secret, one_time) = password_or_one_time(password)?;
        user.password_hash = password::hash(&secret).map_err(weak)?;
        user.must_change_password = one_time;
        user.disabled = false;
        if reset_totp {
            user.totp_secret = None;
            user.totp_pending = None;
        }
        user.updated_at = now;
        self.store.update_user(&user)?;
        self.store.delete_sessions_of(user.id, None)?;
        self.store
            .clear_failures(&super::sessions::user_key(&user.username))?;
        self.audit_by(
            by,
            now,
            if reset_totp {
                "user_reset_password_and_totp"
            } else {
                "user_reset_password"
            },
            user.username.clone(),
        )?;
        Ok((UserSummary::from(&user), one_time.then_some(secret)))
    }
}

/// Users as admins manage them through the API: the same rules as the CLI, each change
/// audited with the admin and the address; passwords are always one-time passwords (shown
/// once, changed at first login), so no admin ever knows another person's password.
impl Registrar {
    /// Every user (admins).
    pub fn admin_users(&self, session: &Session) -> Result<Vec<UserSummary>, RegistrarError> {
        super::access::require_admin(&session.user)?;
        self.list_users()
    }

    /// Adds a user with a one-time password, returned once (admins).
    pub fn admin_add_user(
        &self,
        session: &Session,
        username: &str,
        roles: &[Role],
        regions: &[String],
        address: &str,
        now: i64,
    ) -> Result<(UserSummary, Zeroizing<String>), RegistrarError> {
        super::access::require_admin(&session.user)?;
        let by = Some((session.user.username.as_str(), address));
        let (user, secret) = self.add_user_as(by, username, roles, regions, None, now)?;
        let secret = secret.ok_or_else(|| RegistrarError::new(500, "internal", "no password"))?;
        Ok((user, secret))
    }

    /// Disables a user and ends its sessions (admins; not oneself).
    pub fn admin_disable_user(
        &self,
        session: &Session,
        username: &str,
        address: &str,
        now: i64,
    ) -> Result<UserSummary, RegistrarError> {
        super::access::require_admin(&session.user)?;
        if normalise_username(username)? == session.user.username {
            return Err(RegistrarError::new(
                409,
                "own_account",
                "you cannot disable your own account: ask another admin",
            ));
        }
        let by = Some((session.user.username.as_str(), address));
        self.disable_user_as(by, username, now)
    }

    /// Gives a user a new one-time password, returned once, enables it again and ends its
    /// sessions; with `reset_totp` removes its second factor (admins).
    pub fn admin_reset_password(
        &self,
        session: &Session,
        username: &str,
        reset_totp: bool,
        address: &str,
        now: i64,
    ) -> Result<(UserSummary, Zeroizing<String>), RegistrarError> {
        super::access::require_admin(&session.user)?;
        let by = Some((session.user.username.as_str(), address));
        let (user, secret) = self.reset_password_as(by, username, None, reset_totp, now)?;
        let secret = secret.ok_or_else(|| RegistrarError::new(500, "internal", "no password"))?;
        Ok((user, secret))
    }

    /// Sets a user's roles and regions (admins; an admin cannot take its own admin role away).
    /// The user's sessions end, so the change holds from its next login.
    pub fn admin_set_access(
        &self,
        session: &Session,
        username: &str,
        roles: &[Role],
        regions: &[String],
        address: &str,
        now: i64,
    ) -> Result<UserSummary, RegistrarError> {
        super::access::require_admin(&session.user)?;
        let mut user = self.existing_user(username)?;
        let (roles, regions) = check_access(roles, regions)?;
        if user.id == session.user.id && !roles.contains(&Role::Admin) {
            return Err(RegistrarError::new(
                409,
                "own_account",
                "you cannot take away your own admin role: ask another admin",
            ));
        }
        user.roles = roles.iter().map(|r| r.code().to_string()).collect();
        user.regions = regions;
        user.updated_at = now;
        self.store.update_user(&user)?;
        if user.id != session.user.id {
            self.store.delete_sessions_of(user.id, None)?;
        }
        self.audit(
            now,
            Some(&session.user.username),
            "user_set_access",
            Some(format!(
                "{} roles={} regions={}",
                user.username,
                user.roles.join(","),
                user.regions.join(",")
            )),
            Some(address),
        )?;
        Ok(UserSummary::from(&user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_regions_are_plain_codes() {
        assert_eq!(normalise_username(" Anna.K ").unwrap(), "anna.k");
        for bad in ["", "анна", "a b", "a/b", &"a".repeat(65)] {
            assert_eq!(normalise_username(bad).unwrap_err().code, "bad_username");
        }
        assert_eq!(check_region("UA-46").unwrap(), "UA-46");
        for bad in ["", "ua-46", "UA 46", "UA-46-XXXXXXXXXXXX"] {
            assert_eq!(check_region(bad).unwrap_err().code, "bad_region");
        }
    }
}
