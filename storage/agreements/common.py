"""Shared by the agreement modules: outbox templates and buttons, errors, states and the records they return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

AGREEMENT_KIND = "terms"  # the outbox `kind` of every message asking a customer to accept
RENEW_BEFORE = timedelta(days=30)  # the renewal prompt comes this long before the term ends
LAST_DAY = timedelta(days=1)  # the "ends today" prompt comes within the last day (afterwards no proactive message may)
MAX_TEXT_CHARS = 100_000
MAX_SUMMARY_CHARS = 1_000
EXPORT_COLUMNS = ("agreement_version", "agreement_until")
PLAN_BATCH = 2_000  # customers per planning query and outbox insert
IN_CHUNK = 500

# Outbox templates: keys of the `terms` catalog, rendered by the sender in each customer's language.
ASK_NEW_VERSION = "terms.ask.new_version"
ASK_SUPPLEMENT = "terms.ask.supplement"
ASK_RENEW = "terms.ask.renew"
ASK_LAST_DAY = "terms.ask.last_day"
BUTTON_AGREE = "terms.button.agree"
BUTTON_READ = "terms.button.read"
TEMPLATES = (ASK_NEW_VERSION, ASK_SUPPLEMENT, ASK_RENEW, ASK_LAST_DAY, BUTTON_AGREE, BUTTON_READ)


def agree_data(version: int) -> str:
    return f"terms:agree:{version}"


def read_data(version: int) -> str:
    return f"terms:read:{version}"


def prompt_buttons(version: int) -> list[list[str]]:
    """The outbox `buttons` param of every prompt: I agree, and Read the full text, for `version`."""
    return [[BUTTON_AGREE, agree_data(version)], [BUTTON_READ, read_data(version)]]


class AgreementError(Exception):
    """A publication or acceptance that cannot be: `code` names the reason (a catalog key suffix), `params` fill it."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


class AgreementState(StrEnum):
    NONE_REQUIRED = "none_required"  # no version published yet
    ACCEPTED = "accepted"  # an acceptance of the version in force, term not ended
    PENDING = "pending"  # never accepted any version
    EXPIRED = "expired"  # accepted before, every term ended
    OUTDATED = "outdated"  # an earlier version accepted and still in force for them; the newer one not yet


@dataclass(frozen=True)
class Acceptance:
    version: int | None  # None only for a paper signature while no version is published
    channel: str
    accepted_at: datetime
    valid_until: datetime
    signed_on: date | None


@dataclass(frozen=True)
class CustomerAgreement:
    """Where one customer stands: the state, the version in force for everyone, and the acceptance that counts
    (the one in force, else the one that ended last)."""

    state: AgreementState
    in_force: int | None
    acceptance: Acceptance | None

    @property
    def valid(self) -> bool:
        """May get proactive messages and have optional details stored."""
        return self.state in (AgreementState.NONE_REQUIRED, AgreementState.ACCEPTED, AgreementState.OUTDATED)

    @property
    def needs_answer(self) -> bool:
        return self.state in (AgreementState.PENDING, AgreementState.EXPIRED, AgreementState.OUTDATED)


@dataclass(frozen=True)
class PublishResult:
    version: int
    language: str
    in_force: bool
    missing: tuple[str, ...]  # languages still to publish before the version is in force
    is_supplement: bool
    supplements_version: int | None
    asked: int  # customers asked (through the outbox) to accept it
