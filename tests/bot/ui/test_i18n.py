"""Every text a user can see exists in English and Simplified Chinese, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

from bot.ui.i18n import catalog_keys, t

ROOT = Path(__file__).resolve().parents[3]
LITERAL_KEY = re.compile(r"""\bt\(\s*[\w.]+\s*,\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_translate_the_same_keys_with_the_same_placeholders() -> None:
    english, chinese = catalog_keys("en"), catalog_keys("zh_CN")
    assert english, "no English catalog"
    assert set(english) == set(chinese), {
        "missing in zh_CN": sorted(set(english) - set(chinese)),
        "missing in en": sorted(set(chinese) - set(english)),
    }
    untranslated = sorted(key for key in english if not english[key] or not chinese[key])
    assert not untranslated
    mismatched = sorted(key for key in english if placeholders(english[key]) != placeholders(chinese[key]))
    assert not mismatched


def test_every_key_the_code_uses_is_in_the_catalogs() -> None:
    known = set(catalog_keys("en"))
    used = {
        (path.relative_to(ROOT).as_posix(), key)
        for folder in ("bot", "scheduler")
        for path in (ROOT / folder).rglob("*.py")
        for key in LITERAL_KEY.findall(path.read_text(encoding="utf-8"))
    }
    assert used, "the key pattern found nothing: is it out of date?"
    assert sorted((path, key) for path, key in used if key not in known) == []


def test_parameters_are_escaped_for_html() -> None:
    assert t("en", "profile.name", value="<b>Bob & Co</b>") == "Name: &lt;b&gt;Bob &amp; Co&lt;/b&gt;"
    assert t("zh_CN", "profile.name", value="李<雷>") == "姓名：李&lt;雷&gt;"
