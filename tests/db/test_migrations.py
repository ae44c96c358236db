"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
import pytest
from alembic import command

from jifen.db.migrate import alembic_config, downgrade, upgrade
from tests.conftest import PG_ADMIN_URL


def _roundtrip(url: str) -> None:
    upgrade(url)
    command.check(alembic_config(url))  # raises if the models and migrations differ
    downgrade(url, "base")
    upgrade(url)


def test_sqlite_migrations_match_models_and_downgrade(tmp_path: Path) -> None:
    _roundtrip(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


def test_postgres_migrations_match_models_and_downgrade(pg_url: str) -> None:
    name = f"jifen_mig_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _roundtrip(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
