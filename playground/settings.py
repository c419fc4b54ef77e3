"""Settings for Kontext Playground, read from the environment.

Production differs from a laptop only by environment variables; every variable is
documented in README.md and .env.example.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from generations.outbound import parse_allowed_hosts
from generations.wavespeed import contract
from playground.env import (
    InvalidSetting,
    env_bool,
    env_float,
    env_http_url,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PLAYGROUND_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    """Use SECRET_KEY; in development generate one once and keep it under var/."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Earlier keys, still accepted while sessions and personal access tokens move to the new one.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
if not DEBUG and not env_str("ALLOWED_HOSTS"):
    # A production default would either refuse every real host name or accept any.
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "django_q",
    "generations.accounts",
    "generations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login but those marked @login_not_required (login, health check).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as Axes asks: turns a sign-in it refused into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "playground.urls"
WSGI_APPLICATION = "playground.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "generations.context_processors.playground",
            ],
        },
    },
    {
        # Templates drawn many times per page (the gallery's tiles): see generations/templating.py.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "generations.templating.environment"},
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker cluster write at once: WAL lets readers run beside a
    # writer, IMMEDIATE takes the write lock at BEGIN so a transaction never fails halfway
    # on an upgrade, and the timeout makes writers queue instead of raising "locked".
    # Django's backend, with a process's writers queued on a lock of their own rather than in
    # SQLite's sleeping busy handler (see playground/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "playground.sqlite"
    # Connections are kept (DATABASE_CONN_MAX_AGE) here too: django-q2's ORM broker closes
    # "old" connections before each of its queries, so with none kept every enqueue in a
    # request, every poll of the queue and every acknowledgement opened the database anew
    # (a third of the pipeline's CPU per generation with webhooks, measured at 200 in flight).
    # (`make run`'s web server closes a request thread's connection when the request ends.)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 30, minimum=1),
    }
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Sign-in lockouts (django-axes, with playground/lockout.py) ----------------------------
# Failed sign-ins, the admin's included, are counted per account and per address; past a
# limit every sign-in of that account, or from that address, is refused (the right password
# too) until its failures are LOGIN_LOCKOUT_MINUTES old. Staff unlock in the admin (Axes, then
# Access attempts: delete the rows) or with `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out sign-in before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "playground.lockout.AccountAndAddressHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
# Higher than the account's: many people may share an address (an office behind one NAT).
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 20, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "playground.lockout.lockout_response"
# Only failures are kept (and only for the cool-off): successful sign-ins are not logged.
AXES_DISABLE_ACCESS_LOG = True

# --- HTTPS in production --------------------------------------------------------------------
# Switches rather than fixed values, so one image serves a TLS proxy and a plain loopback
# test alike; the production block of .env.example passes `manage.py check --deploy`.
if env_bool("BEHIND_TLS_PROXY", False):
    # Only behind a proxy that always sets (or strips) this header: else clients could forge it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Lockouts by address count the client the proxy saw: the last X-Forwarded-For entry,
    # which the proxy appended (entries before it are whatever the client sent). Non-strict,
    # so a chain with forged entries in front still yields that last one.
    AXES_IPWARE_META_PRECEDENCE_ORDER: tuple[str, ...] = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = 0
    IPWARE_STRICT = False
else:
    # Without a proxy, any X-Forwarded-For is the client's own invention.
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Container and load-balancer health checks ask over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
# Browsers remember HSTS for this long, so it stays off until a deployer opts in.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [
    # security.W021 (HSTS preload off): the preload list only takes a registrable domain and
    # binds all its subdomains for months; that is the domain owner's call, not the app's.
    # SECURE_HSTS_PRELOAD=true opts in.
    "security.W021",
]

# --- Response headers -----------------------------------------------------------------------
# No inline script or style anywhere: every page loads its code and styles from static files.
# Images may also be data: URIs (the tiny blurred placeholders of gallery tiles).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "style-src": [SELF],
        "script-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
# Browser features no page uses, switched off for every page (and whatever a page might embed).
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
    )
}

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------------------------

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# A container image collects static files at build time, outside the data volume.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static"))).resolve()
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()
# Media is never served from a public URL: image views check permission first.
MEDIA_URL = "/media-not-served/"
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    # Several hosts share one bucket. Credentials stay in AWS_ACCESS_KEY_ID and
    # AWS_SECRET_ACCESS_KEY, which boto3 reads itself, so they never enter the settings.
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            # Ingest relies on a taken name getting a fresh one, never on overwriting.
            "file_overwrite": False,
            "default_acl": None,
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
        },
    }
else:
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# Files from local disk may be handed to the web server in front once permission is checked:
# nginx's X-Accel-Redirect (an internal location mapped to MEDIA_ROOT) or X-Sendfile.
MEDIA_ACCEL_REDIRECT_PREFIX = env_str("MEDIA_ACCEL_REDIRECT_PREFIX")
MEDIA_SENDFILE = env_bool("MEDIA_SENDFILE", False)
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- WaveSpeed ------------------------------------------------------------------------------

WAVESPEED_API_KEY = env_str("WAVESPEED_API_KEY")
SIMULATOR_PORT = env_int("SIMULATOR_PORT", 8001, minimum=1, maximum=65535)
# Without a key the built-in simulator stands in for the API, and every page says so.
WAVESPEED_SIMULATED = not WAVESPEED_API_KEY
WAVESPEED_BASE_URL = env_str(
    "WAVESPEED_BASE_URL",
    env_str("SIMULATOR_URL", f"http://127.0.0.1:{SIMULATOR_PORT}")
    if WAVESPEED_SIMULATED
    else "https://api.wavespeed.ai",
).rstrip("/")
if WAVESPEED_SIMULATED:
    WAVESPEED_API_KEY = env_str("SIMULATOR_API_KEY", "simulator")
# The longest one call to the API may take, connecting, every read and every retry included:
# a read (a result, a page of the list), and a submit (after which it counts as unconfirmed).
WAVESPEED_TIMEOUT_SECONDS = env_float("WAVESPEED_TIMEOUT_SECONDS", 30.0, minimum=1, maximum=600)
WAVESPEED_SUBMIT_TIMEOUT_SECONDS = env_float(
    "WAVESPEED_SUBMIT_TIMEOUT_SECONDS", 60.0, minimum=1, maximum=600
)
PRICE_PER_IMAGE = Decimal("0.04")
# The only hosts outputs are downloaded from (`host`: its scheme's default port; `host:port`:
# that port, and any address). In simulator mode the simulator's host:port is added.
WAVESPEED_OUTPUT_HOSTS = env_list("WAVESPEED_OUTPUT_HOSTS", list(contract.OUTPUT_HOSTS))
try:
    parse_allowed_hosts(WAVESPEED_OUTPUT_HOSTS)
except ValueError as error:
    raise InvalidSetting(f"WAVESPEED_OUTPUT_HOSTS: {error}") from None
# The account's caps (the default tier: 3 tasks at once, 10 images a minute); unset: no cap.
# Generations beyond them wait in the queue (generations/admission.py).
WAVESPEED_MAX_CONCURRENT = env_int("WAVESPEED_MAX_CONCURRENT", None, minimum=1)
WAVESPEED_MAX_PER_MINUTE = env_int("WAVESPEED_MAX_PER_MINUTE", None, minimum=1)

# Where the API can reach this app, e.g. https://playground.example.com: submits then ask the
# API to POST each finished prediction to <PUBLIC_BASE_URL>/webhooks/wavespeed/, and polling
# becomes a slower safety net. Unset: polling alone. `make run` sets it to its own server in
# simulator mode (the simulator delivers to loopback; the real API cannot).
PUBLIC_BASE_URL = env_http_url("PUBLIC_BASE_URL")
# How often a prediction submitted with a webhook is polled all the same, in case the call
# is lost: the API's delivery is at-least-once at best, and its retries are undocumented.
WEBHOOK_POLL_INTERVAL_SECONDS = env_float(
    "WEBHOOK_POLL_INTERVAL_SECONDS", 15.0, minimum=0.05, maximum=600
)

# --- Team gallery ---------------------------------------------------------------------------

# Who sees a new generation unless its author says otherwise: "team" or "private".
DEFAULT_VISIBILITY = env_str("DEFAULT_VISIBILITY", "team")
if DEFAULT_VISIBILITY not in ("team", "private"):
    raise ImproperlyConfigured(
        f"DEFAULT_VISIBILITY must be 'team' or 'private', not {DEFAULT_VISIBILITY!r}"
    )
# How many images one submission may ask for (one prediction each).
MAX_IMAGES_PER_SUBMISSION = 4

# --- The WaveSpeed-compatible gateway (generations/gateway/) ----------------------------------

# Calls one personal access token may make per minute (submits, polls, lists alike), and its
# generations in flight at once; more are answered 429.
GATEWAY_REQUESTS_PER_MINUTE = env_int("GATEWAY_REQUESTS_PER_MINUTE", 120, minimum=1)
GATEWAY_MAX_IN_FLIGHT = env_int("GATEWAY_MAX_IN_FLIGHT", 4, minimum=1)
# The longest a sync-mode submit waits before answering "still processing" (WaveSpeed: ~90 s).
GATEWAY_SYNC_TIMEOUT_SECONDS = env_float(
    "GATEWAY_SYNC_TIMEOUT_SECONDS", 90.0, minimum=0.1, maximum=600
)

# --- Generation pipeline --------------------------------------------------------------------

# A prediction not finished this long after it was sent ends as timed out.
GENERATION_DEADLINE_SECONDS = env_int("GENERATION_DEADLINE_SECONDS", 600, minimum=10)
# A generation the API keeps refusing (rate limits, outages) gives up after this long.
GENERATION_QUEUE_TIMEOUT_SECONDS = env_int("GENERATION_QUEUE_TIMEOUT_SECONDS", 3600, minimum=10)
POLL_INTERVAL_SECONDS = env_float("POLL_INTERVAL_SECONDS", 1.0, minimum=0.05, maximum=60)
SWEEP_SLICE_SECONDS = env_float("SWEEP_SLICE_SECONDS", 10.0, minimum=0.5, maximum=60)
# API calls the sweeper keeps in flight at once: polls, and (separately) submits and settles.
SWEEP_CONCURRENCY = env_int("SWEEP_CONCURRENCY", 16, minimum=1, maximum=256)
DOWNLOAD_MAX_BYTES = env_int("DOWNLOAD_MAX_BYTES", 40 * 1024 * 1024, minimum=1024)
# The whole of one output's download, redirects included, however slowly it arrives.
DOWNLOAD_TIMEOUT_SECONDS = env_float("DOWNLOAD_TIMEOUT_SECONDS", 60.0, minimum=1)
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 40_000_000, minimum=1)
# A thumbnail's width: gallery tiles are at most about 240 CSS pixels wide (static/css/app.css,
# columns of at least 180 px, 140 px on a phone), and twice that is sharp on high-density
# screens.
THUMBNAIL_WIDTH = env_int("THUMBNAIL_WIDTH", 480, minimum=64, maximum=2048)
# The long edge of the display rendition pages and the lightbox show (the original is for
# download). The API's outputs are at most 1568 px long, so they keep their size.
DISPLAY_SIZE = env_int("DISPLAY_SIZE", 1600, minimum=256, maximum=8192)
# Thumbnails and placeholders are made just after ingest stores an image, in a background
# thread of each worker at a low priority (`generations.background_renditions`); off, ingest
# makes them itself, right after storing the image (the unit tests' setting).
RENDITIONS_IN_BACKGROUND = env_bool("RENDITIONS_IN_BACKGROUND", True)
# A download running this long lost its worker and is started again; keep it above the
# longest download (DOWNLOAD_TIMEOUT_SECONDS per output).
INGEST_STALE_SECONDS = env_int("INGEST_STALE_SECONDS", 300, minimum=10)

# --- Task queue (django-q2) -----------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
# Downloads each worker process runs in threads beside its task (generations/downloads.py);
# 0: every download in its task. Measured at 200 in flight: with the ORM broker a task waits
# for the broker's next look and SQLite's write lock, and the sweeper holds one of the two
# workers, so threads took the added latency with webhooks from 0.64 to 0.21 s (p95). With
# Redis, tasks reach the stack's workers at once, and downloads in the sweeper's process
# slowed its polls: p95 1.75 s with threads, 0.43 s without.
DOWNLOAD_THREADS = env_int("DOWNLOAD_THREADS", 0 if REDIS_URL else 2, minimum=0, maximum=16)
Q_TIMEOUT = env_int("Q_TIMEOUT", 180, minimum=30)
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "playground"),
    "workers": env_int("Q_WORKERS", 2, minimum=1, maximum=64),
    # The longest task is one image download (bounded by DOWNLOAD_TIMEOUT_SECONDS) or one
    # sweep slice (SWEEP_SLICE_SECONDS); anything longer is stuck and is killed. API calls
    # run in the sweeper's threads, each bounded by its own deadline, not as tasks.
    "timeout": Q_TIMEOUT,
    # Must exceed timeout, or the ORM broker hands a running task to a second worker.
    "retry": Q_TIMEOUT + 60,
    # Tasks record their own failures; a crash is retried a bounded number of times.
    "max_attempts": 3,
    "ack_failures": False,
    # Successful results are kept unpruned here and pruned by a schedule instead
    # (generations/task_results.py): django-q2 prunes in a transaction around every save.
    "save_limit": 0,
    "catch_up": False,
    # The ORM broker's pusher sleeps this long whenever it finds the queue empty, so a task
    # enqueued into an idle queue waits up to this for a worker (0.2 s made half of the added
    # latency with webhooks, whose downloads are tasks); then it takes several per look.
    "poll": 0.1,
    "bulk": 4,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # One cache for every web and worker process on every host.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    Q_CLUSTER["orm"] = "default"
if env_bool("Q_SYNC", False):
    # Runs tasks inline in the caller: for unit tests only.
    Q_CLUSTER["sync"] = True

# --- Logging --------------------------------------------------------------------------------

# The debug page and the admins' error e-mail hide the API key wherever it shows up.
DEFAULT_EXCEPTION_REPORTER_FILTER = "playground.error_reports.SecretValueFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        # Axes logs every sign-in and its own start at INFO; failures and lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}
