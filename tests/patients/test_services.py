"""Resident record use cases, given/when/then (rules.md §10, §11; issue 2 §4)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from tests.patients.conftest import VILLAGE_A, VILLAGE_B, VILLAGE_C, id_number
from tiercare.accounts.models import AuditEvent
from tiercare.encounters.models import Encounter, Settlement
from tiercare.patients import services
from tiercare.patients.errors import DuplicatePatient, MergeConflict
from tiercare.patients.models import HealthRecordCounter, Identifier, MatchCandidate, Patient

CJK = re.compile(r"[\u4e00-\u9fff]")


def field_codes(err: ValidationError) -> dict[str, list[str]]:
    return {f: [e.code for e in errs] for f, errs in err.error_dict.items()}


def message(err: ValidationError, field: str) -> str:
    return err.error_dict[field][0].messages[0]


def test_register_derives_birth_date_and_sex_and_numbers_by_village(register):
    # given an ID number of a woman born 1975-03-08 (even sequence)
    number = id_number(date(1975, 3, 8), 24)
    # when she is registered without birth date and sex
    first = register("单田芳", id_number=number, phone="138 1234 5678")
    second = register("李四", sequence=13)
    other_village = register("王五", sequence=15, address_code=VILLAGE_B)
    # then both come from the number, and health record numbers follow the village serial
    assert (first.birth_date, first.sex) == (date(1975, 3, 8), "2")
    assert first.health_record_no == VILLAGE_A + "00001"
    assert second.health_record_no == VILLAGE_A + "00002"
    assert other_village.health_record_no == VILLAGE_B + "00001"
    assert first.phone == "13812345678"
    # and the pinyin initials keep both readings of the polyphone surname 单
    assert {first.name_initials, first.name_initials_alt} == {"stf", "dtf"}
    # and the creation is audited with masked identifiers
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, patient_id=first.pk)
    assert event.changes["id_number"]["to"] == number[:6] + "********" + number[-4:]


def test_counter_continues_after_rows_written_by_a_bulk_loader(register):
    # given a bulk loader wrote serial 00041 in village A without touching the counter
    Patient.objects.create(health_record_no=VILLAGE_A + "00041", name="批量", name_initials="pl",
                           sex="1", birth_date=date(1990, 1, 1), address_code=VILLAGE_A)
    # when a resident is registered, then the next serial follows the highest in use
    assert register().health_record_no == VILLAGE_A + "00042"
    # and when the loader writes past the counter again, registration still succeeds
    Patient.objects.create(health_record_no=VILLAGE_A + "00043", name="批量", name_initials="pl",
                           sex="1", birth_date=date(1990, 1, 1), address_code=VILLAGE_A)
    assert register("李四", sequence=13).health_record_no == VILLAGE_A + "00044"
    assert HealthRecordCounter.objects.get(village_code=VILLAGE_A).last_serial == 44


@pytest.mark.parametrize(("number", "code"), [
    ("330122198005010110", "id_number.check_digit"),
    ("330122198002300117", "id_number.birth_date"),
    ("33012219800501011", "id_number.length"),
])
def test_bad_id_numbers_are_refused_with_specific_codes(county, number, code):
    data = services.PatientInput(name="张三", address_code=VILLAGE_A, id_number=number)
    with pytest.raises(ValidationError) as caught:
        services.register_patient(data)
    assert field_codes(caught.value)["id_number"] == [code]
    assert not Patient.objects.exists()


def test_id_number_errors_are_translated(county):
    # given an ID number whose check digit is wrong
    good = id_number(date(1980, 5, 1), 11)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    data = services.PatientInput(name="张三", address_code=VILLAGE_A, id_number=bad)
    # when registered in English, then the message is English
    with translation.override("en"), pytest.raises(ValidationError) as en:
        services.register_patient(data)
    assert not CJK.search(message(en.value, "id_number"))
    # and in Simplified Chinese it is Chinese
    with translation.override("zh-hans"), pytest.raises(ValidationError) as zh:
        services.register_patient(data)
    assert CJK.search(message(zh.value, "id_number"))
    expected = {"id_number": ["id_number.check_digit"]}
    assert field_codes(en.value) == field_codes(zh.value) == expected


def test_sex_contradicting_the_id_number_is_refused(county):
    number = id_number(date(1980, 5, 1), 11)  # odd sequence: a man
    data = services.PatientInput(name="张三", address_code=VILLAGE_A, id_number=number, sex="2")
    with pytest.raises(ValidationError) as caught:
        services.register_patient(data)
    assert field_codes(caught.value) == {"id_number": ["id_number.sex_mismatch"]}


def test_birth_date_contradicting_the_id_number_is_refused(county):
    number = id_number(date(1980, 5, 1), 11)
    data = services.PatientInput(name="张三", address_code=VILLAGE_A, id_number=number,
                                 birth_date=date(1980, 5, 2))
    with pytest.raises(ValidationError) as caught:
        services.register_patient(data)
    assert field_codes(caught.value) == {"id_number": ["id_number.birth_date_mismatch"]}


def test_every_bad_field_is_reported_at_once_in_both_languages(county):
    data = services.PatientInput(name=" ", address_code="330122100000", phone="12345",
                                 id_type="passport", id_number="E1")
    for lang in ("en", "zh-hans"):
        with translation.override(lang), pytest.raises(ValidationError) as caught:
            services.register_patient(data)
        assert field_codes(caught.value) == {
            "name": ["name.required"], "id_number": ["id_number.format"],
            "birth_date": ["birth_date.required"], "sex": ["sex.required"],
            "address_code": ["address_code.level"], "phone": ["phone.format"],
        }
        assert bool(CJK.search(message(caught.value, "phone"))) == (lang == "zh-hans")
        assert bool(CJK.search(message(caught.value, "address_code"))) == (lang == "zh-hans")


def test_overlong_and_control_characters_are_refused(county):
    data = services.PatientInput(name="张\x00三", address_code=VILLAGE_A, address="路" * 201,
                                 id_number=id_number(date(1980, 5, 1), 11))
    with pytest.raises(ValidationError) as caught:
        services.register_patient(data)
    assert field_codes(caught.value) == {"name": ["text.control_character"],
                                         "address": ["address.too_long"]}


def test_address_in_unknown_county_is_refused(county):
    data = services.PatientInput(name="张三", address_code="999999100201",
                                 id_number=id_number(date(1980, 5, 1), 11))
    with pytest.raises(ValidationError) as caught:
        services.register_patient(data)
    assert field_codes(caught.value) == {"address_code": ["address_code.unknown_county"]}


def test_passport_holder_needs_birth_date_and_sex(county):
    patient = services.register_patient(services.PatientInput(
        name="John Smith", address_code=VILLAGE_A, id_type="passport", id_number="x1234567 8",
        birth_date=date(1970, 1, 2), sex="1"))
    assert patient.id_number == "X12345678"


def test_duplicate_id_number_is_refused_with_the_existing_record(register):
    # given a registered resident
    first = register()
    # when someone registers the same ID number again
    with pytest.raises(DuplicatePatient) as caught:
        register("张叁")
    # then the error carries the existing record and nothing is created
    assert caught.value.existing == first
    assert first.health_record_no in str(caught.value)
    assert Patient.objects.count() == 1


def test_15_digit_number_is_stored_as_18_and_found_as_duplicate(register):
    first = register(id_number="330122800501011")  # 15 digits: 1980-05-01, sequence 011
    assert len(first.id_number) == 18 and first.birth_date == date(1980, 5, 1)
    with pytest.raises(DuplicatePatient):
        register(id_number=first.id_number)


def test_probable_match_is_listed_for_review(register):
    # given a resident without an ID number
    first = register("王芳", id_number="", birth=date(1970, 5, 1), sex="2", phone="13812345678",
                     birth_date=date(1970, 5, 1))
    # when the same name, birth date and sex arrive with an ID number and the same phone
    second = register("王芳", birth=date(1970, 5, 1), sequence=22, phone="13812345678")
    # and a namesake born another day
    register("王芳", birth=date(1970, 5, 2), sequence=24)
    # then one pair is waiting for review, scored with its reasons
    pair = MatchCandidate.objects.get()
    assert (pair.patient, pair.candidate) == (second, first)
    assert pair.status == MatchCandidate.Status.OPEN
    assert pair.score == 100
    assert {"same_name", "same_birth_date", "same_sex", "same_phone"} <= set(pair.reasons)
    assert services.find_probable_matches(first) == [pair]


def test_scan_for_duplicates_groups_in_sql(register):
    # given two pairs of records bulk-loaded without the index looking at them
    for i, (name, birth, sex) in enumerate([("甲", date(1950, 1, 1), "1"),
                                             ("甲", date(1950, 1, 1), "1"),
                                             ("乙", date(1960, 1, 1), "2"),
                                             ("乙", date(1960, 1, 1), "2"),
                                             ("乙", date(1960, 1, 1), "1")]):
        Patient.objects.create(health_record_no=f"{VILLAGE_C}{i + 1:05d}", name=name,
                               name_initials="x", sex=sex, birth_date=birth,
                               address_code=VILLAGE_C)
    # when the table is scanned in batches of one group
    result = services.scan_for_duplicates(batch=1)
    # then each group gives one pair, and a second scan adds nothing
    assert (result.groups, result.pairs_created) == (2, 2)
    assert services.scan_for_duplicates().pairs_created == 0


def _encounter(patient, inst, n):
    return Encounter.objects.create(
        patient=patient, encounter_class="outpatient", institution=inst,
        start=datetime(2025, 3, n, 9, tzinfo=ZoneInfo("Asia/Shanghai")),
        primary_diagnosis="I10", total=Decimal("12.50"), source_system="test", source_id=str(n))


def test_merge_then_undo_restores_exactly(county, register, people):
    # given two records of one person, each with encounters, and an identifier on the merged
    survivor = register("王芳", birth=date(1970, 5, 1), sequence=22)
    merged = register("王芳", id_number="", birth_date=date(1970, 5, 1), sex="2")
    mine = [_encounter(survivor, county.lead, 1).pk]
    theirs = [_encounter(merged, county.lead, 2).pk, _encounter(merged, county.township_a, 3).pk]
    settlement = Settlement.objects.create(
        patient=merged, scheme="resident", in_county=True, institution=county.lead,
        institution_name="x", institution_level="county", division_code="330122",
        encounter_class="outpatient", start_date=date(2025, 3, 2), diagnosis="I10",
        total=Decimal("10.00"), fund_paid=Decimal("6.00"), self_paid=Decimal("4.00"),
        source_system="test", source_id="s1")
    ident = Identifier.objects.create(patient=merged, type="medical_record", system="HIS",
                                      value="MR-1")
    admin = people["system_admin"]
    # when they are merged
    merge = services.merge_patients(survivor, merged, user=admin, reason="同一人")
    # then the merged record points at the survivor and its rows moved, recorded per model
    merged.refresh_from_db()
    assert (merged.is_active, merged.merged_into) == (False, survivor)
    assert sorted(Encounter.objects.filter(patient=survivor).values_list("pk", flat=True)) == \
        sorted(mine + theirs)
    assert merge.moved["encounters.Encounter"] == sorted(theirs)
    assert merge.moved["encounters.Settlement"] == [settlement.pk]
    assert merge.moved["patients.Identifier"] == [ident.pk]
    assert MatchCandidate.objects.get().status == MatchCandidate.Status.MERGED
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MERGE).count() == 2
    # and opening the merged record shows the survivor
    assert services.get_record(admin, merged.pk) == survivor
    # when a new encounter arrives for the survivor and the merge is undone
    later = _encounter(survivor, county.lead, 4).pk
    services.undo_merge(merge, user=admin)
    # then exactly the moved rows are back and the later one stays with the survivor
    merged.refresh_from_db()
    assert merged.is_active and merged.merged_into is None
    assert sorted(Encounter.objects.filter(patient=merged).values_list("pk", flat=True)) == \
        sorted(theirs)
    assert sorted(Encounter.objects.filter(patient=survivor).values_list("pk", flat=True)) == \
        sorted([*mine, later])
    settlement.refresh_from_db()
    ident.refresh_from_db()
    assert settlement.patient == merged and ident.patient == merged
    assert MatchCandidate.objects.get().status == MatchCandidate.Status.OPEN
    assert AuditEvent.objects.filter(action=AuditEvent.Action.UNMERGE).count() == 2
    # and a second undo is refused with a translated error
    with pytest.raises(MergeConflict) as caught:
        services.undo_merge(merge, user=admin)
    assert caught.value.code == "merge.already_undone"
    # the message is rendered in the language active where it is shown
    with translation.override("zh-hans"):
        assert CJK.search(str(caught.value))
    with translation.override("en"):
        assert "already undone" in str(caught.value)


def test_merge_refuses_inactive_and_same_records(register):
    a = register()
    b = register("李四", sequence=13)
    with pytest.raises(MergeConflict):
        services.merge_patients(a, a)
    services.merge_patients(a, b)
    c = register("王五", sequence=15)
    with pytest.raises(MergeConflict) as caught:
        services.merge_patients(c, b)
    assert caught.value.code == "merge.inactive"


def test_undo_is_refused_when_the_id_number_was_registered_again(register):
    a = register("张三", sequence=11)
    b = register("张三", sequence=13, birth=date(1980, 5, 1))
    merge = services.merge_patients(a, b)
    register("张三", sequence=13)  # b's number is free again and taken by a new record
    with pytest.raises(MergeConflict) as caught:
        services.undo_merge(merge)
    assert caught.value.code == "merge.id_taken"
    b.refresh_from_db()
    assert not b.is_active


def test_update_audits_from_and_to_and_recomputes_initials(register, people):
    patient = register()
    services.update_patient(patient, {"name": "曾志伟", "phone": "13900001111"},
                            user=people["doctor"])
    patient.refresh_from_db()
    assert {patient.name_initials, patient.name_initials_alt} == {"zzw", "czw"}
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, patient_id=patient.pk)
    assert event.changes["name"] == {"from": "张三", "to": "曾志伟"}
    assert event.changes["phone"] == {"from": "", "to": "139****1111"}
    assert event.user == people["doctor"]


def test_update_validates_like_registration(register):
    patient = register()
    with pytest.raises(ValidationError) as caught:
        services.update_patient(patient, {"sex": "2"})
    assert field_codes(caught.value) == {"id_number": ["id_number.sex_mismatch"]}
    with pytest.raises(ValidationError) as caught:
        services.update_patient(patient, {"health_record_no": "1"})
    assert field_codes(caught.value) == {"health_record_no": ["field.read_only"]}


def test_update_to_an_id_number_in_use_is_a_duplicate(register):
    a = register()
    b = register("李四", sequence=13)
    with pytest.raises(DuplicatePatient) as caught:
        services.update_patient(b, {"id_number": a.id_number, "name": "李四"})
    assert caught.value.existing == a


@pytest.fixture
def residents(register):
    return {
        "dan": register("单田芳", sequence=11, phone="13812345678"),
        "zhang": register("张三", sequence=13),
        "zhangs": register("张思", sequence=15),
        "zeng": register("曾小", sequence=17, address_code=VILLAGE_C),
    }


@pytest.mark.parametrize(("query", "expected"), [
    ("stf", ["dan"]), ("dtf", ["dan"]), ("STF", ["dan"]), ("d", ["dan"]),
    ("zs", ["zhang", "zhangs"]), ("单", ["dan"]), ("张", ["zhang", "zhangs"]),
    ("张三", ["zhang"]), ("13812345678", ["dan"]), ("cx", ["zeng"]), ("zx", ["zeng"]),
])
def test_search_by_each_kind(residents, people, query, expected):
    found = services.search_patients(people["system_admin"], query)
    assert sorted(found, key=lambda p: p.pk) == [residents[k] for k in expected]


def test_search_by_id_number_and_record_number(residents, people):
    dan = residents["dan"]
    admin = people["system_admin"]
    assert services.search_patients(admin, dan.id_number.lower()) == [dan]
    assert services.search_patients(admin, dan.health_record_no) == [dan]
    fifteen = dan.id_number[:6] + dan.id_number[8:17]
    assert services.search_patients(admin, fifteen) == [dan]


def test_search_leaves_out_merged_and_out_of_scope_records(residents, people):
    services.merge_patients(residents["zhang"], residents["zhangs"])
    assert services.search_patients(people["system_admin"], "zs") == [residents["zhang"]]
    # community B's doctor sees only B's grid: 曾小 lives in village C
    assert services.search_patients(people["other_doctor"], "z") == [residents["zeng"]]


def test_search_is_audited_once_with_the_query(residents, people):
    services.search_patients(people["doctor"], "zs")
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert event.changes == {"query": "zs", "kind": "initials", "results": 2}
    assert event.user == people["doctor"] and event.patient_id is None


def test_search_rejects_gibberish_with_a_field_error(people, county):
    with pytest.raises(ValidationError) as caught:
        services.search_patients(people["doctor"], "王a!")
    assert field_codes(caught.value) == {"q": ["search.query"]}


def test_search_respects_the_limit(register, people):
    for i in range(5):
        register(f"张{'一二三四五'[i]}", sequence=21 + 2 * i)
    assert len(services.search_patients(people["system_admin"], "z", limit=3)) == 3


@pytest.mark.skipif("connection.vendor != 'sqlite'")
@pytest.mark.parametrize(("query", "index"), [
    ("stf", "name_initials"), ("单", "patient_name_birth"),
    ("13812345678", "phone"), ("33012210020100001", "health_record_no"),
])
def test_sqlite_search_uses_an_index(residents, people, query, index):
    # EXPLAIN QUERY PLAN of every query the search runs: no full scan of the resident table
    with CaptureQueriesContext(connection) as ctx:
        services.search_patients(people["doctor"], query)
    plans = []
    with connection.cursor() as cursor:
        for q in ctx.captured_queries:
            sql = q["sql"]
            if "patients_patient" not in sql or not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plans.append(" | ".join(row[-1] for row in cursor.fetchall()))
    assert plans
    for plan in plans:
        assert not re.search(r"SCAN (patients_patient|T\d*)\b(?! USING)", plan), plan
        # the doctor's care-relationship test reads one resident's encounters, not the
        # institution's
        assert "encounter_inst_start" not in plan, plan
    assert any(index in plan for plan in plans), plans


def test_get_record_audits_the_view_and_checks_scope(residents, people):
    dan = residents["dan"]
    assert services.get_record(people["doctor"], dan.pk) == dan
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW)
    assert (event.patient_id, event.user) == (dan.pk, people["doctor"])
    with translation.override("zh-hans"), pytest.raises(PermissionDenied) as caught:
        services.get_record(people["other_doctor"], dan.pk)
    assert CJK.search(str(caught.value))
    with pytest.raises(Patient.DoesNotExist):
        services.get_record(people["doctor"], 10**9)
