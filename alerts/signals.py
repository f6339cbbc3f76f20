"""Signals of the alerts app.

``alerts_reviewed(sender=Alert, alert_ids=[...])`` is sent after the commit of a review (admin,
dashboard or API); ``alerts/live.py`` pushes the new state to every open dashboard.
"""

from __future__ import annotations

from django.dispatch import Signal

alerts_reviewed = Signal()
