"""Retention: old alerts and their images go, per camera, except confirmed ones; beat sends the task to
the maintenance queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from alerts.models import Alert
from alerts.retention import purge_expired
from tests.factories import make_alert, make_camera

pytestmark = pytest.mark.django_db(transaction=True)  # images are removed after the commit


def aged(camera, days: float, **fields):
    when = timezone.now() - timedelta(days=days)
    alert = make_alert(camera, detected_at=when, event_started_at=when - timedelta(seconds=2), **fields)
    alert.keyframe.save(f"k{alert.pk}.jpg", ContentFile(b"\xff\xd8keyframe"), save=False)
    alert.crop.save(f"c{alert.pk}.jpg", ContentFile(b"\xff\xd8crop"), save=False)
    alert.save()
    return alert


def test_old_alerts_and_their_images_are_removed_but_confirmed_and_recent_ones_stay() -> None:
    reviewer = User.objects.create_user("olga", is_staff=True)
    week = make_camera(name="Week", alert_retention_days=7)
    forever = make_camera(name="Forever", alert_retention_days=None)
    old = aged(week, 8)
    old_fp = aged(week, 30)
    Alert.objects.filter(pk=old_fp.pk).review("false_positive", reviewer)
    old_confirmed = aged(week, 30)
    Alert.objects.filter(pk=old_confirmed.pk).review("confirmed", reviewer)
    recent = aged(week, 6)
    ancient_kept = aged(forever, 3000)
    images = {a.pk: [a.keyframe.name, a.crop.name] for a in [old, old_fp, old_confirmed, recent, ancient_kept]}
    assert all(default_storage.exists(name) for names in images.values() for name in names)

    result = purge_expired()

    assert result == {"deleted": 2, "images": 4, "complete": True}
    assert set(Alert.objects.values_list("pk", flat=True)) == {old_confirmed.pk, recent.pk, ancient_kept.pk}
    for pk, names in images.items():
        kept = pk in {old_confirmed.pk, recent.pk, ancient_kept.pk}
        assert all(default_storage.exists(name) == kept for name in names), pk
    assert purge_expired()["deleted"] == 0


def test_a_large_backlog_goes_in_batches_and_a_spent_budget_leaves_the_rest_for_the_next_run() -> None:
    camera = make_camera(alert_retention_days=1)
    for _ in range(7):
        aged(camera, 2)
    assert purge_expired(batch_size=3, time_budget_s=0) == {"deleted": 0, "images": 0, "complete": False}
    assert purge_expired(batch_size=3) == {"deleted": 7, "images": 14, "complete": True}
    assert not Alert.objects.exists()


def test_beat_sends_the_purge_to_the_maintenance_queue() -> None:
    from alerts.tasks import purge_expired as task
    from core.schedule import beat_schedule
    from trafficsite.celery import app

    entry = beat_schedule()["purge-expired-alerts"]
    assert entry["task"] == "alerts.purge_expired" and entry["options"]["queue"] == "maintenance"
    # An alerts.* task on the maintenance queue: its route (core/topology.py) decides, not its name.
    route = app.amqp.router.route(dict(task._get_exec_options()), task.name, (), {})
    routing_key = route.get("routing_key") or route["queue"].routing_key  # what the message is published with
    assert (route["queue"].name, routing_key) == ("maintenance", "maintenance")
