"""FHIR CareTeam, CarePlan, EpisodeOfCare and Observation over family-doctor and chronic care
(issue 6 item 8; ADR 0020): teams, registrations, contracts and the readings of follow-ups,
elderly checks and screening, read and searched as the existing resources are (scoped to
the caller's residents, audited); a HIS posts a blood-pressure panel or a fasting glucose
that is recorded as a screening reading under the screening rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.chronic.scene import ChronicScene, make_chronic_scene
from tests.fhir.conftest import Fhir
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.chronic import rules, services
from tiercare.chronic.models import (
    Contract,
    ElderlyCheck,
    FollowUp,
    Registration,
    ScreeningReading,
    ServicePackage,
    TeamMember,
)
from tiercare.fhir import structure

pytestmark = pytest.mark.django_db

BASE = "https://tiercare.org/fhir"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
SCOPE = "system/*.read system/Observation.write"


class Data:
    """The scene with chronic care recorded: 孙二 (66) signed with the team (basic and
    elderly packages) and is on the hypertension registry with one follow-up; 钱一 (40) is on
    the diabetes registry with one follow-up and had one screening reading; 周三 (70) had an
    elderly check."""

    def __init__(self, scene: ChronicScene) -> None:
        self.scene = scene
        today = scene.today
        self.contract = services.sign_contract(
            patient=scene.elderly, team=scene.team,
            packages=[package("basic"), package("elderly")],
            consent=Contract.Consent.SIGNATURE, by=scene.gp,
            start=today - dt.timedelta(days=30))
        self.hypertension = services.enrol(
            patient=scene.elderly, disease=rules.HYPERTENSION,
            source=Registration.Source.DIAGNOSIS, by=scene.gp,
            on=today - dt.timedelta(days=20), care_plan="氨氯地平5mg每日一次")
        self.bp_follow_up = services.record_follow_up(
            self.hypertension, by=scene.gp, date=today - dt.timedelta(days=2),
            values={"sbp": 150, "dbp": 95, "heart_rate": 78, "temperature": "36.5",
                    "weight_kg": "65.0", "height_cm": "165.0"}).follow_up
        self.diabetes = services.enrol(
            patient=scene.young, disease=rules.DIABETES, source=Registration.Source.DIAGNOSIS,
            by=scene.gp, on=today - dt.timedelta(days=20))
        self.glucose_follow_up = services.record_follow_up(
            self.diabetes, by=scene.gp, date=today - dt.timedelta(days=1),
            values={"fasting_glucose": "7.2"}).follow_up
        self.screening = services.record_screening(
            scene.young, by=scene.gp, date=today - dt.timedelta(days=3),
            values={"sbp": 142, "dbp": 92}).reading
        self.check = services.record_elderly_check(
            scene.old, by=scene.gp, date=today, items=["assessment", "examination"],
            values={"sbp": 138, "dbp": 85, "fasting_glucose": "5.6", "heart_rate": 72}).check


def package(code: str) -> ServicePackage:
    return ServicePackage.objects.get(alliance__isnull=True, code=code)


def chronic_care_in(world: Any) -> dict[str, Any]:
    """Chronic care in the FHIR tests' county (``world``): a team at the township centre led
    by 李医生 (given the township doctor's account), 张三 (born 1958) under contract with it
    and on the hypertension registry with one follow-up. Every chronic type then has a
    resource (the CapabilityStatement walk, the clients' parse of every served type)."""
    from tiercare.accounts.models import Role

    doctor = world.user(Role.DOCTOR)
    User.objects.filter(pk=doctor.pk).update(practitioner=world.doctor_practitioner)
    doctor.refresh_from_db()
    services.ensure_default_packages()  # a flushed database (live-server tests) has none
    today = services.today()
    team = services.create_team(institution=world.township, code="T001-FHIR",
                                name="城关镇家庭医生团队", lead=world.doctor_practitioner)
    contract = services.sign_contract(patient=world.patient, team=team,
                                      packages=[package("basic")],
                                      consent=Contract.Consent.SIGNATURE, by=doctor)
    registration = services.enrol(patient=world.patient, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS, by=doctor,
                                  on=today - dt.timedelta(days=10))
    follow_up = services.record_follow_up(registration, by=doctor,
                                          date=today - dt.timedelta(days=1),
                                          values={"sbp": 148, "dbp": 92,
                                                  "heart_rate": 76}).follow_up
    return {"doctor": doctor, "team": team, "contract": contract,
            "registration": registration, "follow_up": follow_up}


def new_observation(world: Any) -> dict[str, Any]:
    """A blood-pressure panel for 张三 as a HIS posts it, measured by 李医生 (who needs the
    township doctor's account: ``chronic_care_in``)."""
    from tiercare.accounts.models import Role

    User.objects.filter(pk=world.user(Role.DOCTOR).pk).update(
        practitioner=world.doctor_practitioner)
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{world.patient.pk}"},
        "effectiveDateTime": services.today().isoformat(),
        "performer": [{"reference": f"PractitionerRole/employment-"
                                    f"{world.doctor_practitioner.pk}"}],
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": code}]},
             "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM,
                               "code": "mm[Hg]"}}
            for code, value in (("8480-6", 132), ("8462-4", 84))],
    }


@pytest.fixture
def scene(db: Any) -> ChronicScene:
    return make_chronic_scene()


@pytest.fixture
def data(scene: ChronicScene) -> Data:
    return Data(scene)


@pytest.fixture
def township_his(client: Client, token: Any, scene: ChronicScene) -> Fhir:
    """The township health centre's system (it records readings for 李医生, the GP)."""
    return Fhir(client, token(SCOPE, institution=scene.base.world.township.code))


def person(user: User) -> Fhir:
    browser = Client()
    browser.force_login(user)
    return Fhir(browser, {})


def english(fhir: Fhir) -> None:
    fhir.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def assert_finds(fhir: Fhir, kind: str, queries: dict[str, list[str]]) -> None:
    """Each search (strict: every parameter known) finds exactly the ids given."""
    for params, expected in queries.items():
        response = fhir.get(f"{kind}?{params}", HTTP_PREFER="handling=strict")
        assert response.status_code == 200, (params, response.content)
        assert sorted(ids(response.json())) == sorted(expected), params


def read(fhir: Fhir, path: str) -> dict[str, Any]:
    response = fhir.get(path)
    assert response.status_code == 200, (path, response.content)
    resource = dict(response.json())
    structure.check(resource)
    return resource


def employment(user: User) -> dict[str, str]:
    return {"reference": f"PractitionerRole/employment-{user.practitioner_id}"}


def bp_panel(scene: ChronicScene, patient: Any = None, *, sbp: Any = 150, dbp: Any = 95,
             day: dt.date | None = None, by: Any = None, **changes: Any) -> dict[str, Any]:
    """A blood-pressure panel as the township centre's HIS posts it, measured by 李医生."""
    patient = patient if patient is not None else scene.young
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": f"Patient/{patient.pk}"},
        "effectiveDateTime": (day or scene.today).isoformat(),
        "performer": [by or employment(scene.gp)],
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
             "valueQuantity": {"value": sbp, "unit": "mmHg", "system": UCUM,
                               "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
             "valueQuantity": {"value": dbp, "unit": "mmHg", "system": UCUM,
                               "code": "mm[Hg]"}},
        ],
    }
    resource.update(changes)
    return resource


def glucose(scene: ChronicScene, value: Any = 6.1, **changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "14771-0"}]},
        "subject": {"reference": f"Patient/{scene.young.pk}"},
        "effectiveDateTime": f"{scene.today.isoformat()}T07:30:00+08:00",
        "performer": [employment(scene.gp)],
        "valueQuantity": {"value": value, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
    }
    resource.update(changes)
    return resource


# -- CareTeam ----------------------------------------------------------------------------------

def test_a_family_doctor_team_is_a_care_team(scene, township_his):
    world = scene.base.world
    team = read(township_his, f"CareTeam/{scene.team.pk}")
    assert team["status"] == "active" and team["name"] == "城关镇一组"
    assert team["identifier"] == [{"system": f"{BASE}/identifier/family-doctor-team",
                                   "value": "T001-A"}]
    assert team["category"][0]["coding"][0]["code"] == "LA28865-6"
    assert team["managingOrganization"] == [{
        "reference": f"Organization/institution-{world.township.pk}",
        "display": world.township.name}]
    members = {p["member"]["reference"]: p for p in team["participant"]}
    lead = members[f"PractitionerRole/employment-{world.doctor_practitioner.pk}"]
    assert lead["role"][0]["coding"][0]["code"] == "lead"
    assert lead["onBehalfOf"]["reference"] == f"Organization/institution-{world.township.pk}"
    village = members[f"PractitionerRole/employment-{scene.village_doctor.practitioner_id}"]
    assert village["role"][0]["coding"][0]["code"] == "village_doctor"
    assert village["onBehalfOf"]["reference"] == f"Organization/institution-{world.village.pk}"
    # the member's reference resolves
    assert township_his.get(village["member"]["reference"]).status_code == 200


def test_care_team_search(scene, township_his):
    world = scene.base.world
    other = services.create_team(institution=world.township, code="T001-B", name="城关镇二组")
    other.is_active = False
    other.save()
    services.end_membership(TeamMember.objects.get(
        team=scene.team, practitioner_id=scene.village_doctor.practitioner_id))
    team, stood_down = str(scene.team.pk), str(other.pk)
    queries = {
        "name=城关镇一": [team],
        "name:exact=城关镇二组": [stood_down],
        "name:contains=二组": [stood_down],
        "status=active": [team],
        "status=inactive": [stood_down],
        f"organization=Organization/institution-{world.township.pk}": [team, stood_down],
        f"organization=Organization/institution-{world.village.pk}": [],
        f"participant=Practitioner/{world.doctor_practitioner.pk}": [team],
        f"participant=PractitionerRole/employment-{world.doctor_practitioner.pk}": [team],
        # a member who left is no longer a participant
        f"participant=Practitioner/{scene.village_doctor.practitioner_id}": [],
        f"identifier={BASE}/identifier/family-doctor-team|T001-B": [stood_down],
        "category=http://loinc.org|LA28865-6": [team, stood_down],
        "_sort=-name": [team, stood_down],
    }
    assert_finds(township_his, "CareTeam", queries)
    assert ids(township_his.get("CareTeam?_sort=name").json()) == [team, stood_down]
    included = township_his.get(f"CareTeam?_id={team}&_include=CareTeam:participant").json()
    assert [e["resource"]["resourceType"] for e in included["entry"]] == [
        "CareTeam", "PractitionerRole"]


# -- CarePlan ----------------------------------------------------------------------------------

def test_a_registration_is_a_care_plan(data, township_his):
    scene = data.scene
    registration = Registration.objects.get(pk=data.hypertension.pk)
    plan = read(township_his, f"CarePlan/{registration.pk}")
    assert (plan["status"], plan["intent"]) == ("active", "plan")
    assert plan["subject"] == {"reference": f"Patient/{scene.elderly.pk}"}
    category = plan["category"][0]["coding"]
    assert category[0] == {"system": SNOMED, "code": "38341003",
                           "display": "Hypertensive disorder, systemic arterial"}
    assert category[1]["code"] == "hypertension"
    assert plan["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "I10"
    assert plan["period"] == {"start": registration.enrolled_on.isoformat()}
    assert plan["careTeam"] == [{"reference": f"CareTeam/{scene.team.pk}",
                                 "display": scene.team.name}]
    assert plan["author"]["reference"] == \
        f"Practitioner/{scene.base.world.doctor_practitioner.pk}"
    assert plan["description"] == "氨氯地平5mg每日一次"
    activity = plan["activity"][0]
    assert activity["detail"]["status"] == "scheduled"
    assert activity["detail"]["code"]["coding"][0]["code"] == "390906007"
    assert activity["detail"]["scheduledPeriod"] == {"start": registration.next_due.isoformat()}
    assert [p["reference"] for p in activity["detail"]["performer"]] == [
        f"CareTeam/{scene.team.pk}", plan["author"]["reference"],
        f"Organization/institution-{scene.base.world.township.pk}"]
    assert activity["progress"][0]["time"] == registration.last_follow_up_on.isoformat()
    # the diabetes plan carries the type 2 diabetes concept
    diabetes = read(township_his, f"CarePlan/{data.diabetes.pk}")
    assert diabetes["category"][0]["coding"][0]["code"] == "44054006"
    assert "careTeam" not in diabetes


def test_a_closed_registration_is_a_completed_plan(data, township_his):
    services.close_registration(data.diabetes, by=data.scene.gp,
                                reason=Registration.CloseReason.MOVED)
    english(township_his)
    plan = read(township_his, f"CarePlan/{data.diabetes.pk}")
    assert plan["status"] == "completed"
    assert plan["period"]["end"] == data.scene.today.isoformat()
    assert plan["activity"][0]["detail"]["status"] == "stopped"
    assert plan["note"] == [{"text": "Closed: Moved away"}]


def test_care_plan_search(data, township_his):
    scene = data.scene
    hypertension, diabetes = str(data.hypertension.pk), str(data.diabetes.pk)
    next_due = Registration.objects.get(pk=data.hypertension.pk).next_due
    queries = {
        f"patient=Patient/{scene.elderly.pk}": [hypertension],
        f"subject={scene.young.pk}": [diabetes],
        "status=active": [hypertension, diabetes],
        "status=completed": [],
        f"category={SNOMED}|38341003": [hypertension],
        "category=44054006": [diabetes],
        f"category={BASE}/CodeSystem/chronic-disease|t2d": [diabetes],
        "category=hypertension": [hypertension],
        "category=I10": [],
        f"care-team=CareTeam/{scene.team.pk}": [hypertension],
        f"performer=Practitioner/{scene.base.world.doctor_practitioner.pk}": [
            hypertension, diabetes],
        f"performer=CareTeam/{scene.team.pk}": [hypertension],
        f"performer=Organization/institution-{scene.base.world.township.pk}": [
            hypertension, diabetes],
        f"performer=Organization/institution-{scene.base.world.village.pk}": [],
        "performer=Organization/alliance-1": [],
        f"date=ge{(scene.today - dt.timedelta(days=20)).isoformat()}": [hypertension, diabetes],
        "date=lt2020": [],
        f"activity-date={next_due.isoformat()}": [hypertension],
        f"_id={diabetes}": [diabetes],
    }
    assert_finds(township_his, "CarePlan", queries)
    included = township_his.get(f"CarePlan?_id={hypertension}&_include=CarePlan:care-team"
                                f"&_include=CarePlan:patient").json()
    assert sorted(e["resource"]["resourceType"] for e in included["entry"]) == [
        "CarePlan", "CareTeam", "Patient"]


# -- EpisodeOfCare: the contract --------------------------------------------------------------

def test_a_contract_is_an_episode_of_care_with_the_team(data, township_his):
    scene, contract = data.scene, data.contract
    episode = read(township_his, f"EpisodeOfCare/{contract.pk}")
    assert episode["status"] == "active"
    assert episode["patient"] == {"reference": f"Patient/{scene.elderly.pk}"}
    assert episode["team"] == [{"reference": f"CareTeam/{scene.team.pk}",
                                "display": scene.team.name}]
    assert episode["managingOrganization"]["reference"] == \
        f"Organization/institution-{scene.base.world.township.pk}"
    assert episode["careManager"]["reference"] == \
        f"Practitioner/{scene.base.world.doctor_practitioner.pk}"
    assert episode["period"] == {"start": contract.start_date.isoformat(),
                                 "end": contract.end_date.isoformat()}
    types = [t["coding"][0]["code"] for t in episode["type"]]
    assert types == ["family-doctor-contract", "basic", "elderly"]
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in episode["extension"]}
    assert extensions["contract-consent"]["valueCoding"]["code"] == "signature"
    assert Decimal(str(extensions["contract-fee"]["valueMoney"]["value"])) == \
        contract.fee_resident
    assert episode["identifier"] == [{"system": f"{BASE}/identifier/family-doctor-contract",
                                      "value": str(contract.pk)}]


def test_renewal_is_planned_and_the_old_contract_finished(data, township_his):
    renewed = services.renew_contract(data.contract, by=data.scene.gp)
    old = read(township_his, f"EpisodeOfCare/{data.contract.pk}")
    new = read(township_his, f"EpisodeOfCare/{renewed.pk}")
    assert old["status"] == "finished"
    assert {e["url"].rsplit("/", 1)[1]: e for e in old["extension"]}[
        "contract-end-reason"]["valueCoding"]["code"] == "renewed"
    assert new["status"] == "planned"
    assert {e["url"].rsplit("/", 1)[1]: e for e in new["extension"]}[
        "contract-previous"]["valueReference"] == {
        "reference": f"EpisodeOfCare/{data.contract.pk}"}
    queries = {"status=planned": [str(renewed.pk)], "status=finished": [str(data.contract.pk)],
               "status=active": [], "status=cancelled": []}
    assert_finds(township_his, "EpisodeOfCare", queries)


def test_episode_of_care_search(data, township_his):
    scene, contract = data.scene, str(data.contract.pk)
    signed = services.sign_contract(patient=scene.old, team=scene.team,
                                    packages=[package("basic")],
                                    consent=Contract.Consent.TABLET, by=scene.gp)
    other = str(signed.pk)
    world = scene.base.world
    queries = {
        f"patient=Patient/{scene.elderly.pk}": [contract],
        "status=active": [contract, other],
        f"care-team=CareTeam/{scene.team.pk}": [contract, other],
        f"organization=Organization/institution-{world.township.pk}": [contract, other],
        f"organization=Organization/institution-{world.village.pk}": [],
        f"care-manager=Practitioner/{world.doctor_practitioner.pk}": [contract, other],
        "type=elderly": [contract],
        f"type={BASE}/CodeSystem/service-package|basic": [contract, other],
        "type=family-doctor-contract": [contract, other],
        f"date={scene.today.isoformat()}": [contract, other],
        f"date=lt{scene.today.isoformat()}": [contract],
        "date=gt2100": [],
        f"identifier={BASE}/identifier/family-doctor-contract|{other}": [other],
        "_sort=-date": [other, contract],
    }
    assert_finds(township_his, "EpisodeOfCare", queries)
    included = township_his.get(f"EpisodeOfCare?_id={contract}"
                                "&_include=EpisodeOfCare:care-team").json()
    assert [e["resource"]["resourceType"] for e in included["entry"]] == [
        "EpisodeOfCare", "CareTeam"]


# -- Observation: reading ---------------------------------------------------------------------

def test_a_follow_up_gives_one_observation_per_measurement(data, township_his):
    scene, follow_up = data.scene, data.bp_follow_up
    bp = read(township_his, f"Observation/followup-bp-{follow_up.pk}")
    assert bp["code"]["coding"][0] == {"system": LOINC, "code": "85354-9",
                                       "display": "Blood pressure panel with all children "
                                                  "optional"}
    assert bp["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    assert bp["category"][0]["coding"][0]["code"] == "vital-signs"
    assert bp["status"] == "final" and bp["effectiveDateTime"] == follow_up.date.isoformat()
    assert bp["subject"] == {"reference": f"Patient/{scene.elderly.pk}"}
    assert bp["basedOn"] == [{"reference": f"CarePlan/{data.hypertension.pk}"}]
    assert {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]} == {
        "8480-6": {"value": 150, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
        "8462-4": {"value": 95, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}}
    assert "valueQuantity" not in bp
    performers = [p["reference"] for p in bp["performer"]]
    assert performers == [f"Practitioner/{scene.base.world.doctor_practitioner.pk}",
                          f"Organization/institution-{scene.base.world.township.pk}"]
    expected = {"heart-rate": ("8867-4", 78, "/min"), "temperature": ("8310-5", 36.5, "Cel"),
                "weight": ("29463-7", 65, "kg"), "height": ("8302-2", 165, "cm"),
                "bmi": ("39156-5", float(follow_up.bmi), "kg/m2")}
    for key, (code, value, unit) in expected.items():
        resource = read(township_his, f"Observation/followup-{key}-{follow_up.pk}")
        assert resource["code"]["coding"][0]["code"] == code, key
        assert resource["valueQuantity"] == {"value": value, "unit": unit, "system": UCUM,
                                             "code": unit}, key
    # a measurement that was not taken has no Observation
    assert township_his.get(f"Observation/followup-glucose-{follow_up.pk}").status_code == 404
    glucose_ = read(township_his, f"Observation/followup-glucose-{data.glucose_follow_up.pk}")
    assert glucose_["code"]["coding"][0]["code"] == "14771-0"
    assert glucose_["category"][0]["coding"][0]["code"] == "laboratory"
    assert glucose_["valueQuantity"] == {"value": 7.2, "unit": "mmol/L", "system": UCUM,
                                         "code": "mmol/L"}


def test_elderly_checks_and_screening_readings_are_observations(data, township_his):
    scene = data.scene
    check = read(township_his, f"Observation/check-bp-{data.check.pk}")
    assert check["subject"] == {"reference": f"Patient/{scene.old.pk}"}
    assert "basedOn" not in check
    assert read(township_his, f"Observation/check-glucose-{data.check.pk}")[
        "valueQuantity"]["value"] == 5.6
    screening = read(township_his, f"Observation/screening-bp-{data.screening.pk}")
    assert screening["subject"] == {"reference": f"Patient/{scene.young.pk}"}
    assert screening["performer"][0]["reference"] == \
        f"Practitioner/{scene.base.world.doctor_practitioner.pk}"
    # the screening copy the elderly check made of its readings is not served twice
    copy = ScreeningReading.objects.get(patient=scene.old)
    assert township_his.get(f"Observation/screening-bp-{copy.pk}").status_code == 404
    everything = ids(township_his.get(f"Observation?patient=Patient/{scene.old.pk}").json())
    assert sorted(everything) == sorted(f"check-{key}-{data.check.pk}"
                                        for key in ("bp", "glucose", "heart-rate"))


def test_observation_search(data, township_his):
    scene = data.scene
    bp, follow_up = data.bp_follow_up.pk, data.glucose_follow_up.pk
    elderly_all = [f"followup-{k}-{bp}"
                   for k in ("bp", "heart-rate", "temperature", "weight", "height", "bmi")]
    yesterday = (scene.today - dt.timedelta(days=1)).isoformat()
    queries = {
        f"patient=Patient/{scene.elderly.pk}": elderly_all,
        f"subject=Patient/{scene.young.pk}&code={LOINC}|14771-0": [
            f"followup-glucose-{follow_up}"],
        f"patient=Patient/{scene.young.pk}&code=85354-9": [f"screening-bp-{data.screening.pk}"],
        f"code={LOINC}|85354-9": [f"followup-bp-{bp}", f"check-bp-{data.check.pk}",
                                  f"screening-bp-{data.screening.pk}"],
        "code=8480-6": [],
        "component-code=8480-6&date=lt" + yesterday: [f"followup-bp-{bp}",
                                                     f"screening-bp-{data.screening.pk}"],
        "category=laboratory": [f"followup-glucose-{follow_up}",
                                f"check-glucose-{data.check.pk}"],
        f"category=vital-signs&patient={scene.young.pk}": [f"screening-bp-{data.screening.pk}"],
        f"date={yesterday}": [f"followup-glucose-{follow_up}"],
        f"based-on=CarePlan/{data.diabetes.pk}": [f"followup-glucose-{follow_up}"],
        f"_id=followup-bp-{bp}": [f"followup-bp-{bp}"],
        "_id=followup-bp-x": [],
    }
    assert_finds(township_his, "Observation", queries)
    # sorted by day across the sources, newest first
    newest = ids(township_his.get("Observation?code=85354-9&_sort=-date").json())
    assert newest == [f"check-bp-{data.check.pk}", f"followup-bp-{bp}",
                      f"screening-bp-{data.screening.pk}"]
    # paging across the parts gives every match once
    seen: list[str] = []
    url = "Observation?_count=4&_sort=date"
    while url:
        bundle = township_his.get(url).json()
        seen += ids(bundle)
        url = next((link["url"].split("/fhir/", 1)[1] for link in bundle["link"]
                    if link["relation"] == "next"), "")
    assert len(seen) == len(set(seen)) == 6 + 1 + 1 + 3
    total = township_his.get("Observation?_count=0").json()["total"]
    assert total == len(seen)
    included = township_his.get(f"Observation?_id=followup-bp-{bp}"
                                "&_include=Observation:based-on").json()
    assert [e["resource"]["resourceType"] for e in included["entry"]] == [
        "Observation", "CarePlan"]


# -- scope and audit ---------------------------------------------------------------------------

def test_residents_outside_the_callers_scope_are_not_found(data, token):
    scene = data.scene
    world = scene.base.world
    outsiders = [Fhir(Client(), token(SCOPE, institution=world.other_township.code)),
                 Fhir(Client(), token(SCOPE, alliance=world.other_alliance.code)),
                 person(scene.base.other_office)]
    paths = [f"CarePlan/{data.hypertension.pk}", f"EpisodeOfCare/{data.contract.pk}",
             f"Observation/followup-bp-{data.bp_follow_up.pk}",
             f"Observation/screening-bp-{data.screening.pk}",
             f"Observation/check-bp-{data.check.pk}"]
    for outsider in outsiders:
        for path in paths:
            answer = outsider.get(path)
            assert answer.status_code == 404, path
            assert answer.json()["resourceType"] == "OperationOutcome"
        for kind in ("CarePlan", "EpisodeOfCare", "Observation"):
            assert ids(outsider.get(kind).json()) == [], kind
        # teams are registry data, seen by everyone
        assert outsider.get(f"CareTeam/{scene.team.pk}").status_code == 200
    # and a resident of the other alliance is outside the township system's scope
    stranger = world.stranger
    his = Fhir(Client(), token(SCOPE, institution=world.township.code))
    answer = his.post("Observation", bp_panel(scene, stranger))
    assert answer.status_code == 422
    assert answer.json()["issue"][0]["expression"] == ["Observation.subject"]
    assert not ScreeningReading.objects.filter(patient=stranger).exists()


def test_reads_and_searches_are_audited_as_residents_records(data, township_his):
    scene = data.scene
    township_his.get(f"CarePlan/{data.hypertension.pk}")
    township_his.get(f"EpisodeOfCare/{data.contract.pk}")
    township_his.get(f"Observation/followup-bp-{data.bp_follow_up.pk}")
    township_his.get(f"Observation/screening-bp-{data.screening.pk}")
    township_his.get(f"Observation?patient=Patient/{scene.elderly.pk}")
    township_his.get(f"CarePlan?patient=Patient/{scene.elderly.pk}")
    township_his.get(f"EpisodeOfCare?patient=Patient/{scene.elderly.pk}")
    views = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                      username__startswith="token:")
    found = {(e.object_type, e.object_id, e.patient_id, e.summary) for e in views}
    assert found == {
        ("chronic.Registration", str(data.hypertension.pk), scene.elderly.pk,
         f"FHIR CarePlan {data.hypertension.pk}"),
        ("chronic.Contract", str(data.contract.pk), scene.elderly.pk,
         f"FHIR EpisodeOfCare {data.contract.pk}"),
        ("chronic.FollowUp", str(data.bp_follow_up.pk), scene.elderly.pk,
         f"FHIR Observation followup-bp-{data.bp_follow_up.pk}"),
        ("chronic.ScreeningReading", str(data.screening.pk), scene.young.pk,
         f"FHIR Observation screening-bp-{data.screening.pk}"),
    }
    searches = AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH,
                                         username__startswith="token:")
    assert sorted(e.summary.split("?")[0] for e in searches) == [
        "FHIR CarePlan", "FHIR EpisodeOfCare", "FHIR Observation"]
    # a team lists no residents: its reads are not audited
    township_his.get(f"CareTeam/{scene.team.pk}")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     username__startswith="token:").count() == len(found)


# -- Observation: create ----------------------------------------------------------------------

def test_a_his_posts_a_blood_pressure_panel_as_a_screening_reading(scene, township_his):
    answer = township_his.post("Observation", bp_panel(scene, sbp=138, dbp=86))
    assert answer.status_code == 201, answer.content
    created = answer.json()
    structure.check(created)
    reading = ScreeningReading.objects.get(patient=scene.young)
    assert (reading.sbp, reading.dbp, reading.fasting_glucose) == (138, 86, None)
    assert (reading.date, reading.recorded_by) == (scene.today, scene.gp)
    assert reading.institution == scene.base.world.township
    assert created["id"] == f"screening-bp-{reading.pk}"
    assert answer["Location"].endswith(f"/fhir/Observation/screening-bp-{reading.pk}")
    assert township_his.get(f"Observation/{created['id']}").json()["component"] == \
        created["component"]
    # audited for the clinician (the service) and for the system that sent it
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATE, user=scene.gp,
                                     object_type="chronic.ScreeningReading",
                                     object_id=str(reading.pk)).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATE,
                                     object_type="chronic.ScreeningReading",
                                     object_id=str(reading.pk), patient_id=scene.young.pk,
                                     username__startswith="token:").exists()


def test_a_fasting_glucose_is_recorded_in_mmol_per_litre(scene, township_his):
    answer = township_his.post("Observation", glucose(scene, 6.4))
    assert answer.status_code == 201, answer.content
    reading = ScreeningReading.objects.get(patient=scene.young)
    assert reading.fasting_glucose == Decimal("6.4") and reading.sbp is None
    assert answer.json()["id"] == f"screening-glucose-{reading.pk}"
    assert answer.json()["category"][0]["coding"][0]["code"] == "laboratory"


def test_three_raised_readings_on_different_days_enrol_the_resident(scene, township_his):
    for days in (20, 10, 0):
        answer = township_his.post("Observation", bp_panel(
            scene, day=scene.today - dt.timedelta(days=days)))
        assert answer.status_code == 201, answer.content
    registration = Registration.objects.get(patient=scene.young)
    assert registration.disease == rules.HYPERTENSION
    assert registration.source == Registration.Source.SCREENING
    plans = township_his.get(f"CarePlan?patient=Patient/{scene.young.pk}&status=active").json()
    assert ids(plans) == [str(registration.pk)]


def test_if_none_exist_makes_a_push_idempotent(scene, township_his):
    condition = f"patient=Patient/{scene.young.pk}&code=85354-9&date={scene.today.isoformat()}"
    first = township_his.post("Observation", bp_panel(scene), HTTP_IF_NONE_EXIST=condition)
    again = township_his.post("Observation", bp_panel(scene), HTTP_IF_NONE_EXIST=condition)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert ScreeningReading.objects.filter(patient=scene.young).count() == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"sbp": 400, "dbp": 20}, "400 mmHg is not a possible systolic pressure (expected 50–300 "
                              "mmHg); check the value."),
    ({"sbp": 120, "dbp": 130}, "The diastolic pressure must be lower than the systolic "
                               "pressure."),
    ({"sbp": 121.5}, "The systolic pressure must be a whole number."),
    ({"day": "future"}, "is in the future."),
])
def test_impossible_readings_are_400_with_the_services_message(scene, township_his, changes,
                                                               message):
    if changes.pop("day", None):
        changes["day"] = scene.today + dt.timedelta(days=1)
    english(township_his)
    answer = township_his.post("Observation", bp_panel(scene, **changes))
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert message in body["issue"][0]["diagnostics"]
    assert not ScreeningReading.objects.exists()


def test_a_missing_pressure_or_an_impossible_glucose_is_400(scene, township_his):
    english(township_his)
    body = bp_panel(scene)
    body["component"] = body["component"][:1]
    answer = township_his.post("Observation", body)
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["diagnostics"] == \
        "Enter the diastolic pressure; this reading needs it."
    glucose_ = township_his.post("Observation", glucose(scene, 90))
    assert glucose_.status_code == 400
    assert glucose_.json()["issue"][0]["diagnostics"].startswith(
        "90 mmol/L is not a possible fasting glucose")
    assert not ScreeningReading.objects.exists()


@pytest.mark.parametrize(("changes", "where"), [
    ({"code": {"coding": [{"system": LOINC, "code": "8867-4"}]}}, "Observation.code"),
    ({"status": "preliminary"}, "Observation.status"),
    ({"subject": {"reference": "Patient/999999"}}, "Observation.subject"),
    ({"subject": {"reference": "Group/1"}}, "Observation.subject"),
    ({"effectiveDateTime": None}, "Observation.effectiveDateTime"),
    ({"performer": []}, "Observation.performer"),
    ({"component": [{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                     "valueQuantity": {"value": 150, "unit": "kPa"}}]},
     "Observation.component[0].valueQuantity"),
])
def test_resources_that_are_not_a_reading_are_422(scene, township_his, changes, where):
    body = bp_panel(scene, **changes)
    if body.get("effectiveDateTime") is None:
        del body["effectiveDateTime"]
    answer = township_his.post("Observation", body)
    assert answer.status_code == 422, answer.content
    assert answer.json()["issue"][0]["expression"] == [where]
    assert answer.json()["issue"][0]["diagnostics"]
    assert not ScreeningReading.objects.exists()


def test_a_glucose_in_mg_per_dl_is_refused(scene, township_his):
    body = glucose(scene, 110)
    body["valueQuantity"] = {"value": 110, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}
    answer = township_his.post("Observation", body)
    assert answer.status_code == 422
    assert answer.json()["issue"][0]["expression"] == ["Observation.valueQuantity"]


def test_who_may_record_a_reading(scene, township_his, token):
    world = scene.base.world
    # the township system cannot record for the county hospital's doctor
    foreign = township_his.post("Observation", bp_panel(
        scene, by=employment(scene.base.county_doctor)))
    assert foreign.status_code == 403
    # a token without write on Observation
    reader = Fhir(Client(), token("system/*.read", institution=world.township.code))
    assert reader.post("Observation", bp_panel(scene)).status_code == 403
    assert not ScreeningReading.objects.exists()


def test_a_transaction_records_several_readings_or_none(scene, township_his):
    def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "POST", "url": "Observation"}}
            for r in resources]}

    week_ago = scene.today - dt.timedelta(days=7)
    answer = township_his.post("", bundle(bp_panel(scene, day=week_ago), glucose(scene)))
    assert answer.status_code == 200, answer.content
    assert [e["response"]["status"] for e in answer.json()["entry"]] == [
        "201 Created", "201 Created"]
    assert ScreeningReading.objects.filter(patient=scene.young).count() == 2
    # one impossible reading: the whole transaction is refused
    refused = township_his.post("", bundle(bp_panel(scene), bp_panel(scene, sbp=20, dbp=10)))
    assert refused.status_code == 400, refused.content
    assert ScreeningReading.objects.filter(patient=scene.young).count() == 2


def test_a_pharmacist_named_as_performer_is_refused_by_the_service(scene, township_his):
    from tiercare.accounts.models import Role
    from tiercare.accounts.services import create_user
    from tiercare.registry.models import Practitioner

    nurse_record = Practitioner.objects.get(code="P-T001-2")
    create_user("t_clerk", "x-Pass-12345", Role.PHARMACIST,
                institution=scene.base.world.township, practitioner=nurse_record)
    english(township_his)
    answer = township_his.post("Observation", bp_panel(
        scene, by={"reference": f"Practitioner/{nurse_record.pk}"}))
    assert answer.status_code == 403
    assert answer.json()["issue"][0]["diagnostics"].startswith("Only doctors and nurses")


# -- no input makes Observation create answer 5xx ----------------------------------------------

FUZZ = hypothesis_settings(max_examples=60, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(
        ["85354-9", "14771-0", "8480-6", "8462-4", "mm[Hg]", "mmol/L", LOINC, UCUM, "final",
         "Patient/1", "Practitioner/1", "PractitionerRole/employment-1", "2025-03-01",
         "2999-01-01T08:00:00+08:00"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["reference", "coding", "system", "code", "value", "unit", "valueQuantity", "text"]),
        inner, max_size=3),
    max_leaves=10)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(
    ["status", "code", "subject", "effectiveDateTime", "performer", "component",
     "valueQuantity", "category", "effectivePeriod"]), json_values, max_size=3))
def test_any_observation_is_answered_without_a_server_error(scene, township_his, changes):
    answer = township_his.post("Observation", {**bp_panel(scene), **changes})
    assert answer.status_code < 500, answer.content[:500]
    assert answer.json()["resourceType"] in ("Observation", "OperationOutcome")


def test_the_capability_statement_lists_the_new_types(client):
    resources = {r["type"]: r for r in client.get("/fhir/metadata").json()["rest"][0][
        "resource"]}
    for kind in ("CareTeam", "CarePlan", "EpisodeOfCare"):
        assert {i["code"] for i in resources[kind]["interaction"]} == {"read", "search-type"}
    observation = resources["Observation"]
    assert {i["code"] for i in observation["interaction"]} == {"read", "search-type", "create"}
    assert {"patient", "code", "date", "category"} <= {
        p["name"] for p in observation["searchParam"]}


def test_ids_are_stable_after_the_record_changes(data, township_his):
    before = read(township_his, f"Observation/followup-bp-{data.bp_follow_up.pk}")
    FollowUp.objects.filter(pk=data.bp_follow_up.pk).update(note="复查")
    ElderlyCheck.objects.filter(pk=data.check.pk).update(findings="血压正常高值")
    after = read(township_his, f"Observation/followup-bp-{data.bp_follow_up.pk}")
    assert before["id"] == after["id"] and before["component"] == after["component"]
    assert read(township_his, f"Observation/check-bp-{data.check.pk}")["id"] == \
        f"check-bp-{data.check.pk}"


def test_a_group_export_holds_its_residents_chronic_care(data, fhir, settings, tmp_path):
    from tests.fhir.test_export import files, finished

    settings.DATA_DIR = tmp_path
    world = data.scene.base.world
    own = files(fhir, finished(fhir, f"Group/alliance-{world.alliance.pk}/$export"))
    assert [r["id"] for r in own["EpisodeOfCare"]] == [str(data.contract.pk)]
    assert sorted(r["id"] for r in own["CarePlan"]) == sorted(
        str(r.pk) for r in (data.hypertension, data.diabetes))
    assert len(own["Observation"]) == 6 + 1 + 1 + 3
    assert "CareTeam" not in own  # registry data, not a resident's record
    other = files(fhir, finished(fhir, f"Group/alliance-{world.other_alliance.pk}/$export"))
    assert not {"CarePlan", "EpisodeOfCare", "Observation"} & set(other)
    # the export's audit event counts the residents whose plans left
    exported = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT,
                                      object_type="chronic.Registration",
                                      summary__endswith="CarePlan: 2")
    assert exported.changes["residents"] == 2


def test_a_doctor_signed_in_records_a_reading_and_a_pharmacist_may_not(scene):
    doctor = person(scene.gp)
    response = doctor.post("Observation", bp_panel(scene))
    assert response.status_code == 201, response.content
    assert ScreeningReading.objects.get().recorded_by == scene.gp
    pharmacist = person(scene.base.world.user(Role.PHARMACIST))
    assert pharmacist.post("Observation", bp_panel(scene)).status_code == 403
    assert ScreeningReading.objects.count() == 1
