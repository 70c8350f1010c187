"""The indicator catalogue file (data/catalogue.toml): every indicator of indicators.md is
there, well formed, and a broken file is refused with a message naming the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiercare.indicators import catalogue
from tiercare.indicators.catalogue import CatalogueError, UnknownIndicator
from tiercare.indicators.rules import Direction, Unit

# The ids of shared/domain/indicators.md, aspects 1–4, in its order; pairs written there as
# "a / b" or "(+ growth)" are split. Hard-coded: the shared file is not in the repository.
EXPECTED = {
    "ordered_care": [
        "in_county_visit_rate", "in_county_inpatient_rate", "primary_care_visit_share",
        "out_of_county_admissions", "managed_outflow_share", "up_referrals", "down_referrals",
        "down_up_ratio", "down_referral_growth", "referral_response_hours",
        "avoidable_up_referral_share", "htn_standard_management_rate", "htn_control_rate",
        "t2d_standard_management_rate", "t2d_control_rate", "contract_coverage_rate",
        "priority_contract_coverage_rate", "contract_fulfilment_rate",
    ],
    "service_capacity": [
        "gp_per_10k", "tcm_township_share", "tcm_village_share", "tcm_hall_share",
        "stationed_physician_coverage", "emergency_centres",
    ],
    "resource_use": [
        "remote_reading_volume", "report_turnaround_hours", "recognised_results", "drug_share",
        "service_revenue_share", "cost_per_visit", "cost_per_admission",
        "cost_per_visit_growth", "cost_per_admission_growth",
    ],
    "insurance_fund": [
        "in_county_fund_share", "primary_fund_share", "budget_execution", "projected_surplus",
    ],
}


def test_every_indicator_of_indicators_md_is_in_the_catalogue_in_its_aspect():
    cat = catalogue.load_catalogue()
    assert [a.id for a in cat.aspects] == list(EXPECTED)
    for aspect, ids in EXPECTED.items():
        assert [i.id for i in cat.in_aspect(aspect)] == ids
    assert len(cat.indicators) == 37


def test_every_indicator_is_complete():
    cat = catalogue.load_catalogue()
    facts = {f.id for f in cat.facts}
    for item in cat.indicators:
        assert item.name_zh and item.name_en and item.numerator and item.provenance, item.id
        assert set(item.facts) <= facts and item.facts, item.id
        if item.unit == Unit.COUNT:
            assert item.denominator == "", item.id
        if item.unit in (Unit.PERCENT, Unit.RATIO, Unit.PER_10K):
            assert item.denominator, item.id


@pytest.mark.parametrize(("indicator_id", "unit", "direction", "facts"), [
    ("in_county_visit_rate", Unit.PERCENT, Direction.HIGHER, {"encounters", "settlements"}),
    ("out_of_county_admissions", Unit.COUNT, Direction.LOWER, {"settlements"}),
    ("up_referrals", Unit.COUNT, Direction.NONE, {"referrals"}),
    ("down_referral_growth", Unit.PERCENT_CHANGE, Direction.HIGHER, {"referrals"}),
    ("referral_response_hours", Unit.HOURS, Direction.LOWER, {"referrals"}),
    ("htn_control_rate", Unit.PERCENT, Direction.HIGHER, {"chronic_registry", "followups"}),
    ("gp_per_10k", Unit.PER_10K, Direction.HIGHER, {"practitioners", "residents"}),
    ("emergency_centres", Unit.COUNT, Direction.HIGHER, {"emergency_centres"}),
    ("cost_per_visit", Unit.YUAN, Direction.NONE, {"encounters"}),
    ("cost_per_visit_growth", Unit.PERCENT_CHANGE, Direction.LOWER, {"encounters"}),
    ("budget_execution", Unit.PERCENT_OF_PLAN, Direction.TARGET, {"budgets"}),
    ("projected_surplus", Unit.YUAN, Direction.HIGHER, {"budgets"}),
])
def test_units_directions_and_facts_follow_indicators_md(indicator_id, unit, direction, facts):
    item = catalogue.indicator(indicator_id)
    assert item.unit == unit
    assert item.direction == direction
    assert facts <= set(item.facts)


def test_names_follow_the_glossary_and_the_language():
    item = catalogue.indicator("primary_care_visit_share")
    assert item.name("zh-hans") == "县域内基层就诊率"
    assert item.name("en") == "Primary-care visit share"
    assert catalogue.load_catalogue().aspects[0].name("zh-hans") == "有序就医"


def test_an_unknown_id_is_refused_by_name():
    with pytest.raises(UnknownIndicator, match="no_such_rate"):
        catalogue.indicator("no_such_rate")
    assert "no_such_rate" not in catalogue.load_catalogue()


def test_the_catalogue_is_read_once():
    assert catalogue.load_catalogue() is catalogue.load_catalogue()


# --- a broken file is refused, naming the entry


GOOD = catalogue.CATALOGUE_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize(("old", "new", "message"), [
    ('unit = "hours"', 'unit = "minutes"', r"'referral_response_hours'.*unit 'minutes'"),
    ('direction = "lower"', 'direction = "down"', "direction 'down'"),
    ('facts = ["referrals"]', 'facts = ["referals"]', "unknown fact source"),
    ('facts = ["referrals"]', "facts = []", "at least one fact source"),
    ('aspect = "resource_use"', 'aspect = "resources"', "aspect 'resources' is not declared"),
    ('id = "down_referrals"', 'id = "up_referrals"', "'up_referrals' appears twice"),
    ('id = "drug_share"', 'id = "DrugShare"', "not lower_snake_case"),
    ('numerator = "Completed up-referrals."\ndenominator = ""',
     'numerator = "Completed up-referrals."\ndenominator = "Referrals."',
     "a count has no denominator"),
    ('denominator = "Township health centres."', 'denominator = ""', "needs a denominator"),
    ('name_en = "Drug share of medical revenue"', 'name_en = "  "', "name_en is empty"),
    ('provenance = "indicators.md aspect 4 [conv]."',
     'provenance = "indicators.md aspect 4 [conv]."\nowner = "x"', "unknown key"),
    ('edition = "2026.1"', "edition = 2026", "edition has the wrong type"),
    ('[meta]', '[meta', "not valid TOML"),
])
def test_a_broken_catalogue_is_refused_with_a_clear_message(tmp_path: Path, old, new, message):
    assert old in GOOD
    path = tmp_path / "catalogue.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        catalogue.read_catalogue(path)


def test_a_missing_file_is_refused(tmp_path: Path):
    with pytest.raises(CatalogueError, match="cannot be read"):
        catalogue.read_catalogue(tmp_path / "missing.toml")
