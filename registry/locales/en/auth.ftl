# Login, password, second factor, account (English).
login-title = Log in
login-username = User name
login-password = Password
login-totp = Code from the authenticator app
login-totp-hint = Only if your account has a second factor.
login-submit = Log in
login-expired = The login form has expired. It has been renewed: enter your details again.

password-title = Change password
password-first-login = You logged in with a one-time password. Choose your own password to continue.
password-current = Current password
password-new = New password
password-repeat = New password again
password-rules = At least 12 characters. A long sentence you can remember is a good password.
password-submit = Change password
password-mismatch = The two new passwords are not the same.

totp-title = Second factor
totp-required-admin = Administrators must set up a second factor before they can continue.
totp-explain = A second factor asks for a 6-digit code from an authenticator app on your phone each time you log in.
totp-start = Set up a second factor
totp-scan = Add this account to your authenticator app: open the link on your phone, or type the key below into the app.
totp-open-app = Open in the authenticator app
totp-secret = Key (shown only now):
totp-code = Code shown by the app
totp-confirm = Confirm
totp-enrolled = A second factor is set up for your account.

account-title = My account
account-roles = Roles
account-regions = Regions
account-all-regions = All regions
