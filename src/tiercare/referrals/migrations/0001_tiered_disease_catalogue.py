"""The tiered disease catalogue (rules.md §2, seed 001 §21; issue 4 item 1): one catalogue per
alliance plus the county default (alliance empty: the expression constraint maps it to 0 so that
there is one default), and its entries keyed by code range.

Generated, then reviewed by hand; reversible (the tables are dropped)."""

import django.db.models.deletion
import django.db.models.functions.comparison
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('registry', '0002_updated_at'),
    ]

    operations = [
        migrations.CreateModel(
            name='DiseaseCatalogue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, verbose_name='name')),
                ('edition', models.CharField(blank=True, max_length=40, verbose_name='edition')),
                ('source_note', models.TextField(blank=True, verbose_name='source')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                ('alliance', models.ForeignKey(blank=True, help_text='Empty for the county default catalogue.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='disease_catalogues', to='registry.alliance', verbose_name='medical alliance')),
            ],
            options={
                'verbose_name': 'tiered disease catalogue',
                'verbose_name_plural': 'tiered disease catalogues',
                'ordering': ['alliance__code'],
            },
        ),
        migrations.CreateModel(
            name='CatalogueEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code_first', models.CharField(help_text='A code, or the first category of a range.', max_length=11, verbose_name='ICD-10 code')),
                ('code_last', models.CharField(blank=True, default='', help_text='Empty for a single code.', max_length=3, verbose_name='last category of the range')),
                ('name_zh', models.CharField(max_length=200, verbose_name='condition')),
                ('level', models.CharField(choices=[('provincial', 'Provincial'), ('city', 'City'), ('county', 'County'), ('township', 'Township'), ('village', 'Village')], max_length=12, verbose_name='lowest treating level')),
                ('up_criteria', models.TextField(blank=True, verbose_name='up-referral criteria')),
                ('down_criteria', models.TextField(blank=True, verbose_name='down-referral criteria')),
                ('source', models.CharField(blank=True, max_length=300, verbose_name='source')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                ('catalogue', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='referrals.diseasecatalogue', verbose_name='catalogue')),
            ],
            options={
                'verbose_name': 'catalogue entry',
                'verbose_name_plural': 'catalogue entries',
                'ordering': ['catalogue', 'code_first', 'code_last'],
            },
        ),
        migrations.AddConstraint(
            model_name='diseasecatalogue',
            constraint=models.UniqueConstraint(django.db.models.functions.comparison.Coalesce('alliance', models.Value(0)), name='disease_catalogue_one_per_alliance', violation_error_message='This alliance already has a catalogue.'),
        ),
        migrations.AddConstraint(
            model_name='catalogueentry',
            constraint=models.UniqueConstraint(fields=('catalogue', 'code_first', 'code_last'), name='catalogue_entry_unique_range', violation_error_message='The catalogue already has an entry for this code or range.'),
        ),
        migrations.AddConstraint(
            model_name='catalogueentry',
            constraint=models.CheckConstraint(condition=models.Q(('code_last', ''), ('code_last__gt', models.F('code_first')), _connector='OR'), name='catalogue_entry_range_ordered', violation_error_message='The last category must come after the first.'),
        ),
        migrations.AddConstraint(
            model_name='catalogueentry',
            constraint=models.CheckConstraint(condition=models.Q(('level__in', ['provincial', 'city', 'county', 'township', 'village'])), name='catalogue_entry_level_valid'),
        ),
    ]
