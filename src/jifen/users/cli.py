"""``jifen users ...``: create console users and give them roles (the first owner included)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jifen.clock import SystemClock
from jifen.config import get_settings
from jifen.errors import JifenError
from jifen.users.roles import ROLES

users_app = typer.Typer(help="Console users and their roles per program", no_args_is_help=True)
console = Console()


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login email")],
    password: Annotated[str, typer.Option(help="At least 8 characters")],
    program: Annotated[str, typer.Option("--program", "-p", help="Program id")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")] = "owner",
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
) -> None:
    """Create a console user (or give an existing one another role) in a program."""
    from jifen.db.engine import make_engine, make_sessionmaker
    from jifen.users import service

    async def run() -> bool:
        settings = get_settings()
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as s, s.begin():
                _, created = await service.ensure_user(
                    s,
                    email=email,
                    password=password,
                    program_id=program,
                    role=role,
                    name=name,
                    now=SystemClock().now(),
                    actor="cli",
                )
                return created
        finally:
            await engine.dispose()

    try:
        created = asyncio.run(run())
    except JifenError as exc:
        console.print(f"[red]{escape(exc.code)}[/red]: {escape(exc.detail)}", highlight=False)
        raise typer.Exit(1) from exc
    what = "created" if created else "exists"
    console.print(f"user {escape(email)} {what}; role {role} in program {escape(program)}")


@users_app.command("list")
def users_list(program: Annotated[str, typer.Option("--program", "-p")]) -> None:
    """Who has which role in a program."""
    from jifen.db.engine import make_engine, make_sessionmaker
    from jifen.users import service

    async def run() -> list[tuple[str, str, str]]:
        engine = make_engine(get_settings().database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as s, s.begin():
                return await service.program_users(s, program)
        finally:
            await engine.dispose()

    table = Table("email", "name", "role")
    for row in asyncio.run(run()):
        table.add_row(*row)
    console.print(table)
