"""Who gets a ticket: agents' availability, skills and load, continuity, VIP account managers, and handing a
ticket over (its destination in the relay queue follows the assignee's inbox).

One rule, one place: a new ticket goes to its VIP customer's account manager when available, else to the agent
who handled the customer's previous ticket when available, else to the available agent serving its category with
the fewest open tickets (ties: who waited longest since their last assignment). Available: a current staff
member with an inbox (a private chat with the bot), not away, within their hours (else the business hours).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import staff_deliveries
from storage.models import AccountManager, Agent, Customer, Segment, StaffMember, Ticket, TicketStatus
from storage.outbox import insert_ignoring_duplicates
from storage.routing_rules import RoutingPolicy, serves, within_hours
from storage.types import utcnow

WORKING = (TicketStatus.OPEN.value, TicketStatus.PENDING.value)  # what counts as an agent's load
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ROUTING_LOCK = 0x526F7574  # a transaction-scoped advisory lock id ("Rout") on PostgreSQL


async def serialize(session: AsyncSession) -> None:
    """Routing decisions and agent changes happen one at a time: two new tickets filed at once must not both see
    the same agent with the fewest open tickets. PostgreSQL: an advisory lock held until the transaction ends (taken
    first, before any agent row, so no two transactions wait on each other). SQLite: a transaction that writes holds
    the database's one write lock already, and one that read before another's commit cannot write any more."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ROUTING_LOCK})


@dataclass(frozen=True)
class Load:
    agent: Agent
    open_tickets: int


async def get_agent(session: AsyncSession, *, telegram_id: int) -> Agent | None:
    return await session.get(Agent, telegram_id)


async def ensure_agent(session: AsyncSession, *, telegram_id: int, name: str | None = None) -> Agent:
    """The agent row of a staff member, created on first need (race-free on both databases)."""
    await serialize(session)
    table = Agent.__table__  # type: ignore[attr-defined]
    row = {"telegram_id": telegram_id, "name": name, "inbox_open": False, "away": False, "updated_at": utcnow()}
    await session.execute(insert_ignoring_duplicates(session, table, ["telegram_id"]), [row])
    agent = await session.get(Agent, telegram_id, populate_existing=True)
    assert agent is not None
    if name and agent.name != name:
        agent.name = name[:256]
    return agent


async def update_agent(
    session: AsyncSession, *, telegram_id: int, name: str | None = None, values: dict[str, object] | None = None
) -> Agent:
    agent = await ensure_agent(session, telegram_id=telegram_id, name=name)
    values = values or {}
    for key, value in values.items():
        setattr(agent, key, value)
    agent.updated_at = utcnow()
    session.add(agent)
    await session.flush()
    return agent


async def staff_ids(session: AsyncSession, *, admin_ids: Collection[int]) -> set[int]:
    result = await session.execute(select(col(StaffMember.telegram_id)).where(col(StaffMember.telegram_id).isnot(None)))
    return {int(found) for found in result.scalars() if found is not None} | set(admin_ids)


async def open_tickets_of(session: AsyncSession, *, telegram_ids: Collection[int]) -> dict[int, int]:
    if not telegram_ids:
        return {}
    result = await session.execute(
        select(col(Ticket.assignee_telegram_id), func.count())
        .where(col(Ticket.assignee_telegram_id).in_(list(telegram_ids)), col(Ticket.status).in_(WORKING))
        .group_by(col(Ticket.assignee_telegram_id))
    )
    counts = {int(agent_id): int(count) for agent_id, count in result.tuples() if agent_id is not None}
    return {agent_id: counts.get(agent_id, 0) for agent_id in telegram_ids}


async def agents_with_inbox(session: AsyncSession, *, admin_ids: Collection[int]) -> list[Agent]:
    """Current staff members with an inbox, whatever their availability."""
    members = await staff_ids(session, admin_ids=admin_ids)
    result = await session.execute(
        select(Agent).where(col(Agent.inbox_open).is_(True)).order_by(col(Agent.telegram_id))
    )
    return [agent for agent in result.scalars() if agent.telegram_id in members]


async def available(
    session: AsyncSession, *, policy: RoutingPolicy, now: datetime, exclude: Collection[int] = ()
) -> list[Load]:
    """The agents who may get a ticket now, with their load."""
    agents = [
        agent
        for agent in await agents_with_inbox(session, admin_ids=policy.admin_ids)
        if not agent.away and agent.telegram_id not in exclude and within_hours(agent, policy.hours, now)
    ]
    counts = await open_tickets_of(session, telegram_ids=[agent.telegram_id for agent in agents])
    return [Load(agent, counts[agent.telegram_id]) for agent in agents]


# ---------------------------------------------------------------- VIP account managers


async def manager_of(session: AsyncSession, *, customer_id: int) -> int | None:
    found = await session.get(AccountManager, customer_id)
    return found.manager_telegram_id if found else None


async def manager_names(session: AsyncSession, *, customer_ids: Sequence[int]) -> dict[int, str]:
    """Each customer's account manager's name (their first name as the bot knows it), in one query."""
    if not customer_ids:
        return {}
    result = await session.execute(
        select(
            col(AccountManager.customer_id),
            col(AccountManager.manager_telegram_id),
            col(Agent.name),
            col(StaffMember.name),
        )
        .outerjoin(Agent, col(Agent.telegram_id) == col(AccountManager.manager_telegram_id))
        .outerjoin(StaffMember, col(StaffMember.telegram_id) == col(AccountManager.manager_telegram_id))
        .where(col(AccountManager.customer_id).in_(list(customer_ids)))
    )
    return {customer_id: agent or member or str(manager) for customer_id, manager, agent, member in result.tuples()}


async def set_manager(session: AsyncSession, *, customer_id: int, manager_id: int, by: int | None) -> None:
    found = await session.get(AccountManager, customer_id)
    if found is None:
        found = AccountManager(customer_id=customer_id, manager_telegram_id=manager_id)
    found.manager_telegram_id, found.assigned_by, found.assigned_at = manager_id, by, utcnow()
    session.add(found)
    await session.flush()


async def ensure_manager(session: AsyncSession, *, customer: Customer, policy: RoutingPolicy) -> int | None:
    """The customer's manager; a VIP without one gets the agent with an inbox who manages the fewest VIPs
    (unless managers are set by hand)."""
    assert customer.id is not None
    await serialize(session)
    current = await manager_of(session, customer_id=customer.id)
    if current is not None or customer.segment != Segment.VIP.value or not policy.vip_managers_auto:
        return current
    agents = await agents_with_inbox(session, admin_ids=policy.admin_ids)
    if not agents:
        return None
    result = await session.execute(
        select(col(AccountManager.manager_telegram_id), func.count()).group_by(col(AccountManager.manager_telegram_id))
    )
    managed = {int(agent_id): int(count) for agent_id, count in result.tuples()}
    chosen = min(agents, key=lambda agent: (managed.get(agent.telegram_id, 0), agent.telegram_id))
    table = AccountManager.__table__  # type: ignore[attr-defined]
    row = {"customer_id": customer.id, "manager_telegram_id": chosen.telegram_id, "assigned_at": utcnow()}
    await session.execute(insert_ignoring_duplicates(session, table, ["customer_id"]), [row])
    return await manager_of(session, customer_id=customer.id)


# ---------------------------------------------------------------- choosing and handing over


async def previous_assignee(session: AsyncSession, *, ticket: Ticket) -> int | None:
    result = await session.execute(
        select(col(Ticket.assignee_telegram_id))
        .where(
            col(Ticket.customer_id) == ticket.customer_id,
            col(Ticket.id) != ticket.id,
            col(Ticket.assignee_telegram_id).isnot(None),
        )
        .order_by(col(Ticket.id).desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def choose(
    session: AsyncSession,
    *,
    ticket: Ticket,
    customer: Customer,
    policy: RoutingPolicy,
    now: datetime,
    exclude: Collection[int] = (),
) -> Agent | None:
    """Who gets `ticket` now (None: nobody available, the ticket stays with the group)."""
    await serialize(session)
    loads = await available(session, policy=policy, now=now, exclude=exclude)
    if not loads:
        return None
    by_id = {load.agent.telegram_id: load.agent for load in loads}
    manager = await ensure_manager(session, customer=customer, policy=policy)
    if manager in by_id and customer.segment == Segment.VIP.value:
        return by_id[manager]
    previous = await previous_assignee(session, ticket=ticket)
    if previous in by_id:
        return by_id[previous]
    skilled = [load for load in loads if serves(load.agent, ticket.category)]
    if not skilled:
        return None
    best = min(
        skilled, key=lambda load: (load.open_tickets, load.agent.last_assigned_at or EPOCH, load.agent.telegram_id)
    )
    return best.agent


async def assign(
    session: AsyncSession,
    *,
    ticket: Ticket,
    telegram_id: int,
    name: str | None,
    history: bool,
    now: datetime | None = None,
) -> bool:
    """Hand `ticket` to a staff member. With an inbox, their chat gets the card (and the ticket so far when
    `history`); a previous inbox's card and the group's card are brought up to date. False when unchanged."""
    await serialize(session)
    now = now or utcnow()
    agent = await get_agent(session, telegram_id=telegram_id)
    inbox = telegram_id if agent is not None and agent.inbox_open else None
    if ticket.assignee_telegram_id == telegram_id and ticket.inbox_chat_id == inbox:
        return False
    old_chat, old_card = ticket.inbox_chat_id, ticket.inbox_card_message_id
    ticket.assignee_telegram_id = telegram_id
    if not name and (agent is None or not agent.name):
        member = (await staff_names(session, [telegram_id])).get(telegram_id)
        name = member or str(telegram_id)
    ticket.assignee_name = (name or (agent.name if agent else None) or str(telegram_id))[:256]
    if inbox != old_chat:
        ticket.inbox_chat_id, ticket.inbox_card_message_id = inbox, None
    ticket.updated_at = now
    session.add(ticket)
    if agent is not None:
        agent.last_assigned_at = now
        session.add(agent)
    await session.flush()
    await _handed_over(session, ticket=ticket, old_chat=old_chat, old_card=old_card, history=history, now=now)
    return True


async def unassign(session: AsyncSession, *, ticket: Ticket, now: datetime | None = None) -> None:
    """Nobody has the ticket any more: it is back with the group, which is shown the ticket so far."""
    now = now or utcnow()
    old_chat, old_card = ticket.inbox_chat_id, ticket.inbox_card_message_id
    ticket.assignee_telegram_id = ticket.assignee_name = None
    ticket.inbox_chat_id = ticket.inbox_card_message_id = None
    ticket.updated_at = now
    session.add(ticket)
    await session.flush()
    await _handed_over(session, ticket=ticket, old_chat=old_chat, old_card=old_card, history=True, now=now)


async def _handed_over(
    session: AsyncSession, *, ticket: Ticket, old_chat: int | None, old_card: int | None, history: bool, now: datetime
) -> None:
    assert ticket.id is not None
    stamp = f"{now.timestamp():.6f}"
    if old_chat is not None and old_chat != ticket.inbox_chat_id and old_card is not None:
        await staff_deliveries.enqueue(
            session,
            key=f"card:{ticket.id}:{old_chat}:{stamp}",
            ticket_id=ticket.id,
            kind="card",
            chat_id=old_chat,
            params={"message_id": old_card},
        )
    if history and old_chat != ticket.inbox_chat_id:
        target = ticket.inbox_chat_id  # None: the group
        await staff_deliveries.enqueue(
            session, key=f"history:{ticket.id}:{target}:{stamp}", ticket_id=ticket.id, kind="history", chat_id=target
        )
    await staff_deliveries.enqueue(session, key=f"card:{ticket.id}:group:{stamp}", ticket_id=ticket.id, kind="card")


async def route_new(
    session: AsyncSession, *, ticket: Ticket, customer: Customer, policy: RoutingPolicy | None, now: datetime
) -> Agent | None:
    """Assign a new or reopened ticket automatically when the policy says so: a reopened ticket stays with its
    agent while they are available, else it goes to someone who is (with the ticket so far)."""
    if policy is None or not policy.auto_assign:
        return None
    current = ticket.assignee_telegram_id
    if current is not None:
        loads = await available(session, policy=policy, now=now)
        if current in {load.agent.telegram_id for load in loads}:
            return None
    agent = await choose(session, ticket=ticket, customer=customer, policy=policy, now=now, exclude={current or 0})
    if agent is not None:
        history = current is not None
        await assign(session, ticket=ticket, telegram_id=agent.telegram_id, name=agent.name, history=history, now=now)
    return agent


async def release(
    session: AsyncSession, *, telegram_id: int, policy: RoutingPolicy, now: datetime | None = None
) -> list[tuple[Ticket, int | None]]:
    """An agent went away or left the staff: their open tickets go to others (or back to the group).
    Returns each ticket with its new assignee."""
    now = now or utcnow()
    result = await session.execute(
        select(Ticket, Customer)
        .join(Customer, col(Customer.id) == col(Ticket.customer_id))
        .where(col(Ticket.assignee_telegram_id) == telegram_id, col(Ticket.status).in_(WORKING))
        .order_by(col(Ticket.id))
    )
    moved: list[tuple[Ticket, int | None]] = []
    for ticket, customer in result.tuples():
        agent = (
            await choose(session, ticket=ticket, customer=customer, policy=policy, now=now, exclude={telegram_id})
            if policy.auto_assign
            else None
        )
        if agent is None:
            await unassign(session, ticket=ticket, now=now)
            moved.append((ticket, None))
        else:
            await assign(session, ticket=ticket, telegram_id=agent.telegram_id, name=agent.name, history=True, now=now)
            moved.append((ticket, agent.telegram_id))
    return moved


async def inbox_closed(session: AsyncSession, *, telegram_id: int) -> None:
    """The agent's private chat is gone (they blocked the bot): nothing more goes there."""
    await serialize(session)
    agent = await get_agent(session, telegram_id=telegram_id)
    if agent is not None:
        agent.inbox_open = False
        session.add(agent)
    await staff_deliveries.fail_chat(session, chat_id=telegram_id, error="inbox closed")


async def staff_names(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    agents = await session.execute(
        select(col(Agent.telegram_id), col(Agent.name)).where(col(Agent.telegram_id).in_(ids))
    )
    members = await session.execute(
        select(col(StaffMember.telegram_id), col(StaffMember.name)).where(col(StaffMember.telegram_id).in_(ids))
    )
    found = {int(i): n for i, n in members.tuples() if i is not None and n}
    found.update({int(i): n for i, n in agents.tuples() if n})
    return found
