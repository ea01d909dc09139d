# Session metadata and remember me: four nullable columns, no data moves.

from typing import ClassVar

from django.db import migrations, models
from django.db.migrations.operations.base import Operation

import refreshkit.adapters.django.models


class Migration(migrations.Migration):
    dependencies: ClassVar[list[tuple[str, str]]] = [("refreshkit", "0001_initial")]

    operations: ClassVar[list[Operation]] = [
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
