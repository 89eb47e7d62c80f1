"""The customer agreement: numbered versions with a text per language, and customers' acceptances of them.

A version is *in force* from `published_at`, set when its last language arrives (every language of
`storage.languages.LANGUAGES`); until then it is a draft whose texts may still be replaced. A supplement extends an
earlier version: accepting it means accepting the version it supplements together with the supplement.

Acceptances are append-only: a row is written once and never updated; renewing adds a new row.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class AgreementVersion(SQLModel, table=True):
    __tablename__ = "agreement_versions"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    is_supplement: bool = False
    supplements_version: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("agreement_versions.version"), nullable=True)
    )
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    published_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AgreementText(SQLModel, table=True):
    """One language of a version: the full text (Markdown) and a short summary shown with the I agree button."""

    __tablename__ = "agreement_texts"
    __table_args__ = (UniqueConstraint("version", "language", name="uq_agreement_texts_version_language"),)

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(sa_column=Column(Integer, ForeignKey("agreement_versions.version"), nullable=False))
    language: str = Field(max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    published_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class AcceptanceChannel(StrEnum):
    CHAT = "chat"
    OFFLINE = "offline"


class AgreementAcceptance(SQLModel, table=True):
    """A customer's signature: the version, when, the Telegram user id that pressed I agree (chat) or the day
    signed elsewhere (offline), and the end of its term.

    `version` is NULL only for a paper signature recorded before any version was published: it counts as the
    first version published. (`customer_id`, `signed_on`) is unique so that importing the same file twice records
    a paper signature once; chat rows have no `signed_on`.
    """

    __tablename__ = "agreement_acceptances"
    __table_args__ = (
        Index("ix_agreement_acceptances_customer_until", "customer_id", "valid_until"),
        UniqueConstraint("customer_id", "signed_on", name="uq_agreement_acceptances_customer_signed_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(sa_column=Column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False))
    version: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("agreement_versions.version"), nullable=True)
    )
    channel: str = Field(max_length=8)
    accepted_at: datetime = Field(sa_type=UTCDateTime)
    valid_until: datetime = Field(sa_type=UTCDateTime, index=True)
    signature: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    signed_on: date | None = None


class ForgottenAcceptances(SQLModel, table=True):
    """What survives `/forget`: how many acceptances of each version and channel were erased, nothing else.

    `version` 0 stands for acceptances that counted as the first version (paper signatures before publication).
    """

    __tablename__ = "agreement_forgotten"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    channel: str = Field(max_length=8, primary_key=True)
    count: int = 0
