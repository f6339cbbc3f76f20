"""Settings for the test suite: the real settings module on PostgreSQL and a dedicated Redis db.

TEST_DATABASE_URL / TEST_REDIS_URL override the defaults (the services of a developer machine and CI).
pytest-django creates and drops its own ``test_`` database, so the named database is never touched.
"""

import os
import tempfile

os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trafficsite")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DJANGO_HTTPS", "false")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("DJANGO_MEDIA_ROOT", tempfile.mkdtemp(prefix="trafficsite-media-"))
# /metrics and /readyz's details need this (tests send it as tests.support.scrape.METRICS_AUTH).
os.environ.setdefault("METRICS_TOKEN", "tests-only-metrics-token-0123456789")
# Every test client comes from 127.0.0.1: the anonymous API rate is per address (tests of it set their own).
os.environ.setdefault("API_THROTTLE_ANON", "100000/min")
# The tests' webhook receivers listen on the loopback interface, over plain http.
os.environ.setdefault("WEBHOOK_INTERNAL_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("TRAFFICSITE_DATA_DIR", tempfile.mkdtemp(prefix="trafficsite-data-"))

from trafficsite.settings import *  # noqa: F403

STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests only
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns when it is missing
