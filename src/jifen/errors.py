"""Errors a caller can act on, each with a stable ``code`` and an HTTP status.

Every error is rendered once, in ``jifen.api.problems``, as RFC 9457 ``application/problem+json``::

    JifenError                      (500 internal_error, never raised directly)
    ├── BadRequest                  400
    │   └── IdempotencyKeyRequired  400 idempotency_key_required
    ├── Unauthorized                401 unauthorized / invalid_api_key
    ├── Forbidden                   403 forbidden / wrong_program
    ├── NotFound                    404 <entity>_not_found
    ├── Conflict                    409
    │   ├── IdempotencyConflict     409 idempotency_conflict
    │   ├── HoldNotActive           409 hold_not_active
    │   ├── NotReversible           409 not_reversible
    │   └── AlreadyExists           409 <entity>_exists
    └── Unprocessable               422
        ├── InvalidInput            422 validation_error (with ``field``)
        ├── InvalidAmount           422 invalid_amount
        ├── InsufficientFunds       422 insufficient_points / insufficient_balance
        └── CaptureExceedsHold      422 capture_exceeds_hold
"""

from __future__ import annotations

from typing import Any, ClassVar


class JifenError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.field = field
        self.extra = extra or {}

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://jifen.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


class BadRequest(JifenError):
    status = 400
    default_code = "bad_request"
    title = "Bad request"


class IdempotencyKeyRequired(BadRequest):
    default_code = "idempotency_key_required"
    title = "Idempotency key required"


class Unauthorized(JifenError):
    status = 401
    default_code = "unauthorized"
    title = "Unauthorized"


class Forbidden(JifenError):
    status = 403
    default_code = "forbidden"
    title = "Forbidden"


class NotFound(JifenError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class Conflict(JifenError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class IdempotencyConflict(Conflict):
    default_code = "idempotency_conflict"
    title = "Idempotency key reused with a different request"


class HoldNotActive(Conflict):
    default_code = "hold_not_active"
    title = "Hold is not active"


class NotReversible(Conflict):
    default_code = "not_reversible"
    title = "Transaction cannot be reversed"


class AlreadyExists(Conflict):
    default_code = "already_exists"
    title = "Already exists"


class Unprocessable(JifenError):
    status = 422
    default_code = "unprocessable"
    title = "Unprocessable request"


class InvalidInput(Unprocessable):
    default_code = "validation_error"
    title = "Invalid input"


class InvalidAmount(Unprocessable):
    default_code = "invalid_amount"
    title = "Invalid amount"


class InsufficientFunds(Unprocessable):
    default_code = "insufficient_balance"
    title = "Insufficient balance"


class CaptureExceedsHold(Unprocessable):
    default_code = "capture_exceeds_hold"
    title = "Capture exceeds the held amount"


class MemberFrozen(Unprocessable):
    default_code = "member_frozen"
    title = "Member is frozen"
