"""Imports every table so that Alembic and the tests see the whole schema."""

from jifen.kit.db import Base
from jifen.kit.idempotency_models import IdempotencyRecord
from jifen.ledger.models import (
    Account,
    Allocation,
    Asset,
    ChainHead,
    Hold,
    LedgerTransaction,
    Lot,
    Posting,
)
from jifen.members.models import Member
from jifen.notify.models import OutboxMessage
from jifen.programs.models import ApiKey, AuditEntry, Program

__all__ = [
    "Account",
    "Allocation",
    "ApiKey",
    "Asset",
    "AuditEntry",
    "Base",
    "ChainHead",
    "Hold",
    "IdempotencyRecord",
    "LedgerTransaction",
    "Lot",
    "Member",
    "OutboxMessage",
    "Posting",
    "Program",
]
