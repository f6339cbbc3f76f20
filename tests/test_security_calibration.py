"""Issue 12, Medium 8 and a Low item: calibration input is bounded, real numbers only, and bad bodies or
bad saved rows give a clear 400 or message, never a 500."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from cameras.config import validate_calibration, validate_zones
from cameras.models import Camera
from detection import calibration
from tests.factories import make_camera

SQUARE = {
    "image_points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]],
    "world_points": [[0, 0], [8, 0], [8, 40], [0, 40]],
}


def test_numeric_strings_in_a_calibration_are_refused() -> None:
    with pytest.raises(ValidationError, match="pair of finite numbers"):
        validate_calibration({**SQUARE, "world_points": [["0", "0"], [8, 0], [8, 40], [0, 40]]})
    with pytest.raises(ValidationError, match="pair of finite numbers"):
        validate_calibration({**SQUARE, "image_points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [True, 0.9]]})


def test_a_calibration_has_at_most_32_points_and_spans_at_most_1000_m() -> None:
    ring = [[0.5 + 0.4 * np.cos(a), 0.5 + 0.4 * np.sin(a)] for a in np.linspace(0, 6, 33)]
    with pytest.raises(ValidationError, match="at most 32"):
        validate_calibration({"image_points": ring, "world_points": [[x * 10, y * 10] for x, y in ring]})
    with pytest.raises(ValidationError, match="span 1e\\+09 m"):
        validate_calibration({**SQUARE, "world_points": [[0, 0], [8, 0], [8, 1e9], [0, 1e9]]})
    validate_calibration({**SQUARE, "world_points": [[0, 0], [8, 0], [8, 1000], [0, 1000]]})


def test_zones_are_bounded_in_number_and_corners() -> None:
    many_corners = [[0.5 + 0.4 * np.cos(a), 0.5 + 0.4 * np.sin(a)] for a in np.linspace(0, 6, 65)]
    with pytest.raises(ValidationError, match="at most 64"):
        validate_zones([{"name": "round", "kind": "crosswalk", "polygon": many_corners}])
    zone = {"kind": "crosswalk", "polygon": [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]]}
    with pytest.raises(ValidationError, match="at most 32 zones"):
        validate_zones([{**zone, "name": f"z{i}"} for i in range(33)])


def test_the_preview_grid_is_bounded_whatever_the_calibrated_extent(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[int] = []
    real = cv2.polylines

    def counting(*args: Any, **kwargs: Any) -> Any:
        lines.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cv2, "polylines", counting)
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    calibration.preview(image, {**SQUARE, "world_points": [[0, 0], [8, 0], [8, 1000], [0, 1000]]}, [])
    assert len(lines) <= 2 * (calibration.MAX_GRID_LINES + 2)
    lines.clear()
    calibration.preview(image, SQUARE, [])
    assert len(lines) == 9 + 41  # one line per metre when the area is small


@pytest.mark.django_db
def test_bad_calibration_bodies_are_a_400_and_a_bad_saved_row_a_message(admin_client: Client) -> None:
    camera = make_camera()
    url = reverse("admin:cameras_camera_calibrate", args=[camera.pk])
    not_utf8 = admin_client.post(url, b'{"zones": ["\xff\xfe"]}', content_type="application/json")
    assert not_utf8.status_code == 400 and "UTF-8" in not_utf8.json()["error"]
    huge = admin_client.post(url, json.dumps({"zones": [], "pad": "x" * 70_000}), content_type="application/json")
    assert huge.status_code == 400 and "at most 65536" in huge.json()["error"]
    strings = {"calibration": {**SQUARE, "world_points": [["0", "0"], ["8", "0"], ["8", "40"], ["0", "40"]]}}
    refused = admin_client.post(url + "?save=1", json.dumps(strings), content_type="application/json")
    assert refused.status_code == 400 and "finite numbers" in refused.json()["error"]
    # A row saved before the checks: the page still opens and says what is wrong.
    Camera.objects.filter(pk=camera.pk).update(calibration=strings["calibration"])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "The saved settings are invalid" in page.content.decode()
