"""Files, vector stores, embeddings and the two server-side tools, over real HTTP.

Everything goes through the real ``openai`` client to a real server on the
embedded model, and raw responses are checked against OpenAI's published
OpenAPI description. Most runs force their tool with ``tool_choice`` so the
small model's first move is deterministic; the last tests leave it at ``auto``
on clear-cut prompts at temperature 0, where the model chooses. What it writes
after the tool's result is model text and is checked only loosely.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.beta import Assistant
from openapi_contract import assert_response
from pinned_model import MODEL_ID

from nbext.backends.embedded import EmbeddedBackend
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer
from nbext.tools.code_interpreter import Limits

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DATA = Path(__file__).parent / "tools" / "data"
MAX_FILE_BYTES = 256 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
CODE_INSTRUCTIONS = (
    "You are a helpful assistant. Use the code_interpreter tool to compute answers "
    "and print the result."
)


@pytest.fixture(scope="module")
def api(
    embedded: EmbeddedBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundServer]:
    home = tmp_path_factory.mktemp("tools-home")
    app = create_app(
        embedded,
        db_url=f"sqlite:///{home / 'nbext.sqlite3'}",
        home=home,
        max_file_bytes=MAX_FILE_BYTES,
        code_limits=Limits(timeout=4.0, max_processes=48),
    )
    running = BackgroundServer(app).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdk(api: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=api.base_url, api_key="local", max_retries=0, timeout=180)


@pytest.fixture(scope="module")
def coder(sdk: openai.OpenAI) -> Assistant:
    return sdk.beta.assistants.create(
        model=MODEL_ID,
        instructions=CODE_INSTRUCTIONS,
        tools=[{"type": "code_interpreter"}],
        temperature=0,
    )


def raw(api: BackgroundServer, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{api.base_url}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]


def run_code(sdk: openai.OpenAI, assistant: Assistant, thread_id: str, prompt: str):
    """A run forced to use code_interpreter; it sees only the newest message, so
    the small model does not re-run code from earlier in the thread."""
    sdk.beta.threads.messages.create(thread_id, role="user", content=prompt)
    return sdk.beta.threads.runs.create_and_poll(
        thread_id=thread_id,
        assistant_id=assistant.id,
        tool_choice={"type": "code_interpreter"},
        truncation_strategy={"type": "last_messages", "last_messages": 1},
        poll_interval_ms=100,
    )


def exactly(code: str) -> str:
    return f"Run this code exactly:\n```python\n{code}\n```"


# -- files ----------------------------------------------------------------------------------


def test_file_upload_list_content_delete(sdk: openai.OpenAI, api: BackgroundServer) -> None:
    uploaded = sdk.files.create(file=(DATA / "notes.txt").open("rb"), purpose="assistants")
    assert uploaded.filename == "notes.txt" and uploaded.purpose == "assistants"
    assert uploaded.bytes == (DATA / "notes.txt").stat().st_size
    assert sdk.files.retrieve(uploaded.id) == uploaded
    assert sdk.files.content(uploaded.id).content == (DATA / "notes.txt").read_bytes()
    assert uploaded.id in [f.id for f in sdk.files.list(purpose="assistants")]
    assert uploaded.id not in [f.id for f in sdk.files.list(purpose="vision")]

    assert_response("get", "/files/{file_id}", raw(api, "GET", f"/files/{uploaded.id}").json())
    assert_response("get", "/files", raw(api, "GET", "/files").json())
    deleted = raw(api, "DELETE", f"/files/{uploaded.id}").json()
    assert_response("delete", "/files/{file_id}", deleted)
    assert deleted["deleted"] is True
    with pytest.raises(openai.NotFoundError, match=uploaded.id):
        sdk.files.retrieve(uploaded.id)


def test_file_errors(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as too_big:
        sdk.files.create(file=("big.txt", b"x" * (MAX_FILE_BYTES + 1)), purpose="assistants")
    assert too_big.value.status_code == 413
    assert "at most 262,144 bytes" in too_big.value.message
    with pytest.raises(openai.BadRequestError, match="purpose"):
        sdk.files.create(file=("a.txt", b"hello"), purpose="batch-of-nonsense")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError, match="No file found with id 'file-nope'"):
        sdk.files.content("file-nope")
    with pytest.raises(openai.NotFoundError):
        sdk.files.delete("file-nope")
    with pytest.raises(openai.NotFoundError, match="file-nope"):
        sdk.vector_stores.create(file_ids=["file-nope"])
    thread = sdk.beta.threads.create()
    with pytest.raises(openai.NotFoundError, match="file-nope"):
        sdk.beta.threads.messages.create(
            thread.id,
            role="user",
            content="hi",
            attachments=[{"file_id": "file-nope", "tools": [{"type": "file_search"}]}],
        )


# -- vector stores -------------------------------------------------------------------------


def test_vector_store_batch_poll_search_and_crud(sdk: openai.OpenAI, api: BackgroundServer) -> None:
    handbook = sdk.files.create(file=(DATA / "handbook.md").open("rb"), purpose="assistants")
    notes = sdk.files.create(file=(DATA / "notes.txt").open("rb"), purpose="assistants")
    binary = sdk.files.create(file=("blob.bin", b"\x00\x01\x02"), purpose="assistants")
    store = sdk.vector_stores.create(
        name="Company docs", expires_after={"anchor": "last_active_at", "days": 7}
    )
    assert store.file_counts.total == 0 and store.expires_at is not None

    batch = sdk.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id,
        file_ids=[handbook.id, notes.id, binary.id],
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20},
        },
        poll_interval_ms=100,
    )
    assert batch.status == "completed"
    assert (batch.file_counts.completed, batch.file_counts.failed) == (2, 1)
    failed = sdk.vector_stores.files.retrieve(binary.id, vector_store_id=store.id)
    assert failed.status == "failed" and failed.last_error.code == "unsupported_file"
    done = sdk.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, filter="completed"
    )
    assert {f.id for f in done} == {handbook.id, notes.id}
    assert_response(
        "get",
        "/vector_stores/{vector_store_id}/file_batches/{batch_id}",
        raw(api, "GET", f"/vector_stores/{store.id}/file_batches/{batch.id}").json(),
    )
    assert_response(
        "get",
        "/vector_stores/{vector_store_id}/files",
        raw(api, "GET", f"/vector_stores/{store.id}/files").json(),
    )

    hits = raw(
        api,
        "POST",
        f"/vector_stores/{store.id}/search",
        json={"query": "Are dogs allowed in the office?", "max_num_results": 3},
    ).json()
    assert_response("post", "/vector_stores/{vector_store_id}/search", hits)
    assert hits["data"][0]["file_id"] == handbook.id
    assert "Wednesdays" in hits["data"][0]["content"][0]["text"]
    assert sdk.vector_stores.search(store.id, query="dogs").data[0].filename == "handbook.md"

    current = sdk.vector_stores.retrieve(store.id)
    assert current.status == "completed" and current.usage_bytes > 0
    assert (current.file_counts.completed, current.file_counts.failed) == (2, 1)
    assert_response(
        "get",
        "/vector_stores/{vector_store_id}",
        raw(api, "GET", f"/vector_stores/{store.id}").json(),
    )
    assert sdk.vector_stores.update(store.id, name="Docs").name == "Docs"
    assert store.id in [v.id for v in sdk.vector_stores.list()]
    assert_response("get", "/vector_stores", raw(api, "GET", "/vector_stores").json())

    assert sdk.vector_stores.files.delete(notes.id, vector_store_id=store.id).deleted
    sdk.files.delete(handbook.id)  # deleting a file takes it out of its vector stores
    assert sdk.vector_stores.retrieve(store.id).file_counts.total == 1
    assert sdk.vector_stores.search(store.id, query="dogs").data == []
    deleted = raw(api, "DELETE", f"/vector_stores/{store.id}").json()
    assert_response("delete", "/vector_stores/{vector_store_id}", deleted)
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.retrieve(store.id)


def test_embeddings(sdk: openai.OpenAI) -> None:
    result = sdk.embeddings.create(
        model="all-minilm-l6-v2", input=["Dogs are welcome.", "Puppies may come in."]
    )
    assert [len(d.embedding) for d in result.data] == [384, 384]
    first, second = (d.embedding for d in result.data)
    assert math.isclose(sum(x * x for x in first), 1.0, rel_tol=1e-4)
    assert sum(a * b for a, b in zip(first, second, strict=True)) > 0.5
    floats = sdk.embeddings.create(
        model="all-minilm-l6-v2", input="Dogs are welcome.", encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(first, abs=1e-6)
    with pytest.raises(openai.NotFoundError, match="all-minilm-l6-v2"):
        sdk.embeddings.create(model="text-embedding-3-small", input="x")


# -- file_search ---------------------------------------------------------------------------


def test_file_search_run_cites_the_handbook(sdk: openai.OpenAI, api: BackgroundServer) -> None:
    handbook = sdk.files.create(file=(DATA / "handbook.md").open("rb"), purpose="assistants")
    store = sdk.vector_stores.create(name="Handbook", file_ids=[handbook.id])
    entry = sdk.vector_stores.files.poll(
        handbook.id, vector_store_id=store.id, poll_interval_ms=100
    )
    assert entry.status == "completed"
    assistant = sdk.beta.assistants.create(
        model=MODEL_ID,
        instructions="Answer questions about the company handbook. Be brief.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        temperature=0,
    )
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "What does the handbook say about dogs?"}]
    )
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "file_search"},
        poll_interval_ms=100,
    )
    assert run.status == "completed", run.last_error

    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    call = steps[0].step_details.tool_calls[0]
    assert call.type == "file_search"
    assert call.file_search.results[0].file_id == handbook.id
    assert call.file_search.results[0].content is None  # only when asked for
    with_content = sdk.beta.threads.runs.steps.retrieve(
        steps[0].id, thread_id=thread.id, run_id=run.id, include=[INCLUDE]
    )
    passage = with_content.step_details.tool_calls[0].file_search.results[0].content[0].text
    assert "Wednesdays" in passage
    listed = raw(
        api,
        "GET",
        f"/threads/{thread.id}/runs/{run.id}/steps",
        params={"include[]": INCLUDE},
    ).json()
    assert_response("get", "/threads/{thread_id}/runs/{run_id}/steps", listed)

    answer = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    text = answer.content[0].text
    assert "Wednesday" in text.value  # the tool's result is used in the answer
    citations = [a for a in text.annotations if a.type == "file_citation"]
    assert citations and citations[0].file_citation.file_id == handbook.id
    assert text.value[citations[0].start_index : citations[0].end_index] == citations[0].text
    assert_response(
        "get",
        "/threads/{thread_id}/messages/{message_id}",
        raw(api, "GET", f"/threads/{thread.id}/messages/{answer.id}").json(),
    )


def test_attachments_go_to_the_threads_tools(sdk: openai.OpenAI) -> None:
    handbook = sdk.files.create(file=(DATA / "handbook.md").open("rb"), purpose="assistants")
    table = sdk.files.create(file=("table.csv", b"a,b\n1,2\n"), purpose="assistants")
    thread = sdk.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Here are my files.",
                "attachments": [
                    {"file_id": handbook.id, "tools": [{"type": "file_search"}]},
                    {"file_id": table.id, "tools": [{"type": "code_interpreter"}]},
                ],
            }
        ]
    )
    resources = sdk.beta.threads.retrieve(thread.id).tool_resources
    assert resources.code_interpreter.file_ids == [table.id]
    (store_id,) = resources.file_search.vector_store_ids
    store = sdk.vector_stores.retrieve(store_id)
    assert store.expires_after.days == 7 and store.file_counts.total == 1
    entry = sdk.vector_stores.files.poll(
        handbook.id, vector_store_id=store_id, poll_interval_ms=100
    )
    assert entry.status == "completed"
    hits = sdk.vector_stores.search(store_id, query="vacation days").data
    assert hits and hits[0].file_id == handbook.id


# -- code_interpreter ----------------------------------------------------------------------


def test_code_interpreter_computes_fibonacci(
    sdk: openai.OpenAI, api: BackgroundServer, coder: Assistant
) -> None:
    thread = sdk.beta.threads.create()
    run = run_code(
        sdk,
        coder,
        thread.id,
        "What is the 20th Fibonacci number? Use code: define fibonacci(n), "
        "then print(fibonacci(20)).",
    )
    assert run.status == "completed", run.last_error
    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    call = steps[0].step_details.tool_calls[0]
    assert call.type == "code_interpreter" and "fibonacci" in call.code_interpreter.input
    logs = [o.logs for o in call.code_interpreter.outputs if o.type == "logs"]
    assert logs and "6765" in logs[0]
    answer = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert "6765" in answer.content[0].text.value
    assert_response(
        "get",
        "/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
        raw(api, "GET", f"/threads/{thread.id}/runs/{run.id}/steps/{steps[0].id}").json(),
    )


def test_code_interpreter_plot_comes_back_as_an_image_file(
    sdk: openai.OpenAI, api: BackgroundServer, coder: Assistant
) -> None:
    thread = sdk.beta.threads.create()
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9, 16])\nplt.show()"
    run = run_code(sdk, coder, thread.id, exactly(code))
    assert run.status == "completed", run.last_error
    step = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    outputs = step.step_details.tool_calls[0].code_interpreter.outputs
    images = [o.image.file_id for o in outputs if o.type == "image"]
    assert len(images) == 1
    image = sdk.files.retrieve(images[0])
    assert image.purpose == "assistants_output" and image.filename.endswith(".png")
    assert sdk.files.content(image.id).content.startswith(PNG_MAGIC)
    answer = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    blocks = [b.image_file.file_id for b in answer.content if b.type == "image_file"]
    assert blocks == images
    assert_response(
        "get",
        "/threads/{thread_id}/messages",
        raw(api, "GET", f"/threads/{thread.id}/messages").json(),
    )


FORK_BOMB = (  # bounded: even with no limit, at most 200 sleeping processes
    "import os, time\n"
    "for _ in range(200):\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(20)\n"
    "        os._exit(0)"
)


@pytest.mark.parametrize(
    ("code", "limit"),
    [
        ("while True:\n    pass", "time limit"),
        ("hog = bytearray(4 * 1024**3)", "MemoryError"),
        (FORK_BOMB, "too many processes"),
    ],
    ids=["infinite-loop", "memory-hog", "fork-bomb"],
)
def test_limits_fail_the_step_and_keep_the_thread(
    sdk: openai.OpenAI, coder: Assistant, code: str, limit: str
) -> None:
    thread = sdk.beta.threads.create()
    run = run_code(sdk, coder, thread.id, exactly(code))
    assert run.status == "failed" and limit in run.last_error.message
    (step,) = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.type == "tool_calls" and step.status == "failed"
    assert limit in step.last_error.message
    call = step.step_details.tool_calls[0]
    assert call.code_interpreter.input.startswith(code.split("\n")[0])
    assert limit in call.code_interpreter.outputs[-1].logs

    after = run_code(sdk, coder, thread.id, exactly("print('still alive')"))
    assert after.status == "completed", after.last_error
    step = sdk.beta.threads.runs.steps.list(after.id, thread_id=thread.id, order="asc").data[0]
    assert step.step_details.tool_calls[0].code_interpreter.outputs[0].logs == "still alive\n"


# -- tools the model chooses (tool_choice left at auto) -------------------------------------

CALL_IN_TEXT = re.compile(
    r"<tool_call>|[\"']?(?:name|function)[\"']?\s*:\s*[\"']?"
    r"(?:code_interpreter|file_search|display_quiz)"
)
"""Tool-call JSON written into a message instead of called."""
QUIZ_TOOL = {
    "type": "function",
    "function": {
        "name": "display_quiz",
        "description": "Show the student a quiz and return the student's answers.",
        "parameters": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "questions": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["title", "questions"],
        },
    },
}


@pytest.fixture(scope="module")
def librarian(sdk: openai.OpenAI) -> Assistant:
    handbook = sdk.files.create(file=(DATA / "handbook.md").open("rb"), purpose="assistants")
    store = sdk.vector_stores.create(name="Handbook", file_ids=[handbook.id])
    sdk.vector_stores.files.poll(handbook.id, vector_store_id=store.id, poll_interval_ms=100)
    return sdk.beta.assistants.create(
        model=MODEL_ID,
        instructions="Answer questions about the company handbook. Be brief.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        temperature=0,
    )


def ask_unforced(sdk: openai.OpenAI, assistant: Assistant, prompt: str):
    """A run with tool_choice left at its default, auto: the model decides."""
    return sdk.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": prompt}]},
        poll_interval_ms=100,
    )


def tool_calls_of(sdk: openai.OpenAI, run) -> list:
    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    return [c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls]


def test_model_chooses_code_interpreter(sdk: openai.OpenAI, coder: Assistant) -> None:
    run = ask_unforced(sdk, coder, "Compute 2**10 with Python and tell me the result.")
    assert run.status == "completed", run.last_error
    calls = tool_calls_of(sdk, run)
    assert calls and calls[0].type == "code_interpreter"
    logs = [o.logs for c in calls for o in c.code_interpreter.outputs if o.type == "logs"]
    assert any("1024" in text for text in logs)
    answer = sdk.beta.threads.messages.list(run.thread_id, run_id=run.id).data[0]
    assert "1024" in answer.content[0].text.value


def test_model_chooses_file_search(sdk: openai.OpenAI, librarian: Assistant) -> None:
    # Asked "What does the handbook say about dogs?", the 0.5B model answers from
    # nothing at temperature 0; asked to search, it calls file_search.
    run = ask_unforced(sdk, librarian, "Search the handbook for what it says about dogs.")
    assert run.status == "completed", run.last_error
    calls = tool_calls_of(sdk, run)
    assert calls and calls[0].type == "file_search" and calls[0].file_search.results
    answer = sdk.beta.threads.messages.list(run.thread_id, run_id=run.id).data[0]
    assert "Wednesday" in answer.content[0].text.value


def test_model_chooses_a_function(sdk: openai.OpenAI, weather_tool: dict) -> None:
    forecaster = sdk.beta.assistants.create(model=MODEL_ID, tools=[weather_tool], temperature=0)
    run = ask_unforced(sdk, forecaster, "What's the weather in Paris right now?")
    assert run.status == "requires_action"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    sdk.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)


def test_no_message_ever_holds_a_tool_call(
    sdk: openai.OpenAI, coder: Assistant, librarian: Assistant
) -> None:
    tutor = sdk.beta.assistants.create(
        model=MODEL_ID,
        instructions="You are a Python tutor.",
        tools=[QUIZ_TOOL, {"type": "code_interpreter"}],
        temperature=0,
    )
    asked = [
        (coder, "Compute 2**10 with Python and tell me the result."),
        (coder, "Generate the first 20 fibbonaci numbers with code."),
        (coder, "Hi! Who are you?"),
        (librarian, "How many vacation days do employees get?"),
        (tutor, "Make a quiz with 2 questions about Python basics and show it to me."),
        (tutor, "What is the sum of the squares of the integers from 1 to 100? Use Python."),
    ]
    texts: list[str] = []
    for assistant, prompt in asked:
        run = ask_unforced(sdk, assistant, prompt)
        while run.status == "requires_action":  # the client's functions answer
            outputs = [
                {"tool_call_id": call.id, "output": '{"answers": ["a", "b"]}'}
                for call in run.required_action.submit_tool_outputs.tool_calls
            ]
            run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs
            )
        assert run.status == "completed", (prompt, run.last_error)
        for message in sdk.beta.threads.messages.list(run.thread_id).data:
            if message.role == "assistant":
                texts += [b.text.value for b in message.content if b.type == "text"]
    assert texts
    leaked = [text for text in texts if CALL_IN_TEXT.search(text)]
    assert leaked == []
