"""Notifications: signed webhooks to a real local receiver (through the real alerts worker, with retries
and failures recorded per destination) and MQTT to a real Mosquitto broker with a real subscriber."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt_client
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts import mqtt, notifications, webhooks
from alerts.models import Alert, WebhookDestination
from alerts.notifications import TransportError
from alerts.tasks import backoff_s, deliver_webhook, record_alert
from core.models import FailedJob
from tests.factories import make_alert, make_camera
from tests.support.alert_events import event_payload
from tests.support.mqtt_broker import MosquittoBroker
from tests.support.webhook_receiver import WebhookReceiver
from tests.workers import WorkerProcess

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "a-shared-secret-of-some-length"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    server = MosquittoBroker(tmp_path_factory.mktemp("mosquitto")).start()
    yield server
    server.stop()


def destination(url: str, **fields: Any) -> WebhookDestination:
    return WebhookDestination.objects.create(name=fields.pop("name", url), url=url, secret=SECRET, **fields)


def wait_for(predicate: Any, timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_webhook_is_signed_and_the_signature_verifies(receiver: WebhookReceiver) -> None:
    alert = make_alert(make_camera(name="Gate"), severity=4)
    target = destination(receiver.url())
    assert webhooks.deliver(alert.pk, target.pk) == "sent"
    (request,) = receiver.wait_for(1)
    headers = request.headers
    timestamp, signature = headers["X-Trafficsite-Timestamp"], headers["X-Trafficsite-Signature"]
    assert webhooks.verify(SECRET, request.body, timestamp, signature)
    body = json.loads(request.body)
    assert (body["event"], body["alert"]["id"], body["alert"]["camera_name"]) == ("alert.created", alert.pk, "Gate")
    assert headers["X-Trafficsite-Event"] == "alert.created"
    assert headers["X-Trafficsite-Delivery"] == f"alert-{alert.pk}-to-{target.pk}"
    # What the signature protects against: another body, another secret, a replay later on.
    assert not webhooks.verify(SECRET, request.body.replace(b"Gate", b"Gata"), timestamp, signature)
    assert not webhooks.verify("another-secret-entirely", request.body, timestamp, signature)
    assert not webhooks.verify(SECRET, request.body, timestamp, signature, now=int(timestamp) + 301)
    assert not webhooks.verify(SECRET, request.body, str(int(timestamp) + 1), signature)
    target.refresh_from_db()
    assert (target.deliveries_ok, target.consecutive_failures, target.last_success_at is not None) == (1, 0, True)


def test_the_receiver_example_in_the_docs_verifies_a_real_delivery(receiver: WebhookReceiver) -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "alerts.md").read_text()
    example = re.search(r"```python\n(# Receiver example.*?)```", doc, re.S)
    assert example, "docs/alerts.md lost its receiver example"
    namespace: dict[str, Any] = {}
    exec(example.group(1), namespace)  # noqa: S102 - our own documentation
    alert = make_alert()
    webhooks.deliver(alert.pk, destination(receiver.url()).pk)
    (request,) = receiver.wait_for(1)
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert namespace["verify_trafficsite_webhook"](SECRET, request.body, headers)
    assert not namespace["verify_trafficsite_webhook"]("wrong-secret-wrong-secret", request.body, headers)


@pytest.mark.slow
def test_the_alerts_worker_sends_a_recorded_alert_to_the_destinations_that_want_it(
    celery_worker: WorkerProcess, receiver: WebhookReceiver
) -> None:
    gate, other = make_camera(name="Gate"), make_camera(name="Other")
    destination(receiver.url("/high"), min_severity=3)
    destination(receiver.url("/critical-only"), min_severity=4)
    destination(receiver.url("/disabled"), min_severity=1, enabled=False)
    destination(receiver.url("/other-camera"), min_severity=1).cameras.add(other)
    gate_only = destination(receiver.url("/gate"), min_severity=1)
    gate_only.cameras.add(gate)
    record_alert.delay(event_payload(gate.pk, severity=3))
    received = receiver.wait_for(2)
    time.sleep(1.0)  # would anything else arrive?
    assert sorted(r.path for r in receiver.received) == ["/gate", "/high"]
    for request in received:
        headers = request.headers
        assert webhooks.verify(
            SECRET, request.body, headers["X-Trafficsite-Timestamp"], headers["X-Trafficsite-Signature"]
        )
    alert = Alert.objects.get()
    assert json.loads(received[0].body)["alert"]["id"] == alert.pk and alert.notified_at is not None


@pytest.mark.slow
def test_a_failing_receiver_is_retried_with_back_off_and_its_failures_are_recorded(
    celery_worker: WorkerProcess, receiver: WebhookReceiver
) -> None:
    alert = make_alert(severity=4)
    target = destination(receiver.url())
    receiver.replies = [(503, {}), (429, {"Retry-After": "1"})]
    deliver_webhook.delay(alert.pk, target.pk)
    first, second, third = receiver.wait_for(3, timeout_s=30)
    assert len({r.headers["X-Trafficsite-Delivery"] for r in (first, second, third)}) == 1  # one delivery, retried
    gaps = [int(b.headers["X-Trafficsite-Timestamp"]) - int(a.headers["X-Trafficsite-Timestamp"])
            for a, b in [(first, second), (second, third)]]  # fmt: skip
    assert all(gap >= 1 for gap in gaps), gaps  # back-off; the 429's Retry-After: 1 s at least
    wait_for(lambda: WebhookDestination.objects.get(pk=target.pk).deliveries_ok == 1)
    target.refresh_from_db()
    assert (target.deliveries_failed, target.consecutive_failures) == (2, 0)
    assert target.last_error == "HTTP 429: ok" and target.last_failure_at is not None


@pytest.mark.slow
def test_a_refusing_receiver_is_not_retried_and_leaves_a_replayable_failed_job(
    celery_worker: WorkerProcess, receiver: WebhookReceiver
) -> None:
    alert = make_alert(severity=4)
    target = destination(receiver.url())
    receiver.replies = [(410, {})]
    deliver_webhook.delay(alert.pk, target.pk)
    job = wait_for(lambda: FailedJob.objects.filter(task_name="alerts.deliver_webhook").first())
    assert len(receiver.received) == 1
    assert job.args == [alert.pk, target.pk] and job.error == "HTTP 410: ok"
    target.refresh_from_db()
    assert (target.consecutive_failures, target.deliveries_ok) == (1, 0)
    job.replay()  # the receiver is fixed: the replay delivers
    receiver.wait_for(2)
    wait_for(lambda: WebhookDestination.objects.get(pk=target.pk).deliveries_ok == 1)


def test_an_unreachable_receiver_is_transient_and_its_error_hides_the_url() -> None:
    alert = make_alert(severity=4)
    target = destination("http://127.0.0.1:9/hook/supersecret-token?key=hunter2")  # nothing listens on port 9
    with pytest.raises(TransportError) as failure:
        webhooks.deliver(alert.pk, target.pk)
    assert not failure.value.permanent
    target.refresh_from_db()
    assert target.consecutive_failures == 1 and "ConnectionError" in target.last_error
    assert "supersecret" not in target.last_error and "hunter2" not in target.last_error


def test_back_off_grows_with_each_retry_within_its_bounds(settings) -> None:
    settings.NOTIFY_RETRY_BACKOFF_S = 2.0
    settings.NOTIFY_RETRY_BACKOFF_MAX_S = 60.0
    for retries, (low, high) in enumerate([(1, 2), (2, 4), (4, 8), (8, 16), (16, 32), (30, 60), (30, 60)]):
        delays = [backoff_s(retries) for _ in range(50)]
        assert all(low <= d <= high for d in delays), (retries, min(delays), max(delays))
    assert backoff_s(0, hint_s=20) == 20 and backoff_s(0, hint_s=600) == 60


def test_alerts_judged_harmless_or_below_the_threshold_are_not_sent(settings) -> None:
    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    settings.MQTT_MIN_SEVERITY = 3
    destination("http://127.0.0.1:9/a", min_severity=1)
    harmless = make_alert(severity=4, verification=Alert.Verification.REJECTED)
    low = make_alert(severity=2, verification=Alert.Verification.CONFIRMED)
    high = make_alert(severity=3, verification=Alert.Verification.UNVERIFIED)
    assert notifications.webhook_destinations(harmless) == [] and not notifications.wants_mqtt(harmless)
    assert len(notifications.webhook_destinations(low)) == 1 and not notifications.wants_mqtt(low)
    assert notifications.wants_mqtt(high)
    settings.MQTT_URL = ""
    assert not notifications.wants_mqtt(high)


def subscribe(broker: MosquittoBroker, topic: str) -> tuple[mqtt_client.Client, list[mqtt_client.MQTTMessage]]:
    received: list[mqtt_client.MQTTMessage] = []
    subscribed = threading.Event()
    client = mqtt_client.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-subscriber")
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda c, u, message: received.append(message)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert subscribed.wait(5), "the subscriber could not subscribe"
    return client, received


def test_a_real_mqtt_subscriber_receives_the_alert_on_its_cameras_topic(broker: MosquittoBroker, settings) -> None:
    settings.MQTT_URL = broker.url
    camera = make_camera(name="Gate")
    alert = make_alert(camera, severity=4)
    client, received = subscribe(broker, "trafficsite/cameras/+/alerts")
    try:
        assert mqtt.publish_alert(alert.pk) == "sent"
        wait_for(lambda: received, timeout_s=5)
    finally:
        client.loop_stop()
        client.disconnect()
    (message,) = received
    assert message.topic == f"trafficsite/cameras/{camera.pk}/alerts" and message.qos == 1
    body = json.loads(message.payload)
    assert (body["event"], body["alert"]["id"], body["alert"]["severity_label"]) == (
        "alert.created",
        alert.pk,
        "Critical",
    )


def test_a_dead_or_refusing_broker_is_reported(settings, tmp_path: Path) -> None:
    alert = make_alert(severity=4)
    settings.MQTT_URL = "mqtt://127.0.0.1:9"  # nothing listens
    with pytest.raises(TransportError) as dead:
        mqtt.publish_alert(alert.pk)
    assert not dead.value.permanent
    # A broker that refuses the client (wrong credentials): retrying cannot help.
    locked = MosquittoBroker(tmp_path, anonymous=False).start()
    try:
        settings.MQTT_URL = f"mqtt://nobody:wrong-password@127.0.0.1:{locked.port}"
        with pytest.raises(TransportError) as refused:
            mqtt.publish_alert(alert.pk)
        assert refused.value.permanent and "wrong-password" not in str(refused.value)
    finally:
        locked.stop()
