"""Console tests hash passwords with light argon2 parameters: the production cost (64 MiB,
3 passes) is for attackers, not for a test suite on a shared 2-core machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from jifen.users import service as users


@pytest.fixture(autouse=True, scope="package")
def light_password_hashing() -> Iterator[None]:
    saved = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = saved
