# Session metadata and remember me (four nullable columns, no data moves) and subject cutoffs.

from typing import ClassVar

from django.db import migrations, models
from django.db.migrations.operations.base import Operation

import refreshkit.adapters.django.models


class Migration(migrations.Migration):
    dependencies: ClassVar[list[tuple[str, str]]] = [("refreshkit", "0001_initial")]

    operations: ClassVar[list[Operation]] = [
        migrations.CreateModel(
            name="SubjectCutoff",
            fields=[
                ("subject", models.CharField(max_length=255, primary_key=True, serialize=False)),
                ("cutoff_at", refreshkit.adapters.django.models.MicrosecondsField()),
                ("reason", models.CharField(max_length=64)),
                ("recorded_at", refreshkit.adapters.django.models.MicrosecondsField()),
            ],
            options={
                "verbose_name": "subject cutoff",
                "db_table": "refreshkit_subject_cutoffs",
            },
        ),
        migrations.AddField(
            model_name="session",
            name="user_agent",
            field=models.CharField(max_length=512, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="client_ip",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="device_label",
            field=models.CharField(max_length=255, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="idle_ttl",
            field=refreshkit.adapters.django.models.DurationMicrosecondsField(null=True),
        ),
    ]
