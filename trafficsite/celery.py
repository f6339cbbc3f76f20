"""The Celery application. Its configuration lives in the top-level ``celeryconfig`` module."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trafficsite.settings")

app = Celery("trafficsite")
app.config_from_object("celeryconfig")
app.autodiscover_tasks()
