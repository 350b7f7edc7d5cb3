# The workspace's shell, navigation and errors (English).
app-name = Birthright registry
nav-label = Main
nav-queue = Review queue
nav-search = Search
nav-statistics = Statistics
nav-account = My account
nav-logout = Log out
lang-label = Language

error-title-forbidden = Not allowed
error-title-not-found = Not found
error-title-bad-request = Something is wrong with the request
error-title-internal = Something went wrong
error-back = Back to the review queue
error-forbidden = Your role does not allow this page or action.
error-region_forbidden = This record is outside the regions you work in.
error-not_found = There is no such page or record.
error-bad_request = The request could not be understood. Check what you entered and try again.
error-bad_query = The search could not be run: a date of birth is written as 2026, 2026-03 or 2026-03-14, and the names may have at most 200 characters.
error-bad_id = That is not a record number of this registry.
error-bad_form = The form was not filled in as expected. Try again.
error-csrf = The form has expired. Go back, reload the page and try again.
error-internal = The registry could not complete this. Try again later; if it keeps happening, tell the registry's administrator.
error-login_failed = The user name, password or code is wrong, or the account is disabled.
error-login_backoff = Too many failed attempts. Wait { $seconds } seconds, then try again.
error-totp_required = This account has a second factor: enter the 6-digit code from your authenticator app.
error-wrong_password = The current password is wrong.
error-weak_password = The new password must have at least 12 characters and differ from the current one.
error-totp_already_enrolled = A second factor is already set up. An administrator can reset it if the phone is lost.
error-no_totp_enrolment = No second factor is being set up: start again.
error-wrong_code = The code is wrong or has expired. Enter the current code from the app.
error-unknown_pair = These two records are no longer waiting for a decision.

role-registrar = Registrar
role-supervisor = Supervisor
role-auditor = Auditor
role-admin = Administrator

col-child = Child
col-dob = Date of birth
col-sex = Sex
col-region = Region
col-status = Status
col-sequenced = Received by the registry
col-reason = Why it waits
col-waiting-since = Waiting since

status-registered = Registered
status-superseded = Corrected since
status-declared = Declared
status-awaiting_review = Awaiting review
status-rejected = Rejected
status-duplicate = Duplicate
status-correction_requested = Correction requested
status-revoked = Credential revoked

sex-female = Female
sex-male = Male
sex-unknown = Not determined
