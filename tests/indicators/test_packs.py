"""The policy packs (data/packs/*.toml): each is valid against the catalogue, every target
cites its source, the values are those of the seeds, and a broken pack is refused."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from tiercare.indicators import catalogue
from tiercare.indicators.catalogue import CatalogueError, UnknownPack
from tiercare.indicators.rules import Comparison

PACKS = ["guangdong_2025", "jilin_2022", "national", "yingkou_2020", "zhejiang_urban"]
SEEDS = Path("/work/shared/seeds")


def test_the_five_packs_are_shipped():
    assert sorted(catalogue.load_packs()) == PACKS


@pytest.mark.parametrize("pack_id", PACKS)
def test_every_target_names_a_judged_indicator_and_cites_its_source(pack_id):
    cat = catalogue.load_catalogue()
    pack = catalogue.pack(pack_id)
    assert pack.name_zh and pack.name_en and pack.source.document and pack.source.date
    for indicator_id, target in pack.targets.items():
        assert target.indicator == indicator_id
        assert cat.indicator(indicator_id).judged
        assert target.citation.strip(), (pack_id, indicator_id)
        assert target.origin in catalogue.load_packs()
    for target in pack.own_targets:
        assert target.origin == pack_id


def value(pack_id: str, indicator_id: str):
    target = catalogue.pack(pack_id).targets[indicator_id]
    return target.comparison, target.value, target.tolerance, target.year


def test_guangdong_follows_seed_003():
    """Seed 003 item 6 (2025): 大部分县(市、区)的县域内住院率达85%左右,
    县域内基层就诊率达到65%以上."""
    pack = catalogue.pack("guangdong_2025")
    assert [t.indicator for t in pack.own_targets] == ["in_county_inpatient_rate",
                                                       "primary_care_visit_share"]
    assert value("guangdong_2025", "in_county_inpatient_rate") == (
        Comparison.APPROX, Decimal(85), Decimal(2), 2025)
    assert value("guangdong_2025", "primary_care_visit_share") == (
        Comparison.AT_LEAST, Decimal(65), None, 2025)
    assert pack.source.seed.startswith("003_")
    assert "85%左右" in pack.targets["in_county_inpatient_rate"].quote
    assert "65%以上" in pack.targets["primary_care_visit_share"].quote


def test_jilin_follows_seed_001():
    assert value("jilin_2022", "in_county_visit_rate") == (
        Comparison.AT_LEAST, Decimal(90), None, 2022)
    assert value("jilin_2022", "emergency_centres")[:2] == (Comparison.AT_LEAST, Decimal(5))
    assert value("jilin_2022", "budget_execution")[:2] == (Comparison.APPROX, Decimal(100))
    assert "§18" in catalogue.pack("jilin_2022").targets["emergency_centres"].citation


def test_yingkou_follows_seed_004():
    expected = {
        "in_county_visit_rate": (Comparison.AT_LEAST, Decimal(90)),
        "out_of_county_admissions": (Comparison.FALLING, None),
        "gp_per_10k": (Comparison.AT_LEAST, Decimal(3)),
        "tcm_township_share": (Comparison.AT_LEAST, Decimal(100)),
        "tcm_village_share": (Comparison.AT_LEAST, Decimal(70)),
        "tcm_hall_share": (Comparison.AT_LEAST, Decimal(70)),
    }
    pack = catalogue.pack("yingkou_2020")
    assert {t.indicator: (t.comparison, t.value) for t in pack.own_targets} == expected
    assert all(t.year == 2020 for t in pack.own_targets)


def test_national_defaults_are_the_nat_entries_of_indicators_md():
    expected = {
        "in_county_visit_rate": (Comparison.AT_LEAST, Decimal(90)),
        "primary_care_visit_share": (Comparison.AT_LEAST, Decimal(65)),
        "down_referral_growth": (Comparison.AT_LEAST, Decimal(10)),
        "htn_standard_management_rate": (Comparison.AT_LEAST, Decimal(80)),
        "htn_control_rate": (Comparison.AT_LEAST, Decimal(50)),
        "t2d_standard_management_rate": (Comparison.AT_LEAST, Decimal(80)),
        "t2d_control_rate": (Comparison.AT_LEAST, Decimal(50)),
        "contract_coverage_rate": (Comparison.GAIN_AT_LEAST, Decimal(1)),
        "priority_contract_coverage_rate": (Comparison.AT_LEAST, Decimal(85)),
        "stationed_physician_coverage": (Comparison.AT_LEAST, Decimal(100)),
    }
    pack = catalogue.pack("national")
    assert {k: (t.comparison, t.value) for k, t in pack.targets.items()} == expected
    assert pack.extends == ""


def test_zhejiang_states_no_number_and_carries_the_national_defaults():
    pack = catalogue.pack("zhejiang_urban")
    assert pack.own_targets == ()
    assert dict(pack.targets) == dict(catalogue.pack("national").targets)


def test_a_provincial_pack_extends_the_national_one_and_its_own_targets_win():
    jilin = catalogue.pack("jilin_2022")
    assert jilin.extends == "national"
    assert jilin.targets["in_county_visit_rate"].origin == "jilin_2022"
    assert jilin.targets["htn_control_rate"].origin == "national"
    assert jilin.targets["htn_control_rate"] == catalogue.pack("national").targets[
        "htn_control_rate"]


def test_an_unknown_pack_is_refused_by_name():
    with pytest.raises(UnknownPack, match="hainan_2030"):
        catalogue.pack("hainan_2030")


def _plain(text: str) -> str:
    """Seed text without the pinyin some pages carry after characters (內(nèi))."""
    return re.sub(r"\([a-z\u00c0-\u024f]+\)", "", text)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the shared seeds are not on this machine")
@pytest.mark.parametrize("pack_id", PACKS)
def test_every_quote_stands_in_its_seed(pack_id):
    for target in catalogue.pack(pack_id).own_targets:
        if not target.quote:
            continue
        seed = re.search(r"seed (\d{3})", target.citation)
        assert seed, target.citation
        (path,) = SEEDS.glob(f"{seed.group(1)}_*.txt")
        assert target.quote in _plain(path.read_text(encoding="utf-8")), target.quote


# --- a broken pack is refused, naming the file and the target


@pytest.fixture
def packs_dir(tmp_path: Path) -> Path:
    target = tmp_path / "packs"
    shutil.copytree(catalogue.PACKS_DIR, target)
    return target


def edit(directory: Path, pack_id: str, old: str, new: str) -> None:
    path = directory / f"{pack_id}.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(("pack_id", "old", "new", "message"), [
    ("guangdong_2025", 'indicator = "in_county_inpatient_rate"',
     'indicator = "in_county_inpatient"', "no indicator 'in_county_inpatient'"),
    ("guangdong_2025", "value = 65", "value = 165", r"165 is out of range.*0 and 100"),
    ("guangdong_2025", "value = 65", "value = -5", "out of range"),
    ("guangdong_2025", 'comparison = ">="', 'comparison = "<="', "does not suit"),
    ("guangdong_2025", 'comparison = ">="', 'comparison = "=="', "comparison '=='"),
    ("guangdong_2025", "tolerance = 2\n", "", "needs a tolerance"),
    ("yingkou_2020", 'comparison = "falling"', 'comparison = "falling"\nvalue = 3',
     "takes no value"),
    ("jilin_2022", "value = 5\n", "value = 4.5\n", "whole number"),
    ("national", "year = 2035", 'year = 2035\nsource = "x"', "unknown key.*source"),
    ("national", 'indicator = "htn_control_rate"', 'indicator = "htn_standard_management_rate"',
     "two targets"),
    ("national", "year = 2035", "year = 235", "plausible"),
    ("yingkou_2020", 'id = "yingkou_2020"', 'id = "yingkou"', "differs from the file name"),
    ("jilin_2022", 'extends = "national"', 'extends = "china"', "unknown pack 'china'"),
    ("national", 'extends = ""', 'extends = "zhejiang_urban"', "extend each other"),
])
def test_a_broken_pack_is_refused_with_a_clear_message(packs_dir, pack_id, old, new, message):
    edit(packs_dir, pack_id, old, new)
    with pytest.raises(CatalogueError, match=message):
        catalogue.read_packs(packs_dir, catalogue.load_catalogue())


def test_a_target_without_citation_is_refused(packs_dir):
    path = packs_dir / "guangdong_2025.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r'citation = "[^"]*"', 'citation = "  "', text, count=1),
                    encoding="utf-8")
    with pytest.raises(CatalogueError, match="citation is empty"):
        catalogue.read_packs(packs_dir, catalogue.load_catalogue())


def test_an_unjudged_indicator_takes_no_target(packs_dir):
    edit(packs_dir, "national", "\n[[target]]\n", '\n[[target]]\nindicator = "up_referrals"\n'
         'comparison = ">="\nvalue = 1\ncitation = "x"\n\n[[target]]\n')
    with pytest.raises(CatalogueError, match="watched, not judged"):
        catalogue.read_packs(packs_dir, catalogue.load_catalogue())
