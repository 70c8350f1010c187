"""The county's layout: divisions, alliances, institutions, departments, practitioners and
postings (issue 2 §8). Pure Python: builds the rows in memory (a county has at most a few
thousand of them) for the generator to write; residents and care come in ``population``.

Rules applied: 1–2 county medical communities, a TCM-led community covers ≥ 30 % of the
population and every township belongs to exactly one community (rules.md §1 [seed 001 §4,
seed 002]); every township centre hosts an attending-or-higher physician of its lead
hospital for the whole year (rules.md §1 [seed 003]). Figures: ``reference`` and
``docs/synthetic-data.md``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from tiercare.kernel import divisions
from tiercare.synth import reference as ref
from tiercare.synth.names import NameMaker


@dataclass
class Village:
    index: int
    code: str  # 12 digits
    name: str
    township: int  # index into CountyPlan.townships
    population: int = 0
    first_resident: int = 0  # global index of its first resident
    division_id: int = 0
    clinic_id: int = 0
    address_prefix: str = ""


@dataclass
class Township:
    index: int
    code: str  # 9 digits
    name: str
    villages: list[int] = field(default_factory=list)
    population: int = 0
    division_id: int = 0
    centre_id: int = 0
    alliance: int = 0  # index into CountyPlan.alliances


@dataclass
class Unit:
    """Where encounters happen: one institution with its departments and doctors."""

    id: int
    code: str
    name: str
    level: str
    kind: str
    division_code: str
    # specialty → (department id, ids of the doctors who see patients there)
    departments: dict[str, tuple[int, tuple[int, ...]]] = field(default_factory=dict)
    all_doctors: tuple[int, ...] = ()
    share: float = 0.0  # for out-of-county hospitals: share of out-of-county care
    created: bool = True  # False: an out-of-county hospital already in the registry

    def place(self, specialty: str) -> tuple[int | None, tuple[int, ...]]:
        """Department id and doctors for a specialty, falling back to the first clinical
        department (a small county hospital has no separate department for everything)."""
        found = self.departments.get(specialty)
        if found is None:
            for fallback in ("internal_medicine", "general_practice"):
                found = self.departments.get(fallback)
                if found is not None:
                    break
        if found is None:
            return None, self.all_doctors
        dept, doctors = found
        return dept, doctors or self.all_doctors


Row = tuple[object, ...]


@dataclass
class CountyPlan:
    county_code: str
    county_name: str
    year: int
    residents: int
    townships: list[Township]
    villages: list[Village]
    alliances: list[str]  # alliance codes, index 0 led by the general hospital
    alliance_leads: list[int]  # institution ids
    hospitals: dict[str, Unit]  # "general", "tcm", "maternal_child"
    townships_units: list[Unit]  # per township index
    village_units: list[Unit]  # per village index
    outside: list[Unit]
    rows: dict[str, list[Row]]  # table key → rows in the generator's field order

    def migrant_codes(self) -> list[str]:
        """County codes (other than the county) that migrants' ID numbers were issued in:
        the other counties of the prefecture and of the province, from the kernel table."""
        own = self.county_code
        near = [d.code for d in divisions.counties_in(own[:4]) if d.code != own]
        far = [d.code for d in divisions.counties_of_province(own[:2] + "0000")
               if d.code != own and d.code[:4] != own[:4]]
        return sorted(near)[:12] + sorted(far)[:24] or [own]


class IdCounter:
    """Hands out consecutive primary keys starting at the table's first free id."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self) -> int:
        value = self.next
        self.next += 1
        return value


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _place_names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """``count`` distinct place-name stems not in ``taken`` (deterministic for ``rng``)."""
    stems = [a + b for a in ref.PLACE_FIRST for b in ref.PLACE_SECOND if a != b]
    stems += [s + "家" for s, _ in ref.SURNAMES if len(s) == 1]
    stems += [s + "庄" for s, _ in ref.SURNAMES if len(s) == 1]
    rng.shuffle(stems)
    out: list[str] = []
    for stem in stems:
        if stem not in taken:
            taken.add(stem)
            out.append(stem)
            if len(out) == count:
                return out
    numerals = "一二三四五六七八九十"
    n = 0
    while len(out) < count:  # more villages than stems: 柳河二村, 柳河三村 …
        stem = f"{stems[n % len(stems)]}{numerals[(n // len(stems)) % 9 + 1]}"
        n += 1
        if stem not in taken:
            taken.add(stem)
            out.append(stem)
    return out


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights)[0]


def build(
    *,
    residents: int,
    seed: int,
    year: int,
    county_code: str,
    communities: int | None,
    ids: dict[str, int],
    timestamp: str,
) -> CountyPlan:
    """Lay out the county for ``residents`` people. ``ids`` gives the first free primary key
    per table key; ``timestamp`` is the created/updated value (the year's end, UTC)."""
    county = divisions.validate_county(county_code)
    rng = random.Random(f"tiercare-synth:{seed}:county")
    names = NameMaker(rng)
    n_town = max(2, round(residents / ref.RESIDENTS_PER_TOWNSHIP))
    n_vill = max(n_town, round(residents / ref.RESIDENTS_PER_VILLAGE))
    if n_town > 99 + 200 or n_vill > n_town * 799:
        raise ValueError("too many residents for one county's division codes")

    # --- divisions ---------------------------------------------------------------------
    taken: set[str] = set()
    town_stems = _place_names(rng, n_town, taken)
    n_zhen = max(1, round(n_town * 0.6))
    townships: list[Township] = []
    for i, stem in enumerate(town_stems):
        if i < n_zhen:
            code, name = f"{county.code}{100 + i:03d}", stem + "镇"
        else:
            code, name = f"{county.code}{200 + i - n_zhen:03d}", stem + "乡"
        townships.append(Township(i, code, name))
    per_town = _allocate(n_vill - n_town, [rng.uniform(0.6, 1.4) for _ in townships])
    village_stems = _place_names(rng, n_vill, taken)
    villages: list[Village] = []
    for t in townships:
        for j in range(per_town[t.index] + 1):
            stem = village_stems[len(villages)]
            suffix = ref.VILLAGE_SUFFIXES[rng.randrange(len(ref.VILLAGE_SUFFIXES))]
            name = stem + suffix if not stem.endswith("庄") else stem + "村"
            v = Village(len(villages), f"{t.code}{200 + j:03d}", name, t.index)
            t.villages.append(v.index)
            villages.append(v)
    pops = _allocate(residents, [rng.lognormvariate(0.0, 0.35) for _ in villages])
    first = 0
    for v, pop in zip(villages, pops, strict=True):
        v.population, v.first_resident = pop, first
        first += pop
        townships[v.township].population += pop
        v.address_prefix = f"{county.name}{townships[v.township].name}{v.name}"

    rows: dict[str, list[Row]] = {k: [] for k in (
        "division", "alliance", "grid", "institution", "department", "practitioner", "posting")}
    div_ids = IdCounter(ids["division"])
    county_div = div_ids.take()
    rows["division"].append((county_div, county.code, county.name, "county", None, _edition()))
    for t in townships:
        t.division_id = div_ids.take()
        rows["division"].append(
            (t.division_id, t.code, t.name, "township", county_div, _edition()))
        for vi in t.villages:
            v = villages[vi]
            v.division_id = div_ids.take()
            rows["division"].append(
                (v.division_id, v.code, v.name, "village", t.division_id, _edition()))

    # --- alliances and grid (rules.md §1) ------------------------------------------------
    n_comm = communities or (2 if residents >= ref.TWO_COMMUNITIES_FROM else 1)
    if n_comm == 2:
        # The TCM-led community takes townships from the end of the list until it covers
        # the target share (≥ 30 % of the population, rules.md §1); the rest stay with the
        # general hospital's community (at least one township each).
        covered = 0
        for t in reversed(townships[1:]):
            if covered >= ref.TCM_TARGET_POPULATION_SHARE * residents:
                break
            t.alliance = 1
            covered += t.population
        if covered < ref.TCM_MIN_POPULATION_SHARE * residents:
            # few, unequal townships: the TCM community takes all but the smallest one
            for t in townships:
                t.alliance = 1
            min(townships, key=lambda t: (t.population, t.index)).alliance = 0
    inst_ids = IdCounter(ids["institution"])
    general_id, tcm_id, mch_id, cdc_id = (inst_ids.take() for _ in range(4))
    alliance_ids = IdCounter(ids["alliance"])
    alliance_codes: list[str] = []
    leads = [general_id, tcm_id][:n_comm]
    lead_names = [f"{county.name}人民医院医共体", f"{county.name}中医院医共体"]
    alliance_pk: list[int] = []
    for a in range(n_comm):
        pk = alliance_ids.take()
        alliance_pk.append(pk)
        code = f"{county.code}-YGT{a + 1}"
        alliance_codes.append(code)
        rows["alliance"].append(
            (pk, code, lead_names[a], "county_community", county.code, None, timestamp,
             timestamp))
    grid_ids = IdCounter(ids["grid"])
    for t in townships:
        rows["grid"].append((grid_ids.take(), alliance_pk[t.alliance], t.division_id))

    # --- institutions ------------------------------------------------------------------
    total_beds = residents * ref.BEDS_PER_1000 / 1000

    def beds(share: float, minimum: int) -> int:
        return max(minimum, round(total_beds * share))

    def institution(pk: int, code: str, name: str, level: str, kind: str, alliance: int | None,
                    parent: int | None, division_code: str, n_beds: int,
                    services: list[str]) -> None:
        rows["institution"].append(
            (pk, code, name, level, kind, alliance, parent, division_code, n_beds,
             _json(services), True, timestamp, timestamp))

    hosp_services = ["emergency", "inpatient", "imaging", "laboratory", "ecg", "rehabilitation"]
    institution(general_id, f"{county.code}H01", f"{county.name}人民医院", "county",
                "general_hospital", alliance_pk[0], None, county.code,
                beds(ref.BED_SHARES["general"], 60), [*hosp_services, "tcm"])
    institution(tcm_id, f"{county.code}H02", f"{county.name}中医院", "county", "tcm_hospital",
                alliance_pk[-1], None, county.code, beds(ref.BED_SHARES["tcm"], 30),
                ["tcm", "tcm_hall", *hosp_services])
    institution(mch_id, f"{county.code}H03", f"{county.name}妇幼保健院", "county",
                "maternal_child", alliance_pk[0], None, county.code,
                beds(ref.BED_SHARES["maternal_child"], 10),
                ["inpatient", "imaging", "laboratory", "ecg"])
    institution(cdc_id, f"{county.code}C01", f"{county.name}疾病预防控制中心", "county",
                "public_health", alliance_pk[0], None, county.code, 0, ["laboratory"])
    town_beds = _allocate(max(len(townships) * 10,
                              round(total_beds * ref.BED_SHARES["township"])),
                          [t.population + 1 for t in townships])
    for t in townships:
        t.centre_id = inst_ids.take()
        services = ["inpatient", "laboratory", "ecg", "tcm"]
        if rng.random() < 0.6:
            services.append("tcm_hall")
        if rng.random() < 0.5:
            services.append("imaging")
        institution(t.centre_id, f"{t.code}T", f"{county.name}{t.name}卫生院", "township",
                    "township_centre", alliance_pk[t.alliance], None, t.code,
                    town_beds[t.index], services)
    for v in villages:
        v.clinic_id = inst_ids.take()
        t = townships[v.township]
        institution(v.clinic_id, f"{v.code}V", f"{t.name}{v.name}卫生室", "village",
                    "village_clinic", alliance_pk[t.alliance], t.centre_id, v.code, 0,
                    ["tcm"] if rng.random() < 0.5 else [])
    outside_units = _outside_hospitals(county.code, inst_ids, ids, institution)

    # --- departments and staff -----------------------------------------------------------
    dept_ids = IdCounter(ids["department"])
    prac_ids = IdCounter(ids["practitioner"])
    units: dict[int, Unit] = {}
    dept_rows: dict[int, list[tuple[int, str, str]]] = {}  # inst id → (dept id, code, spec)

    def departments(inst_id: int, kind: str) -> None:
        dept_rows[inst_id] = []
        for code, name, specialty in ref.DEPARTMENTS[kind]:
            pk = dept_ids.take()
            rows["department"].append((pk, inst_id, code, name, specialty, True))
            dept_rows[inst_id].append((pk, code, specialty))

    inst_by_id = {r[0]: r for r in rows["institution"]}

    def unit(inst_id: int) -> Unit:
        r = inst_by_id[inst_id]
        return Unit(inst_id, str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[7]))

    hospitals = {"general": unit(general_id), "tcm": unit(tcm_id),
                 "maternal_child": unit(mch_id)}
    for key, u in hospitals.items():
        departments(u.id, key)
        units[u.id] = u
    departments(cdc_id, "cdc")
    town_units = []
    for t in townships:
        u = unit(t.centre_id)
        departments(u.id, "township")
        units[u.id] = u
        town_units.append(u)
    village_units = []
    for v in villages:
        u = unit(v.clinic_id)
        departments(u.id, "village")
        units[u.id] = u
        village_units.append(u)
    for u in outside_units:
        if not u.created:
            continue
        departments(u.id, "outside")
        units[u.id] = u

    staff: dict[int, list[tuple[int, str, int | None]]] = {}  # inst → (prac id, title, dept)

    def hire(inst_id: int, title: str, dept: int | None, *, gp: bool = False,
             female_share: float = 0.45) -> int:
        pk = prac_ids.take()
        sex = "2" if rng.random() < female_share else "1"
        code = f"{inst_by_id[inst_id][1]}-{len(staff.setdefault(inst_id, [])) + 1:04d}"
        rows["practitioner"].append(
            (pk, code, names.name(sex == "1"), sex, title, gp, inst_id, dept,
             names.phone(), True))
        staff[inst_id].append((pk, title, dept))
        return pk

    clinical = {"imaging", "laboratory", "public_health", "child_health"}
    doctors = residents * ref.DOCTORS_PER_1000 / 1000
    nurses = residents * ref.NURSES_PER_1000 / 1000
    county_doctors = doctors * ref.COUNTY_DOCTOR_SHARE
    hosp_split = {"general": 0.6, "tcm": 0.3, "maternal_child": 0.1}
    for key, u in hospitals.items():
        depts = dept_rows[u.id]
        clin = [d for d in depts if d[2] not in clinical]
        techn = [d for d in depts if d[2] in clinical]
        n_doc = max(len(clin) + 2, round(county_doctors * hosp_split[key]))
        for i in range(n_doc):
            row = clin[i % len(clin)] if i < len(clin) else clin[
                min(len(clin) - 1, int(rng.random() ** 1.6 * len(clin)))]
            hire(u.id, _weighted(rng, ref.DOCTOR_TITLES_COUNTY), row[0])
        for _ in range(max(len(clin), round(nurses * 0.6 * hosp_split[key]))):
            row = clin[rng.randrange(len(clin))]
            hire(u.id, _weighted(rng, ref.NURSE_TITLES), row[0], female_share=0.97)
        for _ in range(max(1, round(residents * ref.PHARMACISTS_PER_1000 / 1000 * 0.5
                                    * hosp_split[key]))):
            hire(u.id, "pharmacist", None, female_share=0.6)
        for _ in range(max(len(techn), round(residents * ref.TECHNICIANS_PER_1000 / 1000
                                             * 0.6 * hosp_split[key]))):
            hire(u.id, "technician", techn[rng.randrange(len(techn))][0], female_share=0.5)
    # the lead hospitals need an attending-or-higher physician for every township they serve
    for a, lead in enumerate(leads):
        need = sum(1 for t in townships if t.alliance == a) + 1
        senior = [s for s in staff[lead] if s[1] in ("chief", "associate_chief", "attending")]
        juniors = [s for s in staff[lead] if s[1] in ("resident", "assistant")]
        for junior in juniors[: max(0, need - len(senior))]:
            _promote(rows["practitioner"], junior[0])
            staff[lead][staff[lead].index(junior)] = (junior[0], "attending", junior[2])
        if len([s for s in staff[lead] if s[1] in ("chief", "associate_chief",
                                                      "attending")]) < need:
            internal = dict((s, d) for d, _c, s in dept_rows[lead])["internal_medicine"]
            for _ in range(need):
                hire(lead, "attending", internal)
    town_doctors = _allocate(max(2 * len(townships), round(doctors - county_doctors)),
                             [t.population + 1 for t in townships])
    town_nurses = _allocate(max(len(townships), round(nurses * 0.4)),
                            [t.population + 1 for t in townships])
    for t in townships:
        by_spec = {spec: pk for pk, _c, spec in dept_rows[t.centre_id]}
        for i in range(town_doctors[t.index]):
            gp = i == 0 or rng.random() < ref.TOWNSHIP_GP_SHARE
            spec = "general_practice" if gp else rng.choice(
                ["internal_medicine", "tcm", "emergency", "public_health"])
            hire(t.centre_id, _weighted(rng, ref.DOCTOR_TITLES_TOWNSHIP), by_spec[spec], gp=gp)
        for _ in range(town_nurses[t.index]):
            hire(t.centre_id, _weighted(rng, ref.NURSE_TITLES), by_spec["general_practice"],
                 female_share=0.97)
        if t.population > 15_000:
            hire(t.centre_id, "pharmacist", None, female_share=0.6)
    for v in villages:
        clinic_dept = dept_rows[v.clinic_id][0][0]
        for _ in range(rng.choice(ref.VILLAGE_DOCTORS_PER_CLINIC)):
            hire(v.clinic_id, "village_doctor", clinic_dept, female_share=0.25)
    for u in outside_units:
        if not u.created:
            continue
        for pk_dept, _c, _s in dept_rows[u.id]:
            for title in ("chief", "associate_chief", "attending"):
                hire(u.id, title, pk_dept)

    # encounter-side view: doctors per department
    doctor_titles = {"chief", "associate_chief", "attending", "resident", "assistant",
                     "village_doctor"}
    for inst_id, u in units.items():
        per_dept: dict[int | None, list[int]] = {}
        for pk, title, dept_id in staff.get(inst_id, []):
            if title in doctor_titles:
                per_dept.setdefault(dept_id, []).append(pk)
        u.all_doctors = tuple(pk for pk, title, _ in staff.get(inst_id, [])
                              if title in doctor_titles)
        for pk, _code, spec in dept_rows.get(inst_id, []):
            if spec not in u.departments:
                u.departments[spec] = (pk, tuple(per_dept.get(pk, ())))

    # --- postings (seed 003): one senior lead-hospital physician per township centre -------
    post_ids = IdCounter(ids["posting"])
    start, end = date(year, 1, 1).isoformat(), date(year, 12, 31).isoformat()
    rotation = {a: [s for s in staff[lead] if s[1] in ("chief", "associate_chief", "attending")]
                for a, lead in enumerate(leads)}
    for t in townships:
        pool = rotation[t.alliance]
        pk, _title, _dept = pool[t.index % len(pool)]
        gp_dept = {spec: d for d, _c, spec in dept_rows[t.centre_id]}["general_practice"]
        rows["posting"].append(
            (post_ids.take(), pk, t.centre_id, gp_dept, start, end, "县级医院医师下沉驻点（全年）"))

    return CountyPlan(
        county_code=county.code, county_name=county.name, year=year, residents=residents,
        townships=townships, villages=villages, alliances=alliance_codes, alliance_leads=leads,
        hospitals=hospitals, townships_units=town_units, village_units=village_units,
        outside=outside_units, rows=rows,
    )


def _promote(practitioner_rows: list[Row], pk: int) -> None:
    for i, row in enumerate(practitioner_rows):
        if row[0] == pk:
            practitioner_rows[i] = (*row[:4], "attending", *row[5:])
            return


def _json(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _edition() -> str:
    return str(divisions.EDITION)


def _short(name: str) -> str:
    for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _outside_hospitals(county_code: str, inst_ids: IdCounter, ids: dict[str, int],
                       institution: Callable[..., None]) -> list[Unit]:
    """City and provincial hospitals outside the county (no alliance) that residents'
    out-of-county settlements name. Rows already present (another county of the same
    prefecture generated earlier, ``--append``) are reused: the caller passes their ids in
    ``ids`` under ``"outside:<code>"``."""
    prefecture = divisions.lookup(county_code[:4] + "00")
    province = divisions.lookup(county_code[:2] + "0000")
    city_name = prefecture.name if prefecture and prefecture.level == "prefecture" else ""
    if city_name in divisions.PSEUDO_PREFECTURE_NAMES or not city_name:
        city_name = province.name if province else ""
    prov_name = _short(province.name) if province else ""
    city_sites = [d.code for d in divisions.counties_in(county_code[:4]) if d.code != county_code]
    capital_sites = [d.code for d in divisions.counties_in(county_code[:2] + "01")
                     if d.code != county_code]
    city_site = sorted(city_sites)[0] if city_sites else (sorted(capital_sites) or ["110101"])[0]
    capital_site = sorted(capital_sites)[0] if capital_sites else city_site
    units: list[Unit] = []
    for suffix, pattern, level, kind, n_beds, share in ref.OUTSIDE_HOSPITALS:
        site = city_site if level == "city" else capital_site
        code = f"{site}{suffix}"
        name = pattern.format(city=city_name, province=prov_name)
        existing = ids.get(f"outside:{code}")
        if existing:
            pk = existing
        else:
            pk = inst_ids.take()
            institution(pk, code, name, level, kind, None, None, site, n_beds,
                        ["emergency", "inpatient", "imaging", "laboratory", "ecg"])
        units.append(Unit(pk, code, name, level, kind, site, share=share,
                          created=not existing))
    return units
