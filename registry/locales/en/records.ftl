# Queue, search and record pages (English).
queue-title = Review queue
queue-count = { $count ->
    [one] One record is waiting for review.
   *[other] { $count } records are waiting for review.
}
queue-empty = No record is waiting for review in your regions.
reason-late_registration = Late registration
reason-possible_duplicate = Possible duplicate
reason-correction = Correction of an earlier record
queue-reason = Why it waits
queue-device = Device (key id)
queue-min-age = Age at capture from (days)
queue-max-age = Age at capture up to (days)
queue-filter = Show
queue-age = Age at capture
queue-age-days = { $count ->
    [one] 1 day
   *[other] { $count } days
}
record-decisions = Decisions
record-decided-by-policy = the registry's rules (no person)
record-decided-by-operator = the registry's operator (on the server)
record-duplicate-of = the record it duplicates
decision-reason-none = no reason given
decision-reason-timely = registered in time
decision-reason-reviewed = checked by a registrar
decision-reason-incorrect_information = incorrect information
decision-reason-missing_information = missing information
decision-reason-insufficient_evidence = not enough evidence
decision-reason-suspected_fraud = suspected fraud
decision-reason-already_registered = already registered
decision-reason-other = another reason (see the note)
decide-title = Decide on this record
decide-register-title = The details are right: register the birth
decide-register = Register
decide-note = Note (kept at the registry, never on the ledger)
decide-reason = Reason
decide-choose = Choose a reason
decide-correction-title = Send it back to the field worker for a correction
decide-correction = Ask for a correction
decide-reject-title = Refuse the registration
decide-reject = Reject
decide-duplicate-title = The same child is registered already
decide-duplicate-of = Duplicate of record
level-likely = Likely the same child
level-possible = Possibly the same child

search-title = Search records
search-names = Names (child, mother or father)
search-mother = Mother's names
search-dob-from = Born on or after
search-dob-to = Born on or before
search-number = Registration number or ledger entry
search-dob = Date of birth
search-dob-placeholder = 2026, 2026-03 or 2026-03-14
search-region = Region
search-status = Status
search-any = Any
search-submit = Search
search-hint = Enter names, a date of birth or a range, a registration number, a region or a status, then search. Upper and lower case, accents and the alphabet do not matter: Коваленко finds Kovalenko.
search-next = Next page
search-results = { $count ->
    [one] 1 record found
   *[other] { $count } records found
}

record-fields = Registration details
record-registration = At the registry
record-id = Record number
record-device = Device
record-worker = Field worker
record-captured = Captured
record-device-time = (the device's clock)
record-leaf = Ledger entry
record-inclusion = Ledger check
record-inclusion-ok = In the signed ledger (checked now against { $size } entries)
record-inclusion-failed = Could not be confirmed in the signed ledger: tell the registry's administrator.
record-certificate = Printable birth certificate
record-history = History
record-history-earlier = Earlier version (corrected by a later one)
record-history-this = This version
record-history-later = Later correction
record-held = { $count ->
    [one] This record waits for a decision: it may be the same child as another record.
   *[other] This record waits for a decision: it may be the same child as { $count } other records.
}
record-candidates = Possible duplicates
record-candidate-level = { $level } (score { $score })
record-candidate-hidden = The other record is outside your regions.
record-decide-there = Decide on the later record
compare-this = This record
compare-candidate = The other record
decide-duplicate = Same child: mark as duplicate
decide-not-duplicate = Different children

field-child-given-names = Child's given names
field-child-family-name = Child's family name
field-sex = Sex
field-date-of-birth = Date of birth
field-time-of-birth = Time of birth
field-plurality = Birth order / children born together
field-place-kind = Place of birth
field-admin-area = Region of birth
field-locality = Locality
field-facility = Health facility
field-coordinates = Coordinates
field-mother = Mother
field-father = Father
field-given-names = given names
field-family-name = family name
field-national-id = identity document
field-nationality = nationality
field-informant = Informant
field-name = name
field-relationship = relationship
field-phone = phone
field-caregiver = Caregiver { $n }
field-consent = Consent
field-consent-given = Given (by: { $by })
field-consent-not-given = Not given
field-notes = Notes
place-health-facility = Health facility
place-home = At home
place-other = Elsewhere
queue-pages = Pages of the queue
queue-page = Page { $page }
queue-previous = Previous page
queue-next = Next page
queue-past-the-end = This page is past the end of the queue.
