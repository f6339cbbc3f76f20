"""Issue 12, Low: malformed requests are a 4xx, not a 500 (a NUL byte in /media/, an impossible date
in the alerts API's ?since)."""

from __future__ import annotations

import importlib.util

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_nul_byte_in_a_media_path_is_a_404(admin_client: Client) -> None:
    assert admin_client.get("/media/alerts/x%00.jpg").status_code == 404
    assert admin_client.get("/media/alerts/missing.jpg").status_code == 404


# The alerts API's filters move to django-filter (branch i10docs), whose IsoDateTimeFilter answers an
# impossible date with a 400; until that lands, today's parser raises ValueError (a 500).
@pytest.mark.xfail(
    importlib.util.find_spec("django_filters") is None,
    reason="fixed by the django-filter rewrite of the alerts API (i10docs)",
    strict=True,
)
def test_an_impossible_since_date_is_a_400_on_the_alerts_api(admin_client: Client) -> None:
    response = admin_client.get("/api/v1/alerts/?since=2026-13-45T00:00:00")
    assert response.status_code == 400
