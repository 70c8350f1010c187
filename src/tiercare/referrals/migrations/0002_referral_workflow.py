"""The referral workflow (rules.md §3; issue 4 item 3; ADR 0012): referrals with their slip
(WS 445 part 16 elements), events (who, side, when, from, to, why), attachments stored under
DATA_DIR/attachments, the alliance's deadlines (routine 24 h, green channel 15 min, expiry
7 days, follow-up 14 days) and the follow-up task after an up-referral.

References to scheduling rows are foreign keys to its tables (scheduling is unchanged; it
keeps ``source_referral_id`` as a plain number). Generated, then reviewed by hand;
reversible (only new tables: reversing drops them).
"""

import django.db.models.deletion
import django.utils.timezone
import tiercare.referrals.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0003_initials_with_id'),
        ('referrals', '0001_tiered_disease_catalogue'),
        ('registry', '0002_updated_at'),
        ('scheduling', '0001_schedules_slots_appointments_beds'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Referral',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('direction', models.CharField(choices=[('up', 'Up-referral'), ('down', 'Down-referral'), ('lateral', 'Lateral referral'), ('out_of_county', 'Out-of-county referral')], max_length=16, verbose_name='direction')),
                ('green_channel', models.BooleanField(default=False, help_text='Skips approval queues and has its own short response deadline.', verbose_name='emergency green channel')),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('awaiting_approval', 'Awaiting approval'), ('submitted', 'Submitted'), ('received', 'Received'), ('accepted', 'Accepted'), ('rejected', 'Rejected'), ('redirected', 'Redirected'), ('arrived', 'Arrived'), ('completed', 'Completed'), ('cancelled', 'Cancelled'), ('expired', 'Expired')], default='draft', max_length=20, verbose_name='status')),
                ('diagnosis', models.CharField(max_length=11, verbose_name='diagnosis (ICD-10)')),
                ('secondary_diagnoses', models.JSONField(blank=True, default=list, verbose_name='secondary diagnoses')),
                ('reason', models.TextField(verbose_name='reason for referral')),
                ('clinical_summary', models.TextField(blank=True, verbose_name='clinical summary')),
                ('care_plan', models.TextField(blank=True, help_text='For a down-referral: what the receiving team continues.', verbose_name='care plan')),
                ('catalogue_warning', models.TextField(blank=True, verbose_name='catalogue warning')),
                ('deadline', models.DateTimeField(blank=True, null=True, verbose_name='response due')),
                ('escalated_at', models.DateTimeField(blank=True, null=True, verbose_name='escalated')),
                ('response_note', models.TextField(blank=True, help_text='Why it was rejected, refused or redirected.', verbose_name='reason given')),
                ('outcome', models.CharField(blank=True, choices=[('improved', 'Cured or improved'), ('unchanged', 'Not improved'), ('referred_on', 'Referred on'), ('died', 'Died'), ('other', 'Other')], max_length=16, verbose_name='outcome')),
                ('outcome_note', models.TextField(blank=True, verbose_name='outcome note')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                ('submitted_at', models.DateTimeField(blank=True, null=True, verbose_name='submitted')),
                ('approved_at', models.DateTimeField(blank=True, null=True, verbose_name='approved')),
                ('received_at', models.DateTimeField(blank=True, null=True, verbose_name='received')),
                ('responded_at', models.DateTimeField(blank=True, null=True, verbose_name='answered')),
                ('arrived_at', models.DateTimeField(blank=True, null=True, verbose_name='arrived')),
                ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='closed')),
                ('appointment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scheduling.appointment', verbose_name='appointment')),
                ('approved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='approved by')),
                ('bed', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scheduling.bed', verbose_name='bed')),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='referrals', to='patients.patient', verbose_name='resident')),
                ('receiving_department', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.department', verbose_name='receiving department')),
                ('receiving_institution', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='referrals_received', to='registry.institution', verbose_name='receiving institution')),
                ('receiving_practitioner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.practitioner', verbose_name='receiving clinician')),
                ('receiving_user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='answered by')),
                ('redirected_to', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='redirected_from', to='referrals.referral', verbose_name='redirected to')),
                ('sending_department', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.department', verbose_name='sending department')),
                ('sending_institution', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='referrals_sent', to='registry.institution', verbose_name='sending institution')),
                ('sending_practitioner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.practitioner', verbose_name='sending clinician')),
                ('sending_user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='written by')),
                ('source_referral', models.ForeignKey(blank=True, help_text='For a down-referral proposed at discharge: the referral that brought the resident.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='follow_ons', to='referrals.referral', verbose_name='follows referral')),
            ],
            options={
                'verbose_name': 'referral',
                'verbose_name_plural': 'referrals',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='FollowUpTask',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('due_date', models.DateField(verbose_name='due date')),
                ('status', models.CharField(choices=[('open', 'Open'), ('done', 'Done')], default='open', max_length=8, verbose_name='status')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('done_at', models.DateTimeField(blank=True, null=True, verbose_name='done')),
                ('note', models.CharField(blank=True, max_length=200, verbose_name='note')),
                ('done_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='done by')),
                ('institution', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='referral_follow_ups', to='registry.institution', verbose_name='institution')),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='referral_follow_ups', to='patients.patient', verbose_name='resident')),
                ('referral', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='follow_up_task', to='referrals.referral', verbose_name='referral')),
            ],
            options={
                'verbose_name': 'follow-up task',
                'verbose_name_plural': 'follow-up tasks',
                'ordering': ['due_date', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ReferralAttachment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('file', models.FileField(max_length=200, storage=tiercare.referrals.models.attachment_storage, upload_to=tiercare.referrals.models.attachment_path, verbose_name='file')),
                ('name', models.CharField(max_length=200, verbose_name='file name')),
                ('content_type', models.CharField(max_length=100, verbose_name='content type')),
                ('size', models.PositiveIntegerField(verbose_name='size (bytes)')),
                ('uploaded_at', models.DateTimeField(auto_now_add=True, verbose_name='uploaded')),
                ('referral', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='attachments', to='referrals.referral', verbose_name='referral')),
                ('uploaded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='uploaded by')),
            ],
            options={
                'verbose_name': 'referral attachment',
                'verbose_name_plural': 'referral attachments',
                'ordering': ['uploaded_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ReferralEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='time')),
                ('by_name', models.CharField(blank=True, max_length=150, verbose_name='changed by (name)')),
                ('side', models.CharField(blank=True, max_length=12, verbose_name='side')),
                ('action', models.CharField(max_length=20, verbose_name='action')),
                ('from_status', models.CharField(blank=True, max_length=20, verbose_name='previous status')),
                ('to_status', models.CharField(max_length=20, verbose_name='new status')),
                ('reason', models.TextField(blank=True, verbose_name='reason')),
                ('by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='changed by')),
                ('referral', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='referrals.referral', verbose_name='referral')),
            ],
            options={
                'verbose_name': 'referral event',
                'verbose_name_plural': 'referral events',
                'ordering': ['at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ReferralPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('routine_hours', models.PositiveSmallIntegerField(default=24, verbose_name='routine response deadline (hours)')),
                ('green_channel_minutes', models.PositiveSmallIntegerField(default=15, verbose_name='green-channel response deadline (minutes)')),
                ('expiry_days', models.PositiveSmallIntegerField(default=7, help_text='A referral not answered this many days after it was sent expires.', verbose_name='expiry (days)')),
                ('follow_up_days', models.PositiveSmallIntegerField(default=14, verbose_name='follow-up after an up-referral (days)')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                ('alliance', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='referral_policy', to='registry.alliance', verbose_name='medical alliance')),
            ],
            options={
                'verbose_name': 'referral policy',
                'verbose_name_plural': 'referral policies',
            },
        ),
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(fields=['receiving_institution', 'status'], name='referral_incoming'),
        ),
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(fields=['sending_institution', 'status'], name='referral_outgoing'),
        ),
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(fields=['status', 'deadline'], name='referral_status_deadline'),
        ),
        migrations.AddConstraint(
            model_name='referral',
            constraint=models.CheckConstraint(condition=models.Q(('direction__in', ['up', 'down', 'lateral', 'out_of_county'])), name='referral_direction_valid'),
        ),
        migrations.AddConstraint(
            model_name='referral',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['draft', 'awaiting_approval', 'submitted', 'received', 'accepted', 'rejected', 'redirected', 'arrived', 'completed', 'cancelled', 'expired'])), name='referral_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='referral',
            constraint=models.CheckConstraint(condition=models.Q(('appointment__isnull', True), ('bed__isnull', True), _connector='OR'), name='referral_slot_or_bed', violation_error_message='A referral holds a slot or a bed, not both.'),
        ),
        migrations.AddIndex(
            model_name='followuptask',
            index=models.Index(fields=['institution', 'status', 'due_date'], name='followup_inst_status_due'),
        ),
        migrations.AddConstraint(
            model_name='referralpolicy',
            constraint=models.CheckConstraint(condition=models.Q(('expiry_days__gte', 1), ('follow_up_days__gte', 1), ('green_channel_minutes__gte', 1), ('routine_hours__gte', 1)), name='referral_policy_positive', violation_error_message='Deadlines are at least 1.'),
        ),
    ]
