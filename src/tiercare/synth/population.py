"""Residents and a year of their care, generated chunk by chunk (issue 2 §8).

One :class:`Population` holds everything that does not change between chunks (pools to draw
from, pre-formatted time stamps and cost rows, the calibrated rates); :meth:`Population.chunk`
turns residents ``[start, stop)`` into row tuples for ``patients``, ``encounters``,
``diagnoses`` and ``settlements``. Each chunk has its own random stream derived from the
seed and the chunk number, so the output depends only on (seed, residents, year, county).

Speed matters (a million residents and ~6 million encounters in well under three minutes,
without numpy): the hot loops draw with ``random()`` and index into pre-built lists; costs
are drawn from pre-computed log-normal tables of :data:`reference.COST_TABLE_SIZE` rows per
(level, class, scheme); time stamps are pre-formatted per 5-minute slot of the year.

All rates and shares: ``reference`` and ``docs/synthetic-data.md``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from tiercare.kernel import idnumber
from tiercare.synth import reference as ref
from tiercare.synth.county import CountyPlan, Unit
from tiercare.synth.names import NameMaker

SLOTS_PER_DAY = 288  # 5-minute slots
CHINA = timezone(timedelta(hours=8))
Row = tuple[Any, ...]
# (encounter money: total, drugs, consumables, examinations, services, insurance paid),
# then total, fund paid and self paid for a settlement
Cost = tuple[tuple[str, str, str, str, str, str], str, str, str]


@dataclass
class Ids:
    """Next free primary key per table (the generator assigns ids itself)."""

    patient: int
    encounter: int
    diagnosis: int
    settlement: int


@dataclass
class ChunkRows:
    patients: list[Row] = field(default_factory=list)
    encounters: list[Row] = field(default_factory=list)
    diagnoses: list[Row] = field(default_factory=list)
    settlements: list[Row] = field(default_factory=list)


def _pool(pairs: tuple[tuple[str, float], ...] | list[tuple[str, float]],
          scale: float = 10.0) -> list[str]:
    out: list[str] = []
    for value, weight in pairs:
        out.extend([value] * max(1, round(weight * scale)))
    return out


def _step(table: tuple[tuple[int, float], ...], age: int) -> float:
    """The value of the last (threshold, value) whose threshold is ≤ ``age``; 0 below all."""
    value = 0.0
    for threshold, v in table:
        if age >= threshold:
            value = v
    return value


def _money(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def plausible(code: str, *, male: bool, ages: tuple[int, int]) -> bool:
    """Whether ``code`` fits a person of this sex in every age of ``ages`` (reference.py:
    sex-specific chapters, pregnancy 15–49, perinatal codes in infants)."""
    if code.startswith(ref.MALE_ONLY_CODES) and not male:
        return False
    if code.startswith(ref.FEMALE_ONLY_CODES) and male:
        return False
    low, high = ages
    if code.startswith(ref.PREGNANCY_CODES) and (low < ref.FERTILE_AGES[0]
                                                 or high > ref.FERTILE_AGES[1]):
        return False
    return not (code.startswith(ref.INFANT_ONLY_CODES) and high > 0)


# Age bands of the diagnosis pools: (group, ages) — pools are drawn per band and sex, so a
# diagnosis never lands on a person it cannot fit.
DX_BANDS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("child", (0, 0)), ("child", (1, 14)), ("adult", (15, 49)), ("adult", (50, 64)),
    ("old", (65, 120)),
)


def dx_band(age: int) -> int:
    """Index into ``DX_BANDS`` for an age."""
    if age < 1:
        return 0
    if age < 15:
        return 1
    if age < 50:
        return 2
    return 3 if age < 65 else 4


def poisson(r: Any, lam: float) -> int:
    """Knuth's Poisson draw (λ is small: a few visits a year)."""
    if lam <= 0:
        return 0
    limit = math.exp(-lam)
    k = 0
    p = r()
    while p > limit:
        k += 1
        p *= r()
    return k


def specialty_for(code: str, child: bool) -> str:
    """The county-hospital specialty that sees a diagnosis."""
    if code.startswith(("O", "Z34", "N76", "N83", "D25")):
        return "obstetrics_gynaecology"
    if code.startswith(("H", "J35")):
        return "ophthalmology_ent"
    if code.startswith(("S", "T", "K35", "K40", "K56", "K80", "N20", "N40", "M16", "M48")):
        return "surgery"
    if code.startswith("C"):
        return "surgery" if code.startswith(("C16", "C18", "C50")) else "internal_medicine"
    if child:
        return "paediatrics"
    if code.startswith(("M17", "M51", "M54", "I69")):
        return "rehabilitation"
    return "internal_medicine"


class Population:
    """Everything the chunks share (see the module docstring)."""

    def __init__(self, plan: CountyPlan, *, seed: int, year: int, vendor: str,
                 timestamp: str, until: date | None = None) -> None:
        self.plan = plan
        self.seed = seed
        self.year = year
        self.timestamp = timestamp
        rng = random.Random(f"tiercare-synth:{seed}:tables")
        self._time_tables(year, vendor, until)
        self._people_tables(plan, year)
        self._cost_tables(rng)
        self._diagnosis_tables()
        self._calibrate()
        self.id_counters: dict[int, int] = {}
        self.migrants = plan.migrant_codes()
        self.county_code = plan.county_code
        # out-of-county hospitals drawn by their share of out-of-county care
        self.outside_pool: list[Unit] = []
        for u in plan.outside:
            self.outside_pool.extend([u] * max(1, round(u.share * 100)))
        # township centres and village clinics per township, for care outside one's own
        self.town_units = plan.townships_units
        self.village_units_by_town: list[list[Unit]] = [
            [plan.village_units[v] for v in t.villages] for t in plan.townships]

    # --- tables ----------------------------------------------------------------------
    def _time_tables(self, year: int, vendor: str, until: date | None) -> None:
        """Time stamps per 5-minute slot, and the pool of care days weighted by month and
        weekday. With ``until`` (a "living" county whose year is still running) no care
        starts after that day, and admissions not yet discharged stay open."""
        start = datetime(year, 1, 1, tzinfo=CHINA)
        days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
        self.days_in_year = days
        self.last_day = (until - date(year, 1, 1)).days if until else days + 40
        span = days + 40  # discharges run into the next year
        suffix = "+00:00" if vendor == "postgresql" else ""
        self.slot: list[str] = []
        utc = start.astimezone(UTC).replace(tzinfo=None)
        step = timedelta(minutes=5)
        for _ in range(span * SLOTS_PER_DAY):
            self.slot.append(utc.isoformat(" ") + suffix)
            utc += step
        self.day: list[str] = [(date(year, 1, 1) + timedelta(days=d)).isoformat()
                               for d in range(span)]
        weights: list[float] = []
        self.winter: list[bool] = []
        for d in range(days):
            day = date(year, 1, 1) + timedelta(days=d)
            w = ref.MONTH_WEIGHTS[day.month - 1] * (0.7 if day.weekday() >= 5 else 1.0)
            weights.append(w)
            self.winter.append(day.month in ref.WINTER_MONTHS)
        self.day_pool: list[int] = []
        for d, w in enumerate(weights):
            if d <= self.last_day:
                self.day_pool.extend([d] * round(w * 20))
        # The share of a year's care that falls on the days kept (1.0 for a whole year).
        self.year_share = sum(weights[: self.last_day + 1]) / sum(weights)

        def hours(spans: list[tuple[float, float, int]]) -> list[int]:
            out: list[int] = []
            for a, b, weight in spans:
                for s in range(round(a * 12), round(b * 12)):
                    out.extend([s] * weight)
            return out

        self.hours = {
            "village": hours([(7.5, 12.0, 3), (12.0, 14.0, 1), (14.0, 18.5, 2)]),
            "township": hours([(8.0, 11.5, 3), (14.0, 17.0, 2)]),
            "county": hours([(8.0, 11.75, 3), (14.0, 17.5, 2)]),
            "emergency": hours([(0.0, 7.0, 1), (7.0, 23.0, 3), (23.0, 24.0, 1)]),
            "admission": hours([(8.0, 12.0, 3), (12.0, 20.0, 2), (20.0, 24.0, 1)]),
            "discharge": hours([(9.0, 11.5, 1)]),
        }

    def _people_tables(self, plan: CountyPlan, year: int) -> None:
        self.age_pool: list[int] = []
        self.male_share = [0.5] * 100
        for low, high, pct, male in ref.AGE_BANDS:
            for age in range(low, high + 1):
                self.age_pool.extend([age] * round(pct * 100 / (high - low + 1)))
                self.male_share[age] = male
        self.birth_base = [date(year - a - 1, 1, 2).toordinal() for a in range(100)]
        self.visit_factor = [_step(ref.VISIT_AGE_FACTOR, a) for a in range(100)]
        self.adm_factor = [_step(ref.ADMISSION_AGE_FACTOR, a) for a in range(100)]
        self.htn_prob = [_step(ref.HTN_BY_AGE, a) for a in range(100)]
        self.date_cache: dict[int, tuple[str, str]] = {}
        self.names = NameMaker(random.Random(0))
        scheme_values = [s for s, _ in ref.SCHEME_SHARES]
        self.scheme_cum = []
        acc = 0.0
        for s, share in ref.SCHEME_SHARES:
            acc += share
            self.scheme_cum.append((acc, s))
        self.scheme_values = scheme_values

    def _cost_tables(self, rng: random.Random) -> None:
        """Per (level-class) and scheme: rows of (6 encounter money strings, total, fund,
        self) drawn from a log-normal around the level's mean (docs §9)."""
        self.costs: dict[str, dict[str, list[Cost]]] = {}
        size = ref.COST_TABLE_SIZE
        for (level, cls), (mean, sigma) in sorted(ref.COSTS.items()):
            key = f"{level}-{cls}"
            mu = math.log(mean) - sigma * sigma / 2
            drug, cons, exam = ref.COST_SHARES[level]
            base = []
            for _ in range(size):
                total = max(500, round(math.exp(rng.gauss(mu, sigma)) * 100))
                d = int(total * drug * rng.uniform(0.8, 1.2))
                c = int(total * cons * rng.uniform(0.5, 1.5))
                e = int(total * exam * rng.uniform(0.6, 1.4))
                if d + c + e > total:
                    d, c, e = total // 2, total // 8, total // 8
                s = total - d - c - e
                base.append((total, d, c, e, s, rng.uniform(0.92, 1.06)))
            for scheme in ("resident", "employee", "none"):
                share = ref.FUND_SHARES.get(scheme, {}).get(key, 0.0)
                table: list[Cost] = []
                for total, d, c, e, s, jitter in base:
                    fund = min(total, int(total * share * jitter))
                    money = (_money(total), _money(d), _money(c), _money(e), _money(s),
                             _money(fund))
                    table.append((money, money[0], money[5], _money(total - fund)))
                self.costs.setdefault(scheme, {})[key] = table

    def _diagnosis_tables(self) -> None:
        """Weighted pools per level, age band (``DX_BANDS``), sex and season, each holding
        only diagnoses that fit such a person (``plausible``)."""

        def fitting(pairs: Any, band: int, male: bool) -> list[tuple[str, float]]:
            ages = DX_BANDS[band][1]
            return [(c, w) for c, w in pairs if plausible(c, male=male, ages=ages)]

        people = [(band, male) for band in range(len(DX_BANDS)) for male in (False, True)]
        self.visit_dx: dict[tuple[str, int, bool, bool], list[str]] = {}
        for level in ("village", "township", "county"):
            for band, male in people:
                pairs = fitting(ref.VISIT_DX[(level, DX_BANDS[band][0])], band, male)
                for winter in (False, True):
                    weighted = [(c, w * (ref.WINTER_RESPIRATORY_FACTOR
                                         if winter and c[0] == "J" else 1.0))
                                for c, w in pairs]
                    self.visit_dx[(level, band, male, winter)] = _pool(weighted)
        self.adm_dx: dict[tuple[int, bool], list[str]] = {}
        self.town_adm_dx: dict[tuple[int, bool], list[str]] = {}
        self.out_adm_dx: dict[tuple[int, bool], list[str]] = {}
        self.out_visit_dx: dict[tuple[int, bool], list[str]] = {}
        for band, male in people:
            pairs = fitting(ref.ADMISSION_DX[DX_BANDS[band][0]], band, male)
            self.adm_dx[(band, male)] = _pool(pairs)
            self.town_adm_dx[(band, male)] = _pool(
                [(c, w) for c, w in pairs if not c.startswith(ref.COUNTY_ONLY_ADMISSION)])
            child = DX_BANDS[band][0] == "child"
            out_adm = (ref.OUT_OF_COUNTY_CHILD_ADMISSION_DX if child
                       else ref.OUT_OF_COUNTY_ADMISSION_DX)
            out_visit = ref.OUT_OF_COUNTY_CHILD_VISIT_DX if child else ref.OUT_OF_COUNTY_VISIT_DX
            self.out_adm_dx[(band, male)] = _pool(fitting(out_adm, band, male))
            self.out_visit_dx[(band, male)] = _pool(fitting(out_visit, band, male))
        self.second_other = _pool(ref.SECONDARY_OTHER)
        self.spec_cache: dict[tuple[str, bool], str] = {}

    def _calibrate(self) -> None:
        """Scale the age-relative rates so the expected totals meet the targets (docs §7)."""
        n = len(self.age_pool)
        e_vf = sum(self.visit_factor[a] for a in self.age_pool) / n
        e_af = sum(self.adm_factor[a] for a in self.age_pool) / n
        e_htn = sum(self.htn_prob[a] for a in self.age_pool) / n
        e_dm = sum(self._dm_prob(a) for a in self.age_pool) / n
        e_chronic_visits = e_htn * ref.HTN_EXTRA_VISITS + e_dm * ref.DM_EXTRA_VISITS
        self.base_visits = (ref.VISITS_PER_RESIDENT - e_chronic_visits) / e_vf
        lo, hi = ref.DELIVERY_AGES
        e_deliv = sum((1 - self.male_share[a]) * ref.DELIVERY_RATE
                      for a in self.age_pool if lo <= a <= hi) / n
        admissions = ref.ADMISSIONS_PER_100 / 100
        self.base_adm = (admissions - e_deliv) / e_af
        insured = 1.0 - dict(ref.SCHEME_SHARES)["none"]
        # share of non-delivery admissions of insured residents that go out of the county
        self.p_out_adm = (ref.OUT_OF_COUNTY_ADMISSION_SHARE * admissions
                          / ((admissions - e_deliv) * insured))
        in_events = ref.VISITS_PER_RESIDENT + admissions * (1 - ref.OUT_OF_COUNTY_ADMISSION_SHARE)
        out_events = in_events * (1 - ref.IN_COUNTY_VISIT_RATE) / ref.IN_COUNTY_VISIT_RATE
        out_visits = out_events - admissions * ref.OUT_OF_COUNTY_ADMISSION_SHARE
        self.base_out_visits = out_visits / (insured * e_vf)
        # A year still running holds only its share of the year's care.
        self.base_visits *= self.year_share
        self.base_adm *= self.year_share
        self.base_out_visits *= self.year_share

    def _dm_prob(self, age: int) -> float:
        if age < ref.CHRONIC_MIN_AGE:
            return 0.0
        h = self.htn_prob[age]
        return h * ref.DM_GIVEN_HTN + (1 - h) * ref.DM_WITHOUT_HTN

    def _dates(self, ordinal: int) -> tuple[str, str]:
        found = self.date_cache.get(ordinal)
        if found is None:
            d = date.fromordinal(ordinal)
            found = (d.isoformat(), f"{d:%Y%m%d}")
            self.date_cache[ordinal] = found
        return found

    def specialty(self, code: str, child: bool) -> str:
        key = (code, child)
        found = self.spec_cache.get(key)
        if found is None:
            found = self.spec_cache[key] = specialty_for(code, child)
        return found

    # --- one chunk ---------------------------------------------------------------------
    def chunk(self, index: int, start: int, stop: int, ids: Ids) -> ChunkRows:
        """Residents ``start`` … ``stop - 1`` (global indices) and their year of care."""
        rng = random.Random(f"tiercare-synth:{self.seed}:chunk:{index}")
        r = rng.random
        out = ChunkRows()
        plan = self.plan
        villages = plan.villages
        ts = self.timestamp
        county = self.county_code
        names = self.names
        names.rng = rng
        age_pool, n_age = self.age_pool, len(self.age_pool)
        male_share, birth_base = self.male_share, self.birth_base
        surnames, n_surnames = names.surnames, len(names.surnames)
        male_chars, female_chars = names.male, names.female
        surname_ini, char_ini = names.surname_initials, names.char_initial
        prefixes = ref.PHONE_PREFIXES
        year_share = self.year_share
        migrants = self.migrants
        counters = self.id_counters
        check_digit = idnumber.check_digit
        htn_prob = self.htn_prob
        visit_factor, adm_factor = self.visit_factor, self.adm_factor
        base_visits, base_adm, base_out = self.base_visits, self.base_adm, self.base_out_visits
        out_acc = r()
        p_out_adm = self.p_out_adm
        patients = out.patients
        care = _Care(self, rng, out, ids)

        # find the village of the first resident
        vi = 0
        lo_v, hi_v = 0, len(villages) - 1
        while lo_v < hi_v:  # binary search on first_resident
            mid = (lo_v + hi_v + 1) // 2
            if villages[mid].first_resident <= start:
                lo_v = mid
            else:
                hi_v = mid - 1
        vi = lo_v
        while villages[vi].population == 0 or (
                villages[vi].first_resident + villages[vi].population <= start):
            vi += 1
        village = villages[vi]
        v_end = village.first_resident + village.population

        for g in range(start, stop):
            while g >= v_end:
                vi += 1
                village = villages[vi]
                v_end = village.first_resident + village.population
            pid = ids.patient
            ids.patient += 1
            age = age_pool[int(r() * n_age)]
            male = r() < male_share[age]
            sex = "1" if male else "2"
            ordinal = birth_base[age] + int(r() * 365)
            iso, compact = self._dates(ordinal)
            # ID number: issued in the county, or elsewhere for migrants (docs §5)
            if r() < ref.MIGRANT_SHARE:
                ci = 1 + int(r() * len(migrants))
                code = migrants[ci - 1]
            else:
                ci, code = 0, county
            key = (ci << 24) | (ordinal << 1) | male
            count = counters.get(key, 0)
            counters[key] = count + 1
            seq = 2 * ((ordinal * 7 + ci * 13) % 300 + count) + (1 if male else 2)
            if seq > 999:
                raise ValueError("ID-number sequence exhausted for one birth date")
            first17 = f"{code}{compact}{seq:03d}"
            id_number = first17 + check_digit(first17)
            surname = surnames[int(r() * n_surnames)]
            chars = male_chars if male else female_chars
            given = chars[int(r() * len(chars))]
            if r() < ref.TWO_CHARACTER_GIVEN_SHARE:
                given += chars[int(r() * len(chars))]
            s_main, s_alt = surname_ini[surname]
            tail = "".join([char_ini[ch] for ch in given])
            if age < 16:
                no_phone = ref.NO_PHONE_CHILD
            elif age >= 75:
                no_phone = ref.NO_PHONE_OLD
            else:
                no_phone = ref.NO_PHONE_OTHER
            phone = "" if r() < no_phone else (
                f"{prefixes[int(r() * len(prefixes))]}{int(r() * 100_000_000):08d}")
            u = r()
            scheme = "resident" if u < 0.92 else ("employee" if u < 0.98 else "none")
            patients.append((
                pid, f"{village.code}{g - village.first_resident + 1:05d}", surname + given,
                s_main + tail, (s_alt + tail) if s_alt else "", sex, iso, "id_card",
                id_number, "01" if r() < ref.HAN_SHARE else "03", phone, village.code,
                f"{village.address_prefix}{1 + int(r() * 12)}组", scheme,
                county if scheme != "none" else "", True, ts, ts,
            ))

            # chronic conditions (docs §6)
            htn = dm = False
            if age >= ref.CHRONIC_MIN_AGE:
                htn = r() < htn_prob[age]
                dm = r() < (ref.DM_GIVEN_HTN if htn else ref.DM_WITHOUT_HTN)
            insured = scheme != "none"
            # in-county visits: acute ones by age, chronic follow-ups for HTN/DM
            n_acute = poisson(r, base_visits * visit_factor[age])
            n_chronic = 0
            if htn or dm:
                n_chronic = 1 + poisson(r, (ref.HTN_EXTRA_VISITS if htn else 0.0)
                                        + (ref.DM_EXTRA_VISITS if dm else 0.0) - 1.0)
            n_adm = poisson(r, base_adm * adm_factor[age])
            deliver = (not male and ref.DELIVERY_AGES[0] <= age <= ref.DELIVERY_AGES[1]
                       and r() < ref.DELIVERY_RATE * year_share)
            if n_chronic and year_share < 1.0:
                n_chronic = sum(1 for _ in range(n_chronic) if r() < year_share)
            n_out_visits = poisson(r, base_out * visit_factor[age]) if insured else 0
            if n_acute or n_chronic or n_adm or deliver or n_out_visits:
                person = (pid, age, male, scheme, htn, dm, village)
                for _ in range(n_acute):
                    care.visit(person, chronic=False)
                for _ in range(n_chronic):
                    care.visit(person, chronic=True)
                for _ in range(n_adm):
                    outside = False
                    if insured:
                        out_acc += p_out_adm
                        if out_acc >= 1.0:
                            out_acc -= 1.0
                            outside = True
                    if outside:
                        care.outside(person, inpatient=True)
                    else:
                        care.admission(person)
                if deliver:
                    care.admission(person, delivery=True)
                for _ in range(n_out_visits):
                    care.outside(person, inpatient=False)
        return out


class _Care:
    """Encounters, diagnoses and settlements of one chunk (hot code: plain attribute reads)."""

    def __init__(self, pop: Population, rng: random.Random, out: ChunkRows, ids: Ids) -> None:
        self.pop = pop
        self.r = rng.random
        self.out = out
        self.ids = ids
        self.enc = out.encounters
        self.dia = out.diagnoses
        self.sett = out.settlements
        self.slot = pop.slot
        self.day = pop.day
        self.day_pool = pop.day_pool
        self.last_day = pop.last_day
        self.winter = pop.winter
        self.hours = pop.hours
        self.ts = pop.timestamp
        plan = pop.plan
        self.general = plan.hospitals["general"]
        self.tcm = plan.hospitals["tcm"]
        self.mch = plan.hospitals["maternal_child"]
        self.acute_levels = (ref.ACUTE_VISIT_LEVELS[0][1],
                             ref.ACUTE_VISIT_LEVELS[0][1] + ref.ACUTE_VISIT_LEVELS[1][1])
        self.chronic_levels = (ref.CHRONIC_VISIT_LEVELS[0][1],
                               ref.CHRONIC_VISIT_LEVELS[0][1] + ref.CHRONIC_VISIT_LEVELS[1][1])

    def _secondary(self, eid: int, primary: str, age: int, htn: bool, dm: bool) -> None:
        r = self.r
        rank = 1
        if (htn or dm) and r() < ref.SECONDARY_CHRONIC_SHARE:
            for flag, code in ((htn, ref.HTN), (dm, ref.DM)):
                if flag and code != primary:
                    self.dia.append((self.ids.diagnosis, eid, rank, code))
                    self.ids.diagnosis += 1
                    rank += 1
        elif age >= 50 and r() < ref.SECONDARY_OTHER_SHARE:
            pool = self.pop.second_other
            code = pool[int(r() * len(pool))]
            if code != primary:
                self.dia.append((self.ids.diagnosis, eid, rank, code))
                self.ids.diagnosis += 1

    def _county_hospital(self, code: str, child: bool) -> Unit:
        r = self.r
        if code.startswith(("O", "Z34")):
            return self.mch if r() < 0.6 else self.general
        if child and r() < 0.25:
            return self.mch
        return self.tcm if r() < 0.3 else self.general

    def visit(self, person: tuple[Any, ...], *, chronic: bool) -> None:
        """One in-county outpatient (or emergency) visit."""
        pid, age, male, scheme, htn, dm, village = person
        r = self.r
        pop = self.pop
        u = r()
        cut = self.chronic_levels if chronic else self.acute_levels
        level = "village" if u < cut[0] else ("township" if u < cut[1] else "county")
        d = self.day_pool[int(r() * len(self.day_pool))]
        child = age < 15
        second: str | None = None
        if chronic:
            if htn and dm:
                code, second = (ref.HTN, ref.DM) if r() < 0.5 else (ref.DM, ref.HTN)
            else:
                code = ref.HTN if htn else ref.DM
        else:
            pool = pop.visit_dx[(level, dx_band(age), male, self.winter[d])]
            code = pool[int(r() * len(pool))]
        cls = "outpatient"
        if level == "village":
            if r() < ref.OWN_VILLAGE_SHARE:
                unit = pop.plan.village_units[village.index]
            else:
                units = pop.village_units_by_town[village.township]
                unit = units[int(r() * len(units))]
            specialty = "general_practice"
        elif level == "township":
            if r() < ref.OWN_TOWNSHIP_SHARE:
                unit = pop.town_units[village.township]
            else:
                unit = pop.town_units[int(r() * len(pop.town_units))]
            if r() < ref.EMERGENCY_SHARE["township"]:
                cls, specialty = "emergency", "emergency"
            else:
                v = r()
                specialty = ("general_practice" if v < 0.6 else
                             "internal_medicine" if v < 0.85 else "tcm")
        else:
            unit = self._county_hospital(code, child)
            if not chronic and r() < ref.EMERGENCY_SHARE["county"]:
                cls, specialty = "emergency", "emergency"
            elif chronic:
                specialty = "internal_medicine"
            else:
                specialty = pop.specialty(code, child)
        dept, doctors = unit.place(specialty)
        prac = doctors[int(r() * len(doctors))] if doctors else None
        hours = self.hours["emergency" if cls == "emergency" else level]
        s = d * SLOTS_PER_DAY + hours[int(r() * len(hours))]
        e = s + 2 + int(r() * 6)
        table = pop.costs[scheme][f"{level}-{cls}"]
        money = table[int(r() * len(table))][0]
        eid = self.ids.encounter
        self.ids.encounter += 1
        self.enc.append((eid, pid, cls, unit.id, dept, prac, self.slot[s], self.slot[e], code,
                         *money, ref.SOURCE_SYSTEM, f"E{eid:010d}", self.ts, self.ts))
        if second is not None:
            self.dia.append((self.ids.diagnosis, eid, 1, second))
            self.ids.diagnosis += 1
        elif not chronic:
            self._secondary(eid, code, age, htn, dm)

    def admission(self, person: tuple[Any, ...], *, delivery: bool = False) -> None:
        """One in-county admission with its settlement when the resident is insured."""
        pid, age, male, scheme, htn, dm, village = person
        r = self.r
        pop = self.pop
        child = age < 15
        if delivery:
            level = "county"
            code = ref.DELIVERY_DX[1] if r() < ref.CAESAREAN_SHARE else ref.DELIVERY_DX[0]
        else:
            level = "township" if r() < ref.IN_COUNTY_ADMISSION_LEVELS[0][1] else "county"
            if (htn or dm) and r() < ref.CHRONIC_ADMISSION_SHARE:
                code = ref.HTN if htn and (not dm or r() < 0.6) else ref.DM
            else:
                pool = (pop.town_adm_dx if level == "township"
                        else pop.adm_dx)[(dx_band(age), male)]
                code = pool[int(r() * len(pool))]
        if level == "township":
            unit = pop.town_units[village.township]
            specialty = "internal_medicine"
        else:
            unit = self._county_hospital(code, child)
            specialty = pop.specialty(code, child)
        dept, doctors = unit.place(specialty)
        prac = doctors[int(r() * len(doctors))] if doctors else None
        d = self.day_pool[int(r() * len(self.day_pool))]
        lo, hi = ref.LENGTH_OF_STAY[level]
        if delivery:
            lo, hi = 3, 6
        stay = lo + int(r() * (hi - lo + 1))
        adm_hours, dis_hours = self.hours["admission"], self.hours["discharge"]
        s = d * SLOTS_PER_DAY + adm_hours[int(r() * len(adm_hours))]
        e = (d + stay) * SLOTS_PER_DAY + dis_hours[int(r() * len(dis_hours))]
        table = pop.costs[scheme][f"{level}-inpatient"]
        money, total, fund, self_paid = table[int(r() * len(table))]
        eid = self.ids.encounter
        self.ids.encounter += 1
        ref_id = f"E{eid:010d}"
        discharged = d + stay <= self.last_day
        end = self.slot[e] if discharged else None
        self.enc.append((eid, pid, "inpatient", unit.id, dept, prac, self.slot[s], end, code,
                         *money, ref.SOURCE_SYSTEM, ref_id, self.ts, self.ts))
        self._secondary(eid, code, age, htn, dm)
        if scheme != "none" and discharged:  # settled at discharge
            sid = self.ids.settlement
            self.ids.settlement += 1
            self.sett.append((sid, pid, scheme, True, unit.id, unit.name, unit.level,
                              unit.division_code, "inpatient", self.day[d], self.day[d + stay],
                              code, total, fund, self_paid, eid, ref_id, end,
                              ref.SOURCE_SYSTEM, f"S{sid:010d}", self.ts))

    def outside(self, person: tuple[Any, ...], *, inpatient: bool) -> None:
        """Care outside the county, known only from its settlement (indicators.md)."""
        pid, age, male, scheme, htn, dm, _village = person
        r = self.r
        pop = self.pop
        unit = pop.outside_pool[int(r() * len(pop.outside_pool))]
        key = (dx_band(age), male)
        if inpatient:
            pool = pop.out_adm_dx[key]
            cls = "inpatient"
        else:
            pool = pop.out_visit_dx[key]
            cls = "outpatient"
        if (htn or dm) and not inpatient and r() < ref.CHRONIC_OUTSIDE_VISIT_SHARE:
            code = ref.HTN if htn else ref.DM
        else:
            code = pool[int(r() * len(pool))]
        d = self.day_pool[int(r() * len(self.day_pool))]
        if inpatient:
            lo, hi = ref.LENGTH_OF_STAY[unit.level]
            stay = lo + int(r() * (hi - lo + 1))
            dis = self.hours["discharge"]
            settled = self.slot[(d + stay) * SLOTS_PER_DAY + dis[int(r() * len(dis))]]
        else:
            stay = 0
            settled = self.slot[d * SLOTS_PER_DAY + 192 + int(r() * 24)]  # 16:00–18:00
        table = pop.costs[scheme][f"{unit.level}-{cls}"]
        _money6, total, fund, self_paid = table[int(r() * len(table))]
        if d + stay > self.last_day:
            return  # still in hospital outside the county: no settlement yet
        sid = self.ids.settlement
        self.ids.settlement += 1
        self.sett.append((sid, pid, scheme, False, unit.id, unit.name, unit.level,
                          unit.division_code, cls, self.day[d], self.day[d + stay], code,
                          total, fund, self_paid, None, "", settled, ref.SOURCE_SYSTEM,
                          f"S{sid:010d}", self.ts))


PATIENT_FIELDS = (
    "id", "health_record_no", "name", "name_initials", "name_initials_alt", "sex", "birth_date",
    "id_type", "id_number", "ethnicity", "phone", "address_code", "address", "scheme",
    "insured_county", "is_active", "created_at", "updated_at",
)
ENCOUNTER_FIELDS = (
    "id", "patient", "encounter_class", "institution", "department", "practitioner", "start",
    "end", "primary_diagnosis", "total", "drugs", "consumables", "examinations", "services",
    "insurance_paid", "source_system", "source_id", "created_at", "updated_at",
)
DIAGNOSIS_FIELDS = ("id", "encounter", "rank", "code")
SETTLEMENT_FIELDS = (
    "id", "patient", "scheme", "in_county", "institution", "institution_name",
    "institution_level", "division_code", "encounter_class", "start_date", "end_date",
    "diagnosis", "total", "fund_paid", "self_paid", "encounter", "encounter_ref", "settled_at",
    "source_system", "source_id", "created_at",
)
