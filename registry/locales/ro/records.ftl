# Coada, căutarea și pagina înregistrării (română).
queue-title = Coada de verificare
queue-count = { $count ->
    [one] O înregistrare așteaptă verificarea.
    [few] { $count } înregistrări așteaptă verificarea.
   *[other] { $count } de înregistrări așteaptă verificarea.
}
queue-empty = Nicio înregistrare nu așteaptă verificarea în regiunile dumneavoastră.
reason-late_registration = Înregistrare târzie
reason-possible_duplicate = Posibil duplicat
reason-correction = Corectarea unei înregistrări anterioare
queue-reason = Motivul verificării
queue-device = Dispozitivul (identificatorul cheii)
queue-min-age = Vârsta la înregistrare de la (zile)
queue-max-age = Vârsta la înregistrare până la (zile)
queue-filter = Afișează
queue-age = Vârsta la înregistrare
queue-age-days = { $count ->
    [one] o zi
    [few] { $count } zile
   *[other] { $count } de zile
}
record-decisions = Decizii
record-decided-by-policy = regulile registrului (fără intervenția unei persoane)
record-decided-by-operator = operatorul registrului (pe server)
record-duplicate-of = înregistrarea pe care o dublează
decision-reason-none = niciun motiv indicat
decision-reason-timely = înregistrată la timp
decision-reason-reviewed = verificată de un registrator
decision-reason-incorrect_information = informații incorecte
decision-reason-missing_information = informații lipsă
decision-reason-insufficient_evidence = dovezi insuficiente
decision-reason-suspected_fraud = suspiciune de fraudă
decision-reason-already_registered = deja înregistrată
decision-reason-other = alt motiv (vedeți nota)
decide-title = Decizie privind această înregistrare
decide-register-title = Datele sunt corecte: înregistrați nașterea
decide-register = Înregistrează
decide-note = Notă (păstrată la registru, niciodată în jurnal)
decide-reason = Motivul
decide-choose = Alegeți un motiv
decide-correction-title = Trimiteți-o înapoi lucrătorului de teren pentru corectare
decide-correction = Cere o corectare
decide-reject-title = Refuzați înregistrarea
decide-reject = Respinge
decide-duplicate-title = Același copil este deja înregistrat
decide-duplicate-of = Duplicat al înregistrării
level-likely = Probabil același copil
level-possible = Posibil același copil

search-title = Căutarea înregistrărilor
search-names = Nume (copil, mamă sau tată)
search-mother = Numele mamei
search-dob-from = Născuți începând cu
search-dob-to = Născuți până la
search-number = Numărul înregistrării sau poziția în jurnal
search-dob = Data nașterii
search-dob-placeholder = 2026, 2026-03 sau 2026-03-14
search-region = Regiunea
search-status = Starea
search-any = Oricare
search-submit = Caută
search-hint = Introduceți nume, o dată a nașterii sau un interval, un număr de înregistrare, o regiune sau o stare, apoi căutați. Majusculele, diacriticele și alfabetul nu contează: Kovalenko îl găsește pe Коваленко.
search-next = Pagina următoare
search-results = { $count ->
    [one] O înregistrare găsită
    [few] { $count } înregistrări găsite
   *[other] { $count } de înregistrări găsite
}

record-fields = Datele înregistrării
record-registration = La registru
record-id = Numărul înregistrării
record-device = Dispozitivul
record-worker = Lucrătorul de teren
record-captured = Introdusă
record-device-time = (după ceasul dispozitivului)
record-leaf = Poziția în jurnal
record-inclusion = Verificarea jurnalului
record-inclusion-ok = În jurnalul semnat (verificat acum, { $size } intrări)
record-inclusion-failed = Nu a putut fi confirmată în jurnalul semnat: anunțați administratorul registrului.
record-certificate = Certificat de naștere pentru tipărire
record-history = Istoric
record-history-earlier = Versiune anterioară (corectată ulterior)
record-history-this = Această versiune
record-history-later = Corectare ulterioară
record-held = { $count ->
    [one] Această înregistrare așteaptă o decizie: poate fi același copil ca într-o altă înregistrare.
   *[other] Această înregistrare așteaptă o decizie: poate fi același copil ca în alte înregistrări ({ $count }).
}
record-candidates = Posibile duplicate
record-candidate-level = { $level } (scor { $score })
record-candidate-hidden = Cealaltă înregistrare este în afara regiunilor dumneavoastră.
record-decide-there = Decizia se ia pe înregistrarea ulterioară
compare-this = Această înregistrare
compare-candidate = Cealaltă înregistrare
decide-duplicate = Același copil: marchează ca duplicat
decide-not-duplicate = Copii diferiți

field-child-given-names = Prenumele copilului
field-child-family-name = Numele de familie al copilului
field-sex = Sexul
field-date-of-birth = Data nașterii
field-time-of-birth = Ora nașterii
field-plurality = Ordinea nașterii / copii născuți împreună
field-place-kind = Locul nașterii
field-admin-area = Regiunea nașterii
field-locality = Localitatea
field-facility = Unitatea sanitară
field-coordinates = Coordonate
field-mother = Mama
field-father = Tatăl
field-given-names = prenume
field-family-name = nume de familie
field-national-id = act de identitate
field-nationality = cetățenie
field-informant = Declarantul
field-name = numele
field-relationship = relația cu copilul
field-phone = telefon
field-caregiver = Îngrijitor { $n }
field-consent = Consimțământ
field-consent-given = Dat (de: { $by })
field-consent-not-given = Nedat
field-notes = Observații
place-health-facility = Unitate sanitară
place-home = Acasă
place-other = În altă parte
queue-pages = Paginile cozii
queue-page = Pagina { $page }
queue-previous = Pagina anterioară
queue-next = Pagina următoare
queue-past-the-end = Această pagină este după sfârșitul cozii.
