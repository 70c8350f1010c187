"""Indexes on ``updated_at`` of encounters and settlements: the indicator snapshot's
incremental refresh reads the rows changed since the last one (ADR 0018). Reversible
(the indexes are dropped)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('encounters', '0001_initial'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='encounter',
            index=models.Index(fields=['updated_at'], name='encounter_updated'),
        ),
        migrations.AddIndex(
            model_name='settlement',
            index=models.Index(fields=['updated_at'], name='settlement_updated'),
        ),
    ]
