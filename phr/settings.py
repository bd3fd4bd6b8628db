"""Django settings, read from the environment (12-factor).

With nothing set, the app runs on the embedded default: an SQLite file under var/ and Celery's
filesystem broker with a real worker process. DEBUG is off unless set; `make run` sets DEBUG=1.
With DATABASE_URL / REDIS_URL it runs on PostgreSQL and Redis, as tests and production do.
Bad values stop the process at start-up (see phr/env.py).
"""

import base64
import hashlib
import re
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.env import env, env_bool, env_int, env_list, env_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("PHR_VAR_DIR") or BASE_DIR / "var").resolve()

DEBUG = env_bool("DEBUG", False)

# Secrets. In development (DEBUG on) fixed, obviously-insecure defaults keep `make run` to one
# command; with DEBUG off every one of them must come from the environment.
SECRET_KEY = env_secret(
    "SECRET_KEY", required=not DEBUG, dev_default="insecure-development-key-" + "x" * 40
)


def _fernet_keys(raw: str) -> list[str]:
    """FIELD_ENCRYPTION_KEY: comma-separated Fernet keys, newest first (rotation keeps old ones)."""
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    for key in keys:
        try:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError
        except ValueError:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEY must be comma-separated Fernet keys (make one with: "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')."
            ) from None
    return keys


_DEV_FERNET_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"phr-development-only").digest()
).decode()
# Encrypts secrets stored in the database (institution credentials). Separate from SECRET_KEY so
# that rotating one does not break the other.
FIELD_ENCRYPTION_KEYS = _fernet_keys(
    env_secret(
        "FIELD_ENCRYPTION_KEY", required=not DEBUG, dev_default=_DEV_FERNET_KEY, min_length=44
    )
)
# Keys the HMAC that turns a verified identity (name, birth date, phone) into the stable
# identifier used to find the patient at institutions. Changing it orphans every link.
IDENTITY_HMAC_KEY = env_secret(
    "IDENTITY_HMAC_KEY", required=not DEBUG, dev_default="insecure-development-identity-key-xxxx"
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = (env("SITE_URL") or "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "allauth.usersessions",
    "core",
    "phr",
    "accounts",
    "audit",
    "notifications",
    "institutions",
    "records",
    "records.explain",
    "sharing",
    "pages",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads the request's values (sessions, CSRF, views): NUL, bad UTF-8, deep
    # JSON and oversized bodies are refused here, once, for every route.
    "core.middleware.HostileInputMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sharing.middleware.ActorMiddleware",
    # The runtime guard: the request runs in its actor's patient's scope (core.scopes); an
    # unscoped query of a patient's data raises instead of answering.
    "sharing.middleware.PatientScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "accounts.middleware.SessionTimeoutMiddleware",
    "accounts.middleware.MFARequiredMiddleware",
    "core.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "phr.urls"
WSGI_APPLICATION = "phr.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "records.context_processors.scope",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    try:
        # CONN_HEALTH_CHECKS: the pool checks a connection before handing it out, so a
        # connection the server dropped (restart, idle timeout) is replaced, not used.
        DATABASES = {
            "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
        }
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
    # One bounded pool per process (Django's psycopg_pool support), not a persistent connection
    # per thread: runserver and gunicorn's gthread workers serve each request on a thread, and
    # CONN_MAX_AGE kept an idle connection open for every one of them until PostgreSQL ran out
    # ("too many clients"). A thread finding the pool busy waits up to DB_POOL_TIMEOUT seconds.
    # Processes × DB_POOL_MAX_SIZE is the most a deployment opens. DB_POOL_MAX_SIZE=0 turns the
    # pool off (behind PgBouncer): then each request opens and closes its own connection.
    _pool_max = env_int("DB_POOL_MAX_SIZE", 4, minimum=0)
    _pool_min = env_int("DB_POOL_MIN_SIZE", 1, minimum=0)
    if _pool_max and _pool_min > _pool_max:
        raise ImproperlyConfigured("DB_POOL_MIN_SIZE cannot exceed DB_POOL_MAX_SIZE.")
    if _pool_max:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": _pool_min,
            "max_size": _pool_max,
            "timeout": float(env("DB_POOL_TIMEOUT") or 30),
            "max_idle": 60.0,  # connections above min_size close after a minute unused
        }
else:
    # The embedded default: one SQLite file. WAL lets the web process read while the worker
    # writes; IMMEDIATE transactions take the write lock up front, so two writers wait for each
    # other (busy timeout) instead of failing with "database is locked" half-way through.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "phr.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery -----------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://.")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX") or "phr",
        }
    }
else:
    # A real, shared cache without extra services: login rate limits and used-TOTP-code
    # bookkeeping must be seen by every process, which a per-process memory cache would not.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "phr_cache",
            # The read models keep a few entries per patient and page (Django's default of 300
            # evicted them constantly with one demo patient).
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        }
    }

CELERY_BROKER_DIR = VAR_DIR / "broker"
# Beat's schedule file lives under VAR_DIR in every mode (phr.apps creates the folder), so that
# `celery beat` needs no path of its own and PHR_VAR_DIR moves it too.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery-results'}"
# Soft limit lets a task record why it stopped; the hard limit kills a stuck one. The broker's
# visibility timeout must exceed the hard limit, or Redis would hand a long, still-running task
# to a second worker.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 15 * 60, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
    if REDIS_URL
    else {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # kombu's broadcast (control) exchange files; its default is ./control in the cwd.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True  # a task killed mid-way is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a long sync must not hold short tasks hostage
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = "Asia/Seoul"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    # Re-enqueue runs whose worker died (lease lapsed) or whose enqueue never reached the broker.
    "recover-sync-runs": {"task": "institutions.tasks.recover_runs", "schedule": 60.0},
    # Re-sync linked sources that are due, staggered, within each institution's cap.
    "schedule-syncs": {"task": "institutions.tasks.schedule_syncs", "schedule": 15 * 60.0},
    # Remove audit events past their retention period (PHR_AUDIT_RETENTION_DAYS).
    "purge-audit-events": {"task": "audit.tasks.purge_expired_events", "schedule": 24 * 3600.0},
    # Vaccination and check-up reminders (pages.reminders): at most one per due item.
    "due-reminders": {"task": "pages.tasks.send_due_reminders", "schedule": 24 * 3600.0},
    # Guardian grants at a child's 14th birthday (sharing.family): notices, the end, shares.
    "end-guardian-grants": {"task": "sharing.tasks.end_guardian_grants", "schedule": 3600.0},
}

# --- Audit -----------------------------------------------------------------------------------
# Korea's PIPA asks that access records of health data be kept at least two years.
PHR_AUDIT_RETENTION_DAYS = env_int("PHR_AUDIT_RETENTION_DAYS", 2 * 365 + 1, minimum=2 * 365)

# --- Accounts (django-allauth) ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
USERSESSIONS_ADAPTER = "accounts.adapters.UserSessionsAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION") or (
    "optional" if DEBUG else "mandatory"
)
if ACCOUNT_EMAIL_VERIFICATION not in {"mandatory", "optional", "none"}:
    raise ImproperlyConfigured("ACCOUNT_EMAIL_VERIFICATION must be mandatory, optional or none.")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_REAUTHENTICATION_REQUIRED = True  # before changing e-mail addresses
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
ACCOUNT_PREVENT_ENUMERATION = True
# The product's name in e-mails ("Hello from PHR!": allauth would name the host without it).
PHR_PRODUCT_NAME = "PHR"
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{PHR_PRODUCT_NAME}] "
# Failed logins (accounts/throttle.py, replacing allauth's per-e-mail limit and its per-IP
# "login" limit): a tight cap per (account, client address), so a stranger cannot lock a patient
# out; a cap per address (any accounts); a much higher ceiling per account against distributed
# guessing. While capped, even the right password is refused (429, Retry-After). Counters live in
# the cache (Redis: atomic INCR; the embedded database cache is not atomic under parallel use).
ACCOUNT_RATE_LIMITS = {"login_failed": False, "login": False}
PHR_LOGIN_RATE_ACCOUNT_ADDRESS = env("PHR_LOGIN_RATE_ACCOUNT_ADDRESS") or "5/5m"
PHR_LOGIN_RATE_ADDRESS = env("PHR_LOGIN_RATE_ADDRESS") or "30/1m"
PHR_LOGIN_RATE_ACCOUNT = env("PHR_LOGIN_RATE_ACCOUNT") or "100/1h"
for _name in ("PHR_LOGIN_RATE_ACCOUNT_ADDRESS", "PHR_LOGIN_RATE_ADDRESS", "PHR_LOGIN_RATE_ACCOUNT"):
    if not re.fullmatch(r"[1-9]\d*/(?:[1-9]\d*)?[smh]", globals()[_name]):
        raise ImproperlyConfigured(f"{_name} must look like 5/5m (attempts per s, m or h).")
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = "PHR"
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
HEADLESS_CLIENTS = ("app",)
HEADLESS_ONLY = False
HEADLESS_SERVE_SPECIFICATION = False
# Staff reach patients' data through the admin: they must use a second factor.
# On by default outside development so that production never forgets it.
PHR_STAFF_MFA_REQUIRED = env_bool("PHR_STAFF_MFA_REQUIRED", not DEBUG)
# Patients too (off by default: most use a password and the identity check; a deployment that
# wants every patient on a second factor turns it on).
PHR_PATIENT_MFA_REQUIRED = env_bool("PHR_PATIENT_MFA_REQUIRED", False)
# Sessions end after this long without a request, and in any case this long after login.
PHR_SESSION_IDLE_TIMEOUT = env_int("PHR_SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
PHR_SESSION_ABSOLUTE_TIMEOUT = env_int("PHR_SESSION_ABSOLUTE_TIMEOUT", 12 * 3600, minimum=300)
SESSION_COOKIE_AGE = PHR_SESSION_ABSOLUTE_TIMEOUT

# Mock hospitals (FHIR servers with synthetic data and fault injection) under /mock/: for
# development, the demo and tests. Never in production.
PHR_MOCK_HOSPITALS = env_bool("PHR_MOCK_HOSPITALS", DEBUG)
if PHR_MOCK_HOSPITALS:  # the app (its models, admin and `manage.py demo`) only where it serves
    INSTALLED_APPS.append("mockhospital")

# Talking to institutions (institutions/fhir_client.py, institutions/sync.py).
PHR_FHIR_TIMEOUT = float(env("PHR_FHIR_TIMEOUT") or 30)  # seconds per request
PHR_FHIR_ATTEMPTS = env_int("PHR_FHIR_ATTEMPTS", 6, minimum=1)
PHR_FHIR_BASE_DELAY = float(env("PHR_FHIR_BASE_DELAY") or 0.5)  # first backoff, doubling
PHR_FHIR_RETRY_BUDGET = float(env("PHR_FHIR_RETRY_BUDGET") or 120)  # seconds of waiting per request
# SSRF guard: institutions' URLs may not point at this machine or private networks, except
# loopback in development (the mock hospitals) and where an operator says so.
PHR_FHIR_ALLOW_LOOPBACK = env_bool("PHR_FHIR_ALLOW_LOOPBACK", DEBUG)
PHR_FHIR_ALLOW_PRIVATE = env_bool("PHR_FHIR_ALLOW_PRIVATE", False)
PHR_SYNC_PAGE_SIZE = env_int("PHR_SYNC_PAGE_SIZE", 1000, minimum=1)  # hospitals may cap it lower
PHR_SYNC_LEASE_SECONDS = env_int("PHR_SYNC_LEASE_SECONDS", 300, minimum=10)
PHR_SYNC_RESTARTS = env_int("PHR_SYNC_RESTARTS", 3, minimum=0)  # fresh starts after broken paging
# Without $everything: the Organizations, Practitioners, Locations… the patient's records
# reference are read by `_id=a,b,c` searches, this many ids a request, at most this many a run.
PHR_SYNC_REFERENCE_BATCH = env_int("PHR_SYNC_REFERENCE_BATCH", 50, minimum=1)
PHR_SYNC_REFERENCE_CAP = env_int("PHR_SYNC_REFERENCE_CAP", 2000, minimum=0)
# Attempts of a run that end abnormally (an unexpected error, a worker that died) before it
# fails with a reason; re-tried after PHR_SYNC_RETRY_DELAY seconds, doubling each time.
PHR_SYNC_ATTEMPTS = env_int("PHR_SYNC_ATTEMPTS", 5, minimum=1)
PHR_SYNC_RETRY_DELAY = env_int("PHR_SYNC_RETRY_DELAY", 5, minimum=0)
PHR_SYNC_INTERVAL_HOURS = env_int("PHR_SYNC_INTERVAL_HOURS", 24, minimum=1)
PHR_UPLOAD_MAX_BYTES = env_int("PHR_UPLOAD_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = PHR_UPLOAD_MAX_BYTES + 1024 * 1024

# Sharing: wrong passcodes allowed over a share's lifetime, and the longest expiry.
PHR_SHARE_MAX_ATTEMPTS = env_int("PHR_SHARE_MAX_ATTEMPTS", 5, minimum=1)
PHR_SHARE_MAX_DAYS = env_int("PHR_SHARE_MAX_DAYS", 90, minimum=1)

# Plain-language explanations (records/explain): the engine, a dotted path to an Explainer.
PHR_EXPLAINER = env("PHR_EXPLAINER") or "records.explain.rules.RuleExplainer"

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First so that a missing/bad X-Session-Token is answered with 401 (its auth header).
        "accounts.authentication.SessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # IsAuthenticated, entering the patient's scope once DRF has authenticated the request.
    "DEFAULT_PERMISSION_CLASSES": ["sharing.permissions.ActsForPatient"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("PHR_API_ANON_RATE") or "60/min",
        "user": env("PHR_API_USER_RATE") or "600/min",
    },
    "DEFAULT_PAGINATION_CLASS": "core.pagination.DefaultCursorPagination",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PHR API",
    "DESCRIPTION": "Personal health record: institutions, sources, records, shares, audit.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "phr.schema.add_error_responses",
        "sharing.openapi.add_patient_parameter",
    ],
}

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = env("LANGUAGE_CODE") or "ko"
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["phr.formats"]  # English date formats; Korean zero-pads numeric dates
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("PHR_MANIFEST_STATIC", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# --- E-mail --------------------------------------------------------------------------------
# In development every mail is a file under var/mail/ (git-ignored): the console's output is
# masked by the log filter, and an invitee needs the link in their invitation.
EMAIL_BACKEND = env("EMAIL_BACKEND") or (
    "django.core.mail.backends.filebased.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_FILE_PATH = Path(env("EMAIL_FILE_PATH") or VAR_DIR / "mail")
EMAIL_HOST = env("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL") or "PHR <no-reply@phr.example>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds per SMTP connection attempt: a hung server must not hold a worker indefinitely.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
# Mail leaves through the Celery worker after commit (phr/mail.py), retried on transient
# faults: PHR_MAIL_ATTEMPTS tries, the first retry after PHR_MAIL_RETRY_DELAY seconds, doubling.
PHR_MAIL_ASYNC = env_bool("PHR_MAIL_ASYNC", True)
PHR_MAIL_ATTEMPTS = env_int("PHR_MAIL_ATTEMPTS", 8, minimum=1)
PHR_MAIL_RETRY_DELAY = float(env("PHR_MAIL_RETRY_DELAY") or 30)

# --- Security headers and cookies --------------------------------------------------------
SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SECURE)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
# "same-origin": no URL ever leaves the site in a Referer. Not "no-referrer": with it, Chromium
# sends `Origin: null` on same-site form posts and Django's CSRF check (rightly) refuses them.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_bool("PHR_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies in front that append to X-Forwarded-For: allauth (and the login throttle) then take
# the client address from it. Without it, behind a proxy every client would share the proxy's
# address and the per-(account, address) login cap would again lock owners out.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int(
    "PHR_TRUSTED_PROXY_COUNT", 1 if env_bool("PHR_BEHIND_TLS_PROXY", False) else 0, minimum=0
)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# The __Host- prefix pins cookies to this exact host over HTTPS (no Domain, Path=/).
SESSION_COOKIE_NAME = "__Host-phr-session" if SECURE else "phr-session"
CSRF_COOKIE_NAME = "__Host-phr-csrf" if SECURE else "phr-csrf"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logging: never patient data, tokens or secrets (see docs/architecture.md) ----------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Paths can carry share tokens, SHL manifest ids and file locations: every line written
    # through the console handler has them masked (gunicorn's own lines: gunicorn.conf.py).
    "filters": {"mask_secrets": {"()": "core.log_masking.MaskSecretPaths"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL") or "INFO"},
    "loggers": {
        # Django's default configuration gives "django" a console handler of its own (active
        # with DEBUG) that knows nothing of the mask: it printed "Not Found: /s/<token>/" a
        # second time, unmasked. Django's lines go through ours alone (mail_admins would send
        # the same paths by e-mail).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # "Not Found: /s/<token>/" and the like: shown, with the secrets masked.
        "django.request": {"level": "WARNING"},
        # runserver's request lines: through the masking handler instead of Django's own.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # httpx logs every request URL at INFO; FHIR search URLs carry patient identifiers.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
