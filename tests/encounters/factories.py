"""A small county for the encounters tests: 怀宁县 (340822) with a county hospital, a
township health centre and a village clinic; a city hospital outside the county; residents
with valid ID numbers."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from tiercare.encounters import services
from tiercare.kernel import idnumber
from tiercare.patients.models import Patient, Scheme

COUNTY = "340822"
TOWNSHIP = "340822101"
VILLAGE = "340822101201"
OUTSIDE = "340802"  # 迎江区, another county of the same prefecture

ENCOUNTER_HEADER = [
    "source_system", "source_id", "resident_id_number", "health_record_no",
    "institution_code", "department_code", "practitioner_code", "encounter_class", "start",
    "end", "primary_diagnosis", "secondary_diagnoses", "total", "drugs", "consumables",
    "examinations", "services", "insurance_paid",
]
SETTLEMENT_HEADER = [
    "source_system", "source_id", "resident_id_number", "health_record_no", "scheme",
    "in_county", "institution_code", "institution_name", "institution_level", "division_code",
    "encounter_class", "start_date", "end_date", "diagnosis", "total", "fund_paid",
    "self_paid", "encounter_ref", "settled_at",
]


def make_patient(n: int, *, birth: dt.date = dt.date(1960, 5, 1), county: str = COUNTY,
                 name: str = "张三") -> Patient:
    return Patient.objects.create(
        health_record_no=f"{VILLAGE}{n:05d}", name=name, name_initials="zs", sex="1",
        birth_date=birth, id_number=idnumber.make(county, birth, 2 * n + 1),
        address_code=VILLAGE, scheme=Scheme.RESIDENT, insured_county=county,
    )


def aware(*args: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime(*args))


def encounter_input(patient, institution, source_id: str = "E1", **overrides) -> \
        services.EncounterInput:
    values = dict(
        patient_id=patient.pk, institution_id=institution.pk, encounter_class="outpatient",
        start=aware(2025, 3, 4, 9, 30), primary_diagnosis="I10",
        source_system="HIS", source_id=source_id, total=Decimal("100.00"),
        drugs=Decimal("60.00"), consumables=Decimal("10.00"), examinations=Decimal("20.00"),
        services=Decimal("10.00"), insurance_paid=Decimal("50.00"),
    )
    values.update(overrides)
    return services.EncounterInput(**values)


def encounter_row(patient, source_id: str = "E1", **overrides: str) -> dict[str, str]:
    row = {
        "source_system": "HIS", "source_id": source_id,
        "resident_id_number": patient.id_number, "health_record_no": "",
        "institution_code": "H001", "department_code": "NK", "practitioner_code": "D001",
        "encounter_class": "outpatient", "start": "2025-03-04 09:30", "end": "",
        "primary_diagnosis": "I10", "secondary_diagnoses": "E11.9;J06.9",
        "total": "100.00", "drugs": "60.00", "consumables": "10.00", "examinations": "20.00",
        "services": "10.00", "insurance_paid": "50.00",
    }
    row.update(overrides)
    return row


def settlement_row(patient, source_id: str = "S1", **overrides: str) -> dict[str, str]:
    row = {
        "source_system": "YB", "source_id": source_id,
        "resident_id_number": patient.id_number, "health_record_no": "", "scheme": "resident",
        "in_county": "", "institution_code": "", "institution_name": "安庆市立医院",
        "institution_level": "city", "division_code": OUTSIDE, "encounter_class": "inpatient",
        "start_date": "2025-02-01", "end_date": "2025-02-10", "diagnosis": "I63.9",
        "total": "8000.00", "fund_paid": "5000.00", "self_paid": "3000.00",
        "encounter_ref": "", "settled_at": "2025-02-10 16:00",
    }
    row.update(overrides)
    return row


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]], *,
              bom: bool = False) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rejects(path: str | Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))
