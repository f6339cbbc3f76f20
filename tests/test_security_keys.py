"""Issue 12, Low: tasks check the Redis key names in their arguments; a message naming another kind of
key (the broker's, a session) can neither read it into an alert's evidence nor delete it."""

from __future__ import annotations

import pytest

from alerts.models import Alert
from alerts.record import record_alert
from core.keycheck import UnexpectedKey
from core.redisclient import get_redis, key
from detection import framestore
from tests.factories import make_camera
from tests.support.alert_events import event_payload


def test_a_frame_task_cannot_take_a_key_of_another_kind() -> None:
    victim = key("celery", "unacked")
    get_redis().set(victim, b"broker state", ex=30)
    try:
        with pytest.raises(UnexpectedKey, match="frame key"):
            framestore.take_frame(victim)
        with pytest.raises(UnexpectedKey, match="detections key"):
            framestore.push_result(victim, {"seq": 1})
        assert get_redis().get(victim) == b"broker state"
    finally:
        get_redis().delete(victim)
    frame = framestore.frame_key(1, "s", 1)
    framestore.put_frame(frame, b"\xff\xd8jpeg")
    assert framestore.take_frame(frame) == b"\xff\xd8jpeg"


@pytest.mark.django_db
def test_an_alert_cannot_take_another_key_as_its_evidence() -> None:
    camera = make_camera()
    payload = event_payload(camera.pk)
    secret = key("session", "abc")
    get_redis().set(secret, b"someone's session", ex=30)
    try:
        with pytest.raises(UnexpectedKey, match="evidence key"):
            record_alert({**payload, "keyframe_key": secret}, None, None, None)
        assert not Alert.objects.exists()
    finally:
        get_redis().delete(secret)
    alert, _ = record_alert(payload, None, None, None)  # its own evidence keys are fine
    assert alert.keyframe
