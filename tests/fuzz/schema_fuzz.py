"""Schema fuzzing: schemathesis drives every operation of OpenAI's published
Assistants contract against a real server, then the stored state is checked.

The server is the real app (:func:`nbext.server.app.create_app`) in a real
uvicorn thread, on a temporary data directory, behind an API key. Its model
is :class:`FuzzBackend`, a TEST FIXTURE that answers at once: fuzzing sends
thousands of requests, and what is under test is the API's edge and the state
behind it, not the model's words.

schemathesis (a separate process) runs its four phases: the schema's examples,
coverage of each parameter's edges, random fuzzing, and stateful sequences
that follow :data:`LINKS` (a created object's id into the operations that need
it; the published file has no links). Checks: no 5xx, every 200 valid against
the schema, every error in OpenAI's shape (``checks.py``), deleted objects
stay gone, created ones can be read back. Afterwards :func:`consistency_problems`
reads the database and the files directory directly.

Where the published schema disagrees with what the hosted API actually sent,
the server follows the API; :data:`DEVIATIONS` lists each such place and why,
and the copy of the schema the fuzzer reads is patched there and nowhere else.

The long profile (the bounded one is ``tests/test_fuzz_schema.py``)::

    PYTHONPATH=$PWD:$PWD/tests .venv/bin/python -m fuzz.schema_fuzz --max-examples 100
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from assistants.scripted_backend import Reply, ScriptedBackend

from nbext.backends.base import ChatRequest
from nbext.config import Settings
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer

REFERENCE = Path(__file__).parents[1] / "reference" / "openai-assistants-v2.openapi.json"
CHECKS_FILE = Path(__file__).with_name("checks.py")
API_KEY = "sk-fuzz-key"
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Checks of schemathesis' own that fit a contract documenting only its 200s:
# status_code_conformance and content_type_conformance would flag every 400
# and 404 (undocumented there; checks.py checks their shape instead), and
# positive_data_acceptance every valid body naming an id that does not exist, and
# ensure_resource_availability the 404 of a body's unknown id (a batch's file_ids,
# as OpenAI answers it) right after the vector store was created.
# object_level_authorization replays one identity's reads as its peers, which
# need an [auth.wfc] set of several keys; this server has one key, so the check
# would pass without comparing anything. Tenancy between keys is tested in
# tests/test_chat_server.py and tests/test_assistants_api.py instead.
# negative_data_rejection (schema-violating requests must fail) and
# missing_required_header (no key must be a 401) stay on.
EXCLUDED_CHECKS = (
    "status_code_conformance",
    "content_type_conformance",
    "positive_data_acceptance",
    "ensure_resource_availability",
    "object_level_authorization",
)
ACTIVE_RUN = ("queued", "in_progress", "cancelling")


# -- where the server follows the hosted API rather than the published schema --------


@dataclass(frozen=True)
class Deviation:
    where: str
    """The schema part patched, or the operations concerned."""
    reason: str


DEVIATIONS = (
    Deviation(
        "List*Response.first_id, .last_id: nullable",
        "An empty page has no first or last object: the hosted API sent null there "
        "(the openai SDK types them Optional[str]); the schema says string.",
    ),
    Deviation(
        "VectorStoreObject.expires_after: nullable",
        "A vector store without an expiration policy: the hosted API sent "
        '"expires_after": null beside "expires_at": null (the SDK: Optional); the '
        "schema makes only expires_at nullable.",
    ),
    Deviation(
        "Request bodies (but Chat Completions'): closed, additionalProperties: false",
        "The hosted API refuses a name it does not know (400 'Unknown parameter'), as this "
        "server does; the schema leaves objects open, so 'valid' bodies would carry "
        "made-up names and no creation in a stateful sequence would succeed.",
    ),
    Deviation(
        "UpdateVectorStoreRequest.expires_after: nullable",
        "null removes a store's expiration policy (the openai SDK types it "
        "Optional[ExpiresAfter]); the schema says so with 'nullable: true' inside an allOf, "
        "an OpenAPI 3.0 word that 3.1 validators ignore, so null would count as invalid.",
    ),
    Deviation(
        "Bodies whose every field is optional (modify an assistant, thread, message, run "
        "or vector store; create a vector store): requestBody not required",
        "An empty body is read as {} (nbext.api.edge.json_body): with no field required the "
        "two mean the same, nothing to change or a store with defaults. The schema marks "
        "the body required, so negative_data_rejection would count the empty one as invalid.",
    ),
    Deviation(
        "tool_resources.file_search: no oneOf of vector_store_ids / vector_stores",
        "The openai SDK types both as optional (TypedDicts, total=False) and the server "
        "reads a file_search without either as no vector store, as it reads an empty "
        "vector_store_ids; the schema wants exactly one of the two.",
    ),
    Deviation(
        "GET /chat/completions, GET|POST|DELETE /chat/completions/{completion_id}, "
        "GET /chat/completions/{completion_id}/messages: 404/405 (not schema-patched)",
        "Stored chat completions (store: true) are not kept by this server, which is "
        "about the Assistants API; the routes answer OpenAI's 'Invalid URL' 404 (405 for "
        "GET /chat/completions, whose path exists for POST).",
    ),
    Deviation(
        "DELETE /models/{model}: 4xx (not schema-patched)",
        "Only fine-tuned models can be deleted and this server has none.",
    ),
)

OPTIONAL_BODIES = (
    "modifyAssistant",
    "modifyThread",
    "modifyMessage",
    "modifyRun",
    "createVectorStore",
    "modifyVectorStore",
)
"""The operations of the first deviation above."""

UNIMPLEMENTED = {
    "GET /chat/completions",
    "GET /chat/completions/{completion_id}",
    "POST /chat/completions/{completion_id}",
    "DELETE /chat/completions/{completion_id}",
    "GET /chat/completions/{completion_id}/messages",
    "DELETE /models/{model}",
}
"""Operations that never answer 200 here (the last two deviations)."""


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _close_objects(node: Any, schemas: dict[str, Any], seen: set[str]) -> None:
    """``additionalProperties: false`` on every object ``node`` describes or refers to
    (not inside ``allOf``, whose parts each see only some of the properties)."""
    if isinstance(node, list):
        for item in node:
            _close_objects(item, schemas, seen)
        return
    if not isinstance(node, dict) or "allOf" in node:
        return
    reference = node.get("$ref", "")
    if reference.startswith("#/components/schemas/"):
        name = reference.rsplit("/", 1)[1]
        if name not in seen:
            seen.add(name)
            _close_objects(schemas[name], schemas, seen)
        return
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    for key in ("properties", "items", "anyOf", "oneOf", "additionalProperties"):
        inner = node.get(key)
        if isinstance(inner, dict) and key == "properties":
            inner = list(inner.values())
        _close_objects(inner, schemas, seen)


def _apply_deviations(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    seen: set[str] = set()
    for methods in document["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") != (
                "createChatCompletion"
            ):
                for media in operation.get("requestBody", {}).get("content", {}).values():
                    _close_objects(media.get("schema"), schemas, seen)
    for name, schema in schemas.items():
        properties = schema.get("properties", {})
        if name.startswith("List") and {"first_id", "last_id"} <= properties.keys():
            for key in ("first_id", "last_id"):
                properties[key] = _nullable(properties[key])
    store = schemas["VectorStoreObject"]["properties"]
    store["expires_after"] = _nullable(store["expires_after"])
    update = schemas["UpdateVectorStoreRequest"]["properties"]
    update["expires_after"] = _nullable({"$ref": "#/components/schemas/VectorStoreExpirationAfter"})
    for methods in document["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") in OPTIONAL_BODIES:
                operation["requestBody"]["required"] = False
    for name in ("CreateAssistantRequest", "ModifyAssistantRequest", "CreateThreadRequest",
                 "ModifyThreadRequest"):  # fmt: skip
        resources = schemas[name]["properties"]["tool_resources"]
        for variant in resources.get("anyOf", [resources]):
            variant.get("properties", {}).get("file_search", {}).pop("oneOf", None)


# -- links: where a created object's id goes next (the stateful phase) --------------


@dataclass(frozen=True)
class Link:
    source: str  # operationId answering 200
    targets: tuple[str, ...]
    parameters: dict[str, str]
    body: dict[str, Any] | None = None


RUN = {"thread_id": "$response.body#/thread_id", "run_id": "$response.body#/id"}
THREAD = {"thread_id": "$response.body#/id"}
RUN_THREAD = {"thread_id": "$response.body#/thread_id"}
LISTED_FILE = {
    "vector_store_id": "$request.path.vector_store_id",
    "file_id": "$response.body#/data/0/id",
}
STORE = {"vector_store_id": "$response.body#/id"}
RUN_OPS = ("getRun", "modifyRun", "cancelRun", "listRunSteps", "submitToolOuputsToRun")
THREAD_OPS = ("getThread", "modifyThread", "deleteThread", "listMessages", "createMessage")
STORE_OPS = ("getVectorStore", "modifyVectorStore", "deleteVectorStore", "searchVectorStore")
STORE_FILE_OPS = (
    "getVectorStoreFile",
    "deleteVectorStoreFile",
    "updateVectorStoreFileAttributes",
    "retrieveVectorStoreFileContent",
)
REQUIRED_CALL = "$response.body#/required_action/submit_tool_outputs/tool_calls/0/id"

LINKS = (
    Link("createAssistant", ("getAssistant", "modifyAssistant", "deleteAssistant"),
         {"assistant_id": "$response.body#/id"}),
    Link("createAssistant", ("createThreadAndRun",), {},
         {"assistant_id": "$response.body#/id"}),
    # The run's thread has no other source of an assistant id: a run carries both.
    Link("createThreadAndRun", RUN_OPS, RUN),
    Link("createThreadAndRun", (*THREAD_OPS, "listRuns"), RUN_THREAD),
    Link("createThreadAndRun", ("createRun",), RUN_THREAD,
         {"assistant_id": "$response.body#/assistant_id"}),
    Link("createRun", RUN_OPS, RUN),
    Link("getRun", RUN_OPS, RUN),
    # A run waiting for a function's output (FuzzBackend calls the run's first function).
    Link("getRun", ("submitToolOuputsToRun",), RUN,
         {"tool_outputs": [{"tool_call_id": REQUIRED_CALL, "output": "42"}]}),
    Link("listRunSteps", ("getRunStep",),
         {"thread_id": "$request.path.thread_id", "run_id": "$request.path.run_id",
          "step_id": "$response.body#/data/0/id"}),
    Link("createThread", (*THREAD_OPS, "listRuns"), THREAD),
    Link("createMessage", ("getMessage", "modifyMessage", "deleteMessage"),
         {"thread_id": "$response.body#/thread_id", "message_id": "$response.body#/id"}),
    Link("listMessages", ("getMessage", "modifyMessage", "deleteMessage"),
         {"thread_id": "$request.path.thread_id", "message_id": "$response.body#/data/0/id"}),
    Link("createFile", ("retrieveFile", "deleteFile", "downloadFile"),
         {"file_id": "$response.body#/id"}),
    Link("createFile", ("createVectorStore",), {}, {"file_ids": ["$response.body#/id"]}),
    Link("createVectorStore", (*STORE_OPS, "listVectorStoreFiles", "createVectorStoreFile",
                               "createVectorStoreFileBatch"), STORE),
    Link("listVectorStoreFiles", STORE_FILE_OPS, LISTED_FILE),
    Link("listVectorStoreFiles", ("createVectorStoreFileBatch",),
         {"vector_store_id": "$request.path.vector_store_id"},
         {"file_ids": ["$response.body#/data/0/id"]}),
    Link("createVectorStoreFile", STORE_FILE_OPS,
         {"vector_store_id": "$response.body#/vector_store_id", "file_id": "$response.body#/id"}),
    Link("createVectorStoreFileBatch",
         ("getVectorStoreFileBatch", "cancelVectorStoreFileBatch", "listFilesInVectorStoreBatch"),
         {"vector_store_id": "$response.body#/vector_store_id", "batch_id": "$response.body#/id"}),
)  # fmt: skip


def _add_links(document: dict[str, Any]) -> None:
    operations = {
        operation["operationId"]: operation
        for methods in document["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for number, link in enumerate(LINKS):
        links = operations[link.source]["responses"]["200"].setdefault("links", {})
        for target in link.targets:
            definition: dict[str, Any] = {"operationId": target, "parameters": link.parameters}
            if link.body is not None:
                definition["requestBody"] = link.body
            links[f"{target}From{link.source[0].upper()}{link.source[1:]}{number}"] = definition


def fuzzed_schema() -> dict[str, Any]:
    """The published contract with :data:`DEVIATIONS` patched in and :data:`LINKS` added."""
    document = copy.deepcopy(json.loads(REFERENCE.read_text()))
    _apply_deviations(document)
    _add_links(document)
    return document


def operations(document: dict[str, Any]) -> list[str]:
    """``METHOD /path`` of every operation, in the schema's order."""
    return [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    ]


# -- the model: a test fixture ------------------------------------------------------

BUILT_IN = ("code_interpreter",)


class FuzzBackend(ScriptedBackend):
    """TEST FIXTURE: a deterministic, instant model for fuzzing the server.

    Offered a function tool (and not answering a tool's output), it calls the
    first one with ``{}``, so fuzzed runs reach ``requires_action`` and
    ``submit_tool_outputs`` has something to answer; ``file_search`` counts
    (its searches are cheap). It never calls ``code_interpreter``: a kernel per
    fuzzed thread would make the run slow, and the sandbox has tests of its own.
    Otherwise it says "ok".
    """

    def next_reply(self, request: ChatRequest) -> Reply:
        self.requests.clear()  # thousands of requests: keep none
        messages = list(request.get("messages") or [])
        answering_tool = bool(messages) and messages[-1].get("role") == "tool"
        names = [
            tool["function"]["name"]
            for tool in request.get("tools") or []
            if tool.get("type") == "function" and tool["function"]["name"] not in BUILT_IN
        ]
        if names and not answering_tool:
            arguments = {"query": "ok"} if names[0] == "file_search" else {}
            return Reply(tool_calls=[(names[0], arguments)])
        return Reply(text="ok")


# -- what the server answered, per operation -----------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]  # fmt: skip


class StatusTally:
    """ASGI middleware counting each answer's status by ``(method, path)``, and the
    messages of the errors (ids blanked), to tell why an operation was not reached."""

    def __init__(
        self,
        app: ASGIApp,
        counts: Counter[tuple[str, str, int]],
        errors: Counter[tuple[str, str, str]],
    ) -> None:
        self.app = app
        self.counts = counts
        self.errors = errors

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 0

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.counts[(scope["method"], scope["path"], status)] += 1
            elif message["type"] == "http.response.body" and status >= 400:
                text = message.get("body", b"")[:300].decode("utf-8", "replace")
                found = re.search(r'"message":"((?:[^"\\]|\\.)*)"', text)
                said = _ID.sub("ID", found.group(1) if found else text)[:120]
                self.errors[(scope["method"], scope["path"], f"{status} {said}")] += 1
                status = 0
            await send(message)

        await self.app(scope, receive, counting)


_ID = re.compile(r"\b(?:asst|thread|msg|run|step|file|vs|vsfb|call)[_-][A-Za-z0-9]{6,}")


def per_operation(
    counts: Counter[tuple[str, str, Any]], document: dict[str, Any]
) -> dict[str, Counter[Any]]:
    """Counts by operation: ``counts`` is keyed ``(method, path, what)``; the result
    ``{operation: {what: n}}``, ``what`` a status class (``2xx``) when it is a status."""
    patterns = []
    for label in operations(document):
        method, path = label.split(" ", 1)
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(f"/v1{path}"))
        patterns.append((label, method, re.compile(f"{regex}$")))
    # The literal /threads/runs before /threads/{thread_id}: most specific first.
    patterns.sort(key=lambda entry: entry[2].pattern.count("[^/]+"))
    table: dict[str, Counter[Any]] = {label: Counter() for label in operations(document)}
    for (method, path, what), number in counts.items():
        for label, wanted, pattern in patterns:
            if method == wanted and pattern.match(path):
                table[label][f"{what // 100}xx" if isinstance(what, int) else what] += number
                break
    return table


# -- the stored state afterwards -------------------------------------------------------


def consistency_problems(home: Path) -> list[str]:
    """What is wrong in the database and the files directory (nothing, hopefully).

    Every file row has its bytes (and as many as it says), every byte file its
    row, no upload was left half-written, every child row points to a parent
    that exists, every row's JSON is the object its columns describe, and no
    run is still queued or in progress once the server is idle.
    """
    problems: list[str] = []
    files_dir = home / "files"
    database = sqlite3.connect(f"file:{home / 'nbext.sqlite3'}?mode=ro", uri=True)
    try:
        ids = {
            table: {row[0] for row in database.execute(f"SELECT id FROM {table}")}
            for (table,) in database.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if table not in ("vector_store_chunks", "run_workers")
        }
        for table in ids:
            for row_id, data in database.execute(f"SELECT id, data FROM {table}"):
                stored = json.loads(data)
                if stored.get("id") != row_id:
                    problems.append(f"{table} row {row_id} holds the object {stored.get('id')}")
        for file_id, data in database.execute("SELECT id, data FROM files"):
            path = files_dir / file_id
            size = json.loads(data)["bytes"]
            if not path.is_file():
                problems.append(f"file {file_id}: row without bytes")
            elif path.stat().st_size != size:
                problems.append(f"file {file_id}: {path.stat().st_size} bytes, row says {size}")
        for path in sorted(files_dir.iterdir()) if files_dir.is_dir() else []:
            if path.name not in ids["files"]:
                problems.append(f"files/{path.name}: bytes without a row (orphan or half-written)")
        parents = [
            ("messages", "thread_id", "threads"),
            ("runs", "thread_id", "threads"),
            ("run_steps", "run_id", "runs"),
            ("run_prompts", "run_id", "runs"),
            ("run_contexts", "run_id", "runs"),
            ("file_search_contents", "run_id", "runs"),
            ("run_workers", "run_id", "runs"),
            ("vector_store_files", "vector_store_id", "vector_stores"),
            ("vector_store_files", "id", "files"),
            ("vector_store_file_batches", "vector_store_id", "vector_stores"),
            ("vector_store_chunks", "vector_store_id", "vector_stores"),
            ("vector_store_chunks", "file_id", "files"),
        ]
        for child, column, parent in parents:
            query = f"SELECT DISTINCT {column} FROM {child} WHERE {column} IS NOT NULL"
            for (parent_id,) in database.execute(query):
                if parent_id not in ids[parent]:
                    problems.append(f"{child}.{column} = {parent_id}: no such row in {parent}")
        chunks = "SELECT DISTINCT vector_store_id, file_id FROM vector_store_chunks"
        store_files = set(database.execute("SELECT vector_store_id, id FROM vector_store_files"))
        for pair in database.execute(chunks):
            if pair not in store_files:
                problems.append(f"chunks of {pair[1]} in {pair[0]}: the file is not in the store")
        stuck = database.execute(
            f"SELECT id, status FROM runs WHERE status IN {ACTIVE_RUN}"
        ).fetchall()
        problems += [f"run {run_id} still {status}" for run_id, status in stuck]
    finally:
        database.close()
    return problems


def _wait_for_idle_runs(home: Path, timeout: float = 30) -> None:
    """Runs started by the last requests finish on their own (the model is instant)."""
    deadline = time.monotonic() + timeout
    query = f"SELECT count(*) FROM runs WHERE status IN {ACTIVE_RUN}"
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{home / 'nbext.sqlite3'}?mode=ro", uri=True) as database:
            if database.execute(query).fetchone()[0] == 0:
                return
        time.sleep(0.2)


# -- objects that exist before the run ------------------------------------------------


def seed_objects(base_url: str) -> dict[str, str]:
    """One object of each kind, made through the API; their ids are the path
    parameters of the examples, coverage and fuzzing phases (else nearly every
    operation on an id would only ever answer 404 there).

    ``run_id``/``step_id`` are a completed run of ``thread_id``; ``waiting_*`` a
    thread whose run waits for a function's output (``submit_tool_outputs``).
    """
    client = httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    )

    def post(path: str, **kwargs: Any) -> dict[str, Any]:
        answer = client.post(path, **kwargs)
        answer.raise_for_status()
        return dict(answer.json())

    def settled(path: str, busy: tuple[str, ...]) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while (found := client.get(path).json())["status"] in busy:
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} stayed {found['status']}")
            time.sleep(0.05)
        return dict(found)

    with client:
        assistant = post("/assistants", json={"model": "gpt-4o", "name": "seed"})
        thread = post("/threads", json={"messages": [{"role": "user", "content": "Hi."}]})
        message = client.get(f"/threads/{thread['id']}/messages").json()["data"][0]
        run = post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
        settled(f"/threads/{thread['id']}/runs/{run['id']}", ACTIVE_RUN)
        step = client.get(f"/threads/{thread['id']}/runs/{run['id']}/steps").json()["data"][0]
        lookup = {"type": "function", "function": {"name": "lookup"}}
        waiting = post("/threads/runs", json={"assistant_id": assistant["id"], "tools": [lookup]})
        path = f"/threads/{waiting['thread_id']}/runs/{waiting['id']}"
        assert settled(path, ACTIVE_RUN)["status"] == "requires_action"
        notes = ("notes.txt", b"Seed corpus: the fuzzer searches these words.", "text/plain")
        file = post("/files", data={"purpose": "assistants"}, files={"file": notes})
        store = post("/vector_stores", json={"name": "seed", "file_ids": [file["id"]]})
        settled(f"/vector_stores/{store['id']}/files/{file['id']}", ("in_progress",))
        batch = post(f"/vector_stores/{store['id']}/file_batches", json={"file_ids": [file["id"]]})
    return {
        "assistant_id": assistant["id"],
        "thread_id": thread["id"],
        "message_id": message["id"],
        "run_id": run["id"],
        "step_id": step["id"],
        "file_id": file["id"],
        "vector_store_id": store["id"],
        "batch_id": batch["id"],
        "waiting_thread_id": waiting["thread_id"],
        "waiting_run_id": waiting["id"],
    }


def _config(existing: dict[str, str], stateful_examples: int, max_steps: int | None) -> str:
    """schemathesis.toml: the stateful phase, and the existing ids as path parameters."""

    def parameters(ids: dict[str, str]) -> str:
        return "parameters = { " + ", ".join(f'"path.{k}" = "{v}"' for k, v in ids.items()) + " }"

    plain = {k: v for k, v in existing.items() if not k.startswith("waiting_")}
    waiting = {**plain, "thread_id": existing["waiting_thread_id"]}
    waiting["run_id"] = existing["waiting_run_id"]
    lines = [
        "[phases.stateful]",
        *([f"max-steps = {max_steps}"] if max_steps else []),
        # Links are LINKS only (inferred ones were mostly wrong guesses here).
        "[phases.stateful.inference]",
        "algorithms = []",
        # Sequences of valid requests, so creations succeed and their ids flow on
        # (the other phases send the invalid ones).
        "[phases.stateful.generation]",
        'mode = "positive"',
        f"max-examples = {stateful_examples}",
        # The 405s of the unimplemented operations' URLs name what this server has.
        "[[operations]]",
        'include-path-regex = "^/(chat/completions|models/\\\\{model\\\\})$"',
        "checks.allow_header_conformance.enabled = false",
        # DELETEs keep generated ids (the stateful phase deletes what it created):
        # a seeded object deleted by the first example would be gone for the rest.
        "[[operations]]",
        'include-operation-id = "submitToolOuputsToRun"',
        parameters(waiting),
        "[[operations]]",
        'include-method-regex = "^(GET|POST)$"',
        'exclude-operation-id = "submitToolOuputsToRun"',
        parameters(plain),
    ]
    return "\n".join(lines) + "\n"


# -- one fuzzing session -----------------------------------------------------------------


@dataclass
class FuzzResult:
    report: dict[str, Any]
    """schemathesis' JSON report (test case counts, failures, warnings)."""
    output: str
    """What schemathesis printed (the failures, with a curl line each)."""
    answers: dict[str, Counter[str]]
    """Per operation: how many 2xx, 4xx, 5xx the server sent."""
    errors: dict[str, Counter[str]]
    """Per operation: the error messages it sent, how often."""
    problems: list[str] = field(default_factory=list)
    """What :func:`consistency_problems` found afterwards."""
    seconds: float = 0.0

    @property
    def failures(self) -> list[dict[str, Any]]:
        return list(self.report.get("failures", []))

    def summary(self) -> str:
        cases = self.report["test_cases"]
        reached = [op for op, answers in self.answers.items() if answers["2xx"]]
        lines = [
            f"{len(self.answers)} operations, {cases['generated']} test cases "
            f"({sum(sum(a.values()) for a in self.answers.values())} requests) in "
            f"{self.seconds:.0f} s; {len(reached)} operations answered 200 at least once",
            f"failures: {cases['unique_failures']} unique, in {cases['with_failures']} cases; "
            f"errors: {len(self.report.get('errors', []))}; "
            f"state problems: {len(self.problems)}",
            f"{'operation':<66} {'2xx':>5} {'4xx':>5} {'5xx':>5}",
        ]
        for op, answers in self.answers.items():
            lines.append(f"{op:<66} {answers['2xx']:>5} {answers['4xx']:>5} {answers['5xx']:>5}")
        return "\n".join(lines)


def run_fuzz(
    *,
    max_examples: int,
    seed: int,
    workdir: Path,
    phases: tuple[str, ...] = PHASES,
    stateful_examples: int | None = None,
    max_steps: int | None = None,
) -> FuzzResult:
    """Start the server, let schemathesis drive it, check the state, stop the server."""
    home = Path(tempfile.mkdtemp(prefix="nbext-fuzz-", dir=workdir))
    # The data directory of a throwaway server; only the model cache is shared.
    (home / "models").symlink_to(Settings.from_env().model_dir.resolve())
    document = fuzzed_schema()
    schema = workdir / "fuzzed-schema.json"
    schema.write_text(json.dumps(document))
    report_path = workdir / "report.json"
    counts: Counter[tuple[str, str, int]] = Counter()
    errors: Counter[tuple[str, str, str]] = Counter()
    app = create_app(FuzzBackend(), home=home, api_keys=(API_KEY,))
    app.add_middleware(StatusTally, counts=counts, errors=errors)
    server = BackgroundServer(app).start()
    started = time.monotonic()
    try:
        existing = seed_objects(server.base_url)
        counts.clear()  # the figures are schemathesis' requests only
        errors.clear()
        config = workdir / "schemathesis.toml"
        config.write_text(_config(existing, stateful_examples or max_examples, max_steps))
        command = [
            sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config),
            "run", str(schema),
            "--url", server.base_url,
            "--header", f"Authorization: Bearer {API_KEY}",
            "--seed", str(seed),
            "--max-examples", str(max_examples),
            "--phases", ",".join(phases),
            "--exclude-checks", ",".join(EXCLUDED_CHECKS),
            "--workers", "1",
            "--request-timeout", "30",
            "--report", "json",
            "--report-json-path", str(report_path),
        ]  # fmt: skip
        finished = subprocess.run(
            command,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(CHECKS_FILE)},
            capture_output=True,
            text=True,
            cwd=workdir,  # its cache directory, .schemathesis
            timeout=3600,
            check=False,
        )
        seconds = time.monotonic() - started
        _wait_for_idle_runs(home)
    finally:
        server.stop()
    output = finished.stdout + finished.stderr
    if not report_path.exists():
        raise AssertionError(f"schemathesis did not run:\n{output}")
    result = FuzzResult(
        report=json.loads(report_path.read_text()),
        output=output,
        answers=per_operation(counts, document),
        errors=per_operation(errors, document),
        problems=consistency_problems(home),
        seconds=seconds,
    )
    shutil.rmtree(home, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--stateful-examples", type=int, default=None, help="stateful scenarios")
    parser.add_argument("--max-steps", type=int, default=None, help="steps per stateful scenario")
    parser.add_argument("--errors", action="store_true", help="print the error messages seen")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nbext-fuzz-") as workdir:
        result = run_fuzz(
            max_examples=args.max_examples,
            seed=args.seed,
            workdir=Path(workdir),
            phases=tuple(args.phases.split(",")),
            stateful_examples=args.stateful_examples,
            max_steps=args.max_steps,
        )
    print(result.output)
    print(result.summary())
    for operation, said in result.errors.items() if args.errors else ():
        for message, number in said.most_common(6):
            print(f"{operation}: {number} x {message}")
    for problem in result.problems:
        print("STATE:", problem)
    sys.exit(1 if result.failures or result.problems or result.report.get("errors") else 0)


if __name__ == "__main__":
    main()
