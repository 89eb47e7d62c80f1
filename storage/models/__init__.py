"""Every table, imported in one place so that metadata and migrations see them all."""

from storage.models.agreement import (
    AcceptanceChannel,
    AgreementAcceptance,
    AgreementText,
    AgreementVersion,
    ForgottenAcceptances,
)
from storage.models.business import BusinessChat, BusinessConnection, ConnectionState, ReplyBlock
from storage.models.care import FaqEntry, FaqEvent, SurveyResponse
from storage.models.customer import Customer, Segment
from storage.models.outbox import Coupon, OutboxMessage, OutboxPass, OutboxStatus
from storage.models.purchase import Purchase, SegmentChange
from storage.models.routing import AccountManager, Agent
from storage.models.runtime import InboxUpdate, PendingInput
from storage.models.staff import AuditEntry, Role, StaffMember
from storage.models.staff_work import Broadcast, BroadcastStatus, CustomerNote, StaffImport
from storage.models.ticket import (
    DeliveryKind,
    DeliveryStatus,
    MessageDirection,
    StaffDelivery,
    Ticket,
    TicketCategory,
    TicketMessage,
    TicketStatus,
)

__all__ = [
    "AcceptanceChannel",
    "AccountManager",
    "Agent",
    "AgreementAcceptance",
    "AgreementText",
    "AgreementVersion",
    "AuditEntry",
    "Broadcast",
    "BroadcastStatus",
    "BusinessChat",
    "BusinessConnection",
    "ConnectionState",
    "Coupon",
    "Customer",
    "CustomerNote",
    "DeliveryKind",
    "DeliveryStatus",
    "FaqEntry",
    "FaqEvent",
    "ForgottenAcceptances",
    "InboxUpdate",
    "MessageDirection",
    "OutboxMessage",
    "OutboxPass",
    "OutboxStatus",
    "PendingInput",
    "Purchase",
    "ReplyBlock",
    "Role",
    "Segment",
    "SegmentChange",
    "StaffDelivery",
    "StaffImport",
    "StaffMember",
    "SurveyResponse",
    "Ticket",
    "TicketCategory",
    "TicketMessage",
    "TicketStatus",
]
