"""Signatures and the retry schedule, without a database."""

from __future__ import annotations

import random
from datetime import timedelta

from jifen.webhooks import signing
from jifen.webhooks.dispatcher import DispatchConfig, backoff, matches


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = '{"id":"x","text":"您获得50积分"}'.encode()
    header = signing.sign("whsec_test", 1767225600, body)
    expected = hmac.new(b"whsec_test", b"1767225600." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"
    assert signing.verify("whsec_test", body, header, now=1767225600 + 299)
    assert not signing.verify("whsec_test", body, header, now=1767225600 + 301)
    assert not signing.verify("whsec_other", body, header, now=1767225600)
    assert not signing.verify("whsec_test", body + b"x", header, now=1767225600)
    assert not signing.verify("whsec_test", body, "v1=" + expected, now=1767225600)
    assert not signing.verify("whsec_test", body, "t=abc,v1=" + expected, now=1767225600)
    # Several v1 values (a sender rotating secrets): any one may match.
    assert signing.verify("whsec_test", body, f"t=1767225600,v1=00,v1={expected}", now=1767225600)


def test_backoff_follows_the_schedule_with_bounded_jitter() -> None:
    config = DispatchConfig()
    rng = random.Random(7)
    for failures, base in enumerate((10, 30, 120, 600, 3600, 10800), start=1):
        wait = backoff(failures, config, rng)
        assert timedelta(seconds=base) <= wait <= timedelta(seconds=base * 1.1)
    assert backoff(50, config, rng) <= timedelta(hours=24 * 1.1)  # the last step repeats


def test_subscription_patterns() -> None:
    assert matches(["points.*"], "points.credited", "ledger.balance_changed")
    assert matches(["*"], "coupon.issued", "coupon.issued")
    assert matches(["ledger.balance_changed"], "cash.credited", "ledger.balance_changed")
    assert not matches(["points.*"], "pointsx.credited", "ledger.balance_changed")
    assert not matches(["coupon.issued"], "coupon.expired", "coupon.expired")


def test_the_documented_verification_snippet_accepts_jifen_signatures() -> None:
    import re
    import time
    from pathlib import Path

    doc = Path(__file__).parents[2] / "docs" / "concepts" / "notifications.md"
    [snippet] = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    namespace: dict[str, object] = {}
    exec(compile(snippet, str(doc), "exec"), namespace)  # our own documentation
    verify = namespace["verify"]
    assert callable(verify)
    body = b'{"id":"x"}'
    header = signing.sign("whsec_doc", int(time.time()), body)
    assert verify("whsec_doc", body, header)
    assert not verify("whsec_doc", body + b" ", header)
    assert not verify("whsec_doc", body, signing.sign("whsec_doc", int(time.time()) - 600, body))
