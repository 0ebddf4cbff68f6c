"""Schema fuzzing in the normal test run, and the hand-found findings it grew from.

The bounded, seeded profile of :mod:`fuzz.schema_fuzz` (schemathesis over all
53 operations of OpenAI's published Assistants contract, its four phases, a
real server on a scripted TEST FIXTURE model, then a consistency check of the
database and the files directory); the long profile is the same module run as
a script. Where the server follows the hosted API against the published
schema, ``fuzz.schema_fuzz.DEVIATIONS`` says where and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fuzz.schema_fuzz import (
    UNIMPLEMENTED,
    FuzzBackend,
    FuzzResult,
    consistency_problems,
    fuzzed_schema,
    operations,
    run_fuzz,
)

from nbext.backends.remote import RemoteBackend
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer

KEY = "k-alice"
BACKEND_URL = "http://backend.internal.example:8123/v1"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> FuzzResult:
    result = run_fuzz(
        max_examples=8,
        stateful_examples=100,
        seed=20261130,
        workdir=tmp_path_factory.mktemp("fuzz"),
    )
    print(result.summary())  # the figures the README quotes (pytest -s shows them)
    return result


def test_fuzzing_finds_no_failure(fuzzed: FuzzResult) -> None:
    """No 5xx, every 200 valid against the (deviation-patched) schema, every error in
    OpenAI's shape, deleted objects stay deleted, 405s name the allowed methods."""
    assert fuzzed.report["operations"]["tested"] == 53
    assert not fuzzed.failures, fuzzed.output
    assert not fuzzed.report["errors"], fuzzed.output
    server_errors = {op: a["5xx"] for op, a in fuzzed.answers.items() if a["5xx"]}
    assert not server_errors, fuzzed.output


def test_stored_state_is_consistent_afterwards(fuzzed: FuzzResult) -> None:
    assert not fuzzed.problems


def test_the_stateful_phase_reaches_operations_that_need_an_id(fuzzed: FuzzResult) -> None:
    """Links carry created ids on: operations behind an id answer 200, not only 404."""
    document_operations = list(fuzzed.answers)
    reached = {op for op, answers in fuzzed.answers.items() if answers["2xx"]}
    needs_an_id = {op for op in document_operations if "{" in op} - UNIMPLEMENTED
    for operation in (  # reached through the seeded objects
        "GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}",
        "GET /vector_stores/{vector_store_id}/file_batches/{batch_id}/files",
        "GET /vector_stores/{vector_store_id}/files/{file_id}/content",
    ):
        assert operation in reached, fuzzed.summary()
    for operation in (  # reached only by following a link from what a sequence created
        "DELETE /assistants/{assistant_id}",
        "DELETE /threads/{thread_id}",
        "DELETE /threads/{thread_id}/messages/{message_id}",
        "DELETE /files/{file_id}",
        "POST /threads/runs",
    ):
        assert operation in reached, fuzzed.summary()
    assert len(reached & needs_an_id) >= 0.75 * len(needs_an_id), fuzzed.summary()
    assert not reached & UNIMPLEMENTED
    assert document_operations == operations(fuzzed_schema())


# -- the hand-found findings of issue 14 ------------------------------------------------


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[BackgroundServer]:
    # A remote backend (never called here): /health must not name its URL.
    backend = RemoteBackend(BACKEND_URL, "backend-secret", "some-model")
    running = BackgroundServer(create_app(backend, api_keys=(KEY,))).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def open_server() -> Iterator[BackgroundServer]:
    running = BackgroundServer(create_app(FuzzBackend())).start()
    yield running
    running.stop()


def _root(server: BackgroundServer) -> str:
    return server.base_url.removesuffix("/v1")


@pytest.mark.parametrize("key", [b"Bearer k\xc3\xa9", b"Bearer \xff\xfe", "Bearer k-alicé"])
def test_a_non_ascii_key_is_a_401_not_a_500(keyed_server: BackgroundServer, key: object) -> None:
    """Was 500 ``TypeError`` (``secrets.compare_digest`` refuses non-ASCII text)."""
    encoded = key if isinstance(key, bytes) else str(key).encode()
    answer = httpx.get(f"{keyed_server.base_url}/models", headers={"Authorization": encoded})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "invalid_api_key"
    right = httpx.get(
        f"{keyed_server.base_url}/assistants", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert right.status_code == 200


def test_health_says_alive_and_nothing_else(keyed_server: BackgroundServer) -> None:
    """Was: the backend's description, with a remote backend's base URL, to anyone."""
    answer = httpx.get(f"{_root(keyed_server)}/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert "backend.internal" not in answer.text and "some-model" not in answer.text
    # What the server runs is still there, behind the key.
    status = httpx.get(
        f"{keyed_server.base_url}/nbext/status", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert status.status_code == 200 and "backend.internal" in status.text
    assert httpx.get(f"{keyed_server.base_url}/nbext/status").status_code == 401


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_and_schema_are_closed_on_a_keyed_server(
    keyed_server: BackgroundServer, open_server: BackgroundServer, path: str
) -> None:
    """Was: open without a key, the one thing answering a passer-by. A local server
    without keys keeps them (they are how a learner explores the API)."""
    closed = httpx.get(f"{_root(keyed_server)}{path}")
    assert closed.status_code == 404
    assert "error" in closed.json()
    with_key = httpx.get(f"{_root(keyed_server)}{path}", headers={"Authorization": f"Bearer {KEY}"})
    assert with_key.status_code == 404
    assert httpx.get(f"{_root(open_server)}{path}").status_code == 200


def test_a_405_names_every_method_of_the_url(open_server: BackgroundServer) -> None:
    """Found by the fuzzer: Starlette's 405 named no method (or only one route's)."""
    answer = httpx.request("TRACE", f"{open_server.base_url}/assistants")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "developer", "content": [{"type": "text", "text": None}]}, "content[0].text"),
        ({"role": "user", "content": [42]}, "content[0]"),
        ({"role": "user"}, "content"),
        ({"role": "wizard", "content": "hi"}, "role"),
        ({"role": "tool", "content": "42"}, "tool_call_id"),
        ({"role": "user", "content": 7}, "content"),
    ],
)
def test_a_malformed_chat_message_is_a_400_naming_it(
    open_server: BackgroundServer, message: dict, param: str
) -> None:
    """Found by the fuzzer: ``text: null`` in a content part reached the backend (a 500)."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}, message]}
    answer = httpx.post(f"{open_server.base_url}/chat/completions", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == f"messages[1].{param}"


@pytest.mark.parametrize("url", ["", "not a url", "ftp://example.com/a.png", "http://[bad/x"])
def test_an_image_url_must_be_a_web_url(open_server: BackgroundServer, url: str) -> None:
    """Found by the fuzzer: any string was stored, and the message broke the schema's
    ``format: uri`` on its way back."""
    thread = httpx.post(f"{open_server.base_url}/threads", json={}).json()
    content = [{"type": "image_url", "image_url": {"url": url}}]
    answer = httpx.post(
        f"{open_server.base_url}/threads/{thread['id']}/messages",
        json={"role": "user", "content": content},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "content[0].image_url.url"
    content[0]["image_url"]["url"] = "https://example.com/cat.png"
    accepted = httpx.post(
        f"{open_server.base_url}/threads/{thread['id']}/messages",
        json={"role": "user", "content": content},
    )
    assert accepted.status_code == 200, accepted.text


def test_a_json_schema_response_format_keeps_its_schema(open_server: BackgroundServer) -> None:
    """Found by the fuzzer: the SDK's Python name ``schema_`` went to the database and
    the wire, so the schema came back under a name no client reads and a run's model
    was never given it."""
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    url = open_server.base_url
    assistant = httpx.post(f"{url}/assistants", json={"model": "gpt-4o", "response_format": fmt})
    assert assistant.json()["response_format"] == fmt
    renamed = httpx.post(f"{url}/assistants/{assistant.json()['id']}", json={"name": "x"})
    assert renamed.json()["response_format"] == fmt
    run = httpx.post(f"{url}/threads/runs", json={"assistant_id": assistant.json()["id"]})
    assert run.json()["response_format"] == fmt


def test_fuzz_state_check_finds_orphans(tmp_path: Path) -> None:
    """The consistency check can fail: bytes without a row, a row without bytes."""
    app = create_app(FuzzBackend(), home=tmp_path)
    server = BackgroundServer(app).start()
    try:
        uploaded = httpx.post(
            f"{server.base_url}/files",
            data={"purpose": "assistants"},
            files={"file": ("a.txt", b"hello")},
        ).json()
    finally:
        server.stop()
    assert consistency_problems(tmp_path) == []
    (tmp_path / "files" / "file-orphan").write_bytes(b"x")
    (tmp_path / "files" / uploaded["id"]).unlink()
    problems = consistency_problems(tmp_path)
    assert any("file-orphan" in p for p in problems)
    assert any(uploaded["id"] in p and "without bytes" in p for p in problems)


# -- found when negative_data_rejection and missing_required_header were switched on ---


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/models/gpt-4o-mini"), ("TRACE", "/assistants"), ("GET", "/no/such/url")],
)
def test_no_key_is_a_401_before_routing_says_404_or_405(
    keyed_server: BackgroundServer, method: str, path: str
) -> None:
    """Was: 405 or 404 to a caller with no key, so the routes could be mapped without one."""
    refused = httpx.request(method, f"{keyed_server.base_url}{path}")
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "missing_api_key"
    keyed = httpx.request(
        method, f"{keyed_server.base_url}{path}", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert keyed.status_code in (404, 405), keyed.text


def test_an_unknown_include_value_is_a_400(open_server: BackgroundServer) -> None:
    """Was: any ``include[]`` value was ignored (schema: one enum value)."""
    steps = f"{open_server.base_url}/threads/thread_x/runs/run_x/steps"
    wrong = httpx.get(steps, params={"include[]": "step_details.everything"})
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["error"]["param"] == "include[]"
    assert "step_details.tool_calls[*].file_search.results[*].content" in wrong.text
    known = "step_details.tool_calls[*].file_search.results[*].content"
    assert httpx.get(steps, params={"include[]": known}).status_code == 404  # the run


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"colour": "red"}, "colour"),
        ({"expires_after": "3600"}, "expires_after"),
        ({"expires_after[seconds]": "3600"}, "expires_after"),
        (
            {"expires_after[anchor]": "created_at", "expires_after[days]": "1"},
            "expires_after[days]",
        ),
    ],
)
def test_an_upload_with_an_unknown_or_partial_field_is_a_400(
    open_server: BackgroundServer, fields: dict[str, str], param: str
) -> None:
    """Was: unknown form fields ignored, and a lone ``expires_after[seconds]`` too."""
    upload = {"file": ("notes.txt", b"some notes")}
    url = f"{open_server.base_url}/files"
    answer = httpx.post(url, files=upload, data={"purpose": "assistants", **fields})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param
    expiring = {"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600"}
    accepted = httpx.post(url, files=upload, data={"purpose": "assistants", **expiring})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["expires_at"] == accepted.json()["created_at"] + 3600


def test_a_vector_store_expiration_is_removed_by_null_only_when_modified(
    open_server: BackgroundServer,
) -> None:
    """Was: ``expires_after: null`` (and a null name or description) accepted on create,
    where the schema and the SDK's create params have no null."""
    url = f"{open_server.base_url}/vector_stores"
    for field in ("expires_after", "name", "description"):
        refused = httpx.post(url, json={field: None})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == field
    policy = {"anchor": "last_active_at", "days": 3}
    store = httpx.post(url, json={"name": "notes", "expires_after": policy}).json()
    assert store["expires_after"] == policy
    modified = httpx.post(f"{url}/{store['id']}", json={"expires_after": None})
    assert modified.status_code == 200, modified.text
    assert modified.json()["expires_after"] is None
