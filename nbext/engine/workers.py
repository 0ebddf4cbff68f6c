"""Which process is executing a run, so start-up recovery fails only orphans.

Every kernel can start its own server on the same database (the default under
``NBEXT_HOME``), and a notebook opened later must not fail the runs a notebook
opened earlier is still executing. A run is therefore claimed by the process
that queues it for its workers; at start-up, a run claimed by a live process
on this host is left alone.
"""

from __future__ import annotations

import os
import socket

from nbext.store import Store

THIS_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def claim(store: Store, run_id: str) -> None:
    """This process executes ``run_id`` from now on (also after a resume elsewhere)."""
    store.claim_run(run_id, THIS_WORKER)


def release(store: Store, run_id: str) -> None:
    store.release_run(run_id)


def executed_elsewhere(store: Store, run_id: str) -> bool:
    """True when another live process claimed the run (another host counts as live)."""
    worker = store.run_worker(run_id)
    if worker is None or worker == THIS_WORKER:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
