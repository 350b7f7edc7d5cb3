//! The page shell every workspace page shares: the document head, the header with the
//! navigation (what the user's roles allow), the language switcher and the logout button.

use maud::{DOCTYPE, Markup, html};

use super::{CSS_PATH, PREFIX, with_next};
use crate::registrar::{access, i18n::Lang, sessions::Session, store::UserRow};

/// One entry of the navigation: its path, its message id, and who sees it.
pub struct NavEntry {
    /// Path of the page.
    pub path: &'static str,
    /// Message id of its label.
    pub label: &'static str,
    /// Whether the user sees the entry.
    pub shown: fn(&UserRow) -> bool,
}

/// The navigation, in order (add a page's entry here).
pub const NAV: &[NavEntry] = &[
    NavEntry {
        path: "/registrar/queue",
        label: "nav-queue",
        shown: access::reads_records,
    },
    NavEntry {
        path: "/registrar/search",
        label: "nav-search",
        shown: access::reads_records,
    },
    NavEntry {
        path: "/registrar/statistics",
        label: "nav-statistics",
        shown: access::reads_records,
    },
    NavEntry {
        path: "/registrar/devices",
        label: "nav-devices",
        shown: |u| access::require_device_reader(u).is_ok(),
    },
    NavEntry {
        path: "/registrar/users",
        label: "nav-users",
        shown: |u| access::has(u, access::Role::Admin),
    },
    NavEntry {
        path: "/registrar/account",
        label: "nav-account",
        shown: |_| true,
    },
];

/// A whole page: `title`, then `body` in the main area. `session` gives the navigation,
/// the user's name and the logout button; `current` is the nav path to mark as here; `back`
/// the page the language switcher comes back to (a GET path of the workspace).
pub fn page(
    lang: Lang,
    session: Option<&Session>,
    current: &str,
    back: &str,
    title: &str,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("app-name")) }
                link rel="stylesheet" href=(CSS_PATH);
            }
            body {
                header.top {
                    a.brand href={ (PREFIX) "/" } { (lang.t("app-name")) }
                    @if let Some(session) = session {
                        nav aria-label=(lang.t("nav-label")) {
                            @for entry in NAV.iter().filter(|e| (e.shown)(&session.user)) {
                                a href=(entry.path)
                                    aria-current=[(entry.path == current).then_some("page")]
                                    { (lang.t(entry.label)) }
                            }
                        }
                    }
                    div.tools {
                        div.langs role="group" aria-label=(lang.t("lang-label")) {
                            @for other in Lang::ALL {
                                @if other == lang {
                                    span.lang.current lang=(other.code()) { (other.native_name()) }
                                } @else {
                                    a.lang lang=(other.code())
                                        href=(with_next(&format!("{PREFIX}/lang/{}", other.code()), back))
                                        { (other.native_name()) }
                                }
                            }
                        }
                        @if let Some(session) = session {
                            span.user { (session.user.username) }
                            form.logout method="post" action={ (PREFIX) "/logout" } {
                                input type="hidden" name="csrf" value=(session.csrf_token);
                                button type="submit" { (lang.t("nav-logout")) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The hidden CSRF field of a form of `session`.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf_token); }
}
