"""The ``jifen`` command line on a fresh SQLite database: migrate, demo, jobs, verify."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _jifen(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "jifen.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_demo_jobs_and_verify(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert _jifen(db, "migrate").returncode == 0
    first = _jifen(db, "demo")
    assert first.returncode == 0, first.stderr
    assert "jf_" in first.stdout
    again = _jifen(db, "demo")
    assert "already loaded" in again.stdout
    jobs = _jifen(db, "jobs", "run", "all")
    assert jobs.returncode == 0, jobs.stderr
    verify = _jifen(db, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "program demo: OK" in verify.stdout
    unknown = _jifen(db, "jobs", "run", "nope")
    assert unknown.returncode == 2
