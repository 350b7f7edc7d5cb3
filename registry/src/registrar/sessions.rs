//! Logins and sessions.
//!
//! - A session token is 32 bytes from the OS RNG, sent to the browser once (the cookie) and
//!   stored as its SHA-256 only; a stolen database holds no usable session.
//! - The CSRF token is derived from the session token (SHA-256 under its own label), so the
//!   server can recompute it for any request and never stores it; compared in constant time.
//! - A session ends after [`super::RegistrarConfig::idle_timeout_secs`] unused, after
//!   [`super::RegistrarConfig::session_lifetime_secs`] in all, at logout, at a password change
//!   (the other sessions), and when the user is disabled.
//! - Failed logins are counted per login name (existing or not) and per client address; after
//!   [`super::RegistrarConfig::free_failures`] each further attempt waits, doubling up to a
//!   cap (429 `login_backoff` with `Retry-After`). A wrong name, a wrong password, a disabled
//!   user and a wrong second factor get the same answer, and a login for a name that does not
//!   exist verifies a dummy Argon2id hash, so it takes as long.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{
    Registrar, RegistrarError, Role, access, password,
    store::{SessionRow, UserRow},
    totp,
};

/// Cookie name of the session.
pub const COOKIE: &str = "birthright_session";

/// The failure-count key of a login name.
pub fn user_key(username: &str) -> String {
    format!("user:{username}")
}

/// The failure-count key of a client address.
pub fn address_key(address: &str) -> String {
    format!("address:{address}")
}

/// SHA-256 of a session token (what is stored).
pub fn token_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The CSRF token of a session token.
pub fn csrf_token(token: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"birthright registrar csrf v1\0");
    h.update(token);
    B64URL.encode(h.finalize())
}

/// A logged-in request's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: UserRow,
    /// The session's stored hash.
    pub token_hash: [u8; 32],
    /// Its CSRF token.
    pub csrf_token: String,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.csrf_token.as_bytes())))
    }

    /// What the session may not do yet: change the one-time password first, or (an admin)
    /// enrol a second factor first.
    pub fn pending_step(&self) -> Option<RegistrarError> {
        if self.user.must_change_password {
            Some(RegistrarError::new(
                403,
                "password_change_required",
                "change the one-time password first (POST /api/registrar/v1/password)",
            ))
        } else if access::has(&self.user, Role::Admin) && self.user.totp_secret.is_none() {
            Some(RegistrarError::new(
                403,
                "totp_enrolment_required",
                "an administrator needs a second factor: enrol one first \
                 (POST /api/registrar/v1/totp/enrol)",
            ))
        } else {
            None
        }
    }
}

/// A successful login.
pub struct LoginOk {
    /// The session token for the cookie (base64url), shown once.
    pub token: Zeroizing<String>,
    /// The session.
    pub session: Session,
}

/// A login attempt.
pub struct LoginRequest<'a> {
    /// Login name as typed.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
    /// TOTP code, when enrolled.
    pub totp: Option<&'a str>,
    /// Client address.
    pub address: &'a str,
}

fn login_failed() -> RegistrarError {
    RegistrarError::new(
        401,
        "login_failed",
        "the user name, password or code is wrong, or the user is disabled",
    )
}

impl Registrar {
    /// The wait before `key` may try again, if any.
    fn backoff(&self, key: &str, now: i64) -> Result<Option<i64>, RegistrarError> {
        let c = &self.config;
        let Some((failures, last)) = self.store.failures(key)? else {
            return Ok(None);
        };
        if failures < c.free_failures || last < now - c.failure_window_secs {
            return Ok(None);
        }
        let doublings = (failures - c.free_failures).min(30);
        let wait = c
            .first_backoff_secs
            .saturating_mul(1i64 << doublings)
            .min(c.max_backoff_secs);
        let until = last.saturating_add(wait);
        Ok((now < until).then_some(until - now))
    }

    fn count_failure(&self, keys: &[&str], now: i64) -> Result<(), RegistrarError> {
        for key in keys {
            self.store
                .record_failure(key, now, now - self.config.failure_window_secs)?;
        }
        Ok(())
    }

    /// Logs in: checks back-off, the password (or a dummy), the second factor; audits the
    /// outcome; starts a session.
    pub fn login(&self, request: &LoginRequest<'_>, now: i64) -> Result<LoginOk, RegistrarError> {
        let username = request.username.trim().to_ascii_lowercase();
        let name_key = user_key(&username);
        let addr_key = address_key(request.address);
        let wait = self
            .backoff(&name_key, now)?
            .max(self.backoff(&addr_key, now)?);
        let actor =
            (username.len() <= super::users::MAX_USERNAME_CHARS).then_some(username.as_str());
        if let Some(wait) = wait {
            self.audit(
                now,
                actor,
                "login_refused_backoff",
                None,
                Some(request.address),
            )?;
            let mut e = RegistrarError::new(
                429,
                "login_backoff",
                format!("too many failed logins: wait {wait} seconds and try again"),
            );
            e.retry_after = u64::try_from(wait).ok();
            return Err(e);
        }
        let user = super::users::normalise_username(&username)
            .ok()
            .and_then(|name| self.store.user_by_name(&name).transpose())
            .transpose()?
            .filter(|u| !u.disabled);
        let fail = |this: &Self| -> Result<LoginOk, RegistrarError> {
            this.count_failure(&[&name_key, &addr_key], now)?;
            this.audit(now, actor, "login_failed", None, Some(request.address))?;
            Err(login_failed())
        };
        let Some(user) = user else {
            password::verify_dummy(request.password);
            return fail(self);
        };
        if !password::verify(request.password, &user.password_hash) {
            return fail(self);
        }
        if let Some(sealed) = &user.totp_secret {
            let Some(code) = request.totp else {
                return Err(RegistrarError::new(
                    401,
                    "totp_required",
                    "this user has a second factor: give the code from the authenticator app",
                ));
            };
            let secret = self.open_totp(&user, sealed, "totp_secret")?;
            let step = totp::verify(&secret, code, now, user.totp_last_step);
            match step {
                Some(step) if self.store.use_totp_step(user.id, step)? => {}
                _ => return fail(self),
            }
        }
        self.store.clear_failures(&name_key)?;
        let session = self.start_session(&user, now)?;
        self.audit(
            now,
            Some(&user.username),
            "login",
            None,
            Some(request.address),
        )?;
        Ok(session)
    }

    fn start_session(&self, user: &UserRow, now: i64) -> Result<LoginOk, RegistrarError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        birthright_core::keys::os_random(raw.as_mut())
            .map_err(|e| RegistrarError::new(500, "internal", e.to_string()))?;
        let token = Zeroizing::new(B64URL.encode(raw.as_ref()));
        let hash = token_hash(token.as_bytes());
        self.store
            .delete_idle_sessions(now - self.config.idle_timeout_secs)?;
        self.store.insert_session(&SessionRow {
            token_hash: hash,
            user_id: user.id,
            created_at: now,
            last_seen: now,
        })?;
        let csrf = csrf_token(token.as_bytes());
        Ok(LoginOk {
            token,
            session: Session {
                user: user.clone(),
                token_hash: hash,
                csrf_token: csrf,
            },
        })
    }

    /// The session of cookie value `token` at `now`, marked used; 401 if there is none, it
    /// has been idle too long or lived too long, or its user is disabled.
    pub fn authenticate(&self, token: Option<&str>, now: i64) -> Result<Session, RegistrarError> {
        let Some(token) = token.filter(|t| t.len() <= 128) else {
            return Err(RegistrarError::unauthenticated());
        };
        let hash = token_hash(token.as_bytes());
        let Some(row) = self.store.session(&hash)? else {
            return Err(RegistrarError::unauthenticated());
        };
        if now - row.last_seen > self.config.idle_timeout_secs
            || now - row.created_at > self.config.session_lifetime_secs
        {
            self.store.delete_session(&hash)?;
            return Err(RegistrarError::new(
                401,
                "session_expired",
                "the session has ended: log in again",
            ));
        }
        let Some(user) = self.store.user_by_id(row.user_id)?.filter(|u| !u.disabled) else {
            self.store.delete_session(&hash)?;
            return Err(RegistrarError::unauthenticated());
        };
        self.store.touch_session(&hash, now)?;
        Ok(Session {
            user,
            token_hash: hash,
            csrf_token: csrf_token(token.as_bytes()),
        })
    }

    /// Ends `session`.
    pub fn logout(&self, session: &Session, address: &str, now: i64) -> Result<(), RegistrarError> {
        self.store.delete_session(&session.token_hash)?;
        self.audit(
            now,
            Some(&session.user.username),
            "logout",
            None,
            Some(address),
        )
    }

    /// Changes the session user's password (the current one is checked); ends its other
    /// sessions and clears a must-change flag.
    pub fn change_password(
        &self,
        session: &Session,
        current: &str,
        new: &str,
        address: &str,
        now: i64,
    ) -> Result<(), RegistrarError> {
        let mut user = session.user.clone();
        if !password::verify(current, &user.password_hash) {
            self.count_failure(&[&user_key(&user.username), &address_key(address)], now)?;
            self.audit(
                now,
                Some(&user.username),
                "password_change_failed",
                None,
                Some(address),
            )?;
            return Err(RegistrarError::new(
                403,
                "wrong_password",
                "the current password is wrong",
            ));
        }
        password::check_new(new)
            .map_err(|e| RegistrarError::bad_request("weak_password", e.to_string()))?;
        if password::verify(new, &user.password_hash) {
            return Err(RegistrarError::bad_request(
                "weak_password",
                "the new password must differ from the current one",
            ));
        }
        user.password_hash =
            password::hash(new).map_err(|e| RegistrarError::new(500, "internal", e.to_string()))?;
        user.must_change_password = false;
        user.updated_at = now;
        self.store.update_user(&user)?;
        self.store
            .delete_sessions_of(user.id, Some(&session.token_hash))?;
        self.audit(
            now,
            Some(&user.username),
            "password_change",
            None,
            Some(address),
        )
    }

    fn totp_context(user: &UserRow, column: &str) -> Vec<u8> {
        format!("registrar_users/{column}/{}", user.id).into_bytes()
    }

    fn open_totp(
        &self,
        user: &UserRow,
        sealed: &[u8],
        column: &str,
    ) -> Result<Zeroizing<Vec<u8>>, RegistrarError> {
        self.data_key
            .open(&Self::totp_context(user, column), sealed)
            .ok_or_else(|| {
                RegistrarError::new(500, "internal", "a stored second factor is damaged")
            })
    }

    /// Starts enrolling a TOTP second factor: a new secret, sealed and kept pending until
    /// [`Self::totp_confirm`]. Returns its base32 text and `otpauth://` URI, shown once.
    pub fn totp_enrol(
        &self,
        session: &Session,
        address: &str,
        now: i64,
    ) -> Result<(Zeroizing<String>, Zeroizing<String>), RegistrarError> {
        let mut user = session.user.clone();
        if user.totp_secret.is_some() {
            return Err(RegistrarError::new(
                409,
                "totp_already_enrolled",
                "a second factor is enrolled already; an administrator can reset it \
                 (registry user reset-password --reset-totp)",
            ));
        }
        let mut secret = Zeroizing::new([0u8; totp::SECRET_BYTES]);
        birthright_core::keys::os_random(secret.as_mut())
            .map_err(|e| RegistrarError::new(500, "internal", e.to_string()))?;
        user.totp_pending = Some(
            self.data_key
                .seal(&Self::totp_context(&user, "totp_pending"), secret.as_ref())
                .map_err(|e| RegistrarError::new(500, "internal", e.0))?,
        );
        user.updated_at = now;
        self.store.update_user(&user)?;
        self.audit(
            now,
            Some(&user.username),
            "totp_enrol_start",
            None,
            Some(address),
        )?;
        Ok((
            Zeroizing::new(totp::base32(secret.as_ref())),
            Zeroizing::new(totp::otpauth_uri(
                &self.config.totp_issuer,
                &user.username,
                secret.as_ref(),
            )),
        ))
    }

    /// Confirms the pending second factor with a code from it.
    pub fn totp_confirm(
        &self,
        session: &Session,
        code: &str,
        address: &str,
        now: i64,
    ) -> Result<(), RegistrarError> {
        let mut user = session.user.clone();
        let Some(pending) = user.totp_pending.clone() else {
            return Err(RegistrarError::new(
                409,
                "no_totp_enrolment",
                "no second factor is being enrolled: start with POST /api/registrar/v1/totp/enrol",
            ));
        };
        let secret = self.open_totp(&user, &pending, "totp_pending")?;
        let Some(step) = totp::verify(&secret, code, now, None) else {
            self.audit(
                now,
                Some(&user.username),
                "totp_enrol_failed",
                None,
                Some(address),
            )?;
            return Err(RegistrarError::bad_request(
                "wrong_code",
                "the code does not match: check the phone's clock and try the current code",
            ));
        };
        user.totp_secret = Some(
            self.data_key
                .seal(&Self::totp_context(&user, "totp_secret"), &secret)
                .map_err(|e| RegistrarError::new(500, "internal", e.0))?,
        );
        user.totp_pending = None;
        user.totp_last_step = Some(step);
        user.updated_at = now;
        self.store.update_user(&user)?;
        self.audit(now, Some(&user.username), "totp_enrol", None, Some(address))
    }
}
