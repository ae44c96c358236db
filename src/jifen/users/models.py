"""Tables of the users domain: console users, their roles per program, sessions, review claims.

Console users are server-wide (one person may work on several programs), so ``console_users``
and ``console_sessions`` carry no ``program_id``; what a user may see is ``console_grants``, whose
key starts with the program.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.db import Base, BigIntPK, UTCDateTime


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # argon2id hash (argon2-cffi), never the password.
    password_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsoleGrant(Base):
    """One role of one user in one program."""

    __tablename__ = "console_grants"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("console_users.id"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """A signed-in browser; the cookie holds the secret whose SHA-256 is ``id``."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("console_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewClaim(Base):
    """A reviewer has taken a pending review, so two reviewers do not work on the same one."""

    __tablename__ = "console_review_claims"

    program_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    review_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("console_users.id"))
    user_email: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["ConsoleGrant", "ConsoleSession", "ConsoleUser", "ReviewClaim"]
