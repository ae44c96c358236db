"""``jifen rules`` (validate, import, export, dry-run) and ``jifen events load`` on a SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from jifen.api.app import create_app
from jifen.clock import SystemClock
from jifen.config import Settings

RULES_YAML = """
rules:
  - id: buy-points
    name: 1 point per yuan
    trigger: purchase
    effects:
      - amount: {per_unit: {attribute: amount, unit: 100, rate: 1}}
    tier_multipliers: {gold: 1.5}
    limits: [{window: day, max_amount: 500}]
    effective_from: 2026-01-01T00:00:00+08:00
  - id: checkin
    name: 10 points a day
    trigger: check_in
    condition: counts.today == 1
    effects: [{amount: {fixed: 10}}]
    effective_from: 2026-01-01T00:00:00+08:00
"""
BAD_RULES = {
    "rules": [
        {"id": "ok", "name": "fine", "trigger": "share", "effects": [{"amount": {"fixed": 1}}]},
        {"id": "typo", "name": "typo", "trigger": "check_in",
         "condition": "event.atributes.photo == true", "effects": [{"amount": {"fixed": 5}}]},
    ]
}  # fmt: skip


def _jifen(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "jifen.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ok(db: Path, *args: str) -> str:
    done = _jifen(db, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _program(db: Path, pid: str) -> str:
    """Create a program; returns its API key."""
    out = _ok(db, "programs", "create", pid, pid)
    return out.split("(shown once): ")[1].strip()


def test_validate_import_export_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "rules.db"
    _ok(db, "migrate")
    _program(db, "shop")
    _program(db, "copy")
    good = tmp_path / "rules.yaml"
    good.write_text(RULES_YAML, encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(BAD_RULES), encoding="utf-8")

    assert "2 rule(s) OK" in _ok(db, "rules", "validate", str(good))
    refused = _jifen(db, "rules", "validate", str(bad))
    assert refused.returncode == 1
    assert "rule typo: condition: unknown field event.atributes" in refused.stdout
    assert "(at position 6)" in refused.stdout
    assert "1 problem(s) in 2 rule(s)" in refused.stdout
    # Importing a bad set saves nothing.
    refused = _jifen(db, "rules", "import", str(bad), "--program", "shop")
    assert refused.returncode == 1
    assert "invalid_rule" in refused.stdout
    assert json.loads(_ok(db, "rules", "export", "--program", "shop")) == {"rules": []}

    assert "buy-points" in _ok(db, "rules", "import", str(good), "--program", "shop")
    exported = json.loads(_ok(db, "rules", "export", "--program", "shop"))
    assert [r["id"] for r in exported["rules"]] == ["buy-points", "checkin"]
    assert exported["rules"][0]["tier_multipliers"] == {"gold": "1.5"}
    as_yaml = yaml.safe_load(_ok(db, "rules", "export", "-p", "shop", "--format", "yaml"))
    assert as_yaml == exported
    # Round trip: the export imports into another program and exports the same.
    dump = tmp_path / "export.json"
    dump.write_text(json.dumps(exported), encoding="utf-8")
    _ok(db, "rules", "import", str(dump), "--program", "copy")
    assert json.loads(_ok(db, "rules", "export", "--program", "copy")) == exported
    # A second import is a new version of each rule.
    assert "│ 2 " in _ok(db, "rules", "import", str(dump), "--program", "copy")
    missing = _jifen(db, "rules", "export", "--program", "nope")
    assert missing.returncode == 1
    assert "program_not_found" in missing.stdout


def _line(cid: str, type_: str, member: str, at: datetime, **attributes: Any) -> str:
    return json.dumps(
        {"client_id": cid, "type": type_, "member": member, "occurred_at": at.isoformat(),
         "attributes": attributes}
    )  # fmt: skip


async def _balances(db: Path, key: str, members: list[str]) -> dict[str, int]:
    settings = Settings(
        env="test", database_url=f"sqlite+aiosqlite:///{db}", embedded_worker_interval_s=0
    )
    app = create_app(settings, SystemClock())
    out = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://jifen.test"
    ) as client:
        for m in members:
            r = await client.get(
                f"/v1/members/{m}/balances", headers={"Authorization": f"Bearer {key}"}
            )
            assert r.status_code == 200, r.text
            out[m] = next(b["balance"] for b in r.json()["balances"] if b["asset"] == "points")
    await app.state.engine.dispose()
    return out


def test_events_load_then_dry_run(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    _ok(db, "migrate")
    key = _program(db, "shop")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML, encoding="utf-8")
    _ok(db, "rules", "import", str(rules), "--program", "shop")

    t = datetime.now(UTC) - timedelta(days=2)
    lines = [
        _line("e1", "check_in", "u1", t),
        _line("e2", "purchase", "u1", t + timedelta(minutes=1), order_id="o1", amount=12345),
        _line("e3", "check_in", "u1", t + timedelta(minutes=2)),  # second today: no points
        _line("e4", "purchase", "u2", t + timedelta(minutes=3), order_id="o2", amount=5099),
        "",
        "{not json",
        _line("e5", "check_in", "u2", t + timedelta(minutes=4)),
        _line("e1", "check_in", "u1", t),  # the same event again
        _line("old", "check_in", "u2", t - timedelta(days=400)),
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = _ok(db, "events", "load", str(events), "--program", "shop", "--batch", "2")
    assert "processed 5, duplicate 1, refused 2" in out
    assert "invalid_event" in out
    assert "event_too_old" in out
    assert asyncio.run(_balances(db, key, ["u1", "u2"])) == {"u1": 133, "u2": 60}
    # Loading the file again changes nothing.
    again = _ok(db, "events", "load", str(events), "--program", "shop")
    assert "processed 0, duplicate 6, refused 2" in again
    assert asyncio.run(_balances(db, key, ["u1", "u2"])) == {"u1": 133, "u2": 60}

    # Dry-run a doubled check-in over what was loaded.
    doubled = tmp_path / "double.json"
    doubled.write_text(
        json.dumps([{"id": "checkin-x2", "name": "20 a check-in", "trigger": "check_in",
                     "effects": [{"amount": {"fixed": 20}}]}]),
        encoding="utf-8",
    )  # fmt: skip
    window = (
        "--start",
        (t - timedelta(days=1)).isoformat(),
        "--end",
        datetime.now(UTC).isoformat(),
    )
    report = json.loads(_ok(db, "rules", "dry-run", str(doubled), "-p", "shop", *window, "--json"))
    assert report["events_in_window"] == 5
    assert report["events_scanned"] == 3  # the rule's trigger (and refunds/leavers) only
    [points] = report["assets"]
    assert (points["net"], points["value_fen"]) == (60, 600)
    assert points["top_earners"] == [{"member": "u1", "amount": 40}, {"member": "u2", "amount": 20}]
    table = _ok(db, "rules", "dry-run", str(doubled), "-p", "shop", *window, "--include-current")
    assert "top earners (points)" in table
    assert "checkin-x2" in table
    assert "buy-points" in table
    assert asyncio.run(_balances(db, key, ["u1", "u2"])) == {"u1": 133, "u2": 60}
