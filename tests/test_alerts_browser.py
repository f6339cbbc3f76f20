"""The dashboard in two real headless Chromium browsers against a real daphne on the test database: an
alert recorded by the alerts worker appears within 2 seconds, and a click on acknowledge in one browser
changes the alert in the other. And an API client on a real websocket with its token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from websocket import WebSocketBadStatusException, create_connection

from alerts.models import Alert
from alerts.record import record_alert as record_alert_now
from alerts.tasks import record_alert
from tests.factories import make_camera
from tests.support.alert_events import event_payload
from tests.support.browser import chromium
from tests.support.live_server import Daphne
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "a-long-operator-password"


@pytest.fixture(scope="module")
def server(test_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise serves what was collected
    daphne = Daphne(test_database_url, tmp_path_factory.mktemp("daphne") / "daphne.log").start()
    yield daphne
    daphne.stop()


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[list[webdriver.Chrome]]:
    opened = [chromium(tmp_path / f"profile-{n}") for n in range(2)]
    yield opened
    for browser in opened:
        browser.quit()


def log_in(browser: webdriver.Chrome, server: Daphne, username: str) -> None:
    browser.get(f"{server.url}/admin/login/?next=/dashboard/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "connection").text == "Live")


def wait(browser: webdriver.Chrome, script: str, *args: object, timeout: float = 10) -> object:
    return WebDriverWait(browser, timeout, poll_frequency=0.02).until(lambda b: b.execute_script(script, *args))


def test_an_alert_appears_within_two_seconds_and_a_review_shows_in_the_other_browser(
    celery_worker: WorkerProcess, server: Daphne, browsers: list[webdriver.Chrome], tmp_path: Path
) -> None:
    for name in ("alice", "bob"):
        user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=["change_alert", "view_camera"]))
    camera = make_camera(name="Harbour Road")
    alice, bob = browsers
    log_in(alice, server, "alice")
    log_in(bob, server, "bob")
    payload = event_payload(camera.pk, severity=4)  # evidence in Redis, as the capture process leaves it

    sent_ms = time.time() * 1000
    record_alert.delay(payload)
    find_card = "const c = document.querySelector('li.alert[data-received-ms]'); return c && c.id;"
    card_ids = [wait(browser, find_card, timeout=5) for browser in browsers]
    alert = Alert.objects.get()
    assert card_ids == [f"alert-{alert.pk}"] * 2
    latencies = [
        float(b.find_element(By.ID, card_ids[0]).get_attribute("data-received-ms")) - sent_ms for b in browsers
    ]
    print(f"\nalert from record_alert.delay to both dashboards: {', '.join(f'{ms:.0f} ms' for ms in latencies)}")
    assert max(latencies) < 2000, latencies

    card = alice.find_element(By.ID, card_ids[0])
    assert "Harbour Road" in card.text and "CRITICAL" in card.text and "Near miss" in card.text
    assert "time to collision" in card.text and "0.9 s" in card.text
    assert wait(alice, f"return document.querySelector('#alert-{alert.pk} .thumb img').naturalWidth") == 800
    assert bob.find_element(By.ID, "critical-banner").is_displayed()
    alice.save_screenshot(str(tmp_path / "dashboard-alice.png"))

    # Bob's page records when the alert's status changes; Alice clicks "Acknowledge".
    bob.execute_script(
        """const card = document.getElementById(arguments[0]);
        new MutationObserver(() => { if (card.dataset.reviewStatus === 'acknowledged' && !window.ackSeenAt)
          window.ackSeenAt = Date.now(); }).observe(card, {attributes: true});""",
        card_ids[0],
    )
    clicked_at = alice.execute_script(
        "const t = Date.now(); document.querySelector(arguments[0]).click(); return t;",
        f"#{card_ids[0]} button[data-action=acknowledged]",
    )
    seen_at = wait(bob, "return window.ackSeenAt", timeout=5)
    print(f"acknowledge in one browser to the other: {seen_at - clicked_at:.0f} ms")
    other = bob.find_element(By.ID, card_ids[0])
    assert "Acknowledged by alice" in other.text
    assert not bob.find_element(By.ID, "critical-banner").is_displayed()  # nothing critical is new any more
    alert.refresh_from_db()
    assert (alert.review_status, alert.reviewed_by.username) == ("acknowledged", "alice")
    bob.save_screenshot(str(tmp_path / "dashboard-bob.png"))
    # No script error and no resource refused (by the CSP, say); the admin's login page has no favicon.
    log = alice.get_log("browser")  # type: ignore[no-untyped-call]
    errors = [e for e in log if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
    assert not errors, errors


def test_an_api_client_follows_alerts_over_a_real_websocket_with_its_token(server: Daphne) -> None:
    token = Token.objects.create(user=User.objects.create_user("robot", is_staff=True))
    camera = make_camera(name="Depot")
    url = server.url.replace("http://", "ws://") + "/ws/alerts/?min_severity=3"
    auth = [f"Authorization: Token {token.key}"]
    for refused in [
        {"header": auth, "suppress_origin": True},  # no Origin header
        {"header": auth, "origin": "https://evil.example"},  # another site's page
        {"header": ["Authorization: Token wrong"], "origin": server.url},
    ]:
        with pytest.raises(WebSocketBadStatusException) as answer:
            create_connection(url, timeout=5, **refused)
        assert answer.value.status_code == 403, refused
    ws = create_connection(url, header=auth, origin=server.url, timeout=5)
    try:
        assert json.loads(ws.recv())["type"] == "hello"
        snapshot = json.loads(ws.recv())
        assert snapshot["type"] == "snapshot" and snapshot["filters"]["min_severity"] == 3
        record_alert_now(event_payload(camera.pk, severity=2))  # below the client's filter
        high, _ = record_alert_now(event_payload(camera.pk, severity=3))
        while (message := json.loads(ws.recv()))["type"] != "alert.created":
            pass
        assert (message["alert"]["id"], message["alert"]["camera_name"]) == (high.pk, "Depot")
    finally:
        ws.close()
