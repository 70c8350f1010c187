"""An alliance's indicator policy (issue 5 item 2; ADR 0015): the policy pack it follows
(one row per alliance; without one the national defaults hold) and its own targets, one per
indicator (comparison among the seven of ``indicators.rules.Comparison``, tolerance never
negative). Pack and indicator ids are plain text checked by ``indicators.services`` against
the data files, so that a new pack or indicator needs no migration.

Generated, then reviewed by hand; reversible (only new tables: reversing drops them)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('registry', '0002_updated_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='IndicatorPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('pack', models.CharField(help_text='The policy text whose targets the alliance follows.', max_length=40, verbose_name='policy pack')),
                ('chosen_at', models.DateTimeField(verbose_name='chosen')),
                ('alliance', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='indicator_policy', to='registry.alliance', verbose_name='medical alliance')),
                ('chosen_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='chosen by')),
            ],
            options={
                'verbose_name': 'indicator policy',
                'verbose_name_plural': 'indicator policies',
                'ordering': ['alliance__code'],
            },
        ),
        migrations.CreateModel(
            name='TargetOverride',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('indicator', models.CharField(max_length=60, verbose_name='indicator')),
                ('comparison', models.CharField(choices=[('>=', 'at least'), ('<=', 'at most'), ('approx', 'about'), ('falling', 'falling against last year'), ('rising', 'rising against last year'), ('growth>=', 'growth against last year at least (%)'), ('gain>=', 'gain against last year at least (points)')], max_length=10, verbose_name='comparison')),
                ('value', models.DecimalField(blank=True, decimal_places=4, help_text="In the indicator's unit; empty for falling or rising.", max_digits=14, null=True, verbose_name='target value')),
                ('tolerance', models.DecimalField(blank=True, decimal_places=4, help_text='Only for a target “about” a value.', max_digits=14, null=True, verbose_name='tolerance')),
                ('note', models.TextField(help_text="Why the alliance sets this target instead of its pack's.", max_length=1000, verbose_name='reason')),
                ('set_at', models.DateTimeField(verbose_name='set')),
                ('alliance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='target_overrides', to='registry.alliance', verbose_name='medical alliance')),
                ('set_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='set by')),
            ],
            options={
                'verbose_name': 'target override',
                'verbose_name_plural': 'target overrides',
                'ordering': ['alliance__code', 'indicator'],
                'constraints': [models.UniqueConstraint(fields=('alliance', 'indicator'), name='target_override_one_per_indicator', violation_error_message='The alliance already has its own target for this indicator.'), models.CheckConstraint(condition=models.Q(('comparison__in', ['>=', '<=', 'approx', 'falling', 'rising', 'growth>=', 'gain>='])), name='target_override_comparison_valid'), models.CheckConstraint(condition=models.Q(('tolerance__isnull', True), ('tolerance__gte', 0), _connector='OR'), name='target_override_tolerance_not_negative')],
            },
        ),
    ]
