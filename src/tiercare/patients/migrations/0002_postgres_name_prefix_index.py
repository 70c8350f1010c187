"""PostgreSQL only: an index that answers "name starts with …, ordered by name" in code-point
order whatever the database collation (patients.services._name_prefix). SQLite's BINARY
collation already orders by code point, so its (name, birth_date) index serves there."""

from django.db import migrations

INDEX = "patient_name_c_birth"


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {INDEX} ON patients_patient '
            '((name COLLATE "C"), birth_date, id)'
        )


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
