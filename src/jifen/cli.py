"""The ``jifen`` command line."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jifen.clock import SystemClock
from jifen.config import get_settings

app = typer.Typer(help="jifen (积分): membership and points engine", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled jobs, run once", no_args_is_help=True)
programs_app = typer.Typer(help="Programs and API keys", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(jobs_app, name="jobs")
app.add_typer(programs_app, name="programs")
console = Console()


def _sessionmaker() -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    from jifen.db.engine import make_engine, make_sessionmaker

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    return engine, make_sessionmaker(engine)


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (Alembic)."""
    from jifen.db.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"database at [bold]{revision}[/bold]")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    reload: bool = False,
) -> None:
    """Serve the API (and run the embedded job loop)."""
    import uvicorn

    from jifen.logging import configure

    settings = get_settings()
    configure(json=settings.log_json, level=settings.log_level)
    uvicorn.run(
        "jifen.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
    )


@app.command()
def demo() -> None:
    """Load the demo program (members and history); prints its API key once."""
    from jifen.demo import load_demo

    async def run() -> str | None:
        engine, sm = _sessionmaker()
        try:
            return await load_demo(sm, SystemClock())
        finally:
            await engine.dispose()

    key = asyncio.run(run())
    if key is None:
        console.print("demo program already loaded")
    else:
        console.print(f"demo program loaded; API key (shown once): [bold]{key}[/bold]")


@app.command()
def worker(interval: Annotated[float, typer.Option(help="Seconds between passes")] = 5.0) -> None:
    """Run the scheduled jobs in a loop (hold lapse, expiry, chain sealing)."""
    from jifen.jobs.runner import run_all
    from jifen.logging import configure

    settings = get_settings()
    configure(json=settings.log_json, level=settings.log_level)

    async def loop() -> None:
        engine, sm = _sessionmaker()
        try:
            while True:
                await run_all(sm, SystemClock())
                await asyncio.sleep(interval)
        finally:
            await engine.dispose()

    asyncio.run(loop())


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="holds | expire | seal | all")],
    program: Annotated[str | None, typer.Option(help="Only this program")] = None,
) -> None:
    """Run a job once, to completion. Safe to re-run, and to run beside a worker."""
    from jifen.jobs.runner import JOBS, run_job

    names = list(JOBS) if name == "all" else [name]
    for n in names:
        if n not in JOBS:
            console.print(f"[red]unknown job {n!r}[/red]; one of: {', '.join(JOBS)}, all")
            raise typer.Exit(2)

    async def run() -> None:
        engine, sm = _sessionmaker()
        try:
            for n in names:
                for r in await run_job(n, sm, SystemClock(), program_id=program):
                    console.print(f"{r.job}: program {r.program}: {r.count}")
        finally:
            await engine.dispose()

    asyncio.run(run())


@ledger_app.command("verify")
def ledger_verify(
    program: Annotated[str | None, typer.Option(help="Only this program")] = None,
    seal: Annotated[
        bool, typer.Option(help="Seal pending transactions into the chain first")
    ] = True,
) -> None:
    """Check conservation, balances, lots, holds and the hash chain. Exits 1 on any breach."""
    from jifen.ledger import chain
    from jifen.ledger.verify import verify
    from jifen.programs import service as programs

    async def run() -> bool:
        engine, sm = _sessionmaker()
        ok = True
        try:
            async with sm() as s, s.begin():
                ids = [program] if program else [p.id for p in await programs.list_programs(s)]
                if program:
                    await programs.get_program(s, program)
            for pid in ids:
                if seal:
                    while True:
                        async with sm() as s, s.begin():
                            if await chain.seal(s, pid, now=SystemClock().now()) == 0:
                                break
                async with sm() as s, s.begin():
                    report = await verify(s, pid)
                console.print(report.summary())
                for breach in report.breaches:
                    console.print(f"  [red]{breach}[/red]")
                ok = ok and report.ok
        finally:
            await engine.dispose()
        return ok

    if not asyncio.run(run()):
        raise typer.Exit(1)


@ledger_app.command("seal")
def ledger_seal(program: Annotated[str | None, typer.Option()] = None) -> None:
    """Link new transactions into each program's hash chain."""
    jobs_run("seal", program)


@programs_app.command("create")
def programs_create(
    program_id: str,
    name: str,
    timezone: str = "Asia/Shanghai",
) -> None:
    """Create a program and print its first API key."""
    from jifen.programs import service as programs
    from jifen.programs.schemas import ProgramCreate, ProgramSettings

    async def run() -> str:
        engine, sm = _sessionmaker()
        try:
            async with sm() as s, s.begin():
                now = SystemClock().now()
                data = ProgramCreate(
                    id=program_id, name=name, settings=ProgramSettings(timezone=timezone)
                )
                await programs.create_program(s, data, now=now, actor="cli")
                _, key = await programs.create_api_key(
                    s, program_id, "default", now=now, actor="cli"
                )
                return key
        finally:
            await engine.dispose()

    key = asyncio.run(run())
    console.print(f"program {program_id} created; API key (shown once): [bold]{key}[/bold]")


@programs_app.command("list")
def programs_list() -> None:
    from jifen.programs import service as programs

    async def run() -> list[tuple[str, str]]:
        engine, sm = _sessionmaker()
        try:
            async with sm() as s, s.begin():
                return [(p.id, p.name) for p in await programs.list_programs(s)]
        finally:
            await engine.dispose()

    table = Table("id", "name")
    for pid, name in asyncio.run(run()):
        table.add_row(pid, name)
    console.print(table)


@programs_app.command("key")
def programs_key(program_id: str, name: str = "cli") -> None:
    """Issue a new API key for a program (printed once)."""
    from jifen.programs import service as programs

    async def run() -> str:
        engine, sm = _sessionmaker()
        try:
            async with sm() as s, s.begin():
                _, key = await programs.create_api_key(
                    s, program_id, name, now=SystemClock().now(), actor="cli"
                )
                return key
        finally:
            await engine.dispose()

    console.print(asyncio.run(run()))


if __name__ == "__main__":
    app()
