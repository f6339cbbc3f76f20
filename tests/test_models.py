"""Data model: validation of camera settings, database constraints, review and status updates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from alerts.models import Alert
from analysis.models import LLMAnalysis
from cameras.config import rule_settings
from cameras.models import Camera
from tests.factories import make_alert, make_camera

pytestmark = pytest.mark.django_db

LANE = {
    "name": "east",
    "kind": "lane",
    "polygon": [[0, 0.5], [1, 0.45], [1, 0.6], [0, 0.7]],
    "flow": [[0.1, 0.62], [0.9, 0.52]],
}
CALIBRATION = {
    "image_points": [[0.1, 0.4], [0.9, 0.38], [0.95, 0.95], [0.05, 0.97]],
    "world_points": [[0, 30], [20, 30], [20, 0], [0, 0]],
}


def test_a_camera_with_valid_settings_saves() -> None:
    camera = make_camera(zones=[LANE], calibration=CALIBRATION, rules={"tailgating": {"headway_s": 1.0}})
    assert camera.homography is not None
    assert rule_settings(camera.rules, "tailgating")["headway_s"] == 1.0
    assert rule_settings(camera.rules, "tailgating")["min_duration_s"] == 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("classes", ["car", "spaceship"], "Unknown class name(s): spaceship"),
        ("classes", [], "cannot be blank"),
        ("zones", [{**LANE, "kind": "road"}], "kind must be one of lane, crosswalk, no_stopping"),
        ("zones", [{**LANE, "polygon": [[0, 0], [1, 1]]}], "at least three"),
        ("zones", [{**LANE, "polygon": [[0, 0], [0.5, 0.5], [1, 1]]}], "has no area"),
        ("zones", [{**LANE, "polygon": [[0, 0], [2, 0], [1, 1]]}], "must lie within 0..1"),
        ("zones", [{**LANE, "flow": [[0.1, 0.1], [0.1, 0.1]]}], "give no direction"),
        ("zones", [LANE, LANE], "two zones have this name"),
        (
            "calibration",
            {"image_points": [[0, 0], [1, 0], [1, 1]], "world_points": [[0, 0], [1, 0], [1, 1]]},
            "at least 4 point pairs",
        ),
        (
            "calibration",
            {
                "image_points": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9], [0.1, 0.9]],
                "world_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
            },
            "lie on one line",
        ),
        ("rules", {"tailgating": {"headway": 1.0}}, "has no setting 'headway'"),
        ("rules", {"speeding": {"min_duration_s": -1}}, "must be a positive number"),
        ("rules", {"drifting": {}}, "Unknown rule 'drifting'"),
        ("detect_fps", 100.0, "less than or equal to 30"),
        ("source_url", "ftp://cam/x", "Unsupported scheme 'ftp'"),
    ],
)
def test_invalid_camera_settings_get_a_specific_message(field: str, value: object, message: str) -> None:
    camera = Camera(name="Bad", source_url="rtsp://cam.example/live")
    setattr(camera, field, value)
    with pytest.raises(ValidationError) as info:
        camera.full_clean()
    assert message in str(info.value.message_dict[field])


def test_the_database_refuses_out_of_range_values_even_without_form_validation() -> None:
    camera = make_camera()
    with pytest.raises(IntegrityError), transaction.atomic():
        Camera.objects.filter(pk=camera.pk).update(detect_fps=0.0)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_alert(camera, confidence=1.5)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_alert(camera, severity=9)


def test_an_alert_cannot_be_detected_before_its_event_started() -> None:
    alert = make_alert()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(detected_at=alert.event_started_at - timedelta(seconds=1))


def test_one_event_key_is_one_alert() -> None:
    alert = make_alert()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_alert(alert.camera, idempotency_key=alert.idempotency_key)


def test_a_review_beyond_new_must_say_when() -> None:
    alert = make_alert()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(review_status=Alert.Review.CONFIRMED)


def test_reviewing_records_reviewer_time_and_note_and_new_clears_them() -> None:
    user = User.objects.create_user("op", password="pw-123-long-enough")
    alerts = [make_alert(), make_alert()]
    count = Alert.objects.filter(pk__in=[a.pk for a in alerts]).review(Alert.Review.FALSE_POSITIVE, user, "shadow")
    assert count == 2
    for alert in Alert.objects.all():
        assert (alert.review_status, alert.reviewed_by, alert.review_note) == ("false_positive", user, "shadow")
        assert alert.reviewed_at is not None
    Alert.objects.all().review(Alert.Review.NEW, user)
    assert not Alert.objects.filter(Q(reviewed_by__isnull=False) | Q(reviewed_at__isnull=False)).exists()
    with pytest.raises(ValueError, match="unknown review status"):
        Alert.objects.all().review("ignored", user)


def test_an_ok_analysis_must_carry_its_verdict() -> None:
    camera = make_camera()
    with pytest.raises(IntegrityError), transaction.atomic():
        LLMAnalysis.objects.create(event_key="e1", camera=camera, status="ok", model="qwen-vl-max", prompt_version="v1")
    LLMAnalysis.objects.create(event_key="e2", camera=camera, status="malformed", model="m", prompt_version="v1")


def test_camera_status_updates_only_when_something_changed_and_mask_credentials() -> None:
    camera = make_camera()
    assert camera.set_status(Camera.Status.ERROR, error="cannot open rtsp://admin:hunter2@cam.example/live")
    camera.refresh_from_db()
    assert camera.status == "error"
    assert "hunter2" not in camera.last_error and "admin:***@" in camera.last_error
    assert not camera.set_status(Camera.Status.ERROR, error="cannot open rtsp://admin:hunter2@cam.example/live")
    assert camera.set_status(Camera.Status.ONLINE)
    camera.refresh_from_db()
    assert (camera.status, camera.last_error) == ("online", "")
