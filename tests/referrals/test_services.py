"""Catalogue use cases, given/when/then (rules.md §2; issue 4 item 1)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from tiercare.accounts.models import AuditEvent
from tiercare.kernel import icd10
from tiercare.referrals import services
from tiercare.referrals.models import CatalogueEntry, DiseaseCatalogue
from tiercare.referrals.services import EntryInput

pytestmark = pytest.mark.django_db


def codes(err: ValidationError) -> dict[str, list[str]]:
    return {f: [e.code for e in errs] for f, errs in err.error_dict.items()}


@pytest.fixture
def catalogue(db):
    return services.create_catalogue(None, name="测试目录")


def test_an_alliance_catalogue_starts_as_a_copy_of_the_default(default_catalogue, alliance):
    # given the county default catalogue and an alliance without one
    # when the alliance gets its own catalogue
    own = services.create_catalogue(alliance)
    # then it holds the same entries, and the alliance's look-ups use it
    assert own.entries.count() == default_catalogue.entries.count() >= 80
    assert services.catalogue_for(alliance) == own
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATE,
                                     object_type="referrals.DiseaseCatalogue",
                                     object_id=str(own.pk)).exists()
    # and editing it leaves the default alone
    entry = own.entries.get(code_first="E11", code_last="")
    services.update_entry(entry, {"level": "township"})
    assert default_catalogue.entries.get(code_first="E11").level == "village"


def test_an_alliance_without_its_own_catalogue_uses_the_default(default_catalogue, alliance):
    assert services.catalogue_for(alliance) == default_catalogue


def test_a_second_catalogue_for_the_same_alliance_is_refused(alliance):
    services.create_catalogue(alliance)
    with pytest.raises(ValidationError) as caught:
        services.create_catalogue(alliance)
    assert codes(caught.value) == {"alliance": ["catalogue.exists"]}


def test_the_database_keeps_one_default_catalogue(catalogue):
    with pytest.raises(IntegrityError), transaction.atomic():
        DiseaseCatalogue.objects.create(name="第二个默认目录")


def test_adding_an_entry_normalises_it_and_is_audited(catalogue):
    # when a range is added in lower case with a Chinese level name
    entry = services.add_entry(catalogue, EntryInput(code_first="i10", code_last="i15",
                                                     name_zh="高血压病", level="乡镇级"))
    # then it is stored normalised
    assert (entry.code_first, entry.code_last, entry.level) == ("I10", "I15", "township")
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE,
                                   object_type="referrals.CatalogueEntry")
    assert event.changes["code_first"] == "I10"


def test_an_empty_name_takes_the_curated_icd10_name(catalogue):
    entry = services.add_entry(catalogue, EntryInput(code_first="E11", level="village"))
    assert entry.name_zh == icd10.name_zh("E11") != ""


@pytest.mark.parametrize(("data", "expected"), [
    (EntryInput(code_first="U99", level="county", name_zh="x"),
     {"code_first": ["icd10.unknown"]}),
    (EntryInput(code_first="I15", code_last="I10", level="county", name_zh="x"),
     {"code_last": ["range.order"]}),
    (EntryInput(code_first="I10", level="hospital", name_zh="x"),
     {"level": ["level.invalid"]}),
    (EntryInput(code_first="I13", code_last="I22", level="county", name_zh="x"),
     {"code_last": ["range.overlap"]}),
    (EntryInput(code_first="I10", code_last="I15", level="county", name_zh="x"),
     {"code_first": ["range.duplicate"]}),
    (EntryInput(code_first="", level="", name_zh=""),
     {"code_first": ["required"], "level": ["level.invalid"], "name_zh": ["required"]}),
])
def test_bad_entries_are_refused_per_field_and_change_nothing(catalogue, data, expected):
    # given a catalogue with hypertension I10–I15
    services.add_entry(catalogue, EntryInput(code_first="I10", code_last="I15",
                                             name_zh="高血压病", level="township"))
    with pytest.raises(ValidationError) as caught:
        services.add_entry(catalogue, data)
    assert codes(caught.value) == expected
    assert catalogue.entries.count() == 1


def test_errors_are_in_the_users_language(catalogue):
    for language, word in (("en", "does not exist"), ("zh-hans", "不存在")):
        with translation.override(language), pytest.raises(ValidationError) as caught:
            services.add_entry(catalogue, EntryInput(code_first="U99", level="county",
                                                     name_zh="x"))
        assert word in caught.value.message_dict["code_first"][0]


def test_changing_an_entry_records_from_and_to(catalogue):
    entry = services.add_entry(catalogue, EntryInput(code_first="J44", name_zh="慢阻肺",
                                                     level="county"))
    services.update_entry(entry, {"level": "township", "up_criteria": "急性加重"})
    entry.refresh_from_db()
    assert entry.level == "township"
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE,
                                   object_type="referrals.CatalogueEntry")
    assert event.changes["level"] == {"from": "county", "to": "township"}


def test_an_unchanged_entry_writes_no_event(catalogue):
    entry = services.add_entry(catalogue, EntryInput(code_first="J44", name_zh="慢阻肺",
                                                     level="county"))
    services.update_entry(entry, {"level": "county"})
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE,
                                         object_type="referrals.CatalogueEntry").exists()


def test_a_change_that_breaks_nesting_is_refused(catalogue):
    services.add_entry(catalogue, EntryInput(code_first="I10", code_last="I15",
                                             name_zh="高血压病", level="township"))
    other = services.add_entry(catalogue, EntryInput(code_first="I20", code_last="I25",
                                                     name_zh="缺血性心脏病", level="county"))
    with pytest.raises(ValidationError) as caught:
        services.update_entry(other, {"code_first": "I12"})
    assert codes(caught.value) == {"code_last": ["range.overlap"]}
    other.refresh_from_db()
    assert other.code_first == "I20"


def test_removing_an_entry_keeps_what_it_said_in_the_audit(catalogue):
    entry = services.add_entry(catalogue, EntryInput(code_first="K29", name_zh="胃炎",
                                                     level="village"))
    pk = entry.pk
    services.remove_entry(entry)
    assert not CatalogueEntry.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.DELETE, object_id=str(pk))
    assert event.changes["code_first"] == "K29"


def test_deleting_a_catalogue_is_audited(alliance):
    own = services.create_catalogue(alliance, copy_default=False)
    services.delete_catalogue(own)
    assert not DiseaseCatalogue.objects.filter(alliance=alliance).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DELETE,
                                     object_type="referrals.DiseaseCatalogue").exists()


def test_the_stored_catalogue_answers_the_warning_rule(default_catalogue):
    # given the default catalogue: essential hypertension is treated at village level
    look_up = services.rules_catalogue(default_catalogue)
    # then a township referring I10 up is warned, a village referring AMI is not
    assert look_up.up_referral_warning("I10", "township", "county") is not None
    assert look_up.up_referral_warning("I21.9", "village", "county") is None
    assert look_up.lowest_level("I12.0") == "township"   # the range I10–I15
    assert look_up.lowest_level("I15.0") == "county"
