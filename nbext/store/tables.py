"""The database schema: one table per kind of object, each row a JSON document.

Every object is stored whole, as the ``openai`` SDK type's JSON, so what is
read back is exactly what was written and the wire shape lives in one place
(the SDK). Beside the JSON sit only the columns something *queries* by:
``owner`` (each API key sees its own objects), the parent ids, ``status``
for runs (busy-thread checks, start-up recovery) and ``token_count`` for
messages (so a run never re-tokenizes the whole thread). ``seq`` is an
insertion counter: ``created_at`` has one-second resolution, so it cannot
order two objects created in the same second, and pagination must be stable.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _object_table(name: str, *columns: Column[object]) -> Table:
    return Table(
        name,
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("id", String(64), nullable=False, unique=True),
        Column("owner", String(255), nullable=False, index=True),
        Column("created_at", Integer, nullable=False),
        *columns,
        Column("data", JSON, nullable=False),
    )


def _ref(name: str) -> Column[object]:
    return Column(name, String(64), index=True)


assistants = _object_table("assistants")
threads = _object_table("threads")
messages = _object_table(
    "messages", _ref("thread_id"), _ref("run_id"), Column("token_count", Integer)
)
runs = _object_table("runs", _ref("thread_id"), Column("status", String(32), index=True))
run_steps = _object_table("run_steps", _ref("thread_id"), _ref("run_id"))
run_prompts = _object_table("run_prompts", _ref("thread_id"), _ref("run_id"))
run_contexts = _object_table("run_contexts", _ref("thread_id"), _ref("run_id"))

# Files and vector stores (file_search, code_interpreter). A file may sit in
# several vector stores, so a vector store file's ``id`` (the file's id) is
# unique only within its store: that table is built by hand, not by
# ``_object_table``.
files = _object_table("files", Column("purpose", String(32), index=True))
vector_stores = _object_table("vector_stores")
vector_store_files = Table(
    "vector_store_files",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, index=True),
    Column("owner", String(255), nullable=False, index=True),
    Column("created_at", Integer, nullable=False),
    _ref("vector_store_id"),
    _ref("batch_id"),
    Column("status", String(32), index=True),
    Column("usage_bytes", Integer, nullable=False, default=0),
    Column("data", JSON, nullable=False),
    UniqueConstraint("vector_store_id", "id"),
)
vector_store_file_batches = _object_table(
    "vector_store_file_batches", _ref("vector_store_id"), Column("status", String(32))
)
# One row per chunk: the text and its MiniLM vector (384 little-endian float32).
vector_store_chunks = Table(
    "vector_store_chunks",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    _ref("vector_store_id"),
    Column("file_id", String(64), nullable=False, index=True),
    Column("filename", String(1024), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("embedding", LargeBinary, nullable=False),
)
# The passages a file_search call found, kept apart from the run step: OpenAI
# returns them only when ``include`` asks for them.
file_search_contents = _object_table("file_search_contents", _ref("run_id"))
# Which process executes each unfinished run: several kernels may serve the
# same database, and a server starting up must fail only the runs of dead ones.
run_workers = Table(
    "run_workers",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("worker", String(255), nullable=False),
)
