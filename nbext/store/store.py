"""Persistence of SDK objects: insert, update, get, delete and paginated lists.

The store knows tables and owners, not what the objects mean: the runtime
decides *what* to write, the store makes sure it is written atomically and
read back as the same SDK type. Any SQLAlchemy URL works; SQLite (the
default) runs in WAL mode so the API can read while a run's worker writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import Engine, Table, create_engine, event, func, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Delete
from sqlalchemy.sql.elements import ColumnElement

from nbext.errors import invalid, not_found
from nbext.store import tables
from nbext.store.pages import ListQuery, Page


class StoredObject(Protocol):
    """What the store needs of an object: an id, a creation time, a JSON form."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> int: ...
    def model_dump(self, *, mode: Literal["json"]) -> dict[str, Any]: ...


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Kind(Generic[M]):
    """A kind of stored object: its table, its SDK type, its name in a 404."""

    table: Table
    model: type[M]
    noun: str


BUSY_TIMEOUT_S = 30.0
"""How long a write waits for SQLite's lock held by another process before failing."""


def _engine(url: str, busy_timeout_s: float) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url)
    database = url.split("///", 1)[1] if "///" in url else ""
    if database in ("", ":memory:"):
        # One shared connection, or every thread would see its own empty database.
        return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, "timeout": busy_timeout_s}
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster commits
        cursor.close()

    return engine


class Store:
    """All objects of all owners, in one database."""

    def __init__(self, url: str = "sqlite://", *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.engine = _engine(url, busy_timeout_s)
        tables.metadata.create_all(self.engine)
        # SQLite allows one writer; taking turns in-process avoids "database is locked".
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -------------------------------------------------------------

    def insert(self, kind: Kind[M], owner: str, obj: M, **columns: Any) -> None:
        self.insert_many(kind, owner, [(obj, columns)])

    def insert_many(
        self, kind: Kind[M], owner: str, rows: Iterable[tuple[M, Mapping[str, Any]]]
    ) -> None:
        """Insert several objects in one transaction (a thread with its messages)."""
        values = [
            {
                "id": _stored(obj).id,
                "owner": owner,
                "created_at": _stored(obj).created_at,
                "data": _json(obj),
                **columns,
            }
            for obj, columns in rows
        ]
        if values:
            with self._writing() as conn:
                conn.execute(kind.table.insert(), values)

    def update(self, kind: Kind[M], obj: M, **columns: Any) -> None:
        """Replace an object's JSON (and any indexed columns that changed with it)."""
        self.set_columns(kind, _stored(obj).id, data=_json(obj), **columns)

    def set_columns(self, kind: Kind[M], object_id: str, **columns: Any) -> None:
        with self._writing() as conn:
            conn.execute(kind.table.update().where(kind.table.c.id == object_id).values(**columns))

    def set_columns_everywhere(self, kind: Kind[M], **columns: Any) -> None:
        """Set columns on every row of a kind (dropping a cache column, say)."""
        with self._writing() as conn:
            conn.execute(kind.table.update().values(**columns))

    def update_where(self, kind: Kind[M], obj: M, where: Mapping[str, Any], **columns: Any) -> None:
        """Like :meth:`update`, for tables whose ``id`` is unique only within a parent
        (a vector store file: one file, several vector stores)."""
        t = kind.table
        values = {"data": _json(obj), **columns}
        with self._writing() as conn:
            conn.execute(
                t.update().where(t.c.id == _stored(obj).id, *_filters(t, where)).values(**values)
            )

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction; SQLite allows one writer, so writers take turns."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def delete(self, kind: Kind[M], owner: str, object_id: str, **where: Any) -> None:
        self.get(kind, owner, object_id, **where)  # 404 first, like OpenAI
        self.delete_where(kind, id=object_id)

    def delete_where(self, kind: Kind[M], **where: Any) -> None:
        with self._writing() as conn:
            conn.execute(kind.table.delete().where(*_filters(kind.table, where)))

    # -- reading -------------------------------------------------------------

    def find(self, kind: Kind[M], owner: str | None, object_id: str, **where: Any) -> M | None:
        """The object, or None if it does not exist or belongs to another owner."""
        if owner is not None:
            where["owner"] = owner
        with self.engine.connect() as conn:
            row = conn.execute(
                select(kind.table.c.data).where(
                    kind.table.c.id == object_id, *_filters(kind.table, where)
                )
            ).first()
        return None if row is None else kind.model.model_validate(row.data)

    def get(self, kind: Kind[M], owner: str | None, object_id: str, **where: Any) -> M:
        """The object, or 404: another owner's object is as invisible as a missing one."""
        found = self.find(kind, owner, object_id, **where)
        if found is None:
            raise not_found(kind.noun, object_id)
        return found

    def all(self, kind: Kind[M], owner: str | None = None, **where: Any) -> list[M]:
        """Every matching object, oldest first (for the runtime's own use, not for lists)."""
        if owner is not None:
            where["owner"] = owner
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(kind.table.c.data)
                .where(*_filters(kind.table, where))
                .order_by(kind.table.c.seq)
            ).all()
        return [kind.model.model_validate(row.data) for row in rows]

    def columns(
        self, kind: Kind[M], names: Sequence[str], *, newest: int | None = None, **where: Any
    ) -> list[Row[Any]]:
        """Only some columns of the matching rows, oldest first: cheap scans of big threads.

        ``newest=N`` reads only the N most recent rows, so a run that sends the
        last N messages of a long thread does not read the rest.
        """
        query = select(*(kind.table.c[name] for name in names)).where(*_filters(kind.table, where))
        if newest is not None:
            query = query.order_by(kind.table.c.seq.desc()).limit(newest)
        else:
            query = query.order_by(kind.table.c.seq)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).all())
        return rows[::-1] if newest is not None else rows

    def count(self, kind: Kind[M], **where: Any) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(kind.table).where(*_filters(kind.table, where))
                ).scalar_one()
            )

    def list(self, kind: Kind[M], owner: str, query: ListQuery, **where: Any) -> Page[M]:
        """One page of objects, as OpenAI's list endpoints return them."""
        t = kind.table
        where["owner"] = owner
        scope = _filters(t, where)
        conditions = list(scope)
        ascending = query.order == "asc"
        with self.engine.connect() as conn:
            if query.after is not None:
                seq = _cursor(conn, t, query.after, scope, "after")
                conditions.append(t.c.seq > seq if ascending else t.c.seq < seq)
            # ``before`` walks backwards from the cursor, so the page nearest to it is taken.
            backwards = query.before is not None
            if query.before is not None:
                seq = _cursor(conn, t, query.before, scope, "before")
                conditions.append(t.c.seq < seq if ascending else t.c.seq > seq)
            forward = ascending != backwards
            rows = conn.execute(
                select(t.c.data)
                .where(*conditions)
                .order_by(t.c.seq.asc() if forward else t.c.seq.desc())
                .limit(query.limit + 1)
            ).all()
        has_more = len(rows) > query.limit
        rows = list(rows[: query.limit])
        if backwards:
            rows.reverse()
        data = [kind.model.model_validate(row.data) for row in rows]
        return Page[kind.model](  # type: ignore[name-defined]
            data=data,
            first_id=_stored(data[0]).id if data else None,
            last_id=_stored(data[-1]).id if data else None,
            has_more=has_more,
        )

    # -- run workers: which process executes an unfinished run -----------------

    def claim_run(self, run_id: str, worker: str) -> None:
        """``worker`` executes ``run_id`` from now on (also after a resume elsewhere)."""
        t = tables.run_workers
        with self._writing() as conn:
            conn.execute(t.delete().where(t.c.run_id == run_id))
            conn.execute(t.insert().values(run_id=run_id, worker=worker))

    def release_run(self, run_id: str) -> None:
        t = tables.run_workers
        with self._writing() as conn:
            conn.execute(t.delete().where(t.c.run_id == run_id))

    def run_worker(self, run_id: str) -> str | None:
        t = tables.run_workers
        with self.engine.connect() as conn:
            worker = conn.execute(select(t.c.worker).where(t.c.run_id == run_id))
            return worker.scalar_one_or_none()

    # -- vector store chunks: the passages file_search searches ----------------

    def replace_chunks(
        self,
        vector_store_id: str,
        file_id: str,
        filename: str,
        passages: Sequence[tuple[str, bytes]],
    ) -> None:
        """A file's chunks in a vector store, ``(text, embedding)`` in order, replacing any."""
        t = tables.vector_store_chunks
        with self._writing() as conn:
            conn.execute(_chunks_of(vector_store_id, file_id))
            if passages:
                conn.execute(
                    t.insert(),
                    [
                        {
                            "vector_store_id": vector_store_id,
                            "file_id": file_id,
                            "filename": filename,
                            "chunk_index": i,
                            "text": text,
                            "embedding": embedding,
                        }
                        for i, (text, embedding) in enumerate(passages)
                    ],
                )

    def delete_chunks(self, vector_store_id: str, file_id: str | None = None) -> None:
        """The chunks of one file in a vector store, or (no ``file_id``) of the whole store."""
        with self._writing() as conn:
            conn.execute(_chunks_of(vector_store_id, file_id))

    def chunks(self, vector_store_id: str) -> Sequence[Any]:
        """``(file_id, filename, chunk_index, text, embedding)`` rows, in insertion order."""
        t = tables.vector_store_chunks
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.c.file_id, t.c.filename, t.c.chunk_index, t.c.text, t.c.embedding)
                .where(t.c.vector_store_id == vector_store_id)
                .order_by(t.c.seq)
            ).all()


def _chunks_of(vector_store_id: str, file_id: str | None) -> Delete:
    t = tables.vector_store_chunks
    query = t.delete().where(t.c.vector_store_id == vector_store_id)
    return query if file_id is None else query.where(t.c.file_id == file_id)


def _json(obj: BaseModel) -> dict[str, Any]:
    """An object as stored: fields by their wire names (``json_schema.schema``, not the
    SDK's Python name ``schema_``, which would read back as an unknown extra)."""
    return obj.model_dump(mode="json", by_alias=True)


def _stored(obj: BaseModel) -> StoredObject:
    """Every kind's model has ``id`` and ``created_at`` (the SDK's objects, nbext's records)."""
    return cast(StoredObject, obj)


def _filters(table: Table, where: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """``status=("a", "b")`` means IN, ``seq=range(3, 9)`` a range; anything else equals."""
    conditions: list[ColumnElement[bool]] = []
    for name, value in where.items():
        column = table.c[name]
        if isinstance(value, range):
            conditions.append(column.between(value.start, value.stop - 1))
        elif isinstance(value, (tuple, list, set, frozenset)):
            conditions.append(column.in_(value))
        else:
            conditions.append(column == value)
    return conditions


def _cursor(
    conn: Connection, table: Table, object_id: str, scope: list[ColumnElement[bool]], param: str
) -> int:
    """The position of a cursor object, looked up only within the list being paged."""
    seq = conn.execute(
        select(table.c.seq).where(table.c.id == object_id, *scope)
    ).scalar_one_or_none()
    if seq is None:
        raise invalid(
            f"Invalid '{param}': no object with id '{object_id}' in this list.", param=param
        )
    return int(seq)
