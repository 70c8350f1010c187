"""Every kernel error template has a Chinese translation in the project catalogue
(src/tiercare/locale/zh_Hans/LC_MESSAGES/django.po), and errors translate at the boundary."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

import tiercare
from tiercare.kernel import idnumber
from tiercare.kernel.errors import InvalidIdNumber, KernelError

PACKAGE = Path(tiercare.__file__).resolve().parent
KERNEL = PACKAGE / "kernel"
ZH_PO = PACKAGE / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def kernel_templates() -> set[str]:
    """Every string literal passed to N_() in the kernel's modules."""
    found: set[str] = set()
    for path in KERNEL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "N_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def _unquote(text: str) -> str:
    value = ast.literal_eval(text)
    assert isinstance(value, str)
    return value


def parse_po(path: Path) -> dict[str, str]:
    """A tiny PO parser: msgid → msgstr of every entry that is neither fuzzy nor obsolete.
    Entries are separated by blank lines, as gettext's tools write them."""
    catalogue: dict[str, str] = {}
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        parts: dict[str, list[str]] = {}
        current: list[str] | None = None
        fuzzy = False
        for raw in block.splitlines():
            line = raw.strip()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif line.startswith("#"):
                continue  # comments, references, obsolete (#~) entries
            elif line.startswith(("msgid ", "msgstr ")):
                keyword, _, literal = line.partition(" ")
                current = parts.setdefault(keyword, [])
                current.append(_unquote(literal))
            elif line.startswith('"') and current is not None:
                current.append(_unquote(line))
        if "msgid" in parts and "msgstr" in parts and not fuzzy:
            catalogue["".join(parts["msgid"])] = "".join(parts["msgstr"])
    catalogue.pop("", None)  # the header entry
    return catalogue


def test_kernel_has_templates_to_translate():
    templates = kernel_templates()
    assert len(templates) >= 30
    assert "The ICD-10 code %(value)s does not exist." in templates


def test_every_kernel_template_has_a_chinese_translation():
    catalogue = parse_po(ZH_PO)
    missing = sorted(t for t in kernel_templates() if not catalogue.get(t, "").strip())
    assert missing == []


def test_translations_keep_the_placeholders():
    catalogue = parse_po(ZH_PO)
    for template in kernel_templates():
        assert sorted(PLACEHOLDER.findall(catalogue[template])) == sorted(
            PLACEHOLDER.findall(template)
        ), template


def test_settings_strings_are_translated():
    catalogue = parse_po(ZH_PO)
    assert catalogue["Simplified Chinese"] == "简体中文"
    assert catalogue["English"] == "英文"


def test_translated_uses_the_given_gettext():
    err = KernelError("x.y", "Code %(value)s is bad.", {"value": "A1"})
    assert str(err) == "Code A1 is bad."
    assert err.translated(lambda s: "编码 %(value)s 有误。") == "编码 A1 有误。"
    # a broken translation does not crash the error path
    assert err.translated(lambda s: "坏的 %(missing)s") == "坏的 %(missing)s"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
def test_errors_translate_through_django(tmp_path, settings):
    from django.utils import translation

    # given the catalogue compiled to a fresh .mo file
    target = tmp_path / "zh_Hans" / "LC_MESSAGES"
    target.mkdir(parents=True)
    subprocess.run(
        ["msgfmt", "--check", "-o", str(target / "django.mo"), str(ZH_PO)], check=True
    )
    settings.LOCALE_PATHS = [tmp_path]
    # when an ID number's check digit is wrong
    with pytest.raises(InvalidIdNumber) as exc:
        idnumber.validate("110105194912310021", today=date(2025, 1, 1))
    # then the message is Chinese under zh-hans and English under en
    with translation.override("zh-hans"):
        assert exc.value.translated(translation.gettext) == (
            "身份证号码 110105194912310021 的校验码错误：应为 X。"
        )
    with translation.override("en"):
        assert exc.value.translated(translation.gettext) == str(exc.value)
