"""Pinyin of residents' names for search (issue 2 §4: "search by … name and pinyin initials
(张三 → "zs"; surname polyphones such as 单/曾/解 found by every reading)").

* :func:`initials` gives the lower-case first letters of each character's pinyin, without
  tones. When the name starts with a surname that reads differently as a surname (单 shàn,
  not dān; 曾 zēng, not céng; 解 xiè, not jiě …) every reading is returned, the surname
  reading first: ``单田芳`` → ``["stf", "dtf"]``. Compound surnames (欧阳, 司马, 诸葛, 上官,
  尉迟 yùchí …) are read as one surname.
* Characters of the given name take pypinyin's most common reading of the single character
  (no phrase context: names are not phrases, and this keeps it fast).
* Latin letters (also full-width ones) are kept in lower case; digits, punctuation and the
  middle dot of transliterated names (``·``) are dropped.

Speed: pypinyin is called once per distinct character and the result is kept in a
dictionary, so after warm-up a name costs a few dictionary look-ups (the synthetic generator
runs this for a million names).

Surname readings: 《百家姓》 readings as given by the 现代汉语词典 (7th edition) entries for
these characters; compiled by the TierCare authors.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Single-character surnames whose surname reading differs from the character's most common
# (or pypinyin's first) reading: surname reading first, then the one other reading people
# type when searching. At most two readings each, so a record stores one alternative.
POLYPHONE_SURNAMES: dict[str, tuple[str, ...]] = {
    "单": ("shan", "dan"),
    "曾": ("zeng", "ceng"),
    "解": ("xie", "jie"),
    "区": ("ou", "qu"),
    "仇": ("qiu", "chou"),
    "朴": ("piao", "pu"),
    "查": ("zha", "cha"),
    "盖": ("ge", "gai"),
    "乐": ("yue", "le"),
    "缪": ("miao", "mou"),
    "覃": ("qin", "tan"),
    "种": ("chong", "zhong"),
    "尉": ("wei", "yu"),  # single surname 尉 reads wèi; yù only in 尉迟 (below)
    "召": ("shao", "zhao"),
    "黑": ("he", "hei"),
    "翟": ("zhai", "di"),
    "折": ("she", "zhe"),
    "员": ("yun", "yuan"),
    "繁": ("po", "fan"),
    "句": ("gou", "ju"),
    "秘": ("bi", "mi"),
    "能": ("nai", "neng"),
    "车": ("che", "ju"),
    "隗": ("wei", "kui"),
    "谌": ("chen", "shen"),
    "都": ("du", "dou"),
    "贲": ("ben", "bi"),
    "费": ("fei", "bi"),
    "郇": ("huan", "xun"),
    "长": ("chang", "zhang"),
    "莘": ("shen", "xin"),
    "粘": ("nian", "zhan"),
    "射": ("she", "ye"),
    "柏": ("bai", "bo"),
    "藏": ("zang", "cang"),
    "会": ("kuai", "hui"),
    "祭": ("zhai", "ji"),
    "叶": ("ye", "she"),
    "晟": ("cheng", "sheng"),
    "朝": ("chao", "zhao"),
    "重": ("chong", "zhong"),
    "洗": ("xian", "xi"),
    "宿": ("su", "xiu"),
    "佴": ("nai", "er"),
    "卜": ("bu", "bo"),
}

# Compound surnames: reading of the whole surname first; the character-by-character reading
# (what a searcher who does not know the surname types) follows when it differs.
COMPOUND_SURNAMES: dict[str, tuple[str, ...]] = {
    "欧阳": ("ouyang",),
    "司马": ("sima",),
    "诸葛": ("zhuge",),
    "上官": ("shangguan",),
    "尉迟": ("yuchi", "weichi"),
    "长孙": ("zhangsun", "changsun"),
    "万俟": ("moqi", "wanqi"),
    "澹台": ("tantai", "dantai"),
    "令狐": ("linghu",),
    "皇甫": ("huangfu",),
    "东方": ("dongfang",),
    "夏侯": ("xiahou",),
    "宇文": ("yuwen",),
    "公孙": ("gongsun",),
    "慕容": ("murong",),
    "端木": ("duanmu",),
    "司徒": ("situ",),
    "司空": ("sikong",),
    "独孤": ("dugu",),
    "南宫": ("nangong",),
    "西门": ("ximen",),
    "呼延": ("huyan",),
    "轩辕": ("xuanyuan",),
    "申屠": ("shentu",),
    "公冶": ("gongye",),
    "太史": ("taishi",),
    "钟离": ("zhongli",),
    "闻人": ("wenren",),
}

# First letters of each syllable of a compound-surname reading (zhuge → "zg").
_COMPOUND_INITIALS: dict[str, tuple[str, ...]] = {
    "欧阳": ("oy",), "司马": ("sm",), "诸葛": ("zg",), "上官": ("sg",),
    "尉迟": ("yc", "wc"), "长孙": ("zs", "cs"), "万俟": ("mq", "wq"),
    "澹台": ("tt", "dt"), "令狐": ("lh",), "皇甫": ("hf",),
    "东方": ("df",), "夏侯": ("xh",), "宇文": ("yw",), "公孙": ("gs",), "慕容": ("mr",),
    "端木": ("dm",), "司徒": ("st",), "司空": ("sk",), "独孤": ("dg",), "南宫": ("ng",),
    "西门": ("xm",), "呼延": ("hy",), "轩辕": ("xy",), "申屠": ("st",), "公冶": ("gy",),
    "太史": ("ts",), "钟离": ("zl",), "闻人": ("wr",),
}

_READINGS: dict[str, str] = {}


def _reading(ch: str) -> str:
    """Pinyin of one character without tone (``""`` for characters to drop); cached."""
    reading = _READINGS.get(ch)
    if reading is not None:
        return reading
    if ch.isascii():
        reading = ch.lower() if ch.isalpha() else ""
    else:
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch and folded.isascii():
            reading = folded.lower() if folded.isalpha() else ""
        else:
            from pypinyin import Style, lazy_pinyin  # imported on first use (~0.15 s)

            result = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore", strict=False)
            reading = result[0] if result and result[0].isascii() and result[0].isalpha() else ""
            reading = reading.lower()
    _READINGS[ch] = reading
    return reading


def _split_surname(name: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(surname full readings, surname initials, rest of the name); empty tuples when the
    name does not start with a special surname. A name is read surname first, so a lone
    surname (``单``, as a search for the surname) gives the surname readings too."""
    head = name[:2]
    if head in COMPOUND_SURNAMES:
        return COMPOUND_SURNAMES[head], _COMPOUND_INITIALS[head], name[2:]
    first = name[:1]
    if first in POLYPHONE_SURNAMES:
        readings = POLYPHONE_SURNAMES[first]
        return readings, tuple(r[0] for r in readings), name[1:]
    return (), (), name


def _clean(name: str) -> str:
    return name.strip() if isinstance(name, str) else ""


@lru_cache(maxsize=131072)
def _initials(name: str) -> tuple[str, ...]:
    readings, surname_initials, rest = _split_surname(name)
    tail = "".join([r[:1] for r in map(_reading, rest)])
    if not readings:
        return (tail,) if tail else ()
    variants: list[str] = []
    for initial in surname_initials:
        variant = initial + tail
        if variant not in variants:
            variants.append(variant)
    return tuple(variants)


def initials(name: str) -> list[str]:
    """Pinyin initials of a name, every reading of a polyphone surname, surname reading
    first: ``张三`` → ``["zs"]``, ``单田芳`` → ``["stf", "dtf"]``, ``欧阳娜娜`` → ``["oynn"]``.
    An empty list when nothing in the name has a reading."""
    return list(_initials(_clean(name)))


@lru_cache(maxsize=131072)
def _full(name: str) -> str:
    readings, _, rest = _split_surname(name)
    head = readings[0] if readings else ""
    return head + "".join(map(_reading, rest))


def full_pinyin(name: str) -> str:
    """The whole name in toneless pinyin, syllables run together, surname read as a surname:
    ``张三`` → ``"zhangsan"``, ``单田芳`` → ``"shantianfang"``."""
    return _full(_clean(name))


def search_keys(name: str) -> list[str]:
    """Every initials variant followed by the full pinyin: what a search index stores."""
    keys = initials(name)
    full = full_pinyin(name)
    if full and full not in keys:
        keys.append(full)
    return keys
