"""Console roles and what each may do (least privilege: a role gets only what its job needs)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Role = Literal["owner", "operator", "reviewer", "analyst", "finance", "read_only"]
ROLES: tuple[Role, ...] = ("owner", "operator", "reviewer", "analyst", "finance", "read_only")

Permission = Literal[
    "view",  # every page of the program, read only
    "rules.edit",  # rules, campaigns, tiers, check-in, tasks, badges, leaderboards, lottery...
    "rules.dry_run",  # replay past events through a rule (writes nothing)
    "budgets.edit",
    "reviews.decide",  # claim, approve, reject rewards held for review
    "points.adjust",  # manual ledger adjustments
    "catalog.edit",  # catalog, coupons, orders
    "settings.edit",  # program settings, webhooks
    "keys.manage",  # API keys
    "users.manage",  # who has which role in the program
]

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "owner": frozenset(
        {
            "view",
            "rules.edit",
            "rules.dry_run",
            "budgets.edit",
            "reviews.decide",
            "points.adjust",
            "catalog.edit",
            "settings.edit",
            "keys.manage",
            "users.manage",
        }
    ),
    "operator": frozenset(
        {
            "view",
            "rules.edit",
            "rules.dry_run",
            "budgets.edit",
            "reviews.decide",
            "points.adjust",
            "catalog.edit",
        }
    ),
    "reviewer": frozenset({"view", "reviews.decide"}),
    "analyst": frozenset({"view", "rules.dry_run"}),
    "finance": frozenset({"view", "budgets.edit", "points.adjust"}),
    "read_only": frozenset({"view"}),
}


def allowed(roles: Iterable[str], permission: Permission) -> bool:
    """Whether any of ``roles`` grants ``permission``."""
    return any(permission in PERMISSIONS.get(r, frozenset()) for r in roles)  # type: ignore[call-overload]
