"""Runs are executed off the caller's thread: a small pool of run workers.

Creating or resuming a run stores it ``queued`` and hands it here; the
worker is this process from then on (:mod:`nbext.engine.workers`), so
start-up recovery elsewhere leaves it alone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from nbext.engine import workers
from nbext.engine.events import RunChannel
from nbext.engine.lifecycle import Runtime
from nbext.engine.loop import Runner


class RunQueue:
    """``submit`` a queued run to a worker thread; ``close`` waits for the running ones."""

    def __init__(self, rt: Runtime, workers: int = 2) -> None:
        self.rt = rt
        self._runner = Runner(rt)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbext-run")

    def submit(self, run_id: str, owner: str, channel: RunChannel) -> None:
        workers.claim(self.rt.store, run_id)
        self._pool.submit(self._runner.execute, run_id, owner, channel)

    def close(self) -> None:
        """Stop taking runs and wait for the running ones to reach a pause or an end."""
        self._pool.shutdown(wait=True, cancel_futures=True)
