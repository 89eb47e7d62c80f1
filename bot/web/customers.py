"""The desk's customer card (with the add-note and record-purchase forms) and the search, by the same rules and
with the same audit rows as `/customer`, `/note`, `/purchase` and `/find` (bot/handlers/staff/records.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bot.handlers.staff.card import mask_email, mask_phone, segment_name
from bot.handlers.staff.purchases import segment_move_line
from bot.handlers.staff.records import (
    MIN_SEARCH_LENGTH,
    PurchaseOutcome,
    find_customers,
    open_card,
    record_staff_purchase,
    save_note,
)
from bot.tickets.views import category_label, is_vip, status_label
from bot.ui.i18n import Safe, money, t
from bot.web.desk import NO_STORE, Caller, Desk, form_of
from storage import purchases, routing, tickets
from storage.csv_import import parse_amount
from storage.customer_card import survey_answers
from storage.customers import ERASED_TELEGRAM_ID
from storage.models import Customer
from storage.notes import MAX_NOTE_LENGTH


def contact_of(customer: Customer, caller: Caller) -> tuple[str | None, str | None]:
    """Phone and e-mail as the caller may see them: whole for admins, masked for agents."""
    if caller.admin:
        return customer.phone, customer.email
    return (
        mask_phone(customer.phone) if customer.phone else None,
        mask_email(customer.email) if customer.email else None,
    )


HISTORY = 10  # segment changes shown


async def customer_page(desk: Desk, request: Request, caller: Caller, *, flash: str | None = None) -> Response:
    customer_id = int(request.path_params["customer_id"])
    lang = caller.lang
    async with desk.services.sessions() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.telegram_id == ERASED_TELEGRAM_ID:
            return desk.render("missing.html", caller, http_status=404, message=t(lang, "webapp.customer.none"))
        bought = await purchases.list_purchases(session, customer_id=customer_id, limit=20)
        their_tickets = await tickets.customer_tickets(session, customer_id=customer_id, limit=20)
        surveys = await survey_answers(session, customer_id=customer_id)
        manager = (await routing.manager_names(session, customer_ids=[customer_id])).get(customer_id)
    card = await open_card(desk.services, customer=customer, actor_telegram_id=caller.user.id, recent=HISTORY)
    phone, email = contact_of(customer, caller)
    currency = desk.services.settings.currency
    return desk.render(
        "customer.html",
        caller,
        card=card,
        customer=customer,
        vip=is_vip(customer),
        phone=phone,
        email=email,
        segment=segment_name(lang, customer.segment),
        manager=manager,
        total=money(customer.total_spent, currency, lang),
        purchases=[(purchase, money(purchase.amount, purchase.currency, lang)) for purchase in bought],
        tickets=their_tickets,
        moves=card.segment_changes,
        surveys=surveys,
        agreement=card.agreement,
        segment_name=lambda name: segment_name(lang, name),
        status_label=lambda status: status_label(status, lang),
        category_label=lambda category: category_label(category, lang),
        flash=flash,
        max_note=MAX_NOTE_LENGTH,
    )


async def customer_action(desk: Desk, request: Request, caller: Caller) -> Response:
    customer_id, action = int(request.path_params["customer_id"]), request.path_params["action"]
    form = await form_of(request)
    async with desk.services.sessions() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None or customer.telegram_id == ERASED_TELEGRAM_ID:
        return desk.render("missing.html", caller, http_status=404, message=t(caller.lang, "webapp.customer.none"))
    flash: str
    if action == "note":
        saved = await save_note(
            desk.services, customer_id=customer_id, actor_telegram_id=caller.user.id, text=form.get("text", "")
        )
        flash = (
            t(caller.lang, "staff.note.saved", name=customer.display_name)
            if saved
            else t(caller.lang, "staff.note.too_long", limit=MAX_NOTE_LENGTH)
        )
    elif action == "purchase":
        flash = await _purchase(desk, customer, form, caller)
    else:
        return Response("unknown action", status_code=404, headers=NO_STORE)
    return await customer_page(desk, request, caller, flash=flash)


async def _purchase(desk: Desk, customer: Customer, form: dict[str, str], caller: Caller) -> str:
    lang, currency = caller.lang, desk.services.settings.currency
    try:
        amount = parse_amount(form.get("amount", "").strip())
    except ValueError:
        return t(lang, "staff.purchase.bad_amount", amount=form.get("amount", ""))
    assert customer.id is not None
    done = await record_staff_purchase(
        desk.services,
        customer_id=customer.id,
        amount=amount,
        reference=form.get("reference", "").strip() or None,
        note=form.get("note", "").strip() or None,
        actor_telegram_id=caller.user.id,
    )
    if done.outcome == PurchaseOutcome.DUPLICATE:
        return t(lang, "staff.purchase.duplicate", reference=done.reference)
    if done.outcome == PurchaseOutcome.TOO_LONG:
        return t(lang, "staff.purchase.too_long")
    assert done.move is not None
    recorded = t(
        lang,
        "staff.purchase.recorded",
        amount=money(amount, currency, lang),
        name=customer.display_name,
        reference=done.reference,
    )
    return Safe(recorded + "\n" + segment_move_line(lang, done.move))  # two catalog texts


async def search_page(desk: Desk, request: Request, caller: Caller) -> Response:
    """The `/find` search; the text comes in the POSTed form, never in the URL."""
    query = (await form_of(request)).get("q", "").strip() if request.method == "POST" else ""
    found = None
    if len(query) >= MIN_SEARCH_LENGTH:
        matches = await find_customers(desk.services, query=query, actor_telegram_id=caller.user.id)
        found = [(match.customer, contact_of(match.customer, caller)[0]) for match in matches]
    return desk.render(
        "search.html",
        caller,
        query=query,
        found=found,
        segment=lambda name: segment_name(caller.lang, name),
        too_short=bool(query) and len(query) < MIN_SEARCH_LENGTH,
    )
