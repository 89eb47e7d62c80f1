"""What customers tell us back: survey answers, and how the FAQ is doing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class SurveyResponse(SQLModel, table=True):
    """A CSAT (1–5, per ticket) or NPS (0–10, periodic) answer, linked to the ticket and staff member if any."""

    __tablename__ = "survey_responses"
    # Covers the satisfaction reports (kind, period, score): an index-only range scan.
    __table_args__ = (Index("ix_survey_responses_kind_created_score", "kind", "created_at", "score"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    ticket_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True, unique=True),
    )
    staff_telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    score: int
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FaqEntry(SQLModel, table=True):
    """One answer in one language, with the question variants it answers (a JSON list of strings)."""

    __tablename__ = "faq_entries"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(default="other", max_length=16)
    language: str = Field(max_length=8, index=True)
    questions: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FaqEvent(SQLModel, table=True):
    """`hit` (answered), `miss` (no match), `helped`, `escalated` — counted for reports."""

    __tablename__ = "faq_events"

    id: int | None = Field(default=None, primary_key=True)
    faq_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("faq_entries.id", ondelete="SET NULL"), nullable=True)
    )
    event: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
