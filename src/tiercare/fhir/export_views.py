"""HTTP of FHIR Bulk Data ``$export`` (HL7 FHIR Bulk Data Access IG v2, "Bulk Data Kick-off
Request", "Bulk Data Status Request", "File Request", "Bulk Data Delete Request"). The job
itself is ``fhir.export``.

* Kick-off: ``GET /fhir/$export`` or ``GET /fhir/Group/alliance-N/$export`` with ``Prefer:
  respond-async`` (without it 400), ``_type``, ``_since`` (an instant), ``_outputFormat``
  (NDJSON only). Other parameters are refused with 400 unless the caller sends ``Prefer:
  handling=lenient``, as the IG asks. Answer: 202, ``Content-Location`` the status address.
* Status: ``GET /fhir/$export-status/<id>``: 202 with ``X-Progress`` and ``Retry-After``
  while queued or running; 200 with the JSON manifest when done; 500 with an
  OperationOutcome when the job crashed (the IG: "If the export job fails, the server SHALL
  respond with a 4XX or 5XX status code and an OperationOutcome"); 403 when it was
  cancelled because the caller's access changed. ``DELETE``: 202, the job and its files
  are removed.
* Files: ``GET /fhir/$export-file/<id>/<Type>.ndjson``, ``application/fhir+ndjson``,
  streamed from disk.

Only the caller that started a job (the same token, or the same person) sees its status and
files; for anyone else they do not exist (404), as a resident outside one's scope.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast
from uuid import UUID

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from tiercare.fhir import export, query
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, Issue, outcome
from tiercare.fhir.mapping import mapper_for
from tiercare.fhir.models import ExportJob
from tiercare.fhir.views import client_of, fhir_view, respond
from tiercare.registry.models import Alliance

#: the kick-off parameters served (``_format`` only chooses the format of errors)
PARAMETERS = frozenset({"_type", "_since", "_outputFormat", "_format"})
RETRY_AFTER = "3"


@fhir_view
def export_system(request: HttpRequest) -> HttpResponse:
    """``[base]/$export``: everything the caller may read."""
    return _kick_off(request, None)


@fhir_view
def export_group(request: HttpRequest, group_id: str) -> HttpResponse:
    """``[base]/Group/[id]/$export``: the residents of an alliance's grid and their records."""
    return _kick_off(request, group_id)


def _kick_off(request: HttpRequest, group_id: str | None) -> HttpResponse:
    if request.method != "GET":
        raise FhirError(405, "not-supported", _("%(method)s is not supported on %(type)s."),
                        method=request.method, type="$export")
    client = client_of(request)
    preferences = _preferences(request)
    if "respond-async" not in preferences:
        raise FhirError(400, "required", _("$export runs in the background: send the header "
                                           "“Prefer: respond-async”."))
    params = request.GET
    if "handling=lenient" not in preferences:
        for name in params:
            if name not in PARAMETERS:
                raise FhirError(400, "not-supported",
                                _("$export does not take the parameter “%(name)s” (it takes "
                                  "_type, _since and _outputFormat; send “Prefer: "
                                  "handling=lenient” to have unknown parameters ignored)."),
                                name=name[:64])
    _check_format(params)
    group: Alliance | None = None
    if group_id is not None:
        group = query.get(mapper_for("Group"), client, group_id)
    types = export.export_types(client, _types(params), group=group is not None)
    if export.unfinished_jobs(client) >= settings.TIERCARE_FHIR_EXPORTS_AT_ONCE:
        response = respond(outcome([Issue("throttled", _(
            "You have %(count)d exports queued or running; wait until one has finished.")
            % {"count": settings.TIERCARE_FHIR_EXPORTS_AT_ONCE})]), 429)
        response["Retry-After"] = "30"
        return response
    job = export.start(client, types=types, since=_since(params), group=group,
                       request=request.build_absolute_uri(),
                       language=translation.get_language() or "")
    status_url = request.build_absolute_uri(reverse("fhir-export-status", args=[job.pk]))
    return respond(outcome([Issue("informational", _(
        "The export has started; ask for its state at the address in Content-Location."),
        severity="information")]), 202, Content_Location=status_url)


def _preferences(request: HttpRequest) -> set[str]:
    """The ``Prefer`` header's preferences (``respond-async``, ``handling=lenient``)."""
    return {part.split(";")[0].replace(" ", "")
            for part in request.headers.get("Prefer", "").split(",") if part.strip()}


def _check_format(params: QueryDict) -> None:
    # a "+" written unencoded in a query string arrives as a space
    value = params.get("_outputFormat")
    if value is not None and value.strip().replace(" ", "+") not in export.OUTPUT_FORMATS:
        raise FhirError(400, "not-supported",
                        _("_outputFormat “%(value)s” is not served; the files are NDJSON "
                          "(application/fhir+ndjson)."), value=value[:100])


def _types(params: QueryDict) -> list[str]:
    return [name.strip() for value in params.getlist("_type") for name in value.split(",")
            if name.strip()]


def _since(params: QueryDict) -> dt.datetime | None:
    """``_since``: a FHIR instant (date, time and zone)."""
    text = params.get("_since")
    if text is None or text == "":
        return None
    value: dt.datetime | None
    try:
        # an unencoded "+" of the zone arrives as a space
        value = dt.datetime.fromisoformat(text.strip().replace(" ", "+").replace("Z", "+00:00"))
        if value.tzinfo is not None:
            value.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        value = None
    if value is None or value.tzinfo is None:
        raise FhirError(400, "invalid", _("%(name)s: “%(value)s” is not a valid date."),
                        name="_since", value=text[:64])
    return value


# -- status -------------------------------------------------------------------------------------

def _job(client: Client, job_id: UUID) -> ExportJob:
    job = export.job_of(job_id, client)
    if job is None:
        raise FhirError(404, "not-found", _("%(type)s/%(id)s does not exist."),
                        type="$export-status", id=str(job_id))
    return job


@fhir_view
def export_status(request: HttpRequest, job_id: UUID) -> HttpResponse:
    client = client_of(request)
    job = _job(client, job_id)
    if request.method == "DELETE":
        export.delete(job)
        return respond(outcome([Issue("informational", _(
            "The export and its files have been removed."), severity="information")]),
            202)
    if request.method != "GET":
        raise FhirError(405, "not-supported", _("%(method)s is not supported on %(type)s."),
                        method=request.method, type="$export-status")
    if job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
        response = HttpResponse(status=202)
        response["X-Progress"] = job.progress or job.status
        response["Retry-After"] = RETRY_AFTER
        return response
    if job.status == ExportJob.Status.DONE:
        return HttpResponse(json.dumps(_manifest(request, job), ensure_ascii=False),
                            content_type="application/json")
    if job.status == ExportJob.Status.CANCELLED:
        raise FhirError(403, "forbidden", _("The export was cancelled: your access changed "
                                            "before it ran."))
    return respond(outcome([Issue("exception", _(
        "The export failed. Start it again; if it fails again, tell the administrator "
        "(export %(id)s).") % {"id": job.pk})]), 500)


def _manifest(request: HttpRequest, job: ExportJob) -> dict[str, Any]:
    """The IG's "Complete Status" body."""
    return {
        "transactionTime": (job.transaction_time or job.created_at).isoformat(),
        "request": job.request,
        "requiresAccessToken": True,
        "output": [{"type": entry["type"],
                    "url": request.build_absolute_uri(reverse(
                        "fhir-export-file", args=[job.pk, entry["name"]])),
                    "count": entry["count"]} for entry in job.output],
        "error": [],
    }


# -- files --------------------------------------------------------------------------------------

@fhir_view
def export_file(request: HttpRequest, job_id: UUID, name: str) -> HttpResponse:
    if request.method != "GET":
        raise FhirError(405, "not-supported", _("%(method)s is not supported on %(type)s."),
                        method=request.method, type="$export-file")
    client = client_of(request)
    job = _job(client, job_id)
    entry = next((e for e in job.output if e["name"] == name), None) \
        if job.status == ExportJob.Status.DONE else None
    try:
        if entry is None:
            raise FileNotFoundError(name)
        handle = (export.job_dir(job.pk) / entry["name"]).open("rb")
    except FileNotFoundError:
        raise FhirError(404, "not-found", _("%(type)s/%(id)s does not exist."),
                        type=f"$export-file/{job.pk}", id=name[:64]) from None
    export.record_download(job, client, entry)
    # streamed from disk; ``fhir_view`` passes any response through (typed HttpResponse)
    return cast(HttpResponse, FileResponse(handle, content_type=export.NDJSON))
