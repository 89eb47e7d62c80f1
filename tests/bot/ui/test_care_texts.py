"""Every catalog key the scheduler plans with (templates, buttons) exists in both languages."""

from __future__ import annotations

import re
from pathlib import Path

from bot.ui.i18n import catalog_keys

ROOT = Path(__file__).resolve().parents[3]
KEY = re.compile(r"""["'](care\.[a-z0-9_]+(?:\.[a-z0-9_]+)*)["']""")


def test_the_keys_planners_and_the_sender_use_are_translated() -> None:
    used = {key for path in (ROOT / "scheduler").rglob("*.py") for key in KEY.findall(path.read_text("utf-8"))}
    assert {"care.birthday", "care.holiday", "care.gift", "care.stop_button", "care.sla.line"} <= used
    for language in ("en", "zh_CN"):
        assert sorted(used - set(catalog_keys(language))) == [], language
