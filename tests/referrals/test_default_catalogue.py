"""The shipped default catalogue (rules.md §2: ≥ 80 common conditions with sources) and
``tiercare load_catalogue``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from tiercare.kernel import icd10
from tiercare.referrals import rules, services
from tiercare.referrals.models import CatalogueEntry, DiseaseCatalogue


def test_the_file_has_at_least_80_valid_entries_with_sources():
    meta, rows = services.read_default_file()
    assert meta["edition"] and meta["source"]
    assert len(rows) >= 80
    seen = []
    for row in rows:
        for code in (row["code_first"], row["code_last"]):
            assert not code or icd10.exists(code), code
        clean = services.clean_entry(services.EntryInput(**row), seen)  # nests, no duplicate
        seen.append(clean)
        assert row["level"] in rules.LEVEL_ORDER
        assert row["name_zh"] and row["source"] and row["up_criteria"] and row["down_criteria"]


def test_the_conditions_named_in_the_rules_are_there():
    _meta, rows = services.read_default_file()
    look_up = rules.Catalogue([services.clean_entry(services.EntryInput(**r), [])
                               for r in rows])
    for code in ("I10", "I13.9", "E11.9", "J06.9", "J20.9", "K29.7", "J44.9", "J45.9",
                 "I20.9", "I63.9", "N18.3", "J18.9", "I21.9"):
        assert look_up.lowest_level(code) is not None, code
    assert look_up.lowest_level("I63.9") == "county"
    assert look_up.lowest_level("J18.9") == "township"


@pytest.mark.django_db
def test_loading_twice_changes_nothing():
    # when the default is loaded twice
    catalogue, first = services.load_default_catalogue()
    again, second = services.load_default_catalogue()
    # then the second load finds every entry unchanged
    assert again == catalogue and DiseaseCatalogue.objects.count() == 1
    assert first.inserted >= 80 and second.inserted == second.updated == 0
    assert second.unchanged == first.inserted == catalogue.entries.count()


@pytest.mark.django_db
def test_loading_restores_an_edited_shipped_row_and_keeps_added_ones(default_catalogue):
    entry = default_catalogue.entries.get(code_first="K29")
    services.update_entry(entry, {"level": "county"})
    services.add_entry(default_catalogue, services.EntryInput(code_first="K31",
                                                              name_zh="胃的其他疾病",
                                                              level="township"))
    _catalogue, result = services.load_default_catalogue()
    assert result.updated == 1
    assert CatalogueEntry.objects.get(catalogue=default_catalogue, code_first="K29").level \
        == "village"
    assert default_catalogue.entries.filter(code_first="K31").exists()


@pytest.mark.django_db
def test_the_command_loads_the_default():
    out = StringIO()
    call_command("load_catalogue", stdout=out)
    assert DiseaseCatalogue.objects.get(alliance__isnull=True).entries.count() >= 80
    with translation.override("en"):
        call_command("load_catalogue", stdout=out)
    assert "0 inserted, 0 updated" in out.getvalue().splitlines()[-1]


@pytest.mark.django_db
def test_ensure_keeps_an_existing_default(default_catalogue):
    services.update_entry(default_catalogue.entries.get(code_first="K29"), {"level": "county"})
    assert services.ensure_default_catalogue() == default_catalogue
    assert default_catalogue.entries.get(code_first="K29").level == "county"
