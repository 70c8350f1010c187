"""Staging: the rows the indicators need, copied from the operational database.

The analytics snapshot (DESIGN.md "Analytics", DHIS2's analytics tables) starts from
*staging tables* ``stg_*``: one per source table, only the columns the facts use, with every
timestamp turned into the China Standard Time *day number* (days since 1970-01-01) and
*month key* (``yyyymm``) in the source database itself, so that every engine downstream
(DuckDB, PostgreSQL, Spark) works on integers and never on time zones. Text that may be
empty is stored as ``NULL`` (``NULLIF(…, '')``): the CSV hand-over cannot tell the two
apart. Booleans are 0/1.

The SELECTs below are the only SQL of the engine written per database (SQLite and
PostgreSQL differ in their date functions); the facts and the indicators are written once
(``facts.py``, ``definitions.py``). Small reference tables (institutions, alliances) are
built in Python (``reference_rows``), where JSON lists and division codes are easy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from tiercare.registry.models import PRIMARY_LEVELS, Alliance, Institution

#: China Standard Time has no daylight saving: a fixed offset serves SQLite's functions.
_OFFSET_HOURS = 8
_EPOCH_JULIAN = 2440587.5  # julianday('1970-01-01')


def _zone() -> str:
    return str(settings.TIME_ZONE)


def day_of(column: str, vendor: str, *, is_date: bool = False) -> str:
    """SQL for the CST day number (days since 1970-01-01) of a timestamp or date column."""
    if vendor == "postgresql":
        if is_date:
            return f"({column} - DATE '1970-01-01')"
        return f"(({column} AT TIME ZONE '{_zone()}')::date - DATE '1970-01-01')"
    shift = "" if is_date else f", '+{_OFFSET_HOURS} hours'"
    return f"CAST(julianday({column}{shift}) - {_EPOCH_JULIAN} AS INTEGER)"


def month_of(column: str, vendor: str, *, is_date: bool = False) -> str:
    """SQL for the CST month key ``yyyymm`` of a timestamp or date column."""
    if vendor == "postgresql":
        local = column if is_date else f"({column} AT TIME ZONE '{_zone()}')"
        return f"CAST(TO_CHAR({local}, 'YYYYMM') AS INTEGER)"
    shift = "" if is_date else f", '+{_OFFSET_HOURS} hours'"
    return f"CAST(strftime('%Y%m', {column}{shift}) AS INTEGER)"


def _hours_between(start: str, end: str, vendor: str) -> str:
    if vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 3600.0)"
    return f"((julianday({end}) - julianday({start})) * 24.0)"


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


@dataclass(frozen=True)
class Stage:
    """One staging table: its columns (name, DuckDB type) and the SELECT producing them
    from the operational database (``select(vendor)``). ``incremental``: the source table
    has ``updated_at`` and rows changed since the last refresh can be copied alone."""

    name: str
    table: str
    columns: tuple[tuple[str, str], ...]
    select: Callable[[str], str]
    incremental: bool = True

    def sql(self, vendor: str, since: dt.datetime | None = None,
            ids: tuple[int, int] | None = None) -> str:
        """The SELECT; with ``since``, only rows changed after it (inlined: a datetime
        made here, never user input); with ``ids``, only rows whose id lies in that range
        (a part of a table copied beside the others)."""
        sql = self.select(vendor)
        conditions = []
        if since is not None:
            if vendor == "postgresql":
                stamp = f"TIMESTAMPTZ '{since.isoformat()}'"
            else:  # Django stores naive UTC text on SQLite
                stamp = f"'{since.astimezone(dt.UTC).replace(tzinfo=None).isoformat(' ')}'"
            conditions.append(f"t.updated_at > {stamp}")
        if ids is not None:
            conditions.append(f"t.id >= {int(ids[0])} AND t.id <= {int(ids[1])}")
        return sql + (" WHERE " + " AND ".join(conditions) if conditions else "")


def ymd_of(column: str, vendor: str) -> str:
    """SQL for a date column as the integer ``yyyymmdd``: whole years of age on a day are
    ``day - birth >= years × 10000`` in this form (``chronic.rules.age_on``)."""
    if vendor == "postgresql":
        return f"CAST(TO_CHAR({column}, 'YYYYMMDD') AS INTEGER)"
    return f"CAST(strftime('%Y%m%d', {column}) AS INTEGER)"


def _residents(vendor: str) -> str:
    county = "COALESCE(NULLIF(t.insured_county, ''), SUBSTR(t.address_code, 1, 6))"
    return ("SELECT t.id, " + county + ", NULLIF(SUBSTR(t.address_code, 1, 9), ''), "
            f"{_flag('t.is_active')}, {_flag('t.deceased_date IS NOT NULL')}, "
            f"{ymd_of('t.birth_date', vendor)} FROM patients_patient t")


def _encounters(vendor: str) -> str:
    return ("SELECT t.id, t.patient_id, t.institution_id, t.encounter_class, "
            f"{month_of('t.start', vendor)}, {day_of('t.start', vendor)}, "
            "NULLIF(t.primary_diagnosis, ''), t.total, t.drugs, t.consumables, "
            "t.examinations FROM encounters_encounter t")


def _settlements(vendor: str) -> str:
    return ("SELECT t.id, t.patient_id, "
            f"{_flag('t.in_county')}, t.institution_id, t.institution_level, "
            "NULLIF(t.institution_name, ''), t.encounter_class, "
            f"{month_of('t.start_date', vendor, is_date=True)}, "
            f"{day_of('t.start_date', vendor, is_date=True)}, NULLIF(t.diagnosis, ''), "
            "t.total, t.fund_paid, t.encounter_id FROM encounters_settlement t")


_WARNED = _flag("t.catalogue_warning <> ''")


def _referrals(vendor: str) -> str:
    return ("SELECT t.id, t.patient_id, t.direction, t.status, "
            f"{_flag('t.green_channel')}, t.sending_institution_id, "
            "t.receiving_institution_id, NULLIF(t.diagnosis, ''), "
            f"{_WARNED}, "
            f"{month_of('t.submitted_at', vendor)}, "
            f"{_hours_between('t.submitted_at', 't.responded_at', vendor)}, "
            f"{month_of('t.arrived_at', vendor)}, {day_of('t.approved_at', vendor)} "
            "FROM referrals_referral t")


def _practitioners(vendor: str) -> str:
    return (f"SELECT t.id, t.institution_id, {_flag('t.is_general_practitioner')}, t.title, "
            f"{_flag('t.is_active')} FROM registry_practitioner t")


def _postings(vendor: str) -> str:
    return (f"SELECT t.id, t.practitioner_id, t.institution_id, "
            f"{day_of('t.start_date', vendor, is_date=True)}, "
            f"{day_of('t.end_date', vendor, is_date=True)} FROM registry_posting t")


# --- family-doctor contracts and chronic registries (rules.md §7–§8; ADR 0021) --------------


def _registrations(vendor: str) -> str:
    return ("SELECT t.id, t.patient_id, t.disease, t.institution_id, t.team_id, "
            f"{day_of('t.enrolled_on', vendor, is_date=True)}, "
            f"{day_of('t.closed_on', vendor, is_date=True)} FROM chronic_registration t")


#: rules.md §8: a follow-up by phone is not face-to-face (``FollowUp.face_to_face``).
_FACE_TO_FACE = _flag("t.method <> 'phone'")


def _follow_ups(vendor: str) -> str:
    return ("SELECT t.id, t.patient_id, t.disease, "
            f"{day_of('t.date', vendor, is_date=True)}, {_FACE_TO_FACE}, "
            f"{_flag('t.controlled')} FROM chronic_followup t")


def _contracts(vendor: str) -> str:
    return ("SELECT t.id, t.patient_id, t.team_id, "
            f"{day_of('t.start_date', vendor, is_date=True)}, "
            f"{day_of('COALESCE(t.ended_on, t.end_date)', vendor, is_date=True)} "
            "FROM chronic_contract t")


def _contract_packages(vendor: str) -> str:
    return "SELECT t.id, t.contract_id, t.servicepackage_id FROM chronic_contract_packages t"


def _package_services(vendor: str) -> str:
    return ("SELECT t.id, t.package_id, t.code, t.yearly_count, t.delivered_by "
            "FROM chronic_packageservice t")


def _deliveries(vendor: str) -> str:
    return ("SELECT t.id, t.contract_id, t.service_id, "
            f"{day_of('t.date', vendor, is_date=True)} FROM chronic_servicedelivery t")


def _elderly_checks(vendor: str) -> str:
    return (f"SELECT t.id, t.patient_id, {day_of('t.date', vendor, is_date=True)} "
            "FROM chronic_elderlycheck t")


def _teams(vendor: str) -> str:
    return "SELECT t.id, t.institution_id, t.alliance_id FROM chronic_familydoctorteam t"


def _team_members(vendor: str) -> str:
    return ("SELECT t.id, t.team_id, t.practitioner_id, "
            f"{day_of('t.end_date', vendor, is_date=True)} FROM chronic_teammember t")


def _memberships(vendor: str) -> str:
    return ("SELECT t.id, t.patient_id, "
            f"{day_of('t.start_date', vendor, is_date=True)}, "
            f"{day_of('t.end_date', vendor, is_date=True)} "
            "FROM chronic_prioritygroupmembership t")


def _policies(vendor: str) -> str:
    return (f"SELECT t.id, t.alliance_id, t.standard_follow_ups, "
            f"{_flag('t.standard_needs_annual_check')} FROM chronic_chronicpolicy t")


STAGES: tuple[Stage, ...] = (
    Stage("stg_resident", "patients_patient",
          (("id", "BIGINT"), ("county", "VARCHAR"), ("township", "VARCHAR"),
           ("active", "INTEGER"), ("deceased", "INTEGER"), ("birth", "INTEGER")),
          _residents),
    Stage("stg_encounter", "encounters_encounter",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("institution_id", "BIGINT"),
           ("class", "VARCHAR"), ("month", "INTEGER"), ("day", "INTEGER"),
           ("diagnosis", "VARCHAR"), ("total", "DECIMAL(14,2)"), ("drugs", "DECIMAL(14,2)"),
           ("consumables", "DECIMAL(14,2)"), ("examinations", "DECIMAL(14,2)")), _encounters),
    Stage("stg_settlement", "encounters_settlement",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("in_county", "INTEGER"),
           ("institution_id", "BIGINT"), ("level", "VARCHAR"), ("institution_name", "VARCHAR"),
           ("class", "VARCHAR"), ("month", "INTEGER"), ("day", "INTEGER"),
           ("diagnosis", "VARCHAR"), ("total", "DECIMAL(14,2)"), ("fund", "DECIMAL(14,2)"),
           ("encounter_id", "BIGINT")), _settlements),
    Stage("stg_referral", "referrals_referral",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("direction", "VARCHAR"),
           ("status", "VARCHAR"), ("green", "INTEGER"), ("sending_id", "BIGINT"),
           ("receiving_id", "BIGINT"), ("diagnosis", "VARCHAR"), ("warned", "INTEGER"),
           ("submitted_month", "INTEGER"), ("response_hours", "DOUBLE"),
           ("arrived_month", "INTEGER"), ("approved_day", "INTEGER")), _referrals),
    Stage("stg_practitioner", "registry_practitioner",
          (("id", "BIGINT"), ("institution_id", "BIGINT"), ("gp", "INTEGER"),
           ("title", "VARCHAR"), ("active", "INTEGER")), _practitioners, incremental=False),
    Stage("stg_posting", "registry_posting",
          (("id", "BIGINT"), ("practitioner_id", "BIGINT"), ("institution_id", "BIGINT"),
           ("start_day", "INTEGER"), ("end_day", "INTEGER")), _postings, incremental=False),
    # Registration, FollowUp and Contract have an indexed ``updated_at``; ElderlyCheck has
    # one too (one row per elderly resident a year). The others have no ``updated_at`` (or
    # are a few rows) and are copied whole at every refresh.
    Stage("stg_registration", "chronic_registration",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("disease", "VARCHAR"),
           ("institution_id", "BIGINT"), ("team_id", "BIGINT"), ("enrolled_day", "INTEGER"),
           ("closed_day", "INTEGER")), _registrations),
    Stage("stg_followup", "chronic_followup",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("disease", "VARCHAR"),
           ("day", "INTEGER"), ("face", "INTEGER"), ("controlled", "INTEGER")), _follow_ups),
    Stage("stg_contract", "chronic_contract",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("team_id", "BIGINT"),
           ("start_day", "INTEGER"), ("last_day", "INTEGER")), _contracts),
    Stage("stg_elderly_check", "chronic_elderlycheck",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("day", "INTEGER")), _elderly_checks),
    Stage("stg_contract_package", "chronic_contract_packages",
          (("id", "BIGINT"), ("contract_id", "BIGINT"), ("package_id", "BIGINT")),
          _contract_packages, incremental=False),
    Stage("stg_package_service", "chronic_packageservice",
          (("id", "BIGINT"), ("package_id", "BIGINT"), ("code", "VARCHAR"),
           ("yearly_count", "INTEGER"), ("delivered_by", "VARCHAR")), _package_services,
          incremental=False),
    Stage("stg_service_delivery", "chronic_servicedelivery",
          (("id", "BIGINT"), ("contract_id", "BIGINT"), ("service_id", "BIGINT"),
           ("day", "INTEGER")), _deliveries, incremental=False),
    Stage("stg_team", "chronic_familydoctorteam",
          (("id", "BIGINT"), ("institution_id", "BIGINT"), ("alliance_id", "BIGINT")), _teams,
          incremental=False),
    Stage("stg_team_member", "chronic_teammember",
          (("id", "BIGINT"), ("team_id", "BIGINT"), ("practitioner_id", "BIGINT"),
           ("end_day", "INTEGER")), _team_members, incremental=False),
    Stage("stg_priority_membership", "chronic_prioritygroupmembership",
          (("id", "BIGINT"), ("patient_id", "BIGINT"), ("start_day", "INTEGER"),
           ("end_day", "INTEGER")), _memberships, incremental=False),
    Stage("stg_chronic_policy", "chronic_chronicpolicy",
          (("id", "BIGINT"), ("alliance_id", "BIGINT"), ("follow_ups", "INTEGER"),
           ("needs_check", "INTEGER")), _policies, incremental=False),
)

#: Reference tables built in Python, replaced whole at every refresh.
REFERENCE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "dim_institution": (("id", "BIGINT"), ("name", "VARCHAR"), ("level", "VARCHAR"),
                        ("kind", "VARCHAR"), ("alliance_id", "BIGINT"),
                        ("county", "VARCHAR"), ("township", "VARCHAR"),
                        ("primary_care", "INTEGER"), ("in_county", "INTEGER"),
                        ("tcm", "INTEGER"), ("tcm_hall", "INTEGER"),
                        ("lead_of", "BIGINT")),
    "dim_alliance": (("id", "BIGINT"), ("code", "VARCHAR"), ("name", "VARCHAR"),
                     ("county", "VARCHAR"), ("lead_id", "BIGINT")),
}


def reference_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Institutions and alliances as the facts need them. An institution is *in county*
    when its division code lies in the county of an alliance (indicators.md, common
    definitions: "In-county"); *primary care* are township and village levels
    (``PRIMARY_LEVELS``, indicators.md); TCM service and TCM hall come from its services."""
    alliances = list(Alliance.objects.order_by("pk").values_list(
        "pk", "code", "name", "county_code", "lead_id"))
    counties = {county for _pk, _code, _name, county, _lead in alliances if county}
    leads = {lead: pk for pk, _code, _name, _county, lead in alliances if lead}
    institutions = []
    for pk, name, level, kind, alliance_id, division, services in (
            Institution.objects.order_by("pk").values_list(
                "pk", "name", "level", "kind", "alliance_id", "division_code", "services")):
        county = (division or "")[:6] or None
        township = division[:9] if division and len(division) >= 9 else None
        offered = set(services or [])
        institutions.append((
            pk, name, level, kind, alliance_id, county, township,
            int(level in PRIMARY_LEVELS), int(county in counties),
            int(Institution.Service.TCM in offered),
            int(Institution.Service.TCM_HALL in offered), leads.get(pk)))
    return {"dim_institution": institutions,
            "dim_alliance": [(pk, code, name, county or None, lead)
                             for pk, code, name, county, lead in alliances]}
