"""Calibration and zones drawn on a camera's frame in the admin: preview, refusal, save."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from cameras.models import Camera
from tests.factories import make_camera

pytestmark = pytest.mark.django_db

GOOD = {
    "calibration": {
        "image_points": [[0.0, 0.44], [0.02, 0.81], [0.8, 0.25], [0.72, 0.14]],
        "world_points": [[0, 0], [8, 0], [8, 45], [0, 45]],
    },
    "zones": [
        {
            "name": "eastbound",
            "kind": "lane",
            "polygon": [[0.01, 0.6], [0.02, 0.8], [0.8, 0.25], [0.76, 0.2]],
            "flow": [[0.1, 0.7], [0.7, 0.25]],
            "speed_limit_kmh": 30,
        }
    ],
}


@pytest.fixture
def operator_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("operator", password="a-long-operator-password"))
    return client


def test_the_page_shows_the_frame_and_a_preview_of_the_saved_settings(operator_client: Client) -> None:
    camera = make_camera(**GOOD)
    page = operator_client.get(reverse("admin:cameras_camera_calibrate", args=[camera.pk])).content.decode()
    assert 'src="data:image/jpeg;base64,' in page and 'id="cal-preview-img"' in page
    assert '"eastbound"' in page  # the current zones are handed to the editor
    change = operator_client.get(reverse("admin:cameras_camera_change", args=[camera.pk])).content.decode()
    assert reverse("admin:cameras_camera_calibrate", args=[camera.pk]) in change


def test_a_preview_draws_without_saving_and_a_degenerate_calibration_is_refused(operator_client: Client) -> None:
    camera = make_camera()
    url = reverse("admin:cameras_camera_calibrate", args=[camera.pk])
    preview = operator_client.post(url, json.dumps(GOOD), content_type="application/json")
    assert preview.status_code == 200 and preview.json()["preview"].startswith("data:image/jpeg;base64,")
    assert Camera.objects.get(pk=camera.pk).calibration == {}
    bad = {
        "calibration": {
            "image_points": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9], [0.1, 0.9]],
            "world_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
        },
        "zones": [],
    }
    refused = operator_client.post(url, json.dumps(bad), content_type="application/json")
    assert refused.status_code == 400 and "lie on one line" in refused.json()["error"]


def test_saving_stores_calibration_and_zones_validated(operator_client: Client) -> None:
    camera = make_camera()
    url = reverse("admin:cameras_camera_calibrate", args=[camera.pk]) + "?save=1"
    assert operator_client.post(url, json.dumps(GOOD), content_type="application/json").json() == {"saved": True}
    camera.refresh_from_db()
    assert camera.calibration == GOOD["calibration"] and camera.zones == GOOD["zones"]
    assert camera.homography is not None


def test_a_viewer_may_look_but_not_change(client: Client) -> None:
    viewer = User.objects.create_user("viewer", password="a-long-viewer-password", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_camera"))
    client.force_login(viewer)
    camera = make_camera()
    url = reverse("admin:cameras_camera_calibrate", args=[camera.pk])
    assert client.get(url).status_code == 200
    answer = client.post(url + "?save=1", json.dumps(GOOD), content_type="application/json")
    assert answer.status_code == 403
    assert Camera.objects.get(pk=camera.pk).calibration == {}
