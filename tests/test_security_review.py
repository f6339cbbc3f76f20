"""Issue 12, Low: reviewing needs the permission to change alerts (staff status is not enough), every
review is kept in an append-only history, and the dashboard's camera pictures need the camera view
permission, as in the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from alerts.models import Alert, AlertReview
from cameras.live import snapshot_key
from core.redisclient import get_redis
from tests.factories import make_alert, make_camera

pytestmark = pytest.mark.django_db


def staff(name: str, *codenames: str) -> Client:
    user = User.objects.create_user(name, password=f"a-long-{name}-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_a_view_only_staff_user_cannot_unconfirm_an_alert(admin_user: User) -> None:
    alert = make_alert()
    Alert.objects.filter(pk=alert.pk).review("confirmed", admin_user, "plate readable")
    viewer = staff("vera", "view_alert")
    api = viewer.post(f"/api/v1/alerts/{alert.pk}/review/", {"status": "new"}, content_type="application/json")
    assert api.status_code == 403
    bulk = viewer.post("/api/v1/alerts/review/", {"ids": [alert.pk], "status": "new"}, content_type="application/json")
    assert bulk.status_code == 403
    changelist = reverse("admin:alerts_alert_changelist")
    assert "mark_new" not in viewer.get(changelist).content.decode()  # the action is not offered
    viewer.post(changelist, {"action": "mark_new", "_selected_action": [alert.pk]})
    assert Alert.objects.get(pk=alert.pk).review_status == "confirmed"


def test_every_review_is_kept_in_an_append_only_history(admin_user: User) -> None:
    alert = make_alert()
    reviewer = staff("rita", "change_alert", "view_alert")
    for status, note in [("confirmed", "too fast"), ("new", ""), ("false_positive", "a shadow")]:
        response = reviewer.post(
            f"/api/v1/alerts/{alert.pk}/review/", {"status": status, "note": note}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
    history = list(
        AlertReview.objects.filter(alert=alert).order_by("id").values_list("previous_status", "status", "note")
    )
    assert history == [
        ("new", "confirmed", "too fast"),
        ("confirmed", "new", ""),
        ("new", "false_positive", "a shadow"),
    ]
    assert set(AlertReview.objects.values_list("reviewer__username", flat=True)) == {"rita"}
    page = Client()
    page.force_login(admin_user)
    change = page.get(reverse("admin:alerts_alert_change", args=[alert.pk])).content.decode()
    assert "too fast" in change and "a shadow" in change


def test_the_dashboard_snapshot_needs_the_camera_view_permission() -> None:
    camera = make_camera()
    url = reverse("alerts:camera_snapshot", args=[camera.pk])
    get_redis().set(snapshot_key(camera.pk), b"\xff\xd8annotated", ex=30)
    try:
        assert staff("nobody").get(url).status_code == 403
        assert staff("vic", "view_camera").get(url).status_code == 200
    finally:
        get_redis().delete(snapshot_key(camera.pk))
