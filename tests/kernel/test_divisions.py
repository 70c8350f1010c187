"""GB/T 2260 administrative division codes (rules.md §10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiercare.kernel import divisions
from tiercare.kernel.errors import InvalidDivisionCode

ALL = divisions.all_divisions()
COUNTY_CODES = sorted(d.code for d in ALL if divisions.is_county_level(d))


def test_table_covers_all_of_mainland_china():
    # 31 province-level units, ~330 prefectures, ~2,800+ county-level units
    levels = [d.level for d in ALL]
    assert levels.count("province") == 31
    assert levels.count("prefecture") > 330
    assert len(COUNTY_CODES) > 2800
    assert divisions.EDITION == "2023"


def test_every_row_is_well_formed_and_its_parent_exists():
    by_code = {d.code: d for d in ALL}
    for d in ALL:
        assert len(d.code) == 6 and d.code.isdigit()
        assert d.level in divisions.LEVELS
        if d.level == "province":
            assert d.parent_code is None and d.code.endswith("0000")
        else:
            parent = by_code[d.parent_code or ""]
            expected = "province" if d.level == "prefecture" else "prefecture"
            assert parent.level == expected
            assert d.code.startswith(parent.code[: 2 if expected == "province" else 4])


def test_lookup_by_6_9_and_12_digits():
    county = divisions.lookup("370102")
    assert county == divisions.Division("370102", "历下区", "county", "370100")
    assert divisions.lookup("370102001") == county
    assert divisions.lookup("370102001001") == county
    assert divisions.lookup("370000").level == "province"
    assert divisions.lookup("370100").name == "济南市"
    assert divisions.lookup("999999") is None
    assert divisions.lookup("37010") is None
    assert divisions.lookup("37010a") is None


def test_exists_only_for_known_6_digit_codes():
    assert divisions.exists("370102")
    assert not divisions.exists("370102001")
    assert not divisions.exists("370199")


def test_prefix_helpers():
    assert divisions.province_of("370102001001") == "370000"
    assert divisions.prefecture_of("370102") == "370100"
    assert divisions.county_of("370102001001") == "370102"
    with pytest.raises(InvalidDivisionCode) as exc:
        divisions.county_of("3701")
    assert exc.value.code == "division.format"


def test_is_inside_county():
    assert divisions.is_inside_county("370102001001", "370102")
    assert divisions.is_inside_county("370102", "370102")
    assert not divisions.is_inside_county("370103001001", "370102")
    with pytest.raises(InvalidDivisionCode):
        divisions.is_inside_county("370102001", "3701")


def test_full_names_leave_out_pseudo_prefectures():
    assert divisions.full_name("370102") == "山东省 济南市 历下区"
    assert divisions.full_name("110101") == "北京市 东城区"  # 市辖区 dropped
    assert divisions.full_name("500229") == "重庆市 城口县"  # 县 dropped
    assert divisions.full_name("419001") == "河南省 济源市"  # 省直辖县级行政区划 dropped
    assert divisions.full_name("659001") == "新疆维吾尔自治区 石河子市"
    assert divisions.full_name("441900123456") == "广东省 东莞市"
    with pytest.raises(InvalidDivisionCode) as exc:
        divisions.full_name("370199")
    assert exc.value.code == "division.unknown"


class TestValidateCounty:
    def test_county_and_county_level_city(self):
        assert divisions.validate_county("370102").name == "历下区"
        assert divisions.validate_county("419001").name == "济源市"
        # a prefecture-level city without counties is its own county-level unit
        assert divisions.validate_county("441900").name == "东莞市"

    @pytest.mark.parametrize(
        ("code", "error"),
        [
            ("37010", "division.county_format"),
            ("370102001", "division.county_format"),
            ("370199", "division.unknown"),
            ("370100", "division.not_county"),
            ("370000", "division.not_county"),
            ("110100", "division.not_county"),
        ],
    )
    def test_rejections(self, code, error):
        with pytest.raises(InvalidDivisionCode) as exc:
            divisions.validate_county(code)
        assert exc.value.code == error


def test_counties_in_a_prefecture():
    jinan = divisions.counties_in("370100")
    assert [d.code for d in jinan][:2] == ["370102", "370103"]
    assert all(d.parent_code == "370100" for d in jinan)
    assert divisions.counties_in("3701") == jinan
    assert [d.code for d in divisions.counties_in("441900")] == ["441900"]
    assert divisions.counties_in("379900") == []


@given(st.sampled_from(COUNTY_CODES), st.from_regex(r"[0-9]{6}", fullmatch=True))
def test_every_village_code_of_a_county_resolves_to_it(county, suffix):
    village = county + suffix
    assert divisions.is_inside_county(village, county)
    assert divisions.lookup(village) == divisions.lookup(county)
    assert divisions.validate_county(divisions.county_of(village)).code == county
    assert divisions.full_name(village) == divisions.full_name(county)
    assert divisions.province_of(village) == county[:2] + "0000"
