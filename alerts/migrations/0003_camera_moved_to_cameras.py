# The Camera model moved to the cameras app on the same table: the foreign keys change in Django's
# state only (the database constraints already point at that table).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("alerts", "0002_webhook_destinations"),
        ("cameras", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="alert",
                    name="camera",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="alerts", to="cameras.camera"
                    ),
                ),
                migrations.AlterField(
                    model_name="webhookdestination",
                    name="cameras",
                    field=models.ManyToManyField(
                        blank=True,
                        help_text="Only these cameras' alerts; none selected: all.",
                        related_name="+",
                        to="cameras.camera",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
