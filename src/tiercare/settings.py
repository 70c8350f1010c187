"""Django settings for TierCare.

Everything that differs between machines comes from environment variables:

* ``TIERCARE_DATA_DIR`` – where the embedded database and uploads live (default ``./var``).
* ``TIERCARE_DATABASE_URL`` – a database URL (default: SQLite file under the data dir).
  PostgreSQL: ``postgres://user@127.0.0.1:5432/tiercare``.
* ``TIERCARE_SECRET_KEY`` – required when ``TIERCARE_DEBUG`` is off.
* ``TIERCARE_DEBUG`` – ``1``/``true`` to enable debug mode.
* ``TIERCARE_ALLOWED_HOSTS`` – comma-separated host names (default: localhost names).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("TIERCARE_DATA_DIR", "var")).resolve()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _flag("TIERCARE_DEBUG")
# Without a configured key (demo, tests) a random key is made per data dir and kept there,
# so sessions survive restarts of the demo; it never enters the repository.
SECRET_KEY = os.environ.get("TIERCARE_SECRET_KEY", "")
if not SECRET_KEY:
    key_file = DATA_DIR / "secret_key"
    try:
        SECRET_KEY = key_file.read_text().strip()
    except OSError:
        SECRET_KEY = secrets.token_urlsafe(50)
        try:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            key_file.write_text(SECRET_KEY)
            key_file.chmod(0o600)
        except OSError:
            pass

_DEFAULT_HOSTS = "localhost,127.0.0.1,[::1],testserver"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("TIERCARE_ALLOWED_HOSTS", _DEFAULT_HOSTS).split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "tiercare.accounts",
    "tiercare.registry",
    "tiercare.patients",
    "tiercare.encounters",
    "tiercare.referrals",
    "tiercare.scheduling",
    "tiercare.chronic",
    "tiercare.notifications",
    "tiercare.indicators",
    "tiercare.fhir",
    "tiercare.synth",
    "tiercare.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tiercare.web.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tiercare.accounts.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "tiercare.urls"
WSGI_APPLICATION = "tiercare.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tiercare.web.context.navigation",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    default_url = f"sqlite:///{DATA_DIR / 'tiercare.sqlite3'}"
    url = os.environ.get("TIERCARE_DATABASE_URL", default_url)
    # every server thread keeps its connection for a minute: on SQLite opening one (the
    # PRAGMAs below, reading the schema) cost more CPU than a booking (docs/benchmarks.md)
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so
        # concurrent writers queue instead of failing with "database is locked" mid-transaction.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000; PRAGMA cache_size=-65536;"
            ),
        }
        config["TEST"] = {"NAME": str(DATA_DIR / "test-tiercare.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend with a health check that asks the socket before the server
        # (tiercare.db.postgresql; ADR 0023)
        config["ENGINE"] = "tiercare.db.postgresql"
        config["CONN_HEALTH_CHECKS"] = True
        # prepared statements only where asked for (the booking's, ``prepare=True``): Django
        # leaves psycopg's threshold at None, which turns them off altogether
        config["OPTIONS"] = {"prepare_threshold": 2**31 - 1}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Background work runs as tasks kept in the database (DESIGN.md "Background work", ADR 0008):
# ``@task`` functions are enqueued as rows of django-tasks-db's table and run by the
# ``tiercare worker`` process (``tiercare demo`` and ``serve`` start one), no broker.
TASKS = {"default": {"BACKEND": "django_tasks_db.backend.DatabaseBackend"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["tiercare.accounts.backends.LockoutModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "tiercare.accounts.passwords.CharacterClassValidator"},
]
# Lockout after repeated failures (accounts.backends): the count and the lock duration.
TIERCARE_LOCKOUT_THRESHOLD = int(os.environ.get("TIERCARE_LOCKOUT_THRESHOLD", "5"))
TIERCARE_LOCKOUT_MINUTES = int(os.environ.get("TIERCARE_LOCKOUT_MINUTES", "15"))

CSRF_FAILURE_VIEW = "tiercare.web.views.errors.csrf_failure"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
CSRF_COOKIE_HTTPONLY = False

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"  # filled by `collectstatic` for production deployments
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TIERCARE_LOG_LEVEL", "WARNING")},
}

# FHIR batch and transaction Bundles may be far larger than a form post (issue 3: bundle
# ingest); single resources keep Django's DATA_UPLOAD_MAX_MEMORY_SIZE.
TIERCARE_FHIR_MAX_BUNDLE_BYTES = int(os.environ.get("TIERCARE_FHIR_MAX_BUNDLE_BYTES",
                                                    str(64 * 1024 * 1024)))
TIERCARE_FHIR_MAX_BUNDLE_ENTRIES = int(os.environ.get("TIERCARE_FHIR_MAX_BUNDLE_ENTRIES",
                                                      "20000"))
# Integrating systems' request counts are written at most this often (fhir/traffic.py).
TIERCARE_FHIR_TRAFFIC_FLUSH_SECONDS = float(os.environ.get(
    "TIERCARE_FHIR_TRAFFIC_FLUSH_SECONDS", "5"))
# Bulk $export files are removed this many days after the export started (fhir/export.py).
TIERCARE_FHIR_EXPORT_DAYS = int(os.environ.get("TIERCARE_FHIR_EXPORT_DAYS", "7"))
# An integrating system's token is read from the database at most this often per process;
# a revocation reaches the server's other processes within this time (fhir/tokens.py).
TIERCARE_FHIR_TOKEN_CACHE_SECONDS = float(os.environ.get("TIERCARE_FHIR_TOKEN_CACHE_SECONDS",
                                                         "10"))
# A caller may have at most this many Bulk exports queued or running; more answer 429.
TIERCARE_FHIR_EXPORTS_AT_ONCE = int(os.environ.get("TIERCARE_FHIR_EXPORTS_AT_ONCE", "2"))
