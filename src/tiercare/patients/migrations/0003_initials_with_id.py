"""Initials search in (initials, id) order from an index that holds the id: PostgreSQL read
and sorted every resident with the same initials (thousands for "zy" in a county of a
million) to return the first 50. SQLite's single-column indexes already end with the rowid,
but one declaration serves both databases.

Reviewed by hand: the single-column indexes that ``db_index=True`` made are dropped by name
(``AlterField`` would rebuild the whole table on SQLite); the reverse restores them.
"""

from django.db import migrations, models

OLD = {
    # index name → (column, PostgreSQL's extra LIKE index)
    "patients_patient_name_initials_5aa51637": "name_initials",
    "patients_patient_name_initials_alt_988a7846": "name_initials_alt",
}


def drop_single_column(apps, schema_editor):  # type: ignore[no-untyped-def]
    for name in OLD:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}_like"')


def restore_single_column(apps, schema_editor):  # type: ignore[no-untyped-def]
    for name, column in OLD.items():
        schema_editor.execute(f'CREATE INDEX "{name}" ON "patients_patient" ("{column}")')
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'CREATE INDEX "{name}_like" ON "patients_patient" '
                                  f'("{column}" varchar_pattern_ops)')


class Migration(migrations.Migration):

    dependencies = [
        ("patients", "0002_postgres_name_prefix_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="patient",
                    name="name_initials",
                    field=models.CharField(max_length=20, verbose_name="pinyin initials"),
                ),
                migrations.AlterField(
                    model_name="patient",
                    name="name_initials_alt",
                    field=models.CharField(blank=True, max_length=20,
                                           verbose_name="pinyin initials (other reading)"),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_single_column, restore_single_column),
            ],
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["name_initials", "id"], name="patient_initials_id"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["name_initials_alt", "id"],
                               name="patient_initials_alt_id"),
        ),
    ]
