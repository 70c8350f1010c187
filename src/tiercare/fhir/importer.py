"""``tiercare import fhir FILE…``: load FHIR resources from files (issue 3 "Bulk") — NDJSON
(one resource per line, as Bulk ``$export`` writes them, TierCare's own or another server's)
or a JSON Bundle.

* A ``transaction`` or ``batch`` Bundle is processed exactly as if it were posted to
  ``/fhir`` (``bundles.process``): a transaction is all or nothing.
* Every other file is a stream of resources. Each becomes a conditional update on its first
  identifier (``PUT Patient?identifier=system|value``): a new record is created, a known one
  updated, and a second run of the same file changes nothing (idempotent). A resource
  without an identifier is created (``POST``). Residents are loaded first, then encounters,
  then everything else, so that references can be followed; a reference to a resource of
  the files by its id there (``Patient/17``) is rewritten to the record it became here.
  References to ids that are not in the files are taken as ids of this server.
* Resources go in batches of ``chunk`` (each resource on its own: one bad resource is
  rejected and the others stand). Rejected resources are listed in ``FILE.rejects.csv``
  (line, resource type, HTTP status, place in the resource, reason in the chosen language).

Runs as the integrating system ``import:<file name>`` with the whole county's reach; every
write is audited under that name, as for a token.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _
from tqdm import tqdm

from tiercare.fhir import bundles
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.mapping import mapper_for
from tiercare.fhir.models import ApiToken

#: order of loading (references point from later to earlier types)
RANKS = {"Patient": 0, "Encounter": 1}
BASE = "https://import.invalid/fhir"  # a base that no reference of the files uses
DEFAULT_CHUNK = 500


class FhirImportError(Exception):
    """The file cannot be read at all (not found, not JSON / NDJSON)."""


@dataclass
class FhirImportReport:
    files: list[str]
    created: int = 0
    updated: int = 0
    rejected: int = 0
    skipped: int = 0
    seconds: float = 0.0
    rejects_path: str = ""
    by_type: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        total = self.created + self.updated + self.rejected + self.skipped
        rate = total / self.seconds if self.seconds else 0.0
        text = _("%(total)d resources: %(created)d created, %(updated)d updated or unchanged, "
                 "%(rejected)d rejected (%(rate).0f resources/s).") % {
            "total": total, "created": self.created, "updated": self.updated,
            "rejected": self.rejected, "rate": rate}
        if self.skipped:
            text += " " + _("%(skipped)d resources of types kept in TierCare's own pages "
                            "(the registry) were skipped.") % {"skipped": self.skipped}
        return text


@dataclass
class _Reject:
    file: str
    line: int
    resource_type: str
    status: int
    where: str
    reason: str


def system_client(name: str) -> Client:
    """The importer's caller: a whole-county system with every interaction (not stored)."""
    return Client(token=ApiToken(name=name[:100], scopes="system/*.*", whole_county=True))


def import_files(paths: list[str], *, chunk: int = DEFAULT_CHUNK, progress: bool = True,
                 rejects_path: str | None = None) -> FhirImportReport:
    import time

    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise FhirImportError(_("%(path)s: no such file.") % {"path": path})
    client = system_client(f"import:{files[0].name}")
    report = FhirImportReport([str(p) for p in files])
    rejects: list[_Reject] = []
    started = time.perf_counter()
    bundle_files = [p for p in files if _is_bundle(p)]
    for path in bundle_files:
        _import_bundle(path, client, report, rejects)
    streams = [p for p in files if p not in bundle_files]
    resolved: dict[str, str] = {}
    total = sum(_count_lines(p) for p in streams)
    with tqdm(total=total, unit=" resources", disable=not progress or not total) as bar:
        for rank in (0, 1, 2):
            batch: list[tuple[str, int, dict[str, Any]]] = []
            for path in streams:
                for line, resource in _resources(path):
                    if resource is None:  # not a resource: reported once, on the first pass
                        if rank == 0:
                            report.rejected += 1
                            rejects.append(_Reject(path.name, line, "", 400, "", _(
                                "The line is not a FHIR resource (a JSON object with "
                                "resourceType).")))
                        continue
                    if RANKS.get(str(resource.get("resourceType")), 2) != rank:
                        continue
                    batch.append((path.name, line, resource))
                    if len(batch) >= chunk:
                        _load(batch, client, resolved, report, rejects)
                        bar.update(len(batch))
                        batch = []
            if batch:
                _load(batch, client, resolved, report, rejects)
                bar.update(len(batch))
    report.seconds = time.perf_counter() - started
    target = Path(rejects_path) if rejects_path else files[0].with_name(
        files[0].name + ".rejects.csv")
    _write_rejects(target, rejects, report)
    return report


def _is_bundle(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if not head.startswith(b"{"):
        return False
    try:  # a file that is one JSON object (a Bundle), not one resource per line
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        json.loads(first)
        return False
    except ValueError:
        return True


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _resources(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """The non-blank lines of an NDJSON file with their numbers: each a resource, or
    ``None`` for a line that is not a JSON object with a resourceType."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            ok = isinstance(value, dict) and isinstance(value.get("resourceType"), str)
            yield number, value if ok else None


def _request(resource: dict[str, Any]) -> dict[str, str]:
    """A conditional update on the resource's first identifier, or a create."""
    kind = str(resource["resourceType"])
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
            from urllib.parse import quote

            token = f"{identifier['system']}|{identifier['value']}"
            return {"method": "PUT", "url": f"{kind}?identifier={quote(token, safe='|:/')}"}
    return {"method": "POST", "url": kind}


def _rewrite(value: Any, resolved: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_rewrite(item, resolved) for item in value]
    if not isinstance(value, dict):
        return value
    out = {k: _rewrite(v, resolved) if isinstance(v, dict | list) else v
           for k, v in value.items()}
    ref = out.get("reference")
    if isinstance(ref, str) and ref in resolved:
        out["reference"] = resolved[ref]
    return out


def _writable(resource_type: str) -> bool:
    """Whether the server takes writes of this type; unknown types count as writable, so
    that they are rejected with the server's reason."""
    try:
        return "create" in mapper_for(resource_type).interactions
    except FhirError:
        return True


def _load(batch: list[tuple[str, int, dict[str, Any]]], client: Client,
          resolved: dict[str, str], report: FhirImportReport, rejects: list[_Reject]) -> None:
    kept = [item for item in batch if _writable(str(item[2]["resourceType"]))]
    report.skipped += len(batch) - len(kept)
    batch = kept
    if not batch:
        return
    entries = []
    for _name, _line, resource in batch:
        body = _rewrite({k: v for k, v in resource.items() if k != "id"}, resolved)
        entries.append({"resource": body, "request": _request(resource)})
    answer = bundles.process(client, {"resourceType": "Bundle", "type": "batch",
                                      "entry": entries}, BASE, minimal=True)
    for (name, line, resource), entry in zip(batch, answer["entry"], strict=True):
        response = entry["response"]
        status = int(response["status"][:3])
        kind = str(resource["resourceType"])
        if status in (200, 201):
            report.created += status == 201
            report.updated += status == 200
            report.by_type[kind] = report.by_type.get(kind, 0) + 1
            if resource.get("id") and response.get("location"):
                resolved[f"{kind}/{resource['id']}"] = response["location"]
            continue
        report.rejected += 1
        for issue in response.get("outcome", {}).get("issue", [])[:1]:
            where = ",".join(issue.get("expression", []))
            rejects.append(_Reject(name, line, kind, status, where, issue.get("diagnostics", "")))


def _import_bundle(path: Path, client: Client, report: FhirImportReport,
                   rejects: list[_Reject]) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirImportError(_("%(path)s is neither NDJSON nor a JSON Bundle: %(error)s")
                              % {"path": path, "error": exc}) from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirImportError(_("%(path)s is neither NDJSON nor a JSON Bundle.")
                              % {"path": path})
    if data.get("type") not in ("batch", "transaction"):  # a collection, searchset …
        data = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": e["resource"], "request": _request(e["resource"])}
            for e in data.get("entry") or [] if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and isinstance(e["resource"].get("resourceType"), str)]}
    try:
        answer = bundles.process(client, data, BASE, minimal=True)
    except FhirError as exc:  # a transaction refused as a whole
        report.rejected += len(data.get("entry") or [])
        issue = exc.issues[0]
        rejects.append(_Reject(path.name, 0, "Bundle", exc.status,
                               ",".join(issue.expression), str(issue.diagnostics)))
        return
    for index, entry in enumerate(answer["entry"]):
        status = int(entry["response"]["status"][:3])
        if status in (200, 201):
            report.created += status == 201
            report.updated += status == 200
            continue
        report.rejected += 1
        issue = entry["response"].get("outcome", {}).get("issue", [{}])[0]
        rejects.append(_Reject(path.name, index + 1, "", status,
                               ",".join(issue.get("expression", [])),
                               issue.get("diagnostics", "")))


def _write_rejects(target: Path, rejects: list[_Reject], report: FhirImportReport) -> None:
    if not rejects:
        if target.exists():
            target.unlink()  # it described an earlier run
        return
    rejects.sort(key=lambda r: (r.file, r.line))
    with open(target, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["file", "line", "resource", "status", "where", "reason"])
        for r in rejects:
            writer.writerow([r.file, r.line, r.resource_type, r.status, r.where, r.reason])
    report.rejects_path = str(target)

