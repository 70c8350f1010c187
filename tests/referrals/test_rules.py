"""Pure rules of the tiered disease catalogue (rules.md §2, §3), given/when/then."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiercare.referrals import rules
from tiercare.referrals.rules import Catalogue, CatalogueRuleError, Entry


def entry(first: str, last: str = "", level: str = "township") -> Entry:
    return Entry(code_first=first, code_last=last, level=level)


# --- codes and ranges


@pytest.mark.parametrize(("first", "last", "expected"), [
    ("i10", "i15", ("I10", "I15")),
    (" E119 ", "", ("E11.9", "")),
    ("I10-I15", "", ("I10", "I15")),
    ("I10–I15", "", ("I10", "I15")),
    ("J44", "J44", ("J44", "")),
    ("I10.x00", "", ("I10.X00", "")),
])
def test_codes_and_ranges_are_normalised(first, last, expected):
    assert rules.parse_range(first, last) == expected


@pytest.mark.parametrize(("first", "last", "field", "code"), [
    ("", "", "code_first", "required"),
    ("I1", "", "code_first", "icd10.format"),
    ("U99", "", "code_first", "icd10.unknown"),
    ("I15", "I10", "code_last", "range.order"),
    ("I11.0", "I15", "code_first", "range.not_category"),
    ("I10", "I15.9", "code_last", "range.not_category"),
    ("I10", "ZZZ", "code_last", "icd10.format"),
])
def test_bad_codes_and_ranges_are_refused_on_their_field(first, last, field, code):
    with pytest.raises(CatalogueRuleError) as caught:
        rules.parse_range(first, last)
    assert (caught.value.field, caught.value.code) == (field, code)


@pytest.mark.parametrize(("text", "level"), [
    ("village", "village"), ("Township", "township"), ("县级", "county"), ("乡镇", "township"),
    ("村级", "village"), ("市级", "city"), ("省级", "provincial"),
])
def test_levels_are_read_from_values_and_chinese_names(text, level):
    assert rules.parse_level(text) == level


def test_an_unknown_level_is_refused():
    with pytest.raises(CatalogueRuleError) as caught:
        rules.parse_level("hospital")
    assert caught.value.code == "level.invalid"


# --- nesting


def test_ranges_may_nest_or_be_disjoint():
    rules.check_nesting(entry("I10", "I15"), [entry("I20", "I25"), entry("I00", "I99"),
                                              entry("I11"), entry("I12", "I13")])


def test_partially_overlapping_ranges_are_refused():
    with pytest.raises(CatalogueRuleError) as caught:
        rules.check_nesting(entry("I13", "I22"), [entry("I10", "I15")])
    assert caught.value.code == "range.overlap"


def test_the_same_range_twice_is_refused():
    with pytest.raises(CatalogueRuleError) as caught:
        rules.check_nesting(entry("I10", "I15", "county"), [entry("I10", "I15")])
    assert caught.value.code == "range.duplicate"


# --- look-ups


CATALOGUE = Catalogue([
    entry("I10", "I15", "township"), entry("I10", "", "village"), entry("I15", "", "county"),
    entry("I20", "I25", "county"), entry("I25", "", "township"), entry("E11", "", "village"),
    entry("N18", "", "township"), entry("N18.5", "", "county"),
])


@pytest.mark.parametrize(("code", "level"), [
    ("I10", "village"),          # the category beats the range I10–I15
    ("I10.X00", "village"),      # a clinical-edition code falls back to its category
    ("I11.9", "township"),       # only the range covers I11
    ("I15.0", "county"),
    ("I21.9", "county"),
    ("I25.1", "township"),
    ("E11.900", "village"),
    ("N18.3", "township"),
    ("N18.5", "county"),         # the subcategory beats the category
    ("J44.9", None),             # not in this catalogue
    ("XYZ", None),               # not a code: the catalogue has no opinion
])
def test_the_most_specific_entry_decides_the_level(code, level):
    assert CATALOGUE.lowest_level(code) == level


def test_should_treat_at_compares_the_sending_level_with_the_lowest_level():
    # given hypertension at village level, CKD stage 5 at county level
    assert CATALOGUE.should_treat_at("township", "I10")
    assert CATALOGUE.should_treat_at("village", "I10")
    assert not CATALOGUE.should_treat_at("township", "N18.5")
    assert CATALOGUE.should_treat_at("county", "N18.5")
    assert not CATALOGUE.should_treat_at("county", "J44")


def test_an_up_referral_for_a_condition_the_sender_should_treat_is_warned():
    # given a township centre referring essential hypertension up to the county hospital
    advice = CATALOGUE.up_referral_warning("I10", "township", "county")
    # then the catalogue warns, naming the entry and its level
    assert advice is not None and advice.code == "catalogue.treat_here"
    assert advice.entry.code_first == "I10" and advice.level == "village"
    assert "I10" in str(advice)


def test_no_warning_for_a_condition_that_belongs_higher_or_a_referral_that_does_not_go_up():
    assert CATALOGUE.up_referral_warning("I21.0", "township", "county") is None
    assert CATALOGUE.up_referral_warning("I10", "county", "township") is None
    assert CATALOGUE.up_referral_warning("J44", "village", "county") is None


def test_discharge_proposes_a_down_referral_when_a_lower_level_can_continue():
    advice = CATALOGUE.down_referral_suggestion("I25.1", "county")
    assert advice is not None and advice.level == "township"
    assert CATALOGUE.down_referral_suggestion("I21.0", "county") is None


# --- property: the most specific match wins whatever the order of the entries

CATEGORIES = [f"{letter}{n:02d}" for letter in "EIJ" for n in range(0, 100, 7)]


@st.composite
def nested_catalogue(draw):
    """Entries that nest or are disjoint: a few ranges inside one span, categories and
    subcategories; shuffled."""
    picks = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=12, unique=True))
    entries = [entry(c, "", draw(st.sampled_from(rules.LEVEL_ORDER))) for c in picks]
    entries += [entry(f"{c}.9", "", "county") for c in picks[: len(picks) // 2]]
    entries.append(entry("E00", "J99", "city"))
    entries.append(entry("I00", "I99", "county"))
    if draw(st.booleans()):
        entries.append(entry("I10", "I15", "village"))
    return draw(st.permutations(entries))


def brute_force(entries, code):
    from tiercare.kernel import icd10

    parsed = icd10.validate(code)
    matching = [e for e in entries if rules.matches(e, parsed)]
    return max(matching, key=rules.specificity) if matching else None


@settings(max_examples=150, deadline=None)
@given(entries=nested_catalogue(), code=st.sampled_from(
    ["I10", "I12.0", "I14", "E07.9", "J14.9", "I21.9", "E11.900", "J44", "K29", "I98"]))
def test_lookup_is_the_most_specific_match_in_any_order(entries, code):
    from tiercare.kernel import icd10

    if not icd10.exists(code):
        return
    expected = brute_force(entries, code)
    assert Catalogue(entries).lookup(code) == expected
    assert Catalogue(list(reversed(entries))).lookup(code) == expected
