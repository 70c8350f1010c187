"""Specifications of the synthetic county generator (issue 2 §8, docs/synthetic-data.md).

One county of 3,000 residents is generated per module inside a transaction that is rolled
back at the end, so the other test modules see an empty database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import translation

from tiercare.encounters.models import Diagnosis, Encounter, Settlement
from tiercare.kernel import divisions, idnumber
from tiercare.kernel import names as kernel_names
from tiercare.patients.models import Patient
from tiercare.registry.models import Alliance, Division, Grid, Institution, Posting
from tiercare.synth import generate
from tiercare.synth import reference as ref
from tiercare.synth.generator import SynthError, SynthSummary

N = 3_000
YEAR = 2023
PRIMARY = ("township", "village")


@pytest.fixture(scope="module")
def county(django_db_setup, django_db_blocker) -> Iterator[SynthSummary]:
    with django_db_blocker.unblock(), transaction.atomic():
        summary = generate(N, 7, YEAR)
        yield summary
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_summary_counts_match_the_tables(county):
    assert county.counts["patients.Patient"] == Patient.objects.count() == N
    assert county.counts["encounters.Encounter"] == Encounter.objects.count()
    assert county.counts["encounters.Settlement"] == Settlement.objects.count()
    assert county.counts["encounters.Diagnosis"] == Diagnosis.objects.count()
    assert county.alliances == 1 == Alliance.objects.count()


@pytest.mark.django_db
def test_every_id_number_is_valid_and_agrees_with_the_record(county):
    migrants = 0
    for number, birth, sex in Patient.objects.values_list("id_number", "birth_date", "sex"):
        parsed = idnumber.validate(number)
        idnumber.check_consistency(number, birth, sex)  # raises on a contradiction
        assert divisions.exists(parsed.division_code)
        migrants += parsed.division_code != county.county_code
    assert 0.03 * N < migrants < 0.10 * N  # about 6 % issued in other counties


@pytest.mark.django_db
def test_ages_are_taken_at_the_start_of_the_year(county):
    newest = Patient.objects.order_by("-birth_date").values_list("birth_date", flat=True)[0]
    assert newest < date(YEAR, 1, 2)


@pytest.mark.django_db
def test_health_record_numbers_are_unique_and_well_formed(county):
    rows = list(Patient.objects.values_list("health_record_no", "address_code"))
    numbers = [n for n, _ in rows]
    assert len(set(numbers)) == len(numbers)
    villages = set(Division.objects.filter(kind="village").values_list("code", flat=True))
    for number, address in rows:
        assert len(number) == 17 and number.isdigit()
        assert number[:12] == address and address in villages
        assert number.startswith(county.county_code) and int(number[12:]) >= 1


@pytest.mark.django_db
def test_name_initials_are_those_of_the_kernel(county):
    for name, main, alt in Patient.objects.values_list("name", "name_initials",
                                                       "name_initials_alt"):
        readings = kernel_names.initials(name)
        assert main == readings[0]
        assert alt == (readings[1] if len(readings) > 1 else "")


@pytest.mark.django_db
def test_division_tree_and_institutions_follow_the_county_layout(county):
    townships = Division.objects.filter(kind="township")
    assert townships.count() >= 2
    for t in townships:
        assert len(t.code) == 9 and t.code.startswith(county.county_code)
        assert t.parent.code == county.county_code
        assert Institution.objects.filter(division_code=t.code, level="township").count() == 1
    villages = Division.objects.filter(kind="village")
    assert N / 2_000 <= villages.count() <= N / 1_000 + townships.count()
    for clinic in Institution.objects.filter(level="village").select_related("parent"):
        assert clinic.parent.level == "township"
        assert clinic.division_code.startswith(clinic.parent.division_code)
    kinds = set(Institution.objects.filter(level="county").values_list("kind", flat=True))
    assert {"general_hospital", "tcm_hospital", "maternal_child", "public_health"} <= kinds
    outside = Institution.objects.filter(level__in=("city", "provincial"))
    assert outside.exists() and not outside.filter(alliance__isnull=False).exists()
    assert not any(divisions.is_inside_county(i.division_code, county.county_code)
                   for i in outside)


@pytest.mark.django_db
def test_every_township_is_in_exactly_one_alliance(county):
    for t in Division.objects.filter(kind="township"):
        assert Grid.objects.filter(division=t).count() == 1


@pytest.mark.django_db
def test_every_township_centre_hosts_a_senior_lead_hospital_physician_all_year(county):
    for centre in Institution.objects.filter(level="township"):
        postings = Posting.objects.filter(institution=centre).select_related("practitioner")
        assert any(
            p.practitioner.institution_id == centre.alliance.lead_id
            and p.practitioner.title in ("chief", "associate_chief", "attending")
            and p.start_date == date(YEAR, 1, 1) and p.end_date == date(YEAR, 12, 31)
            for p in postings)


@pytest.mark.django_db
def test_age_and_sex_structure_is_that_of_a_rural_county(county):
    def born_after(years: int) -> date:
        return date(YEAR - years, 1, 1)

    children = Patient.objects.filter(birth_date__gt=born_after(15)).count() / N
    old = Patient.objects.filter(birth_date__lte=born_after(65)).count() / N
    males = Patient.objects.filter(sex="1").count()
    assert 0.155 <= children <= 0.205
    assert 0.165 <= old <= 0.215
    assert 0.98 <= males / (N - males) <= 1.14


def _visits() -> Q:
    return Q(encounter_class__in=("outpatient", "emergency"))


@pytest.mark.django_db
def test_utilisation_meets_the_targets(county):
    visits = Encounter.objects.filter(_visits())
    in_visits = visits.count()
    in_adm = Encounter.objects.filter(encounter_class="inpatient").count()
    out = Settlement.objects.filter(in_county=False)
    out_adm = out.filter(encounter_class="inpatient").count()
    out_visits = out.exclude(encounter_class="inpatient").count()
    # about 5–6 in-county visits per resident and 18 admissions per 100 (issue 2 §8)
    assert 5.0 <= in_visits / N <= 6.0
    assert 15 <= 100 * (in_adm + out_adm) / N <= 21
    # primary-care visit share between 50 % and 60 %
    primary = visits.filter(institution__level__in=PRIMARY).count()
    assert 0.50 <= primary / in_visits <= 0.60
    # 10–15 % of admissions happen outside the county
    assert 0.10 <= out_adm / (in_adm + out_adm) <= 0.15
    # in-county visit rate (indicators.md) around 85–92 %
    in_rate = (in_visits + in_adm) / (in_visits + in_adm + out_visits + out_adm)
    assert 0.85 <= in_rate <= 0.92


@pytest.mark.django_db
def test_chronic_disease_prevalence_and_their_extra_visits(county):
    adults = Patient.objects.filter(birth_date__lt=date(YEAR - 35, 1, 1))
    def having(code: str):
        return adults.filter(Q(encounters__primary_diagnosis__startswith=code)
                             | Q(encounters__diagnoses__code__startswith=code)).distinct()

    n_adults = adults.count()
    htn = having("I10")
    dm = having("E11")
    assert 0.20 <= htn.count() / n_adults <= 0.30
    assert 0.07 <= dm.count() / n_adults <= 0.13
    # hypertension patients visit more often than other adults
    htn_ids = set(htn.values_list("id", flat=True))
    per_patient = Counter(
        Encounter.objects.filter(_visits(), patient__in=adults).values_list("patient",
                                                                            flat=True))
    mean_htn = sum(per_patient[i] for i in htn_ids) / len(htn_ids)
    others = [i for i in adults.values_list("id", flat=True) if i not in htn_ids]
    assert mean_htn > 1.3 * sum(per_patient[i] for i in others) / len(others)


@pytest.mark.django_db
def test_respiratory_infections_dominate_village_visits_and_peak_in_winter(county):
    village = Encounter.objects.filter(institution__level="village")
    top = village.values("primary_diagnosis").annotate(n=Count("id")).order_by("-n")[0]
    assert top["primary_diagnosis"] == "J06.9"
    urti = Encounter.objects.filter(primary_diagnosis__startswith="J")
    winter = urti.filter(start__month__in=(1, 12)).count() / 2
    summer = urti.filter(start__month__in=(7, 8)).count() / 2
    assert winter > 1.3 * summer


@pytest.mark.django_db
def test_deliveries_are_admissions_of_women_20_to_40(county):
    deliveries = Encounter.objects.filter(primary_diagnosis__in=("O80", "O82"),
                                          encounter_class="inpatient").select_related(
        "patient")
    assert deliveries.exists()
    for e in deliveries:
        age = YEAR - e.patient.birth_date.year
        assert e.patient.sex == "2" and 19 <= age <= 41
        assert e.institution.level == "county"


@pytest.mark.django_db
def test_costs_add_up_to_the_cent_and_sit_at_their_level(county):
    means: dict[str, list[Decimal]] = {}
    for row in Encounter.objects.values_list("total", "drugs", "consumables", "examinations",
                                             "services", "insurance_paid",
                                             "institution__level", "encounter_class"):
        total, drugs, cons, exams, services, paid, level, cls = row
        assert drugs + cons + exams + services == total
        assert min(drugs, cons, exams, services, paid) >= 0 and paid <= total
        assert total == total.quantize(Decimal("0.01"))
        means.setdefault(f"{level}-{cls}", []).append(total)

    def mean(key: str) -> Decimal:
        return sum(means[key]) / len(means[key])

    assert 25 <= mean("village-outpatient") <= 65
    assert 70 <= mean("township-outpatient") <= 160
    assert 230 <= mean("county-outpatient") <= 420
    assert 2_300 <= mean("township-inpatient") <= 4_200
    assert 7_500 <= mean("county-inpatient") <= 12_500
    for s in Settlement.objects.select_related("encounter"):
        assert s.total == s.fund_paid + s.self_paid
        if s.in_county:
            assert s.encounter is not None and s.encounter.total == s.total
            assert s.fund_paid == s.encounter.insurance_paid
            assert s.encounter_ref == s.encounter.source_id
        else:
            assert s.encounter is None and s.institution.alliance_id is None


@pytest.mark.django_db
def test_settlements_cover_insured_admissions_only(county):
    admissions = Encounter.objects.filter(encounter_class="inpatient")
    insured = admissions.exclude(patient__scheme="none")
    assert Settlement.objects.filter(in_county=True).count() == insured.count()
    assert not Settlement.objects.filter(patient__scheme="none").exists()
    assert not Encounter.objects.filter(patient__scheme="none", insurance_paid__gt=0).exists()
    schemes = Counter(Patient.objects.values_list("scheme", flat=True))
    assert 0.88 <= schemes["resident"] / N <= 0.95


@pytest.mark.django_db
def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def test_every_diagnosis_fits_the_sex_and_age_of_its_resident(county):
    """No pregnancy for men, children or women over 49; no prostate disease for women; no
    perinatal codes after the first year (reference.py plausibility rules)."""
    wrong = []
    rows = [(e.primary_diagnosis, e.patient.sex, e.patient.birth_date, e.start.date())
            for e in Encounter.objects.select_related("patient")]
    rows += [(s.diagnosis, s.patient.sex, s.patient.birth_date, s.start_date)
             for s in Settlement.objects.select_related("patient")]
    for code, sex, birth, day in rows:
        age = _age_on(birth, day)
        male = sex == "1"
        if code.startswith(ref.FEMALE_ONLY_CODES) and male:
            wrong.append((code, sex, age))
        if code.startswith(ref.MALE_ONLY_CODES) and not male:
            wrong.append((code, sex, age))
        if code.startswith(ref.PREGNANCY_CODES) and not 15 <= age <= 50:
            wrong.append((code, sex, age))
        if code.startswith("P") and age > 1:
            wrong.append((code, sex, age))
    assert len(rows) > 10_000
    assert wrong == []


def test_source_ids_are_unique_and_marked_synth(county):
    assert not Encounter.objects.exclude(source_system=ref.SOURCE_SYSTEM).exists()
    assert Encounter.objects.values("source_id").distinct().count() == Encounter.objects.count()
    assert not Encounter.objects.filter(end__lt=F("start")).exists()
    assert not Encounter.objects.filter(start__year__lt=YEAR).exists()


@pytest.mark.django_db
@translation.override("en")
def test_refuses_a_database_with_residents_unless_appending(county):
    with pytest.raises(SynthError, match="already holds"):
        generate(100, 1, YEAR)
    with pytest.raises(SynthError, match="already in the database"):
        generate(100, 1, YEAR, append=True)
    with translation.override("zh-hans"), pytest.raises(CommandError) as err:
        call_command("synth", residents=100, no_progress=True)
    assert "居民" in str(err.value)


@pytest.mark.django_db
def test_append_adds_another_county_reusing_outside_hospitals(county):
    outside_before = Institution.objects.filter(level__in=("city", "provincial")).count()
    summary = generate(300, 1, YEAR, county="341126", append=True)
    assert summary.county_code == "341126"
    assert Patient.objects.count() == N + 300
    # 凤阳县 lies in the same prefecture and province: the outside hospitals are reused
    assert Institution.objects.filter(level__in=("city", "provincial")).count() == outside_before
    assert Division.objects.filter(code="341126", kind="county").exists()


