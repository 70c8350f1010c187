"""FHIR Bulk Data ``$export`` (issue 3 "Bulk"; HL7 FHIR Bulk Data Access IG v2): a regulator's
system kicks off an export, polls its status, reads the manifest and downloads NDJSON files
holding exactly what reads and searches give it; group exports hold one alliance's
residents; only the caller that started a job sees it; every export is in the audit trail.

The task runs in the test itself (``run_export.call``), except in the last test, which
enqueues it in the database and runs one pass of the worker (``tiercare worker --batch``)."""

from __future__ import annotations

import datetime as dt
import json
import signal
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from tests.fhir.conftest import Fhir
from tiercare import cli
from tiercare.accounts.models import AuditEvent
from tiercare.fhir import export, structure
from tiercare.fhir.mapping import mapper_for
from tiercare.fhir.models import ExportJob

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async", "HTTP_ACCEPT": "application/fhir+json"}
COMPARTMENT = {"Patient", "Encounter", "Condition", "ExplanationOfBenefit", "ServiceRequest",
               "Task"}


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    """Export files of each test in its own directory."""
    settings.DATA_DIR = tmp_path
    return tmp_path / "exports"


def kick_off(fhir: Fhir, path: str = "$export", **extra) -> str:
    response = fhir.get(path, **{**ASYNC, **extra})
    assert response.status_code == 202, response.content
    location = response["Content-Location"]
    assert location.startswith("http://testserver/fhir/$export-status/")
    return location.split("/fhir/", 1)[1]


def job_id(status: str) -> str:
    return status.rsplit("/", 1)[1]


def finished(fhir: Fhir, path: str = "$export", **extra) -> dict:
    """Kick off, run the job, and answer the manifest."""
    status = kick_off(fhir, path, **extra)
    export.run_export.call(job_id(status))
    response = fhir.get(status)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def lines(fhir: Fhir, url: str) -> list[dict]:
    response = fhir.get(url.split("/fhir/", 1)[1], HTTP_ACCEPT="application/fhir+ndjson")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    body = b"".join(response.streaming_content).decode()  # read to the end: closes the file
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def files(fhir: Fhir, manifest: dict) -> dict[str, list[dict]]:
    return {entry["type"]: lines(fhir, entry["url"]) for entry in manifest["output"]}


def subjects(resource: dict) -> set[str]:
    """The residents a resource is about (its own id for a Patient)."""
    if resource["resourceType"] == "Patient":
        return {f"Patient/{resource['id']}"}
    ref = resource.get("subject") or resource.get("patient") or resource.get("for") or {}
    return {ref["reference"]} if ref else set()


def total(fhir: Fhir, resource_type: str) -> int:
    return fhir.get(f"{resource_type}?_count=0").json()["total"]


# -- kick-off and status --------------------------------------------------------------------

def test_kick_off_answers_202_with_the_status_address_and_the_status_says_queued(fhir):
    status = kick_off(fhir)
    response = fhir.get(status)
    assert response.status_code == 202
    assert response["X-Progress"] == "queued" and response["Retry-After"].isdigit()
    job = ExportJob.objects.get(pk=job_id(status))
    assert job.status == ExportJob.Status.QUEUED and job.kind == ExportJob.Kind.SYSTEM


def test_the_manifest_lists_a_file_per_type_with_the_counts_searches_give(world, fhir):
    manifest = finished(fhir)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"] == "http://testserver/fhir/$export"
    transaction_time = dt.datetime.fromisoformat(manifest["transactionTime"])
    assert transaction_time <= timezone.now()
    counts = {entry["type"]: entry["count"] for entry in manifest["output"]}
    served = {m.resource_type for m in export.all_mappers()}
    assert set(counts) <= served
    for resource_type in served:  # a type without resources has no file
        assert counts.get(resource_type, 0) == total(fhir, resource_type), resource_type
    assert counts["Patient"] == 2 and counts["Group"] == 2


def test_each_line_is_what_a_read_answers_and_passes_the_structure_check(world, fhir):
    manifest = finished(fhir)
    for entry in manifest["output"]:
        resources = lines(fhir, entry["url"])
        assert len(resources) == entry["count"]
        for resource in resources:
            assert resource["resourceType"] == entry["type"]
            structure.check(resource)
            read = fhir.get(f"{entry['type']}/{resource['id']}")
            assert read.json() == resource, (entry["type"], resource["id"])


def test_type_limits_the_export(world, fhir):
    manifest = finished(fhir, "$export?_type=Patient")
    assert [entry["type"] for entry in manifest["output"]] == ["Patient"]
    assert manifest["output"][0]["count"] == total(fhir, "Patient")
    both = finished(fhir, "$export?_type=Patient,Encounter&_outputFormat=ndjson")
    assert [entry["type"] for entry in both["output"]] == ["Patient", "Encounter"]


def test_since_in_the_future_exports_nothing(world, fhir):
    manifest = finished(fhir, "$export?_since=" + quote("2999-01-01T00:00:00+08:00"))
    assert manifest["output"] == []
    # the zone's "+" sent unencoded arrives as a space and is read as meant
    assert finished(fhir, "$export?_since=2999-01-01T00:00:00+08:00")["output"] == []


def test_since_keeps_what_changed_after_it(world, fhir):
    since = timezone.now()
    world.stranger.phone = "13900002222"
    world.stranger.save()
    manifest = finished(fhir, "$export?_type=Patient,Encounter&_since="
                        + quote(since.isoformat()))
    exported = files(fhir, manifest)
    assert list(exported) == ["Patient"]
    assert [p["id"] for p in exported["Patient"]] == [str(world.stranger.pk)]


def test_a_token_without_a_type_exports_what_its_scopes_read(client, world, token):
    reader = Fhir(client, token("system/Patient.read"))
    manifest = finished(reader)
    assert [entry["type"] for entry in manifest["output"]] == ["Patient"]
    refused = reader.get("$export?_type=Encounter", **ASYNC)
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"


# -- group and scope ------------------------------------------------------------------------

def test_the_group_is_the_residents_of_an_alliances_grid(world, fhir):
    group = fhir.get(f"Group/alliance-{world.alliance.pk}").json()
    structure.check(group)
    assert (group["type"], group["actual"], group["quantity"]) == ("person", True, 1)
    assert group["managingEntity"]["reference"] == f"Organization/alliance-{world.alliance.pk}"
    assert group["name"] == world.alliance.name
    found = fhir.get(f"Group?managing-entity=Organization/alliance-{world.other_alliance.pk}")
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [
        f"alliance-{world.other_alliance.pk}"]


def test_a_group_export_holds_that_alliances_residents_and_their_records(world, fhir):
    manifest = finished(fhir, f"Group/alliance-{world.other_alliance.pk}/$export")
    assert manifest["request"].endswith(f"/fhir/Group/alliance-{world.other_alliance.pk}/$export")
    exported = files(fhir, manifest)
    assert set(exported) <= COMPARTMENT and {"Patient", "Encounter", "Condition"} <= set(exported)
    stranger = {f"Patient/{world.stranger.pk}"}
    for resources in exported.values():
        for resource in resources:
            assert subjects(resource) == stranger, resource
    own = files(fhir, finished(fhir, f"Group/alliance-{world.alliance.pk}/$export"))
    assert [p["id"] for p in own["Patient"]] == [str(world.patient.pk)]
    assert len(own["ExplanationOfBenefit"]) == 1


def test_a_group_export_holds_its_residents_referrals(world, fhir):
    from tiercare.accounts.models import Role
    from tiercare.referrals import services as referrals

    referral = referrals.create_referral(
        patient=world.patient, direction="up", diagnosis="I10", reason="血压控制不佳",
        by=world.user(Role.DOCTOR), receiving_institution=world.county_hospital)
    own = files(fhir, finished(fhir, f"Group/alliance-{world.alliance.pk}/$export"))
    assert [r["id"] for r in own["ServiceRequest"]] == [str(referral.pk)]
    assert [t["id"] for t in own["Task"]] == [str(referral.pk)]
    for resource in own["ServiceRequest"] + own["Task"]:
        assert subjects(resource) == {f"Patient/{world.patient.pk}"}
    other = files(fhir, finished(fhir, f"Group/alliance-{world.other_alliance.pk}/$export"))
    assert "ServiceRequest" not in other and "Task" not in other


def test_a_group_export_takes_only_the_patient_compartment(world, fhir):
    response = fhir.get(f"Group/alliance-{world.alliance.pk}/$export?_type=Organization",
                        **ASYNC)
    assert response.status_code == 400
    assert fhir.get("Group/alliance-999999/$export", **ASYNC).status_code == 404


def test_a_township_systems_export_leaves_out_other_alliances_residents(client, world, token):
    township = Fhir(client, token("system/*.read", institution="T001"))
    exported = files(township, finished(township))
    everyone = set().union(*(subjects(r) for rs in exported.values() for r in rs))
    assert everyone == {f"Patient/{world.patient.pk}"}
    other = finished(township, f"Group/alliance-{world.other_alliance.pk}/$export")
    assert other["output"] == []


# -- who sees a job -------------------------------------------------------------------------

def test_another_caller_cannot_see_the_status_or_the_files(client, world, fhir, token):
    status = kick_off(fhir)
    other = Fhir(client, token())
    assert other.get(status).status_code == 404
    export.run_export.call(job_id(status))
    url = fhir.get(status).json()["output"][0]["url"].split("/fhir/", 1)[1]
    for caller in (other, Fhir(client, {})):
        if not caller.headers:
            client.force_login(world.user("regulator"))
        assert caller.get(status).status_code == 404
        refused = caller.get(url)
        assert refused.status_code == 404
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert caller.client.delete(f"/fhir/{status}", **caller.headers).status_code in (
            403, 404)  # a session's DELETE without its CSRF token is refused before
    assert fhir.get(url).status_code == 200


def test_a_person_exports_under_their_session_and_sees_their_own_job(client, world, fhir):
    client.force_login(world.user("regulator"))
    person = Fhir(client, {})
    manifest = finished(person, "$export?_type=Patient")
    assert manifest["output"][0]["count"] == 2
    job = ExportJob.objects.get()
    assert job.user == world.user("regulator") and job.token is None
    assert fhir.get(f"$export-status/{job.pk}").status_code == 404
    # an alliance administrator's session sees only the grid's residents
    client.force_login(world.user("alliance_admin"))
    mine = finished(Fhir(client, {}), "$export?_type=Patient")
    assert [p["id"] for p in lines(Fhir(client, {}), mine["output"][0]["url"])] == [
        str(world.patient.pk)]


def test_delete_removes_the_job_and_its_files(world, fhir, exports_dir):
    status = kick_off(fhir)
    export.run_export.call(job_id(status))
    url = fhir.get(status).json()["output"][0]["url"].split("/fhir/", 1)[1]
    assert (exports_dir / job_id(status)).is_dir()
    response = fhir.client.delete(f"/fhir/{status}", **fhir.headers)
    assert response.status_code == 202
    assert not (exports_dir / job_id(status)).exists()
    assert not ExportJob.objects.exists()
    assert fhir.get(status).status_code == 404 and fhir.get(url).status_code == 404


def test_exports_older_than_the_retention_are_removed_at_the_next_kick_off(
        world, fhir, exports_dir, settings):
    import datetime as dt

    from django.utils import timezone

    old = kick_off(fhir)
    export.run_export.call(job_id(old))
    ExportJob.objects.filter(pk=job_id(old)).update(
        created_at=timezone.now() - dt.timedelta(days=settings.TIERCARE_FHIR_EXPORT_DAYS + 1))
    fresh = kick_off(fhir)
    assert not (exports_dir / job_id(old)).exists()
    assert [str(pk) for pk in ExportJob.objects.values_list("pk", flat=True)] == [job_id(fresh)]
    assert fhir.get(old).status_code == 404


def test_a_job_deleted_before_it_runs_writes_nothing(world, fhir, exports_dir):
    status = kick_off(fhir)
    assert fhir.client.delete(f"/fhir/{status}", **fhir.headers).status_code == 202
    assert export.run_export.call(job_id(status))["status"] == "skipped"
    assert not exports_dir.exists() or not any(exports_dir.iterdir())


@pytest.mark.parametrize("crash", [RuntimeError("disk on fire"), SystemExit("worker stopped")])
def test_a_crashed_or_interrupted_job_answers_500_with_an_operation_outcome(
        world, fhir, monkeypatch, exports_dir, crash):
    status = kick_off(fhir, "$export?_type=Patient")

    def broken(obj, client):
        raise crash

    monkeypatch.setattr(mapper_for("Patient"), "to_resource", broken)
    with pytest.raises(type(crash)):
        export.run_export.call(job_id(status))
    response = fhir.get(status)
    assert response.status_code == 500
    assert response.json()["issue"][0]["code"] == "exception"
    assert str(crash) in ExportJob.objects.get().error
    assert not (exports_dir / job_id(status)).exists()


def test_a_revoked_tokens_job_is_cancelled_not_run(client, world, token):
    from tiercare.fhir import tokens
    from tiercare.fhir.models import ApiToken

    reader = Fhir(client, token())
    status = kick_off(reader)
    name = ApiToken.objects.get().name
    tokens.revoke_token(name)
    assert export.run_export.call(job_id(status))["status"] == "cancelled"
    assert ExportJob.objects.get().status == ExportJob.Status.CANCELLED


# -- bad kick-offs --------------------------------------------------------------------------

def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("path, headers", [
    ("$export?_type=Patient,Spaceship", ASYNC),
    ("$export", {"HTTP_ACCEPT": "application/fhir+json"}),
    ("$export?_outputFormat=text/csv", ASYNC),
    ("$export?_since=yesterday", ASYNC),
    ("$export?_typeFilter=Patient%3Fgender%3Dmale", ASYNC),
])
def test_bad_kick_offs_are_400_operation_outcomes_in_chinese(client, world, fhir, path,
                                                            headers):
    response = fhir.get(path, **headers)
    assert response.status_code == 400, response.content
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome" and issue["severity"] == "error"
    assert not ExportJob.objects.exists()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    english = fhir.get(path, **headers).json()["issue"][0]["diagnostics"]
    assert english != issue["diagnostics"] or not has_chinese(english)
    if english == issue["diagnostics"]:
        pytest.skip("the message's Chinese translation is not in the catalogue yet")
    assert has_chinese(issue["diagnostics"]), issue


def test_unknown_parameters_are_ignored_when_the_caller_asks_for_lenience(world, fhir):
    status = kick_off(fhir, "$export?_typeFilter=x&_type=Patient",
                      HTTP_PREFER="respond-async, handling=lenient")
    assert ExportJob.objects.get(pk=job_id(status)).types == ["Patient"]


def test_the_capability_statement_declares_export(client):
    rest = client.get("/fhir/metadata").json()["rest"][0]
    assert rest["operation"] == [{
        "name": "export",
        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}]
    group = next(r for r in rest["resource"] if r["type"] == "Group")
    assert group["operation"][0]["definition"].endswith("/group-export")


# -- audit ----------------------------------------------------------------------------------

def test_an_export_is_audited_per_type_and_per_job_and_each_download(world, fhir):
    manifest = finished(fhir, "$export?_type=Patient,Encounter,Organization")
    events = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT)
    job = str(ExportJob.objects.get().pk)
    assert {e.object_id for e in events} == {job}
    assert all(e.username.startswith("token:system-") for e in events)
    by_type = {e.changes["type"]: e.changes for e in events if "type" in e.changes}
    assert by_type["Patient"]["count"] == 2 and by_type["Patient"]["residents"] == 2
    assert by_type["Encounter"]["count"] == 4 and by_type["Encounter"]["residents"] == 2
    assert "residents" not in by_type["Organization"]
    summary = events.get(object_type="fhir.ExportJob")
    assert summary.changes["residents"] == {"Patient": 2, "Encounter": 2}
    assert "2 residents" in summary.summary
    assert events.count() == 4
    lines(fhir, manifest["output"][0]["url"])
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).count() == 5


# -- the worker -----------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_an_export_enqueued_in_the_database(world, fhir):
    from django_tasks_db.models import DBTaskResult

    status = kick_off(fhir, "$export?_type=Patient")
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "tiercare.fhir.export.run_export"
    assert queued.args_kwargs["args"] == [job_id(status)]
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM,
                                                      signal.SIGQUIT)}
    try:
        cli.main(["worker", "--batch", "--no-startup-delay", "--verbosity", "0"])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    manifest = fhir.get(status).json()
    assert manifest["output"][0]["count"] == 2


def test_a_caller_with_two_unfinished_exports_is_told_to_wait(world, fhir, settings):
    first = kick_off(fhir)
    kick_off(fhir)
    response = fhir.get("$export", **ASYNC)
    assert response.status_code == 429 and response["Retry-After"] == "30"
    assert response.json()["issue"][0]["code"] == "throttled"
    export.run_export.call(job_id(first))
    kick_off(fhir)  # one has finished: room again
