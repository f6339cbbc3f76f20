"""REST API (Django REST framework): cameras, alerts and their review, statistics. See docs/alerts.md."""
