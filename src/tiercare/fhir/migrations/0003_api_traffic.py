"""Daily request and error counts per integrating system (the integrating-systems page).

Written by hand; reversible (the table is dropped)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fhir", "0002_export_jobs")]

    operations = [
        migrations.CreateModel(
            name="ApiTraffic",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("day", models.DateField(verbose_name="day")),
                ("requests", models.PositiveIntegerField(default=0, verbose_name="requests")),
                ("errors", models.PositiveIntegerField(default=0, verbose_name="errors")),
                ("token", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="traffic", to="fhir.apitoken",
                                            verbose_name="API token")),
            ],
            options={"verbose_name": "API traffic", "verbose_name_plural": "API traffic"},
        ),
        migrations.AddConstraint(
            model_name="apitraffic",
            constraint=models.UniqueConstraint(fields=("token", "day"),
                                               name="api_traffic_one_row_a_day"),
        ),
    ]
