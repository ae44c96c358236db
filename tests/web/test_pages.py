"""Console and portal pieces that need no browser: the editors' example definitions are valid
for their domains, every page's words exist in Chinese, the session cookie and CSRF helpers."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from jifen.users.roles import PERMISSIONS, allowed
from jifen.web import auth, resources
from jifen.web.console import domain_ready
from jifen.web.i18n import ZH, translator

TEMPLATES = Path(resources.__file__).resolve().parent / "templates"


@pytest.mark.parametrize("resource", resources.RESOURCES, ids=lambda r: r.slug)
def test_editor_examples_are_valid_for_their_domain(resource: resources.Resource) -> None:
    if resource.editor is None:
        return
    if not domain_ready(resource.domain):
        pytest.skip(f"jifen.{resource.domain}.service is not there yet")
    schemas = importlib.import_module(f"jifen.{resource.domain}.schemas")
    body = dict(resource.editor.example)
    if resource.editor.id_argument:
        assert body.pop("id")
    getattr(schemas, resource.editor.schema).model_validate(body)
    assert hasattr(resources.svc(resource.domain), resource.editor.save)


def test_every_word_on_the_pages_has_a_chinese_translation() -> None:
    words: set[str] = set()
    for path in TEMPLATES.rglob("*.html"):
        words.update(re.findall(r't\("([^"]+)"\)', path.read_text()))
        words.update(re.findall(r"t\('([^']+)'\)", path.read_text()))
    for item in resources.RESOURCES:
        words.add(item.title)
        for listing in item.listings:
            words.add(listing.title)
            words.update(label for label, _ in listing.actions)
    missing = sorted(w for w in words if w not in ZH)
    assert missing == []
    assert translator("en")("Members") == "Members"
    assert translator("zh-CN")("Members") == "会员"


def test_session_cookie_and_csrf_are_signed() -> None:
    cookie = auth.sign_session("k1", "secret-value")
    assert auth.unsign_session("k1", cookie) == "secret-value"
    assert auth.unsign_session("k2", cookie) is None  # another server key
    assert auth.unsign_session("k1", cookie[:-1] + "x") is None
    assert auth.unsign_session("k1", None) is None
    assert auth.csrf_token("k1", "s1") != auth.csrf_token("k1", "s2")


def test_least_privilege_roles() -> None:
    assert allowed(["owner"], "users.manage")
    assert not allowed(["reviewer"], "rules.edit")
    assert allowed(["reviewer"], "reviews.decide")
    assert not allowed(["analyst"], "points.adjust")
    assert allowed(["analyst"], "rules.dry_run")
    assert allowed(["finance"], "points.adjust")
    assert not allowed(["read_only", "analyst"], "catalog.edit")
    assert all("view" in p for p in PERMISSIONS.values())
