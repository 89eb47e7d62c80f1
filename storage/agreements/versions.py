"""Publishing versions of the agreement, the version in force and the texts of a version and its supplements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.agreements.common import MAX_SUMMARY_CHARS, MAX_TEXT_CHARS, AgreementError, PublishResult
from storage.agreements.prompts import ask_to_accept
from storage.languages import LANGUAGES
from storage.models import (
    AgreementText,
    AgreementVersion,
)
from storage.types import utcnow


async def published_versions(session: AsyncSession, *, at: datetime | None = None) -> list[AgreementVersion]:
    """Versions in force at `at` (default: ever published), lowest first. The table holds a handful of rows."""
    query = select(AgreementVersion).where(col(AgreementVersion.published_at).is_not(None))
    if at is not None:
        query = query.where(col(AgreementVersion.published_at) <= at)
    return list((await session.execute(query.order_by(col(AgreementVersion.version)))).scalars())


async def version_in_force(session: AsyncSession, *, at: datetime) -> AgreementVersion | None:
    versions = await published_versions(session, at=at)
    return versions[-1] if versions else None


async def first_version(session: AsyncSession) -> int | None:
    """The first version published: what a paper signature from before any publication counts as."""
    versions = await published_versions(session)
    return versions[0].version if versions else None


async def chain(session: AsyncSession, *, version: int) -> list[AgreementVersion]:
    """The versions accepting `version` agrees to: the base version, then each supplement up to `version`."""
    rows = {row.version: row for row in (await session.execute(select(AgreementVersion))).scalars()}
    found: list[AgreementVersion] = []
    current = rows.get(version)
    while current is not None:
        found.append(current)
        extended = current.supplements_version if current.is_supplement else None
        current = rows.get(extended) if extended is not None else None
    return found[::-1]


async def _check_supplement_target(session: AsyncSession, *, version: int, target: int, now: datetime) -> None:
    """A supplement extends the agreement in force: its base version or one of that version's supplements."""
    current = await version_in_force(session, at=now)
    in_force = [part.version for part in await chain(session, version=current.version)] if current else []
    if target not in in_force:
        raise AgreementError(
            "supplement_target", version=version, target=target, current=current.version if current else 0
        )


async def agreement_texts(
    session: AsyncSession, *, version: int, language: str
) -> list[tuple[AgreementVersion, AgreementText]]:
    """The texts a customer agrees to when accepting `version`, in `language`, base version first."""
    parts = await chain(session, version=version)
    result = await session.execute(
        select(AgreementText).where(
            col(AgreementText.version).in_([part.version for part in parts]), col(AgreementText.language) == language
        )
    )
    texts = {text.version: text for text in result.scalars()}
    return [(part, texts[part.version]) for part in parts if part.version in texts]


async def publish(
    session: AsyncSession,
    *,
    version: int,
    language: str,
    text: str,
    summary: str | None = None,
    supplement_to: int | None = None,
    published_by: int | None = None,
    now: datetime | None = None,
) -> PublishResult:
    """Store one language of a version. When every language is there the version comes into force and every
    customer whose agreement is in force is asked, through the outbox, to accept it.

    Languages of a version not yet in force may be published again (the later text replaces the earlier); the first
    call decides whether it is a supplement (later calls may repeat `supplement_to` or leave it out).
    """
    now = now or utcnow()
    if language not in LANGUAGES:
        raise AgreementError("unknown_language", language=language)
    if version < 1:
        raise AgreementError("bad_version")
    text = text.replace("\r\n", "\n").strip()
    summary = (summary or "").strip() or None
    if not text:
        raise AgreementError("empty_text")
    if len(text) > MAX_TEXT_CHARS:
        raise AgreementError("text_too_long", limit=MAX_TEXT_CHARS)
    if summary and len(summary) > MAX_SUMMARY_CHARS:
        raise AgreementError("summary_too_long", limit=MAX_SUMMARY_CHARS)

    current = await version_in_force(session, at=now)
    row = await session.get(AgreementVersion, version, with_for_update=True)
    if row is not None and row.published_at is not None:
        raise AgreementError("already_in_force", version=version)
    if current is not None and version <= current.version:
        raise AgreementError("not_newer", version=version, current=current.version)
    if row is None:
        if supplement_to is not None:
            await _check_supplement_target(session, version=version, target=supplement_to, now=now)
        row = AgreementVersion(
            version=version, is_supplement=supplement_to is not None, supplements_version=supplement_to, created_at=now
        )
        session.add(row)
        await session.flush()
    elif supplement_to is not None and supplement_to != row.supplements_version:
        if row.supplements_version is None:
            raise AgreementError("draft_is_version", version=version)
        raise AgreementError("draft_is_supplement", version=version, target=row.supplements_version)

    stored = (
        await session.execute(
            select(AgreementText).where(col(AgreementText.version) == version, col(AgreementText.language) == language)
        )
    ).scalar_one_or_none()
    if stored is None:
        stored = AgreementText(version=version, language=language, text=text)
    stored.text, stored.summary, stored.published_at, stored.published_by = text, summary, now, published_by
    session.add(stored)
    await session.flush()

    languages = select(AgreementText.language).where(col(AgreementText.version) == version)
    present = set((await session.execute(languages)).scalars())
    missing = tuple(code for code in LANGUAGES if code not in present)
    asked = 0
    if not missing:
        if row.supplements_version is not None:  # the agreement in force may have changed since the draft began
            await _check_supplement_target(session, version=version, target=row.supplements_version, now=now)
        row.published_at, row.published_by = now, published_by
        session.add(row)
        await session.flush()
        asked = await ask_to_accept(session, version=row, now=now)
    return PublishResult(
        version=version,
        language=language,
        in_force=not missing,
        missing=missing,
        is_supplement=row.is_supplement,
        supplements_version=row.supplements_version,
        asked=asked,
    )
