"""Pure rules of the resident record (rules.md §10, §11): no database."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiercare.kernel import idnumber
from tiercare.patients import rules

village_codes = st.from_regex(r"\A33012210[0-9][0-9]{3}\Z").filter(
    lambda c: c[9:] != "000")
serials = st.integers(min_value=1, max_value=rules.MAX_SERIAL)


@given(village_codes, serials)
def test_health_record_number_round_trips(village, serial):
    number = rules.build_health_record_number(village, serial)
    assert len(number) == 17 and number.isdigit()
    parsed = rules.parse_health_record_number(number)
    assert (parsed.village_code, parsed.serial) == (village, serial)
    assert str(parsed) == number


@given(village_codes, serials, serials)
def test_health_record_numbers_order_like_serials(village, a, b):
    # the zero-padded serial makes string order equal number order within a village
    na, nb = (rules.build_health_record_number(village, s) for s in (a, b))
    assert (na < nb) == (a < b)


@pytest.mark.parametrize("bad", ["3301221002010000", "33012210020100001X", "330122100201000001",
                                 "33012210020100000", "３３０１２２１００２０１０００１"])
def test_malformed_health_record_numbers_are_rejected(bad):
    with pytest.raises(rules.RuleError) as caught:
        rules.parse_health_record_number(bad)
    assert caught.value.code.startswith("health_record_no.")


def test_serial_exhaustion_is_an_error():
    with pytest.raises(rules.RuleError) as caught:
        rules.build_health_record_number("330122100201", rules.MAX_SERIAL + 1)
    assert caught.value.code == "health_record_no.serial_exhausted"


@pytest.mark.parametrize(("code", "error"), [
    ("33012210020", "address_code.format"),
    ("330122100000", "address_code.level"),
    ("330122000201", "address_code.level"),
    ("33012210020a", "address_code.format"),
])
def test_address_code_must_be_a_village(code, error):
    with pytest.raises(rules.RuleError) as caught:
        rules.check_address_code(code)
    assert caught.value.code == error


def test_masks():
    assert rules.mask_id_number("110105194912310021") == "110105********0021"
    assert rules.mask_id_number("E12345678") == "E1*****78"
    assert rules.mask_phone("13812345678") == "138****5678"
    assert rules.mask_phone("0571-87654321") == "0571-****4321"
    assert rules.mask_phone("") == ""


@given(st.from_regex(r"\A[0-9]{17}[0-9X]\Z"))
def test_masked_id_number_hides_the_birth_date(number):
    masked = rules.mask_id_number(number)
    assert len(masked) == len(number)
    assert masked[6:14] == "********"
    assert masked[:6] == number[:6] and masked[-4:] == number[-4:]


@given(st.from_regex(r"\A1[3-9][0-9]{9}\Z"))
def test_masked_mobile_keeps_seven_digits(phone):
    masked = rules.mask_phone(phone)
    assert masked == phone[:3] + "****" + phone[-4:]


@pytest.mark.parametrize(("raw", "expected"), [
    ("138 1234 5678", "13812345678"),
    ("+8613812345678", "13812345678"),
    ("0571-87654321", "0571-87654321"),
    ("057187654321", "0571-87654321"),
    ("010-12345678", "010-12345678"),
    ("", ""),
])
def test_phone_normalisation(raw, expected):
    assert rules.normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "87654321", "0571-123", "abc"])
def test_bad_phones_are_rejected(raw):
    with pytest.raises(rules.RuleError) as caught:
        rules.normalise_phone(raw)
    assert caught.value.code == "phone.format"


@pytest.mark.parametrize(("id_type", "number", "expected"), [
    ("passport", "e1234567 8", "E12345678"),
    ("hk_macao_permit", "H12345678", "H12345678"),
    ("hk_macao_permit", "M1234567801", "M1234567801"),
    ("taiwan_permit", "12345678", "12345678"),
])
def test_document_numbers_accepted(id_type, number, expected):
    assert rules.check_document_number(id_type, number) == expected


def test_residence_permit_numbers_need_a_valid_check_character():
    first17 = "81000019800101001"
    check = idnumber.check_digit(first17)
    assert rules.check_document_number("hk_macao_permit", first17 + check) == first17 + check
    wrong = "0" if check != "0" else "1"
    with pytest.raises(rules.RuleError) as caught:
        rules.check_document_number("hk_macao_permit", first17 + wrong)
    assert caught.value.code == "id_number.check_digit"


@pytest.mark.parametrize(("id_type", "number"), [
    ("passport", "E1"), ("hk_macao_permit", "X12345678"), ("taiwan_permit", "1234567"),
])
def test_document_numbers_rejected(id_type, number):
    with pytest.raises(rules.RuleError) as caught:
        rules.check_document_number(id_type, number)
    assert caught.value.code == "id_number.format"


BASE = rules.MatchFacts(name="王芳", birth_date=date(1970, 5, 1), sex="2",
                        phone="13812345678", address_code="330122100201")


def test_probable_match_needs_name_birth_date_and_sex():
    same = rules.score_match(BASE, BASE)
    assert same.probable and same.score == 100
    for change in ({"name": "王方"}, {"birth_date": date(1970, 5, 2)}, {"sex": "1"}):
        other = rules.MatchFacts(**{**BASE.__dict__, **change})
        result = rules.score_match(BASE, other)
        assert not result.probable
        assert result.score < 70


def test_phone_adds_to_the_score():
    no_phone = rules.MatchFacts(**{**BASE.__dict__, "phone": "", "address_code": ""})
    with_phone = rules.MatchFacts(**{**BASE.__dict__, "address_code": ""})
    assert rules.score_match(BASE, no_phone).score == 70
    assert rules.score_match(BASE, with_phone).score == 90
    assert "same_phone" in rules.score_match(BASE, with_phone).reasons


def test_different_id_numbers_are_reported():
    a = rules.MatchFacts(**{**BASE.__dict__, "id_type": "id_card", "id_number": "1"})
    b = rules.MatchFacts(**{**BASE.__dict__, "id_type": "id_card", "id_number": "2"})
    assert "different_id_number" in rules.score_match(a, b).reasons


facts = st.builds(
    rules.MatchFacts, name=st.sampled_from(["王芳", "王方", "李雷"]),
    birth_date=st.dates(date(1950, 1, 1), date(1950, 1, 3)), sex=st.sampled_from(["1", "2"]),
    phone=st.sampled_from(["", "13812345678", "13900000000"]),
    address_code=st.sampled_from(["", "330122100201"]),
)


@given(facts, facts)
def test_score_is_symmetric_and_bounded(a, b):
    ab, ba = rules.score_match(a, b), rules.score_match(b, a)
    assert ab.score == ba.score and ab.probable == ba.probable
    assert 0 <= ab.score <= 100
    assert ab.probable == (a.name == b.name and a.birth_date == b.birth_date and a.sex == b.sex)


@pytest.mark.parametrize(("query", "kind", "text"), [
    ("11010519491231002x", "id_number", "11010519491231002X"),
    ("110105491231002", "id_number", "110105491231002"),
    ("13812345678", "phone", "13812345678"),
    ("33012210020100001", "health_record", "33012210020100001"),
    ("单田", "name", "单田"),
    ("STF", "initials", "stf"),
    (" z s ", "initials", "zs"),
    ("E12345678", "document", "E12345678"),
    ("0571-87654321", "phone", "0571-87654321"),
    ("057187654321", "phone", "0571-87654321"),
    ("", "empty", ""),
])
def test_query_classification(query, kind, text):
    assert rules.classify_query(query) == (kind, text)


def test_unclassifiable_query_is_an_error():
    with pytest.raises(rules.RuleError) as caught:
        rules.classify_query("王a!")
    assert caught.value.code == "search.query"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=4))
def test_prefix_bound_brackets_every_extension(prefix, tail):
    bound = rules.prefix_upper_bound(prefix)
    assert prefix <= prefix + tail < bound


digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=12)
# address codes are 12 digits (check_address_code); few digits make prefixes meet often
address_codes = st.text(alphabet="0129", min_size=12, max_size=12)


@given(prefixes=st.lists(digit_strings, max_size=8), codes=st.lists(address_codes, max_size=30))
def test_merged_digit_ranges_hold_exactly_the_codes_with_one_of_the_prefixes(prefixes, codes):
    ranges = rules.digit_prefix_ranges(prefixes)
    # ranges are sorted, disjoint and not adjacent (merged)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    # and codes that do start with a prefix, so that both answers are tried
    codes = codes + [(p + c)[:12] for p, c in zip(prefixes, codes, strict=False)]
    for code in codes:
        assert any(code.startswith(p) for p in prefixes) == any(
            low <= code < high for low, high in ranges)


def test_a_grid_of_consecutive_townships_is_one_range():
    townships = [f"341125{n}" for n in range(100, 120)] + ["341125200", "341125201"]
    assert rules.digit_prefix_ranges(townships) == [("341125100", "341125120"),
                                                    ("341125200", "341125202")]
