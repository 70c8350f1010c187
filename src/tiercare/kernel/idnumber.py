"""Resident ID numbers (公民身份号码), GB 11643-1999 (rules.md §10).

An 18-character number is: 6-digit administrative division code of the place of first
registration (GB/T 2260) + 8-digit birth date ``YYYYMMDD`` + 3-digit sequence code (odd for
men, even for women) + 1 check character. The check character is ISO 7064 MOD 11-2: the
first 17 digits are weighted ``7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2``, the sum is taken
mod 11, and the remainder ``0 1 2 … 10`` maps to ``1 0 X 9 8 7 6 5 4 3 2``.

The older 15-digit number (GB 11643-1989) is 6 division digits + ``YYMMDD`` (always 19YY) +
3 sequence digits and no check character; :func:`convert_15_to_18` adds ``19`` and the check.

The division code is *not* checked against today's code table: it is the code in force when
the number was issued and may have been retired since. Only its province part must be a real
GB/T 2260 province (including 71 Taiwan, 81 Hong Kong, 82 Macao and 83, which the residence
permits of Taiwan residents use).

Earliest accepted birth year: 1850. GB 11643's own test vector ``440524188001010014`` (born
1880) must validate, so the bound sits well below any living person and only rejects
obviously garbled years. Birth dates later than today (China Standard Time) are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from tiercare.kernel.errors import N_, InvalidIdNumber

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1850
CHINA_TZ = ZoneInfo("Asia/Shanghai")

# GB/T 2260 province-level codes (two leading digits), plus 83 used by the residence permits
# of Taiwan residents (港澳台居民居住证: 81 Hong Kong, 82 Macao, 83 Taiwan).
PROVINCE_PREFIXES: frozenset[str] = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
        "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
        "63", "64", "65", "71", "81", "82", "83",
    }
)

MALE = "1"
FEMALE = "2"
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class IdNumber:
    """A valid 18-character resident ID number and what it says about its holder."""

    number: str
    division_code: str
    birth_date: date
    sequence: str
    sex: str  # "1" male (odd sequence), "2" female (even sequence); GB/T 2261.1 codes

    def age_on(self, day: date) -> int:
        """Age in completed years on ``day`` (a birthday on 29 February counts on 1 March)."""
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


def _china_today() -> date:
    return datetime.now(CHINA_TZ).date()


def _is_digits(text: str) -> bool:
    return bool(text) and all(ch in _DIGITS for ch in text)


def check_digit(first17: str) -> str:
    """The GB 11643 check character (``0``–``9`` or ``X``) for the first 17 digits."""
    if len(first17) != 17 or not _is_digits(first17):
        raise InvalidIdNumber(
            "id_number.characters",
            N_("The first 17 characters of an ID number must be digits."),
        )
    total = sum(int(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def convert_15_to_18(number: str) -> str:
    """Convert a 15-digit number (6 division + YYMMDD in the 1900s + 3 sequence) to 18
    characters by inserting the century ``19`` and appending the check character."""
    number = number.strip()
    if len(number) != 15:
        raise InvalidIdNumber(
            "id_number.length",
            N_("An ID number has 18 characters (or 15 digits for an old number); "
               "%(value)s has %(length)s."),
            {"value": number, "length": len(number)},
        )
    if not _is_digits(number):
        raise InvalidIdNumber(
            "id_number.characters",
            N_("A 15-character ID number must consist of digits only."),
        )
    first17 = number[:6] + "19" + number[6:]
    return first17 + check_digit(first17)


def _parse_birth_date(text: str) -> date | None:
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def validate(number: str, *, today: date | None = None) -> IdNumber:
    """Validate a resident ID number and return its parts.

    Accepts surrounding blanks, a lower-case ``x`` and old 15-digit numbers (converted).
    Raises :class:`InvalidIdNumber` with one of the codes ``id_number.length``,
    ``id_number.characters``, ``id_number.division``, ``id_number.birth_date``,
    ``id_number.birth_date_future``, ``id_number.birth_date_too_early``,
    ``id_number.check_digit``.
    """
    if not isinstance(number, str):
        raise InvalidIdNumber("id_number.characters", N_("An ID number must be text."))
    text = number.strip().upper()
    if len(text) == 15 and _is_digits(text):
        text = convert_15_to_18(text)
    if len(text) != 18:
        raise InvalidIdNumber(
            "id_number.length",
            N_("An ID number has 18 characters (or 15 digits for an old number); "
               "%(value)s has %(length)s."),
            {"value": text, "length": len(text)},
        )
    if not _is_digits(text[:17]) or not (text[17] in _DIGITS or text[17] == "X"):
        raise InvalidIdNumber(
            "id_number.characters",
            N_("An ID number consists of 17 digits followed by a digit or X: %(value)s."),
            {"value": text},
        )
    if text[:2] not in PROVINCE_PREFIXES:
        raise InvalidIdNumber(
            "id_number.division",
            N_("The ID number %(value)s does not start with a province code."),
            {"value": text},
        )
    birth = _parse_birth_date(text[6:14])
    if birth is None:
        raise InvalidIdNumber(
            "id_number.birth_date",
            N_("The ID number %(value)s contains an impossible birth date (%(date)s)."),
            {"value": text, "date": text[6:14]},
        )
    if birth.year < EARLIEST_BIRTH_YEAR:
        raise InvalidIdNumber(
            "id_number.birth_date_too_early",
            N_("The ID number %(value)s gives a birth date before %(year)s."),
            {"value": text, "year": EARLIEST_BIRTH_YEAR},
        )
    if birth > (today if today is not None else _china_today()):
        raise InvalidIdNumber(
            "id_number.birth_date_future",
            N_("The ID number %(value)s gives a birth date in the future (%(date)s)."),
            {"value": text, "date": birth.isoformat()},
        )
    expected = check_digit(text[:17])
    if text[17] != expected:
        raise InvalidIdNumber(
            "id_number.check_digit",
            N_("The check digit of ID number %(value)s is wrong: it should be %(expected)s."),
            {"value": text, "expected": expected},
        )
    sequence = text[14:17]
    return IdNumber(
        number=text,
        division_code=text[:6],
        birth_date=birth,
        sequence=sequence,
        sex=MALE if int(sequence[2]) % 2 == 1 else FEMALE,
    )


def is_valid(number: str) -> bool:
    """True when :func:`validate` accepts ``number``."""
    try:
        validate(number)
    except InvalidIdNumber:
        return False
    return True


def make(division_code: str, birth_date: date, sequence: int) -> str:
    """Build a valid 18-character number (used by the synthetic county generator).

    ``sequence`` is 1–999; its parity gives the sex (odd = male).
    """
    if len(division_code) != 6 or not _is_digits(division_code) or (
        division_code[:2] not in PROVINCE_PREFIXES
    ):
        raise InvalidIdNumber(
            "id_number.division",
            N_("%(value)s is not a 6-digit division code of a province."),
            {"value": division_code},
        )
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 1 <= sequence <= 999:
        raise InvalidIdNumber(
            "id_number.sequence",
            N_("The sequence code of an ID number is a number from 1 to 999, not %(value)s."),
            {"value": sequence},
        )
    if birth_date.year < EARLIEST_BIRTH_YEAR or birth_date.year > 9999:
        raise InvalidIdNumber(
            "id_number.birth_date_too_early",
            N_("The ID number %(value)s gives a birth date before %(year)s."),
            {"value": birth_date.isoformat(), "year": EARLIEST_BIRTH_YEAR},
        )
    first17 = f"{division_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


def sex_of(number: str) -> str:
    """``"1"`` (male) or ``"2"`` (female) from a valid number's sequence code."""
    return validate(number).sex


def check_consistency(number: str, birth_date: date, sex: str) -> None:
    """Raise :class:`InvalidIdNumber` when a record contradicts its ID number (rules.md §10:
    "Birth date and sex must agree with the record").

    ``sex`` uses GB/T 2261.1 codes; ``"0"`` (unknown) and ``"9"`` (not stated) contradict
    nothing. Codes: ``id_number.birth_date_mismatch``, ``id_number.sex_mismatch``.
    """
    parsed = validate(number)
    if parsed.birth_date != birth_date:
        raise InvalidIdNumber(
            "id_number.birth_date_mismatch",
            N_("The ID number gives the birth date %(id_date)s but the record says %(date)s."),
            {"id_date": parsed.birth_date.isoformat(), "date": birth_date.isoformat()},
        )
    if sex in (MALE, FEMALE):
        if sex != parsed.sex:
            template = (
                N_("The ID number %(value)s belongs to a man but the record says female.")
                if parsed.sex == MALE
                else N_("The ID number %(value)s belongs to a woman but the record says male.")
            )
            raise InvalidIdNumber("id_number.sex_mismatch", template, {"value": parsed.number})
    elif sex not in ("0", "9"):
        raise InvalidIdNumber(
            "id_number.sex_value",
            N_("%(value)s is not a sex code (1 male, 2 female, 0 unknown, 9 not stated)."),
            {"value": sex},
        )


def mask(number: str) -> str:
    """The number with the birth date and sequence hidden, for lists and exports
    (rules.md §11): ``110105********002X`` keeps the first 6 and last 4 characters."""
    text = number.strip().upper()
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]
