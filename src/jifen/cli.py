"""The ``jifen`` command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jifen.clock import SystemClock
from jifen.config import get_settings

if TYPE_CHECKING:
    from jifen.api.deps import Db
    from jifen.programs.context import ProgramContext

T = TypeVar("T")

app = typer.Typer(help="jifen (积分): membership and points engine", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled jobs, run once", no_args_is_help=True)
programs_app = typer.Typer(help="Programs and API keys", no_args_is_help=True)
rules_app = typer.Typer(
    help="Earning rules: validate, import, export, dry-run", no_args_is_help=True
)
events_app = typer.Typer(help="Events: bulk load", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(jobs_app, name="jobs")
app.add_typer(programs_app, name="programs")
app.add_typer(rules_app, name="rules")
app.add_typer(events_app, name="events")
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
    """Serve the API, console and portal (and run the embedded worker: jobs and webhooks)."""
    import uvicorn

    from jifen.kit.runtime import tune_gc
    from jifen.logging import configure

    settings = get_settings()
    configure(json=settings.log_json, level=settings.log_level)
    tune_gc()
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
            return await load_demo(sm, SystemClock(), get_settings())
        finally:
            await engine.dispose()

    key = asyncio.run(run())
    if key is None:
        console.print("demo program already loaded")
    else:
        from jifen.api import member_auth

        settings = get_settings()
        token = member_auth.issue(
            settings.secret_key,
            program_id="demo",
            member="m001",
            expires_at=SystemClock().now() + member_auth.MAX_TTL,
        )
        console.print(f"demo program loaded; API key (shown once): [bold]{key}[/bold]")
        console.print(
            "console: http://127.0.0.1:8000/console  (owner@demo.jifen / jifen-demo)\n"
            f"member portal (王芳, m001, 30 days): http://127.0.0.1:8000/m?token={token}",
            soft_wrap=True,
        )


@app.command()
def worker(
    interval: Annotated[float, typer.Option(help="Seconds between passes of the jobs")] = 5.0,
    dispatch_interval: Annotated[
        float, typer.Option(help="Seconds between outbox passes when idle")
    ] = 1.0,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Messages per dispatch")] = 100,
    timeout: Annotated[float, typer.Option(help="Webhook HTTP timeout, seconds")] = 5.0,
    jobs: Annotated[bool, typer.Option(help="Also run the scheduled jobs")] = True,
) -> None:
    """Dispatch the outbox (webhooks) and run every scheduled job; SIGTERM stops it gracefully."""
    import signal

    from jifen.kit.runtime import tune_gc
    from jifen.logging import configure
    from jifen.webhooks.dispatcher import DispatchConfig
    from jifen.webhooks.worker import run_worker

    settings = get_settings()
    configure(json=settings.log_json, level=settings.log_level)
    tune_gc()
    config = DispatchConfig(batch=batch, timeout_s=timeout)

    async def loop() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        engine, sm = _sessionmaker()
        try:
            await run_worker(
                sm,
                SystemClock(),
                stop,
                job_interval=interval,
                dispatch_interval=dispatch_interval,
                config=config,
                jobs=jobs,
            )
        finally:
            await engine.dispose()

    asyncio.run(loop())


@jobs_app.command("run")
def jobs_run(
    name: Annotated[
        str,
        typer.Argument(
            help="holds | expire | coupons | lottery | referrals | tiers | reminders | "
            "birthdays | leaderboards | seal | all"
        ),
    ],
    program: Annotated[str | None, typer.Option(help="Only this program")] = None,
) -> None:
    """Run a job once, to completion. Safe to re-run, and to run beside a worker."""
    from jifen.jobs.runner import JOBS, job_order, run_job

    names = job_order() if name == "all" else [name]
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


# --- rules ---------------------------------------------------------------------------------

ProgramOpt = Annotated[str, typer.Option("--program", "-p", help="Program id")]
FileArg = Annotated[Path, typer.Argument(help="A JSON or YAML file", exists=True, dir_okay=False)]


def _load_document(path: Path) -> Any:
    """JSON or YAML, by the file's suffix (else JSON first, then YAML)."""
    import json

    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            if path.suffix.lower() == ".json":
                raise
            return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        console.print(f"[red]cannot read {escape(str(path))}[/red]: {escape(str(exc))}")
        raise typer.Exit(1) from exc


def _read_rules(path: Path) -> list[Any]:
    """The rules of a file holding ``{"rules": [...]}``, a list of rules, or one rule."""
    doc = _load_document(path)
    if isinstance(doc, dict) and isinstance(doc.get("rules"), list):
        return list(doc["rules"])
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "id" in doc:
        return [doc]
    console.print(f'[red]{escape(str(path))}: expected {{"rules": [...]}} or a list of rules[/red]')
    raise typer.Exit(1)


def _print_problems(problems: list[dict[str, Any]]) -> None:
    for p in problems:
        where = f" (at position {p['position']})" if p.get("position") is not None else ""
        console.print(
            f"[red]rule {escape(str(p['rule']))}[/red]: {escape(str(p['field']))}: "
            f"{escape(str(p['message']))}{where}",
            highlight=False,
        )


async def _context(s: AsyncSession, program_id: str) -> ProgramContext:
    from jifen.programs import service as programs

    return await programs.get_context(s, program_id)


def _run_db(fn: Callable[[Db], Awaitable[T]]) -> T:
    """Run ``fn`` against the configured database; a jifen error prints and exits 1."""
    from jifen.api.deps import Db
    from jifen.errors import JifenError

    async def run() -> T:
        engine, sm = _sessionmaker()
        try:
            return await fn(Db(sm, SystemClock()))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except JifenError as exc:
        console.print(f"[red]{escape(exc.code)}[/red]: {escape(exc.detail)}", highlight=False)
        if isinstance(exc.extra.get("problems"), list):
            _print_problems(exc.extra["problems"])
        raise typer.Exit(1) from exc


@rules_app.command("validate")
def rules_validate(
    file: FileArg,
    program: Annotated[
        str | None, typer.Option("--program", "-p", help="Also check assets against this program")
    ] = None,
) -> None:
    """Check a rule file without saving it; prints every problem, exits 1 if there is any."""
    from jifen.rules import service

    raws = _read_rules(file)
    assets: set[str] | None = None
    if program is not None:
        pid = program

        async def codes(db: Db) -> set[str]:
            async def run(s: AsyncSession) -> set[str]:
                await _context(s, pid)
                return await service._asset_codes(s, pid)

            return await db.read(run)

        assets = _run_db(codes)
    problems = [
        p.model_dump() for raw in raws for p in service.problems_of(raw, known_assets=assets)
    ]
    if problems:
        _print_problems(problems)
        console.print(f"{len(problems)} problem(s) in {len(raws)} rule(s)")
        raise typer.Exit(1)
    console.print(f"{len(raws)} rule(s) OK")


@rules_app.command("import")
def rules_import(file: FileArg, program: ProgramOpt) -> None:
    """Save every rule of the file as a new version; nothing is saved if any rule is bad."""
    from jifen.rules import service

    raws = _read_rules(file)

    async def save(db: Db) -> list[tuple[str, int, str]]:
        now = db.now()

        async def run(s: AsyncSession) -> list[tuple[str, int, str]]:
            ctx = await _context(s, program)
            rows = await service.save_many(s, ctx, raws, now=now, actor="cli")
            return [(r.rule_id, r.version, r.effective_from.isoformat()) for r in rows]

        return await db.write(run)

    table = Table("rule", "version", "effective from")
    for rule_id, version, effective in _run_db(save):
        table.add_row(rule_id, str(version), effective)
    console.print(table)


@rules_app.command("export")
def rules_export(
    program: ProgramOpt,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json | yaml")] = "json",
) -> None:
    """Print the rules in force now, in the import format."""
    import json

    import yaml

    from jifen.rules import service

    if fmt not in ("json", "yaml"):
        console.print("[red]--format is json or yaml[/red]")
        raise typer.Exit(2)

    async def load(db: Db) -> list[dict[str, Any]]:
        now = db.now()

        async def run(s: AsyncSession) -> list[dict[str, Any]]:
            await _context(s, program)
            return service.export_definitions(await service.current(s, program, at=now))

        return await db.read(run)

    doc = {"rules": _run_db(load)}
    if fmt == "yaml":
        typer.echo(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), nl=False)
    else:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))


def _instant(value: str, tz: str, name: str) -> datetime:
    """An ISO date or datetime; without an offset it is in the program's time zone."""
    from zoneinfo import ZoneInfo

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        console.print(f"[red]{name}: not an ISO date or datetime: {escape(value)}[/red]")
        raise typer.Exit(2) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed


@rules_app.command("dry-run")
def rules_dry_run(
    file: FileArg,
    program: ProgramOpt,
    start: Annotated[
        str, typer.Option(help="ISO date or datetime (program time zone if no offset)")
    ],
    end: Annotated[str, typer.Option(help="ISO date or datetime, exclusive")],
    include_current: Annotated[
        bool, typer.Option(help="Also run the rules stored now (same id: the file's wins)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """What the file's rules would have paid over the stored events of [start, end). Writes nothing."""
    from jifen.rules import dryrun

    raws = _read_rules(file)

    async def simulate(db: Db) -> tuple[dryrun.DryRunReport, str]:
        now = db.now()

        async def run(s: AsyncSession) -> tuple[dryrun.DryRunReport, str]:
            ctx = await _context(s, program)
            tz = ctx.settings.timezone
            report = await dryrun.dry_run(
                s,
                ctx,
                raws,
                start=_instant(start, tz, "--start"),
                end=_instant(end, tz, "--end"),
                now=now,
                include_current=include_current,
            )
            return report, tz

        return await db.read(run)

    report, tz = _run_db(simulate)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    _print_report(report, tz)


def _print_report(report: Any, tz: str) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    window = (
        f"{report.start.astimezone(zone).isoformat()} → {report.end.astimezone(zone).isoformat()}"
    )
    summary = Table("dry-run", "", title=f"program {report.program_id}", show_header=False)
    summary.add_row("window", window)
    summary.add_row("rules", ", ".join(report.rules))
    summary.add_row("events in window", str(report.events_in_window))
    summary.add_row("events replayed", str(report.events_scanned))
    summary.add_row("events that would pay", str(report.events_paying))
    summary.add_row("events sent to review", str(report.events_to_review))
    summary.add_row("members affected", str(report.members_affected))
    console.print(summary)
    cost = Table("asset", "paid", "reversed", "net", "value (yuan)", "pending review", "members")
    for a in report.assets:
        value = f"{a.value_fen / 100:.2f}" if a.value_fen is not None else "-"
        cost.add_row(
            a.asset,
            str(a.paid),
            str(a.reversed),
            str(a.net),
            value,
            str(a.pending_review),
            str(a.members),
            style="bold" if a.asset == "points" else None,
        )
    console.print(cost)
    for a in report.assets:
        top = Table("#", "member", a.asset, title=f"top earners ({a.asset})")
        for i, e in enumerate(a.top_earners, 1):
            top.add_row(str(i), e.member, str(e.amount))
        console.print(top)
        hist = Table("from", "to", "members", "", title=f"distribution per member ({a.asset})")
        most = max((b.members for b in a.distribution), default=0)
        for b in a.distribution:
            bar = "█" * (round(30 * b.members / most) if most else 0)
            hist.add_row(str(b.low), str(b.high), str(b.members), bar)
        console.print(hist)
    rules = Table("rule", "version", "source", "hits", "payouts", "members", "paid", "reversed")
    for r in report.per_rule:
        rules.add_row(
            r.rule_id,
            str(r.version),
            r.source,
            str(r.hits),
            str(r.payouts),
            str(r.members),
            ", ".join(f"{k} {v}" for k, v in r.paid.items()) or "-",
            ", ".join(f"{k} {v}" for k, v in r.reversed.items()) or "-",
        )
    console.print(rules)
    if report.skips:
        skips = Table("rule", "skipped because", "events", title="skips")
        for sk in report.skips:
            skips.add_row(sk.rule_id, sk.reason, str(sk.count))
        console.print(skips)
    if report.budgets:
        budgets = Table("budget", "period", "asset", "limit", "spent", "exhausted")
        for b in report.budgets:
            budgets.add_row(
                b.budget_id,
                b.period,
                b.asset,
                str(b.limit),
                str(b.spent),
                "yes" if b.exhausted else "",
            )
        console.print(budgets)
    for w in report.warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(w)}", highlight=False)


# --- events --------------------------------------------------------------------------------


@events_app.command("load")
def events_load(
    file: Annotated[
        Path, typer.Argument(help="JSON lines: one event a line", exists=True, dir_okay=False)
    ],
    program: ProgramOpt,
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Events per transaction")] = 1000,
) -> None:
    """Ingest events from a JSON-lines file, in batches, as the API would."""
    import json
    from collections import Counter

    from pydantic import ValidationError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from jifen.events import service as events
    from jifen.events.schemas import EventIn, EventResult

    with file.open(encoding="utf-8") as f:
        total = sum(1 for line in f if line.strip())
    totals: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    examples: list[str] = []

    def refuse(where: str, code: str, detail: str) -> None:
        totals["refused"] += 1
        refusals[code] += 1
        if len(examples) < 10:
            examples.append(f"{where}: {code}: {detail}")

    async def load(db: Db) -> None:
        ctx = await db.read(lambda s: _context(s, program))

        async def flush(chunk: list[tuple[int, EventIn]]) -> None:
            now = db.now()
            items = [e for _, e in chunk]
            results: list[EventResult] = await db.write(
                lambda s: events.ingest(s, ctx, items, now=now)
            )
            for (line_no, _), r in zip(chunk, results, strict=True):
                if r.status == "refused":
                    err = r.error or {}
                    refuse(f"line {line_no}", str(err.get("code")), str(err.get("detail")))
                else:
                    totals[r.status] += 1
            progress.advance(task, len(chunk))

        chunk: list[tuple[int, EventIn]] = []
        with file.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    chunk.append((line_no, EventIn.model_validate(json.loads(line))))
                except (json.JSONDecodeError, ValidationError) as exc:
                    first = str(exc).splitlines()[0:3]
                    refuse(f"line {line_no}", "invalid_event", " ".join(first))
                    progress.advance(task)
                    continue
                if len(chunk) >= batch:
                    await flush(chunk)
                    chunk = []
        if chunk:
            await flush(chunk)

    with Progress(
        TextColumn("loading events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("events", total=total)
        _run_db(load)
    console.print(
        f"processed {totals['processed']}, duplicate {totals['duplicate']}, "
        f"refused {totals['refused']}",
        highlight=False,
    )
    if refusals:
        table = Table("refused because", "events")
        for code, n in refusals.most_common():
            table.add_row(code, str(n))
        console.print(table)
        for line in examples:
            console.print(f"  {escape(line)}", highlight=False)


# Console users (`jifen users create ...`), defined with the users domain.
from jifen.users.cli import users_app  # noqa: E402

app.add_typer(users_app, name="users")

if __name__ == "__main__":
    app()
