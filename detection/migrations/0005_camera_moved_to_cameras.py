# The Camera model now lives in the cameras app (cameras/migrations/0001_initial.py): forget it here,
# in Django's state only; its table and rows are untouched.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("alerts", "0003_camera_moved_to_cameras"),
        ("analysis", "0003_camera_moved_to_cameras"),
        ("detection", "0004_alert_retention"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Camera")],
            database_operations=[],
        ),
    ]
