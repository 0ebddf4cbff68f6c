"""notebooks/sanitize.cfg rewrites what changes between runs and nothing that is taught.

The file is loaded and applied exactly as nbval does it (nbval's own
``get_sanitize_patterns`` into an ordered dict, then its cell's ``sanitize``,
which runs ``re.sub`` for each pair in order). nbval sanitizes the stored
output and the fresh one and compares the results, so a rule must turn every
value of a kind into the same text, and must leave alone the words a lesson
compares (``file_citation`` where ``file_path`` would be wrong).
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import nbval_outputs
import pytest
from nbval.plugin import IPyNbCell, get_sanitize_patterns

from nbext.backends.tool_calls import new_call_id
from nbext.ids import new_file_id, new_id

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CONFIG = NOTEBOOKS / "sanitize.cfg"


def load_patterns() -> OrderedDict[str, str]:
    """What ``IPyNbFile.setup_sanitize_files`` builds from ``--nbval-sanitize-with``."""
    patterns: OrderedDict[str, str] = OrderedDict()
    patterns.update(get_sanitize_patterns(CONFIG.read_text()))
    return patterns


PATTERNS = load_patterns()
_CELL = SimpleNamespace(parent=SimpleNamespace(sanitize_patterns=PATTERNS))


def sanitize(text: str) -> str:
    """nbval's own ``IPyNbCell.sanitize``, run with the patterns of the config file."""
    return IPyNbCell.sanitize(_CELL, text)


# -- the file is read the way it was meant ------------------------------------------


def test_every_rule_is_read_by_nbval() -> None:
    lines = CONFIG.read_text().splitlines()
    rules = [n for n, line in enumerate(lines) if line.startswith("regex:")]
    assert rules, "no rules"
    for n in rules:
        assert lines[n].startswith("regex: ") and lines[n + 1].startswith("replace: "), lines[n]
    assert len(get_sanitize_patterns(CONFIG.read_text())) == len(rules)
    assert len(PATTERNS) == len(rules), "two rules with the same regex: nbval keeps only one"
    for line in lines:
        if line.startswith(("regex:", "replace:")):
            assert line == line.rstrip(), f"trailing space becomes part of the rule: {line!r}"
            assert not line.lower().startswith(("regex :", "replace :"))
    for regex in PATTERNS:
        re.compile(regex)


# -- what must change -----------------------------------------------------------------

MUST_CHANGE = [
    # object ids of the kit's server (nbext.ids: prefix + 24) and OpenAI's
    ("asst_G9MxGg9D43qvCBJqhgdIZtTj", "asst_ID"),
    ("thread_W1v92vOqhf5IZnVKRgS33HlB", "thread_ID"),
    ("run_J3EzyIF2fIwgnHueneYhKj1i", "run_ID"),
    ("msg_N2q8pjgXMnth8TEgNFqNz069", "msg_ID"),
    ("step_4kQ0vXbT2mN9sLpR7cYwZa1E", "step_ID"),
    ("vs_abcDEF123456ghiJKL789012", "vs_ID"),
    ("vsfb_abcDEF123456ghiJKL789012", "vsfb_ID"),
    ("prompt_abcDEF123456ghiJKL789012", "prompt_ID"),
    ("call_b545d4bf5c854e9cb7c65106", "call_ID"),  # the embedded backend's (24 hex)
    ("call_Xy8Lm2Qp9Rt4Vb7Nc1Zs6Kd3", "call_ID"),  # OpenAI's
    ("file-L2CizGWACtIElQxUC2xsKg", "file-ID"),  # the kit's (22)
    ("file-BK7bzQj3FfZFXr7DbL6xJwfo", "file-ID"),  # OpenAI's (24)
    ("chatcmpl-0f3a9c2be71d4c58a6b2e9d1", "chatcmpl-ID"),  # the embedded backend's
    ("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "chatcmpl-ID"),  # OpenAI's
    # in context: the words around an id stay
    (
        "Run(id='run_J3EzyIF2fIwgnHueneYhKj1i', thread_id='thread_W1v92vOqhf5IZnVKRgS33HlB')",
        "Run(id='run_ID', thread_id='thread_ID')",
    ),
    (
        "{'type': 'file_citation', 'file_citation': {'file_id': 'file-L2CizGWACtIElQxUC2xsKg'}}",
        "{'type': 'file_citation', 'file_citation': {'file_id': 'file-ID'}}",
    ),
    ('<div data-run-id="run_J3EzyIF2fIwgnHueneYhKj1i">', '<div data-run-id="run_ID">'),
    ("/v1/files/file-L2CizGWACtIElQxUC2xsKg/content", "/v1/files/file-ID/content"),
    # the per-user local server: key, pid, port
    (
        "Bearer nbext-local-" + "Ab3_-x" * 7 + "Z",
        "Bearer nbext-local-KEY",
    ),
    ("(pid 48213, shared by your kernels)", "(pid PID, shared by your kernels)"),
    ("nbext local server (pid 812): embedded", "nbext local server (pid PID): embedded"),
    ("{'pid': 4242, 'port': 8}", "{'pid': PID, 'port': 8}"),
    ("pid=77", "pid=PID"),
    ("http://127.0.0.1:51234/v1", "http://127.0.0.1:PORT/v1"),
    ("listening on http://localhost:8000/v1", "listening on http://localhost:PORT/v1"),
    # durations and rates
    ("1.23 s", "DURATION"),
    ("0.5s", "DURATION"),
    ("45 ms", "DURATION"),
    ("45ms", "DURATION"),
    ("took 3 seconds", "took DURATION"),
    ("1 second", "DURATION"),
    ("idle for 600 s: stopping", "idle for DURATION: stopping"),
    (
        "36 tokens in · 7 tokens out · first token 0.05 s · total 0.20 s · 47.1 tokens/s",
        "N tokens in · N tokens out · first token DURATION · total DURATION · RATE tokens/s",
    ),
    # token counts that follow the model's wording, in the magics' summaries
    ("Tokens on this thread: 2 rows, 99 tokens", "Tokens on this thread: 2 rows, N tokens"),
    (
        "history 'conv': every call resends it: 1 rows, 43 tokens",
        "history 'conv': every call resends it: 1 rows, N tokens",
    ),
    # addresses, uuids, timestamps
    ("<function f at 0x7f3a2b1c4d50>", "<function f at 0xADDRESS>"),
    ("3f2b8c1e-9a7d-4e2f-8b1c-0d9e8f7a6b5c", "UUID"),
    ("created_at=1764092601, completed_at=None", "created_at=TIMESTAMP, completed_at=None"),
    ("{'created_at': 1764092601}", "{'created_at': TIMESTAMP}"),
    ('"expires_at": 1764096201', '"expires_at": TIMESTAMP'),
]


@pytest.mark.parametrize(("text", "expected"), MUST_CHANGE, ids=[t for t, _ in MUST_CHANGE])
def test_volatile_values_are_rewritten(text: str, expected: str) -> None:
    assert sanitize(text) == expected


# -- what must not change -------------------------------------------------------------

MUST_NOT_CHANGE = [
    # the words of the lessons: tool, annotation, field, event, step and status names
    "file_search",
    "file_citation",
    "file_path",
    "file_id",
    "file_ids",
    "file_batch",
    "thread_id",
    "run_id",
    "msg_id",
    "step_details",
    "step_id",
    "call_id",
    "tool_call_id",
    "assistant_id",
    "vector_store_id",
    "vs_id",
    "run_cancelled",
    "run_incomplete",
    "thread.run.completed",
    "thread.run.step.delta",
    "thread.message.delta",
    "code_interpreter",
    "message_creation",
    "tool_calls",
    "submit_tool_outputs",
    "requires_action",
    "in_progress",
    "queued cancelling cancelled completed failed expired incomplete",
    "last_messages",
    "max_prompt_tokens",
    "thread_and_run_create_params",
    "prompt_tokens completion_tokens",
    "('completed', ['tool_calls', 'message_creation'], 'file_search', 'default_2024_08_21')",
    # fixtures' short ids are not the server's ids
    "run_1 msg_q call_0 file-hb file-csv",
    # token counts, other counts and numbers that are part of an answer
    "42 tokens",
    "tokens in · tokens out",
    "prompt tokens sent: 162",
    "tokens/s",
    "sent 3 messages",
    "2 steps",
    "5 messages, all of them resent on the next call",
    "the 1990s",
    "Limits(timeout=60.0, cpu_seconds=120, memory_bytes=1073741824, max_processes=64)",
    "'Well done: the sandbox ran the code and printed 338350; the model did not guess it.'",
    "(0, '6765')",
    "['1,1', '2,4', '3,9', '4,16', '5,25']",
    "qwen2.5-coder-0.5b-instruct",
    "Q4_K_M",
    # names and links
    "sandbox:/mnt/data/squares.csv",
    "【0:3†handbook.md】",
    '<div class="nbext-run-id nbext-step-card nbext-thread-row">',
    "nbext-local-server",
    "0xff",
    "127.0.0.1",
]


@pytest.mark.parametrize("text", MUST_NOT_CHANGE)
def test_taught_words_and_counts_are_kept(text: str) -> None:
    assert sanitize(text) == text


def test_a_file_path_annotation_no_longer_passes_for_a_file_citation() -> None:
    stored = "('file_citation', 'file-L2CizGWACtIElQxUC2xsKg')"
    fresh = "('file_path', 'file-Q8rT2mN9sLpR7cYwZa1E0x')"
    assert sanitize(stored) != sanitize(fresh)
    assert sanitize(stored) == sanitize("('file_citation', 'file-Zz9Yy8Xx7Ww6Vv5Uu4Tt3S')")


# -- stable: every generated value of a kind becomes the same text ---------------------


def _chatcmpl() -> str:  # nbext.backends.embedded's completion id
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _local_key() -> str:  # nbext.local_server.server_key
    return "nbext-local-" + secrets.token_urlsafe(32)


GENERATORS: list[tuple[str, Callable[[], str], str]] = [
    *[
        (prefix, lambda prefix=prefix: new_id(prefix), f"{prefix}_ID")
        for prefix in ("asst", "thread", "msg", "run", "step", "vs", "vsfb", "prompt", "call")
    ],
    ("file", new_file_id, "file-ID"),
    ("call (backend)", new_call_id, "call_ID"),
    ("chatcmpl", _chatcmpl, "chatcmpl-ID"),
    ("local key", _local_key, "nbext-local-KEY"),
    ("uuid", lambda: str(uuid.uuid4()), "UUID"),
]


@pytest.mark.parametrize(("kind", "make", "expected"), GENERATORS, ids=[g[0] for g in GENERATORS])
def test_every_generated_value_sanitizes_to_one_text(
    kind: str, make: Callable[[], str], expected: str
) -> None:
    for _ in range(300):
        value = make()
        assert sanitize(value) == expected, value
        assert sanitize(f"id='{value}'") == f"id='{expected}'", value
        assert sanitize(f"{value}, {make()}") == f"{expected}, {expected}", value


@pytest.mark.parametrize(("text", "expected"), MUST_CHANGE, ids=[t for t, _ in MUST_CHANGE])
def test_rules_leave_their_own_placeholders_alone(text: str, expected: str) -> None:
    assert sanitize(sanitize(text)) == sanitize(text)


# -- the stored outputs hold no value a rule should have caught -----------------------

LEFTOVER = re.compile(
    r"(?<![A-Za-z0-9])(?:asst|thread|run|msg|step|call|vs|vsfb|prompt)_[A-Za-z0-9]{12,}"
    r"|(?<![A-Za-z0-9])(?:file|chatcmpl)-[A-Za-z0-9]{12,}"
    r"|nbext-local-[A-Za-z0-9_-]{12,}"
    r"|\b\d+\.\d+ s\b"
)
"""Id-, key- and duration-shaped text that survived sanitizing."""


def stored_texts() -> Iterator[tuple[str, int, str]]:
    """(notebook, cell index, text) for every stored output nbval sanitizes."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        for index, cell in enumerate(notebook["cells"]):
            for output in cell.get("outputs", []):
                if "text" in output:
                    yield path.name, index, "".join(output["text"])
                for mime, value in output.get("data", {}).items():
                    if mime.startswith("image/") or mime.endswith("widget-view+json"):
                        continue
                    if isinstance(value, (list, str)):
                        yield path.name, index, "".join(value)


def test_stored_outputs_keep_nothing_volatile() -> None:
    leftovers = [
        (name, index, match.group(0))
        for name, index, text in stored_texts()
        for match in LEFTOVER.finditer(sanitize(text))
    ]
    assert not leftovers


# -- tests/nbval_outputs.py: what nbval compares of a magic cell ----------------------


ANSWER = {"nbext": {"output": "answer"}}


def _answer(text: str) -> dict[str, object]:
    bundle = {"text/markdown": text, "text/plain": text}
    return {"output_type": "display_data", "data": bundle, "metadata": ANSWER}


def test_answers_are_compared_by_presence_not_wording() -> None:
    comparable = nbval_outputs.comparable
    stored = comparable([_answer("The capital of France is Paris.")])
    assert stored == comparable([_answer("Paris is the capital of France.")])
    assert stored != comparable([_answer("")]), "an empty answer must not pass for one"
    assert comparable([_answer("  \n")])[0]["data"] == {"text/plain": "<no answer>"}


def test_outputs_that_are_not_answers_are_compared_as_they_are() -> None:
    summary = {
        "output_type": "display_data",
        "data": {"text/plain": "run: created → queued → in_progress → completed"},
        "metadata": {},
    }
    stream = {"output_type": "stream", "name": "stdout", "text": "The capital is Rome.\n"}
    other_nbext = {**summary, "metadata": {"nbext": {"output": "figures"}}}
    assert nbval_outputs.comparable([summary, stream, other_nbext]) == [
        summary,
        stream,
        other_nbext,
    ]


def test_display_updates_reach_the_output_nbval_keeps() -> None:
    first = {"data": {"text/plain": ""}, "metadata": ANSWER, "transient": {"display_id": "a"}}
    update = {
        "data": {"text/plain": "Paris."},
        "metadata": ANSWER,
        "transient": {"display_id": "a"},
    }
    unseen = {**update, "transient": {"display_id": "b"}}
    printed = {"name": "stdout", "text": "after\n"}
    idle = {"execution_state": "idle"}
    queue = [
        {"msg_type": "execute_input", "content": {"code": "%%chat"}},
        {"msg_type": "display_data", "content": first},
        {"msg_type": "stream", "content": printed},
        {"msg_type": "update_display_data", "content": update},
        {"msg_type": "update_display_data", "content": unseen},
        {"msg_type": "status", "content": idle},
        {"msg_type": "stream", "content": printed},
    ]
    get = nbval_outputs.follow_display_updates(lambda **_: queue.pop(0))
    kinds = [get(timeout=1) for _ in range(5)]
    # in order, the display as its last update left it, updates themselves not passed on
    assert [m["msg_type"] for m in kinds] == [
        "execute_input",
        "display_data",
        "stream",
        "status",
        "stream",
    ]
    assert kinds[1]["content"]["data"] == {"text/plain": "Paris."}
    assert kinds[2]["content"] is printed and kinds[3]["content"] is idle
    assert not queue
