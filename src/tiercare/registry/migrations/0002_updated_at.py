"""When divisions, departments, practitioners and postings last changed: the FHIR interface's
``meta.lastUpdated`` and ``_lastUpdated`` search (issue 3). Existing rows take the time of the
migration (``db_default``), as do rows that bulk loaders insert without the column.

Written by hand; reversible (the columns are dropped)."""

import django.db.models.functions.datetime
from django.db import migrations, models


def _updated_at() -> models.DateTimeField:
    return models.DateTimeField(auto_now=True, db_default=django.db.models.functions.datetime.Now(),
                                verbose_name="updated")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        migrations.AddField(model_name=name, name="updated_at", field=_updated_at())
        for name in ("division", "department", "practitioner", "posting")
    ]
