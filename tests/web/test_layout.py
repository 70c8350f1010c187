"""Base layout: navigation by role, the language switch, translations complete."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tiercare.accounts.models import Role

SRC = Path(__file__).resolve().parents[2] / "src" / "tiercare"


def nav_keys(body: str) -> set[str]:
    return set(re.findall(r'data-nav="([a-z]+)"', body))


@pytest.mark.parametrize(("role", "expected"), [
    (Role.DOCTOR, {"search", "referrals", "calendar", "overview"}),
    (Role.NURSE, {"search", "referrals", "calendar", "overview"}),
    (Role.PHARMACIST, {"search", "overview"}),
    (Role.AUDITOR, {"search", "referrals", "overview", "indicators", "audit"}),
    (Role.REGULATOR, {"search", "referrals", "overview", "institutions", "grid",
                      "indicators", "tightness"}),
    (Role.ALLIANCE_ADMIN, {"referrals", "calendar", "overview", "institutions", "grid",
                           "indicators", "tightness", "admin"}),
    (Role.SYSTEM_ADMIN, {"search", "referrals", "calendar", "overview", "institutions", "grid",
                         "indicators", "tightness", "audit", "systems", "admin"}),
])
def test_navigation_follows_the_role(world, as_role, role, expected):
    body = as_role(role).get(reverse("web:home")).content.decode()
    assert nav_keys(body) == expected


def test_the_top_bar_shows_name_role_and_institution(world, as_role):
    body = as_role(Role.DOCTOR).get(reverse("web:home")).content.decode()
    bar = body[body.index('data-testid="current-user"'):][:400]
    assert "u_doctor" in bar and "医生" in bar and "城关镇卫生院" in bar


def test_chinese_is_the_default_and_the_switch_gives_english(world, as_role):
    client = as_role(Role.DOCTOR)
    chinese = client.get(reverse("web:home")).content.decode()
    assert "居民检索" in chinese and "Resident search" not in chinese
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    english = client.get(reverse("web:home")).content.decode()
    assert "Resident search" in english and "居民检索" not in english
    assert 'lang="en"' in english


def po_entries(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a .po file, one per msgstr (plural forms give several); a
    fuzzy entry counts as untranslated. Blocks are separated by blank lines."""
    entries: list[tuple[str, str]] = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        fields: dict[str, str] = {}
        key = None
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            match = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line)
            if match:
                key = match.group(1)
                fields[key] = match.group(2)
            elif line.startswith('"') and key is not None:
                fields[key] += line[1:-1]
        if not fields.get("msgid"):
            continue  # the header
        for name, value in fields.items():
            if name.startswith("msgstr"):
                entries.append((fields["msgid"], "" if fuzzy else value))
    return entries


@pytest.mark.parametrize("app", ["web", "accounts", "fhir", "referrals", "scheduling",
                                 "notifications", "indicators"])
def test_every_message_of_the_app_has_a_chinese_translation(app):
    po = SRC / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    entries = po_entries(po)
    assert len(entries) > 20
    missing = [msgid for msgid, msgstr in entries if not msgstr.strip()]
    assert missing == []
