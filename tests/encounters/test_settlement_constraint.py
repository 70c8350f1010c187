"""The database itself refuses a settlement whose parts do not add up to its total
(total = fund paid + self paid, to the cent), on SQLite (binary floats) and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tiercare.encounters.models import EncounterClass, Settlement


def _settlement(patient, total: str, fund: str, own: str, source_id: str) -> Settlement:
    return Settlement.objects.create(
        patient=patient, scheme="resident", in_county=False, institution_name="安庆市立医院",
        institution_level="city", division_code="340800", encounter_class=EncounterClass.INPATIENT,
        start_date=dt.date(2025, 3, 1), end_date=dt.date(2025, 3, 5), diagnosis="I63.9",
        total=Decimal(total), fund_paid=Decimal(fund), self_paid=Decimal(own),
        source_system="test", source_id=source_id,
    )


@pytest.mark.parametrize(("total", "fund", "own"), [
    ("0.30", "0.10", "0.20"),  # 0.1 + 0.2 != 0.3 in binary floating point
    ("8123.47", "5686.43", "2437.04"),
    ("99999999.99", "12345678.91", "87654321.08"),
])
def test_a_settlement_whose_parts_add_up_to_the_cent_is_stored(county, total, fund, own):
    stored = _settlement(county["patient"], total, fund, own, f"S-{total}")
    stored.refresh_from_db()
    assert stored.fund_paid + stored.self_paid == stored.total


@pytest.mark.parametrize(("total", "fund", "own"), [("100.00", "60.00", "40.01"),
                                                    ("100.00", "60.00", "39.99")])
def test_a_settlement_off_by_a_cent_is_refused_by_the_database(county, total, fund, own):
    with pytest.raises(IntegrityError), transaction.atomic():
        _settlement(county["patient"], total, fund, own, "S-bad")
