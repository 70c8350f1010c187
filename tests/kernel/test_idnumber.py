"""Resident ID numbers, GB 11643 (rules.md §10)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiercare.kernel import idnumber
from tiercare.kernel.errors import InvalidIdNumber, KernelError

TODAY = date(2025, 6, 30)

divisions = st.builds(
    lambda prov, rest: prov + rest,
    st.sampled_from(sorted(idnumber.PROVINCE_PREFIXES)),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=1, max_value=999)


def _code(exc: pytest.ExceptionInfo[InvalidIdNumber]) -> str:
    return exc.value.code


class TestTestVectors:
    def test_the_standard_vectors_validate(self):
        # given the two test vectors of rules.md §10
        first = idnumber.validate("11010519491231002X", today=TODAY)
        second = idnumber.validate("440524188001010014", today=TODAY)
        # then their parts are read from the number
        assert first.division_code == "110105"
        assert first.birth_date == date(1949, 12, 31)
        assert first.sequence == "002"
        assert first.sex == "2"
        assert second.birth_date == date(1880, 1, 1)  # accepted: lower bound is 1850
        assert second.sex == "1"

    def test_weights_and_check_digit_follow_the_standard(self):
        assert idnumber.WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        assert idnumber.check_digit("11010519491231002") == "X"
        assert idnumber.check_digit("44052418800101001") == "4"

    def test_blanks_and_lower_case_x_are_accepted(self):
        parsed = idnumber.validate("  11010519491231002x ", today=TODAY)
        assert parsed.number == "11010519491231002X"
        assert idnumber.is_valid("11010519491231002x")


class TestRejections:
    @pytest.mark.parametrize(
        ("number", "code"),
        [
            ("1101051949123100", "id_number.length"),
            ("11010519491231002XX", "id_number.length"),
            ("", "id_number.length"),
            ("1101051949123100AX", "id_number.characters"),
            ("11010519491231002Y", "id_number.characters"),
            ("１１０１０５１９４９１２３１００２Ｘ", "id_number.characters"),
            ("99010519491231002X", "id_number.division"),
            ("110105194902300021", "id_number.birth_date"),
            ("110105194913010021", "id_number.birth_date"),
            ("110105184912310021", "id_number.birth_date_too_early"),
            ("110105203001010021", "id_number.birth_date_future"),
            ("110105194912310021", "id_number.check_digit"),
        ],
    )
    def test_each_defect_has_its_own_code(self, number, code):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.validate(number, today=TODAY)
        assert _code(exc) == code
        assert isinstance(exc.value, KernelError)
        assert isinstance(exc.value, ValueError)

    def test_check_digit_message_names_the_expected_character(self):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.validate("110105194912310021", today=TODAY)
        assert exc.value.params["expected"] == "X"
        assert "should be X" in str(exc.value)

    def test_birth_date_today_is_accepted_tomorrow_is_not(self):
        born_today = idnumber.make("110105", TODAY, 11)
        assert idnumber.validate(born_today, today=TODAY).birth_date == TODAY
        with pytest.raises(InvalidIdNumber):
            idnumber.validate(born_today, today=date(2025, 6, 29))

    def test_non_text_is_rejected_not_crashing(self):
        with pytest.raises(InvalidIdNumber):
            idnumber.validate(11010519491231002)
        assert not idnumber.is_valid(None)


class TestFifteenDigits:
    def test_conversion_inserts_century_and_check(self):
        # given the 15-digit form of the first test vector
        assert idnumber.convert_15_to_18("110105491231002") == "11010519491231002X"

    def test_validate_converts_old_numbers(self):
        parsed = idnumber.validate("440524800101001", today=TODAY)
        assert parsed.number == "44052419800101001" + idnumber.check_digit("44052419800101001")
        assert parsed.birth_date == date(1980, 1, 1)

    def test_conversion_rejects_wrong_input(self):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.convert_15_to_18("11010549123100")
        assert _code(exc) == "id_number.length"
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.convert_15_to_18("11010549123100X")
        assert _code(exc) == "id_number.characters"

    @given(divisions, st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
           sequences)
    def test_conversion_yields_a_valid_number(self, division, birth, sequence):
        old = f"{division}{birth:%y%m%d}{sequence:03d}"
        new = idnumber.convert_15_to_18(old)
        parsed = idnumber.validate(new, today=TODAY)
        assert parsed.birth_date == birth
        assert parsed.division_code == division
        assert new[:6] + new[8:17] == old


class TestMake:
    @given(divisions, birth_dates, sequences)
    def test_make_validates_and_round_trips(self, division, birth, sequence):
        number = idnumber.make(division, birth, sequence)
        parsed = idnumber.validate(number, today=TODAY)
        assert parsed.division_code == division
        assert parsed.birth_date == birth
        assert parsed.sex == ("1" if sequence % 2 else "2")
        assert int(parsed.sequence) == sequence

    @given(divisions, birth_dates, sequences, st.integers(0, 16), st.integers(1, 9))
    def test_changing_any_one_digit_breaks_the_check(self, division, birth, seq, pos, delta):
        number = idnumber.make(division, birth, seq)
        digit = (int(number[pos]) + delta) % 10
        changed = number[:pos] + str(digit) + number[pos + 1 :]
        # then the changed number is rejected (check digit, or an earlier rule it now breaks)
        assert not idnumber.is_valid(changed)
        if idnumber.check_digit(changed[:17]) != changed[17]:
            with pytest.raises(InvalidIdNumber):
                idnumber.validate(changed, today=TODAY)

    @given(divisions, birth_dates, sequences)
    def test_changing_the_check_character_is_detected(self, division, birth, seq):
        number = idnumber.make(division, birth, seq)
        for other in "0123456789X":
            if other != number[17]:
                with pytest.raises(InvalidIdNumber) as exc:
                    idnumber.validate(number[:17] + other, today=TODAY)
                assert exc.value.code == "id_number.check_digit"
                assert exc.value.params["expected"] == number[17]

    @pytest.mark.parametrize("sequence", [0, 1000, -1, True])
    def test_make_refuses_a_bad_sequence(self, sequence):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.make("110105", date(1990, 1, 1), sequence)
        assert exc.value.code == "id_number.sequence"

    @pytest.mark.parametrize("division", ["11010", "1101051", "99aa05", "990105"])
    def test_make_refuses_a_bad_division(self, division):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.make(division, date(1990, 1, 1), 1)
        assert exc.value.code == "id_number.division"


class TestConsistency:
    def test_matching_record_passes(self):
        idnumber.check_consistency("11010519491231002X", date(1949, 12, 31), "2")
        idnumber.check_consistency("11010519491231002X", date(1949, 12, 31), "0")

    def test_birth_date_mismatch(self):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.check_consistency("11010519491231002X", date(1949, 12, 30), "2")
        assert exc.value.code == "id_number.birth_date_mismatch"
        assert exc.value.params["id_date"] == "1949-12-31"

    def test_sex_mismatch(self):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.check_consistency("11010519491231002X", date(1949, 12, 31), "1")
        assert exc.value.code == "id_number.sex_mismatch"
        assert "woman" in str(exc.value)

    def test_unknown_sex_code_is_rejected(self):
        with pytest.raises(InvalidIdNumber) as exc:
            idnumber.check_consistency("11010519491231002X", date(1949, 12, 31), "F")
        assert exc.value.code == "id_number.sex_value"

    @given(divisions, birth_dates, sequences)
    def test_record_from_the_number_is_always_consistent(self, division, birth, seq):
        number = idnumber.make(division, birth, seq)
        idnumber.check_consistency(number, birth, "1" if seq % 2 else "2")


def test_age_and_mask():
    parsed = idnumber.validate("11010519491231002X", today=TODAY)
    assert parsed.age_on(date(2025, 12, 30)) == 75
    assert parsed.age_on(date(2025, 12, 31)) == 76
    assert idnumber.mask("11010519491231002X") == "110105********002X"
