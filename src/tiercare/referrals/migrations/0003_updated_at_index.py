"""Index on ``updated_at`` of referrals: the indicator snapshot's incremental refresh
(ADR 0018). Reversible."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0002_referral_workflow'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(fields=['updated_at'], name='referral_updated'),
        ),
    ]
