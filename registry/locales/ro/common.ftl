# Cadrul spațiului de lucru, navigarea și erorile (română).
app-name = Registrul Birthright
nav-label = Meniu principal
nav-queue = Coada de verificare
nav-search = Căutare
nav-statistics = Statistici
nav-account = Contul meu
nav-logout = Ieșire
lang-label = Limba

error-title-forbidden = Nepermis
error-title-not-found = Negăsit
error-title-bad-request = Cererea are o problemă
error-title-internal = A apărut o eroare
error-back = Înapoi la coada de verificare
error-forbidden = Rolul dumneavoastră nu permite această pagină sau acțiune.
error-region_forbidden = Această înregistrare este în afara regiunilor în care lucrați.
error-not_found = Nu există o astfel de pagină sau înregistrare.
error-bad_request = Cererea nu a putut fi înțeleasă. Verificați ce ați introdus și încercați din nou.
error-bad_query = Căutarea nu a putut fi făcută: data nașterii se scrie 2026, 2026-03 sau 2026-03-14, iar numele pot avea cel mult 200 de caractere.
error-bad_id = Acesta nu este un număr de înregistrare al acestui registru.
error-bad_form = Formularul nu a fost completat cum era de așteptat. Încercați din nou.
error-csrf = Formularul a expirat. Reveniți, reîncărcați pagina și încercați din nou.
error-internal = Registrul nu a putut finaliza acțiunea. Încercați mai târziu; dacă se repetă, anunțați administratorul registrului.
error-login_failed = Numele de utilizator, parola sau codul sunt greșite, ori contul este dezactivat.
error-login_backoff = Prea multe încercări eșuate. Așteptați { $seconds } secunde, apoi încercați din nou.
error-totp_required = Acest cont are un al doilea factor: introduceți codul de 6 cifre din aplicația de autentificare.
error-wrong_password = Parola actuală este greșită.
error-weak_password = Parola nouă trebuie să aibă cel puțin 12 caractere și să difere de cea actuală.
error-totp_already_enrolled = Al doilea factor este deja configurat. Dacă telefonul s-a pierdut, un administrator îl poate reseta.
error-no_totp_enrolment = Nu se configurează niciun al doilea factor: începeți din nou.
error-wrong_code = Codul este greșit sau a expirat. Introduceți codul actual din aplicație.
error-unknown_pair = Aceste două înregistrări nu mai așteaptă o decizie.

role-registrar = Ofițer de stare civilă
role-supervisor = Coordonator
role-auditor = Auditor
role-admin = Administrator

col-child = Copilul
col-dob = Data nașterii
col-sex = Sexul
col-region = Regiunea
col-status = Starea
col-sequenced = Primită de registru
col-reason = Motivul verificării
col-waiting-since = Așteaptă din

status-registered = Înregistrată
status-superseded = Corectată ulterior
status-declared = Declarată
status-awaiting_review = În așteptarea verificării
status-rejected = Respinsă
status-duplicate = Duplicat
status-correction_requested = Corectare cerută
status-revoked = Certificat revocat

sex-female = Feminin
sex-male = Masculin
sex-unknown = Nedeterminat
