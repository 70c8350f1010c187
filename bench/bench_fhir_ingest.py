"""Benchmark: FHIR transaction Bundle ingest (issue 3 "Performance": ≥ 2,000 resources/s into
SQLite and into PostgreSQL, measured beside the raw JSON parse time).

    python bench/bench_fhir_ingest.py [--residents 2500] [--per-bundle 250]
                                      [--database sqlite|postgresql]

Each run starts from an empty database (SQLite: a new file in a temporary directory;
PostgreSQL: ``tc_bench_fhir`` dropped, re-created and migrated; migration not timed) holding
a county's institutions. A HIS pushes new residents with their first encounter as
transaction Bundles through the Django test client (the whole view stack, no network):
per resident one ``Patient`` (``POST`` with ``ifNoneExist`` on the ID number) and one
``Encounter`` (``PUT Encounter?identifier=…``, subject = the Patient entry's ``urn:uuid``)
carrying two contained ``Condition`` resources (primary and secondary diagnosis). With the
default 2,500 residents that is 10,000 resources: 5,000 Bundle entries and 5,000 contained
Conditions. Every resource is structurally validated, domain-checked, stored and audited.

Measured: wall time of posting every Bundle; the same Bundles again (every entry already
stored: the idempotent re-push); the baseline is ``json.loads`` of the same request bodies in
the same process (best of five). Printed: resources/s (and entries/s) and the ratio
ingest ÷ parse time. Runs of new residents and encounters are written in batches (ADR 0009).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DB = "tc_bench_fhir"
ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
HIS = "http://his.bench.example.cn/encounter"
ICD10_CN = "urn:oid:2.16.156.10011.2.3.3.11"
DIAGNOSES = ["I10", "E11.9", "J06.9", "J20.9", "K29.7", "I25.1", "J44.9", "M54.5", "K21.9"]
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = "秀英桂兰建国志强玉梅海燕明华"


def fresh_postgres() -> None:
    for sql in (f"DROP DATABASE IF EXISTS {PG_DB}", f"CREATE DATABASE {PG_DB}"):
        subprocess.run(["psql", PG_SERVER + "/postgres", "-q", "-c", sql], check=True)
    os.environ["TIERCARE_DATABASE_URL"] = f"{PG_SERVER}/{PG_DB}"


def bundles(residents: int, per_bundle: int, institutions: list[int],
            rng: random.Random) -> list[bytes]:
    """Request bodies of the transaction Bundles (``per_bundle`` residents each)."""
    from bench_import import COUNTY

    from tiercare.kernel import idnumber

    bodies: list[bytes] = []
    entries: list[dict[str, object]] = []
    for n in range(residents):
        birth = dt.date(1935, 1, 1) + dt.timedelta(days=n * 7 % 30000)
        sex_odd = n % 2
        number = idnumber.make(COUNTY, birth, (n // 4000) * 2 + (1 if sex_odd else 2))
        village = f"{COUNTY}{101 + n % 10}{201 + n % 4}"
        patient_url, encounter_url = f"urn:uuid:p-{n}", f"urn:uuid:e-{n}"
        start = dt.datetime(2025, 3, 1, 8, 0) + dt.timedelta(minutes=n)
        subject = {"reference": patient_url}
        primary, secondary = rng.sample(DIAGNOSES, 2)
        entries.append({"fullUrl": patient_url, "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": ID_SYSTEM, "value": number}],
            "name": [{"text": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)}],
            "gender": "male" if sex_odd else "female", "birthDate": birth.isoformat(),
            "telecom": [{"system": "phone", "value": f"139{n:08d}"}],
            "address": [{"text": "某村", "extension": [{
                "url": "https://tiercare.org/fhir/StructureDefinition/division-code",
                "valueCode": village}]}]},
            "request": {"method": "POST", "url": "Patient",
                        "ifNoneExist": f"identifier={ID_SYSTEM}|{number}"}})
        entries.append({"fullUrl": encounter_url, "resource": {
            "resourceType": "Encounter",
            "identifier": [{"system": HIS, "value": f"MZ{n:08d}"}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": subject,
            "serviceProvider": {"reference": f"Organization/institution-"
                                             f"{institutions[n % len(institutions)]}"},
            "period": {"start": start.isoformat() + "+08:00",
                       "end": (start + dt.timedelta(minutes=20)).isoformat() + "+08:00"},
            "contained": [
                {"resourceType": "Condition", "id": "d1", "subject": subject,
                 "code": {"coding": [{"system": ICD10_CN, "code": primary}]}},
                {"resourceType": "Condition", "id": "d2", "subject": subject,
                 "code": {"coding": [{"system": ICD10_CN, "code": secondary}]}}],
            "diagnosis": [{"condition": {"reference": "#d1"}, "rank": 1},
                          {"condition": {"reference": "#d2"}, "rank": 2}],
            "extension": [{"url": "https://tiercare.org/fhir/StructureDefinition/"
                                  "encounter-costs", "extension": [
                {"url": "total", "valueMoney": {"value": 56.5, "currency": "CNY"}},
                {"url": "drugs", "valueMoney": {"value": 26.5, "currency": "CNY"}},
                {"url": "services", "valueMoney": {"value": 30, "currency": "CNY"}}]}]},
            "request": {"method": "PUT", "url": f"Encounter?identifier={HIS}|MZ{n:08d}"}})
        if len(entries) == 2 * per_bundle or n == residents - 1:
            bodies.append(json.dumps({"resourceType": "Bundle", "type": "transaction",
                                      "entry": entries}, ensure_ascii=False).encode())
            entries = []
    return bodies


def push(client: object, bodies: list[bytes], header: dict[str, str]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    statuses: list[str] = []
    for body in bodies:
        response = client.post("/fhir", data=body,  # type: ignore[attr-defined]
                               content_type="application/fhir+json", **header)
        if response.status_code != 200:
            raise SystemExit(f"bundle refused: {response.status_code} {response.content[:500]!r}")
        statuses += [e["response"]["status"][:3] for e in response.json()["entry"]]
    return time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=2500)
    parser.add_argument("--per-bundle", type=int, default=250)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.database == "postgresql":
        fresh_postgres()
    from bench_import import build_county, setup_django

    setup_django()
    from django.db import connection
    from django.test import Client

    from tiercare.fhir import tokens
    from tiercare.registry.models import Institution

    rng = random.Random(args.seed)
    build_county(0, rng)
    institutions = list(Institution.objects.filter(code__startswith="BENCH-")
                        .values_list("pk", flat=True))
    _token, secret = tokens.create_token(f"bench-{time.time_ns()}", whole_county=True,
                                         scope="system/*.read system/*.write")
    header = {"HTTP_AUTHORIZATION": f"Bearer {secret}", "HTTP_HOST": "localhost",
              "HTTP_PREFER": "return=minimal"}
    bodies = bundles(args.residents, args.per_bundle, institutions, rng)
    resources = args.residents * 4  # Patient, Encounter and two contained Conditions
    entries = args.residents * 2

    from tiercare.kernel import icd10, names

    icd10.exists("I10")  # a running server has its code tables loaded: load them untimed
    names.initials("张三")
    parses = []
    for _round in range(5):  # the best of five: the parse takes a tenth of a second
        started = time.perf_counter()
        for body in bodies:
            json.loads(body)
        parses.append(time.perf_counter() - started)
    parse = min(parses)
    client = Client()
    ingest, statuses = push(client, bodies, header)
    assert statuses.count("201") == entries, statuses[:10]
    again, statuses = push(client, bodies, header)
    assert statuses.count("200") == entries, statuses[:10]

    megabytes = sum(len(b) for b in bodies) / 1e6
    print(f"database: {connection.vendor}; {len(bodies)} transaction Bundles, {entries:,} "
          f"entries, {resources:,} resources ({megabytes:.1f} MB); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"baseline json.loads       {resources / parse:>10,.0f} resources/s ({parse:.3f} s)")
    for label, seconds in (("ingest (new)", ingest), ("re-push (stored)", again)):
        print(f"{label:<22}{resources / seconds:>10,.0f} resources/s "
              f"({entries / seconds:,.0f} entries/s, {seconds:.2f} s); "
              f"÷ parse time {seconds / parse:,.0f}")


if __name__ == "__main__":
    main()
