"""Typed builders for model rows, with valid defaults that a test overrides where it matters."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from typing import Any

from django.utils import timezone

from alerts.models import Alert
from cameras.models import Camera
from detection.assets import CLIP_CARS_TRUCK, asset_path

_seq = count(1)


def make_camera(**overrides: Any) -> Camera:
    fields: dict[str, Any] = {"name": f"Camera {next(_seq)}", "source_url": str(asset_path(CLIP_CARS_TRUCK))}
    fields.update(overrides)
    camera = Camera(**fields)
    camera.full_clean()
    camera.save()
    return camera


def make_alert(camera: Camera | None = None, **overrides: Any) -> Alert:
    now = timezone.now()
    fields: dict[str, Any] = {
        "camera": camera or make_camera(),
        "idempotency_key": f"event-{next(_seq)}",
        "event_type": "speeding",
        "severity": Alert.Severity.HIGH,
        "confidence": 0.8,
        "event_started_at": now - timedelta(seconds=2),
        "detected_at": now,
        "measurements": {"speed_kmh": 78.0, "limit_kmh": 50},
    }
    fields.update(overrides)
    return Alert.objects.create(**fields)
