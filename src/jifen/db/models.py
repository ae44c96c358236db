"""Imports every table so that Alembic and the tests see the whole schema."""

# Each domain's tables register on Base when its models module is imported.
import jifen.badges.models
import jifen.catalog.models
import jifen.checkin.models
import jifen.checkout.models
import jifen.coupons.models
import jifen.leaderboards.models
import jifen.lottery.models
import jifen.partners.models
import jifen.referrals.models
import jifen.tasks.models
import jifen.tiers.models
import jifen.transfers.models
import jifen.users.models
import jifen.wallet.models
import jifen.webhooks.models  # noqa: F401
from jifen.campaigns.models import Budget, BudgetDefinition, Campaign
from jifen.events.models import Event
from jifen.experiments.models import Assignment, Experiment
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
from jifen.rules.models import Counter, PendingReward, RuleVersion

__all__ = [
    "Account",
    "Allocation",
    "ApiKey",
    "Asset",
    "Assignment",
    "AuditEntry",
    "Base",
    "Budget",
    "BudgetDefinition",
    "Campaign",
    "ChainHead",
    "Counter",
    "Event",
    "Experiment",
    "Hold",
    "IdempotencyRecord",
    "LedgerTransaction",
    "Lot",
    "Member",
    "OutboxMessage",
    "PendingReward",
    "Posting",
    "Program",
    "RuleVersion",
]
