//! Who may do what. Roles as the issue defines them:
//!
//! | role | may |
//! |---|---|
//! | `registrar` | search and view records, review and decide, print and reissue certificates, in its regions |
//! | `supervisor` | what a registrar may, and the devices and enrolment tokens of its regions |
//! | `auditor` | read everything, read-only: records, devices and tokens in its regions, the audit log |
//! | `admin` | users; no record unless also given a records role |
//!
//! A user limited to regions never sees a record outside them: every record read goes
//! through [`sees_region`].

use super::{RegistrarError, store::UserRow};

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reviews, decides, searches, prints, in its regions.
    Registrar,
    /// A registrar who also manages devices and tokens of its regions.
    Supervisor,
    /// Reads everything, changes nothing.
    Auditor,
    /// Manages users.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Registrar,
        Role::Supervisor,
        Role::Auditor,
        Role::Admin,
    ];

    /// Its code.
    pub fn code(self) -> &'static str {
        match self {
            Role::Registrar => "registrar",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// The role of `code`.
    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// The roles of `user`.
pub fn roles(user: &UserRow) -> Vec<Role> {
    user.roles.iter().filter_map(|r| Role::parse(r)).collect()
}

/// Whether `user` has `role`.
pub fn has(user: &UserRow, role: Role) -> bool {
    roles(user).contains(&role)
}

/// Whether `user` may read records at all.
pub fn reads_records(user: &UserRow) -> bool {
    roles(user)
        .iter()
        .any(|r| matches!(r, Role::Registrar | Role::Supervisor | Role::Auditor))
}

/// Whether `user` sees records of `region` (a user with no regions sees every region).
pub fn sees_region(user: &UserRow, region: &str) -> bool {
    user.regions.is_empty() || user.regions.iter().any(|r| r == region)
}

/// Fails with 403 unless `user` may read records.
pub fn require_records(user: &UserRow) -> Result<(), RegistrarError> {
    if reads_records(user) {
        Ok(())
    } else {
        Err(RegistrarError::forbidden("reading records"))
    }
}

/// Fails with 403 unless `user` may decide on registrations (a registrar or a supervisor).
pub fn require_decide(user: &UserRow) -> Result<(), RegistrarError> {
    if has(user, Role::Registrar) || has(user, Role::Supervisor) {
        Ok(())
    } else {
        Err(RegistrarError::forbidden("deciding on registrations"))
    }
}

/// Fails with 403 unless `user` is an auditor.
pub fn require_auditor(user: &UserRow) -> Result<(), RegistrarError> {
    if has(user, Role::Auditor) {
        Ok(())
    } else {
        Err(RegistrarError::forbidden("reading the audit log"))
    }
}

/// Fails with 403 unless `user` may print certificates (registrar or supervisor: an auditor
/// reads but issues no paper).
pub fn require_printer(user: &UserRow) -> Result<(), RegistrarError> {
    if roles(user)
        .iter()
        .any(|r| matches!(r, Role::Registrar | Role::Supervisor))
    {
        Ok(())
    } else {
        Err(RegistrarError::forbidden("printing certificates"))
    }
}

/// Fails with 403 unless `user` may read devices and tokens (supervisor or auditor).
pub fn require_device_reader(user: &UserRow) -> Result<(), RegistrarError> {
    if roles(user)
        .iter()
        .any(|r| matches!(r, Role::Supervisor | Role::Auditor))
    {
        Ok(())
    } else {
        Err(RegistrarError::forbidden(
            "reading devices and enrolment tokens",
        ))
    }
}

/// Fails with 403 unless `user` may manage devices and tokens (supervisor).
pub fn require_supervisor(user: &UserRow) -> Result<(), RegistrarError> {
    if has(user, Role::Supervisor) {
        Ok(())
    } else {
        Err(RegistrarError::forbidden(
            "managing devices and enrolment tokens",
        ))
    }
}

/// Fails with 403 unless `user` is an admin.
pub fn require_admin(user: &UserRow) -> Result<(), RegistrarError> {
    if has(user, Role::Admin) {
        Ok(())
    } else {
        Err(RegistrarError::forbidden("managing users"))
    }
}

/// Fails with 403 `region_forbidden` unless `user` sees `region`.
pub fn require_region(user: &UserRow, region: &str) -> Result<(), RegistrarError> {
    if sees_region(user, region) {
        Ok(())
    } else {
        Err(RegistrarError::new(
            403,
            "region_forbidden",
            format!("you have no access to region {region}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[&str], regions: &[&str]) -> UserRow {
        UserRow {
            id: 1,
            username: "u".into(),
            password_hash: String::new(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            must_change_password: false,
            disabled: false,
            totp_secret: None,
            totp_pending: None,
            totp_last_step: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn roles_and_regions_bound_what_a_user_reads() {
        assert!(reads_records(&user(&["registrar"], &[])));
        assert!(reads_records(&user(&["supervisor"], &[])));
        assert!(reads_records(&user(&["auditor"], &[])));
        assert!(!reads_records(&user(&["admin"], &[])));
        assert!(reads_records(&user(&["admin", "registrar"], &[])));
        assert!(require_auditor(&user(&["registrar"], &[])).is_err());
        assert!(require_auditor(&user(&["auditor"], &[])).is_ok());
        assert!(require_decide(&user(&["registrar"], &[])).is_ok());
        assert!(require_decide(&user(&["supervisor"], &[])).is_ok());
        assert!(require_decide(&user(&["auditor"], &[])).is_err());
        assert!(require_decide(&user(&["admin"], &[])).is_err());
        let limited = user(&["registrar"], &["UA-46"]);
        assert!(sees_region(&limited, "UA-46"));
        assert!(!sees_region(&limited, "UA-32"));
        assert!(sees_region(&user(&["registrar"], &[]), "UA-32"));
        for role in Role::ALL {
            assert_eq!(Role::parse(role.code()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(require_printer(&user(&["registrar"], &[])).is_ok());
        assert!(require_printer(&user(&["auditor"], &[])).is_err());
        assert!(require_device_reader(&user(&["auditor"], &[])).is_ok());
        assert!(require_device_reader(&user(&["registrar"], &[])).is_err());
        assert!(require_supervisor(&user(&["auditor"], &[])).is_err());
        assert!(require_supervisor(&user(&["supervisor"], &[])).is_ok());
        assert!(require_admin(&user(&["supervisor"], &[])).is_err());
        assert!(require_region(&limited, "UA-32").is_err());
    }
}
