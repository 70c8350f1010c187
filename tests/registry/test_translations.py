"""Every user-facing text of the registry and patients apps has a Simplified Chinese
translation (the default UI language): no empty or fuzzy entry in their catalogues."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tiercare"


def entries(path: Path) -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) of every entry except the header."""
    out: list[tuple[str, str, bool]] = []
    msgid: list[str] = []
    msgstr: list[str] = []
    fuzzy = False
    state = ""

    def flush() -> None:
        if msgid:
            text = "".join(json.loads(x) for x in msgid)
            if text:
                out.append((text, "".join(json.loads(x) for x in msgstr), fuzzy))

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("#~"):
            continue
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith("msgid "):
            msgid, msgstr, state = [line[6:]], [], "id"
        elif line.startswith("msgstr "):
            msgstr, state = [line[7:]], "str"
        elif line.startswith('"'):
            (msgid if state == "id" else msgstr).append(line)
        elif not line.strip():
            flush()
            msgid, msgstr, fuzzy, state = [], [], False, ""
    return out


@pytest.mark.parametrize("app", ["registry", "patients"])
def test_catalogue_is_complete(app):
    path = SRC / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    found = entries(path)
    assert len(found) > 50
    assert [m for m, s, _ in found if not s.strip()] == []
    assert [m for m, _, fuzzy in found if fuzzy] == []
