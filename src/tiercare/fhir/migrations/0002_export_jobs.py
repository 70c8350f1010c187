"""FHIR Bulk Data ``$export`` jobs (issue 3, ADR 0008): who asked for which export and
where it stands.

Written by hand; reversible (the table is dropped)."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fhir', '0001_api_tokens'),
        ('registry', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ExportJob',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('system', 'whole system'), ('group', 'group')], max_length=10, verbose_name='kind')),
                ('types', models.JSONField(default=list, verbose_name='resource types')),
                ('since', models.DateTimeField(blank=True, null=True, verbose_name='changed since')),
                ('request', models.CharField(max_length=2000, verbose_name='request')),
                ('language', models.CharField(max_length=10, verbose_name='language')),
                ('status', models.CharField(choices=[('queued', 'queued'), ('running', 'running'), ('done', 'done'), ('failed', 'failed'), ('cancelled', 'cancelled')], default='queued', max_length=10, verbose_name='status')),
                ('progress', models.CharField(blank=True, max_length=200, verbose_name='progress')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('transaction_time', models.DateTimeField(blank=True, null=True, verbose_name='transaction time')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                ('output', models.JSONField(blank=True, default=list, verbose_name='output files')),
                ('error', models.TextField(blank=True, verbose_name='error')),
                ('group', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.alliance', verbose_name='group (alliance)')),
                ('token', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='export_jobs', to='fhir.apitoken', verbose_name='token')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'FHIR export',
                'verbose_name_plural': 'FHIR exports',
                'constraints': [
                    models.CheckConstraint(condition=models.Q(models.Q(('token__isnull', False), ('user__isnull', True)), models.Q(('token__isnull', True), ('user__isnull', False)), _connector='OR'), name='export_job_one_caller'),
                    models.CheckConstraint(condition=models.Q(models.Q(('group__isnull', True), ('kind', 'system')), models.Q(('group__isnull', False), ('kind', 'group')), _connector='OR'), name='export_job_group_of_kind'),
                ],
            },
        ),
    ]
