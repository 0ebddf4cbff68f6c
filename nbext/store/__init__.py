"""Persistence: SDK objects as JSON rows, over any SQLAlchemy URL (SQLite by default)."""

from nbext.store.kinds import (
    ASSISTANTS,
    CONTEXTS,
    FILE_SEARCH_CONTENTS,
    FILES,
    MESSAGES,
    PROMPTS,
    RUN_STEPS,
    RUNS,
    THREADS,
    VECTOR_STORE_FILE_BATCHES,
    VECTOR_STORE_FILES,
    VECTOR_STORES,
)
from nbext.store.pages import ListQuery, Page
from nbext.store.store import Kind, Store

__all__ = [
    "ASSISTANTS",
    "CONTEXTS",
    "FILES",
    "FILE_SEARCH_CONTENTS",
    "MESSAGES",
    "PROMPTS",
    "RUNS",
    "RUN_STEPS",
    "THREADS",
    "VECTOR_STORES",
    "VECTOR_STORE_FILES",
    "VECTOR_STORE_FILE_BATCHES",
    "Kind",
    "ListQuery",
    "Page",
    "Store",
]
