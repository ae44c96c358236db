"""The web pages: the admin console under /console and the member portal under /m."""

from __future__ import annotations

from fastapi import APIRouter

from jifen.web.console import router as console_router
from jifen.web.portal import router as portal_router

router = APIRouter(include_in_schema=False)
router.include_router(console_router)
router.include_router(portal_router)
