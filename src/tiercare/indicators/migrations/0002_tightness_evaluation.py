"""The tightness evaluation (issue 5 item 5; seed 003; ADR 0017): an alliance's evaluation
of a period (one per alliance and period) with its stage, the rule it is judged by (copied
from data/tightness.toml) and the verdict with its reasons once the result is issued (a
verdict exactly in the stages result, feedback and closed); the grades of each criterion at
self-assessment and at assessment (one per criterion and stage, A/B/C); the evidence
documents of a grade (stored under DATA_DIR/attachments like referral attachments); the
events of every step. Criterion ids are plain text checked by indicators.tightness_services
against the data file, so that a new criterion needs no migration.

Generated, then reviewed by hand (the evaluation is created first so that the grade's
foreign key and the constraints stand in their models); reversible: only new tables,
reversing drops them."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import tiercare.indicators.models
import tiercare.referrals.models

STAGES = [('self_assessment', 'Self-assessment'),
          ('assessment', 'Assessment by the health commission'), ('result', 'Result issued'),
          ('feedback', 'Feedback and improvement'), ('closed', 'Closed')]
DECIDED = ['closed', 'feedback', 'result']


class Migration(migrations.Migration):

    dependencies = [
        ('indicators', '0001_catalogue_and_packs'),
        ('registry', '0002_updated_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='TightnessEvaluation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.CharField(help_text='A year (2025) or a quarter (2025Q3).', max_length=10, verbose_name='evaluation period')),
                ('stage', models.CharField(choices=STAGES, default='self_assessment', max_length=20, verbose_name='stage')),
                ('criteria_edition', models.CharField(max_length=40, verbose_name='criteria edition')),
                ('rule', models.JSONField(help_text="The rule's parameters when the evaluation began.", verbose_name='judgement rule')),
                ('tight', models.BooleanField(blank=True, help_text='The verdict, once the result is issued.', null=True, verbose_name='tight')),
                ('reasons', models.JSONField(blank=True, default=list, verbose_name='reasons of the verdict')),
                ('decided_at', models.DateTimeField(blank=True, null=True, verbose_name='result issued')),
                ('feedback', models.TextField(blank=True, max_length=4000, verbose_name='improvement note')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='started')),
                ('stage_changed_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='stage changed')),
                ('alliance', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='tightness_evaluations', to='registry.alliance', verbose_name='medical alliance')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='started by')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='result issued by')),
            ],
            options={
                'verbose_name': 'tightness evaluation',
                'verbose_name_plural': 'tightness evaluations',
                'ordering': ['-created_at', '-id'],
                'constraints': [
                    models.UniqueConstraint(fields=('alliance', 'period'), name='tightness_one_per_alliance_period', violation_error_message='The alliance already has an evaluation of this period.'),
                    models.CheckConstraint(condition=models.Q(('stage__in', [value for value, _label in STAGES])), name='tightness_stage_valid'),
                    models.CheckConstraint(condition=models.Q(models.Q(('stage__in', DECIDED), ('tight__isnull', False)), models.Q(models.Q(('stage__in', DECIDED), _negated=True), ('tight__isnull', True)), _connector='OR'), name='tightness_verdict_once_decided'),
                ],
            },
        ),
        migrations.CreateModel(
            name='CriterionGrade',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('criterion', models.CharField(max_length=60, verbose_name='criterion')),
                ('stage', models.CharField(choices=STAGES[:2], max_length=20, verbose_name='graded at stage')),
                ('grade', models.CharField(choices=[('A', 'A — met'), ('B', 'B — largely met'), ('C', 'C — not met')], max_length=1, verbose_name='grade')),
                ('comment', models.TextField(blank=True, max_length=2000, verbose_name='comment')),
                ('graded_at', models.DateTimeField(verbose_name='graded')),
                ('evaluation', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='grades', to='indicators.tightnessevaluation', verbose_name='evaluation')),
                ('graded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='graded by')),
            ],
            options={
                'verbose_name': 'criterion grade',
                'verbose_name_plural': 'criterion grades',
                'ordering': ['evaluation', 'criterion', 'stage'],
                'constraints': [
                    models.UniqueConstraint(fields=('evaluation', 'criterion', 'stage'), name='tightness_grade_one_per_stage'),
                    models.CheckConstraint(condition=models.Q(('grade__in', ['A', 'B', 'C'])), name='tightness_grade_valid'),
                    models.CheckConstraint(condition=models.Q(('stage__in', ['assessment', 'self_assessment'])), name='tightness_grade_stage_valid'),
                ],
            },
        ),
        migrations.CreateModel(
            name='CriterionEvidence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('file', models.FileField(max_length=200, storage=tiercare.referrals.models.attachment_storage, upload_to=tiercare.indicators.models.evidence_path, verbose_name='file')),
                ('name', models.CharField(max_length=200, verbose_name='file name')),
                ('content_type', models.CharField(max_length=100, verbose_name='content type')),
                ('size', models.PositiveIntegerField(verbose_name='size (bytes)')),
                ('uploaded_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='uploaded')),
                ('grade', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='evidence', to='indicators.criteriongrade', verbose_name='grade')),
                ('uploaded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='uploaded by')),
            ],
            options={
                'verbose_name': 'evidence document',
                'verbose_name_plural': 'evidence documents',
                'ordering': ['uploaded_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='EvaluationEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='time')),
                ('by_name', models.CharField(blank=True, max_length=150, verbose_name='changed by (name)')),
                ('side', models.CharField(blank=True, choices=[('alliance', 'alliance office'), ('regulator', 'health commission')], max_length=12, verbose_name='side')),
                ('action', models.CharField(max_length=20, verbose_name='action')),
                ('from_stage', models.CharField(blank=True, max_length=20, verbose_name='previous stage')),
                ('to_stage', models.CharField(max_length=20, verbose_name='new stage')),
                ('criterion', models.CharField(blank=True, max_length=60, verbose_name='criterion')),
                ('grade', models.CharField(blank=True, max_length=1, verbose_name='grade')),
                ('reason', models.TextField(blank=True, verbose_name='reason')),
                ('by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='changed by')),
                ('evaluation', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='indicators.tightnessevaluation', verbose_name='evaluation')),
            ],
            options={
                'verbose_name': 'evaluation event',
                'verbose_name_plural': 'evaluation events',
                'ordering': ['at', 'id'],
            },
        ),
    ]
