"""Index on ``updated_at`` of residents: the indicator snapshot's incremental refresh
(ADR 0018). Reversible."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0003_initials_with_id'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='patient',
            index=models.Index(fields=['updated_at'], name='patient_updated'),
        ),
    ]
