"""Experiments API: define, enrol members, look up a member's group, and the report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from jifen.api.deps import DbDep, ProgramDep
from jifen.experiments import service
from jifen.experiments.schemas import (
    AssignmentOut,
    EnrollOut,
    ExperimentIn,
    ExperimentOut,
    ReportOut,
)
from jifen.ledger.endpoints import PROBLEMS

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ExperimentPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
MemberPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")]


@router.put("/{experiment_id}", response_model=ExperimentOut, responses=PROBLEMS)
async def save_experiment(
    experiment_id: ExperimentPath,
    body: ExperimentIn,
    program: ProgramDep,
    db: DbDep,
    actor: str = "api",
) -> JSONResponse:
    """Create (201) or change (200) an experiment; audited. Members already assigned keep their
    group when the share changes."""
    now = db.now()

    async def run(s: Any) -> tuple[ExperimentOut, bool]:
        return await service.save(s, program, experiment_id, body, now=now, actor=actor)

    out, created = await db.write(run)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("", response_model=list[ExperimentOut], responses=PROBLEMS)
async def list_experiments(program: ProgramDep, db: DbDep) -> list[ExperimentOut]:
    now = db.now()
    return await db.read(lambda s: service.list_experiments(s, program.id, now=now))


@router.get("/{experiment_id}", response_model=ExperimentOut, responses=PROBLEMS)
async def get_experiment(
    experiment_id: ExperimentPath, program: ProgramDep, db: DbDep
) -> ExperimentOut:
    now = db.now()
    return await db.read(lambda s: service.get(s, program.id, experiment_id, now=now))


@router.post("/{experiment_id}/enroll", response_model=EnrollOut, responses=PROBLEMS)
async def enroll(
    experiment_id: ExperimentPath, program: ProgramDep, db: DbDep, actor: str = "api"
) -> EnrollOut:
    """Assign every current member who has no group yet (the whole membership becomes the
    report's population). Safe to repeat: assigned members keep their group."""
    now = db.now()
    return await db.write(lambda s: service.enroll(s, program, experiment_id, now=now, actor=actor))


@router.get("/{experiment_id}/report", response_model=ReportOut, responses=PROBLEMS)
async def report(
    experiment_id: ExperimentPath,
    program: ProgramDep,
    db: DbDep,
    asset: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{1,31}$")] = "points",
) -> ReportOut:
    """Control against treatment over the window so far: active members, events per member,
    net cost in ``asset``, retention, each with a significance test at 0.05."""
    now = db.now()
    return await db.read(
        lambda s: service.report(s, program.id, experiment_id, now=now, asset=asset)
    )


@router.get(
    "/{experiment_id}/assignment/{member_id}", response_model=AssignmentOut, responses=PROBLEMS
)
async def member_assignment(
    experiment_id: ExperimentPath, member_id: MemberPath, program: ProgramDep, db: DbDep
) -> AssignmentOut:
    """A member's group: the stored one, or the one the member would get."""
    now = db.now()
    return await db.read(
        lambda s: service.assignment(s, program.id, experiment_id, member_id, now=now)
    )
