"""Issue 12, Medium 4: webhooks go over https to public addresses only (checked at save and at send
time, after DNS resolution), a receiver's answer is read to a few KB at most, and the admin's test
event is sent by a worker, not inside the web request."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from alerts import webhooks
from alerts.models import WebhookDestination
from alerts.notifications import TransportError
from alerts.webhook_guard import check_url
from core.netguard import AddressRefused
from tests.factories import make_alert
from tests.support.waiting import wait_for
from tests.support.webhook_receiver import WebhookReceiver
from tests.workers import WorkerProcess


@pytest.fixture
def no_internal_hosts(settings: Any) -> None:
    settings.WEBHOOK_INTERNAL_HOSTS = []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",  # a name: checked on what it resolves to
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://100.64.0.1/hook",  # shared address space
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "http://93.184.215.14/hook",  # public, but plain http
    ],
)
def test_internal_or_plain_http_webhook_urls_are_refused(no_internal_hosts: None, url: str) -> None:
    with pytest.raises(AddressRefused):
        check_url(url)


def test_a_public_https_url_and_a_named_internal_host_are_allowed(settings: Any) -> None:
    settings.WEBHOOK_INTERNAL_HOSTS = ["127.0.0.1"]
    check_url("https://93.184.215.14/hook?token=x")
    check_url("http://127.0.0.1:9000/hook")  # named: internal and plain http allowed
    with pytest.raises(AddressRefused, match="https only"):
        check_url("http://93.184.215.14/hook")


@pytest.mark.django_db
def test_the_admin_form_refuses_an_internal_url(admin_client: Client, no_internal_hosts: None) -> None:
    response = admin_client.post(
        reverse("admin:alerts_webhookdestination_add"),
        {"name": "Meta", "url": "https://169.254.169.254/x", "secret": "s" * 20, "enabled": "on", "min_severity": "1"},
    )
    assert response.status_code == 200 and "an internal address" in response.content.decode()
    assert not WebhookDestination.objects.exists()


@pytest.mark.django_db
def test_a_saved_destination_that_now_resolves_internally_is_refused_at_send_time(
    receiver: WebhookReceiver, no_internal_hosts: None
) -> None:
    alert = make_alert(severity=4)
    url = receiver.url().replace("http://127.0.0.1", "https://localhost")  # a name that resolves to loopback
    target = WebhookDestination.objects.create(name="Rebound", url=url, secret="s" * 20)
    with pytest.raises(TransportError) as failure:
        webhooks.deliver(alert.pk, target.pk)
    assert failure.value.permanent and "internal address" in str(failure.value)
    assert receiver.received == []


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def endless_body() -> Iterator[str]:
    """A receiver that answers 500 with a body announced as 100 MB and then never finishes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 100000000\r\nContent-Type: text/plain\r\n\r\n")
        conn.sendall(b"x" * 8192)
        stop.wait(30)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()


@pytest.mark.django_db
def test_a_receiver_answer_is_read_to_a_few_kilobytes_only(endless_body: str, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_S = 3.0
    alert = make_alert(severity=4)
    target = WebhookDestination.objects.create(name="Chatty", url=endless_body, secret="s" * 20)
    with pytest.raises(TransportError) as failure:
        webhooks.deliver(alert.pk, target.pk)
    # The status and the start of the body, without waiting for (or holding) the rest of it.
    assert str(failure.value).startswith("HTTP 500: xxxx") and len(str(failure.value)) < 220


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_test_action_is_sent_by_a_worker_and_its_outcome_recorded(
    celery_worker: WorkerProcess, admin_client: Client, receiver: WebhookReceiver
) -> None:
    good = WebhookDestination.objects.create(name="Good", url=receiver.url(), secret="s" * 20)
    dead = WebhookDestination.objects.create(name="Dead", url="http://127.0.0.1:9/x", secret="s" * 20)
    started = time.monotonic()
    response = admin_client.post(
        reverse("admin:alerts_webhookdestination_changelist"),
        {"action": "send_test", "_selected_action": [good.pk, dead.pk]},
        follow=True,
    )
    assert "Good: test event queued" in response.content.decode()
    (request,) = receiver.wait_for(1)
    assert json.loads(request.body)["event"] == "test"
    assert webhooks.verify("s" * 20, request.body, request.headers["X-Trafficsite-Timestamp"],
                           request.headers["X-Trafficsite-Signature"])  # fmt: skip
    wait_for(lambda: WebhookDestination.objects.get(pk=good.pk).deliveries_ok == 1, what="the test accepted")
    wait_for(lambda: WebhookDestination.objects.get(pk=dead.pk).consecutive_failures == 1, what="the failure")
    assert "ConnectionError" in WebhookDestination.objects.get(pk=dead.pk).last_error
    assert time.monotonic() - started < 30
    listing = admin_client.get(reverse("admin:alerts_webhookdestination_changelist")).content.decode()
    assert "failing (1 in a row)" in listing
