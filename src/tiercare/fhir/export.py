"""FHIR Bulk Data ``$export`` (HL7 FHIR Bulk Data Access IG v2; issue 3 "Bulk"): the job
behind the kick-off, status and file addresses (``export_views``).

* A kick-off records an ``ExportJob`` and enqueues the task ``run_export`` in the database
  (django-tasks, ADR 0008); the ``tiercare worker`` process runs it.
* The task writes one NDJSON file per resource type under ``DATA_DIR/exports/<job id>/``:
  one resource a line, each exactly what ``GET /fhir/[type]/[id]`` answers the caller (the
  same mapper, the same scope, the same masking of identifiers), in the language of the
  kick-off.
* What is exported: the records the caller sees (``mapper.queryset(client)``) whose
  ``meta.lastUpdated`` lies in ``[_since, transactionTime]`` (IG: nothing changed after the
  transaction time, everything up to it). A group export (``Group/alliance-N/$export``) holds
  the residents of the alliance's grid and their records in the patient compartment
  (Encounter, Condition, ExplanationOfBenefit), intersected with the caller's own scope.
* Audit (rules.md §11: every read of a resident's record): when the files are written, one
  EXPORT event per exported type with its count and the number of residents whose records
  it holds, and one for the job with the totals; one more each time a file is downloaded
  (with the caller's address). Not one event per resident.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_tasks import task

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent
from tiercare.chronic.models import Contract, ElderlyCheck, FollowUp, Registration, ScreeningReading
from tiercare.encounters.models import Diagnosis, Encounter, Settlement
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.mappers.group import members_q
from tiercare.fhir.mapping import ComputedMapper, ResourceMapper, all_mappers, mapper_for
from tiercare.fhir.models import ExportJob
from tiercare.patients.models import Patient
from tiercare.referrals.models import Referral
from tiercare.registry.models import Alliance
from tiercare.scheduling.models import Appointment

NDJSON = "application/fhir+ndjson"
#: ``_outputFormat`` values the IG names for NDJSON (the only format written)
OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
#: the patient compartment served: what a group export holds
COMPARTMENT = ("Patient", "Encounter", "Condition", "ExplanationOfBenefit", "Appointment",
               "ServiceRequest", "Task", "CarePlan", "EpisodeOfCare", "Observation")
#: per model of a served part: the path from a record to its resident's id
RESIDENT_PATHS: dict[type, str] = {Patient: "pk", Encounter: "patient_id",
                                   Diagnosis: "encounter__patient_id",
                                   Settlement: "patient_id", Appointment: "patient_id",
                                   Referral: "patient_id", Registration: "patient_id",
                                   Contract: "patient_id", FollowUp: "patient_id",
                                   ElderlyCheck: "patient_id", ScreeningReading: "patient_id"}
CHUNK = 1000
#: how often (resources) the job's progress is written and its deletion noticed
PROGRESS_EVERY = 5000


class _Gone(Exception):
    """The job was deleted (``DELETE`` on its status address) while it ran."""


def job_dir(job_id: UUID | str) -> Path:
    return Path(settings.DATA_DIR) / "exports" / str(job_id)


def served_types() -> list[str]:
    """The types an export may hold: not MeasureReport, computed for the period and org
    unit a search names (ADR 0019)."""
    return [m.resource_type for m in all_mappers() if m.exportable]


def export_types(client: Client, requested: list[str], *, group: bool) -> list[str]:
    """The types a kick-off exports: ``_type`` as given (each a type this server serves and,
    for a group, of the patient compartment; the caller needs read on each), or else every
    such type the caller may read (IG: "all supported resources within the scope of the
    client authorization")."""
    allowed = list(COMPARTMENT) if group else served_types()
    if not requested:
        chosen = [t for t in allowed if client.allows(t, "read")]
        if not chosen:
            client.require(allowed[0], "read")
        return chosen
    chosen = []
    computed = {m.resource_type for m in all_mappers() if not m.exportable}
    for name in requested:
        if name in computed:
            raise FhirError(400, "not-supported",
                            _("%(type)s is computed when it is asked for, not stored: search "
                              "it instead of exporting it."), type=name)
        if name not in served_types():
            raise FhirError(400, "not-supported",
                            _("This server has no resource type “%(type)s”."), type=name[:64])
        if name not in allowed:
            raise FhirError(400, "not-supported",
                            _("A group export holds the residents' records (%(types)s); "
                              "“%(type)s” is not one of them."),
                            types=", ".join(COMPARTMENT), type=name)
        client.require(name, "read")
        if name not in chosen:
            chosen.append(name)
    return chosen


def start(client: Client, *, types: list[str], since: Any, group: Alliance | None,
          request: str, language: str) -> ExportJob:
    """Record the job and enqueue its task once the job is committed. Exports older than
    ``TIERCARE_FHIR_EXPORT_DAYS`` are removed first (the IG lets a server expire files;
    the manifest's files hold residents' records and should not stay on disk)."""
    expire_old_exports()
    job = ExportJob.objects.create(
        token=client.token, user=client.user,
        kind=ExportJob.Kind.GROUP if group is not None else ExportJob.Kind.SYSTEM,
        group=group, types=types, since=since, request=request[:2000], language=language,
        progress="queued")
    job_id = str(job.pk)
    transaction.on_commit(lambda: run_export.enqueue(job_id))
    return job


def expire_old_exports() -> int:
    """Remove the jobs and files of exports started more than
    ``TIERCARE_FHIR_EXPORT_DAYS`` days ago; returns how many."""
    cutoff = timezone.now() - dt.timedelta(days=settings.TIERCARE_FHIR_EXPORT_DAYS)
    old = list(ExportJob.objects.filter(created_at__lt=cutoff))
    for job in old:
        delete(job)
    return len(old)


def delete(job: ExportJob) -> None:
    """``DELETE`` on the status address: the job and its files are removed (a running task
    notices and stops)."""
    ExportJob.objects.filter(pk=job.pk).delete()
    shutil.rmtree(job_dir(job.pk), ignore_errors=True)


@task()
def run_export(job_id: str) -> dict[str, Any]:
    """The background task of a kick-off (run by ``tiercare worker``)."""
    return run_job(job_id)


def run_job(job_id: str) -> dict[str, Any]:
    """Write the job's files; mark it done (or failed, and re-raise, so that the task's own
    record says so too; also when the worker is stopped in the middle). A job that is not
    queued any more (run already, deleted) is left alone."""
    now = timezone.now()
    if not ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
            status=ExportJob.Status.RUNNING, transaction_time=now, progress="running"):
        return {"job": job_id, "status": "skipped"}
    job = ExportJob.objects.select_related("token__institution", "user__institution",
                                           "group").filter(pk=job_id).first()
    if job is None:
        return {"job": job_id, "status": "deleted"}
    client = Client(token=job.token, user=job.user)
    refusal = _refusal(job, client)
    if refusal:
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.CANCELLED, error=refusal, finished_at=timezone.now(),
            progress="cancelled")
        return {"job": job_id, "status": "cancelled"}
    directory = job_dir(job.pk)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with translation.override(job.language or settings.LANGUAGE_CODE):
            output, residents, total = _write(job, client, directory)
    except _Gone:
        shutil.rmtree(directory, ignore_errors=True)
        return {"job": job_id, "status": "deleted"}
    except BaseException as exc:  # also the worker stopped mid-task (SystemExit)
        shutil.rmtree(directory, ignore_errors=True)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000],
            finished_at=timezone.now(), progress="failed")
        raise
    with transaction.atomic():  # done and audited together
        done = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.DONE, output=output, finished_at=timezone.now(),
            progress="done")
        if done:
            _audit(job, client, output, residents, total)
    if not done:
        shutil.rmtree(directory, ignore_errors=True)  # deleted at the last moment
        return {"job": job_id, "status": "deleted"}
    return {"job": job_id, "status": "done", "output": output}


def _refusal(job: ExportJob, client: Client) -> str:
    """Why the caller may not have the export any more (its token revoked, its account
    disabled, a scope withdrawn), or ``""``."""
    if job.token is not None and not job.token.active:
        return "the token was revoked before the export ran"
    if job.user is not None and not job.user.is_active:
        return "the account was disabled before the export ran"
    lost = [t for t in job.types if not client.allows(t, "read")]
    return f"read access withdrawn for {', '.join(lost)}" if lost else ""


def _write(job: ExportJob, client: Client,
           directory: Path) -> tuple[list[dict[str, Any]], dict[str, int], int]:
    """One file per type with at least one resource: ``[{type, name, count}]``; per type of
    residents' records the number of residents it holds, and the residents of all of them."""
    output: list[dict[str, Any]] = []
    residents: dict[str, int] = {}
    everyone: set[int] = set()
    members = members_q(job.group_id) if job.group_id is not None else None
    for index, resource_type in enumerate(job.types, start=1):
        mapper = mapper_for(resource_type)
        label = f"{resource_type} ({index} of {len(job.types)} types)"
        _progress(job, f"running: {label}")
        name = f"{resource_type}.ndjson"
        path = directory / name
        count = 0
        seen: set[int] = set()
        with path.open("w", encoding="utf-8") as out:
            for part in mapper.parts():
                if isinstance(part, ComputedMapper):  # Measure: from the catalogue file
                    for obj in part.exported(client, job.since):
                        out.write(json.dumps(part.to_resource(obj, client),
                                             ensure_ascii=False) + "\n")
                        count += 1
                    continue
                resident = RESIDENT_PATHS.get(part.model)
                for obj in _rows(part, client, job, members).iterator(chunk_size=CHUNK):
                    out.write(json.dumps(part.to_resource(obj, client), ensure_ascii=False)
                              + "\n")
                    count += 1
                    if resident is not None:
                        seen.add(_resident_of(obj, resident))
                    if count % PROGRESS_EVERY == 0:
                        _progress(job, f"running: {label}, {count} resources")
        first = mapper.parts()[0]
        if not isinstance(first, ComputedMapper) and RESIDENT_PATHS.get(first.model):
            residents[resource_type] = len(seen)
            everyone |= seen
        if count:
            output.append({"type": resource_type, "name": name, "count": count})
        else:
            path.unlink()
    return output, residents, len(everyone)


def _rows(part: ResourceMapper, client: Client, job: ExportJob,
          members: Q | None) -> QuerySet[Any]:
    """The part's records the caller sees, changed in ``[since, transaction time]``, of the
    group's residents when the export is a group's."""
    rows = part.queryset(client)
    changed = part.updated_field
    rows = rows.filter(**{f"{changed}__lte": job.transaction_time})
    if job.since is not None:
        rows = rows.filter(**{f"{changed}__gte": job.since})
    if members is not None:
        resident_path = RESIDENT_PATHS[part.model]
        if resident_path == "pk":
            rows = rows.filter(members)
        else:
            rows = rows.filter(**{f"{resident_path}__in": Patient.objects.filter(members)
                                  .values("pk")})
    return rows.order_by("pk")


def _resident_of(obj: Any, path: str) -> int:
    value = obj
    for name in path.split("__"):
        value = value.pk if name == "pk" else getattr(value, name)
    return int(value)


def _progress(job: ExportJob, text: str) -> None:
    if not ExportJob.objects.filter(pk=job.pk).update(progress=text[:200]):
        raise _Gone


def _audit(job: ExportJob, client: Client, output: list[dict[str, Any]],
           residents: dict[str, int], total_residents: int) -> None:
    """One EXPORT event per exported type (count, residents) and one for the job."""
    counts = {t: 0 for t in job.types}
    counts.update({entry["type"]: entry["count"] for entry in output})
    what = "group " + job.group.code if job.group is not None else "system"
    request = job.request[:500]
    with audit.buffered():
        for resource_type, count in counts.items():
            part = mapper_for(resource_type).parts()[0]
            label = (f"fhir.{resource_type}" if isinstance(part, ComputedMapper)
                     else part.model._meta.label)
            changes: dict[str, Any] = {"job": str(job.pk), "type": resource_type,
                                       "count": count, "request": request}
            if resource_type in residents:
                changes["residents"] = residents[resource_type]
            audit.record(AuditEvent.Action.EXPORT, user=client.audit_user,
                         username=client.audit_username,
                         object_type=label, object_id=job.pk,
                         summary=f"FHIR $export ({what}) {resource_type}: {count}",
                         changes=changes)
        audit.record(AuditEvent.Action.EXPORT, user=client.audit_user,
                     username=client.audit_username, object_type="fhir.ExportJob",
                     object_id=job.pk,
                     summary=f"FHIR $export ({what}): {sum(counts.values())} resources, "
                             f"{total_residents} residents",
                     changes={"job": str(job.pk), "types": counts, "residents": residents,
                              "request": request})


def record_download(job: ExportJob, client: Client, entry: dict[str, Any]) -> None:
    """A file handed out: who fetched it, from where (the request's address)."""
    audit.record(AuditEvent.Action.EXPORT, user=client.audit_user,
                 username=client.audit_username, object_type="fhir.ExportJob",
                 object_id=job.pk,
                 summary=f"FHIR $export file {entry['name']} ({entry['count']})",
                 changes={"job": str(job.pk), "type": entry["type"],
                          "count": entry["count"]})


def unfinished_jobs(client: Client) -> int:
    """How many of this caller's exports are queued or running."""
    if client.token is not None:
        owner = Q(token_id=client.token.pk)
    elif client.user is not None:
        owner = Q(user_id=client.user.pk)
    else:
        return 0
    return ExportJob.objects.filter(owner, status__in=(
        ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)).count()


def job_of(job_id: UUID, client: Client) -> ExportJob | None:
    """The job, when this caller started it (the same token, or the same person); else
    ``None``: another caller's job is not told apart from a job that does not exist."""
    if client.token is not None:
        owner = Q(token_id=client.token.pk)
    elif client.user is not None:
        owner = Q(user_id=client.user.pk)
    else:
        return None
    return ExportJob.objects.filter(owner, pk=job_id).select_related("group").first()
