"""The JSON examples in docs/concepts/rules.md are valid rules, limits, campaigns and budgets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jifen.campaigns.schemas import BudgetIn, CampaignDefinition
from jifen.events.schemas import EventIn
from jifen.rules import service
from jifen.rules.schemas import Limit

DOC = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "rules.md"
ASSETS = {"points", "growth", "cash"}


def _blocks() -> list[Any]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


def test_every_json_example_validates() -> None:
    rules = campaigns = 0
    for block in _blocks():
        if isinstance(block, list):
            for limit in block:
                Limit.model_validate(limit)
        elif "transaction_id" in block:
            continue  # an explain answer
        elif "client_id" in block:
            EventIn.model_validate(block)
        elif "rules" in block or "trigger" in block:
            raws = block.get("rules", [block])
            problems = [p for r in raws for p in service.problems_of(r, known_assets=ASSETS)]
            assert problems == [], problems
            rules += len(raws)
        elif "multiplier" in block:
            CampaignDefinition.model_validate(block)
            campaigns += 1
        else:
            BudgetIn.model_validate(block)
    assert rules >= 15
    assert campaigns == 1
