"""The web pages: the admin console under /console and the member portal under /m."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
