"""Use cases of the alliance registry: the only place that changes registry rows.

One function per use case, one transaction each. Bad input raises
:class:`django.core.exceptions.ValidationError` keyed by field, with stable codes and messages
in the user's language (DESIGN.md "Bad input"). Rules come from ``registry.rules`` (rules.md
§1, §10); division codes are checked against the GB/T 2260 table through ``tiercare.kernel``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.registry import rules
from tiercare.registry.models import (
    Alliance,
    Department,
    Division,
    Grid,
    Institution,
    Level,
    Posting,
    Practitioner,
)

# --- errors -----------------------------------------------------------------------------------


def invalid(field_name: str, code: str, message: str | Promise, /,
            **params: Any) -> ValidationError:
    """A field error with a stable code and a translated message."""
    text = str(message) % params if params else str(message)
    return ValidationError({field_name: [ValidationError(text, code=code)]})


def _from_rule(err: rules.RegistryRuleError) -> ValidationError:
    return invalid(err.field, err.code, err.message, **err.params)


def check_county_exists(code: str, field_name: str = "division_code") -> None:
    """The 6-digit county part of a division code must exist in the GB/T 2260 table
    (rules.md §10), looked up through the kernel."""
    from tiercare.kernel import divisions
    from tiercare.kernel.errors import KernelError

    county = code[:6]
    try:
        known = divisions.exists(county)
    except KernelError as err:
        raise ValidationError({field_name: [ValidationError(err.translated(gettext),
                                                            code=err.code)]}) from err
    if not known:
        raise invalid(field_name, "division_code.unknown_county",
                      _("The county code %(county)s of “%(code)s” is not in the GB/T 2260 "
                        "division table."), county=county, code=code)


def _audit(action: str, obj: Any, *, user: User | None, summary: str = "",
           changes: dict[str, Any] | None = None) -> None:
    audit.record(action, user=user, object_type=obj._meta.label, object_id=obj.pk,
                 summary=summary or str(obj), changes=changes)


def _apply_changes(obj: Any, changes: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """Set the allowed fields; returns ``{field: {"from": old, "to": new}}`` for the audit."""
    allowed = set(allowed)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise invalid(unknown[0], "field.read_only",
                      _("The field “%(field)s” cannot be changed here."), field=unknown[0])
    diff: dict[str, Any] = {}
    for name, value in changes.items():
        old = getattr(obj, name)
        if old != value:
            diff[name] = {"from": _plain(old), "to": _plain(value)}
            setattr(obj, name, value)
    return diff


def _plain(value: Any) -> Any:
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _choice(field_name: str, value: str, choices: Any) -> str:
    if value not in choices.values:
        raise invalid(field_name, "choice.invalid",
                      _("“%(value)s” is not a valid choice."), value=value)
    return value


def _full_clean(obj: Any, exclude: list[str] | None = None) -> None:
    obj.full_clean(exclude=exclude, validate_unique=True, validate_constraints=True)


# --- divisions and alliances ------------------------------------------------------------------


@transaction.atomic
def create_division(code: str, name: str, kind: str, *, edition: str = "2023",
                    user: User | None = None) -> Division:
    """Register a county, township or village division of the 12-digit statistical code
    (rules.md §10); the parent is found from the code (village → township → county)."""
    _choice("kind", kind, Division.Kind)
    digits = {Division.Kind.COUNTY: 6, Division.Kind.TOWNSHIP: 9, Division.Kind.VILLAGE: 12}
    prefix = rules.division_prefix(code)
    if not code.isascii() or not code.isdigit() or len(prefix) != digits[Division.Kind(kind)]:
        raise invalid("code", "division_code.format",
                      _("A %(kind)s division code has %(digits)s significant digits, "
                        "got “%(code)s”."), kind=Division.Kind(kind).label,
                      digits=digits[Division.Kind(kind)],
                      code=code)
    check_county_exists(code, "code")
    parent_prefix = {12: 9, 9: 6}.get(len(prefix))
    parent = None
    if parent_prefix:
        candidates = (prefix[:parent_prefix], prefix[:parent_prefix].ljust(12, "0"))
        parent = Division.objects.filter(code__in=candidates).first()
    division = Division(code=code, name=name, kind=kind, parent=parent, edition=edition)
    _full_clean(division)
    division.save()
    _audit(AuditEvent.Action.CREATE, division, user=user)
    return division


@transaction.atomic
def create_alliance(*, code: str, name: str, kind: str, county_code: str,
                    lead: Institution | None = None, user: User | None = None) -> Alliance:
    """Create a medical alliance of one of the four forms [seed 003] for a county that exists
    in GB/T 2260; the lead hospital, if given, must be a county-or-higher hospital."""
    _choice("kind", kind, Alliance.Kind)
    if len(county_code) != 6 or not county_code.isdigit():
        raise invalid("county_code", "county_code.format",
                      _("A county code has 6 digits, got “%(code)s”."), code=county_code)
    check_county_exists(county_code, "county_code")
    alliance = Alliance(code=code, name=name, kind=kind, county_code=county_code)
    _full_clean(alliance, exclude=["lead"])
    alliance.save()
    if lead is not None:
        _set_lead(alliance, lead)
    _audit(AuditEvent.Action.CREATE, alliance, user=user)
    return alliance


def _set_lead(alliance: Alliance, lead: Institution) -> None:
    """The lead hospital is a county, city or provincial hospital [seed 001 §4] that belongs to
    the alliance (it becomes a member if it was in none)."""
    if lead.level not in (Level.COUNTY, Level.CITY, Level.PROVINCIAL) or lead.kind not in (
        Institution.Kind.GENERAL_HOSPITAL, Institution.Kind.TCM_HOSPITAL,
        Institution.Kind.MATERNAL_CHILD,
    ):
        raise invalid("lead", "lead.level",
                      _("The lead hospital must be a county, city or provincial hospital; "
                        "“%(name)s” is not."), name=lead.name)
    if lead.alliance_id not in (None, alliance.pk):
        raise invalid("lead", "lead.other_alliance",
                      _("“%(name)s” is a member of another alliance."), name=lead.name)
    if lead.alliance_id is None:
        lead.alliance = alliance
        lead.save(update_fields=["alliance", "updated_at"])
    alliance.lead = lead
    alliance.save(update_fields=["lead", "updated_at"])


@transaction.atomic
def update_alliance(alliance: Alliance, changes: Mapping[str, Any], *,
                    user: User | None = None) -> Alliance:
    """Change an alliance's name, kind, county or lead hospital; audited with from/to."""
    changes = dict(changes)
    lead = changes.pop("lead", alliance.lead)
    if "kind" in changes:
        _choice("kind", changes["kind"], Alliance.Kind)
    if "county_code" in changes:
        check_county_exists(changes["county_code"], "county_code")
    diff = _apply_changes(alliance, changes, {"name", "kind", "county_code", "code"})
    _full_clean(alliance, exclude=["lead"])
    alliance.save()
    if lead != alliance.lead:
        diff["lead"] = {"from": alliance.lead_id, "to": lead.pk if lead else None}
        if lead is None:
            alliance.lead = None
            alliance.save(update_fields=["lead", "updated_at"])
        else:
            _set_lead(alliance, lead)
    if diff:
        _audit(AuditEvent.Action.UPDATE, alliance, user=user, changes=diff)
    return alliance


@transaction.atomic
def set_grid(alliance: Alliance, division_codes: Iterable[str], *,
             user: User | None = None) -> list[Grid]:
    """Make the alliance's grid exactly these divisions (townships, or a whole county or a
    city grid) [seed 002]. Overlaps with other alliances are allowed to be stored so that the
    coverage check reports them (rules.md §1)."""
    codes = sorted(set(division_codes))
    found = {d.code: d for d in Division.objects.filter(code__in=codes)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise invalid("divisions", "division.unknown",
                      _("Division %(code)s is not registered."), code=missing[0])
    before = set(alliance.grid.values_list("division__code", flat=True))
    alliance.grid.exclude(division__code__in=codes).delete()
    Grid.objects.bulk_create(
        [Grid(alliance=alliance, division=found[c]) for c in codes if c not in before]
    )
    if before != set(codes):
        _audit(AuditEvent.Action.UPDATE, alliance, user=user, summary=gettext("Grid changed"),
               changes={"grid": {"from": sorted(before), "to": codes}})
    return list(alliance.grid.select_related("division").order_by("division__code"))


# --- institutions, departments, practitioners -------------------------------------------------


@dataclass
class InstitutionInput:
    """What is needed to register a member institution."""

    code: str
    name: str
    level: str
    kind: str
    division_code: str
    alliance: Alliance | None = None
    parent: Institution | None = None
    beds: int = 0
    services: list[str] = field(default_factory=list)


def validate_institution(inst: Institution) -> None:
    """Level fits kind, division code well-formed and in an existing county, known services,
    supervising institution at a higher level (rules.md §1, §10); raises ValidationError."""
    _choice("level", inst.level, Level)
    try:
        rules.check_level_kind(inst.level, inst.kind)
        inst.division_code = rules.check_division_code_shape(inst.division_code, inst.level)
    except rules.RegistryRuleError as err:
        raise _from_rule(err) from err
    check_county_exists(inst.division_code)
    unknown = [s for s in inst.services if s not in Institution.Service.values]
    if unknown:
        raise invalid("services", "service.unknown",
                      _("“%(service)s” is not a known service."), service=unknown[0])
    if inst.parent is not None:
        if inst.parent.pk == inst.pk:
            raise invalid("parent", "parent.self",
                          _("An institution cannot supervise itself."))
        order = [Level.VILLAGE, Level.TOWNSHIP, Level.COUNTY, Level.CITY, Level.PROVINCIAL]
        if order.index(Level(inst.parent.level)) <= order.index(Level(inst.level)):
            raise invalid("parent", "parent.level",
                          _("The supervising institution must be at a higher level than "
                            "“%(level)s”."), level=inst.get_level_display())
    if inst.beds < 0:
        raise invalid("beds", "beds.negative", _("The number of beds cannot be negative."))


@transaction.atomic
def create_institution(data: InstitutionInput, *, user: User | None = None) -> Institution:
    """Register a member institution: kind fits level (village clinic ⇒ village level), site
    division code well-formed and in an existing county (rules.md §1, §10)."""
    _choice("kind", data.kind, Institution.Kind)
    inst = Institution(code=data.code, name=data.name, level=data.level, kind=data.kind,
                       division_code=data.division_code, alliance=data.alliance,
                       parent=data.parent, beds=data.beds, services=list(data.services))
    validate_institution(inst)
    _full_clean(inst)
    inst.save()
    _audit(AuditEvent.Action.CREATE, inst, user=user)
    return inst


@transaction.atomic
def update_institution(institution: Institution, changes: Mapping[str, Any], *,
                       user: User | None = None) -> Institution:
    """Change an institution; the same checks as on creation; audited with from/to."""
    if "kind" in changes:
        _choice("kind", changes["kind"], Institution.Kind)
    diff = _apply_changes(institution, changes, {
        "code", "name", "level", "kind", "division_code", "alliance", "parent", "beds",
        "services", "is_active",
    })
    validate_institution(institution)
    _full_clean(institution)
    institution.save()
    if diff:
        _audit(AuditEvent.Action.UPDATE, institution, user=user, changes=diff)
    return institution


@transaction.atomic
def create_department(institution: Institution, *, code: str, name: str, specialty: str = "",
                      user: User | None = None) -> Department:
    """Add a department (科室) to an institution; codes are unique per institution."""
    dept = Department(institution=institution, code=code, name=name, specialty=specialty)
    try:
        _full_clean(dept)
    except ValidationError as err:
        if "__all__" in getattr(err, "error_dict", {}):
            raise invalid("code", "department.code_taken",
                          _("Department code %(code)s already exists at %(institution)s."),
                          code=code, institution=institution.name) from err
        raise
    dept.save()
    _audit(AuditEvent.Action.CREATE, dept, user=user)
    return dept


@transaction.atomic
def create_practitioner(*, code: str, name: str, sex: str, title: str, institution: Institution,
                        department: Department | None = None,
                        is_general_practitioner: bool = False, phone: str = "",
                        user: User | None = None) -> Practitioner:
    """Register a practitioner employed by a member institution; their department, if any,
    belongs to that institution."""
    _choice("sex", sex, Practitioner.Sex)
    _choice("title", title, Practitioner.Title)
    if department is not None and department.institution_id != institution.pk:
        raise invalid("department", "department.other_institution",
                      _("The department belongs to another institution."))
    if phone:
        from tiercare.patients.rules import RuleError, normalise_phone

        try:
            phone = normalise_phone(phone)
        except RuleError as err:
            raise invalid("phone", err.code, err.message, **err.params) from err
    practitioner = Practitioner(code=code, name=name, sex=sex, title=title,
                                institution=institution, department=department,
                                is_general_practitioner=is_general_practitioner, phone=phone)
    _full_clean(practitioner)
    practitioner.save()
    _audit(AuditEvent.Action.CREATE, practitioner, user=user)
    return practitioner


@transaction.atomic
def create_posting(practitioner: Practitioner, institution: Institution, *, start_date: date,
                   end_date: date | None = None, department: Department | None = None,
                   note: str = "", user: User | None = None) -> Posting:
    """Post a practitioner to another member institution for a period ("four downward flows",
    seed 003): dates ordered, host active and not the employer, department of the host."""
    try:
        rules.check_posting_dates(start_date, end_date)
    except rules.RegistryRuleError as err:
        raise _from_rule(err) from err
    if institution.pk == practitioner.institution_id:
        raise invalid("institution", "posting.own_institution",
                      _("A practitioner cannot be posted to their own institution."))
    if not institution.is_active:
        raise invalid("institution", "posting.inactive_host",
                      _("%(name)s is not active."), name=institution.name)
    if department is not None and department.institution_id != institution.pk:
        raise invalid("department", "department.other_institution",
                      _("The department belongs to another institution."))
    posting = Posting(practitioner=practitioner, institution=institution, department=department,
                      start_date=start_date, end_date=end_date, note=note)
    try:
        posting.save()
    except IntegrityError as err:  # the database's own date-order constraint
        raise invalid("end_date", "posting.dates",
                      _("The posting ends before it starts.")) from err
    _audit(AuditEvent.Action.CREATE, posting, user=user)
    return posting


@transaction.atomic
def end_posting(posting: Posting, end_date: date, *, user: User | None = None) -> Posting:
    """Close a posting on ``end_date`` (not before it started)."""
    try:
        rules.check_posting_dates(posting.start_date, end_date)
    except rules.RegistryRuleError as err:
        raise _from_rule(err) from err
    diff = {"end_date": {"from": _plain(posting.end_date), "to": end_date.isoformat()}}
    posting.end_date = end_date
    posting.save(update_fields=["end_date"])
    _audit(AuditEvent.Action.UPDATE, posting, user=user, changes=diff)
    return posting


# --- checks and views of the registry ---------------------------------------------------------

#: Alliance forms that answer for a territory (grid) [seed 002, seed 003].
TERRITORIAL_KINDS = (Alliance.Kind.COUNTY_COMMUNITY, Alliance.Kind.URBAN_GROUP)


def check_grid_coverage(county_code: str) -> rules.CoverageReport:
    """Load the county's townships and the grids of its territorial alliances and check that
    every township is in exactly one (rules.md §1; issue 2 §3)."""
    townships = [
        rules.TownshipRef(code=rules.division_prefix(code), name=name)
        for code, name in Division.objects.filter(
            kind=Division.Kind.TOWNSHIP, code__startswith=county_code
        ).values_list("code", "name")
    ]
    entries = [
        rules.GridEntry(
            alliance=rules.AllianceRef(id=aid, code=acode, name=aname), division_code=dcode
        )
        for aid, acode, aname, dcode in Grid.objects.filter(
            division__code__startswith=county_code, alliance__kind__in=TERRITORIAL_KINDS
        ).values_list("alliance_id", "alliance__code", "alliance__name", "division__code")
    ]
    return rules.check_grid_coverage(county_code, townships, entries)


grid_coverage = check_grid_coverage


def townships_without_stationed_attending(alliance: Alliance, on: date) -> list[Institution]:
    """Township health centres of the alliance where, on ``on``, no attending-or-higher
    physician employed by the lead hospital is posted [seed 003: every township centre has at
    least one attending physician from the lead hospital serving there all year]. Without a
    lead hospital every township centre is listed. One query."""
    centres = Institution.objects.filter(
        alliance=alliance, level=Level.TOWNSHIP, is_active=True,
        kind__in=(Institution.Kind.TOWNSHIP_CENTRE, Institution.Kind.COMMUNITY_CENTRE),
    )
    if alliance.lead_id is not None:
        stationed = Posting.objects.filter(
            practitioner__institution_id=alliance.lead_id,
            practitioner__is_active=True,
            practitioner__title__in=rules.ATTENDING_OR_HIGHER,
            start_date__lte=on,
        ).filter(Q(end_date__isnull=True) | Q(end_date__gte=on)).values("institution_id")
        centres = centres.exclude(pk__in=stationed)
    return list(centres.order_by("code"))


@dataclass(frozen=True)
class TreeInstitution:
    """One member institution in the alliance overview tree. ``residents_in_grid``: active
    residents whose address lies in both the institution's division and the alliance's grid
    (a county hospital counts the whole grid); ``parent_id`` nests village clinics under their
    township centre."""

    id: int
    code: str
    name: str
    level: str
    kind: str
    division_code: str
    parent_id: int | None
    practitioners: int
    residents_in_grid: int
    encounters_this_year: int


@dataclass(frozen=True)
class TreeLevel:
    """One level of the tree (county, township, village …) with its institutions and totals;
    ``residents_in_grid`` counts each resident once even when several sites cover them."""

    level: str
    label: str
    institutions: list[TreeInstitution]
    practitioners: int
    residents_in_grid: int
    encounters_this_year: int


def grid_prefixes(alliance: Alliance) -> list[str]:
    """The address-code prefixes of the alliance's grid (county 6, township 9, village 12
    digits)."""
    return sorted({rules.division_prefix(c)
                   for c in alliance.grid.values_list("division__code", flat=True)})


def residents_per_village(prefixes: Iterable[str]) -> dict[str, int]:
    """Active residents per 12-digit address code under the given prefixes: one grouped
    query on the ``(address_code, is_active)`` index."""
    from tiercare.patients.access import address_prefix_q
    from tiercare.patients.models import Patient

    prefixes = list(prefixes)
    if not prefixes:
        return {}
    rows = (Patient.objects.filter(address_prefix_q(prefixes), is_active=True)
            .values("address_code").annotate(n=Count("*")).order_by())
    return {row["address_code"]: row["n"] for row in rows}


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    tz = ZoneInfo(settings.TIME_ZONE)
    return (datetime.combine(date(year, 1, 1), time.min, tzinfo=tz),
            datetime.combine(date(year + 1, 1, 1), time.min, tzinfo=tz))


def alliance_tree(alliance: Alliance, *, year: int | None = None) -> list[TreeLevel]:
    """The alliance's members by level (highest first) with practitioners, residents in the
    grid and encounters in ``year`` (default: this year in Asia/Shanghai). Four aggregate
    queries whatever the size of the alliance (no N+1)."""
    from tiercare.encounters.models import Encounter

    if year is None:
        year = timezone.localdate().year
    members = list(Institution.objects.filter(alliance=alliance, is_active=True)
                   .order_by("code")
                   .values("id", "code", "name", "level", "kind", "division_code",
                           "parent_id"))
    staff = dict(Practitioner.objects.filter(institution__alliance=alliance, is_active=True)
                 .values("institution_id").annotate(n=Count("*")).order_by()
                 .values_list("institution_id", "n"))
    start, end = _year_bounds(year)
    visits = dict(Encounter.objects.filter(institution__alliance=alliance, start__gte=start,
                                           start__lt=end)
                  .values("institution_id").annotate(n=Count("*")).order_by()
                  .values_list("institution_id", "n"))
    villages = residents_per_village(grid_prefixes(alliance))

    def covered(prefixes: Iterable[str]) -> int:
        ps = tuple(prefixes)
        return sum(n for code, n in villages.items() if code.startswith(ps)) if ps else 0

    levels: list[TreeLevel] = []
    for level in (Level.PROVINCIAL, Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.VILLAGE):
        rows = [m for m in members if m["level"] == level]
        if not rows:
            continue
        nodes = [
            TreeInstitution(
                id=m["id"], code=m["code"], name=m["name"], level=m["level"], kind=m["kind"],
                division_code=m["division_code"], parent_id=m["parent_id"],
                practitioners=staff.get(m["id"], 0),
                residents_in_grid=covered([rules.division_prefix(m["division_code"])]),
                encounters_this_year=visits.get(m["id"], 0),
            )
            for m in rows
        ]
        levels.append(TreeLevel(
            level=level.value, label=str(level.label), institutions=nodes,
            practitioners=sum(n.practitioners for n in nodes),
            residents_in_grid=covered({rules.division_prefix(m["division_code"])
                                       for m in rows}),
            encounters_this_year=sum(n.encounters_this_year for n in nodes),
        ))
    return levels
