"""Settings: one object, read from the environment (prefix ``JIFEN_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./jifen.db"
DEV_ADMIN_TOKEN = "dev-admin-token"  # noqa: S105 - refused outside development, see below
DEV_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105 - refused in production, see below


class Settings(BaseSettings):
    """Runtime configuration. Unsafe defaults are refused when ``env`` is ``production``."""

    model_config = SettingsConfigDict(env_prefix="JIFEN_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    # The operator token that may create programs and API keys (server administration).
    admin_token: str = DEV_ADMIN_TOKEN
    # Redis for leaderboards and rate limits (optional; the database serves when unset),
    # e.g. redis://127.0.0.1:6379/0
    redis_url: str | None = None
    # Signs member tokens and console sessions.
    secret_key: str = DEV_SECRET_KEY
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_echo: bool = False
    log_json: bool = False
    log_level: str = "INFO"
    # Seconds between runs of the embedded job loop in `jifen serve` (0 turns it off).
    embedded_worker_interval_s: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env == "production" and self.admin_token == DEV_ADMIN_TOKEN:
            raise ValueError("JIFEN_ADMIN_TOKEN must be set to a secret value in production")
        if self.env == "production" and len(self.admin_token) < 24:
            raise ValueError("JIFEN_ADMIN_TOKEN must be at least 24 characters in production")
        if self.env == "production" and (
            self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32
        ):
            raise ValueError("JIFEN_SECRET_KEY must be a secret of at least 32 characters")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
