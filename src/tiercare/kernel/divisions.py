"""Administrative division codes, GB/T 2260 (rules.md §10).

A 6-digit code is province (2 digits) + prefecture (2) + county (2); the statistical code adds
3 township digits and 3 village digits (9 and 12 digits). The table of province, prefecture
and county codes ships as ``data/divisions.csv`` (source, edition and licence in its header and
in ``docs/reference-data.md``); it is read once, lazily.

Quirks of the official table that this module handles:

* Municipalities (北京, 天津, 上海, 重庆) list their districts under the pseudo-prefecture
  ``市辖区`` (and 重庆's counties under ``县``); provinces list county-level cities directly
  under the province under ``省直辖县级行政区划`` (e.g. 济源 419001 under 419000). These
  pseudo-prefectures are real rows (so prefix arithmetic works) but are left out of
  :func:`full_name`.
* Prefecture-level cities without counties (不设区的地级市: 东莞 441900, 中山 442000,
  儋州 460400) are county-level units themselves: :func:`validate_county` accepts them and
  :func:`counties_in` returns the city itself.

The table changes every year; :data:`EDITION` names the edition loaded so that stored codes
can carry it (rules.md §10, "store codes with the table version").
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tiercare.kernel.errors import N_, InvalidDivisionCode

DATA_FILE = Path(__file__).resolve().parent / "data" / "divisions.csv"

PROVINCE = "province"
PREFECTURE = "prefecture"
COUNTY = "county"
LEVELS = (PROVINCE, PREFECTURE, COUNTY)

# Names of pseudo-prefectures that group counties without being a place of their own.
PSEUDO_PREFECTURE_NAMES = frozenset(
    {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
)


@dataclass(frozen=True)
class Division:
    """One row of the GB/T 2260 table."""

    code: str  # 6 digits
    name: str
    level: str  # "province" | "prefecture" | "county"
    parent_code: str | None


@dataclass(frozen=True)
class _Table:
    edition: str
    by_code: dict[str, Division]
    children: dict[str, tuple[Division, ...]]


@cache
def _table() -> _Table:
    by_code: dict[str, Division] = {}
    children: dict[str, list[Division]] = {}
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    for row in csv.DictReader(lines):
        parent = row["parent_code"] or None
        division = Division(row["code"], row["name"], row["level"], parent)
        by_code[division.code] = division
        if parent is not None:
            children.setdefault(parent, []).append(division)
    return _Table(EDITION, by_code, {k: tuple(v) for k, v in children.items()})


def _read_edition() -> str:
    """The ``# edition:`` line of the data file's header (read without loading the table)."""
    with DATA_FILE.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            if line.startswith("# edition:"):
                return line.split(":", 1)[1].strip()
    raise RuntimeError(f"{DATA_FILE} has no '# edition:' header line")


EDITION: str = _read_edition()
"""The code-table edition (year) of ``data/divisions.csv``, e.g. ``"2023"``."""


def _digits(code: str) -> str:
    text = code.strip() if isinstance(code, str) else ""
    if len(text) not in (6, 9, 12) or not text.isascii() or not text.isdigit():
        raise InvalidDivisionCode(
            "division.format",
            N_("%(value)s is not a division code: it must have 6, 9 or 12 digits."),
            {"value": code},
        )
    return text


def lookup(code: str) -> Division | None:
    """The province, prefecture or county for a 6-digit code, or the county-level unit of a
    9- or 12-digit township/village code; ``None`` when unknown or malformed."""
    text = code.strip() if isinstance(code, str) else ""
    if len(text) not in (6, 9, 12) or not text.isascii() or not text.isdigit():
        return None
    return _table().by_code.get(text[:6])


def exists(code: str) -> bool:
    """True for a 6-digit code present in the table (any level)."""
    return isinstance(code, str) and len(code) == 6 and code in _table().by_code


def is_county_level(division: Division) -> bool:
    """A county, or a prefecture-level city without counties (东莞, 中山, 儋州)."""
    if division.level == COUNTY:
        return True
    return division.level == PREFECTURE and division.code not in _table().children


def validate_county(code: str) -> Division:
    """The county-level division for a 6-digit code, or :class:`InvalidDivisionCode`
    (``division.format``, ``division.unknown``, ``division.not_county``)."""
    text = code.strip() if isinstance(code, str) else ""
    if len(text) != 6 or not text.isascii() or not text.isdigit():
        raise InvalidDivisionCode(
            "division.county_format",
            N_("%(value)s is not a county code: it must have 6 digits."),
            {"value": code},
        )
    division = _table().by_code.get(text)
    if division is None:
        raise InvalidDivisionCode(
            "division.unknown",
            N_("Division code %(value)s does not exist in the %(edition)s code table."),
            {"value": text, "edition": EDITION},
        )
    if not is_county_level(division):
        raise InvalidDivisionCode(
            "division.not_county",
            N_("%(value)s (%(name)s) is not a county-level division."),
            {"value": text, "name": division.name},
        )
    return division


def province_of(code: str) -> str:
    """The 6-digit province code containing ``code`` (e.g. 370102 → 370000)."""
    return _digits(code)[:2] + "0000"


def prefecture_of(code: str) -> str:
    """The 6-digit prefecture code containing ``code`` (e.g. 370102 → 370100)."""
    return _digits(code)[:4] + "00"


def county_of(code: str) -> str:
    """The 6-digit county part of a 6-, 9- or 12-digit code."""
    return _digits(code)[:6]


def is_inside_county(code: str, county_code: str) -> bool:
    """True when a 6/9/12-digit code lies in the county ``county_code`` (prefix rule)."""
    county = _digits(county_code)
    if len(county) != 6:
        raise InvalidDivisionCode(
            "division.county_format",
            N_("%(value)s is not a county code: it must have 6 digits."),
            {"value": county_code},
        )
    return _digits(code)[:6] == county


def full_name(code: str) -> str:
    """Province, prefecture and county names joined by spaces (``山东省 济南市 历下区``),
    leaving out pseudo-prefectures (``北京市 东城区``, ``河南省 济源市``). For a 9/12-digit
    code the county-level name is the last part."""
    text = _digits(code)[:6]
    table = _table().by_code
    division = table.get(text)
    if division is None:
        raise InvalidDivisionCode(
            "division.unknown",
            N_("Division code %(value)s does not exist in the %(edition)s code table."),
            {"value": text, "edition": EDITION},
        )
    names: list[str] = []
    current: Division | None = division
    while current is not None:
        if not (current.level == PREFECTURE and current.name in PSEUDO_PREFECTURE_NAMES):
            names.append(current.name)
        current = table.get(current.parent_code) if current.parent_code else None
    return " ".join(reversed(names))


def children_of(code: str) -> list[Division]:
    """Direct children in the table (prefectures of a province, counties of a prefecture)."""
    return list(_table().children.get(code, ()))


def counties_in(prefecture_code: str) -> list[Division]:
    """County-level divisions of a prefecture (a 4- or 6-digit code; 3701 or 370100).
    A prefecture-level city without counties returns itself; an unknown code returns []."""
    text = prefecture_code.strip()
    if len(text) == 4:
        text += "00"
    code = _digits(text)[:4] + "00"
    table = _table()
    prefecture = table.by_code.get(code)
    if prefecture is None or prefecture.level != PREFECTURE:
        return []
    counties = table.children.get(code)
    return list(counties) if counties else [prefecture]


def counties_of_province(province_code: str) -> list[Division]:
    """Every county-level division of a province, in code order."""
    code = _digits(province_code)[:2] + "0000"
    result: list[Division] = []
    for prefecture in _table().children.get(code, ()):
        result.extend(counties_in(prefecture.code))
    return result


def all_divisions() -> list[Division]:
    """Every row of the table in code order."""
    return sorted(_table().by_code.values(), key=lambda d: d.code)


def find_by_name(name: str) -> list[Division]:
    """Provinces, prefectures and counties called exactly ``name`` (several counties share
    a name across provinces, e.g. 城关区)."""
    text = name.strip()
    return [d for d in _table().by_code.values() if d.name == text]
