"""The FAQ: entries (question variants and an answer, per language and category), matching, events, import.

Matching is fuzzy (rapidfuzz token-set ratio, 0–100) over the question variants in the customer's language; CJK
characters count as words, so Chinese questions match by the characters they share.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import yaml
from rapidfuzz import fuzz, utils
from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.languages import LANGUAGES
from storage.models import FaqEntry, FaqEvent, TicketCategory

CATEGORIES = tuple(c.value for c in TicketCategory)
EVENTS = ("hit", "miss", "helped", "escalated")
MAX_ANSWER = 4000
MAX_QUESTION = 500
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


class FaqFileError(ValueError):
    """The FAQ file cannot be imported; the message names the entry and the problem."""


@dataclass(frozen=True)
class NewEntry:
    language: str
    category: str
    questions: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class Match:
    entry: FaqEntry
    score: float


def questions_of(entry: FaqEntry) -> list[str]:
    return [str(q) for q in json.loads(entry.questions)]


def normalise(text: str) -> str:
    """Lower case, punctuation out, every CJK character a word of its own."""
    return " ".join(_CJK.sub(r" \1 ", utils.default_process(text)).split())


def best_match(entries: list[FaqEntry], question: str, *, threshold: int) -> Match | None:
    """The entry whose question variant is closest to `question`, if it scores at least `threshold`."""
    wanted = normalise(question)
    if len(wanted.replace(" ", "")) < 2:
        return None
    best: Match | None = None
    for entry in entries:
        for variant in questions_of(entry):
            score = fuzz.token_set_ratio(wanted, normalise(variant))
            if score >= threshold and (best is None or score > best.score):
                best = Match(entry, score)
    return best


def validate_entry(
    *, language: object, category: object, questions: object, answer: object, where: str = ""
) -> NewEntry:
    prefix = f"{where}: " if where else ""
    lang = str(language or "").strip().replace("-", "_")
    lang = {"zh": "zh_CN", "zh_cn": "zh_CN", "cn": "zh_CN"}.get(lang.lower(), lang)
    if lang not in LANGUAGES:
        raise FaqFileError(f"{prefix}language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    cat = str(category or "other").strip().lower()
    if cat not in CATEGORIES:
        raise FaqFileError(f"{prefix}category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    if isinstance(questions, str):
        questions = questions.split("|")
    if not isinstance(questions, list | tuple):
        raise FaqFileError(f"{prefix}questions must be a list of texts")
    variants = tuple(str(q).strip() for q in questions if str(q).strip())
    if not variants:
        raise FaqFileError(f"{prefix}at least one question is needed")
    if any(len(q) > MAX_QUESTION for q in variants):
        raise FaqFileError(f"{prefix}a question is longer than {MAX_QUESTION} characters")
    text = str(answer or "").strip()
    if not text:
        raise FaqFileError(f"{prefix}the answer is empty")
    if len(text) > MAX_ANSWER:
        raise FaqFileError(f"{prefix}the answer is longer than {MAX_ANSWER} characters")
    return NewEntry(lang, cat, variants, text)


def _yaml_entries(data: Any) -> list[NewEntry]:
    if isinstance(data, dict) and "faq" in data:
        data = data["faq"]
    if not isinstance(data, list):
        raise FaqFileError("the YAML file must be a list of entries (or `faq:` followed by one)")
    entries: list[NewEntry] = []
    for number, item in enumerate(data, start=1):
        where = f"entry {number}"
        if not isinstance(item, dict):
            raise FaqFileError(f"{where}: expected a mapping with questions and answer")
        category = item.get("category", "other")
        by_language = {key: value for key, value in item.items() if key in LANGUAGES or key in ("zh", "zh-CN")}
        if by_language:
            for language, body in by_language.items():
                if not isinstance(body, dict):
                    raise FaqFileError(f"{where} ({language}): expected questions and answer")
                entries.append(
                    validate_entry(
                        language=language,
                        category=category,
                        questions=body.get("questions"),
                        answer=body.get("answer"),
                        where=f"{where} ({language})",
                    )
                )
        else:
            entries.append(
                validate_entry(
                    language=item.get("language"),
                    category=category,
                    questions=item.get("questions"),
                    answer=item.get("answer"),
                    where=where,
                )
            )
    return entries


def _csv_entries(text: str) -> list[NewEntry]:
    reader = csv.DictReader(io.StringIO(text))
    wanted = {"language", "category", "questions", "answer"}
    header = {name.strip().lower() for name in reader.fieldnames or []}
    if not {"language", "questions", "answer"} <= header:
        raise FaqFileError(f"the CSV header must name the columns {', '.join(sorted(wanted))}")
    entries = []
    for row in reader:
        cells = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        entries.append(
            validate_entry(
                language=cells.get("language"),
                category=cells.get("category") or "other",
                questions=cells.get("questions", ""),
                answer=cells.get("answer"),
                where=f"line {reader.line_num}",
            )
        )
    return entries


def parse_faq_file(name: str, data: bytes) -> list[NewEntry]:
    """YAML (`.yaml`/`.yml`) or CSV (`language,category,questions,answer`, variants split by `|`)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FaqFileError("the file is not UTF-8 text") from None
    if name.lower().endswith((".yaml", ".yml")):
        try:
            entries = _yaml_entries(yaml.safe_load(text))
        except yaml.YAMLError as error:
            raise FaqFileError(f"not valid YAML: {error}") from None
    elif name.lower().endswith(".csv"):
        entries = _csv_entries(text)
    else:
        raise FaqFileError("use a .yaml, .yml or .csv file")
    if not entries:
        raise FaqFileError("the file holds no FAQ entries")
    return entries


async def add_entry(session: AsyncSession, *, entry: NewEntry) -> FaqEntry:
    row = FaqEntry(
        language=entry.language,
        category=entry.category,
        questions=json.dumps(list(entry.questions), ensure_ascii=False),
        answer=entry.answer,
    )
    session.add(row)
    await session.flush()
    return row


async def import_entries(session: AsyncSession, *, entries: list[NewEntry], replace: bool = False) -> int:
    """Add the entries not stored already (same language, category, questions and answer); returns how many."""
    if replace:
        await session.execute(delete(FaqEntry))
    stored = {_identity(e) for e in await list_entries(session)}
    added = 0
    for entry in entries:
        identity = (entry.language, entry.category, entry.questions, entry.answer)
        if identity in stored:
            continue
        stored.add(identity)
        await add_entry(session, entry=entry)
        added += 1
    return added


def _identity(entry: FaqEntry) -> tuple[str, str, tuple[str, ...], str]:
    return entry.language, entry.category, tuple(questions_of(entry)), entry.answer


async def list_entries(session: AsyncSession, *, language: str | None = None) -> list[FaqEntry]:
    query = select(FaqEntry).order_by(col(FaqEntry.language), col(FaqEntry.category), col(FaqEntry.id))
    if language is not None:
        query = query.where(col(FaqEntry.language) == language)
    return list((await session.execute(query)).scalars())


async def remove_entry(session: AsyncSession, *, faq_id: int) -> bool:
    result = await session.execute(delete(FaqEntry).where(col(FaqEntry.id) == faq_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_event(session: AsyncSession, *, event: str, faq_id: int | None) -> None:
    assert event in EVENTS, event
    if faq_id is not None and await session.get(FaqEntry, faq_id) is None:
        faq_id = None  # the entry was removed since (or the button was forged): count the event without it
    session.add(FaqEvent(faq_id=faq_id, event=event))


async def event_counts(session: AsyncSession) -> dict[int | None, dict[str, int]]:
    """Per entry (None: misses and removed entries) how often each event happened."""
    result = await session.execute(
        select(FaqEvent.faq_id, FaqEvent.event, func.count()).group_by(col(FaqEvent.faq_id), col(FaqEvent.event))
    )
    counts: dict[int | None, dict[str, int]] = defaultdict(dict)
    for faq_id, event, count in result.all():
        counts[faq_id][event] = int(count)
    return counts
