"""The tasks API: definitions and groups, submissions, the review queue, a member's tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.api.deps import DbDep, IdempotencyHeader, ProgramDep, idempotency_key
from jifen.api.member_auth import MemberDep
from jifen.errors import InvalidInput, NotFound
from jifen.kit.idempotency import Outcome, run_once
from jifen.ledger.endpoints import PROBLEMS, respond
from jifen.ledger.repository import decode_cursor, encode_cursor
from jifen.members import service as members
from jifen.members.endpoints import MemberId
from jifen.programs.context import ProgramContext
from jifen.tasks import service
from jifen.tasks.schemas import (
    ApproveIn,
    ClaimIn,
    MemberTasksOut,
    RejectIn,
    Slug,
    SubmissionIn,
    SubmissionOut,
    SubmissionPage,
    TaskDefinition,
    TaskGroupDefinition,
)

router = APIRouter(prefix="/v1", tags=["tasks"])

SlugPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
SubmissionId = Annotated[int, Path(ge=1, le=2**62)]


class TaskBody(TaskDefinition):
    # The path names the task; a body id, when sent, must agree with it.
    id: Slug | None = None  # type: ignore[assignment]


class GroupBody(TaskGroupDefinition):
    id: Slug | None = None  # type: ignore[assignment]


def _path_id(path_id: str, body_id: str | None) -> str:
    if body_id is not None and body_id != path_id:
        raise InvalidInput(
            f"the body's id {body_id!r} differs from the path's {path_id!r}",
            code="id_mismatch",
            field="id",
        )
    return path_id


@router.put("/task-groups/{group_id}", response_model=TaskGroupDefinition, responses=PROBLEMS)
async def save_group(
    group_id: SlugPath, body: GroupBody, program: ProgramDep, db: DbDep, actor: str = "api"
) -> TaskGroupDefinition:
    """Create or change a task group and its bonus (paid once when all its tasks are done)."""
    now = db.now()
    data = TaskGroupDefinition.model_validate(
        {**body.model_dump(), "id": _path_id(group_id, body.id)}
    )
    return await db.write(lambda s: service.save_group(s, program, data, now=now, actor=actor))


@router.get("/task-groups", response_model=list[TaskGroupDefinition], responses=PROBLEMS)
async def list_groups(program: ProgramDep, db: DbDep) -> list[TaskGroupDefinition]:
    return await db.read(lambda s: service.list_groups(s, program.id))


@router.put("/tasks/{task_id}", response_model=TaskDefinition, responses=PROBLEMS)
async def save_task(
    task_id: SlugPath, body: TaskBody, program: ProgramDep, db: DbDep, actor: str = "api"
) -> TaskDefinition:
    """Create or change a task (audited)."""
    now = db.now()
    data = TaskDefinition.model_validate(
        {**body.model_dump(exclude_unset=True), "id": _path_id(task_id, body.id)}
    )
    return await db.write(lambda s: service.save_task(s, program, data, now=now, actor=actor))


@router.get("/tasks", response_model=list[TaskDefinition], responses=PROBLEMS)
async def list_tasks(program: ProgramDep, db: DbDep) -> list[TaskDefinition]:
    return await db.read(lambda s: service.list_tasks(s, program.id))


@router.get("/tasks/{task_id}", response_model=TaskDefinition, responses=PROBLEMS)
async def get_task(task_id: str, program: ProgramDep, db: DbDep) -> TaskDefinition:
    return await db.read(lambda s: service.get_task(s, program.id, task_id))


# --- submissions ------------------------------------------------------------------------------


async def _submit(
    db: Any, program: ProgramContext, member: str, task_id: str, body: SubmissionIn, key: str
) -> JSONResponse:
    now = db.now()
    payload = {
        "member": member,
        "task": task_id,
        "proof_url": body.proof_url,
        "proof_text": body.proof_text,
    }

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            # Like events, a submission for an unknown member creates it when the program
            # creates members automatically.
            refs = await members.resolve_known(
                s, program.id, [member], create=program.settings.auto_create_members, now=now
            )
            if member not in refs:
                raise NotFound(
                    f"member {member!r} not found", code="member_not_found", field="member"
                )
            out = await service.submit(
                s,
                program,
                member_id=refs[member].id,
                member=member,
                task_id=task_id,
                proof_url=body.proof_url,
                proof_text=body.proof_text,
                now=now,
            )
            return Outcome(201, out.model_dump(mode="json"))

        # Member-chosen keys are namespaced by member: two members may pick the same key.
        return await run_once(
            s,
            program.id,
            key=f"task-submission:{member}:{key}",
            operation="task.submit",
            payload=payload,
            now=now,
            apply=apply,
        )

    return respond(await db.write(run))


@router.post(
    "/members/{member_id}/tasks/{task_id}/submissions",
    status_code=201,
    response_model=SubmissionOut,
    responses=PROBLEMS,
)
async def submit_for_member(
    member_id: MemberId,
    task_id: SlugPath,
    body: SubmissionIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Submit a member's proof (screenshot URL and/or text) for review."""
    k = idempotency_key(key, body.idempotency_key)
    return await _submit(db, program, member_id, task_id, body, k)


@router.post(
    "/me/tasks/{task_id}/submissions",
    status_code=201,
    response_model=SubmissionOut,
    responses=PROBLEMS,
    tags=["me (member token)"],
)
async def submit_mine(
    task_id: SlugPath, body: SubmissionIn, who: MemberDep, db: DbDep, key: IdempotencyHeader = None
) -> JSONResponse:
    """Submit my proof for a task."""
    k = idempotency_key(key, body.idempotency_key)
    return await _submit(db, who.program, who.member, task_id, body, k)


# --- the review queue -------------------------------------------------------------------------


@router.get("/task-submissions", response_model=SubmissionPage, responses=PROBLEMS)
async def list_submissions(
    program: ProgramDep,
    db: DbDep,
    status: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = "pending",
    task_id: Annotated[str | None, Query(max_length=80)] = None,
    member: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SubmissionPage:
    """Submissions by status (pending: the review queue), oldest first, paged by cursor."""
    after = decode_cursor(cursor)

    async def run(s: AsyncSession) -> SubmissionPage:
        rows = await service.list_submissions(
            s,
            program.id,
            status=status,
            task_id=task_id,
            member=member,
            after_id=after,
            limit=limit + 1,
        )
        nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return SubmissionPage(items=rows[:limit], next_cursor=nxt)

    return await db.read(run)


@router.get("/task-submissions/{submission_id}", response_model=SubmissionOut, responses=PROBLEMS)
async def get_submission(
    submission_id: SubmissionId, program: ProgramDep, db: DbDep
) -> SubmissionOut:
    return await db.read(lambda s: service.get_submission(s, program.id, submission_id))


async def _review(
    db: Any,
    program: ProgramContext,
    operation: str,
    submission_id: int,
    body: ClaimIn | ApproveIn | RejectIn,
    header_key: str | None,
    action: Callable[[AsyncSession], Awaitable[SubmissionOut]],
) -> JSONResponse:
    """Run a review action; with an idempotency key its first outcome is final. Without one it
    is still safe to repeat: claiming or deciding again as the same reviewer changes nothing."""
    now = db.now()
    key = (
        idempotency_key(header_key, body.idempotency_key)
        if header_key or body.idempotency_key
        else None
    )
    payload = {"id": submission_id, **body.model_dump(include={"reviewer", "reason"})}

    async def run(s: AsyncSession) -> Outcome:
        async def apply() -> Outcome:
            return Outcome(200, (await action(s)).model_dump(mode="json"))

        if key is None:
            return await apply()
        return await run_once(
            s,
            program.id,
            key=f"task-review:{key}",
            operation=operation,
            payload=payload,
            now=now,
            apply=apply,
        )

    return respond(await db.write(run))


async def _decide(
    db: Any,
    program: ProgramContext,
    submission_id: int,
    body: ApproveIn | RejectIn,
    header_key: str | None,
    *,
    approve: bool,
) -> JSONResponse:
    now = db.now()
    return await _review(
        db,
        program,
        "task.approve" if approve else "task.reject",
        submission_id,
        body,
        header_key,
        lambda s: service.decide(
            s,
            program,
            submission_id,
            approve=approve,
            reviewer=body.reviewer,
            reason=body.reason,
            now=now,
        ),
    )


@router.post(
    "/task-submissions/{submission_id}/claim", response_model=SubmissionOut, responses=PROBLEMS
)
async def claim(
    submission_id: SubmissionId,
    body: ClaimIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Take a pending submission; another reviewer cannot claim or decide it then."""
    now = db.now()
    return await _review(
        db,
        program,
        "task.claim",
        submission_id,
        body,
        key,
        lambda s: service.claim(s, program, submission_id, reviewer=body.reviewer, now=now),
    )


@router.post(
    "/task-submissions/{submission_id}/release", response_model=SubmissionOut, responses=PROBLEMS
)
async def release(
    submission_id: SubmissionId,
    body: ClaimIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Give a claimed submission back to the queue (its claimer only)."""
    now = db.now()
    return await _review(
        db,
        program,
        "task.release",
        submission_id,
        body,
        key,
        lambda s: service.release(s, program, submission_id, reviewer=body.reviewer, now=now),
    )


@router.post(
    "/task-submissions/{submission_id}/approve", response_model=SubmissionOut, responses=PROBLEMS
)
async def approve(
    submission_id: SubmissionId,
    body: ApproveIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Approve: the task is completed and its reward paid, exactly once."""
    return await _decide(db, program, submission_id, body, key, approve=True)


@router.post(
    "/task-submissions/{submission_id}/reject", response_model=SubmissionOut, responses=PROBLEMS
)
async def reject(
    submission_id: SubmissionId,
    body: RejectIn,
    program: ProgramDep,
    db: DbDep,
    key: IdempotencyHeader = None,
) -> JSONResponse:
    """Reject with a reason; the member may submit again while the task is open."""
    return await _decide(db, program, submission_id, body, key, approve=False)


# --- a member's tasks -------------------------------------------------------------------------


@router.get("/members/{member_id}/tasks", response_model=MemberTasksOut, responses=PROBLEMS)
async def member_tasks(member_id: MemberId, program: ProgramDep, db: DbDep) -> MemberTasksOut:
    """Every enabled task with the member's status in its current period."""
    now = db.now()
    return await db.read(lambda s: service.member_tasks(s, program, member_id, now=now))


@router.get(
    "/me/tasks", response_model=MemberTasksOut, responses=PROBLEMS, tags=["me (member token)"]
)
async def my_tasks(who: MemberDep, db: DbDep) -> MemberTasksOut:
    """My tasks with their status in the current period (today, for daily tasks)."""
    now = db.now()
    return await db.read(lambda s: service.member_tasks(s, who.program, who.member, now=now))
