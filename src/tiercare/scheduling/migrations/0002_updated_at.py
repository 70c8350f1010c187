"""When schedules and slots last changed (a booking, a cancellation, a release changes the
slot): FHIR ``meta.lastUpdated``, ``_lastUpdated`` and Bulk export's ``_since``. Existing rows
take the time of the migration (``db_default``).

Written by hand; reversible (the columns are dropped)."""

import django.db.models.functions.datetime
from django.db import migrations, models


def _updated_at() -> models.DateTimeField:
    return models.DateTimeField(auto_now=True, db_default=django.db.models.functions.datetime.Now(),
                                verbose_name="updated")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_schedules_slots_appointments_beds")]

    operations = [
        migrations.AddField(model_name=name, name="updated_at", field=_updated_at())
        for name in ("schedule", "slot")
    ]
