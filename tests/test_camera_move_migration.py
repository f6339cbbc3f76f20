"""The Camera model moved from ``detection`` to ``cameras``: migrating a database of the previous
schema, with rows in it, keeps every row, id and link, and the permissions given on cameras."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE: list[tuple[str, str | None]] = [
    ("cameras", None),  # the app did not exist
    ("detection", "0004_alert_retention"),
    ("alerts", "0002_webhook_destinations"),
    ("analysis", "0002_verdict_reason_cost_keypool"),
    ("auth", "0012_alter_user_first_name_max_length"),
    ("contenttypes", "0002_remove_content_type_name"),
]


def migrate(targets: list[tuple[str, str | None]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    nodes = [(app, name) for app, name in targets if name is not None]
    return executor.loader.project_state(nodes).apps


@pytest.mark.django_db(transaction=True)
def test_cameras_alerts_and_permissions_survive_the_move_to_the_cameras_app() -> None:
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    old = migrate(BEFORE)
    try:
        OldCamera = old.get_model("detection", "Camera")
        Alert = old.get_model("alerts", "Alert")
        ContentType = old.get_model("contenttypes", "ContentType")
        Permission = old.get_model("auth", "Permission")
        User = old.get_model("auth", "User")
        camera = OldCamera.objects.create(name="Old bridge", source_url="/tmp/clip.mp4", speed_limit_kmh=70)
        alert = Alert.objects.create(
            camera=camera,
            idempotency_key="k" * 40,
            event_type="speeding",
            severity=2,
            event_started_at="2026-01-01T00:00:00Z",
            detected_at="2026-01-01T00:00:01Z",
        )
        content_type, _ = ContentType.objects.get_or_create(app_label="detection", model="camera")
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename="change_camera", defaults={"name": "Can change camera"}
        )
        editor = User.objects.create(username="editor")
        editor.user_permissions.add(permission)

        new = migrate(latest)

        Camera = new.get_model("cameras", "Camera")
        moved = Camera.objects.get(pk=camera.pk)
        assert (moved.name, moved.speed_limit_kmh) == ("Old bridge", 70)
        assert new.get_model("alerts", "Alert").objects.get(pk=alert.pk).camera_id == camera.pk
        assert Camera._meta.db_table == "cameras_camera"
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
        assert "cameras_camera" in tables and "detection_camera" not in tables
        codenames = (
            new.get_model("auth", "User")
            .objects.get(pk=editor.pk)
            .user_permissions.values_list("content_type__app_label", "codename")
        )
        assert list(codenames) == [("cameras", "change_camera")]
        # A new camera gets the next id: the sequence came along with the table.
        assert Camera.objects.create(name="New", source_url="/tmp/clip.mp4").pk > camera.pk
    finally:
        migrate(latest)
