//! The users page (`/registrar/users`, admins): every user with roles, regions and state; a
//! form that adds a user; per user a disable button and a password reset (optionally removing
//! the second factor, for a lost phone). A new user's or a reset's one-time password is shown
//! once; the user changes it at the first login, so no admin knows another person's password.
//! Per user, too, a form that changes its roles and regions.
//!
//! Every read and change is [`Registrar::admin_users`], [`Registrar::admin_add_user`],
//! [`Registrar::admin_disable_user`], [`Registrar::admin_reset_password`] or
//! [`Registrar::admin_set_access`], as the JSON API
//! calls them: admins only, each change audited. An admin reads no record unless also given a
//! records role (the pages of records check that, not this one).

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
    response::Response,
};
use maud::html;

use super::{Page, Req, Shared, error_text, layout, redirect, with_form, with_session};
use crate::registrar::{
    RegistrarError, Role, access, i18n::Lang, users::MAX_USERNAME_CHARS, users::UserSummary,
};

/// The page's path.
pub const PATH: &str = "/registrar/users";

fn role_text(lang: Lang, code: &str) -> String {
    lang.t(&format!("role-{code}"))
}

/// The whole page; `problem` (a refused form) is said above the add form, with its status.
fn users_page(
    page: &Page<'_>,
    problem: Option<&RegistrarError>,
) -> Result<Response, RegistrarError> {
    let lang = page.lang();
    let users = page.registrar.admin_users(page.session)?;
    let me = &page.session.user.username;
    let body = html! {
        h1 { (lang.t("users-title")) }
        @if let Some(e) = problem {
            p.error role="alert" { (error_text(lang, e)) }
        }
        section.user-form {
            h2 { (lang.t("users-add")) }
            p.hint { (lang.t("users-add-hint")) }
            form.search method="post" action=(PATH) {
                (layout::csrf(page.session))
                label { (lang.t("login-username"))
                    input type="text" name="username" required maxlength=(MAX_USERNAME_CHARS)
                        pattern="[a-z0-9._-]+" autocomplete="off"; }
                fieldset.roles {
                    legend { (lang.t("account-roles")) }
                    @for role in Role::ALL {
                        label.check {
                            input type="checkbox" name="role" value=(role.code());
                            (role_text(lang, role.code()))
                        }
                    }
                }
                label { (lang.t("account-regions"))
                    input type="text" name="regions" placeholder="UA-46 UA-32";
                    span.hint { (lang.t("users-regions-hint")) }
                }
                button type="submit" { (lang.t("users-add-button")) }
            }
        }
        h2 { (lang.t("users-list")) }
        table.list.users {
            thead { tr {
                th { (lang.t("login-username")) }
                th { (lang.t("account-roles")) }
                th { (lang.t("account-regions")) }
                th { (lang.t("users-state")) }
                th { (lang.t("users-created")) }
                th { }
            } }
            tbody {
                @for u in &users {
                    tr id={ "user-" (u.username) } {
                        td { (u.username) }
                        td { @for (i, role) in u.roles.iter().enumerate() {
                            @if i > 0 { ", " } (role_text(lang, role))
                        } }
                        td { @if u.regions.is_empty() { (lang.t("account-all-regions")) }
                             @else { (u.regions.join(", ")) } }
                        td { (state(lang, u)) }
                        td { (lang.rfc3339(&u.created_at)) }
                        td.actions {
                            @if u.username != *me {
                                @if !u.disabled {
                                    form method="post" action={ (PATH) "/" (u.username) "/disable" } {
                                        (layout::csrf(page.session))
                                        button.danger type="submit" { (lang.t("users-disable")) }
                                    }
                                }
                                (access_form(page, lang, u))
                                form method="post" action={ (PATH) "/" (u.username) "/reset-password" } {
                                    (layout::csrf(page.session))
                                    label.check {
                                        input type="checkbox" name="reset_totp" value="yes";
                                        (lang.t("users-reset-totp"))
                                    }
                                    button type="submit" { (lang.t("users-reset")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = problem
        .and_then(|e| StatusCode::from_u16(e.status).ok())
        .unwrap_or(StatusCode::OK);
    Ok(page.html_status(status, &lang.t("users-title"), PATH, body))
}

/// The form that changes `u`'s roles and regions, filled in with the present ones.
fn access_form(page: &Page<'_>, lang: Lang, u: &UserSummary) -> maud::Markup {
    html! {
        details.access {
            summary { (lang.t("users-change-access")) }
            form.stack method="post" action={ (PATH) "/" (u.username) "/access" } {
                (layout::csrf(page.session))
                fieldset.roles {
                    legend { (lang.t("account-roles")) }
                    @for role in Role::ALL {
                        label.check {
                            input type="checkbox" name="role" value=(role.code())
                                checked[u.roles.iter().any(|r| r == role.code())];
                            (role_text(lang, role.code()))
                        }
                    }
                }
                label { (lang.t("account-regions"))
                    input type="text" name="regions" value=(u.regions.join(" "));
                    span.hint { (lang.t("users-regions-hint")) }
                }
                button type="submit" { (lang.t("users-change-access-button")) }
            }
        }
    }
}

/// A user's state in words: disabled, a one-time password to change, a second factor.
fn state(lang: Lang, u: &UserSummary) -> maud::Markup {
    html! {
        @if u.disabled {
            span.status.status-revoked { (lang.t("users-disabled")) }
        } @else {
            span.status.status-registered { (lang.t("users-active")) }
        }
        @if u.must_change_password { " " span.hint { (lang.t("users-one-time")) } }
        @if u.totp_enrolled { " " span.hint { (lang.t("users-totp")) } }
    }
}

/// `GET /registrar/users`.
pub(crate) async fn users(State(state): State<Shared>, req: Req) -> Response {
    with_session(&state, req, false, |page| users_page(page, None)).await
}

/// Whether a refusal is said on the page with its form (bad input, a name taken) rather than
/// as an error page.
fn said_on_the_page(e: &RegistrarError) -> bool {
    (400..500).contains(&e.status) && e.status != 403
}

/// The roles ticked in the add form (`role=…`, repeated).
fn ticked_roles(form: &[(String, String)]) -> Result<Vec<Role>, RegistrarError> {
    form.iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| {
            Role::parse(v).ok_or_else(|| {
                RegistrarError::bad_request(
                    "bad_role",
                    "a role is registrar, supervisor, auditor or admin",
                )
            })
        })
        .collect()
}

/// The regions typed in a form (`regions=`, separated by spaces or commas).
fn regions_of(form: &[(String, String)]) -> Vec<String> {
    field(form, "regions")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// The value of field `name` of a form ("" if absent).
fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// `POST /registrar/users`: adds the user and shows its one-time password once.
pub(crate) async fn user_add(State(state): State<Shared>, req: Req, body: Bytes) -> Response {
    with_form(
        &state,
        req,
        body,
        false,
        |page, form: Vec<(String, String)>| {
            access::require_admin(&page.session.user)?;
            let added = ticked_roles(&form).and_then(|roles| {
                page.registrar.admin_add_user(
                    page.session,
                    field(&form, "username"),
                    &roles,
                    &regions_of(&form),
                    &page.req.address,
                    page.now,
                )
            });
            match added {
                Ok((user, secret)) => Ok(password_page(page, "users-added-title", &user, &secret)),
                Err(e) if said_on_the_page(&e) => users_page(page, Some(&e)),
                Err(e) => Err(e),
            }
        },
    )
    .await
}

/// The one-time password of `user`, just set: the only time it is shown.
fn password_page(page: &Page<'_>, title: &str, user: &UserSummary, secret: &str) -> Response {
    let lang = page.lang();
    let body = html! {
        h1 { (lang.t(title)) }
        p.notice { (lang.t("users-password-once")) }
        dl.fields {
            dt { (lang.t("login-username")) } dd { (user.username) }
            dt { (lang.t("users-one-time-password")) } dd.secret { code #one-time-password { (secret) } }
        }
        p.hint { (lang.t("users-password-hint")) }
        p { a href=(PATH) { (lang.t("users-back")) } }
    };
    page.html(&lang.t(title), PATH, body)
}

fn username(p: Result<Path<String>, PathRejection>) -> Result<String, RegistrarError> {
    p.map(|Path(name)| name)
        .map_err(|_| RegistrarError::bad_request("bad_username", "not a user name"))
}

/// `POST /registrar/users/{username}/disable`: back to the page.
pub(crate) async fn user_disable(
    State(state): State<Shared>,
    req: Req,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    with_form(
        &state,
        req,
        body,
        false,
        move |page, _: Vec<(String, String)>| {
            let user = page.registrar.admin_disable_user(
                page.session,
                &username(name)?,
                &page.req.address,
                page.now,
            )?;
            Ok(redirect(&format!("{PATH}#user-{}", user.username)))
        },
    )
    .await
}

/// `POST /registrar/users/{username}/reset-password` (`reset_totp=yes` also removes the
/// second factor): shows the new one-time password once.
pub(crate) async fn user_reset(
    State(state): State<Shared>,
    req: Req,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    with_form(
        &state,
        req,
        body,
        false,
        move |page, form: Vec<(String, String)>| {
            let (user, secret) = page.registrar.admin_reset_password(
                page.session,
                &username(name)?,
                field(&form, "reset_totp") == "yes",
                &page.req.address,
                page.now,
            )?;
            Ok(password_page(page, "users-reset-title", &user, &secret))
        },
    )
    .await
}

/// `POST /registrar/users/{username}/access` (`role=…` repeated, `regions=`): sets the user's
/// roles and regions (its sessions end, so they hold from its next login); back to the page.
pub(crate) async fn user_access(
    State(state): State<Shared>,
    req: Req,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    with_form(
        &state,
        req,
        body,
        false,
        move |page, form: Vec<(String, String)>| {
            let changed = ticked_roles(&form).and_then(|roles| {
                page.registrar.admin_set_access(
                    page.session,
                    &username(name)?,
                    &roles,
                    &regions_of(&form),
                    &page.req.address,
                    page.now,
                )
            });
            match changed {
                Ok(user) => Ok(redirect(&format!("{PATH}#user-{}", user.username))),
                Err(e) if said_on_the_page(&e) && e.status != 404 => users_page(page, Some(&e)),
                Err(e) => Err(e),
            }
        },
    )
    .await
}
