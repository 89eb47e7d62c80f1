"""The customer agreement in the store: versions in force, acceptances and their terms, paper signatures, the
proactive-message rule, renewal reminders, staff counts and export columns, and forgetting."""

from __future__ import annotations

import json
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import String, cast, false, literal
from sqlmodel import col, select

from scheduler.jobs.agreements import plan_agreement_reminders
from storage import agreements
from storage.agreements import AgreementError, AgreementState
from storage.db import SessionFactory, transaction
from storage.models import AgreementAcceptance, AgreementText, AgreementVersion, Customer, OutboxMessage
from storage.outbox import insert_ignoring_duplicates
from storage.proactive import proactive_allowed
from storage.types import UTCDateTime, utcnow
from tests.agreements import accept, at, new_customer, publish_both

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def allowed_ids(sessions: SessionFactory, now) -> set[int]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return set((await session.execute(select(Customer.id).where(proactive_allowed(now)))).scalars())


async def outbox(sessions: SessionFactory) -> list[OutboxMessage]:
    async with sessions() as session:
        return list((await session.execute(select(OutboxMessage).order_by(col(OutboxMessage.id)))).scalars())


async def state_of(sessions: SessionFactory, customer_id: int, now) -> agreements.CustomerAgreement:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return await agreements.customer_agreement(session, customer_id=customer_id, now=now)


async def test_a_version_comes_into_force_when_both_languages_are_published(sessions: SessionFactory) -> None:
    customer = await new_customer(sessions, 1001)
    async with transaction(sessions) as session:
        first = await agreements.publish(
            session, version=1, language="en", text="# Terms\n\nText.", now=at("2026-01-01")
        )
    assert not first.in_force and first.missing == ("zh_CN",)
    assert await allowed_ids(sessions, at("2026-01-02")) == {customer}  # a draft requires nothing
    assert (await state_of(sessions, customer, at("2026-01-02"))).state == AgreementState.NONE_REQUIRED

    async with transaction(sessions) as session:  # a draft's language may be replaced
        await agreements.publish(
            session, version=1, language="en", text="# Terms\n\nBetter text.", now=at("2026-01-02")
        )
        second = await agreements.publish(session, version=1, language="zh_CN", text="# 条款", now=at("2026-01-03"))
    assert second.in_force and second.missing == ()
    async with sessions() as session:
        in_force = await agreements.version_in_force(session, at=at("2026-01-04"))
        assert in_force is not None and in_force.version == 1 and in_force.published_at == at("2026-01-03")
        parts = await agreements.agreement_texts(session, version=1, language="en")
        assert [text.text for _, text in parts] == ["# Terms\n\nBetter text."]
    assert await allowed_ids(sessions, at("2026-01-04")) == set()
    assert (await state_of(sessions, customer, at("2026-01-04"))).state == AgreementState.PENDING


@pytest.mark.parametrize(
    ("version", "language", "text", "supplement_to", "code"),
    [
        (1, "en", "x", None, "already_in_force"),
        (2, "en", "x", None, "not_newer"),
        (0, "en", "x", None, "bad_version"),
        (4, "fr", "x", None, "unknown_language"),
        (4, "en", "  \n", None, "empty_text"),
        (4, "en", "x", 1, "supplement_target"),  # version 1 is no longer the agreement in force
    ],
)
async def test_publishing_mistakes_are_refused_and_change_nothing(
    sessions: SessionFactory, version: int, language: str, text: str, supplement_to: int | None, code: str
) -> None:
    await publish_both(sessions, 1, now=at("2026-01-01"))
    await publish_both(sessions, 3, now=at("2026-02-01"))
    with pytest.raises(AgreementError) as raised:
        async with transaction(sessions) as session:
            await agreements.publish(
                session,
                version=version,
                language=language,
                text=text,
                supplement_to=supplement_to,
                now=at("2026-03-01"),
            )
    assert raised.value.code == code
    async with sessions() as session:
        versions = (await session.execute(select(AgreementVersion.version))).scalars().all()
        texts = (await session.execute(select(AgreementText.version, AgreementText.text))).all()
    assert sorted(versions) == [1, 3]
    assert len(texts) == 4 and "x" not in {text for _, text in texts}


async def test_a_supplement_keeps_the_earlier_version_in_force_until_accepted(sessions: SessionFactory) -> None:
    agreed = await new_customer(sessions, 1001)
    never = await new_customer(sessions, 1002)
    opted_out = await new_customer(sessions, 1003, proactive_opt_out=True)
    await publish_both(sessions, 1, now=at("2026-01-01"))
    await accept(sessions, agreed, 1, at("2026-01-05"))
    await accept(sessions, opted_out, 1, at("2026-01-05"))

    result = await publish_both(sessions, 2, supplement_to=1, now=at("2026-03-01"))
    assert result.in_force and result.is_supplement and result.asked == 1
    [ask] = await outbox(sessions)
    assert ask.key == f"terms:v2:customer:{agreed}" and ask.chat_id == 1001 and not ask.capped
    assert ask.template == "terms.ask.supplement"
    assert json.loads(ask.params)["buttons"] == [
        ["terms.button.agree", "terms:agree:2"],
        ["terms.button.read", "terms:read:2"],
    ]

    later = at("2026-03-02")
    state = await state_of(sessions, agreed, later)
    assert state.state == AgreementState.OUTDATED and state.valid and state.acceptance is not None
    assert state.acceptance.version == 1
    assert await allowed_ids(sessions, later) == {agreed}  # version 1 still in force for them
    assert (await state_of(sessions, never, later)).state == AgreementState.PENDING

    await accept(sessions, agreed, 2, later)
    assert (await state_of(sessions, agreed, later)).state == AgreementState.ACCEPTED
    async with sessions() as session:
        parts = await agreements.agreement_texts(session, version=2, language="zh_CN")
    assert [(version.version, text.language) for version, text in parts] == [(1, "zh_CN"), (2, "zh_CN")]
    assert parts[0][1].text.startswith("# 客户协议")

    with pytest.raises(AgreementError, match="not_in_force"):  # nobody can accept an older text any more
        await accept(sessions, never, 1, later)


async def test_proactive_rule_holds_customers_without_a_valid_agreement(sessions: SessionFactory) -> None:
    valid = await new_customer(sessions, 1001)
    none = await new_customer(sessions, 1002)
    expired = await new_customer(sessions, 1003)
    unreachable = await new_customer(sessions, 1004, unreachable=True)
    before = at("2026-01-01")
    assert await allowed_ids(sessions, before) == {valid, none, expired}  # no agreement published: everyone

    await publish_both(sessions, 1, now=at("2026-01-02"))
    await accept(sessions, expired, 1, at("2026-01-03"))
    await accept(sessions, unreachable, 1, at("2026-01-03"))
    await accept(sessions, valid, 1, at("2026-06-01"))
    assert await allowed_ids(sessions, at("2026-07-01")) == {valid, expired}
    assert await allowed_ids(sessions, at("2027-01-03")) == {valid}  # a term of one year
    assert await allowed_ids(sessions, before) == {valid, none, expired}  # the rule is evaluated at the time given


async def test_the_rule_fits_a_planners_insert_select_over_customers(sessions: SessionFactory) -> None:
    agreed = await new_customer(sessions, 1001)
    await new_customer(sessions, 1002)
    await publish_both(sessions, 1, now=at("2026-01-01"))
    await accept(sessions, agreed, 1, at("2026-01-02"))
    now = at("2026-02-01")
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    chosen = select(
        literal("checkin:2026-02:customer:") + cast(Customer.id, String),
        literal("checkin"),
        Customer.telegram_id,
        Customer.id,
        literal("care.checkin"),
        literal("{}"),
        false(),
        literal(now, UTCDateTime()),
        literal("pending"),
        literal(0),
        literal(now, UTCDateTime()),
    ).where(proactive_allowed(now))
    columns = ["key", "kind", "chat_id", "customer_id", "template", "params", "capped", "not_before", "status"]
    async with transaction(sessions) as session:
        statement = insert_ignoring_duplicates(session, table, ["key"])
        await session.execute(statement.from_select([*columns, "attempts", "created_at"], chosen))
        await session.execute(statement.from_select([*columns, "attempts", "created_at"], chosen))
    assert [(row.key, row.chat_id) for row in await outbox(sessions)] == [(f"checkin:2026-02:customer:{agreed}", 1001)]


async def test_renewal_prompts_30_days_before_and_on_the_last_day(sessions: SessionFactory, time_machine) -> None:  # type: ignore[no-untyped-def]
    customer = await new_customer(sessions, 1001, language="en")
    await publish_both(sessions, 1, now=at("2026-01-01"))
    time_machine.move_to(at("2026-05-01T10:00:00"), tick=False)
    await accept(sessions, customer, 1, utcnow())

    async def plan(when: str) -> int:
        async with transaction(sessions) as session:
            return await plan_agreement_reminders(session, now=at(when), years=1, zone=SHANGHAI)

    assert await plan("2027-03-01") == 0
    assert await plan("2027-04-01T09:00:00") == 0  # 30 days and an hour before
    assert await plan("2027-04-01T11:00:00") == 1
    assert await plan("2027-04-20") == 0  # planned once
    assert await plan("2027-04-30T12:00:00") == 1  # the last day
    assert await plan("2027-05-01T09:59:00") == 0
    renew, last_day = await outbox(sessions)
    assert renew.key == f"terms:renew30:v1:customer:{customer}:2027-05-01" and renew.template == "terms.ask.renew"
    assert last_day.key == f"terms:expired:v1:customer:{customer}:2027-05-01"
    assert json.loads(last_day.params) | {"buttons": None} == {
        "version": 1,
        "years": 1,
        "until": "2027-05-01",
        "buttons": None,
    }

    after = at("2027-05-01T10:00:01")
    assert (await state_of(sessions, customer, after)).state == AgreementState.EXPIRED
    assert await allowed_ids(sessions, after) == set()
    assert await plan("2027-05-02") == 0  # no proactive message reaches an expired agreement

    await accept(sessions, customer, 1, after)  # renewing writes a new acceptance; the first is untouched
    async with sessions() as session:
        rows = await agreements.acceptances_for(session, customer_id=customer)
    assert [(row.accepted_at, row.valid_until) for row in rows] == [
        (at("2026-05-01T10:00:00"), at("2027-05-01T10:00:00")),
        (after, at("2028-05-01T10:00:01")),
    ]
    assert await allowed_ids(sessions, after) == {customer}
    assert await plan("2028-04-10") == 1  # the new term gets its own reminder


async def test_renewing_early_skips_the_reminders_of_the_earlier_term(sessions: SessionFactory) -> None:
    customer = await new_customer(sessions, 1001)
    await publish_both(sessions, 1, now=at("2026-01-01"))
    await accept(sessions, customer, 1, at("2026-01-10"))
    await accept(sessions, customer, 1, at("2026-12-20"))  # within the renewal window: recorded
    async with transaction(sessions) as session:
        assert await plan_agreement_reminders(session, now=at("2027-01-09T12:00:00"), years=1) == 0


async def test_pressing_i_agree_twice_records_one_acceptance(sessions: SessionFactory) -> None:
    customer = await new_customer(sessions, 1001)
    await publish_both(sessions, 1, now=at("2026-01-01"))
    async with transaction(sessions) as session:
        first, recorded = await agreements.accept(
            session, customer_id=customer, version=1, telegram_user_id=1001, years=2, now=at("2028-02-29")
        )
        again, recorded_again = await agreements.accept(
            session, customer_id=customer, version=1, telegram_user_id=1001, years=2, now=at("2028-03-01")
        )
    assert recorded and not recorded_again and again == first
    assert first.valid_until == at("2030-02-28")
    assert agreements.add_years(date(2028, 2, 29), 1) == date(2029, 2, 28)


async def test_paper_signatures_count_as_the_version_in_force_that_day(sessions: SessionFactory) -> None:
    early = await new_customer(sessions, 1001)
    later = await new_customer(sessions, 1002)
    old = await new_customer(sessions, 1003)
    now = at("2026-06-01")
    async with transaction(sessions) as session:  # signed before any version was published here
        assert await agreements.record_offline(
            session, customer_id=early, signed_on=date(2026, 1, 15), years=1, zone=SHANGHAI, now=now
        )
    assert (await state_of(sessions, early, now)).state == AgreementState.NONE_REQUIRED

    await publish_both(sessions, 1, now=at("2026-06-02"))
    await publish_both(sessions, 2, now=at("2026-07-01T07:00:00"))  # 15:00 in Shanghai
    rows = [(later, date(2026, 7, 1)), (old, date(2024, 3, 1)), (later, date(2026, 7, 1))]
    async with transaction(sessions) as session:
        assert await agreements.record_offline_many(session, rows, years=1, zone=SHANGHAI, now=at("2026-07-02")) == 2
        assert await agreements.record_offline_many(session, rows, years=1, zone=SHANGHAI, now=at("2026-07-02")) == 0

    check = at("2026-07-03")
    early_state = await state_of(sessions, early, check)
    assert early_state.state == AgreementState.OUTDATED and early_state.acceptance is not None
    assert early_state.acceptance.version == 1  # the first version, as none was published when signed
    assert early_state.acceptance.valid_until == at("2027-01-14T16:00:00")  # midnight in Shanghai, a year on
    assert early_state.acceptance.channel == "offline" and early_state.acceptance.signed_on == date(2026, 1, 15)
    later_state = await state_of(sessions, later, check)
    assert later_state.state == AgreementState.ACCEPTED  # version 2, in force at the end of that day
    assert (await state_of(sessions, old, check)).state == AgreementState.EXPIRED
    async with sessions() as session:
        [row] = await agreements.acceptances_for(session, customer_id=later)
    assert row.signature is None and row.version == 2
    with pytest.raises(ValueError, match="future"):
        agreements.parse_signed_on("2026-07-04", today=date(2026, 7, 3))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        agreements.parse_signed_on("03/07/2026", today=date(2026, 7, 3))


async def test_staff_counts_and_export_columns(sessions: SessionFactory) -> None:
    ids = [await new_customer(sessions, 1000 + n) for n in range(5)]
    async with sessions() as session:
        counts = await agreements.agreement_counts(session, now=at("2026-01-01"))
    assert counts == {"none_required": 5, "accepted": 0, "pending": 0, "expired": 0, "outdated": 0}

    await publish_both(sessions, 1, now=at("2026-01-01"))
    await accept(sessions, ids[0], 1, at("2026-01-02"))  # will be outdated
    await publish_both(sessions, 2, now=at("2026-02-01"))
    await accept(sessions, ids[2], 2, at("2026-02-02"))
    async with transaction(sessions) as session:
        signed = [(ids[1], date(2025, 6, 1)), (ids[3], date(2024, 5, 1))]  # before publication: the first version
        await agreements.record_offline_many(session, signed, years=1, zone=SHANGHAI, now=at("2026-02-03"))
    async with sessions() as session:
        counts = await agreements.agreement_counts(session, now=at("2026-02-03"))
        export = await agreements.export_values_many(session, customer_ids=ids, zone=SHANGHAI, now=at("2026-02-03"))
        single = await agreements.export_values(session, customer_id=ids[4], zone=SHANGHAI)
    assert counts == {"none_required": 0, "accepted": 1, "pending": 1, "expired": 1, "outdated": 2}
    assert agreements.EXPORT_COLUMNS == ("agreement_version", "agreement_until")
    assert export == {
        ids[0]: ("1", "2027-01-02"),
        ids[1]: ("1", "2026-06-01"),
        ids[2]: ("2", "2027-02-02"),
        ids[3]: ("1", "2025-05-01"),
    }
    assert single == ("", "")


async def test_forget_keeps_only_an_anonymous_count(sessions: SessionFactory) -> None:
    customer = await new_customer(sessions, 1001)
    other = await new_customer(sessions, 1002)
    await publish_both(sessions, 1, now=at("2026-01-01"))
    await accept(sessions, customer, 1, at("2026-01-02"))
    await accept(sessions, customer, 1, at("2026-12-20"))
    await accept(sessions, other, 1, at("2026-01-02"))
    async with transaction(sessions) as session:
        await agreements.record_offline(
            session, customer_id=customer, signed_on=date(2025, 1, 1), years=1, zone=SHANGHAI, now=at("2026-01-02")
        )
    async with transaction(sessions) as session:
        assert await agreements.forget_acceptances(session, customer_id=customer) == 3
    async with transaction(sessions) as session:
        assert await agreements.forget_acceptances(session, customer_id=other) == 1
    async with sessions() as session:
        assert await agreements.acceptances_for(session, customer_id=customer) == []
        remaining = (await session.execute(select(AgreementAcceptance))).scalars().all()
        assert await agreements.forgotten_counts(session) == {(1, "chat"): 3, (1, "offline"): 1}
    assert remaining == []
    assert (await state_of(sessions, customer, at("2026-02-01"))).state == AgreementState.PENDING


def test_every_prompt_template_and_refusal_is_translated() -> None:
    import re
    from pathlib import Path

    from bot.ui.i18n import catalog_keys

    root = Path(__file__).resolve().parents[2]
    sources = "".join(path.read_text() for path in (root / "storage/agreements").glob("*.py"))
    sources += (root / "bot/handlers/customer/terms.py").read_text()
    codes = set(re.findall(r'AgreementError\(\s*"(\w+)"', sources))
    assert {"not_newer", "supplement_target", "nothing_to_supplement"} <= codes
    for language in ("en", "zh_CN"):
        known = set(catalog_keys(language))
        assert set(agreements.TEMPLATES) <= known
        assert {f"terms.publish.error.{code}" for code in codes} <= known
        assert {f"terms.card.{state.value}" for state in AgreementState} <= known


def test_expiry_keeps_the_time_of_day() -> None:
    assert agreements.expiry(at("2026-05-01T10:30:00"), 3) == at("2029-05-01T10:30:00")
    assert agreements.expiry(at("2026-05-01T10:30:00"), 1) - at("2026-05-01T10:30:00") == timedelta(days=365)
