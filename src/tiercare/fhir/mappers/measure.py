"""Measure ↔ one indicator of the catalogue (``indicators/data/catalogue.toml``, ADR 0015):
the definition of what a MeasureReport reports (FHIR R4 §12.4 Measure; ADR 0019 records the
choices). Computed from the file when asked for, never stored: read and search only.

* ``id``: the indicator id with ``_`` written ``-`` (FHIR ids take letters, digits, ``-``
  and ``.`` only: ``in_county_visit_rate`` is ``Measure/in-county-visit-rate``);
  ``identifier`` ``…/identifier/indicator`` keeps the exact indicator id. ``url`` (the
  canonical a MeasureReport names): ``https://tiercare.org/fhir/Measure/<id>``;
  ``version`` and ``date``: the catalogue's edition and date.
* ``name``: the id in UpperCamelCase (R4 mea-0: usable by machines); ``title``: the
  indicator's name in the request's language, the other language in the
  ``translation`` extension of ``_title`` (R4 §2.24.0.3 "Language" / extension
  ``http://hl7.org/fhir/StructureDefinition/translation``).
* ``status``: ``active`` for indicators the engine computes
  (``indicators.engine.definitions.DEFINITIONS``), ``draft`` for those declared until their
  data arrive (their reports do not exist yet).
* ``description``: numerator and denominator in the catalogue's words and the unit;
  ``guidance``: how the engine reads them where the words leave a choice;
  ``relatedArtifact``: the provenance (``documentation``) and, for a change against last
  year, the Measure it is the change of (``depends-on``).
* ``topic``: the aspect of the 2020 national monitoring set (``…/CodeSystem/indicator-aspect``).
* ``scoring`` (R4 measure-scoring): ``proportion`` for a percent share, ``ratio`` for
  ratios, rates per 10,000 and amounts per visit, ``cohort`` for counts,
  ``continuous-variable`` for medians (hours); none for a change against last year, which is
  no population measure (its score is the change of another Measure, named in
  ``relatedArtifact``). ``improvementNotation``: ``increase`` / ``decrease`` from the
  indicator's direction (none for indicators watched or held near a value).
* ``group[0].population``: ``numerator`` and ``denominator``, ``initial-population`` (counts)
  or ``measure-population`` and ``measure-observation`` (medians), each with the catalogue's
  words and, as ``criteria``, the SQL the engine runs over the snapshot's fact tables
  (``application/sql``; ``indicators/engine/facts.py``) — or the engine's rule in words
  where it is no single statement. Draft measures have no group: nothing computes them yet.
* ``subjectCodeableConcept``: Organization (reports are of alliances and institutions, and
  of townships as Locations); extensions ``…/StructureDefinition/measure-subject-kind``
  (``alliance`` | ``institution`` | ``township``: the subjects MeasureReports exist for) and
  ``…/StructureDefinition/indicator-unit`` (the catalogue's unit).

Every reader sees every Measure (definitions, not records): no audit, no reach.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone, translation

from tiercare.fhir.auth import Client
from tiercare.fhir.mapping import (
    BASE_URI,
    ComputedMapper,
    Criterion,
    computed_param,
    register,
)
from tiercare.fhir.search import parse_token
from tiercare.indicators.catalogue import Catalogue, Indicator, load_catalogue
from tiercare.indicators.engine.definitions import (
    ALLIANCE,
    DEFINITIONS,
    INSTITUTION,
    MEASURES,
    TOWNSHIP,
    Definition,
    org_kinds,
)
from tiercare.indicators.rules import Direction, Unit

MEASURE_URL = f"{BASE_URI}/Measure"
INDICATOR_SYSTEM = f"{BASE_URI}/identifier/indicator"
ASPECT_SYSTEM = f"{BASE_URI}/CodeSystem/indicator-aspect"
SUBJECT_KIND_URL = f"{BASE_URI}/StructureDefinition/measure-subject-kind"
UNIT_URL = f"{BASE_URI}/StructureDefinition/indicator-unit"
TRANSLATION_URL = "http://hl7.org/fhir/StructureDefinition/translation"
SCORING_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-scoring"
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
IMPROVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation"
STATUS_SYSTEM = "http://hl7.org/fhir/publication-status"
UCUM = "http://unitsofmeasure.org"
ISO_4217 = "urn:iso:std:iso:4217"
#: the org kinds of the engine that MeasureReports are served for (levels are not: ADR 0019)
SUBJECT_KINDS = (ALLIANCE, INSTITUTION, TOWNSHIP)
ACTIVE, DRAFT = "active", "draft"

SCORING_DISPLAY = {"proportion": "Proportion", "ratio": "Ratio", "cohort": "Cohort",
                   "continuous-variable": "Continuous Variable"}
POPULATION_DISPLAY = {"initial-population": "Initial Population", "numerator": "Numerator",
                      "denominator": "Denominator", "measure-population": "Measure Population",
                      "measure-observation": "Measure Observation"}
#: the catalogue's unit → ``measureScore`` Quantity (UCUM; yuan as ISO 4217 money)
SCORE_UNITS: dict[str, dict[str, str]] = {
    Unit.PERCENT: {"unit": "%", "system": UCUM, "code": "%"},
    Unit.PERCENT_CHANGE: {"unit": "%", "system": UCUM, "code": "%"},
    Unit.PERCENT_OF_PLAN: {"unit": "%", "system": UCUM, "code": "%"},
    Unit.COUNT: {"unit": "count", "system": UCUM, "code": "1"},
    Unit.RATIO: {"unit": "ratio", "system": UCUM, "code": "1"},
    Unit.HOURS: {"unit": "h", "system": UCUM, "code": "h"},
    Unit.YUAN: {"unit": "yuan", "system": ISO_4217, "code": "CNY"},
    Unit.PER_10K: {"unit": "per 10 000", "system": UCUM, "code": "/10*4"},
}


# -- ids and names ------------------------------------------------------------------------------

def measure_id(indicator_id: str) -> str:
    """The Measure's logical id: the indicator id with ``-`` for ``_``."""
    return indicator_id.replace("_", "-")


def canonical(indicator_id: str) -> str:
    return f"{MEASURE_URL}/{measure_id(indicator_id)}"


def indicator_named(text: str, catalogue: Catalogue | None = None) -> Indicator | None:
    """The indicator a reference to its Measure names: ``Measure/<id>``, the canonical URL
    (``|version`` of this edition accepted), the bare id, or the indicator id itself."""
    catalogue = catalogue or load_catalogue()
    value, _sep, version = text.strip().partition("|")
    if version and version != catalogue.edition:
        return None
    value = value.rstrip("/")
    if "://" in value and not value.startswith(f"{MEASURE_URL}/"):
        return None  # another server's Measure, whatever its id
    if "/" in value:
        head, _slash, value = value.rpartition("/")
        if not head.endswith("Measure"):
            return None
    wanted = value.replace("-", "_")
    return catalogue.indicator(wanted) if wanted in catalogue else None


def computable_name(indicator_id: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in indicator_id.split("_"))


def is_computed(indicator_id: str) -> bool:
    return indicator_id in DEFINITIONS


def subject_kinds(indicator_id: str) -> tuple[str, ...]:
    """The kinds of subject MeasureReports of this indicator exist for (none while it is
    only declared)."""
    if not is_computed(indicator_id):
        return ()
    return tuple(kind for kind in org_kinds(indicator_id) if kind in SUBJECT_KINDS)


def _language() -> str:
    return translation.get_language() or "zh-hans"


def coding(system: str, code: str, display: str = "") -> dict[str, Any]:
    """A CodeableConcept of one coding."""
    one = {"system": system, "code": code}
    if display:
        one["display"] = display
    return {"coding": [one]}


# -- scoring and populations -------------------------------------------------------------------

def scoring(indicator: Indicator) -> str | None:
    """The R4 measure-scoring code of an indicator (module docstring)."""
    definition = DEFINITIONS.get(indicator.id)
    kind = definition.kind if definition else ""
    if kind == "growth" or indicator.unit == Unit.PERCENT_CHANGE:
        return None
    if kind == "median" or indicator.unit == Unit.HOURS:
        return "continuous-variable"
    if kind == "count" or indicator.unit == Unit.COUNT:
        return "cohort"
    if indicator.unit == Unit.PERCENT:
        return "proportion"
    if indicator.unit == Unit.YUAN and kind != "ratio":
        return "continuous-variable"  # an amount, not a quotient
    return "ratio"


def improvement(indicator: Indicator) -> dict[str, Any] | None:
    code = {Direction.HIGHER: "increase", Direction.LOWER: "decrease"}.get(indicator.direction)
    if code is None:
        return None
    return coding(IMPROVEMENT_SYSTEM, code, code.capitalize())


def score_quantity(indicator: Indicator, value: Any) -> dict[str, Any]:
    """``measureScore``: the value in the indicator's unit. Values are ``Decimal`` with two
    places, which a JSON number holds exactly in its shortest form (as ``mapping.money``)."""
    return {"value": float(value), **SCORE_UNITS[indicator.unit]}


@dataclass(frozen=True)
class Population:
    """One population of a computed Measure: its code, the words, the criteria, and which
    number of the engine's cell a report gives for it (``numerator`` | ``denominator``, or
    none: a median's observation is the score). ``amount``: a sum of yuan, not a count."""

    code: str
    description: str
    criteria: dict[str, str]
    source: str = ""
    amount: bool = False


def _sql(measure_name: str) -> dict[str, str]:
    measure = MEASURES[measure_name]
    return {"language": "application/sql",
            "expression": f"SELECT {measure.sql} FROM {measure.fact}"}


def _words(text: str) -> dict[str, str]:
    return {"language": "text/plain", "expression": text}


def is_amount(measure_name: str) -> bool:
    """Whether an engine measure sums an amount (yuan) rather than counting rows: counts are
    ``COUNT(*)`` or a sum of ones (``definitions._count``)."""
    sql = MEASURES[measure_name].sql
    return not (sql == "COUNT(*)" or sql.endswith(" THEN 1 ELSE 0 END)"))


def populations(indicator: Indicator) -> list[Population]:
    """The populations of a computed indicator (none for a declared one or a change against
    last year)."""
    definition: Definition | None = DEFINITIONS.get(indicator.id)
    if definition is None or definition.kind == "growth":
        return []
    if definition.kind == "count":
        return [Population("initial-population", indicator.numerator,
                           _sql(definition.numerator), "numerator",
                           is_amount(definition.numerator))]
    if definition.kind == "median":
        rows = (f"FROM {definition.median_fact} WHERE {definition.median_condition}")
        return [Population("measure-population", definition.note or indicator.numerator,
                           {"language": "application/sql",
                            "expression": f"SELECT COUNT(*) {rows}"}, "denominator"),
                Population("measure-observation", indicator.numerator,
                           {"language": "application/sql",
                            "expression": f"SELECT MEDIAN({definition.median_value}) {rows}"})]
    if definition.kind == "posted":
        return [Population("numerator", indicator.numerator,
                           _words(definition.note or indicator.numerator), "numerator"),
                Population("denominator", indicator.denominator, _sql("township_centres"),
                           "denominator")]
    return [Population("numerator", indicator.numerator, _sql(definition.numerator),
                       "numerator", is_amount(definition.numerator)),
            Population("denominator", indicator.denominator, _sql(definition.denominator),
                       "denominator", is_amount(definition.denominator))]


def population_code(population: Population) -> dict[str, Any]:
    return coding(POPULATION_SYSTEM, population.code, POPULATION_DISPLAY[population.code])


# -- the resource -------------------------------------------------------------------------------

def _title(indicator: Indicator) -> tuple[str, dict[str, Any]]:
    """The title in the request's language and the other language as a translation."""
    chinese = _language().lower().startswith("zh")
    other_lang, other = ("en", indicator.name_en) if chinese else ("zh-Hans", indicator.name_zh)
    title = indicator.name_zh if chinese else indicator.name_en
    return title, {"extension": [{"url": TRANSLATION_URL, "extension": [
        {"url": "lang", "valueCode": other_lang}, {"url": "content", "valueString": other}]}]}


def _description(indicator: Indicator) -> str:
    lines = [f"**Numerator**: {indicator.numerator}"]
    if indicator.denominator:
        lines.append(f"**Denominator**: {indicator.denominator}")
    with translation.override("en"):  # the catalogue's words are English
        lines.append(f"**Unit**: {Unit(indicator.unit).label}")
    return "\n\n".join(str(line) for line in lines)


def measure_resource(indicator: Indicator, catalogue: Catalogue) -> dict[str, Any]:
    """The Measure of one indicator (module docstring)."""
    language = _language()
    computed = is_computed(indicator.id)
    definition = DEFINITIONS.get(indicator.id)
    title, title_translation = _title(indicator)
    aspect = next(a for a in catalogue.aspects if a.id == indicator.aspect)
    extensions: list[dict[str, Any]] = [{"url": SUBJECT_KIND_URL, "valueCode": kind}
                                        for kind in subject_kinds(indicator.id)]
    extensions.append({"url": UNIT_URL, "valueCode": str(indicator.unit)})
    resource: dict[str, Any] = {
        "resourceType": "Measure",
        "id": measure_id(indicator.id),
        "extension": extensions,
        "url": canonical(indicator.id),
        "identifier": [{"use": "official", "system": INDICATOR_SYSTEM, "value": indicator.id}],
        "version": catalogue.edition,
        "name": computable_name(indicator.id),
        "title": title,
        "_title": title_translation,
        "status": ACTIVE if computed else DRAFT,
        "experimental": False,
        "subjectCodeableConcept": coding("http://hl7.org/fhir/resource-types",
                                         "Organization", "Organization"),
        "date": catalogue.date.isoformat(),
        "publisher": "TierCare",
        "description": _description(indicator),
        "topic": [coding(ASPECT_SYSTEM, aspect.id, aspect.name(language))],
        "relatedArtifact": [{"type": "documentation", "display": "Provenance",
                             "citation": indicator.provenance}],
    }
    if definition is not None and definition.kind == "growth":
        resource["relatedArtifact"].append({"type": "depends-on",
                                            "resource": canonical(definition.base)})
    code = scoring(indicator)
    if code is not None:
        resource["scoring"] = coding(SCORING_SYSTEM, code, SCORING_DISPLAY[code])
    notation = improvement(indicator)
    if notation is not None:
        resource["improvementNotation"] = notation
    if definition is not None and definition.note:
        resource["guidance"] = definition.note
    groups = populations(indicator)
    if groups:
        resource["group"] = [{"population": [
            {"code": population_code(p), "description": p.description,
             "criteria": p.criteria} for p in groups]}]
    return resource


# -- search -------------------------------------------------------------------------------------

def text_matches(text: str, value: str, modifier: str) -> bool:
    """FHIR string search (R4 §3.1.1.4.8): starts with, ignoring case; ``:exact`` the whole
    text as written; ``:contains`` anywhere, ignoring case."""
    if modifier == "exact":
        return text == value
    if modifier == "contains":
        return value.casefold() in text.casefold()
    return text.casefold().startswith(value.strip().casefold())


def token_matches(value: str, system: str, codes: tuple[str, ...]) -> bool:
    """A token search value against the codes one element holds under ``system``."""
    token = parse_token(value)
    if token.system not in (None, system):
        return False
    return token.code is None or token.code in codes


def _url_matches(indicator: Indicator, value: str, modifier: str) -> bool:
    url, _sep, version = value.strip().partition("|")
    return url == canonical(indicator.id) and (
        not version or version == load_catalogue().edition)


_TESTS: dict[str, Callable[[Indicator, str, str], bool]] = {
    "_id": lambda i, value, modifier: value.strip() == measure_id(i.id),
    "url": _url_matches,
    "identifier": lambda i, value, modifier: token_matches(value, INDICATOR_SYSTEM, (i.id,)),
    "name": lambda i, value, modifier: text_matches(computable_name(i.id), value, modifier),
    "title": lambda i, value, modifier: any(text_matches(name, value, modifier)
                                            for name in (i.name_zh, i.name_en)),
    "status": lambda i, value, modifier: token_matches(
        value, STATUS_SYSTEM, (ACTIVE if is_computed(i.id) else DRAFT,)),
    "topic": lambda i, value, modifier: token_matches(value, ASPECT_SYSTEM, (i.aspect,)),
}


@register
class MeasureMapper(ComputedMapper):
    """The indicators of the catalogue as Measures (read, search)."""

    resource_type = "Measure"
    exportable = True  # definitions: in every system export, whatever its _since
    search_params = {
        "url": computed_param("uri", "The canonical URL (https://tiercare.org/fhir/Measure/"
                              "<id>, optionally |version)"),
        "identifier": computed_param("token", f"The indicator id ({INDICATOR_SYSTEM}|"
                                     "in_county_visit_rate)"),
        "name": computed_param("string", "Computable name (InCountyVisitRate; starts with; "
                               ":exact, :contains)", ("exact", "contains")),
        "title": computed_param("string", "Chinese or English name (starts with; :exact, "
                                ":contains)", ("exact", "contains")),
        "status": computed_param("token", "active (computed) | draft (declared, not yet "
                                 "computed)"),
        "topic": computed_param("token", "The aspect: ordered_care | service_capacity | "
                                f"resource_use | insurance_fund ({ASPECT_SYSTEM})"),
    }

    def id_of(self, obj: Any) -> str:
        return measure_id(obj.id)

    def select(self, client: Client, criteria: list[Criterion]) -> tuple[list[Any], list[Any]]:
        rows = list(load_catalogue().indicators)
        for criterion in criteria:
            test = _TESTS[criterion.name]
            rows = [i for i in rows
                    if any(test(i, value, criterion.modifier) for value in criterion.values)]
        return rows, []

    def fetch(self, client: Client, resource_ids: list[str]) -> list[Any]:
        wanted = set(resource_ids)
        return [i for i in load_catalogue().indicators if measure_id(i.id) in wanted]

    def exported(self, client: Client, since: Any = None) -> list[Any]:
        """Every Measure; with ``_since``, none unless the catalogue's edition is dated at or
        after it (the Measures change only with the catalogue file; its date is their
        ``date``)."""
        catalogue = load_catalogue()
        if since is not None:
            edition_day = dt.datetime.combine(catalogue.date, dt.time.min,
                                              tzinfo=timezone.get_default_timezone())
            if edition_day < since:
                return []
        return list(catalogue.indicators)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        return measure_resource(obj, load_catalogue())
