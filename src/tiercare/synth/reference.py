"""Reference figures and word lists of the synthetic county generator.

Every number here is an assumption documented with its source in ``docs/synthetic-data.md``
(section names are given in the comments). Nothing here touches the database; the generator
modules turn these tables into rows.
"""

from __future__ import annotations

from typing import Final

DEFAULT_COUNTY: Final = "341125"  # 定远县, 滁州市, 安徽省: a rural county (docs §1)
SOURCE_SYSTEM: Final = "synth"
TWO_COMMUNITIES_FROM: Final = 300_000  # residents; brief / seed 001 §4 (1–2 communities)
TCM_MIN_POPULATION_SHARE: Final = 0.30  # rules.md §1 [seed 001 §4]
TCM_TARGET_POPULATION_SHARE: Final = 0.34  # aim a little above the floor

# --- Divisions (docs §2) ------------------------------------------------------------------
RESIDENTS_PER_TOWNSHIP: Final = 30_000  # one township centre per 25–35 thousand (issue 2 §8)
RESIDENTS_PER_VILLAGE: Final = 1_500  # one village clinic per 1–2 thousand (issue 2 §8)

# Place-name pieces. A township name is <first><second> + 镇/乡; a village name is
# <first><second> + 村 or <surname>家 + 村 / 庄. Pieces are common in rural place names of the
# Huai River plain; combinations are synthetic.
PLACE_FIRST: Final = (
    "柳", "石", "桥", "新", "大", "小", "东", "西", "南", "北", "高", "黄", "青", "白",
    "清", "永", "安", "平", "兴", "长", "红", "金", "龙", "凤", "马", "杨", "李", "张",
    "三", "双", "河", "山", "岗", "池", "古", "太", "仁", "和", "福", "富", "广", "吉",
)
PLACE_SECOND: Final = (
    "河", "桥", "集", "店", "庄", "湖", "岗", "山", "塘", "坝", "营", "圩", "港", "林",
    "口", "沟", "洼", "墩", "桥头", "湾", "坊", "埠", "铺", "城", "寺", "园", "庙", "台",
)
VILLAGE_SUFFIXES: Final = ("村", "村", "村", "庄")

# --- Institutions (docs §3) ---------------------------------------------------------------
BEDS_PER_1000: Final = 5.0  # county total, all levels (yearbook ~4–6 in rural counties)
BED_SHARES: Final = {  # share of the county's beds by institution type
    "general": 0.40, "tcm": 0.20, "maternal_child": 0.06, "township": 0.34,
}

# (department code, Chinese name, specialty) per institution type; names are data, not UI.
DEPARTMENTS: Final[dict[str, tuple[tuple[str, str, str], ...]]] = {
    "general": (
        ("IM", "内科", "internal_medicine"), ("SUR", "外科", "surgery"),
        ("OBG", "妇产科", "obstetrics_gynaecology"), ("PED", "儿科", "paediatrics"),
        ("EM", "急诊科", "emergency"), ("ENT", "眼耳鼻喉科", "ophthalmology_ent"),
        ("TCM", "中医科", "tcm"), ("REH", "康复医学科", "rehabilitation"),
        ("ICU", "重症医学科", "critical_care"), ("IMG", "医学影像科", "imaging"),
        ("LAB", "医学检验科", "laboratory"),
    ),
    "tcm": (
        ("IM", "中医内科", "internal_medicine"), ("SUR", "外科", "surgery"),
        ("ORT", "骨伤科", "orthopaedics"), ("ACU", "针灸推拿科", "tcm"),
        ("OBG", "妇科", "obstetrics_gynaecology"), ("PED", "儿科", "paediatrics"),
        ("EM", "急诊科", "emergency"), ("REH", "康复科", "rehabilitation"),
        ("IMG", "医学影像科", "imaging"), ("LAB", "医学检验科", "laboratory"),
    ),
    "maternal_child": (
        ("OBS", "产科", "obstetrics_gynaecology"), ("GYN", "妇科", "obstetrics_gynaecology"),
        ("PED", "儿科", "paediatrics"), ("CHC", "儿童保健科", "child_health"),
        ("IMG", "医学影像科", "imaging"), ("LAB", "医学检验科", "laboratory"),
    ),
    "township": (
        ("GP", "全科医学科", "general_practice"), ("IM", "内科", "internal_medicine"),
        ("TCM", "中医科", "tcm"), ("PH", "公共卫生科", "public_health"),
        ("EM", "急诊科", "emergency"),
    ),
    "village": (("GEN", "全科诊室", "general_practice"),),
    "cdc": (("CDC", "疾病预防控制科", "public_health"),),
    "outside": (
        ("IM", "内科", "internal_medicine"), ("SUR", "外科", "surgery"),
        ("ONC", "肿瘤科", "oncology"), ("CAR", "心血管内科", "cardiology"),
    ),
}

# --- Workforce (docs §4) ------------------------------------------------------------------
DOCTORS_PER_1000: Final = 2.5  # licensed (assistant) doctors, rural counties
NURSES_PER_1000: Final = 2.8
PHARMACISTS_PER_1000: Final = 0.25
TECHNICIANS_PER_1000: Final = 0.35
COUNTY_DOCTOR_SHARE: Final = 0.55  # of licensed doctors, the rest at township centres
VILLAGE_DOCTORS_PER_CLINIC: Final = (1, 2)  # 1 or 2, equally likely
DOCTOR_TITLES_COUNTY: Final = (
    ("chief", 5), ("associate_chief", 15), ("attending", 35), ("resident", 40), ("assistant", 5),
)
DOCTOR_TITLES_TOWNSHIP: Final = (
    ("associate_chief", 3), ("attending", 27), ("resident", 45), ("assistant", 25),
)
NURSE_TITLES: Final = (("senior_nurse", 30), ("nurse", 70))
TOWNSHIP_GP_SHARE: Final = 0.45  # township doctors registered as general practitioners

# --- Residents (docs §5) ------------------------------------------------------------------
# Rural age structure shaped on the 7th national census (2020), rural population:
# 0–14 ≈ 18 %, 15–64 ≈ 63 % with a bulge at 50–59, ≥ 65 ≈ 19 %. (lower age, upper age,
# percent of residents, share male in the band); overall sex ratio ≈ 105.
AGE_BANDS: Final = (
    (0, 4, 5.0, 0.530), (5, 9, 6.5, 0.535), (10, 14, 6.5, 0.535),
    (15, 19, 5.0, 0.530), (20, 24, 4.0, 0.525), (25, 29, 4.5, 0.520), (30, 34, 6.0, 0.515),
    (35, 39, 5.5, 0.515), (40, 44, 5.5, 0.515), (45, 49, 7.5, 0.510), (50, 54, 9.5, 0.510),
    (55, 59, 9.0, 0.505), (60, 64, 6.0, 0.500),
    (65, 69, 7.0, 0.495), (70, 74, 5.2, 0.485), (75, 79, 3.5, 0.470), (80, 84, 2.2, 0.440),
    (85, 89, 1.1, 0.400), (90, 99, 0.5, 0.350),
)
MIGRANT_SHARE: Final = 0.06  # ID number issued in another county (docs §5)
SCHEME_SHARES: Final = (("resident", 0.92), ("employee", 0.06), ("none", 0.02))
HAN_SHARE: Final = 0.995

# Surname frequencies (percent of population; 2020 household-registration ranking published
# by the Ministry of Public Security, rounded) including rare polyphone surnames.
SURNAMES: Final = (
    ("王", 7.1), ("李", 6.9), ("张", 6.4), ("刘", 5.4), ("陈", 4.6), ("杨", 3.1),
    ("黄", 2.5), ("赵", 2.4), ("吴", 2.0), ("周", 2.0), ("徐", 1.7), ("孙", 1.5),
    ("马", 1.4), ("朱", 1.3), ("胡", 1.3), ("郭", 1.2), ("何", 1.2), ("林", 1.1),
    ("高", 1.1), ("罗", 1.0), ("郑", 1.0), ("梁", 0.9), ("谢", 0.8), ("宋", 0.7),
    ("唐", 0.7), ("许", 0.7), ("韩", 0.7), ("冯", 0.7), ("邓", 0.7), ("曹", 0.6),
    ("彭", 0.6), ("曾", 0.6), ("肖", 0.6), ("田", 0.5), ("董", 0.5), ("袁", 0.5),
    ("潘", 0.5), ("于", 0.5), ("蒋", 0.5), ("蔡", 0.5), ("余", 0.5), ("杜", 0.4),
    ("叶", 0.4), ("程", 0.4), ("苏", 0.4), ("魏", 0.4), ("吕", 0.4), ("丁", 0.4),
    ("任", 0.4), ("沈", 0.3), ("姚", 0.3), ("卢", 0.3), ("姜", 0.3), ("崔", 0.3),
    ("钟", 0.3), ("谭", 0.3), ("陆", 0.3), ("汪", 0.3), ("范", 0.3), ("金", 0.3),
    ("石", 0.3), ("廖", 0.3), ("贾", 0.3), ("夏", 0.3), ("韦", 0.3), ("付", 0.3),
    ("方", 0.3), ("白", 0.2), ("邹", 0.2), ("孟", 0.2), ("熊", 0.2), ("秦", 0.2),
    ("邱", 0.2), ("江", 0.2), ("尹", 0.2), ("薛", 0.2), ("段", 0.2), ("雷", 0.2),
    ("侯", 0.2), ("龙", 0.2), ("史", 0.2), ("陶", 0.2), ("黎", 0.2), ("贺", 0.2),
    ("顾", 0.2), ("毛", 0.2), ("郝", 0.2), ("龚", 0.2), ("邵", 0.2), ("万", 0.2),
    ("钱", 0.2), ("严", 0.2), ("武", 0.2), ("戴", 0.2), ("莫", 0.1), ("孔", 0.1),
    ("单", 0.05), ("仇", 0.03), ("解", 0.03), ("区", 0.02), ("查", 0.02), ("欧阳", 0.05),
)

# Given-name characters without common alternative readings (so that initials are
# unambiguous); split by the sex they are more often given to.
GIVEN_MALE: Final = (
    "伟", "强", "军", "磊", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏",
    "华", "飞", "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙",
    "林", "峰", "建", "国", "文", "志", "海", "春", "德", "东", "成", "兵", "金", "福",
    "永", "红", "庆", "广", "生", "荣", "新", "民", "宏", "子", "轩", "博", "睿", "泽",
)
GIVEN_FEMALE: Final = (
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "英", "玲", "桂", "兰", "燕",
    "萍", "红", "梅", "琳", "雪", "婷", "慧", "颖", "倩", "洁", "琴", "云", "莉", "凤",
    "珍", "玉", "翠", "美", "欣", "怡", "悦", "雨", "涵", "佳", "晨", "思", "梦", "诗",
)
TWO_CHARACTER_GIVEN_SHARE: Final = 0.72

# Chinese mobile number segments (China Mobile, Unicom, Telecom, Broadnet).
PHONE_PREFIXES: Final = (
    "134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158",
    "159", "178", "182", "183", "187", "188", "198", "130", "131", "132", "155", "156",
    "166", "175", "176", "185", "186", "133", "153", "173", "177", "180", "181", "189",
    "199", "192",
)
# Share of residents without a phone on record, by age.
NO_PHONE_CHILD: Final = 0.85  # under 16: usually the parent's phone, not theirs
NO_PHONE_OLD: Final = 0.35  # 75 and over
NO_PHONE_OTHER: Final = 0.04

# --- Chronic conditions (docs §6) ---------------------------------------------------------
# Hypertension prevalence by age (China Hypertension Survey 2012–2015: 27.9 % of adults ≥ 18,
# rising steeply with age); shaped so that about 26 % of residents ≥ 35 have it.
HTN_BY_AGE: Final = ((35, 0.08), (45, 0.16), (55, 0.28), (65, 0.38), (75, 0.46))
# Diabetes (Li et al., BMJ 2020: 12.8 % ADA / 11.2 % WHO criteria of adults): about a tenth
# of residents ≥ 35, more often together with hypertension.
DM_GIVEN_HTN: Final = 0.20
DM_WITHOUT_HTN: Final = 0.065
CHRONIC_MIN_AGE: Final = 35
# Extra primary-care follow-up visits a year for patients with these conditions.
HTN_EXTRA_VISITS: Final = 3.0
DM_EXTRA_VISITS: Final = 2.0

# --- Utilisation (docs §7) ----------------------------------------------------------------
VISITS_PER_RESIDENT: Final = 5.5  # in-county outpatient + emergency visits a year
ADMISSIONS_PER_100: Final = 18.0  # all admissions of county residents, in and out of county
OUT_OF_COUNTY_ADMISSION_SHARE: Final = 0.125
IN_COUNTY_VISIT_RATE: Final = 0.895  # target of (in-county events ÷ all events)
# Relative visit and admission rates by age (lower bound of the band).
VISIT_AGE_FACTOR: Final = ((0, 1.5), (5, 0.7), (15, 0.55), (35, 0.8), (50, 1.0), (65, 1.6),
                           (75, 1.9))
ADMISSION_AGE_FACTOR: Final = ((0, 0.9), (5, 0.25), (15, 0.3), (35, 0.55), (50, 0.9),
                               (65, 1.9), (75, 2.8))
DELIVERY_RATE: Final = 0.045  # births a year per woman aged 20–39 (rural, 2020s)
DELIVERY_AGES: Final = (20, 39)
CAESAREAN_SHARE: Final = 0.40
# Level of acute in-county visits and of chronic follow-ups (primary share ≈ 55 %).
ACUTE_VISIT_LEVELS: Final = (("village", 0.26), ("township", 0.26), ("county", 0.48))
CHRONIC_VISIT_LEVELS: Final = (("village", 0.40), ("township", 0.38), ("county", 0.22))
IN_COUNTY_ADMISSION_LEVELS: Final = (("township", 0.30), ("county", 0.70))
EMERGENCY_SHARE: Final = {"county": 0.09, "township": 0.03, "village": 0.0}
COUNTY_HOSPITAL_SHARES: Final = (("general", 0.66), ("tcm", 0.26), ("maternal_child", 0.08))
OWN_VILLAGE_SHARE: Final = 0.93  # village visits at the resident's own village clinic
OWN_TOWNSHIP_SHARE: Final = 0.90
LENGTH_OF_STAY: Final = {"township": (4, 8), "county": (5, 12), "city": (7, 15),
                         "provincial": (8, 18)}
# Month weights of visits (winter peak of respiratory infections).
MONTH_WEIGHTS: Final = (1.20, 1.05, 1.05, 1.0, 0.95, 0.90, 0.90, 0.90, 0.95, 1.0, 1.05, 1.20)
WINTER_MONTHS: Final = (1, 2, 3, 11, 12)
WINTER_RESPIRATORY_FACTOR: Final = 1.6

# --- Diagnoses (docs §8): (ICD-10 code, weight) ----------------------------------------------
VISIT_DX: Final[dict[tuple[str, str], tuple[tuple[str, float], ...]]] = {
    ("village", "child"): (
        ("J06.9", 50), ("J02.9", 8), ("J20.9", 6), ("A09", 10), ("R50.9", 8), ("L30.9", 5),
        ("T14.0", 6), ("K30", 4), ("B01.9", 2),
    ),
    ("village", "adult"): (
        ("J06.9", 36), ("J02.9", 6), ("J20.9", 5), ("M54.5", 10), ("K29.7", 10), ("R51", 4),
        ("T14.0", 6), ("L30.9", 5), ("M17.9", 5), ("K52.9", 3), ("E78.5", 2),
    ),
    ("village", "old"): (
        ("J06.9", 28), ("J20.9", 8), ("M54.5", 10), ("K29.7", 10), ("M17.9", 10),
        ("R42", 5), ("T14.0", 4), ("J44.9", 6), ("I25.1", 5), ("L30.9", 3),
    ),
    ("township", "child"): (
        ("J06.9", 40), ("J20.9", 10), ("J18.9", 4), ("A09", 10), ("H10.9", 4), ("K02.9", 5),
        ("R50.9", 8), ("L20.9", 4), ("S00.9", 5), ("J45.9", 2),
    ),
    ("township", "adult"): (
        ("J06.9", 25), ("J20.9", 6), ("K29.7", 10), ("M54.5", 9), ("N39.0", 5), ("K02.9", 5),
        ("M51.2", 4), ("H10.9", 3), ("S60.9", 5), ("E78.5", 4), ("K21.9", 3), ("N76.0", 3),
    ),
    ("township", "old"): (
        ("J06.9", 18), ("J20.9", 8), ("J44.9", 9), ("I25.1", 9), ("K29.7", 9), ("M17.9", 9),
        ("M54.5", 7), ("I69.3", 5), ("N40", 4), ("R42", 4), ("E78.5", 4),
    ),
    ("county", "child"): (
        ("J06.9", 30), ("J20.9", 10), ("J18.9", 8), ("A09", 8), ("H66.9", 5), ("J45.9", 4),
        ("J35.0", 3), ("H52.1", 6), ("S52.5", 3), ("L20.9", 5), ("R50.9", 6), ("Z00.1", 6),
    ),
    ("county", "adult"): (
        ("J06.9", 12), ("K29.7", 8), ("M51.2", 6), ("N20.0", 4), ("K80.2", 4), ("K21.9", 4),
        ("N76.0", 4), ("Z34.9", 6), ("E78.5", 4), ("H52.1", 3), ("J20.9", 5), ("S82.2", 2),
        ("R10.4", 5), ("F41.9", 2), ("B18.1", 3), ("N18.9", 1), ("J45.9", 2),
    ),
    ("county", "old"): (
        ("I25.1", 12), ("J44.9", 8), ("I63.9", 5), ("I69.3", 6), ("H25.9", 6), ("M17.9", 7),
        ("K29.7", 6), ("N40", 5), ("J20.9", 7), ("J06.9", 6), ("E78.5", 5), ("I48", 3),
        ("N18.9", 3), ("I50.9", 3), ("M81.9", 3),
    ),
}
# Plausibility of a diagnosis for the person (ICD-10 chapter notes on sex- and age-specific
# codes): pregnancy and female-genital codes only for women (pregnancy 15–49), male-genital
# codes only for men, perinatal (P) codes only in the first year of life.
PREGNANCY_CODES: Final = ("O", "Z34", "Z35", "Z36")
FERTILE_AGES: Final = (15, 49)
FEMALE_ONLY_CODES: Final = (*PREGNANCY_CODES, "N7", "N8", "N9", "D25", "D26", "D27", "C50",
                            "C51", "C52", "C53", "C54", "C55", "C56", "C57", "C58")
MALE_ONLY_CODES: Final = ("N40", "N41", "N42", "N43", "N44", "N45", "N46", "N47", "N48",
                          "N49", "N50", "N51", "C60", "C61", "C62", "C63")
INFANT_ONLY_CODES: Final = ("P",)
HTN: Final = "I10"
DM: Final = "E11.9"
ADMISSION_DX: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    "child": (
        ("J18.9", 40), ("J20.9", 12), ("J21.9", 8), ("A09", 12), ("K35.8", 5), ("S52.5", 4),
        ("S06.0", 3), ("J45.9", 3), ("P59.9", 5), ("R56.0", 2),
    ),
    "adult": (
        ("K35.8", 8), ("K80.1", 6), ("J18.9", 8), ("I63.9", 7), ("I25.1", 6), ("N20.0", 5),
        ("M51.2", 5), ("S82.2", 4), ("S72.0", 1), ("K29.7", 4),
        ("K56.6", 2), ("C16.9", 2), ("C34.9", 2), ("C22.0", 1), ("K40.9", 4), ("N83.2", 2),
        ("D25.9", 3), ("J44.1", 2), ("S06.0", 2), ("T65.9", 1),
    ),
    "old": (
        ("I63.9", 18), ("J44.1", 12), ("J18.9", 14), ("I25.1", 12), ("I50.9", 7), ("S72.0", 5),
        ("N18.9", 2), ("C34.9", 3), ("C16.9", 2), ("K80.1", 4),
        ("H25.9", 5), ("I61.9", 2), ("I48", 3), ("K40.9", 2), ("N40", 2),
    ),
}
DELIVERY_DX: Final = ("O80", "O82")
OUT_OF_COUNTY_ADMISSION_DX: Final = (
    ("C34.9", 12), ("C16.9", 6), ("C22.0", 5), ("C18.9", 4), ("C50.9", 5), ("C15.9", 3),
    ("C53.9", 2), ("C91.0", 1), ("I21.9", 8), ("I25.1", 8), ("I63.9", 6), ("I61.9", 4),
    ("I35.0", 2), ("Q21.1", 1), ("M16.9", 4), ("M48.0", 3), ("S06.5", 3), ("S72.0", 2),
    ("N18.5", 3), ("K80.1", 3), ("J18.9", 5), ("J44.1", 3), ("O82", 2), ("G40.9", 2),
    ("D61.9", 1),
)
# Children's care outside the county: paediatric referral centres (leukaemia, congenital
# heart disease, severe pneumonia, head injury) rather than adult cancers and cardiology.
OUT_OF_COUNTY_CHILD_ADMISSION_DX: Final = (
    ("J18.9", 10), ("C91.0", 3), ("Q21.1", 3), ("S06.5", 2), ("P07.3", 2), ("G40.9", 2),
    ("K35.8", 2), ("S52.5", 1),
)
OUT_OF_COUNTY_CHILD_VISIT_DX: Final = (
    ("J06.9", 8), ("J45.9", 4), ("H52.1", 6), ("L20.9", 4), ("Q21.1", 1), ("F84.0", 1),
)
OUT_OF_COUNTY_VISIT_DX: Final = (
    ("C34.9", 6), ("C16.9", 3), ("C50.9", 3), ("I25.1", 10),
    ("J06.9", 8), ("M54.5", 6), ("H25.9", 5), ("K29.7", 6), ("N18.5", 2), ("F32.9", 3),
    ("M51.2", 5), ("J45.9", 3), ("L20.9", 4), ("Z34.9", 4), ("H52.1", 4), ("B18.1", 3),
)
# Admissions and out-of-county visits of hypertension / diabetes patients that are for the
# chronic condition itself (only these patients get I10 / E11 as a primary diagnosis there).
CHRONIC_ADMISSION_SHARE: Final = 0.12
CHRONIC_OUTSIDE_VISIT_SHARE: Final = 0.20
# Admission diagnoses a township centre does not treat (sent to the county hospital).
COUNTY_ONLY_ADMISSION: Final = ("C", "I61", "S72", "K56", "H25", "D25", "N83", "S06")
# Secondary diagnoses: chronic conditions are carried on other encounters of their patients.
SECONDARY_CHRONIC_SHARE: Final = 0.45
SECONDARY_OTHER: Final = (("E78.5", 4), ("K29.7", 2), ("I25.1", 3), ("N18.9", 1))
SECONDARY_OTHER_SHARE: Final = 0.06  # of encounters of residents ≥ 50

# --- Costs (docs §9): log-normal, (mean yuan, sigma of log) ---------------------------------
COSTS: Final[dict[tuple[str, str], tuple[float, float]]] = {
    ("village", "outpatient"): (42.0, 0.45),
    ("township", "outpatient"): (110.0, 0.55),
    ("township", "emergency"): (180.0, 0.55),
    ("county", "outpatient"): (320.0, 0.65),
    ("county", "emergency"): (420.0, 0.65),
    ("township", "inpatient"): (3_200.0, 0.45),
    ("county", "inpatient"): (9_800.0, 0.60),
    ("city", "outpatient"): (520.0, 0.70),
    ("provincial", "outpatient"): (780.0, 0.70),
    ("city", "inpatient"): (16_000.0, 0.65),
    ("provincial", "inpatient"): (26_000.0, 0.70),
}
# Share of the total by item: drugs, consumables, examinations (rest: medical services).
COST_SHARES: Final[dict[str, tuple[float, float, float]]] = {
    "village": (0.55, 0.05, 0.05),
    "township": (0.40, 0.10, 0.18),
    "county": (0.33, 0.14, 0.25),
    "city": (0.32, 0.17, 0.25),
    "provincial": (0.30, 0.19, 0.25),
}
# Fund-paid share of the total by scheme and (level, class); "none" pays nothing.
FUND_SHARES: Final[dict[str, dict[str, float]]] = {
    "resident": {
        "village-outpatient": 0.60, "township-outpatient": 0.50, "township-emergency": 0.50,
        "county-outpatient": 0.35, "county-emergency": 0.35, "township-inpatient": 0.82,
        "county-inpatient": 0.68, "city-outpatient": 0.25, "provincial-outpatient": 0.20,
        "city-inpatient": 0.55, "provincial-inpatient": 0.48,
    },
    "employee": {
        "village-outpatient": 0.70, "township-outpatient": 0.65, "township-emergency": 0.65,
        "county-outpatient": 0.55, "county-emergency": 0.55, "township-inpatient": 0.90,
        "county-inpatient": 0.82, "city-outpatient": 0.45, "provincial-outpatient": 0.40,
        "city-inpatient": 0.72, "provincial-inpatient": 0.65,
    },
}
COST_TABLE_SIZE: Final = 8192  # pre-drawn cost rows per (level, class, scheme)

# --- Out-of-county hospitals (docs §10) ---------------------------------------------------
# (code suffix, name pattern, level, kind, beds, share of out-of-county admissions).
# {city} is the prefecture's name, {province} the province's short name.
OUTSIDE_HOSPITALS: Final = (
    ("C01", "{city}第一人民医院", "city", "general_hospital", 1500, 0.30),
    ("C02", "{city}中医院", "city", "tcm_hospital", 800, 0.08),
    ("C03", "{city}妇幼保健院", "city", "maternal_child", 500, 0.04),
    ("P01", "{province}省立医院", "provincial", "general_hospital", 4000, 0.30),
    ("P02", "{province}医科大学第一附属医院", "provincial", "general_hospital", 4500, 0.20),
    ("P03", "{province}省肿瘤医院", "provincial", "general_hospital", 1200, 0.08),
)
