"""Registry use cases, given/when/then (rules.md §1, §10; issue 2 §3)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from tests.registry.factories import COUNTY, institution, make_county, practitioner
from tiercare.accounts.models import AuditEvent
from tiercare.registry import services
from tiercare.registry.models import Alliance, Institution, Level, Practitioner

pytestmark = pytest.mark.django_db


def codes(err: ValidationError) -> dict[str, list[str]]:
    return {f: [e.code for e in errs] for f, errs in err.error_dict.items()}


def messages(err: ValidationError, field: str) -> list[str]:
    return [m for e in err.error_dict[field] for m in e.messages]


def test_institution_in_unknown_county_is_refused_with_translated_error():
    # given a division code whose county part 999999 is not in GB/T 2260
    data = services.InstitutionInput(code="X", name="某卫生院", level=Level.TOWNSHIP,
                                     kind=Institution.Kind.TOWNSHIP_CENTRE,
                                     division_code="999999100")
    # when it is registered, in English and in Chinese
    for lang, word in (("en", "not in the GB/T 2260"), ("zh-hans", "GB/T 2260")):
        with translation.override(lang), pytest.raises(ValidationError) as caught:
            services.create_institution(data)
        # then the division code is named with a specific error
        assert codes(caught.value) == {"division_code": ["division_code.unknown_county"]}
        assert word in messages(caught.value, "division_code")[0]
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        services.create_institution(data)
    assert "不在" in messages(caught.value, "division_code")[0]
    assert not Institution.objects.filter(code="X").exists()


@pytest.mark.parametrize(("level", "kind", "field", "code"), [
    (Level.TOWNSHIP, Institution.Kind.VILLAGE_CLINIC, "level", "level.kind_mismatch"),
    (Level.COUNTY, Institution.Kind.TOWNSHIP_CENTRE, "level", "level.kind_mismatch"),
    (Level.VILLAGE, Institution.Kind.GENERAL_HOSPITAL, "level", "level.kind_mismatch"),
])
def test_level_and_kind_must_agree(level, kind, field, code):
    data = services.InstitutionInput(code="X", name="x", level=level, kind=kind,
                                     division_code="330122100201")
    with pytest.raises(ValidationError) as caught:
        services.create_institution(data)
    assert codes(caught.value) == {field: [code]}


def test_village_clinic_needs_a_village_code():
    data = services.InstitutionInput(code="X", name="x", level=Level.VILLAGE,
                                     kind=Institution.Kind.VILLAGE_CLINIC,
                                     division_code="330122100")
    with pytest.raises(ValidationError) as caught:
        services.create_institution(data)
    assert codes(caught.value) == {"division_code": ["division_code.too_coarse"]}


def test_institution_creation_is_audited():
    inst = institution("H9", "县中医院", Level.COUNTY, Institution.Kind.TCM_HOSPITAL, COUNTY, None)
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE,
                                   object_type="registry.Institution")
    assert event.object_id == str(inst.pk)


def test_supervising_institution_must_be_higher():
    county = make_county()
    data = services.InstitutionInput(code="T9", name="x", level=Level.TOWNSHIP,
                                     kind=Institution.Kind.TOWNSHIP_CENTRE,
                                     division_code="330122100", parent=county.village_a)
    with pytest.raises(ValidationError) as caught:
        services.create_institution(data)
    assert codes(caught.value) == {"parent": ["parent.level"]}


def test_alliance_for_unknown_county_is_refused():
    with pytest.raises(ValidationError) as caught:
        services.create_alliance(code="Z", name="z", kind=Alliance.Kind.COUNTY_COMMUNITY,
                                 county_code="999999")
    assert codes(caught.value) == {"county_code": ["division_code.unknown_county"]}


def test_lead_must_be_a_hospital():
    county = make_county()
    with pytest.raises(ValidationError) as caught:
        services.update_alliance(county.other, {"lead": county.other_township})
    assert codes(caught.value) == {"lead": ["lead.level"]}


def test_update_alliance_audits_from_and_to():
    county = make_county()
    services.update_alliance(county.alliance, {"name": "新名称"})
    event = AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE,
                                      object_type="registry.Alliance").latest("id")
    assert event.changes["name"] == {"from": "桐庐县第一医共体", "to": "新名称"}


def test_posting_dates_must_be_ordered():
    county = make_county()
    doctor = practitioner("P1", county.lead)
    with pytest.raises(ValidationError) as caught:
        services.create_posting(doctor, county.township_a, start_date=date(2025, 3, 1),
                                end_date=date(2025, 2, 1))
    assert codes(caught.value) == {"end_date": ["posting.dates"]}


def test_posting_to_own_institution_is_refused():
    county = make_county()
    doctor = practitioner("P1", county.lead)
    with pytest.raises(ValidationError) as caught:
        services.create_posting(doctor, county.lead, start_date=date(2025, 3, 1))
    assert codes(caught.value) == {"institution": ["posting.own_institution"]}


def test_townships_without_stationed_attending_on_a_date():
    # given the lead hospital posts an attending physician to township A for 2025
    county = make_county()
    attending = practitioner("P1", county.lead, Practitioner.Title.ATTENDING)
    junior = practitioner("P2", county.lead, Practitioner.Title.RESIDENT)
    outsider = practitioner("P3", county.other_township, Practitioner.Title.CHIEF)
    services.create_posting(attending, county.township_a, start_date=date(2025, 1, 1),
                            end_date=date(2025, 12, 31))
    # and only a resident physician and a non-lead chief physician at township B
    services.create_posting(junior, county.township_b, start_date=date(2025, 1, 1))
    services.create_posting(outsider, county.township_b, start_date=date(2025, 1, 1))
    # when the rule is checked during the posting, then township B lacks one
    on = date(2025, 6, 1)
    assert services.townships_without_stationed_attending(county.alliance, on) == [
        county.township_b]
    # and after the posting ended both lack one
    assert services.townships_without_stationed_attending(
        county.alliance, date(2026, 1, 1)) == [county.township_a, county.township_b]
    # and before it started too
    assert len(services.townships_without_stationed_attending(
        county.alliance, date(2024, 12, 31))) == 2


def test_set_grid_refuses_unknown_division():
    county = make_county()
    with pytest.raises(ValidationError) as caught:
        services.set_grid(county.alliance, ["330122199"])
    assert codes(caught.value) == {"divisions": ["division.unknown"]}


def test_grid_coverage_reports_gap_and_overlap():
    # given community A covers 100 and 101 and community B covers 102
    county = make_county()
    assert services.grid_coverage(COUNTY).ok
    # when B also claims 101 and nobody keeps 102
    services.set_grid(county.other, ["330122101"])
    report = services.grid_coverage(COUNTY)
    # then 102 is a gap and 101 an overlap naming both communities
    assert [t.code for t in report.gaps] == ["330122102"]
    assert [(o.township.code, [a.code for a in o.alliances]) for o in report.overlaps] == [
        ("330122101", ["A", "B"])]
    assert (report.townships, report.covered) == (3, 2)


def test_alliance_tree_counts_by_level():
    from tiercare.encounters.models import Encounter
    from tiercare.patients.models import Patient

    # given a county with staff, residents in two villages and encounters in two years
    county = make_county()
    practitioner("P1", county.lead)
    practitioner("P2", county.lead)
    practitioner("P3", county.village_a, Practitioner.Title.VILLAGE_DOCTOR)
    for i, village in enumerate(["330122100201", "330122100201", "330122101201",
                                 "330122102201"]):
        Patient.objects.create(health_record_no=f"{village}{i + 1:05d}", name=f"居民{i}",
                               name_initials="jm", sex="1", birth_date=date(1980, 1, 1),
                               address_code=village)
    Patient.objects.create(health_record_no="33012210020100099", name="已合并",
                           name_initials="yhb", sex="1", birth_date=date(1980, 1, 1),
                           address_code="330122100201", is_active=False)
    patient = Patient.objects.first()
    tz = ZoneInfo("Asia/Shanghai")
    for n, (inst, when) in enumerate([
        (county.lead, datetime(2025, 1, 1, 0, 30, tzinfo=tz)),
        (county.lead, datetime(2025, 6, 1, tzinfo=tz)),
        (county.village_a, datetime(2025, 12, 31, 23, 0, tzinfo=tz)),
        (county.lead, datetime(2024, 12, 31, 23, 59, tzinfo=tz)),
    ]):
        Encounter.objects.create(patient=patient, encounter_class="outpatient",
                                 institution=inst, start=when, primary_diagnosis="I10",
                                 total=Decimal("10.00"), source_system="t", source_id=str(n))
    # when the tree for 2025 is built
    tree = services.alliance_tree(county.alliance, year=2025)
    by_level = {level.level: level for level in tree}
    # then levels come highest first with their institutions and counts
    assert [level.level for level in tree] == ["county", "township", "village"]
    lead = by_level["county"].institutions[0]
    assert (lead.practitioners, lead.encounters_this_year, lead.residents_in_grid) == (2, 2, 3)
    townships = {i.code: i for i in by_level["township"].institutions}
    assert townships["T100"].residents_in_grid == 2  # the merged record is not counted
    assert townships["T101"].residents_in_grid == 1
    assert by_level["township"].residents_in_grid == 3
    village = by_level["village"].institutions[0]
    assert (village.practitioners, village.encounters_this_year, village.parent_id) == (
        1, 1, county.township_a.pk)
    assert by_level["village"].residents_in_grid == 2


def test_alliance_tree_uses_a_fixed_number_of_queries(django_assert_max_num_queries):
    county = make_county()
    for n in range(5):
        institution(f"V9{n}", f"村卫生室{n}", Level.VILLAGE, Institution.Kind.VILLAGE_CLINIC,
                    "330122101201", county.alliance, county.township_b)
    with django_assert_max_num_queries(5):
        services.alliance_tree(county.alliance, year=2025)


def test_create_department_code_unique_per_institution():
    county = make_county()
    services.create_department(county.lead, code="NK", name="内科")
    with pytest.raises(ValidationError) as caught:
        services.create_department(county.lead, code="NK", name="内科二")
    assert codes(caught.value) == {"code": ["department.code_taken"]}
    # another institution may use the same code
    services.create_department(county.township_a, code="NK", name="内科")


def test_practitioner_phone_is_checked():
    county = make_county()
    with pytest.raises(ValidationError) as caught:
        services.create_practitioner(code="P9", name="李", sex="2",
                                     title=Practitioner.Title.NURSE,
                                     institution=county.lead, phone="12345")
    assert codes(caught.value) == {"phone": ["phone.format"]}


def test_end_posting_before_start_is_refused():
    county = make_county()
    posting = services.create_posting(practitioner("P1", county.lead), county.township_a,
                                      start_date=date(2025, 1, 1))
    with pytest.raises(ValidationError):
        services.end_posting(posting, date(2024, 1, 1))
    services.end_posting(posting, date(2025, 1, 1) + timedelta(days=30))
    posting.refresh_from_db()
    assert posting.end_date == date(2025, 1, 31)
