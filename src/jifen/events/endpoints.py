"""Events API: one event or a batch of up to 1,000."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from jifen.api.deps import DbDep, ProgramDep
from jifen.api.problems import PROBLEM
from jifen.events import service
from jifen.events.schemas import EventBatch, EventBatchResult, EventIn, EventResult
from jifen.ledger.endpoints import PROBLEMS

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post("", status_code=201, response_model=EventResult, responses=PROBLEMS)
async def ingest_one(body: EventIn, program: ProgramDep, db: DbDep) -> JSONResponse:
    """Ingest one event. 201 with what it caused; 200 for a replay of the same ``client_id``;
    a problem response when it is refused (too old, in the future, unknown member, conflict)."""
    result = await db.combiner.event(program, body)  # group commit with concurrent requests
    if result.status == "refused":
        assert result.error is not None
        return JSONResponse(
            result.error, status_code=int(result.error["status"]), media_type=PROBLEM
        )
    status = 201 if result.status == "processed" else 200
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


@router.post("/batch", response_model=EventBatchResult, responses=PROBLEMS)
async def ingest_batch(body: EventBatch, program: ProgramDep, db: DbDep) -> EventBatchResult:
    """Ingest up to 1,000 events in one transaction; one result per event, in order."""
    now = db.now()
    results = await db.write(lambda s: service.ingest(s, program, body.events, now=now))
    return EventBatchResult(results=results)
