"""Use cases of an alliance's targets: choose a pack, override and remove a target; every
change audited, bad input refused with a clear error and nothing changed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.utils import timezone

from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.indicators import services
from tiercare.indicators.errors import IndicatorInvalid, IndicatorNotFound, IndicatorRefused
from tiercare.indicators.models import IndicatorPolicy, TargetOverride
from tiercare.indicators.rules import Comparison

pytestmark = pytest.mark.django_db


def events(model) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=model._meta.label).order_by("pk"))


# --- the pack


def test_without_a_choice_the_national_defaults_hold(alliance):
    assert services.pack_for(alliance).id == "national"
    assert services.targets_for(alliance)["in_county_visit_rate"].value == Decimal(90)


def test_choosing_a_pack_is_audited_from_and_to(alliance, office):
    policy = services.choose_pack(alliance, "guangdong_2025", user=office)
    assert policy.pack == "guangdong_2025" and policy.chosen_by == office
    services.choose_pack(alliance, "jilin_2022", user=office)
    assert IndicatorPolicy.objects.filter(alliance=alliance).count() == 1
    first, second = events(IndicatorPolicy)
    assert first.action == AuditEvent.Action.CREATE and first.user == office
    assert first.changes["pack"] == {"from": None, "to": "guangdong_2025"}
    assert second.action == AuditEvent.Action.UPDATE
    assert second.changes["pack"] == {"from": "guangdong_2025", "to": "jilin_2022"}


def test_choosing_the_same_pack_again_changes_and_records_nothing(alliance):
    services.choose_pack(alliance, "guangdong_2025")
    services.choose_pack(alliance, "guangdong_2025")
    assert len(events(IndicatorPolicy)) == 1


def test_one_policy_per_alliance_is_kept_by_the_database(alliance):
    services.choose_pack(alliance, "national")
    with pytest.raises(IntegrityError):
        IndicatorPolicy.objects.create(alliance=alliance, pack="jilin_2022",
                                       chosen_at=timezone.now())


def test_an_unknown_pack_is_refused_and_nothing_changes(alliance):
    with pytest.raises(IndicatorInvalid) as caught:
        services.choose_pack(alliance, "hainan_2030")
    assert caught.value.code == "indicators.unknown_pack" and caught.value.field == "pack"
    assert "hainan_2030" in str(caught.value) and "guangdong_2025" in str(caught.value)
    assert not IndicatorPolicy.objects.exists() and not events(IndicatorPolicy)


def test_clearing_the_choice_brings_back_the_national_defaults(alliance):
    services.choose_pack(alliance, "yingkou_2020")
    services.clear_pack(alliance)
    assert services.pack_for(alliance).id == "national"
    assert events(IndicatorPolicy)[-1].changes["pack"] == {"from": "yingkou_2020",
                                                           "to": "national"}


def test_the_chosen_pack_gives_its_targets_with_those_it_extends(alliance):
    services.choose_pack(alliance, "guangdong_2025")
    targets = services.targets_for(alliance)
    assert targets["in_county_inpatient_rate"].comparison == Comparison.APPROX
    assert targets["in_county_inpatient_rate"].origin == "guangdong_2025"
    assert targets["htn_control_rate"].origin == "national"
    assert "in_county_visit_rate" in targets  # national, not restated by Guangdong


# --- overrides


def test_an_override_replaces_the_pack_target_and_is_audited(alliance, office):
    services.choose_pack(alliance, "guangdong_2025")
    row = services.override_target(alliance, "primary_care_visit_share", comparison=">=",
                                   value=Decimal(60), note="山区县，基层能力仍在建设", user=office)
    assert row.set_by == office and row.set_at is not None
    target = services.targets_for(alliance)["primary_care_visit_share"]
    assert (target.origin, target.value, target.set_by) == ("override", Decimal(60), "office")
    (event,) = events(TargetOverride)
    assert event.action == AuditEvent.Action.CREATE and event.user == office
    assert event.changes["from"] == {"comparison": ">=", "value": "65", "tolerance": None,
                                     "pack": "guangdong_2025"}
    assert event.changes["to"]["value"] == "60"


def test_a_second_override_of_the_same_indicator_updates_it(alliance):
    services.override_target(alliance, "htn_control_rate", comparison=">=", value=Decimal(55),
                             note="县定目标")
    services.override_target(alliance, "htn_control_rate", comparison="approx",
                             value=Decimal("57.5"), tolerance=Decimal(2), note="县定目标")
    assert TargetOverride.objects.filter(alliance=alliance).count() == 1
    update = events(TargetOverride)[-1]
    assert update.action == AuditEvent.Action.UPDATE
    assert update.changes["from"]["value"] == "55"
    assert update.changes["to"] == {"comparison": "approx", "value": "57.5", "tolerance": "2",
                                    "note": "县定目标"}


def test_an_identical_override_records_nothing(alliance):
    for _ in range(2):
        services.override_target(alliance, "htn_control_rate", comparison=">=",
                                 value=Decimal(55), note="县定目标")
    assert len(events(TargetOverride)) == 1


def test_an_override_may_set_a_target_the_pack_does_not_state(alliance):
    services.override_target(alliance, "drug_share", comparison="<=", value=Decimal(30),
                             note="县医改方案")
    assert events(TargetOverride)[0].changes["from"] is None
    assert services.targets_for(alliance)["drug_share"].comparison == Comparison.AT_MOST


def test_overrides_stay_with_their_alliance(alliance, other_alliance):
    services.override_target(alliance, "htn_control_rate", comparison=">=", value=Decimal(55),
                             note="县定目标")
    assert services.targets_for(other_alliance)["htn_control_rate"].value == Decimal(50)


def test_removing_an_override_brings_back_the_pack_target(alliance):
    services.override_target(alliance, "htn_control_rate", comparison=">=", value=Decimal(55),
                             note="县定目标")
    services.remove_override(alliance, "htn_control_rate")
    assert services.targets_for(alliance)["htn_control_rate"].origin == "national"
    removal = events(TargetOverride)[-1]
    assert removal.action == AuditEvent.Action.DELETE
    assert removal.changes["from"]["value"] == "55"


def test_removing_an_override_that_does_not_exist_is_refused(alliance):
    with pytest.raises(IndicatorNotFound) as caught:
        services.remove_override(alliance, "htn_control_rate")
    assert caught.value.code == "indicators.no_override" and caught.value.status == 404


@pytest.mark.parametrize(("indicator", "comparison", "value", "tolerance", "note", "code",
                          "field"), [
    ("no_such_rate", ">=", "1", None, "x", "indicators.unknown_indicator", "indicator"),
    ("up_referrals", ">=", "1", None, "x", "indicators.not_judged", "indicator"),
    ("htn_control_rate", "<=", "50", None, "x", "indicators.comparison", "comparison"),
    ("htn_control_rate", ">=", "120", None, "x", "indicators.value_range", "value"),
    ("htn_control_rate", ">=", "-1", None, "x", "indicators.value_range", "value"),
    ("htn_control_rate", ">=", None, None, "x", "indicators.value_required", "value"),
    ("htn_control_rate", ">=", "50.00001", None, "x", "indicators.value_precision", "value"),
    ("htn_control_rate", "approx", "50", None, "x", "indicators.tolerance_required",
     "tolerance"),
    ("htn_control_rate", ">=", "50", None, "  ", "indicators.note_required", "note"),
    ("htn_control_rate", ">=", "50", None, "长" * 1001, "indicators.note_too_long", "note"),
])
def test_bad_overrides_are_refused_and_nothing_changes(alliance, indicator, comparison, value,
                                                       tolerance, note, code, field):
    with pytest.raises(IndicatorInvalid) as caught:
        services.override_target(alliance, indicator, comparison=comparison,
                                 value=None if value is None else Decimal(value),
                                 tolerance=None if tolerance is None else Decimal(tolerance),
                                 note=note)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert not TargetOverride.objects.exists() and not events(TargetOverride)


def test_only_the_alliance_office_or_a_system_administrator_may_change_targets(
        alliance, other_alliance, office, superuser):
    doctor = User.objects.create_user("doc", role=Role.DOCTOR)
    for user in (doctor, office):
        with pytest.raises(IndicatorRefused) as caught:
            services.choose_pack(other_alliance, "guangdong_2025", user=user)
        assert caught.value.code == "indicators.not_allowed"
    with pytest.raises(IndicatorRefused):
        services.override_target(other_alliance, "htn_control_rate", comparison=">=",
                                 value=Decimal(55), note="x", user=office)
    office.is_active = False
    with pytest.raises(IndicatorRefused):
        services.choose_pack(alliance, "guangdong_2025", user=office)
    assert services.choose_pack(other_alliance, "guangdong_2025", user=superuser)
    assert not events(TargetOverride)
