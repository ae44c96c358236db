"""``jifen users create`` makes the first owner (and gives existing users more roles)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jifen.cli import app
from jifen.config import get_settings
from jifen.db.migrate import upgrade


def test_users_create_then_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    upgrade(url)
    monkeypatch.setenv("JIFEN_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        runner = CliRunner()

        def jifen(*args: str) -> tuple[int, str]:
            result = runner.invoke(app, list(args))
            return result.exit_code, result.output

        assert jifen("programs", "create", "acme", "Acme")[0] == 0
        code, out = jifen(
            "users", "create", "--email", "Ops@Example.cn", "--password", "s3cret-pass",
            "--program", "acme", "--role", "owner",
        )  # fmt: skip
        assert code == 0, out
        assert "created" in out
        code, out = jifen(
            "users", "create", "--email", "ops@example.cn", "--password", "ignored-1",
            "--program", "acme", "--role", "finance",
        )  # fmt: skip
        assert code == 0, out
        assert "exists" in out
        code, out = jifen("users", "list", "--program", "acme")
        assert "ops@example.cn" in out
        assert "owner" in out
        assert "finance" in out
        code, out = jifen(
            "users", "create", "--email", "x@example.cn", "--password", "short",
            "--program", "acme", "--role", "owner",
        )  # fmt: skip
        assert code == 1
        assert "weak_password" in out
        code, out = jifen(
            "users", "create", "--email", "y@example.cn", "--password", "long-enough",
            "--program", "acme", "--role", "boss",
        )  # fmt: skip
        assert code == 1
        assert "unknown_role" in out
    finally:
        get_settings.cache_clear()
