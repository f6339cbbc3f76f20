"""Django settings, all from environment variables (see README, "Configuration").

Production is the default: DEBUG is off unless DJANGO_DEBUG says otherwise, and then SECRET_KEY,
ALLOWED_HOSTS and HTTPS settings must be right or the process refuses to start.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core import topology
from trafficsite import redisurl
from trafficsite.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("TRAFFICSITE_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_secret(
    "DJANGO_SECRET_KEY",
    required=not DEBUG,
    fallback="django-insecure-development-only-key-never-use-in-production-0123456789",
)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS ------------------------------------------------------------------------------------
# On by default outside DEBUG. The laptop demo serves plain HTTP on localhost and turns it off.
HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
# Prometheus and load balancers probe over plain HTTP inside the deployment network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", HTTPS)
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "core",
    "cameras",
    "detection",
    "analysis",
    "alerts",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "trafficsite.urls"
ASGI_APPLICATION = "trafficsite.asgi.application"
WSGI_APPLICATION = "trafficsite.wsgi.application"

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
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# PostgreSQL in production and in the tests; SQLite only as the zero-install default of the demo.
_DEFAULT_DB = f"sqlite:///{DATA_DIR / 'trafficsite.sqlite3'}"
try:
    _db = dj_database_url.parse(env_str("DATABASE_URL", _DEFAULT_DB), conn_max_age=60, conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    # Several processes write (web, workers, capture): wait for the lock instead of failing.
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
else:
    _db["ENGINE"] = "django_prometheus.db.backends.postgresql"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, results, cache, channel layer, frame store, key pool ----------------------
REDIS_URL = redisurl.validate(env_str("REDIS_URL", "redis://127.0.0.1:6379/0"))
CELERY_BROKER_URL = redisurl.for_celery(REDIS_URL)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "trafficsite",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # Explicit socket timeouts above channels_redis's 5 s BZPOPMIN (trafficsite/redisurl.py).
        "CONFIG": {"hosts": redisurl.channel_layer_hosts(REDIS_URL), "prefix": "trafficsite:channels"},
    }
}

# --- Auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- I18N -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TZ_NAME", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files ------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(DATA_DIR / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Model weights and sample clips, fetched once by `manage.py fetch_assets` (never at run time).
ASSET_DIR = Path(env_str("TRAFFICSITE_ASSET_DIR", str(Path.home() / ".cache" / "trafficsite" / "assets")))

# --- Cameras and detection --------------------------------------------------------------------
# Local video files are only accepted from these folders, so an admin cannot read arbitrary files.
CAMERA_FILE_ROOTS = [Path(p) for p in env_list("CAMERA_FILE_ROOTS", [str(ASSET_DIR), str(DATA_DIR / "videos")])]
CAMERA_OPEN_TIMEOUT_S = env_float("CAMERA_OPEN_TIMEOUT_S", 10.0, minimum=0.5, maximum=120.0)
# Capture: K detections in flight per camera, then frames are dropped (and counted), never queued up.
CAPTURE_MAX_IN_FLIGHT = env_int("CAPTURE_MAX_IN_FLIGHT", 4, minimum=1, maximum=64)
CAPTURE_STALL_TIMEOUT_S = env_float("CAPTURE_STALL_TIMEOUT_S", 5.0, minimum=0.5, maximum=120.0)
CAPTURE_BACKOFF_MAX_S = env_float("CAPTURE_BACKOFF_MAX_S", 30.0, minimum=0.5, maximum=600.0)
# A stream that is down: its server is asked this often (one RTSP DESCRIBE) and the stream opened as
# soon as it is served again; full opens back off up to CAPTURE_BACKOFF_MAX_S only while it is served.
CAPTURE_PROBE_EVERY_S = env_float("CAPTURE_PROBE_EVERY_S", 1.0, minimum=0.2, maximum=30.0)
CAPTURE_RESULT_TIMEOUT_S = env_float("CAPTURE_RESULT_TIMEOUT_S", 10.0, minimum=1.0, maximum=300.0)
CAPTURE_LEASE_TTL_S = env_float("CAPTURE_LEASE_TTL_S", 10.0, minimum=2.0, maximum=300.0)
CAPTURE_RECONCILE_S = env_float("CAPTURE_RECONCILE_S", 2.0, minimum=0.2, maximum=60.0)
# ONNX Runtime threads per detect process (0: one per physical core). With several worker processes
# per host, set it so that processes x threads does not exceed the cores.
DETECT_THREADS = env_int("DETECT_THREADS", 0, minimum=0, maximum=256)
# A static scene still goes to detection this often, so parked or stalled vehicles stay tracked.
MOTION_KEEPALIVE_S = env_float("MOTION_KEEPALIVE_S", 1.0, minimum=0.1, maximum=60.0)

# --- DashScope --------------------------------------------------------------------------------
# Several keys form a pool shared by all workers; none of them is ever logged or shown in full.
DASHSCOPE_API_KEYS = env_list("DASHSCOPE_API_KEYS", [])
if not DASHSCOPE_API_KEYS and env_secret("DASHSCOPE_API_KEY", required=False):
    DASHSCOPE_API_KEYS = [env_secret("DASHSCOPE_API_KEY", required=False)]
DASHSCOPE_BASE_URL = env_str("DASHSCOPE_BASE_URL", "")  # empty: the SDK's default endpoint
DASHSCOPE_MODEL = env_str("DASHSCOPE_MODEL", "qwen-vl-max")
LLM_LANGUAGE = env_str("LLM_LANGUAGE", "en")
if LLM_LANGUAGE not in {"en", "zh"}:
    raise ImproperlyConfigured(f"LLM_LANGUAGE must be 'en' or 'zh', got {LLM_LANGUAGE!r}")

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
# plain: "time LEVEL logger message [camera_id=.. task_name=.. task_id=..]" for people;
# json: one object per line with the same ids as fields, for log shippers (core/logging.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every handler masks secrets (redact) and adds the camera, event, task and trace ids (context).
    "filters": {"redact": {"()": "core.logging.RedactFilter"}, "context": {"()": "core.logging.ContextFilter"}},
    "formatters": {"plain": {"()": "core.logging.PlainFormatter"}, "json": {"()": "core.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact", "context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Observability: readiness, periodic gauges, tracing (docs/operations.md) ------------------
# /readyz pings every queue in this list (a deployment without some queue can drop it) and keeps
# its answer READYZ_CACHE_S seconds, so a polling load balancer cannot flood the queues.
READYZ_QUEUES = env_list("READYZ_QUEUES", list(topology.QUEUES))
READYZ_TIMEOUT_S = env_float("READYZ_TIMEOUT_S", 2.0, minimum=0.2, maximum=30.0)
READYZ_CACHE_S = env_float("READYZ_CACHE_S", 5.0, minimum=0.0, maximum=300.0)
# Beat sends core.collect_gauges this often (queue depths, capture coverage, open alerts).
GAUGES_INTERVAL_S = env_float("GAUGES_INTERVAL_S", 15.0, minimum=1.0, maximum=3600.0)
# OpenTelemetry tracing (core/tracing.py); the SDK reads the other OTEL_* variables itself
# (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318; OTEL_TRACES_SAMPLER, ...).
OTEL_ENABLED = env_bool("OTEL_ENABLED", False)
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "trafficsite")
OTEL_TRACES_EXPORTER = env_str("OTEL_TRACES_EXPORTER", "otlp").lower()
if OTEL_TRACES_EXPORTER not in {"otlp", "console"}:
    raise ImproperlyConfigured(f"OTEL_TRACES_EXPORTER must be otlp or console, got {OTEL_TRACES_EXPORTER!r}")
if OTEL_ENABLED:
    MIDDLEWARE = ["core.tracing.TracingMiddleware", *MIDDLEWARE]

# --- Alerts: dashboard, websocket, REST API, notifications, retention (docs/alerts.md) ----------
# Absolute links in webhook and MQTT messages (e.g. https://traffic.example.org); empty: paths only.
SITE_URL = env_str("SITE_URL", "").rstrip("/")
# Alerts a dashboard (or any websocket client) receives on connect, before the live ones.
ALERTS_WS_BACKLOG = env_int("ALERTS_WS_BACKLOG", 50, minimum=0, maximum=500)
# Heartbeat of the websocket, carrying each camera's live counters (fps, tracks); a client that hears
# nothing for three periods reconnects.
ALERTS_WS_HEARTBEAT_S = env_float("ALERTS_WS_HEARTBEAT_S", 5.0, minimum=1.0, maximum=60.0)

REST_FRAMEWORK = {
    # Token first: it is the one whose challenge (401 + WWW-Authenticate: Token) anonymous clients get.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",  # API clients: "Authorization: Token <key>"
        "rest_framework.authentication.SessionAuthentication",  # the dashboard (CSRF enforced)
    ],
    "DEFAULT_PERMISSION_CLASSES": ["alerts.api.permissions.IsOperator"],
    "DEFAULT_PAGINATION_CLASS": "alerts.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    # JSON unless a browser asks for HTML: then DRF's browsable API (same login, CSRF on forms).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Traffic safety API",
    "DESCRIPTION": "Cameras, alerts, their review and statistics. Authenticate with a session or "
    '"Authorization: Token <key>". See docs/alerts.md.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["alerts.api.permissions.IsOperator"],
    "SERVE_AUTHENTICATION": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ReviewStatusEnum": "alerts.models.Alert.Review",
        "VerificationEnum": "alerts.models.Alert.Verification",
        "SeverityEnum": "alerts.models.Alert.Severity",
        "CameraStatusEnum": "cameras.models.Camera.Status",
    },
}

# Notifications: webhook destinations are rows edited in the admin (URL, secret, minimum severity).
# A failed delivery or publish is retried NOTIFY_MAX_RETRIES times, backing off exponentially (with
# jitter) from NOTIFY_RETRY_BACKOFF_S up to NOTIFY_RETRY_BACKOFF_MAX_S (below the broker's visibility
# timeout, celeryconfig.py).
WEBHOOK_TIMEOUT_S = env_float("WEBHOOK_TIMEOUT_S", 10.0, minimum=0.5, maximum=60.0)
NOTIFY_MAX_RETRIES = env_int("NOTIFY_MAX_RETRIES", 8, minimum=0, maximum=20)
NOTIFY_RETRY_BACKOFF_S = env_float("NOTIFY_RETRY_BACKOFF_S", 2.0, minimum=0.1, maximum=300.0)
NOTIFY_RETRY_BACKOFF_MAX_S = env_float("NOTIFY_RETRY_BACKOFF_MAX_S", 300.0, minimum=1.0, maximum=300.0)

# MQTT: each alert at or above MQTT_MIN_SEVERITY goes to <prefix>/cameras/<id>/alerts. Empty URL: off.
# mqtt://[user:password@]host[:1883] or mqtts://... (TLS); the password is masked in every log line.
MQTT_URL = env_secret("MQTT_URL", required=False)
if MQTT_URL and not MQTT_URL.startswith(("mqtt://", "mqtts://")):
    raise ImproperlyConfigured(
        "MQTT_URL must start with mqtt:// or mqtts:// (its value is not shown: it may hold a password)"
    )
MQTT_TOPIC_PREFIX = env_str("MQTT_TOPIC_PREFIX", "trafficsite").strip("/")
MQTT_MIN_SEVERITY = env_int("MQTT_MIN_SEVERITY", 3, minimum=1, maximum=4)
MQTT_QOS = env_int("MQTT_QOS", 1, minimum=0, maximum=2)
MQTT_TIMEOUT_S = env_float("MQTT_TIMEOUT_S", 5.0, minimum=0.5, maximum=60.0)

# Retention: beat sends alerts.purge_expired this often; each camera says how long its alerts stay.
ALERTS_RETENTION_INTERVAL_S = env_float("ALERTS_RETENTION_INTERVAL_S", 3600.0, minimum=60.0, maximum=86400.0)
