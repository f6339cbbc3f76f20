"""The REST API: who may do what (anonymous, operator, camera admin), masking, filters, review, stats,
token login, CSRF, the OpenAPI schema and its docs page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from alerts.models import Alert
from cameras.config import EVENT_TYPES
from cameras.models import Camera
from tests.factories import make_alert, make_camera

pytestmark = pytest.mark.django_db

CAMERA_FORM = {
    "name": "East gate",
    "source_url": "rtsp://admin:hunter2@cam.example:554/live",
    "detect_fps": 4,
    "speed_limit_kmh": 30,
    "classes": ["car", "person"],
}


@pytest.fixture
def operator() -> User:
    user = User.objects.create_user("olga", password="a-long-operator-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="change_alert"))  # reviews (issue 12)
    return user


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("ada", password="a-long-admin-password")


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_requests_are_refused_everywhere(client: Client) -> None:
    camera = make_camera()
    alert = make_alert(camera)
    for url in ["/api/v1/", "/api/v1/cameras/", f"/api/v1/cameras/{camera.pk}/", "/api/v1/cameras/status/",
                "/api/v1/alerts/", f"/api/v1/alerts/{alert.pk}/", "/api/v1/stats/", "/api/schema/"]:  # fmt: skip
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"
    assert client.post(f"/api/v1/alerts/{alert.pk}/review/", {"status": "confirmed"}).status_code == 401
    assert client.post("/api/v1/cameras/", CAMERA_FORM, content_type="application/json").status_code == 401
    assert Alert.objects.get().review_status == "new"


def test_a_logged_in_user_who_is_not_staff_is_refused() -> None:
    clerk = logged_in(User.objects.create_user("clerk", password="a-long-clerk-password"))
    assert clerk.get("/api/v1/alerts/").status_code == 403
    assert clerk.get("/api/schema/").status_code == 403


def test_an_operator_reads_and_reviews_but_cannot_change_cameras(operator: User) -> None:
    api = logged_in(operator)
    camera = make_camera(name="Gate")
    alert = make_alert(camera)
    assert api.get("/api/v1/cameras/").json()["results"][0]["name"] == "Gate"
    assert api.get(f"/api/v1/alerts/{alert.pk}/").json()["id"] == alert.pk
    assert api.get("/api/v1/stats/").status_code == 200
    reviewed = api.post(f"/api/v1/alerts/{alert.pk}/review/", {"status": "confirmed", "note": "clearly too fast"},
                        content_type="application/json")  # fmt: skip
    assert reviewed.status_code == 200, reviewed.content
    assert (reviewed.json()["review_status"], reviewed.json()["reviewed_by"]) == ("confirmed", "olga")
    alert.refresh_from_db()
    assert (alert.review_status, alert.reviewed_by, alert.review_note) == ("confirmed", operator, "clearly too fast")
    assert api.post("/api/v1/cameras/", CAMERA_FORM, content_type="application/json").status_code == 403
    patch = api.patch(f"/api/v1/cameras/{camera.pk}/", {"enabled": False}, content_type="application/json")
    assert patch.status_code == 403
    assert api.delete(f"/api/v1/cameras/{camera.pk}/").status_code == 403
    assert Camera.objects.get().enabled


def test_an_admin_creates_edits_and_deletes_cameras_and_never_sees_the_password(admin_user: User) -> None:
    api = logged_in(admin_user)
    created = api.post("/api/v1/cameras/", CAMERA_FORM, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["source"] == "rtsp://admin:***@cam.example:554/live"
    assert "hunter2" not in created.content.decode() and "source_url" not in body
    camera_id = body["id"]
    for url in ["/api/v1/cameras/", f"/api/v1/cameras/{camera_id}/", f"/api/v1/cameras/{camera_id}/status/"]:
        assert "hunter2" not in api.get(url).content.decode(), url
    # Sending the masked URL back keeps the stored password, as the admin form does.
    changed = api.patch(f"/api/v1/cameras/{camera_id}/", {"source_url": "rtsp://admin:***@cam.example:554/sub",
                        "alert_retention_days": 7}, content_type="application/json")  # fmt: skip
    assert changed.status_code == 200, changed.content
    camera = Camera.objects.get(pk=camera_id)
    assert (camera.source_url, camera.alert_retention_days) == ("rtsp://admin:hunter2@cam.example:554/sub", 7)
    assert api.delete(f"/api/v1/cameras/{camera_id}/").status_code == 204
    assert not Camera.objects.exists()


def test_a_user_with_only_the_change_permission_may_edit_but_not_add_or_delete(operator: User) -> None:
    operator.user_permissions.add(Permission.objects.get(codename="change_camera"))
    api = logged_in(User.objects.get(pk=operator.pk))
    camera = make_camera()
    assert (
        api.patch(f"/api/v1/cameras/{camera.pk}/", {"detect_fps": 2}, content_type="application/json").status_code
        == 200
    )
    assert api.post("/api/v1/cameras/", CAMERA_FORM, content_type="application/json").status_code == 403
    assert api.delete(f"/api/v1/cameras/{camera.pk}/").status_code == 403


def test_camera_input_is_validated_like_the_admin_form(admin_user: User) -> None:
    api = logged_in(admin_user)
    bad = api.post("/api/v1/cameras/", {**CAMERA_FORM, "source_url": "ftp://cam.example/x", "detect_fps": 99,
                   "classes": ["unicorn"]}, content_type="application/json")  # fmt: skip
    assert bad.status_code == 400
    errors = bad.json()
    assert "Unsupported scheme" in str(errors["source_url"])
    assert {"detect_fps", "classes"} <= set(errors)
    masked = api.post("/api/v1/cameras/", {**CAMERA_FORM, "source_url": "rtsp://admin:***@cam.example/x"},
                      content_type="application/json")  # fmt: skip
    assert masked.status_code == 400 and "password" in str(masked.json()["source_url"])
    assert not Camera.objects.exists()


def test_a_camera_with_alerts_cannot_be_deleted(admin_user: User) -> None:
    camera = make_camera()
    make_alert(camera)
    response = logged_in(admin_user).delete(f"/api/v1/cameras/{camera.pk}/")
    assert response.status_code == 409 and "disable" in response.json()["detail"]


def test_alerts_are_filtered_and_paginated(operator: User) -> None:
    api = logged_in(operator)
    north, south = make_camera(name="North"), make_camera(name="South")
    now = timezone.now()
    old = make_alert(north, severity=4, detected_at=now - timedelta(days=3), event_started_at=now - timedelta(days=3))
    critical = make_alert(south, severity=4, event_type="wrong_way")
    medium = make_alert(south, severity=2)
    reviewed = make_alert(north, severity=3)
    Alert.objects.filter(pk=reviewed.pk).review("false_positive", operator)

    def ids(query: str) -> list[int]:
        response = api.get("/api/v1/alerts/?" + query)
        assert response.status_code == 200, response.content
        return [a["id"] for a in response.json()["results"]]

    assert ids(f"camera={south.pk}&min_severity=3") == [critical.pk]
    assert ids("event_type=wrong_way") == [critical.pk]
    assert ids(f"review_status=false_positive&camera={north.pk},{south.pk}") == [reviewed.pk]
    assert ids(f"until={(now - timedelta(days=1)).isoformat().replace('+00:00', 'Z')}") == [old.pk]
    assert old.pk not in ids("since=" + (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    page = api.get("/api/v1/alerts/?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert [a["id"] for a in page["results"]] == [reviewed.pk, medium.pk]  # newest first
    assert [a["id"] for a in api.get(page["next"]).json()["results"]] == [critical.pk, old.pk]
    for query in [
        "min_severity=high",
        "min_severity=5",
        "event_type=jaywalking",
        "since=yesterday",
        "review_status=done",
    ]:
        assert api.get("/api/v1/alerts/?" + query).status_code == 400, query


def test_multi_valued_filters_take_repeated_and_comma_separated_values(operator: User) -> None:
    api = logged_in(operator)
    north, south, west = make_camera(name="North"), make_camera(name="South"), make_camera(name="West")
    wrong_way = make_alert(north, event_type="wrong_way")
    speeding = make_alert(south, event_type="speeding")
    make_alert(west, event_type="tailgating")

    def ids(query: str) -> set[int]:
        response = api.get("/api/v1/alerts/?" + query)
        assert response.status_code == 200, response.content
        return {a["id"] for a in response.json()["results"]}

    assert ids(f"camera={north.pk}&camera={south.pk}") == {wrong_way.pk, speeding.pk}
    assert ids(f"camera={north.pk},{south.pk}") == {wrong_way.pk, speeding.pk}
    assert ids("event_type=wrong_way&event_type=speeding") == {wrong_way.pk, speeding.pk}
    assert ids("event_type=wrong_way,speeding") == {wrong_way.pk, speeding.pk}
    assert ids("camera=999999") == set()  # an unknown camera matches nothing, as before
    assert ids("camera=99999999999999999999") == set()  # beyond bigint: still no match, not a 500
    # Filters choose what a list shows; a detail URL is not narrowed by them.
    assert api.get(f"/api/v1/alerts/{speeding.pk}/?event_type=wrong_way").status_code == 200


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("camera=north", "camera", "Expected integers, e.g. 1 or 1,2."),
        ("camera=1.5", "camera", "Expected integers, e.g. 1 or 1,2."),
        ("camera=1,,x", "camera", "Expected integers, e.g. 1 or 1,2."),
        ("min_severity=high", "min_severity", "Expected 1 (low) to 4 (critical)."),
        ("min_severity=0", "min_severity", "Expected 1 (low) to 4 (critical)."),
        ("event_type=speeding,jaywalking", "event_type", "Unknown value jaywalking; expected speeding, wrong_way"),
        ("verification=maybe", "verification", "Unknown value maybe; expected pending, confirmed"),
        ("until=2026-13-01T00:00:00Z", "until", "Expected an ISO 8601 date and time"),
    ],
)
def test_a_bad_filter_value_answers_400_naming_the_field(operator: User, query: str, field: str, message: str) -> None:
    response = logged_in(operator).get("/api/v1/alerts/?" + query)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]


def test_the_filters_openapi_parameters_are_generated_from_the_filterset(operator: User) -> None:
    schema = logged_in(operator).get("/api/schema/?format=json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/v1/alerts/"]["get"]["parameters"]}
    assert {"camera", "event_type", "min_severity", "review_status", "verification", "since", "until"} <= set(params)
    assert params["camera"]["schema"] == {"type": "array", "items": {"type": "integer"}}
    assert set(params["event_type"]["schema"]["items"]["enum"]) == set(EVENT_TYPES)
    assert set(params["review_status"]["schema"]["items"]["enum"]) == set(Alert.Review.values)
    assert params["since"]["schema"] == {"type": "string", "format": "date-time"}


def test_the_api_docs_page_is_for_staff_and_loads_swagger_ui_from_our_static_files(operator: User) -> None:
    anonymous = Client().get("/api/docs/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/?next=/api/docs/")
    clerk = User.objects.create_user("clerk", password="a-long-clerk-password")
    assert logged_in(clerk).get("/api/docs/").status_code == 302

    page = logged_in(operator).get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets and all(a.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/") for a in assets), assets
    # No page or script from elsewhere: every URL in the page is this site's (the CSRF token in the
    # page is random text, so a bare "cdn" could appear in it by chance).
    foreign = re.findall(r"(?:https?:)?//[\w.-]+", html)
    assert not foreign, foreign
    assert '"/api/schema/"' in html  # the UI reads the schema from this site
    # Each asset is a file of the installed sidecar package, which collectstatic publishes.
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset


def test_bulk_review_marks_several_alerts_and_records_the_reviewer(operator: User) -> None:
    alerts = [make_alert() for _ in range(3)]
    response = logged_in(operator).post("/api/v1/alerts/review/", {"ids": [a.pk for a in alerts[:2]],
                                        "status": "acknowledged"}, content_type="application/json")  # fmt: skip
    assert response.json() == {"updated": 2}
    assert sorted(Alert.objects.values_list("review_status", flat=True)) == ["acknowledged", "acknowledged", "new"]
    assert set(Alert.objects.exclude(review_status="new").values_list("reviewed_by", flat=True)) == {operator.pk}
    bad = logged_in(operator).post("/api/v1/alerts/review/", {"ids": [], "status": "maybe"},
                                   content_type="application/json")  # fmt: skip
    assert bad.status_code == 400 and {"ids", "status"} <= set(bad.json())


def test_a_token_authenticates_without_a_session_and_skips_csrf(operator: User) -> None:
    token = Token.objects.create(user=operator)
    alert = make_alert()
    api = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    assert api.get("/api/v1/alerts/", **auth).status_code == 200
    response = api.post(f"/api/v1/alerts/{alert.pk}/review/", {"status": "resolved"}, content_type="application/json",
                        **auth)  # fmt: skip
    assert response.status_code == 200
    assert api.get("/api/v1/alerts/", HTTP_AUTHORIZATION="Token wrong").status_code == 401


def test_a_session_post_without_the_csrf_token_is_refused(operator: User) -> None:
    alert = make_alert()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    response = browser.post(f"/api/v1/alerts/{alert.pk}/review/", {"status": "confirmed"},
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert Alert.objects.get().review_status == "new"


def test_stats_give_false_positive_rates_per_camera_rule_and_pair(operator: User) -> None:
    north, south = make_camera(name="North"), make_camera(name="South")
    outcomes = [
        (north, "speeding", "false_positive"),
        (north, "speeding", "false_positive"),
        (north, "speeding", "confirmed"),
        (north, "near_miss", "resolved"),
        (south, "speeding", "confirmed"),
        (south, "speeding", "acknowledged"),
        (south, "near_miss", "new"),
    ]
    for camera, rule, status in outcomes:
        alert = make_alert(camera, event_type=rule)
        if status != "new":
            Alert.objects.filter(pk=alert.pk).review(status, operator)
    stats = logged_in(operator).get("/api/v1/stats/?days=7").json()
    assert (stats["total"], stats["open"]) == (7, 1)
    assert stats["by_review_status"]["false_positive"] == 2
    per_camera = {row["camera_name"]: row for row in stats["per_camera"]}
    assert (per_camera["North"]["judged"], per_camera["North"]["false_positive_rate"]) == (4, 0.5)
    assert (per_camera["South"]["judged"], per_camera["South"]["false_positive_rate"]) == (1, 0.0)
    per_rule = {row["event_type"]: row for row in stats["per_rule"]}
    assert per_rule["speeding"]["false_positive_rate"] == 0.5  # 2 of 4 judged
    assert per_rule["near_miss"]["false_positive_rate"] == 0.0
    worst = stats["per_camera_rule"][0]
    assert (worst["camera_name"], worst["event_type"], worst["false_positive_rate"]) == ("North", "speeding", 0.6667)
    assert logged_in(operator).get("/api/v1/stats/?days=-1").status_code == 400


def test_camera_status_includes_live_counters_from_the_capture_process(operator: User) -> None:
    import json

    from cameras.live import stats_key
    from core.redisclient import get_redis

    camera = make_camera(name="Gate")
    make_camera(name="Idle")
    get_redis().set(stats_key(camera.pk), json.dumps({"counts": {"car": 2}, "tracks": 2, "groups": 0, "fps_in": 20.0,
                    "fps_detected": 5.0, "dropped": 1, "updated": 1.0}), ex=30)  # fmt: skip
    try:
        statuses = {c["name"]: c for c in logged_in(operator).get("/api/v1/cameras/status/").json()}
    finally:
        get_redis().delete(stats_key(camera.pk))
    assert statuses["Gate"]["live"]["fps_detected"] == 5.0
    assert statuses["Idle"]["live"] is None and statuses["Idle"]["status"] == "unknown"


def test_the_openapi_schema_is_served_to_operators_and_is_valid(operator: User) -> None:
    from django.core.management import call_command

    schema = logged_in(operator).get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/alerts/", "/api/v1/alerts/{id}/review/", "/api/v1/cameras/", "/api/v1/stats/"} <= set(paths)
    assert "tokenAuth" in schema.json()["components"]["securitySchemes"]
    # drf-spectacular's own validation: no warnings (an unnamed enum, a colliding operation id...).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
