"""Signals of the cameras app. Upper layers connect to them in their ``AppConfig.ready()``.

``camera_status_changed(sender=Camera, camera=...)`` is sent after a camera's live status changed
(``Camera.set_status``, from its capture process); the alerts app pushes it to open dashboards.
Receivers must not raise: the capture process sends it.
"""

from __future__ import annotations

from django.dispatch import Signal

camera_status_changed = Signal()
