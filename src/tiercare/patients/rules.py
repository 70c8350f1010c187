"""Pure policy functions of the resident record: no ORM, no state, unit-tested in milliseconds.

* Health record number (rules.md §10): 17 digits = county (6) + township (3) + village (3) +
  serial (5).
* Identity documents other than the resident ID card (rules.md §10: passports and Hong Kong /
  Macao / Taiwan permits accepted as other identifier types): format checks.
* Phone numbers: an 11-digit mainland mobile number (starts with 1) or a landline with its
  area code.
* Probable-match scoring for the master patient index (issue 2 §4: probable matches on
  name + birth date + sex, phone adds weight).
* Masking of ID numbers and phones for roles that do not need them (rules.md §11).

Every rule violation raises :class:`RuleError` with a stable ``code`` and an English message
marked for translation; services turn it into a field error in the user's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext_lazy as _

from tiercare.errors import DomainError

HEALTH_RECORD_LENGTH = 17
VILLAGE_CODE_LENGTH = 12
SERIAL_DIGITS = 5
MAX_SERIAL = 10**SERIAL_DIGITS - 1


class RuleError(DomainError):
    """A rule of the resident record is broken. ``code`` is stable (APIs, tests); ``message``
    is a lazily translated text; ``params`` fill its ``%(name)s`` placeholders."""


# --- health record number (rules.md §10) ---------------------------------------------------


@dataclass(frozen=True)
class HealthRecordNumber:
    """The parts of a 17-digit health record number."""

    county: str
    township: str
    village: str
    serial: int

    @property
    def village_code(self) -> str:
        """The 12-digit village division code the number was allocated in."""
        return self.county + self.township + self.village

    def __str__(self) -> str:
        return build_health_record_number(self.village_code, self.serial)


def build_health_record_number(village_code: str, serial: int) -> str:
    """Compose a health record number from a 12-digit village code and a serial 1–99999
    (rules.md §10)."""
    if len(village_code) != VILLAGE_CODE_LENGTH or not village_code.isascii() \
            or not village_code.isdigit():
        raise RuleError(
            "address_code.format",
            _("The address code must be a 12-digit village-level division code, got “%(code)s”."),
            code=village_code,
        )
    if not 1 <= serial <= MAX_SERIAL:
        raise RuleError(
            "health_record_no.serial_exhausted",
            _("No health record serial is left in village %(code)s (at most %(max)s)."),
            code=village_code, max=MAX_SERIAL,
        )
    return f"{village_code}{serial:0{SERIAL_DIGITS}d}"


def parse_health_record_number(number: str) -> HealthRecordNumber:
    """Split and check a health record number: 17 ASCII digits, serial not 00000
    (rules.md §10)."""
    if len(number) != HEALTH_RECORD_LENGTH or not number.isascii() or not number.isdigit():
        raise RuleError(
            "health_record_no.format",
            _("A health record number has exactly 17 digits, got “%(number)s”."),
            number=number,
        )
    serial = int(number[12:])
    if serial == 0:
        raise RuleError(
            "health_record_no.serial",
            _("The serial part of health record number “%(number)s” cannot be 00000."),
            number=number,
        )
    return HealthRecordNumber(number[:6], number[6:9], number[9:12], serial)


def is_health_record_number(text: str) -> bool:
    """True when ``text`` is a well-formed health record number."""
    try:
        parse_health_record_number(text)
    except RuleError:
        return False
    return True


def check_address_code(code: str) -> str:
    """A resident's address is a 12-digit village-level statistical division code (rules.md
    §10); returns it. Whether its county exists is checked by the service with the kernel."""
    code = code.strip()
    if len(code) != VILLAGE_CODE_LENGTH or not code.isascii() or not code.isdigit():
        raise RuleError(
            "address_code.format",
            _("The address code must be a 12-digit village-level division code, got “%(code)s”."),
            code=code,
        )
    if code[6:9] == "000" or code[9:12] == "000":
        raise RuleError(
            "address_code.level",
            _("The address code “%(code)s” is not a village: its township and village digits "
              "must not be 000."),
            code=code,
        )
    return code


# --- identity documents other than the ID card (rules.md §10) ------------------------------

# A residence permit of Hong Kong / Macao (810000 / 820000) or Taiwan (830000) residents has
# the 18-character layout of a resident ID number (State Council 2018 residence-permit rules).
_RESIDENCE_PERMIT = {
    "hk_macao_permit": re.compile(r"^8[12]0000\d{11}[\dX]$"),
    "taiwan_permit": re.compile(r"^830000\d{11}[\dX]$"),
}
_DOCUMENT_FORMATS: dict[str, re.Pattern[str]] = {
    # ICAO 9303 allows up to 9 characters in the MRZ; national numbers run 5–17 alphanumerics.
    "passport": re.compile(r"^[A-Z0-9]{5,17}$"),
    # Mainland travel permit for HK/Macao residents (回乡证): H or M + 8 digits (+2 renewals).
    "hk_macao_permit": re.compile(r"^[HM]\d{8}(\d{2})?$"),
    # Mainland travel permit for Taiwan residents (台胞证): 8 digits (card) or 10 (old book).
    "taiwan_permit": re.compile(r"^\d{8}(\d{2})?$"),
}


def _residence_permit_check_ok(number: str) -> bool:
    from tiercare.kernel.idnumber import check_digit

    return check_digit(number[:17]) == number[17]


def check_document_number(id_type: str, number: str) -> str:
    """Normalise (strip, upper-case) and check the format of a passport or HK/Macao/Taiwan
    permit number (rules.md §10); residence permits with 18 characters must also pass the
    GB 11643 check character. Returns the normalised number."""
    normalised = re.sub(r"[\s-]", "", number).upper()
    if not normalised:
        raise RuleError("id_number.required", _("The identity document number is required."))
    residence = _RESIDENCE_PERMIT.get(id_type)
    if residence is not None and residence.match(normalised):
        if not _residence_permit_check_ok(normalised):
            raise RuleError(
                "id_number.check_digit",
                _("The check character of residence permit number “%(number)s” is wrong."),
                number=normalised,
            )
        return normalised
    pattern = _DOCUMENT_FORMATS.get(id_type)
    if pattern is None:
        raise RuleError(
            "id_type.unsupported",
            _("“%(type)s” is not an identity document type that can be registered."),
            type=id_type,
        )
    if not pattern.match(normalised):
        messages = {
            "passport": _("A passport number has 5 to 17 letters and digits, got “%(number)s”."),
            "hk_macao_permit": _("A Hong Kong/Macao permit number is H or M followed by 8 or 10 "
                                 "digits (or an 18-character residence permit number), got "
                                 "“%(number)s”."),
            "taiwan_permit": _("A Taiwan permit number has 8 or 10 digits (or is an "
                               "18-character residence permit number), got “%(number)s”."),
        }
        raise RuleError("id_number.format", messages[id_type], number=normalised)
    return normalised


# --- phone numbers ---------------------------------------------------------------------------

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area codes are 3 digits (010, 02x) or 4 digits (0xxx); local numbers 7 or 8 digits.
_LANDLINE = re.compile(r"^(0(?:10|2\d|[3-9]\d{2}))-?(\d{7,8})$")


def normalise_phone(phone: str) -> str:
    """An 11-digit mainland mobile number starting with 1 (a leading +86/86 is dropped), or a
    landline with its area code, returned as ``0571-87654321``. Empty stays empty."""
    text = re.sub(r"[\s()]", "", phone)
    if not text:
        return ""
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if _MOBILE.match(text):
        return text
    landline = _LANDLINE.match(text)
    if landline:
        return f"{landline.group(1)}-{landline.group(2)}"
    raise RuleError(
        "phone.format",
        _("“%(phone)s” is not a phone number: give an 11-digit mobile number starting with 1 "
          "or a landline number with its area code, e.g. 0571-87654321."),
        phone=phone,
    )


def is_mobile(text: str) -> bool:
    return bool(_MOBILE.match(text))


# --- masking (rules.md §11) ------------------------------------------------------------------


def mask_id_number(number: str) -> str:
    """Keep what identifies the region and the last four characters, hide the birth date:
    ``110105194912310021`` → ``110105********0021``. Shorter document numbers keep two
    characters at each end."""
    n = len(number)
    if n >= 15:
        return number[:6] + "*" * (n - 10) + number[-4:]
    if n > 4:
        return number[:2] + "*" * (n - 4) + number[-2:]
    return "*" * n


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``; a landline keeps its area code and last four digits:
    ``0571-87654321`` → ``0571-****4321``."""
    if not phone:
        return ""
    if "-" in phone:
        area, local = phone.split("-", 1)
        return f"{area}-{mask_phone_local(local)}"
    if len(phone) >= 11:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return mask_phone_local(phone)


def mask_phone_local(local: str) -> str:
    if len(local) <= 4:
        return "*" * len(local)
    return "*" * (len(local) - 4) + local[-4:]


# --- probable matches (master patient index) ------------------------------------------------


@dataclass(frozen=True)
class MatchFacts:
    """What the index compares of a resident record."""

    name: str
    birth_date: date
    sex: str
    phone: str = ""
    address_code: str = ""
    id_type: str = ""
    id_number: str = ""


@dataclass(frozen=True)
class MatchResult:
    """``score`` 0–100; ``probable`` when name, birth date and sex all agree; ``reasons`` are
    stable codes (``same_name``, ``same_phone``, ``different_id_number`` …)."""

    score: int
    probable: bool
    reasons: list[str] = field(default_factory=list)


#: Points per agreeing attribute; they add up to 100.
MATCH_WEIGHTS = {
    "same_name": 30,
    "same_birth_date": 30,
    "same_sex": 10,
    "same_phone": 20,
    "same_village": 10,
}
#: The attributes a probable match must share (issue 2 §4).
REQUIRED_FOR_MATCH = ("same_name", "same_birth_date", "same_sex")
NOT_PROBABLE_CEILING = 60


def score_match(a: MatchFacts, b: MatchFacts) -> MatchResult:
    """Score how likely two records describe one person. Name + birth date + sex are required
    for a probable match (score 70–100); a shared phone or village raises the score; a pair
    without them scores at most 60. Two different numbers
    of the same document type are reported (``different_id_number``) for the reviewer but do
    not lower the score: a mistyped ID number is a common cause of duplicates."""
    reasons: list[str] = []
    if a.name.strip() and a.name.strip() == b.name.strip():
        reasons.append("same_name")
    if a.birth_date == b.birth_date:
        reasons.append("same_birth_date")
    if a.sex and a.sex == b.sex:
        reasons.append("same_sex")
    if a.phone and a.phone == b.phone:
        reasons.append("same_phone")
    if a.address_code and a.address_code == b.address_code:
        reasons.append("same_village")
    points = sum(MATCH_WEIGHTS[r] for r in reasons)
    probable = all(r in reasons for r in REQUIRED_FOR_MATCH)
    # A pair lacking a required attribute is scaled into 0–60 so that it always ranks below
    # every probable pair (70–100).
    score = points if probable else points * NOT_PROBABLE_CEILING // 100
    if a.id_number and b.id_number and a.id_type == b.id_type and a.id_number != b.id_number:
        reasons.append("different_id_number")
    return MatchResult(score=score, probable=probable, reasons=reasons)


# --- what a search query is --------------------------------------------------------------------


class QueryKind:
    ID_NUMBER = "id_number"
    PHONE = "phone"
    HEALTH_RECORD = "health_record"
    NAME = "name"
    INITIALS = "initials"
    DOCUMENT = "document"
    EMPTY = "empty"


_ID18 = re.compile(r"^\d{17}[\dX]$")
_ID15 = re.compile(r"^\d{15}$")
_CJK = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f·]+$")
_LATIN = re.compile(r"^[a-z]+$")
_DOCUMENT = re.compile(r"^[A-Z0-9]{5,17}$")


def classify_query(query: str) -> tuple[str, str]:
    """Decide what a search box text is and normalise it (issue 2 §4: search by ID number,
    phone, health record number, name and pinyin initials). Returns ``(kind, text)``:
    18 characters (17 digits + digit/X) or 15 digits → ID number; 11 digits starting with 1 →
    phone; 17 digits → health record number; Chinese characters → name prefix; latin letters
    → pinyin initials prefix (lower-cased); other letters-and-digits → a document number."""
    text = re.sub(r"\s+", "", query)
    if not text:
        return QueryKind.EMPTY, ""
    upper = text.upper()
    if _ID18.match(upper) or _ID15.match(upper):
        return QueryKind.ID_NUMBER, upper
    if len(text) == HEALTH_RECORD_LENGTH and text.isascii() and text.isdigit():
        return QueryKind.HEALTH_RECORD, text
    if is_mobile(text):
        return QueryKind.PHONE, text
    if _CJK.match(text):
        return QueryKind.NAME, text
    if _LATIN.match(text.lower()):
        return QueryKind.INITIALS, text.lower()
    try:  # a landline (with its area code) before any other digits-only reading
        return QueryKind.PHONE, normalise_phone(text)
    except RuleError:
        pass
    if _DOCUMENT.match(upper):
        return QueryKind.DOCUMENT, upper
    raise RuleError(
        "search.query",
        _("Search by ID number, phone, health record number, name or pinyin initials; "
          "“%(query)s” is none of these."),
        query=query,
    )


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix`` in code-point
    order, so that ``prefix <= x < bound`` is a prefix test an index can answer."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def digit_prefix_ranges(prefixes: Iterable[str]) -> list[tuple[str, str]]:
    """Half-open ranges ``[low, high)`` covering exactly the 12-digit address codes (village
    codes, ``check_address_code``) that start with one of ``prefixes``, adjacent ranges
    merged: the townships 341125100…341125119 of a grid become one range, not twenty.
    ``high`` is the prefix plus one in decimal (``"341125109"`` → ``"341125110"``); a prefix
    of nines has no such successor and ends at ``prefix_upper_bound``. Only for codes at least
    as long as every prefix: a shorter string such as ``"1"`` lies between ``"09"`` and
    ``"10"`` without starting with ``"09"``."""
    ranges: list[tuple[str, str]] = []
    for prefix in sorted(set(prefixes)):
        if not (prefix.isascii() and prefix.isdigit()):
            raise ValueError(f"not a digit prefix: {prefix!r}")
        stripped = prefix.rstrip("9")
        high = (stripped[:-1] + str(int(stripped[-1]) + 1)
                + "0" * (len(prefix) - len(stripped)) if stripped else prefix_upper_bound(prefix))
        if ranges and prefix <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], high))
        else:
            ranges.append((prefix, high))
    return ranges
