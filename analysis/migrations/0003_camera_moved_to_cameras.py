# The Camera model moved to the cameras app on the same table: the foreign key changes in Django's
# state only (the database constraint already points at that table).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("analysis", "0002_verdict_reason_cost_keypool"),
        ("cameras", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="llmanalysis",
                    name="camera",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="analyses", to="cameras.camera"
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
