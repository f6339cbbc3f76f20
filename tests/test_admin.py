"""The admin with a logged-in operator: lists, masking, the frame grab, review and replay actions."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from alerts.models import Alert
from cameras.models import Camera
from core.models import FailedJob
from tests.factories import make_alert, make_camera
from tests.support.scrape import METRICS_AUTH

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> User:
    return User.objects.create_superuser("operator", password="a-long-operator-password")


@pytest.fixture
def client_in(client: Client, operator: User) -> Client:
    client.force_login(operator)
    return client


def test_anonymous_users_are_sent_to_the_login_page(client: Client) -> None:
    for url in [
        reverse("admin:cameras_camera_changelist"),
        reverse("admin:alerts_alert_changelist"),
        "/media/alerts/x.jpg",
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_health_is_open_and_metrics_need_the_token(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 403
    metrics = client.get("/metrics", **METRICS_AUTH)
    assert metrics.status_code == 200
    assert b"django_http_requests_total_by_method_total" in metrics.content


def test_every_admin_list_renders(client_in: Client) -> None:
    make_alert()
    for model in ["cameras/camera", "alerts/alert", "analysis/llmanalysis", "core/failedjob"]:
        response = client_in.get(f"/admin/{model}/")
        assert response.status_code == 200, model


def test_camera_credentials_never_reach_the_list_or_the_form(client_in: Client) -> None:
    camera = make_camera(name="Gate", source_url="rtsp://admin:hunter2@cam.example:554/live")
    listing = client_in.get(reverse("admin:cameras_camera_changelist")).content.decode()
    assert "hunter2" not in listing and "rtsp://admin:***@cam.example:554/live" in listing
    form = client_in.get(reverse("admin:cameras_camera_change", args=[camera.pk])).content.decode()
    assert "hunter2" not in form
    searched = client_in.get(reverse("admin:cameras_camera_changelist"), {"q": "hunter2"}).content.decode()
    assert "Gate" not in searched  # searching does not probe the source either


def test_saving_the_masked_form_keeps_the_stored_password(client_in: Client) -> None:
    camera = make_camera(name="Gate", source_url="rtsp://admin:hunter2@cam.example:554/live")
    data = {
        "name": "Gate",
        "source_url": "rtsp://admin:***@cam.example:554/sub",
        "enabled": "on",
        "detect_fps": "4",
        "confidence_threshold": "0.4",
        "classes": '["car", "person"]',
        "speed_limit_kmh": "30",
        "calibration": "{}",
        "zones": "[]",
        "rules": "{}",
        "motion_threshold": "0.002",
        "llm_enabled": "on",
        "llm_conclusive_rules": "[]",
        "llm_calls_per_hour": "120",
        "rtsp_transport": "auto",
        "pre_roll_s": "5",
        "post_roll_s": "5",
    }
    response = client_in.post(reverse("admin:cameras_camera_change", args=[camera.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    camera.refresh_from_db()
    assert camera.source_url == "rtsp://admin:hunter2@cam.example:554/sub"
    assert (camera.detect_fps, camera.classes, camera.speed_limit_kmh) == (4.0, ["car", "person"], 30)


def test_a_bad_source_in_the_form_shows_the_reason(client_in: Client) -> None:
    data = {
        "name": "X",
        "source_url": "ftp://cam.example/x",
        "detect_fps": "5",
        "confidence_threshold": "0.4",
        "classes": '["car"]',
        "speed_limit_kmh": "50",
        "calibration": "{}",
        "zones": "[]",
        "rules": "{}",
    }
    response = client_in.post(reverse("admin:cameras_camera_add"), data)
    assert response.status_code == 200
    assert "Unsupported scheme" in response.content.decode()
    assert not Camera.objects.filter(name="X").exists()


def test_grabbing_a_frame_from_the_demo_clip_shows_the_picture(client_in: Client) -> None:
    camera = make_camera()
    response = client_in.post(reverse("admin:cameras_camera_grab", args=[camera.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="grab-image" src="data:image/jpeg;base64,' in page
    assert "800&times;600 pixels" in page


def test_grabbing_from_a_dead_stream_says_why(client_in: Client, settings) -> None:
    settings.CAMERA_OPEN_TIMEOUT_S = 2.0
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    camera = make_camera(source_url="rtsp://admin:hunter2@127.0.0.1:9/live")
    response = client_in.post(reverse("admin:cameras_camera_grab", args=[camera.pk]))
    page = response.content.decode()
    assert 'id="grab-error"' in page
    assert "Could not open the RTSP stream rtsp://admin:***@127.0.0.1:9/live" in page
    assert "hunter2" not in page


def test_the_grab_action_needs_exactly_one_camera(client_in: Client) -> None:
    cams = [make_camera(), make_camera()]
    url = reverse("admin:cameras_camera_changelist")
    response = client_in.post(
        url, {"action": "grab_frame_action", "_selected_action": [c.pk for c in cams]}, follow=True
    )
    assert "Select exactly one camera" in response.content.decode()
    response = client_in.post(url, {"action": "grab_frame_action", "_selected_action": [cams[0].pk]})
    assert response["Location"] == reverse("admin:cameras_camera_grab", args=[cams[0].pk])


def test_bulk_review_actions_record_the_reviewer(client_in: Client, operator: User) -> None:
    alerts = [make_alert(), make_alert(), make_alert()]
    url = reverse("admin:alerts_alert_changelist")
    response = client_in.post(
        url, {"action": "mark_false_positive", "_selected_action": [a.pk for a in alerts[:2]]}, follow=True
    )
    assert "Marked 2 alert(s) as false positive" in response.content.decode()
    statuses = dict(Alert.objects.values_list("pk", "review_status"))
    assert statuses == {alerts[0].pk: "false_positive", alerts[1].pk: "false_positive", alerts[2].pk: "new"}
    assert set(Alert.objects.filter(review_status="false_positive").values_list("reviewed_by", flat=True)) == {
        operator.pk
    }


def test_the_review_form_records_reviewer_and_time(client_in: Client, operator: User) -> None:
    alert = make_alert()
    response = client_in.post(
        reverse("admin:alerts_alert_change", args=[alert.pk]),
        {"review_status": "confirmed", "review_note": "clearly too fast"},
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.review_status, alert.reviewed_by, alert.review_note) == ("confirmed", operator, "clearly too fast")
    assert alert.reviewed_at is not None


def test_evidence_thumbnails_are_served_only_to_staff(client_in: Client, client: Client) -> None:
    alert = make_alert()
    alert.keyframe.save("key.jpg", ContentFile(b"\xff\xd8\xff\xe0fakejpeg"))
    listing = client_in.get(reverse("admin:alerts_alert_changelist")).content.decode()
    src = re.search(r'<img src="([^"]+)" width="120"', listing)
    assert src is not None
    image = client_in.get(src.group(1))
    assert image.status_code == 200 and b"".join(image.streaming_content).startswith(b"\xff\xd8")  # type: ignore[attr-defined]
    client_in.logout()
    assert client_in.get(src.group(1)).status_code == 302
    assert client_in.get("/media/../../etc/passwd").status_code in (302, 404)


def test_alerts_cannot_be_added_by_hand(client_in: Client) -> None:
    assert client_in.get(reverse("admin:alerts_alert_add")).status_code == 403


def test_failed_jobs_are_listed_with_their_error(client_in: Client) -> None:
    FailedJob.objects.create(
        task_name="analysis.analyze_event",
        task_id="t-1",
        queue="llm",
        args=[7],
        error_type="Throttling",
        error="429 from DashScope",
        attempts=5,
    )
    page = client_in.get(reverse("admin:core_failedjob_changelist")).content.decode()
    assert "analysis.analyze_event" in page and "Throttling" in page


def test_the_camera_page_shows_the_live_snapshot_and_counts(client_in: Client) -> None:
    import json

    from cameras.live import snapshot_key, stats_key
    from core.redisclient import get_redis

    camera = make_camera()
    page = client_in.get(reverse("admin:cameras_camera_change", args=[camera.pk])).content.decode()
    assert "the camera is not being captured" in page
    assert client_in.get(reverse("admin:cameras_camera_snapshot", args=[camera.pk])).status_code == 404
    stats = {
        "tracks": 3,
        "counts": {"car": 2, "truck": 1},
        "groups": 1,
        "fps_in": 20.0,
        "fps_detected": 5.0,
        "dropped": 0,
    }
    get_redis().set(stats_key(camera.pk), json.dumps(stats))
    get_redis().set(snapshot_key(camera.pk), b"\xff\xd8jpeg")
    page = client_in.get(reverse("admin:cameras_camera_change", args=[camera.pk])).content.decode()
    assert "3 road user(s) tracked" in page and "2 car" in page and "5.0 fps detected" in page
    snapshot = client_in.get(reverse("admin:cameras_camera_snapshot", args=[camera.pk]))
    assert snapshot["Content-Type"] == "image/jpeg" and snapshot.content == b"\xff\xd8jpeg"
