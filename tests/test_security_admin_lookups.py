"""Issue 12, High 2: the admin changelist is no oracle for secret fields.

A staff user with only view permission must not learn a stored secret from the result count of a
query-string lookup (``?source_url__startswith=rtsp://admin:s``): each such lookup is a 400.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.authtoken.models import Token

from alerts.models import WebhookDestination
from tests.factories import make_alert, make_camera

pytestmark = pytest.mark.django_db

SECRET_SOURCE = "rtsp://admin:s3cret@10.0.0.7:554/stream"


@pytest.fixture
def viewer(client: Client) -> Client:
    user = User.objects.create_user("viewer", password="a-long-viewer-password", is_staff=True)
    codenames = ["view_camera", "view_webhookdestination", "view_tokenproxy", "view_token", "view_user", "view_alert"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("changelist", "lookup"),
    [
        ("/admin/cameras/camera/", "source_url__startswith=rtsp://admin:s"),
        ("/admin/cameras/camera/", "source_url__regex=^rtsp://admin:s"),
        ("/admin/cameras/camera/", "source_url__contains=s3c"),
        ("/admin/alerts/alert/", "camera__source_url__startswith=rtsp://admin:s"),
        ("/admin/alerts/webhookdestination/", "secret__startswith=whsec"),
        ("/admin/alerts/webhookdestination/", "url__contains=token%3Dabc"),
        ("/admin/authtoken/tokenproxy/", "key__startswith=ab"),
        ("/admin/authtoken/tokenproxy/", "pk__startswith=ab"),
        ("/admin/auth/user/", "auth_token__key__startswith=ab"),
        ("/admin/auth/user/", "password__startswith=md5"),
    ],
)
def test_a_lookup_on_a_secret_field_is_refused(viewer: Client, changelist: str, lookup: str) -> None:
    camera = make_camera(source_url=SECRET_SOURCE)
    make_alert(camera)
    WebhookDestination.objects.create(name="Ops", url="https://hooks.example.org/x?token=abc", secret="whsec-1")
    Token.objects.create(user=User.objects.get(username="viewer"), key="ab" + "0" * 38)
    assert viewer.get(changelist).status_code == 200
    response = viewer.get(f"{changelist}?{lookup}")
    assert response.status_code == 400
    assert b"s3cret" not in response.content


def test_ordinary_filters_still_work(viewer: Client) -> None:
    make_camera(name="North", enabled=False)
    response = viewer.get("/admin/cameras/camera/?enabled__exact=0")
    assert response.status_code == 200 and b"North" in response.content
    assert viewer.get("/admin/alerts/webhookdestination/?enabled__exact=1").status_code == 200
