"""The Jinja2 environment of the web pages (autoescaped) and a helper to render one."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from jifen.web.i18n import translator

TEMPLATES = Path(__file__).resolve().parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(value: datetime | None, tz: str = "Asia/Shanghai", fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _tojson_attr(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block (``</`` cannot close it)."""
    text = json.dumps(value, ensure_ascii=False, default=_default).replace("</", "<\\/")
    return Markup(text)  # noqa: S704 - JSON with "</" escaped, inside a data script block


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=_default)


def _yuan(fen: int | Decimal | None) -> str:
    if fen is None:
        return ""
    return f"{Decimal(fen) / 100:,.2f}"


env.filters["local"] = _local
env.filters["jsondata"] = _tojson_attr
env.filters["pretty"] = _pretty
env.filters["yuan"] = _yuan


def render(template: str, locale: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(template).render(t=translator(locale), locale=locale, **context)
    return HTMLResponse(html, status_code=status_code)
