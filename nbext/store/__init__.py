"""Persistence: SDK objects as JSON rows, over any SQLAlchemy URL (SQLite by default)."""

from nbext.store.kinds import ASSISTANTS, MESSAGES, RUN_STEPS, RUNS, THREADS
from nbext.store.pages import ListQuery, Page
from nbext.store.store import Kind, Store

__all__ = [
    "ASSISTANTS",
    "MESSAGES",
    "RUNS",
    "RUN_STEPS",
    "THREADS",
    "Kind",
    "ListQuery",
    "Page",
    "Store",
]
