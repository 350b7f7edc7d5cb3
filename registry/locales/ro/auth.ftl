# Autentificare, parolă, al doilea factor, cont (română).
login-title = Autentificare
login-username = Nume de utilizator
login-password = Parola
login-totp = Codul din aplicația de autentificare
login-totp-hint = Doar dacă contul dumneavoastră are un al doilea factor.
login-submit = Intrare
login-expired = Formularul de autentificare a expirat. A fost reînnoit: introduceți din nou datele.

password-title = Schimbarea parolei
password-first-login = V-ați autentificat cu o parolă de unică folosință. Alegeți o parolă proprie pentru a continua.
password-current = Parola actuală
password-new = Parola nouă
password-repeat = Parola nouă, din nou
password-rules = Cel puțin 12 caractere. O propoziție lungă pe care o țineți minte este o parolă bună.
password-submit = Schimbă parola
password-mismatch = Cele două parole noi nu sunt identice.

totp-title = Al doilea factor
totp-required-admin = Administratorii trebuie să configureze un al doilea factor înainte de a continua.
totp-explain = Al doilea factor cere, la fiecare autentificare, un cod de 6 cifre dintr-o aplicație de autentificare de pe telefon.
totp-start = Configurează al doilea factor
totp-scan = Adăugați acest cont în aplicația de autentificare: deschideți linkul pe telefon sau introduceți cheia de mai jos în aplicație.
totp-open-app = Deschide în aplicația de autentificare
totp-secret = Cheia (afișată doar acum):
totp-code = Codul afișat de aplicație
totp-confirm = Confirmă
totp-enrolled = Contul dumneavoastră are configurat un al doilea factor.

account-title = Contul meu
account-roles = Roluri
account-regions = Regiuni
account-all-regions = Toate regiunile
