"""Evaluation of rules for one event, without touching the database.

The same evaluator pays events at ingestion and simulates them in a dry-run: everything it
reads (counters, budgets, experiment groups, campaigns) comes in an ``EvalState`` that the
caller loaded, and everything it decides comes back as data.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jifen.campaigns.schemas import CampaignDefinition
from jifen.clock import local_date
from jifen.kit.money import Rounding, to_units
from jifen.kit.periods import WINDOWS, Window, period_key
from jifen.rules import conditions
from jifen.rules.schemas import Effect, RuleDefinition

ONE = Decimal(1)
# Counters kept for the whole program (not one member) use member id 0.
PROGRAM_WIDE = 0


def subject_counter(event_type: str, subject: str) -> str:
    return f"subj:{event_type}:{subject}"[:120]


def needs_subject_counts(versions: Iterable[RuleVersionView]) -> bool:
    return any("counts.subject" in v.definition.condition for v in versions)


@dataclass(frozen=True, slots=True)
class RuleVersionView:
    definition: RuleDefinition
    version: int
    effective_from: datetime


@dataclass(slots=True)
class MemberView:
    id: int
    external_id: str
    tier: str = ""
    # The tier's points multiplier benefit (jifen.tiers); a rule's own tier_multipliers win.
    tier_multiplier: Decimal = ONE
    tags: list[str] = field(default_factory=list)
    region: str = ""
    joined_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    birthday: str = ""
    locale: str = "zh-CN"
    consent: dict[str, bool] = field(default_factory=dict)


@dataclass(slots=True)
class EventView:
    client_id: str
    type: str
    member: MemberView
    occurred_at: datetime
    attributes: dict[str, Any]
    id: int | None = None
    # What the event is about (an order, an invitee, a reported violation), across members.
    subject: str | None = None


@dataclass(slots=True)
class BudgetState:
    budget_id: str
    period: str
    asset: str
    limit: int
    spent: int
    row_id: int | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.spent, 0)


@dataclass(slots=True)
class BudgetSpec:
    budget_id: str
    asset: str
    limit: int
    window: str  # total | day | week | month


@dataclass
class EvalState:
    """What evaluation reads and updates: counters, budgets, streak days, experiment groups."""

    counters: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)
    budgets: dict[tuple[str, str], BudgetState] = field(default_factory=dict)
    budget_specs: dict[str, BudgetSpec] = field(default_factory=dict)
    groups: dict[tuple[str, int], str] = field(default_factory=dict)
    active_days: dict[tuple[int, str], set[date]] = field(default_factory=dict)
    touched: set[tuple[int, str, str]] = field(default_factory=set)
    # Ids of the counters that exist in the database (the rest are new).
    counter_ids: dict[tuple[int, str, str], int] = field(default_factory=dict)

    def get(self, member_id: int, name: str, period: str) -> list[int]:
        key = (member_id, name, period)
        value = self.counters.get(key)
        if value is None:
            value = [0, 0]
            self.counters[key] = value
        return value

    def bump(self, member_id: int, name: str, period: str, count: int, amount: int = 0) -> None:
        value = self.get(member_id, name, period)
        value[0] += count
        value[1] += amount
        self.touched.add((member_id, name, period))

    def budget(self, budget_id: str, instant: datetime, tz: str) -> BudgetState | None:
        spec = self.budget_specs.get(budget_id)
        if spec is None:
            return None
        period = budget_period(spec.window, instant, tz)
        key = (budget_id, period)
        state = self.budgets.get(key)
        if state is None:
            state = BudgetState(budget_id, period, spec.asset, spec.limit, 0)
            self.budgets[key] = state
        return state


def budget_period(window: str, instant: datetime, tz: str) -> str:
    return "all" if window == "total" else period_key(window, local_date(instant, tz))


@dataclass(slots=True)
class Payout:
    rule_id: str
    rule_version: int
    effect_index: int
    asset: str
    amount: int
    review: bool
    campaign_id: str | None
    expires_at: datetime | None
    explanation: dict[str, Any]


@dataclass(slots=True)
class Grant:
    """A coupon to issue or a badge to award, from a rule's effect."""

    rule_id: str
    rule_version: int
    effect_index: int
    kind: str  # "coupon" or "badge"
    target: str  # the coupon template id or the badge id


@dataclass(slots=True)
class Skip:
    rule_id: str
    rule_version: int
    reason: str
    detail: str = ""


@dataclass(slots=True)
class Evaluation:
    payouts: list[Payout] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def pick_versions(versions: Iterable[RuleVersionView], at: datetime) -> list[RuleVersionView]:
    """The version of each rule in force at ``at`` (enabled ones only), by priority then id."""
    best: dict[str, RuleVersionView] = {}
    for v in versions:
        if v.effective_from > at:
            continue
        cur = best.get(v.definition.id)
        if cur is None or v.version > cur.version:
            best[v.definition.id] = v
    chosen = [v for v in best.values() if v.definition.enabled]
    return sorted(chosen, key=lambda v: (v.definition.priority, v.definition.id))


# ``hits`` in a condition: the alias and the counter window behind it.
_HIT_WINDOWS: dict[str, Window] = {
    "today": "day", "week": "week", "month": "month", "total": "lifetime",
}  # fmt: skip
_HIT_ALIASES: dict[Window, str] = {w: a for a, w in _HIT_WINDOWS.items() if w != "lifetime"}


@lru_cache(maxsize=4096)
def _hit_windows(condition: str, ladder_windows: frozenset[str]) -> tuple[Window, ...]:
    windows: list[Window] = [
        w
        for w, alias in _HIT_ALIASES.items()
        if w in ladder_windows or f"hits.{alias}" in condition
    ]
    return (*windows, "lifetime")


def hit_windows(rule: RuleDefinition) -> tuple[Window, ...]:
    """The windows a rule's hit counter is kept for: the lifetime (first-time and milestone
    effects, dry-runs), its ladders' windows, and those its condition reads as ``hits.*``.
    Counters are rows written on every event: only what something reads is kept."""
    ladders = frozenset(
        e.amount.ladder_window for e in rule.effects if e.amount is not None and e.amount.ladder
    )
    return _hit_windows(rule.condition, ladders)


def limit_windows(rule: RuleDefinition, asset: str | None) -> tuple[Window, ...]:
    """The windows of a rule's limits (for one asset, or the count limits of its grants):
    the only ones its paid counters are read in."""
    return tuple(
        sorted(
            {
                lim.window
                for lim in rule.limits
                if (lim.asset == asset if asset is not None else lim.max_count is not None)
            }
        )
    )


def grant_counter(rule_id: str, effect_index: int) -> str:
    """The counter of how many coupons or badges a rule's effect gave a member."""
    return f"grant:{rule_id}:{effect_index}"


def needs_streak(versions: Iterable[RuleVersionView]) -> bool:
    return any("streak" in v.definition.condition for v in versions)


@dataclass(slots=True)
class _Plan:
    """What evaluating a rule version needs, worked out once per evaluator."""

    always: bool
    # The condition's names and the fields it reads of each (see ``conditions.fields_read``).
    reads: dict[str, frozenset[str] | None]
    hit_windows: tuple[Window, ...]
    # The windows whose n-th-hit number an effect reads (ladders, first-time, milestones).
    n_windows: tuple[Window, ...]
    paid_windows: dict[str, tuple[Window, ...]]
    grant_windows: tuple[Window, ...]


def _plan(rule: RuleDefinition) -> _Plan:
    always = _always(rule.condition)
    n_windows: set[Window] = set()
    for e in rule.effects:
        if e.amount is not None and e.amount.ladder:
            n_windows.add(e.amount.ladder_window)
        if e.when != "always":
            n_windows.add("lifetime")
    return _Plan(
        always=always,
        reads={} if always else conditions.fields_read(rule.condition),
        hit_windows=hit_windows(rule),
        n_windows=tuple(sorted(n_windows)),
        paid_windows={e.asset: limit_windows(rule, e.asset) for e in rule.effects},
        grant_windows=limit_windows(rule, None),
    )


class Evaluator:
    def __init__(
        self,
        *,
        timezone: str,
        rounding: Rounding,
        versions: Sequence[RuleVersionView],
        campaigns: Sequence[CampaignDefinition],
        state: EvalState,
        lot_expiry: Any = None,
    ) -> None:
        self.tz = timezone
        self.rounding: Rounding = rounding
        self.by_trigger: dict[str, list[RuleVersionView]] = {}
        for v in versions:
            self.by_trigger.setdefault(v.definition.trigger, []).append(v)
        self.campaigns = [c for c in campaigns if c.enabled]
        self.state = state
        # Program-wide subject counters are kept only when a condition reads counts.subject
        # (the caller then loads and locks them).
        self.track_subjects = needs_subject_counts(versions)
        self._plans: dict[int, _Plan] = {}
        self._periods: dict[date, dict[str, str]] = {}
        # Per trigger: the instants at which a version takes effect, and what is in force (and
        # not yet in force) between two of them.
        self._steps = {
            trigger: sorted({v.effective_from for v in vs})
            for trigger, vs in self.by_trigger.items()
        }
        self._in_force: dict[tuple[str, int], tuple[list[RuleVersionView], list[Skip]]] = {}
        self._zone = _zone(timezone)
        self._explained: dict[tuple[str, Decimal, int], dict[str, Any]] = {}
        # Active days are only read for streaks.
        self._track_days = needs_streak(versions)
        self._verdicts: dict[tuple[str, Any], bool] = {}

    def _holds(self, condition: str, context: dict[str, Any]) -> bool:
        """``conditions.evaluate``, remembered while this evaluator lives (one batch): a
        condition is a pure function of the values it reads, and most events give it the same
        few (a tier, a channel, today's count). CEL takes several microseconds a run; looking
        the verdict up, a fraction. Errors are not remembered: they are raised each time."""
        try:
            key = (condition, conditions.context_key(context))
        except TypeError:
            return conditions.evaluate(condition, context)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = conditions.evaluate(condition, context)
        return verdict

    def plan(self, rv: RuleVersionView) -> _Plan:
        plan = self._plans.get(id(rv))
        if plan is None:
            plan = self._plans[id(rv)] = _plan(rv.definition)
        return plan

    def _rules_at(self, event_type: str, at: datetime) -> tuple[list[RuleVersionView], list[Skip]]:
        """The versions in force at ``at`` for a trigger, and a skip for each of its rules
        that had no version yet; the same between two effective instants, so kept."""
        steps = self._steps.get(event_type)
        if steps is None:
            return [], []
        key = (event_type, bisect_right(steps, at))
        cached = self._in_force.get(key)
        if cached is None:
            candidates = self.by_trigger[event_type]
            in_force = pick_versions(candidates, at)
            known = {rv.definition.id for rv in in_force}
            skips: list[Skip] = []
            for rule_id in sorted({v.definition.id for v in candidates} - known):
                if all(v.effective_from > at for v in candidates if v.definition.id == rule_id):
                    first = min(v.effective_from for v in candidates if v.definition.id == rule_id)
                    skips.append(Skip(rule_id, 0, "not_yet_effective", f"from {first.isoformat()}"))
            cached = self._in_force[key] = (in_force, skips)
        return cached

    def _period_keys(self, day: date) -> dict[str, str]:
        keys = self._periods.get(day)
        if keys is None:
            keys = self._periods[day] = {w: period_key(w, day) for w in WINDOWS}
        return keys

    def evaluate(self, event: EventView) -> Evaluation:
        out = Evaluation()
        m = event.member.id
        day = event.occurred_at.astimezone(self._zone).date()
        periods = self._period_keys(day)
        evt_name = f"evt:{event.type}"
        state = self.state
        counters, touched = state.counters, state.touched
        for w in WINDOWS:
            key = (m, evt_name, periods[w])
            value = counters.get(key)
            if value is None:
                value = counters[key] = [0, 0]
            value[0] += 1
            touched.add(key)
        if self._track_days:
            state.active_days.setdefault((m, event.type), set()).add(day)
        subject_count = 0
        if event.subject is not None and self.track_subjects:
            name = subject_counter(event.type, event.subject)
            state.bump(PROGRAM_WIDE, name, "all", 1)
            subject_count = state.get(PROGRAM_WIDE, name, "all")[0]
        in_force, not_yet = self._rules_at(event.type, event.occurred_at)
        counts: dict[str, int] | None = None
        for rv in in_force:
            plan = self.plan(rv)
            if counts is None and "counts" in plan.reads:
                counts = {
                    "today": state.get(m, evt_name, periods["day"])[0],
                    "week": state.get(m, evt_name, periods["week"])[0],
                    "month": state.get(m, evt_name, periods["month"])[0],
                    "total": state.get(m, evt_name, periods["lifetime"])[0],
                    # Events of this type about the same subject, by any member, this one
                    # included.
                    "subject": subject_count,
                }
            self._rule(rv, plan, event, periods, counts or {}, day, out)
        # Rules for this trigger that did not exist yet when the event happened.
        out.skipped.extend(not_yet)
        return out

    def _rule(
        self,
        rv: RuleVersionView,
        plan: _Plan,
        event: EventView,
        periods: dict[str, str],
        counts: dict[str, int],
        day: date,
        out: Evaluation,
    ) -> None:
        rule = rv.definition
        m = event.member.id
        state = self.state
        if rule.experiment is not None:
            group = state.groups.get((rule.experiment.id, m), "control")
            if group != rule.experiment.group:
                out.skipped.append(Skip(rule.id, rv.version, "experiment_group", group))
                return
        hit_name = f"rule:{rule.id}"
        if not plan.always:
            try:
                context = self._context(rule.condition, plan, event, day, counts, hit_name, periods)
                if not self._holds(rule.condition, context):
                    out.skipped.append(Skip(rule.id, rv.version, "condition_false"))
                    return
            except (KeyError, RuntimeError, TypeError, ValueError) as exc:
                out.skipped.append(Skip(rule.id, rv.version, "condition_error", str(exc)[:200]))
                return
        for w in plan.hit_windows:
            state.bump(m, hit_name, periods[w], 1)
        # The n-th qualifying event, in the windows an effect reads: every such window is one
        # the hit counter is kept in, and it was just counted.
        n: dict[str, int] = {w: state.get(m, hit_name, periods[w])[0] for w in plan.n_windows}
        paid_assets: set[str] = set()
        for index, effect in enumerate(rule.effects):
            if effect.amount is None:
                self._grant(rv, plan, index, effect, event, periods, n, out)
                continue
            payout = self._effect(rv, plan, index, effect, event, periods, n, out)
            if payout is not None:
                out.payouts.append(payout)
                paid_assets.add(effect.asset)
        # What a rule paid is only read by its limits: kept for rules that have them.
        for asset in paid_assets if rule.limits else ():
            for w in plan.paid_windows[asset]:
                state.bump(m, f"paid:{rule.id}:{asset}", periods[w], 1)

    def _grant(
        self,
        rv: RuleVersionView,
        plan: _Plan,
        index: int,
        effect: Effect,
        event: EventView,
        periods: dict[str, str],
        n: dict[str, int],
        out: Evaluation,
    ) -> None:
        """A coupon or badge effect: ``when`` and count limits apply, per kind and target."""
        rule = rv.definition
        if effect.when == "first" and n["lifetime"] != 1:
            return
        if effect.when == "milestone" and n["lifetime"] not in effect.at:
            return
        kind, target = ("coupon", effect.coupon) if effect.coupon else ("badge", effect.badge)
        assert target is not None
        name = grant_counter(rule.id, index)
        m = event.member.id
        for limit in rule.limits:
            if limit.max_count is not None:
                given = self.state.get(m, name, periods[limit.window])[0]
                if given >= limit.max_count:
                    out.skipped.append(Skip(rule.id, rv.version, "limit_reached", name))
                    return
        for w in plan.grant_windows:
            self.state.bump(m, name, periods[w], 1)
        out.grants.append(Grant(rule.id, rv.version, index, kind, target))

    def _effect(
        self,
        rv: RuleVersionView,
        plan: _Plan,
        index: int,
        effect: Effect,
        event: EventView,
        periods: dict[str, str],
        n: dict[str, int],
        out: Evaluation,
    ) -> Payout | None:
        rule = rv.definition
        m = event.member.id
        # A first-time or milestone effect that does not apply here is not a skip: most events
        # are not the first or the 10th, and saying so on each would drown the real reasons.
        if effect.when == "first" and n["lifetime"] != 1:
            return None
        if effect.when == "milestone" and n["lifetime"] not in effect.at:
            return None
        explanation: dict[str, Any] = {
            "event": event.client_id,
            "rule": rule.id,
            "version": rv.version,
            "effect": index,
        }
        base: Decimal
        amount_spec = effect.amount
        assert amount_spec is not None
        if amount_spec.fixed is not None:
            base = Decimal(amount_spec.fixed)
            explanation["base"] = {"fixed": amount_spec.fixed}
        elif amount_spec.per_unit is not None:
            pu = amount_spec.per_unit
            raw = event.attributes.get(pu.attribute)
            value = _number(raw)
            if value is None:
                out.skipped.append(Skip(rule.id, rv.version, "missing_attribute", pu.attribute))
                return None
            base = value / pu.unit * pu.rate
            explanation["base"] = {
                "attribute": pu.attribute,
                "value": str(value),
                "unit": pu.unit,
                "rate": str(pu.rate),
            }
        else:
            assert amount_spec.ladder is not None
            nth = n[amount_spec.ladder_window]
            step = next(
                (
                    s
                    for s in amount_spec.ladder
                    if s.from_n <= nth and (s.to_n is None or nth <= s.to_n)
                ),
                None,
            )
            base = Decimal(step.amount if step else 0)
            explanation["base"] = {
                "ladder_n": nth,
                "window": amount_spec.ladder_window,
                "amount": int(base),
            }
        tier_mult = ONE
        campaign: CampaignDefinition | None = None
        if effect.multiply:
            # The rule's own multiplier for the tier wins, else the tier's benefit.
            tier_mult = rule.tier_multipliers.get(event.member.tier, event.member.tier_multiplier)
            campaign = self._campaign(rule, effect.asset, event)
        total_mult = tier_mult
        if campaign is not None:
            total_mult = _stack(tier_mult, campaign.multiplier, campaign.stacking)
        without_campaign = to_units(base * tier_mult, self.rounding)
        amount = (
            without_campaign if campaign is None else to_units(base * total_mult, self.rounding)
        )
        explanation["multipliers"] = self._multipliers(event.member.tier, tier_mult, campaign)
        explanation["rounding"] = self.rounding
        explanation["computed"] = amount
        applied: list[dict[str, Any]] = []
        for limit in rule.limits:
            if limit.asset != effect.asset:
                continue
            paid = self.state.get(m, f"paid:{rule.id}:{effect.asset}", periods[limit.window])
            if limit.max_count is not None and paid[0] >= limit.max_count:
                applied.append(
                    {"window": limit.window, "max_count": limit.max_count, "reached": True}
                )
                amount = 0
            if limit.max_amount is not None:
                room = max(limit.max_amount - paid[1], 0)
                if amount > room:
                    applied.append(
                        {"window": limit.window, "max_amount": limit.max_amount, "cut_to": room}
                    )
                    amount = room
        if applied:
            explanation["limits"] = applied
        if amount > 0 and rule.budget is not None:
            b = self.state.budget(rule.budget, event.occurred_at, self.tz)
            if b is not None:
                if amount > b.remaining:
                    explanation["budget"] = {"id": b.budget_id, "cut_to": b.remaining}
                    amount = b.remaining
                b.spent += amount
        extra = max(amount - without_campaign, 0)
        if amount > 0 and campaign is not None and campaign.budget is not None and extra > 0:
            b = self.state.budget(campaign.budget, event.occurred_at, self.tz)
            if b is not None:
                if extra > b.remaining:
                    explanation["campaign_budget"] = {
                        "id": b.budget_id,
                        "extra_cut_to": b.remaining,
                    }
                    amount -= extra - b.remaining
                    extra = b.remaining
                b.spent += extra
        if amount <= 0:
            reason = (
                "limit_reached"
                if applied
                else (
                    "budget_spent"
                    if "budget" in explanation or "campaign_budget" in explanation
                    else "zero_amount"
                )
            )
            out.skipped.append(Skip(rule.id, rv.version, reason))
            return None
        explanation["amount"] = amount
        if campaign is not None and amount <= without_campaign:
            campaign = None  # its extra was cut to nothing: the payout owes it nothing
        for w in plan.paid_windows[effect.asset]:
            self.state.bump(m, f"paid:{rule.id}:{effect.asset}", periods[w], 0, amount)
        expires_at = (
            event.occurred_at + timedelta(days=effect.expires_in_days)
            if effect.expires_in_days
            else None
        )
        return Payout(
            rule_id=rule.id,
            rule_version=rv.version,
            effect_index=index,
            asset=effect.asset,
            amount=amount,
            review=rule.review,
            campaign_id=campaign.id if campaign else None,
            expires_at=expires_at,
            explanation=explanation,
        )

    def _multipliers(
        self, tier: str, tier_mult: Decimal, campaign: CampaignDefinition | None
    ) -> dict[str, Any]:
        """How the multipliers stacked, for the explanation; the same few combinations recur
        in every batch, so each is spelled once (the dicts are shared: never changed)."""
        key = (tier, tier_mult, id(campaign))
        found = self._explained.get(key)
        if found is None:
            total = tier_mult
            if campaign is not None:
                total = _stack(tier_mult, campaign.multiplier, campaign.stacking)
            found = self._explained[key] = {
                "tier": tier or None,
                "tier_multiplier": str(tier_mult),
                "campaign": campaign.id if campaign else None,
                "campaign_multiplier": str(campaign.multiplier) if campaign else None,
                "stacking": campaign.stacking if campaign else None,
                "total": str(total),
            }
        return found

    def _campaign(
        self, rule: RuleDefinition, asset: str, event: EventView
    ) -> CampaignDefinition | None:
        best: CampaignDefinition | None = None
        for c in self.campaigns:
            if not (c.starts_at <= event.occurred_at < c.ends_at):
                continue
            if c.triggers and event.type not in c.triggers:
                continue
            if c.rules and rule.id not in c.rules:
                continue
            if asset not in c.assets:
                continue
            aud = c.audience
            if aud.tiers and event.member.tier not in aud.tiers:
                continue
            if aud.tags and not set(aud.tags) <= set(event.member.tags):
                continue
            if aud.regions and event.member.region not in aud.regions:
                continue
            if aud.segment and not self._in_segment(aud.segment, event):
                continue
            if best is None or c.multiplier > best.multiplier:
                best = c
        return best

    def _context(
        self,
        condition: str,
        plan: _Plan,
        event: EventView,
        day: date,
        counts: dict[str, int],
        hit_name: str,
        periods: dict[str, str],
    ) -> dict[str, Any]:
        """What the condition reads, and only that: CEL converts every value it is given, and
        a member's context alone costs more than evaluating most conditions."""
        reads = plan.reads
        context: dict[str, Any] = {}
        if "event" in reads:
            context["event"] = self._event_context(event, day, reads)
        if "member" in reads:
            context["member"] = _only(
                _member_context(event.member, event.occurred_at), reads["member"]
            )
        if "counts" in reads:
            context["counts"] = _only(counts, reads["counts"])
        if "hits" in reads:
            m = event.member.id
            wanted = reads["hits"] or _HIT_WINDOWS.keys()
            context["hits"] = {
                alias: self.state.get(m, hit_name, periods[_HIT_WINDOWS[alias]])[0]
                for alias in wanted
                if alias in _HIT_WINDOWS
            }
        if "streak" in reads:
            context["streak"] = self._streak(event.member.id, event.type, day)
        return context

    def _event_context(
        self, event: EventView, day: date, reads: dict[str, frozenset[str] | None]
    ) -> dict[str, Any]:
        fields = reads["event"]
        attributes = event.attributes
        keys = reads.get("event.attributes")
        if fields is not None and keys is not None:
            attributes = {k: attributes[k] for k in keys if k in attributes}
        out: dict[str, Any] = {}
        for name in EVENT_CONTEXT_FIELDS if fields is None else fields:
            if name == "type":
                out[name] = event.type
            elif name == "client_id":
                out[name] = event.client_id
            elif name == "occurred_at":
                out[name] = event.occurred_at
            elif name == "local_date":
                out[name] = day.isoformat()
            elif name == "weekday":
                out[name] = day.isoweekday()
            elif name == "hour":
                out[name] = event.occurred_at.astimezone(self._zone).hour
            elif name == "attributes":
                out[name] = attributes
        return out

    def _in_segment(self, segment: str, event: EventView) -> bool:
        """A member the segment cannot be decided for (a missing attribute) is not in it."""
        context = {"member": _member_context(event.member, event.occurred_at)}
        try:
            return conditions.evaluate(segment, context)
        except (KeyError, RuntimeError, TypeError, ValueError):
            return False

    def _streak(self, member_id: int, event_type: str, day: date) -> int:
        days = self.state.active_days.get((member_id, event_type), set())
        n = 0
        while day - timedelta(days=n) in days:
            n += 1
        return n


EVENT_CONTEXT_FIELDS = (
    "type", "client_id", "occurred_at", "local_date", "weekday", "hour", "attributes",
)  # fmt: skip


def _only(values: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    """The fields of a context value that a condition reads (all when ``fields`` is None)."""
    if fields is None:
        return values
    return {k: values[k] for k in fields if k in values}


def _always(condition: str) -> bool:
    return condition.strip() == "true"


def _stack(tier: Decimal, campaign: Decimal, how: str) -> Decimal:
    if how == "add":
        return tier + campaign - ONE
    if how == "max":
        return max(tier, campaign)
    return tier * campaign


def _number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, str):
        try:
            value = Decimal(raw)
        except ArithmeticError:
            return None
        return value if value.is_finite() else None
    return None  # floats are refused: amounts are integers or decimal strings


def _member_context(member: MemberView, at: datetime) -> dict[str, Any]:
    joined = member.joined_at or at
    return {
        "id": member.external_id,
        "tier": member.tier,
        "tags": list(member.tags),
        "region": member.region,
        "joined_at": joined,
        "days_since_joined": max((at - joined).days, 0),
        "attributes": member.attributes,
        "name": member.name,
        "birthday": member.birthday,
        "locale": member.locale,
        "consent": member.consent,
    }


def _zone(tz: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)
