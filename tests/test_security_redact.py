"""Issue 12, Medium 3 and a Low item: a masked camera URL gets its stored password back only for the
same endpoint, and masking does not stop at an "@" inside the password."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from cameras.models import Camera
from core.redact import mask_url, restore_masked_url
from tests.factories import make_camera

STORED = "rtsp://admin:s3cret@cam.example:554/live"


@pytest.mark.parametrize(
    "submitted",
    [
        "rtsp://admin:***@attacker.example:554/live",  # another host
        "rtsp://admin:***@cam.example:8554/live",  # another port
        "rtsp://admin:***@cam.example/live",  # the default port is another port
        "rtsps://admin:***@cam.example:554/live",  # another scheme
        "http://admin:***@cam.example:554/live",
        "rtsp://root:***@cam.example:554/live",  # another user
        "rtsp://admin:***@cam.example:notaport/live",
    ],
)
def test_the_stored_password_is_not_sent_to_another_endpoint(submitted: str) -> None:
    assert restore_masked_url(submitted, STORED) is None


def test_the_stored_password_comes_back_for_the_same_endpoint() -> None:
    assert restore_masked_url("rtsp://admin:***@cam.example:554/other", STORED) == (
        "rtsp://admin:s3cret@cam.example:554/other"
    )
    assert restore_masked_url("rtsp://admin:***@CAM.example:554/live", STORED) == (
        "rtsp://admin:s3cret@CAM.example:554/live"  # host names are case-insensitive
    )
    stored_at = "rtsp://admin:p@ss@cam.example/x"
    assert restore_masked_url(mask_url(stored_at), stored_at) == stored_at


def test_a_password_with_an_at_sign_is_masked_whole() -> None:
    assert mask_url("rtsp://admin:p@ss@cam/x") == "rtsp://admin:***@cam/x"
    assert (
        mask_url("failed: rtsp://a:b@c@h1/x and http://u:p@h2/y") == "failed: rtsp://a:***@h1/x and http://u:***@h2/y"
    )
    assert mask_url("http://cam.example/x?mail=a@b") == "http://cam.example/x?mail=a@b"


@pytest.mark.django_db
def test_the_admin_form_and_the_api_refuse_a_masked_url_aimed_at_another_host(admin_client: Client) -> None:
    camera = make_camera(source_url=STORED)
    form = {
        "name": camera.name,
        "source_url": "rtsp://admin:***@attacker.example:554/live",
        "enabled": "on",
        "detect_fps": camera.detect_fps,
        "confidence_threshold": camera.confidence_threshold,
        "classes": json.dumps(camera.classes),
        "motion_threshold": camera.motion_threshold,
        "speed_limit_kmh": camera.speed_limit_kmh,
        "calibration": "{}",
        "zones": "[]",
        "rules": "{}",
        "llm_conclusive_rules": json.dumps(camera.llm_conclusive_rules),
        "llm_calls_per_hour": camera.llm_calls_per_hour,
        "alert_retention_days": camera.alert_retention_days,
        "rtsp_transport": camera.rtsp_transport,
        "pre_roll_s": camera.pre_roll_s,
        "post_roll_s": camera.post_roll_s,
    }
    response = admin_client.post(f"/admin/cameras/camera/{camera.pk}/change/", form)
    assert response.status_code == 200 and b"Enter the stream password again" in response.content
    api = admin_client.patch(
        f"/api/v1/cameras/{camera.pk}/",
        json.dumps({"source_url": "rtsp://admin:***@attacker.example:554/live"}),
        content_type="application/json",
    )
    assert api.status_code == 400
    assert Camera.objects.get(pk=camera.pk).source_url == STORED
