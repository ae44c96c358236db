"""Process settings for long-running jifen processes (server, worker, benchmarks)."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Collect young objects less often and keep start-up objects out of collections.

    A batch of events allocates many short-lived objects; with the default thresholds the
    cyclic collector ran often enough to take about a quarter of ingestion time (measured in
    bench/events.py). Reference counting still frees almost everything at once; this only
    spaces out the cycle scans.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
