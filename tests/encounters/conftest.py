"""Fixtures of the encounters tests (helpers in ``factories``)."""

from __future__ import annotations

import pytest

from tests.encounters.factories import COUNTY, OUTSIDE, TOWNSHIP, VILLAGE, make_patient
from tiercare.registry.models import Alliance, Department, Institution, Level, Practitioner


@pytest.fixture
def county(db):
    alliance = Alliance.objects.create(code="HN", name="怀宁县医共体",
                                       kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=COUNTY)
    hospital = Institution.objects.create(
        code="H001", name="怀宁县人民医院", level=Level.COUNTY,
        kind=Institution.Kind.GENERAL_HOSPITAL, alliance=alliance, division_code=COUNTY)
    township = Institution.objects.create(
        code="T001", name="高河镇卫生院", level=Level.TOWNSHIP,
        kind=Institution.Kind.TOWNSHIP_CENTRE, alliance=alliance, division_code=TOWNSHIP)
    village = Institution.objects.create(
        code="V001", name="高河村卫生室", level=Level.VILLAGE,
        kind=Institution.Kind.VILLAGE_CLINIC, alliance=alliance, parent=township,
        division_code=VILLAGE)
    city = Institution.objects.create(
        code="C001", name="安庆市立医院", level=Level.CITY,
        kind=Institution.Kind.GENERAL_HOSPITAL, division_code=OUTSIDE)
    internal = Department.objects.create(institution=hospital, code="NK", name="内科")
    doctor = Practitioner.objects.create(code="D001", name="李医生", sex="1",
                                         title=Practitioner.Title.ATTENDING,
                                         institution=hospital, department=internal)
    alliance.lead = hospital
    alliance.save()
    return {
        "alliance": alliance, "hospital": hospital, "township": township, "village": village,
        "city": city, "department": internal, "doctor": doctor,
        "patient": make_patient(1), "other": make_patient(2, name="李四"),
    }
