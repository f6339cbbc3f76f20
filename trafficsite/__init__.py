"""Traffic-safety platform: Django project package."""

from trafficsite.celery import app as celery_app

__all__ = ["celery_app"]
