"""Every table, imported in one place so that metadata and migrations see them all."""

from storage.models.customer import Customer, Segment
from storage.models.purchase import Purchase, SegmentChange
from storage.models.runtime import InboxUpdate, PendingInput
from storage.models.staff import AuditEntry, Role, StaffMember

__all__ = [
    "AuditEntry",
    "Customer",
    "InboxUpdate",
    "PendingInput",
    "Purchase",
    "Role",
    "Segment",
    "SegmentChange",
    "StaffMember",
]
