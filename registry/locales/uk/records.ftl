# Черга, пошук і сторінка запису (українська).
queue-title = Черга на розгляд
queue-count = { $count ->
    [one] На розгляд очікує { $count } запис.
    [few] На розгляд очікують { $count } записи.
    [many] На розгляд очікують { $count } записів.
   *[other] На розгляд очікують { $count } записів.
}
queue-empty = У ваших регіонах немає записів, що очікують розгляду.
reason-late_registration = Пізня реєстрація
reason-possible_duplicate = Можливий дублікат
reason-correction = Виправлення попереднього запису
queue-reason = Причина розгляду
queue-device = Пристрій (ідентифікатор ключа)
queue-min-age = Вік на момент запису від (днів)
queue-max-age = Вік на момент запису до (днів)
queue-filter = Показати
queue-age = Вік на момент запису
queue-age-days = { $count ->
    [one] { $count } день
    [few] { $count } дні
    [many] { $count } днів
   *[other] { $count } дня
}
record-decisions = Рішення
record-decided-by-policy = правила реєстру (без участі людини)
record-decided-by-operator = оператор реєстру (на сервері)
record-duplicate-of = запис, який він дублює
decision-reason-none = причину не вказано
decision-reason-timely = зареєстровано вчасно
decision-reason-reviewed = перевірено реєстратором
decision-reason-incorrect_information = неправильні відомості
decision-reason-missing_information = бракує відомостей
decision-reason-insufficient_evidence = недостатньо доказів
decision-reason-suspected_fraud = підозра на шахрайство
decision-reason-already_registered = уже зареєстровано
decision-reason-other = інша причина (див. примітку)
decide-title = Рішення щодо цього запису
decide-register-title = Відомості правильні: зареєструвати народження
decide-register = Зареєструвати
decide-note = Примітка (зберігається в реєстрі, ніколи не в журналі)
decide-reason = Причина
decide-choose = Оберіть причину
decide-correction-title = Повернути працівникові на виправлення
decide-correction = Попросити виправлення
decide-reject-title = Відмовити в реєстрації
decide-reject = Відхилити
decide-duplicate-title = Цю дитину вже зареєстровано
decide-duplicate-of = Дублікат запису
level-likely = Імовірно та сама дитина
level-possible = Можливо та сама дитина

search-title = Пошук записів
search-names = Імена (дитини, матері чи батька)
search-mother = Ім'я матері
search-dob-from = Народжені від
search-dob-to = Народжені до
search-number = Номер реєстрації або запису в журналі
search-dob = Дата народження
search-dob-placeholder = 2026, 2026-03 або 2026-03-14
search-region = Регіон
search-status = Статус
search-any = Будь-який
search-submit = Шукати
search-hint = Введіть імена, дату народження або проміжок, реєстраційний номер, регіон або статус і натисніть «Шукати». Великі й малі літери, діакритичні знаки та абетка не враховуються: Kovalenko знайде Коваленко.
search-next = Наступна сторінка
search-results = { $count ->
    [one] Знайдено { $count } запис
    [few] Знайдено { $count } записи
    [many] Знайдено { $count } записів
   *[other] Знайдено { $count } записів
}

record-fields = Відомості про реєстрацію
record-registration = У реєстрі
record-id = Номер запису
record-device = Пристрій
record-worker = Польовий працівник
record-captured = Внесено
record-device-time = (за годинником пристрою)
record-leaf = Запис у журналі
record-inclusion = Перевірка журналу
record-inclusion-ok = Є в підписаному журналі (перевірено щойно, записів: { $size })
record-inclusion-failed = Не вдалося підтвердити в підписаному журналі: повідомте адміністратора реєстру.
record-certificate = Свідоцтво про народження для друку
record-history = Історія
record-history-earlier = Попередня версія (виправлена пізнішою)
record-history-this = Ця версія
record-history-later = Пізніше виправлення
record-held = { $count ->
    [one] Цей запис очікує рішення: можливо, це та сама дитина, що й в іншому записі.
   *[other] Цей запис очікує рішення: можливо, це та сама дитина, що й в інших записах ({ $count }).
}
record-candidates = Можливі дублікати
record-candidate-level = { $level } (бали: { $score })
record-candidate-hidden = Інший запис належить до регіону, з яким ви не працюєте.
record-decide-there = Рішення ухвалюють на пізнішому записі
compare-this = Цей запис
compare-candidate = Інший запис
decide-duplicate = Та сама дитина: позначити як дублікат
decide-not-duplicate = Різні діти

field-child-given-names = Ім'я дитини
field-child-family-name = Прізвище дитини
field-sex = Стать
field-date-of-birth = Дата народження
field-time-of-birth = Час народження
field-plurality = Черговість / дітей народжено разом
field-place-kind = Місце народження
field-admin-area = Регіон народження
field-locality = Населений пункт
field-facility = Заклад охорони здоров'я
field-coordinates = Координати
field-mother = Мати
field-father = Батько
field-given-names = ім'я
field-family-name = прізвище
field-national-id = документ, що посвідчує особу
field-nationality = громадянство
field-informant = Заявник
field-name = ім'я та прізвище
field-relationship = ким доводиться
field-phone = телефон
field-caregiver = Опікун { $n }
field-consent = Згода
field-consent-given = Надано (хто: { $by })
field-consent-not-given = Не надано
field-notes = Примітки
place-health-facility = Заклад охорони здоров'я
place-home = Удома
place-other = В іншому місці
queue-pages = Сторінки черги
queue-page = Сторінка { $page }
queue-previous = Попередня сторінка
queue-next = Наступна сторінка
queue-past-the-end = Ця сторінка вже за кінцем черги.
