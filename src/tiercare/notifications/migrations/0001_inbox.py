"""The notifications inbox (issue 4 item 4): notices addressed to an institution's or an
alliance office's inbox, per-user read receipts and the "mark all as read" watermark. Only
new tables: reversing drops them.

Reviewed by hand: one inbox per notice (check constraint), "deadline near" once per referral
and inbox (partial unique index), indexes for the newest-first inbox reads.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('referrals', '0002_referral_workflow'),
        ('registry', '0002_updated_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='InboxState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('read_through', models.DateTimeField(verbose_name='read through')),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='inbox_state', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'inbox state',
                'verbose_name_plural': 'inbox states',
            },
        ),
        migrations.CreateModel(
            name='Notification',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('new_referral', 'New referral received'), ('down_referral', 'Down-referral received'), ('approval_needed', 'Out-of-county referral awaits approval'), ('approved', 'Out-of-county referral approved'), ('accepted', 'Referral accepted'), ('rejected', 'Referral rejected'), ('redirected', 'Referral redirected'), ('deadline_near', 'Response deadline near'), ('deadline_missed', 'Response deadline missed'), ('arrived', 'Patient arrived'), ('completed', 'Referral completed'), ('cancelled', 'Referral cancelled'), ('expired', 'Referral expired')], max_length=20, verbose_name='kind')),
                ('green_channel', models.BooleanField(default=False, verbose_name='emergency green channel')),
                ('text', models.CharField(blank=True, help_text='A reason or note given with the step.', max_length=300, verbose_name='text')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='time')),
                ('alliance', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.alliance', verbose_name='alliance office')),
                ('institution', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.institution', verbose_name='institution')),
                ('referral', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='referrals.referral', verbose_name='referral')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='addressed to')),
            ],
            options={
                'verbose_name': 'notification',
                'verbose_name_plural': 'notifications',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='NotificationRead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('read_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='read')),
                ('notification', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reads', to='notifications.notification', verbose_name='notification')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'read receipt',
                'verbose_name_plural': 'read receipts',
            },
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(fields=['institution', '-created_at'], name='notification_inst_time'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(fields=['alliance', '-created_at'], name='notification_office_time'),
        ),
        migrations.AddConstraint(
            model_name='notification',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('alliance__isnull', True), ('institution__isnull', False)), models.Q(('alliance__isnull', False), ('institution__isnull', True)), _connector='OR'), name='notification_one_inbox'),
        ),
        migrations.AddConstraint(
            model_name='notification',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'deadline_near')), fields=('referral', 'institution'), name='notification_deadline_near_once'),
        ),
        migrations.AddConstraint(
            model_name='notificationread',
            constraint=models.UniqueConstraint(fields=('user', 'notification'), name='notification_read_once'),
        ),
    ]
