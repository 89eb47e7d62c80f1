"""`carebot terms publish` and `carebot terms list`: an operator publishes the agreement from files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from storage import agreements
from storage.db import SessionFactory
from storage.types import utcnow


def carebot(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


async def test_an_operator_publishes_both_languages_then_a_supplement(
    sessions: SessionFactory, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREBOT_DATABASE_URL", database_url)
    english, chinese = tmp_path / "terms.en.md", tmp_path / "terms.zh.md"
    english.write_text("# Customer agreement\n\nWe help you.", encoding="utf-8")
    chinese.write_text("\ufeff# 客户协议\n\n我们为您服务。", encoding="utf-8")

    first = await asyncio.to_thread(carebot, "terms", "publish", str(english), "--lang", "en", "--version", "1")
    assert first.exit_code == 0, first.output
    assert (
        first.output.strip()
        == "Version 1 (English) saved. It comes into force once the text in 简体中文 is published too."
    )
    second = await asyncio.to_thread(
        carebot, "terms", "publish", str(chinese), "--lang", "zh-CN", "--version", "1", "--summary", "我们为您服务"
    )
    assert second.exit_code == 0, second.output
    assert second.output.startswith("Version 1 is now in force.")

    again = await asyncio.to_thread(carebot, "terms", "publish", str(english), "--lang", "en", "--version", "1")
    assert again.exit_code == 1 and "already in force and can no longer change" in again.output
    wrong = await asyncio.to_thread(carebot, "terms", "publish", str(english), "--lang", "fr", "--version", "2")
    assert wrong.exit_code == 2 and "unknown language" in wrong.output

    for path, lang in ((english, "en"), (chinese, "zh_CN")):
        result = await asyncio.to_thread(
            carebot, "terms", "publish", str(path), "--lang", lang, "--version", "2", "--supplement-to", "1"
        )
        assert result.exit_code == 0, result.output
    assert result.output.startswith("Supplement 2 to version 1 is now in force.")

    listing = await asyncio.to_thread(carebot, "terms", "list")
    lines = listing.output.splitlines()
    assert lines[0].startswith("1\tversion\ten,zh_CN\t") and lines[1].startswith("2\tsupplement to 1\ten,zh_CN\t")

    async with sessions() as session:
        in_force = await agreements.version_in_force(session, at=utcnow())
        parts = await agreements.agreement_texts(session, version=2, language="zh_CN")
    assert in_force is not None and in_force.version == 2
    assert parts[0][1].text == "# 客户协议\n\n我们为您服务。" and parts[0][1].summary == "我们为您服务"
