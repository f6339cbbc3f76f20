"""Django settings, all from environment variables (see README, "Configuration").

Production is the default: DEBUG is off unless DJANGO_DEBUG says otherwise, and then SECRET_KEY,
ALLOWED_HOSTS and HTTPS settings must be right or the process refuses to start.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core import broker, topology
from core.cpu import int8_dot_product
from core.netguard import parse_networks
from trafficsite import objectstore, redisurl
from trafficsite.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    load_local_env,
    refuse_placeholder,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("TRAFFICSITE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
# Local mode: a command typed next to ./run gets the secret key, Redis and HTTP settings ./run chose
# (written to the data folder; variables set in the environment win; see trafficsite/env.py).
load_local_env(DATA_DIR)

DEBUG = env_bool("DJANGO_DEBUG", False)
# DEBUG without a key: a random one per process (sessions end at a restart), never a fixed key that
# anyone can read here and use to forge sessions of a development server left reachable.
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", required=not DEBUG, fallback=secrets.token_urlsafe(50))
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
# Preloading binds the whole domain and its subdomains to HTTPS in browsers for months: opt-in only.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# security.W021 asks for preload; it is a decision for the domain's owner, not a default of ours.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Every page (the admin above all: it shows what camera editors typed) gets the dashboard's policy:
# scripts and styles from this site only, never inline, so stored markup cannot run (django-csp).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'"],  # evidence clips (plus the object store's origin: see Files)
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
    "drf_spectacular_sidecar",  # Swagger UI's files for /api/docs/, served locally
    "django_filters",  # the alert API's filters (alerts/api/filters.py)
    "csp",
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
    "core.loginthrottle.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
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
refuse_placeholder("DATABASE_URL (POSTGRES_PASSWORD)", str(_db.get("PASSWORD") or ""))
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
refuse_placeholder("REDIS_URL (REDIS_PASSWORD)", urlsplit(REDIS_URL).password or "")
# Redis carries the Celery queues too unless CELERY_BROKER_URL names RabbitMQ (amqp://), which gives
# a dead worker's reserved tasks back at once on any number of hosts (docs/failure-behaviour.md).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "") or redisurl.for_celery(REDIS_URL)
try:
    broker.validate(CELERY_BROKER_URL)
except ValueError as exc:
    raise ImproperlyConfigured(f"CELERY_BROKER_URL: {exc}") from None
refuse_placeholder("CELERY_BROKER_URL (RABBITMQ_PASSWORD)", urlsplit(CELERY_BROKER_URL).password or "")
CELERY_RESULT_BACKEND = redisurl.for_celery(REDIS_URL)

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
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Evidence (keyframes, crops, clips) goes through Django's storage API: local files under MEDIA_ROOT,
# served to staff only (core.views.protected_media), or an S3-compatible store when STORAGE_S3_BUCKET
# is set (trafficsite/objectstore.py: private bucket, signed expiring URLs; docs/evidence.md, "Storage").
_object_store = objectstore.from_env()
# Origins the browser loads evidence from besides this site (the pages' CSP img-src and media-src).
STORAGE_MEDIA_ORIGINS: list[str] = _object_store.media_origins if _object_store else []
if _object_store:
    STORAGES["default"] = _object_store.backend
    for _directive in ("img-src", "media-src"):
        CONTENT_SECURITY_POLICY["DIRECTIVES"][_directive] += STORAGE_MEDIA_ORIGINS
# Model weights and sample clips, fetched once by `manage.py fetch_assets` (never at run time).
ASSET_DIR = Path(env_str("TRAFFICSITE_ASSET_DIR", str(Path.home() / ".cache" / "trafficsite" / "assets")))

# --- Cameras and detection --------------------------------------------------------------------
# Local video files are only accepted from these folders, so an admin cannot read arbitrary files.
CAMERA_FILE_ROOTS = [Path(p) for p in env_list("CAMERA_FILE_ROOTS", [str(ASSET_DIR), str(DATA_DIR / "videos")])]
# Optional: address blocks that camera streams must resolve into (10.20.0.0/16,...); empty: any.
# /metrics and the details of /readyz: for "Authorization: Bearer <METRICS_TOKEN>" or a staff login
# (core/access.py). WEB_METRICS_PORT: the web process also serves its metrics on this port, for a
# Prometheus on the internal network (compose: never published).
METRICS_TOKEN = env_secret("METRICS_TOKEN", required=False)
if _web_metrics_port := env_int("WEB_METRICS_PORT", 0, minimum=0, maximum=65535):
    PROMETHEUS_METRICS_EXPORT_PORT = _web_metrics_port
CAMERA_ALLOWED_NETWORKS = env_list("CAMERA_ALLOWED_NETWORKS", [])
try:
    parse_networks(CAMERA_ALLOWED_NETWORKS, setting="CAMERA_ALLOWED_NETWORKS")
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
CAMERA_OPEN_TIMEOUT_S = env_float("CAMERA_OPEN_TIMEOUT_S", 10.0, minimum=0.5, maximum=120.0)
# Capture: K detections in flight per camera, then frames are dropped (and counted), never queued up.
CAPTURE_MAX_IN_FLIGHT = env_int("CAPTURE_MAX_IN_FLIGHT", 4, minimum=1, maximum=64)
# Detect tasks in flight per camera; frames that come while that many are unanswered wait and go
# several to one task (0: a task per frame). 2 lets one camera use two worker slots at once.
CAPTURE_MAX_TASKS_IN_FLIGHT = env_int("CAPTURE_MAX_TASKS_IN_FLIGHT", 2, minimum=0, maximum=64)
CAPTURE_STALL_TIMEOUT_S = env_float("CAPTURE_STALL_TIMEOUT_S", 5.0, minimum=0.5, maximum=120.0)
CAPTURE_BACKOFF_MAX_S = env_float("CAPTURE_BACKOFF_MAX_S", 30.0, minimum=0.5, maximum=600.0)
# A stream that is down: its server is asked this often (one RTSP DESCRIBE) and the stream opened as
# soon as it is served again; full opens back off up to CAPTURE_BACKOFF_MAX_S only while it is served.
CAPTURE_PROBE_EVERY_S = env_float("CAPTURE_PROBE_EVERY_S", 1.0, minimum=0.2, maximum=30.0)
CAPTURE_RESULT_TIMEOUT_S = env_float("CAPTURE_RESULT_TIMEOUT_S", 10.0, minimum=1.0, maximum=300.0)
CAPTURE_LEASE_TTL_S = env_float("CAPTURE_LEASE_TTL_S", 10.0, minimum=2.0, maximum=300.0)
CAPTURE_RECONCILE_S = env_float("CAPTURE_RECONCILE_S", 2.0, minimum=0.2, maximum=60.0)
# FFmpeg threads decoding one camera's stream: one is the cheapest per frame; 0 (one per core) only
# for a stream too big for one core to decode in real time (4K at high frame rates).
CAPTURE_DECODE_THREADS = env_int("CAPTURE_DECODE_THREADS", 1, minimum=0, maximum=64)
# ONNX Runtime threads per detect process (0: one per physical core). With several worker processes
# per host, set it so that processes x threads does not exceed the cores.
DETECT_THREADS = env_int("DETECT_THREADS", 0, minimum=0, maximum=256)
# int8: the quantized model `manage.py quantize_model` makes (1.7x fp32 on a VNNI CPU); fp32: the bundled weights.
# auto (the default): int8 where the CPU has an 8-bit dot-product instruction (VNNI, Arm's dot product), fp32
# elsewhere, where int8 is no faster and loses boxes (core/cpu.py). The setting always holds int8 or fp32.
DETECT_PRECISION = env_str("DETECT_PRECISION", "auto").lower()
if DETECT_PRECISION not in ("auto", "int8", "fp32"):
    raise ImproperlyConfigured(
        f"Environment variable DETECT_PRECISION={DETECT_PRECISION!r}: expected auto, int8 or fp32"
    )
if DETECT_PRECISION == "auto":
    DETECT_PRECISION = "int8" if int8_dot_product() else "fp32"
# rect: the model runs on the frame padded only to a multiple of 32 (640x384 for 16:9, 640x480 for 4:3), as
# Ultralytics' predictor does, 25-40 % fewer operations; square: padded to the 640x640 it was exported for.
DETECT_CANVAS = env_str("DETECT_CANVAS", "rect").lower()
if DETECT_CANVAS not in ("rect", "square"):
    raise ImproperlyConfigured(f"Environment variable DETECT_CANVAS={DETECT_CANVAS!r}: expected rect or square")
# The far field (detection/farfield.py): the far part of a calibrated camera's road, cropped from the
# full-resolution frame and detected a second time, enlarged, where road users are too small in the full view.
DETECT_FAR_FIELD = env_bool("DETECT_FAR_FIELD", True)
# raw: frames reach the detect worker as pixels (camera process, Redis and worker on one host);
# jpeg: as JPEG, when workers run on other hosts and bytes cost more than the codec.
CAPTURE_FRAME_FORMAT = env_str("CAPTURE_FRAME_FORMAT", "raw").lower()
if CAPTURE_FRAME_FORMAT not in ("raw", "jpeg"):
    raise ImproperlyConfigured(f"Environment variable CAPTURE_FRAME_FORMAT={CAPTURE_FRAME_FORMAT!r}: raw or jpeg")
# Evidence clips (detection/capture/recorder.py, alerts/clips.py): each camera process keeps the last
# CLIP_CACHE_S seconds of its video in Redis as segments of about CLIP_SEGMENT_S (copied packets for
# H.264 sources; others are re-encoded). Off: alerts have no clip and no ffmpeg child runs.
CLIP_RECORDING = env_bool("CLIP_RECORDING", True)
CLIP_CACHE_S = env_float("CLIP_CACHE_S", 90.0, minimum=10.0, maximum=600.0)
CLIP_SEGMENT_S = env_float("CLIP_SEGMENT_S", 0.5, minimum=0.25, maximum=10.0)
# How long after its expected time a clip is still waited for (a slow segment, a busy worker).
CLIP_WAIT_S = env_float("CLIP_WAIT_S", 20.0, minimum=1.0, maximum=300.0)
# A static scene still goes to detection this often, so parked or stalled vehicles stay tracked.
MOTION_KEEPALIVE_S = env_float("MOTION_KEEPALIVE_S", 1.0, minimum=0.1, maximum=60.0)
MOTION_KEEPALIVE_EMPTY_S = env_float("MOTION_KEEPALIVE_EMPTY_S", 10.0, minimum=0.1, maximum=600.0)

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

# --- LLM verification: budgets, caps, back-off, prices (analysis/conf.py gathers them) -----------
# Global budget shared by every worker (Redis token buckets). LLM_BURST_S: seconds of budget a bucket
# may hold; small values smooth bursts, since DashScope also enforces its limits over short windows.
LLM_REQUESTS_PER_MINUTE = env_int("LLM_REQUESTS_PER_MINUTE", 60, minimum=1, maximum=100_000)
LLM_TOKENS_PER_MINUTE = env_int("LLM_TOKENS_PER_MINUTE", 150_000, minimum=1_000, maximum=100_000_000)
LLM_BURST_S = env_float("LLM_BURST_S", 10.0, minimum=0.5, maximum=60.0)
# Cost caps: calls per rolling hour over all cameras (each camera has its own cap in the admin); no
# second call for the same camera, rule and tracks within LLM_DUPLICATE_COOLDOWN_S.
LLM_CALLS_PER_HOUR = env_int("LLM_CALLS_PER_HOUR", 1_000, minimum=1, maximum=1_000_000)
LLM_DUPLICATE_COOLDOWN_S = env_float("LLM_DUPLICATE_COOLDOWN_S", 60.0, minimum=0.0, maximum=3_600.0)
# Key pool: cool-down of a throttled key (doubles per consecutive 429) and concurrent calls per key.
LLM_KEY_COOLDOWN_S = env_float("LLM_KEY_COOLDOWN_S", 5.0, minimum=0.1, maximum=600.0)
LLM_KEY_COOLDOWN_MAX_S = env_float("LLM_KEY_COOLDOWN_MAX_S", 120.0, minimum=0.1, maximum=3_600.0)
LLM_KEY_MAX_CONCURRENT = env_int("LLM_KEY_MAX_CONCURRENT", 4, minimum=1, maximum=1_000)
# One HTTP call to DashScope, and the retries of the task around it (the longest back-off stays
# inside the broker's visibility timeout, celeryconfig.py).
LLM_REQUEST_TIMEOUT_S = env_int("LLM_REQUEST_TIMEOUT_S", 30, minimum=1, maximum=60)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 5, minimum=0, maximum=20)
LLM_RETRY_BACKOFF_S = env_float("LLM_RETRY_BACKOFF_S", 2.0, minimum=0.0, maximum=60.0)
LLM_RETRY_BACKOFF_MAX_S = env_float(
    "LLM_RETRY_BACKOFF_MAX_S", 60.0, minimum=0.0, maximum=topology.LONGEST_RETRY_BACKOFF_S
)
# Waits for the budget shorter than this are slept inside the task; longer ones become a retry.
LLM_INLINE_WAIT_MAX_S = env_float("LLM_INLINE_WAIT_MAX_S", 5.0, minimum=0.0, maximum=30.0)
# A verdict later than this after the event is not worth waiting for: the alert goes out rules-only.
LLM_MAX_EVENT_DELAY_S = env_float("LLM_MAX_EVENT_DELAY_S", 120.0, minimum=1.0, maximum=86_400.0)
# Images are scaled down to this longest side before upload (image tokens grow with pixels).
LLM_IMAGE_MAX_SIDE = env_int("LLM_IMAGE_MAX_SIDE", 1024, minimum=256, maximum=4096)
LLM_MAX_OUTPUT_TOKENS = env_int("LLM_MAX_OUTPUT_TOKENS", 400, minimum=100, maximum=4_000)
# Estimated price per 1,000 tokens (input includes image tokens), for the cost metric and rows.
# Defaults: qwen-vl-max's international list price (USD 0.80 / 3.20 per million) when written.
LLM_PRICE_INPUT_PER_1K = env_float("LLM_PRICE_INPUT_PER_1K", 0.0008, minimum=0.0)
LLM_PRICE_OUTPUT_PER_1K = env_float("LLM_PRICE_OUTPUT_PER_1K", 0.0032, minimum=0.0)
if LLM_KEY_COOLDOWN_MAX_S < LLM_KEY_COOLDOWN_S:
    raise ImproperlyConfigured("LLM_KEY_COOLDOWN_MAX_S must not be below LLM_KEY_COOLDOWN_S")
if LLM_RETRY_BACKOFF_MAX_S < LLM_RETRY_BACKOFF_S:
    raise ImproperlyConfigured("LLM_RETRY_BACKOFF_MAX_S must not be below LLM_RETRY_BACKOFF_S")
# One call (plus its repair call) must fit in the task's soft time limit with room to record it.
if topology.ANALYZE_EVENT.soft_time_limit <= 2 * LLM_REQUEST_TIMEOUT_S + LLM_INLINE_WAIT_MAX_S:
    raise ImproperlyConfigured(
        "2 x LLM_REQUEST_TIMEOUT_S + LLM_INLINE_WAIT_MAX_S must stay below the analyze task's soft "
        f"time limit ({topology.ANALYZE_EVENT.soft_time_limit:g} s)"
    )

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
# OpenTelemetry tracing through the official instrumentations (core/tracing.py); the SDK reads the
# other OTEL_* variables itself (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318;
# OTEL_TRACES_SAMPLER, ...). Django's instrumentation adds its middleware itself when tracing starts.
OTEL_ENABLED = env_bool("OTEL_ENABLED", False)
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "trafficsite")
OTEL_TRACES_EXPORTER = env_str("OTEL_TRACES_EXPORTER", "otlp").lower()
if OTEL_TRACES_EXPORTER not in {"otlp", "console"}:
    raise ImproperlyConfigured(f"OTEL_TRACES_EXPORTER must be otlp or console, got {OTEL_TRACES_EXPORTER!r}")

# --- Alerts: dashboard, websocket, REST API, notifications, retention (docs/alerts.md) ----------
# Absolute links in webhook and MQTT messages (e.g. https://traffic.example.org); empty: paths only.
SITE_URL = env_str("SITE_URL", "").rstrip("/")
# Alerts a dashboard (or any websocket client) receives on connect, before the live ones.
ALERTS_WS_BACKLOG = env_int("ALERTS_WS_BACKLOG", 50, minimum=0, maximum=500)
# Heartbeat of the websocket, carrying each camera's live counters (fps, tracks); a client that hears
# nothing for three periods reconnects.
ALERTS_WS_HEARTBEAT_S = env_float("ALERTS_WS_HEARTBEAT_S", 5.0, minimum=1.0, maximum=60.0)
# A websocket ticket (POST /api/v1/ws-ticket/, for clients that cannot send headers) is valid this long.
WS_TICKET_MAX_AGE_S = env_int("WS_TICKET_MAX_AGE_S", 60, minimum=5, maximum=3600)
# A websocket is closed after this long (the dashboard reconnects): a bound on what an old login sees.
ALERTS_WS_MAX_LIFETIME_S = env_float("ALERTS_WS_MAX_LIFETIME_S", 4 * 3600.0, minimum=1.0, maximum=7 * 86400.0)

REST_FRAMEWORK = {
    # Token first: it is the one whose challenge (401 + WWW-Authenticate: Token) anonymous clients get.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # API clients: "Authorization: Token <key>", refused after API_TOKEN_TTL_DAYS.
        "alerts.api.authentication.ExpiringTokenAuthentication",
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
    # Per user (or address, anonymous) in the shared cache: a leaked token cannot hammer the database.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "1200/min"),
    },
}
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 90, minimum=1, maximum=3650)
# Failed logins per client address or user name within the window before the login answers 429.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1, maximum=1000)
LOGIN_FAILURE_WINDOW_S = env_int("LOGIN_FAILURE_WINDOW_S", 900, minimum=10, maximum=86400)
LOGIN_THROTTLED_PATHS = ["/admin/login/", "/api-auth/login/"]
SPECTACULAR_SETTINGS = {
    "TITLE": "Traffic safety API",
    "DESCRIPTION": "Cameras, alerts, their review and statistics. Authenticate with a session or "
    '"Authorization: Token <key>". See docs/alerts.md.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ loads Swagger UI from our static files (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
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
# Receivers inside the deployment network (host names or addresses): only these may resolve to
# loopback, private or link-local addresses, and only these may use plain http (alerts/webhook_guard.py).
WEBHOOK_INTERNAL_HOSTS = env_list("WEBHOOK_INTERNAL_HOSTS", [])
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
# Alerts the LLM judged harmless still notify when their rule rated them at least this (5: never).
NOTIFY_REJECTED_MIN_SEVERITY = env_int("NOTIFY_REJECTED_MIN_SEVERITY", 3, minimum=1, maximum=5)
MQTT_MIN_SEVERITY = env_int("MQTT_MIN_SEVERITY", 3, minimum=1, maximum=4)
MQTT_QOS = env_int("MQTT_QOS", 1, minimum=0, maximum=2)
MQTT_TIMEOUT_S = env_float("MQTT_TIMEOUT_S", 5.0, minimum=0.5, maximum=60.0)

# Evidence bundles (alerts/bundle.py) are signed with this installation's Ed25519 key, made on first use
# (mode 600). Keep it with the backups; `manage.py verify_bundle` checks bundles against it.
EVIDENCE_SIGNING_KEY_FILE = Path(env_str("EVIDENCE_SIGNING_KEY_FILE", str(DATA_DIR / "evidence_signing_key.pem")))

# Retention: beat sends alerts.purge_expired this often; each camera says how long its alerts stay.
# LLM analyses no alert links to, and failed jobs, are deleted after these many days.
LLM_ANALYSIS_RETENTION_DAYS = env_int("LLM_ANALYSIS_RETENTION_DAYS", 90, minimum=1, maximum=3650)
FAILED_JOB_RETENTION_DAYS = env_int("FAILED_JOB_RETENTION_DAYS", 30, minimum=1, maximum=3650)
ALERTS_RETENTION_INTERVAL_S = env_float("ALERTS_RETENTION_INTERVAL_S", 3600.0, minimum=60.0, maximum=86400.0)
