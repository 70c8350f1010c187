"""A small county for registry and patients tests: 桐庐县 (330122) with three townships and a
village in each; two communities; users per role. Built through the services so that the tests
exercise the same rules as production."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tiercare.accounts.models import Role, User
from tiercare.registry import services
from tiercare.registry.models import Alliance, Division, Institution, Level, Practitioner

COUNTY = "330122"
TOWNSHIPS = {"330122100": "城南街道", "330122101": "分水镇", "330122102": "瑶琳镇"}
VILLAGES = {"330122100201": "城南村", "330122101201": "分水村", "330122102201": "瑶琳村"}


@dataclass
class County:
    alliance: Alliance
    other: Alliance
    lead: Institution
    township_a: Institution
    township_b: Institution
    village_a: Institution
    other_township: Institution
    divisions: dict[str, Division] = field(default_factory=dict)


def make_divisions() -> dict[str, Division]:
    out = {COUNTY: services.create_division(COUNTY, "桐庐县", Division.Kind.COUNTY)}
    for code, name in TOWNSHIPS.items():
        out[code] = services.create_division(code, name, Division.Kind.TOWNSHIP)
    for code, name in VILLAGES.items():
        out[code] = services.create_division(code, name, Division.Kind.VILLAGE)
    return out


def institution(code: str, name: str, level: str, kind: str, division_code: str,
                alliance: Alliance | None, parent: Institution | None = None) -> Institution:
    return services.create_institution(services.InstitutionInput(
        code=code, name=name, level=level, kind=kind, division_code=division_code,
        alliance=alliance, parent=parent))


def make_county() -> County:
    """Community A answers for townships 100 and 101, community B for township 102."""
    divisions = make_divisions()
    alliance = services.create_alliance(code="A", name="桐庐县第一医共体",
                                        kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=COUNTY)
    other = services.create_alliance(code="B", name="桐庐县第二医共体",
                                     kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=COUNTY)
    lead = institution("H1", "桐庐县第一人民医院", Level.COUNTY,
                       Institution.Kind.GENERAL_HOSPITAL, COUNTY, None)
    services.update_alliance(alliance, {"lead": lead})
    township_a = institution("T100", "城南街道社区卫生服务中心", Level.TOWNSHIP,
                             Institution.Kind.COMMUNITY_CENTRE, "330122100", alliance, lead)
    township_b = institution("T101", "分水镇卫生院", Level.TOWNSHIP,
                             Institution.Kind.TOWNSHIP_CENTRE, "330122101", alliance, lead)
    village_a = institution("V100", "城南村卫生室", Level.VILLAGE, Institution.Kind.VILLAGE_CLINIC,
                            "330122100201", alliance, township_a)
    other_township = institution("T102", "瑶琳镇卫生院", Level.TOWNSHIP,
                                 Institution.Kind.TOWNSHIP_CENTRE, "330122102", other)
    services.set_grid(alliance, ["330122100", "330122101"])
    services.set_grid(other, ["330122102"])
    alliance.refresh_from_db()
    return County(alliance, other, lead, township_a, township_b, village_a, other_township,
                  divisions)


def practitioner(code: str, inst: Institution, title: str = Practitioner.Title.ATTENDING,
                 name: str = "王医生") -> Practitioner:
    return services.create_practitioner(code=code, name=name, sex="1", title=title,
                                        institution=inst)


def make_user(username: str, role: str, *, institution: Institution | None = None,
              alliance: Alliance | None = None, superuser: bool = False) -> User:
    return User.objects.create_user(
        username=username, password="Correct-horse-9", role=role, institution=institution,
        alliance=alliance, is_superuser=superuser, is_staff=superuser,
    )


def users(county: County) -> dict[str, User]:
    """One user per role with the scope the role needs (accounts.roles.scope_problem)."""
    return {
        "system_admin": make_user("sys", Role.SYSTEM_ADMIN),
        "regulator": make_user("reg", Role.REGULATOR),
        "auditor": make_user("aud", Role.AUDITOR),
        "alliance_admin": make_user("aadm", Role.ALLIANCE_ADMIN, alliance=county.alliance),
        "other_admin": make_user("badm", Role.ALLIANCE_ADMIN, alliance=county.other),
        "doctor": make_user("doc", Role.DOCTOR, institution=county.township_a),
        "other_doctor": make_user("bdoc", Role.DOCTOR, institution=county.other_township),
        "nurse": make_user("nur", Role.NURSE, institution=county.township_b),
        "pharmacist": make_user("pha", Role.PHARMACIST, institution=county.township_a),
    }


def today() -> date:
    from django.utils import timezone

    return timezone.localdate()
