# The table of the moved Camera model gets its new app's name (a rename: rows, ids and foreign keys stay).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("cameras", "0001_initial"),
        ("detection", "0005_camera_moved_to_cameras"),
    ]

    operations = [
        migrations.AlterModelTable(name="camera", table=None),
    ]
