"""The indicator catalogue and the policy packs, read from their data files (no ORM).

* ``data/catalogue.toml``: every indicator of ``shared/domain/indicators.md`` (aspects 1–4)
  with its names, aspect, numerator and denominator in words, unit, direction, the fact
  sources it is computed from and a provenance note; the four aspects of the 2020 national
  monitoring set; the fact sources and the app that holds each.
* ``data/packs/<id>.toml``: one policy text each (national defaults; Jilin 2022, seed 001;
  Guangdong 2025, seed 003; Yingkou 2020, seed 004; Zhejiang urban groups, seed 002) with
  its source and its targets, each citing where the source states it. A pack may extend
  another (the provincial packs extend ``national``): a target it does not state is the base
  pack's, with the base pack's citation.

Both are read with :mod:`tomllib` and checked when read: a wrong key, an unknown unit,
direction, aspect, fact or indicator, a duplicate, a target that cannot be judged
(:func:`tiercare.indicators.rules.check_target`) or a missing citation raises
:class:`CatalogueError` naming the file and the entry. The catalogue and the packs are
read once per process (:func:`load_catalogue`, :func:`load_packs`); ADR 0015 says why they
stay files instead of tables.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tiercare.indicators.errors import IndicatorInvalid
from tiercare.indicators.rules import Comparison, Direction, Target, Unit, check_target

DATA_DIR = Path(__file__).resolve().parent / "data"
CATALOGUE_FILE = DATA_DIR / "catalogue.toml"
PACKS_DIR = DATA_DIR / "packs"
#: The pack that holds when an alliance has chosen none.
DEFAULT_PACK = "national"

_ID = re.compile(r"[a-z][a-z0-9_]*")
#: Units whose value is a quotient: they need a denominator. A count has none.
_QUOTIENTS = frozenset({Unit.PERCENT, Unit.PERCENT_CHANGE, Unit.PERCENT_OF_PLAN, Unit.RATIO,
                        Unit.PER_10K})


class CatalogueError(ValueError):
    """A data file breaks the catalogue's rules; the message names the file and the entry."""


class UnknownIndicator(LookupError):
    """No indicator of the catalogue has this id."""

    def __str__(self) -> str:
        return f"no indicator {self.args[0]!r} in the catalogue"


class UnknownPack(LookupError):
    """No policy pack has this id."""

    def __str__(self) -> str:
        return f"no policy pack {self.args[0]!r}"


def _name(name_zh: str, name_en: str, language: str) -> str:
    return name_zh if language.lower().startswith("zh") else name_en


@dataclass(frozen=True)
class Aspect:
    """One of the four aspects of the 2020 national monitoring set (indicators.md)."""

    id: str
    name_zh: str
    name_en: str

    def name(self, language: str) -> str:
        """The name in ``language`` (Chinese for ``zh…``, else English)."""
        return _name(self.name_zh, self.name_en, language)


@dataclass(frozen=True)
class Fact:
    """A source of records indicators are computed from, and the app that holds it."""

    id: str
    owner: str
    description: str


@dataclass(frozen=True)
class Indicator:
    """One indicator: what it counts (numerator and denominator in words; the denominator is
    empty for a count, a median or an amount), its unit and direction, the fact sources it
    needs and where its definition comes from. Targets are in the packs."""

    id: str
    name_zh: str
    name_en: str
    aspect: str
    numerator: str
    denominator: str
    unit: Unit
    direction: Direction
    facts: tuple[str, ...]
    provenance: str

    def name(self, language: str) -> str:
        """The name in ``language`` (Chinese for ``zh…``, else English)."""
        return _name(self.name_zh, self.name_en, language)

    @property
    def judged(self) -> bool:
        """Whether the indicator takes a target (a count that is only watched does not)."""
        return self.direction != Direction.NONE


@dataclass(frozen=True)
class Catalogue:
    """The catalogue file, checked: aspects, fact sources and indicators in file order."""

    edition: str
    date: dt.date
    source: str
    aspects: tuple[Aspect, ...]
    facts: tuple[Fact, ...]
    indicators: tuple[Indicator, ...]

    @functools.cached_property
    def _by_id(self) -> Mapping[str, Indicator]:
        return MappingProxyType({i.id: i for i in self.indicators})

    def indicator(self, indicator_id: str) -> Indicator:
        """The indicator with this id (:class:`UnknownIndicator` when there is none)."""
        try:
            return self._by_id[indicator_id]
        except KeyError:
            raise UnknownIndicator(indicator_id) from None

    def __contains__(self, indicator_id: object) -> bool:
        return indicator_id in self._by_id

    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def in_aspect(self, aspect_id: str) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.aspect == aspect_id)


@dataclass(frozen=True)
class PackSource:
    """Where a pack's targets come from: the seed file (in ``shared/seeds``), the document,
    who issued it and its date (or the date of the page that carries it)."""

    seed: str
    document: str
    issuer: str
    date: dt.date
    note: str


@dataclass(frozen=True)
class Pack:
    """A policy pack: ``own_targets`` are those its file states; ``targets`` adds those of the
    pack it extends (its own win), one per indicator."""

    id: str
    name_zh: str
    name_en: str
    region: str
    extends: str
    source: PackSource
    own_targets: tuple[Target, ...]
    targets: Mapping[str, Target]

    def name(self, language: str) -> str:
        """The name in ``language`` (Chinese for ``zh…``, else English)."""
        return _name(self.name_zh, self.name_en, language)


# --- reading tables ---------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle, parse_float=Decimal)
    except OSError as err:
        raise CatalogueError(f"{path.name}: cannot be read ({err.strerror})") from err
    except tomllib.TOMLDecodeError as err:
        raise CatalogueError(f"{path.name}: not valid TOML ({err})") from err


def _fields(table: object, where: str, required: Mapping[str, type | tuple[type, ...]],
            optional: Mapping[str, type | tuple[type, ...]] | None = None) -> dict[str, Any]:
    """The table's keys, checked: every required key present, no unknown key, each value of
    its type (a number is an int or a Decimal, never a bool)."""
    if not isinstance(table, dict):
        raise CatalogueError(f"{where}: expected a table")
    optional = optional or {}
    unknown = sorted(set(table) - set(required) - set(optional))
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(set(required) - set(table))
    if missing:
        raise CatalogueError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, value in table.items():
        kind = required.get(key) or optional[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise CatalogueError(f"{where}: {key} has the wrong type ({type(value).__name__})")
    return dict(table)


def _text(value: str, where: str, key: str) -> str:
    text = value.strip()
    if not text:
        raise CatalogueError(f"{where}: {key} is empty")
    return text


def _ident(value: str, where: str, seen: set[str]) -> str:
    if not _ID.fullmatch(value):
        raise CatalogueError(f"{where}: id {value!r} is not lower_snake_case")
    if value in seen:
        raise CatalogueError(f"{where}: id {value!r} appears twice")
    seen.add(value)
    return value


def _choice(value: str, choices: type[Unit] | type[Direction] | type[Comparison], where: str,
            key: str) -> Any:
    if value not in choices.values:
        raise CatalogueError(f"{where}: {key} {value!r} is not one of "
                             f"{', '.join(choices.values)}")
    return choices(value)


def _list(table: dict[str, Any], key: str, where: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: [[{key}]] must be an array of tables")
    return value


# --- the catalogue ---------------------------------------------------------------------------

_STR = str
_NUMBER = (int, Decimal)


def read_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    """Read and check a catalogue file (uncached; :func:`load_catalogue` caches the shipped
    one)."""
    data = _read_toml(path)
    where = path.name
    _fields(data, where, {"meta": dict, "aspect": list, "fact": list, "indicator": list})
    meta = _fields(data["meta"], f"{where} [meta]",
                   {"edition": _STR, "date": dt.date, "source": _STR})

    aspects = [Aspect(*texts) for texts in _text_rows(data, "aspect", where,
                                                      ("id", "name_zh", "name_en"))]
    facts = [Fact(*texts) for texts in _text_rows(data, "fact", where,
                                                  ("id", "owner", "description"))]

    aspect_ids = {a.id for a in aspects}
    fact_ids = {f.id for f in facts}
    seen: set[str] = set()
    indicators = []
    for n, table in enumerate(_list(data, "indicator", where), 1):
        at = f"{where} [[indicator]] #{n}"
        row = _fields(table, at, {
            "id": _STR, "name_zh": _STR, "name_en": _STR, "aspect": _STR, "numerator": _STR,
            "denominator": _STR, "unit": _STR, "direction": _STR, "facts": list,
            "provenance": _STR})
        at = f"{where} [[indicator]] {row['id']!r}"
        indicators.append(_indicator(row, at, seen, aspect_ids, fact_ids))
    if not indicators:
        raise CatalogueError(f"{where}: no indicator")
    return Catalogue(edition=_text(meta["edition"], where, "edition"), date=meta["date"],
                     source=_text(meta["source"], where, "source"), aspects=tuple(aspects),
                     facts=tuple(facts), indicators=tuple(indicators))


def _text_rows(data: dict[str, Any], key: str, where: str,
               names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The ``[[key]]`` tables whose keys are all texts: ``names[0]`` is a unique id, the
    others must not be empty; their values in the order of ``names``."""
    seen: set[str] = set()
    rows = []
    for n, table in enumerate(_list(data, key, where), 1):
        at = f"{where} [[{key}]] #{n}"
        row = _fields(table, at, dict.fromkeys(names, _STR))
        rows.append((_ident(row[names[0]], at, seen),
                     *(_text(row[name], at, name) for name in names[1:])))
    return rows


def _indicator(row: dict[str, Any], at: str, seen: set[str], aspect_ids: set[str],
               fact_ids: set[str]) -> Indicator:
    indicator_id = _ident(row["id"], at, seen)
    if row["aspect"] not in aspect_ids:
        raise CatalogueError(f"{at}: aspect {row['aspect']!r} is not declared")
    unit = _choice(row["unit"], Unit, at, "unit")
    direction = _choice(row["direction"], Direction, at, "direction")
    facts = row["facts"]
    if not facts or not all(isinstance(f, str) for f in facts):
        raise CatalogueError(f"{at}: facts must list at least one fact source")
    unknown = sorted(set(facts) - fact_ids)
    if unknown:
        raise CatalogueError(f"{at}: unknown fact source(s) {', '.join(unknown)}")
    denominator = row["denominator"].strip()
    if unit == Unit.COUNT and denominator:
        raise CatalogueError(f"{at}: a count has no denominator")
    if unit in _QUOTIENTS and not denominator:
        raise CatalogueError(f"{at}: a {unit} needs a denominator")
    return Indicator(
        id=indicator_id, name_zh=_text(row["name_zh"], at, "name_zh"),
        name_en=_text(row["name_en"], at, "name_en"), aspect=row["aspect"],
        numerator=_text(row["numerator"], at, "numerator"), denominator=denominator,
        unit=unit, direction=direction, facts=tuple(facts),
        provenance=_text(row["provenance"], at, "provenance"))


@functools.cache
def load_catalogue() -> Catalogue:
    """The shipped catalogue (``data/catalogue.toml``), read and checked once."""
    return read_catalogue(CATALOGUE_FILE)


def indicator(indicator_id: str) -> Indicator:
    """The shipped catalogue's indicator with this id (:class:`UnknownIndicator` if none)."""
    return load_catalogue().indicator(indicator_id)


# --- the packs --------------------------------------------------------------------------------


def read_pack(path: Path, catalogue: Catalogue) -> Pack:
    """Read and check one pack file against ``catalogue``. Its ``targets`` are its own: the
    base pack's are added by :func:`read_packs`."""
    data = _read_toml(path)
    where = path.name
    _fields(data, where, {"pack": dict, "source": dict}, {"target": list})
    head = _fields(data["pack"], f"{where} [pack]", {
        "id": _STR, "name_zh": _STR, "name_en": _STR, "region": _STR, "extends": _STR})
    if head["id"] != path.stem:
        raise CatalogueError(f"{where}: [pack] id {head['id']!r} differs from the file name")
    _ident(head["id"], f"{where} [pack]", set())
    source = _fields(data["source"], f"{where} [source]", {
        "seed": _STR, "document": _STR, "issuer": _STR, "date": dt.date, "note": _STR})
    targets: dict[str, Target] = {}
    for n, table in enumerate(_list(data, "target", where), 1):
        target = _target(table, f"{where} [[target]] #{n}", head["id"], catalogue)
        if target.indicator in targets:
            raise CatalogueError(f"{where}: two targets for {target.indicator!r}")
        targets[target.indicator] = target
    return Pack(
        id=head["id"], name_zh=_text(head["name_zh"], where, "name_zh"),
        name_en=_text(head["name_en"], where, "name_en"),
        region=_text(head["region"], where, "region"), extends=head["extends"].strip(),
        source=PackSource(seed=source["seed"].strip(),
                          document=_text(source["document"], where, "document"),
                          issuer=_text(source["issuer"], where, "issuer"), date=source["date"],
                          note=source["note"].strip()),
        own_targets=tuple(targets.values()), targets=MappingProxyType(targets))


def _target(table: object, at: str, pack_id: str, catalogue: Catalogue) -> Target:
    row = _fields(table, at, {"indicator": _STR, "comparison": _STR, "citation": _STR},
                  {"value": _NUMBER, "tolerance": _NUMBER, "year": int, "quote": _STR,
                   "note": _STR})
    at = f"{at} ({row['indicator']})"
    try:
        item = catalogue.indicator(row["indicator"])
    except UnknownIndicator as err:
        raise CatalogueError(f"{at}: {err}") from None
    comparison = _choice(row["comparison"], Comparison, at, "comparison")
    value = _decimal(row.get("value"))
    tolerance = _decimal(row.get("tolerance"))
    try:
        check_target(item.direction, item.unit, comparison, value, tolerance)
    except IndicatorInvalid as err:
        raise CatalogueError(f"{at}: {err.english()}") from None
    year = row.get("year")
    if year is not None and not 1990 <= year <= 2100:
        raise CatalogueError(f"{at}: year {year} is not a plausible target year")
    return Target(indicator=item.id, comparison=comparison, value=value, tolerance=tolerance,
                  year=year, origin=pack_id, citation=_text(row["citation"], at, "citation"),
                  quote=row.get("quote", "").strip(), note=row.get("note", "").strip())


def _decimal(value: int | Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def read_packs(directory: Path, catalogue: Catalogue) -> dict[str, Pack]:
    """Every ``*.toml`` pack of ``directory``, checked, with the targets of the packs they
    extend merged in (a pack's own target wins); an unknown base or a cycle is refused."""
    raw = {pack.id: pack for pack in (read_pack(path, catalogue)
                                      for path in sorted(directory.glob("*.toml")))}
    if not raw:
        raise CatalogueError(f"{directory.name}: no pack")
    resolved: dict[str, Pack] = {}
    for pack_id in raw:
        chain = [pack_id]
        while raw[chain[-1]].extends:
            base = raw[chain[-1]].extends
            if base not in raw:
                raise CatalogueError(f"{chain[-1]}.toml: extends unknown pack {base!r}")
            if base in chain:
                raise CatalogueError(f"{pack_id}.toml: packs extend each other "
                                     f"({' → '.join([*chain, base])})")
            chain.append(base)
        targets: dict[str, Target] = {}
        for member in reversed(chain):
            targets.update(raw[member].targets)
        resolved[pack_id] = _with_targets(raw[pack_id], targets)
    return resolved


def _with_targets(pack: Pack, targets: dict[str, Target]) -> Pack:
    return Pack(id=pack.id, name_zh=pack.name_zh, name_en=pack.name_en, region=pack.region,
                extends=pack.extends, source=pack.source, own_targets=pack.own_targets,
                targets=MappingProxyType(targets))


@functools.cache
def load_packs() -> Mapping[str, Pack]:
    """The shipped packs (``data/packs``), read and checked once, by id."""
    packs = read_packs(PACKS_DIR, load_catalogue())
    if DEFAULT_PACK not in packs:
        raise CatalogueError(f"{PACKS_DIR.name}: the default pack {DEFAULT_PACK!r} is missing")
    return MappingProxyType(packs)


def pack(pack_id: str) -> Pack:
    """The shipped pack with this id (:class:`UnknownPack` when there is none)."""
    try:
        return load_packs()[pack_id]
    except KeyError:
        raise UnknownPack(pack_id) from None
