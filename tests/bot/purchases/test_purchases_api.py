"""A shop posts paid orders to `POST /api/purchases`: signed requests are applied at once, all rows or none."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlmodel import col, select

from bot.purchases.api import PATH, SIGNATURE_HEADER, signature
from bot.runtime.webhook import build_web_app
from bot.settings import Settings
from storage.models import Purchase, SegmentChange
from tests.harness import BotHarness
from tests.staff_world import add_customer, stored_customer

SECRET = "shop-secret-for-tests"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_secret": SECRET, "vip_min_purchases": 3})


@pytest.fixture
async def shop(bot: BotHarness) -> AsyncIterator[httpx.AsyncClient]:
    asgi = build_web_app(bot.app, bot.dispatcher, webhook=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://carebot") as client:
        yield client


def order(reference: str, **fields: Any) -> dict[str, Any]:
    return {
        "telegram_id": 4001,
        "amount": "199.90",
        "currency": "CNY",
        "occurred_at": "2026-03-01T10:00:00+08:00",
        "reference": reference,
        **fields,
    }


async def post(client: httpx.AsyncClient, body: object, *, secret: str = SECRET) -> httpx.Response:
    raw = json.dumps(body).encode()
    return await client.post(PATH, content=raw, headers={SIGNATURE_HEADER: signature(secret, raw)})


async def purchases(bot: BotHarness) -> list[Purchase]:
    async with bot.services.sessions() as session:
        return list((await session.execute(select(Purchase).order_by(col(Purchase.id)))).scalars())


async def history(bot: BotHarness) -> list[tuple[str, str, str]]:
    async with bot.services.sessions() as session:
        rows = await session.execute(select(SegmentChange).order_by(col(SegmentChange.id)))
        return [(c.from_segment, c.to_segment, c.reason) for c in rows.scalars()]


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("carebot_purchase_api_requests_total", {"outcome": outcome}) or 0.0


async def test_a_signed_order_is_stored_and_moves_the_segment_and_a_retry_changes_nothing(
    bot: BotHarness, shop: httpx.AsyncClient
) -> None:
    await add_customer(bot, 4001, "Mia")
    accepted = counted("accepted")
    answer = await post(shop, order("SHOP-1001", note="gift wrap"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"results": [{"index": 0, "reference": "SHOP-1001", "status": "created", "segment": "new"}]}
    [stored] = await purchases(bot)
    assert (stored.amount, stored.currency, stored.reference, stored.note) == (
        Decimal("199.90"),
        "CNY",
        "SHOP-1001",
        "gift wrap",
    )
    customer = await stored_customer(bot, 4001)
    assert (customer.segment, customer.purchase_count, customer.total_spent) == ("new", 1, Decimal("199.90"))
    assert await history(bot) == [("potential", "new", "shop")]

    again = await post(shop, order("SHOP-1001", note="gift wrap"))
    assert again.status_code == 200
    assert again.json()["results"] == [{"index": 0, "reference": "SHOP-1001", "status": "unchanged", "segment": "new"}]
    assert len(await purchases(bot)) == 1
    assert (await stored_customer(bot, 4001)).purchase_count == 1
    assert await history(bot) == [("potential", "new", "shop")]
    assert counted("accepted") == accepted + 2


async def test_wrong_missing_or_stale_signatures_are_refused_and_nothing_is_stored(
    bot: BotHarness, shop: httpx.AsyncClient
) -> None:
    await add_customer(bot, 4001, "Mia")
    refused = counted("unauthorized")
    raw = json.dumps(order("SHOP-1")).encode()
    wrong = await shop.post(PATH, content=raw, headers={SIGNATURE_HEADER: signature("guessed", raw)})
    missing = await shop.post(PATH, content=raw)
    changed = raw.replace(b"199.90", b"1.00")
    tampered = await shop.post(PATH, content=changed, headers={SIGNATURE_HEADER: signature(SECRET, raw)})
    garbage = await shop.post(PATH, content=raw, headers={SIGNATURE_HEADER: "sha256=zz\u00e9".encode("latin-1")})
    assert [r.status_code for r in (wrong, missing, tampered, garbage)] == [401, 401, 401, 401]
    assert await purchases(bot) == []
    assert (await stored_customer(bot, 4001)).segment == "potential"
    assert counted("unauthorized") == refused + 4


async def test_one_bad_row_among_ten_refuses_the_whole_request(bot: BotHarness, shop: httpx.AsyncClient) -> None:
    await add_customer(bot, 4001, "Mia")
    invalid = counted("invalid")
    rows = [order(f"SHOP-{n}") for n in range(10)]
    rows[6]["amount"] = "12,50"
    answer = await post(shop, rows)
    assert answer.status_code == 400
    [problem] = answer.json()["errors"]
    assert problem["index"] == 6 and "amount must be a number" in problem["error"]
    assert await purchases(bot) == []
    assert (await stored_customer(bot, 4001)).purchase_count == 0
    assert counted("invalid") == invalid + 1


async def test_every_problem_is_named_row_by_row(bot: BotHarness, shop: httpx.AsyncClient) -> None:
    await add_customer(bot, 4001, "Mia")
    rows: list[Any] = [
        order("A", amount=12.5),
        order("B", occurred_at="2999-01-01"),
        {"amount": "1,00", "occurred_at": "2026-01-01", "reference": "C"},
        {**order("D"), "reference": ""},
        "not an object",
        order("F"),
        order("F"),
    ]
    answer = await post(shop, rows)
    assert answer.status_code == 400
    problems = answer.json()["errors"]
    errors = {problem["index"]: problem["error"] for problem in problems}
    assert len(problems) == len(errors) == 6  # one entry per wrong row
    assert errors[0] == 'amount must be a string such as "199.90"'
    assert "occurred_at is in the future" in errors[1]
    assert errors[2].startswith("telegram_id, phone or email is required; amount must be a number")
    assert "reference is required" in errors[3]
    assert errors[4] == "each purchase must be a JSON object"
    assert "already appears on line 5" in errors[6]
    assert 5 not in errors
    assert await purchases(bot) == []


async def test_customers_are_found_by_phone_or_email_and_an_unknown_one_is_404_not_created(
    bot: BotHarness, shop: httpx.AsyncClient
) -> None:
    await add_customer(bot, 4001, "Mia", phone="+8613812345678", email="Mia@Example.com")
    by_phone = order("P-1", phone="+86 138 1234 5678")
    by_email = order("P-2", email="mia@example.COM")
    del by_phone["telegram_id"], by_email["telegram_id"]
    answer = await post(shop, [by_phone, by_email])
    assert answer.status_code == 200, answer.text
    assert [r["segment"] for r in answer.json()["results"]] == ["returning", "returning"]

    unknown = order("P-3", telegram_id=4999)
    answer = await post(shop, [order("P-4"), unknown])
    assert answer.status_code == 404
    assert answer.json() == {"errors": [{"index": 1, "error": "no customer with this telegram_id", "not_found": True}]}
    assert [p.reference for p in await purchases(bot)] == ["P-1", "P-2"]
    assert (await stored_customer(bot, 4001)).purchase_count == 2


async def test_a_refund_of_an_earlier_reference_counts_back_down(bot: BotHarness, shop: httpx.AsyncClient) -> None:
    await add_customer(bot, 4001, "Mia")
    await post(shop, [order("R-1"), order("R-2"), order("R-3")])
    assert (await stored_customer(bot, 4001)).segment == "vip"
    answer = await post(shop, order("R-3", refunded_at="2026-03-02T09:00:00+08:00"))
    assert answer.json()["results"] == [{"index": 0, "reference": "R-3", "status": "refunded", "segment": "returning"}]
    again = await post(shop, order("R-3", refunded_at="2026-03-02T09:00:00+08:00"))
    assert again.json()["results"][0]["status"] == "unchanged"
    customer = await stored_customer(bot, 4001)
    assert (customer.purchase_count, customer.total_spent) == (2, Decimal("399.80"))
    assert [change[1] for change in await history(bot)] == ["vip", "returning"]


async def test_a_body_that_is_no_purchase_list_is_400(shop: httpx.AsyncClient) -> None:
    for body, error in (
        ([], "the list of purchases is empty"),
        ([order(f"X-{n}") for n in range(1001)], "at most 1000 purchases per request"),
        (42, "the body must be a purchase"),
    ):
        answer = await post(shop, body)
        assert answer.status_code == 400 and error in answer.json()["errors"][0]["error"]
    raw = b"{not json"
    answer = await shop.post(PATH, content=raw, headers={SIGNATURE_HEADER: signature(SECRET, raw)})
    assert answer.status_code == 400


async def test_without_a_secret_there_is_no_endpoint(bot: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.services.settings, "api_secret", "")
    asgi = build_web_app(bot.app, bot.dispatcher, webhook=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://c") as client:
        assert (await post(client, order("N-1"), secret="")).status_code == 404


def test_a_short_secret_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv("CAREBOT_API_SECRET", "short")
    with pytest.raises(SettingsError, match=r"CAREBOT_API_SECRET: .*at least 16 characters"):
        load_settings()


async def test_concurrent_requests_for_one_customer_all_count(bot: BotHarness, shop: httpx.AsyncClient) -> None:
    await add_customer(bot, 4001, "Mia")
    answers = await asyncio.gather(*(post(shop, [order(f"C-{n}-{i}") for i in range(20)]) for n in range(5)))
    assert [answer.status_code for answer in answers] == [200] * 5
    customer = await stored_customer(bot, 4001)
    assert (customer.purchase_count, customer.total_spent) == (100, Decimal("19990.00"))


async def test_a_body_over_the_limit_is_413_and_not_read(bot: BotHarness, shop: httpx.AsyncClient) -> None:
    from bot.purchases.api import MAX_BODY_BYTES

    raw = b"[" + b" " * MAX_BODY_BYTES + b"]"
    answer = await shop.post(PATH, content=raw, headers={SIGNATURE_HEADER: signature(SECRET, raw)})
    assert answer.status_code == 413
    assert await purchases(bot) == []
