# Оболонка робочого простору, навігація та помилки (українська).
app-name = Реєстр Birthright
nav-label = Головне меню
nav-queue = Черга на розгляд
nav-search = Пошук
nav-statistics = Статистика
nav-account = Мій обліковий запис
nav-logout = Вийти
lang-label = Мова

error-title-forbidden = Заборонено
error-title-not-found = Не знайдено
error-title-bad-request = Помилка в запиті
error-title-internal = Сталася помилка
error-back = Повернутися до черги на розгляд
error-forbidden = Ваша роль не дозволяє цю сторінку або дію.
error-region_forbidden = Цей запис належить до регіону, з яким ви не працюєте.
error-not_found = Такої сторінки або запису немає.
error-bad_request = Запит не вдалося зрозуміти. Перевірте введені дані та спробуйте ще раз.
error-bad_query = Пошук не виконано: дату народження записують як 2026, 2026-03 або 2026-03-14, а імена можуть мати щонайбільше 200 символів.
error-bad_id = Це не номер запису цього реєстру.
error-bad_form = Форму заповнено не так, як очікувалося. Спробуйте ще раз.
error-csrf = Термін дії форми минув. Поверніться, оновіть сторінку та спробуйте ще раз.
error-internal = Реєстр не зміг це виконати. Спробуйте пізніше; якщо помилка повторюється, повідомте адміністратора реєстру.
error-login_failed = Неправильне ім'я користувача, пароль або код, або обліковий запис вимкнено.
error-login_backoff = Забагато невдалих спроб. Зачекайте { $seconds } с і спробуйте знову.
error-totp_required = Цей обліковий запис має другий фактор: введіть 6-значний код із застосунку автентифікації.
error-wrong_password = Поточний пароль неправильний.
error-weak_password = Новий пароль має містити щонайменше 12 символів і відрізнятися від поточного.
error-totp_already_enrolled = Другий фактор уже налаштовано. Якщо телефон втрачено, адміністратор може його скинути.
error-no_totp_enrolment = Другий фактор зараз не налаштовується: почніть спочатку.
error-wrong_code = Код неправильний або застарів. Введіть поточний код із застосунку.
error-unknown_pair = Ці два записи вже не очікують рішення.

role-registrar = Реєстратор
role-supervisor = Керівник
role-auditor = Аудитор
role-admin = Адміністратор

col-child = Дитина
col-dob = Дата народження
col-sex = Стать
col-region = Регіон
col-status = Статус
col-sequenced = Отримано реєстром
col-reason = Причина розгляду
col-waiting-since = Очікує з

status-registered = Зареєстровано
status-superseded = Згодом виправлено
status-declared = Заявлено
status-awaiting_review = Очікує перевірки
status-rejected = Відхилено
status-duplicate = Дублікат
status-correction_requested = Потрібне виправлення
status-revoked = Свідоцтво відкликано

sex-female = Жіноча
sex-male = Чоловіча
sex-unknown = Не визначено
